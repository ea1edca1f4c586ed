#!/bin/sh
# Install chatdesk for the current user, from the unpacked archive this script sits in:
#
#   ./install.sh              copy the app to ~/.local/lib/chatdesk, link ~/.local/bin/chatdesk,
#                             add the menu entry, the icons and the .gguf file type
#   ./install.sh --uninstall  remove exactly what the install put there
#
# Every file and folder the install creates is written to a manifest
# (~/.local/lib/chatdesk/install-manifest.txt); --uninstall removes those and nothing else.
# Your chats, settings and models (~/.local/share/chatdesk, ~/.config/chatdesk) are never
# touched. No root needed; honours XDG_DATA_HOME.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
BIN=$HOME/.local/bin
APP=$HOME/.local/lib/chatdesk
MANIFEST=$APP/install-manifest.txt
ICON_SIZES="16 32 48 64 128 256 512"
METAINFO_ID=invalid.chatdesk.chatdesk

say() { printf 'chatdesk: %s\n' "$*"; }
fail() { printf 'chatdesk: %s\n' "$*" >&2; exit 1; }

refresh_caches() {
    if command -v update-mime-database >/dev/null 2>&1 && [ -d "$DATA/mime/packages" ]; then
        update-mime-database "$DATA/mime" >/dev/null 2>&1 || true
    fi
    if command -v update-desktop-database >/dev/null 2>&1 && [ -d "$DATA/applications" ]; then
        update-desktop-database "$DATA/applications" >/dev/null 2>&1 || true
    fi
}

# Each thing the install creates goes into $LOG (moved to the manifest at the end, or on
# a failure half-way, so that --uninstall can clean up either way).
record() { echo "$1 $2" >>"$LOG"; }
save_manifest() { [ -d "$APP" ] && cp "$LOG" "$MANIFEST"; rm -f "$LOG"; }

make_dir() {  # mkdir -p, recording each folder it creates
    [ -d "$1" ] && return 0
    make_dir "$(dirname "$1")"
    mkdir "$1"
    record dir "$1"
}

taken() { [ -e "$1" ] || [ -L "$1" ]; }

put() {  # put SOURCE TARGET
    make_dir "$(dirname "$2")"
    taken "$2" && fail "$2 already exists and is not chatdesk's; move it away first"
    cp "$1" "$2"
    record file "$2"
}

uninstall() {
    [ -f "$MANIFEST" ] || fail "no chatdesk installation found (no $MANIFEST)"
    entries=$(mktemp)
    cp "$MANIFEST" "$entries"
    grep '^file ' "$entries" | cut -c6- | while IFS= read -r path; do rm -f "$path"; done
    grep '^tree ' "$entries" | cut -c6- | while IFS= read -r path; do rm -rf "$path"; done
    rm -f "$MANIFEST"
    refresh_caches  # so the menu and the file types forget chatdesk
    # A cache the install brought into being goes once it lists nothing (just its header).
    grep '^cache ' "$entries" | cut -c7- | while IFS= read -r path; do
        [ "$(grep -cv '^\[MIME Cache\]$' "$path" 2>/dev/null)" = 0 ] && rm -f "$path" || true
    done
    # The folders the install created, deepest first, if nothing else lives in them now
    # (apart from the caches the refresh above regenerated for nothing).
    grep '^dir ' "$entries" | cut -c5- | sort -r | while IFS= read -r dir; do
        case "$dir" in
            "$DATA/mime") [ -z "$(ls -A "$dir/packages" 2>/dev/null)" ] && rm -rf "$dir" || true ;;
        esac
        rmdir "$dir" 2>/dev/null || true
    done
    rm -f "$entries"
}

install() {
    [ -x "$HERE/chatdesk" ] && [ -d "$HERE/_internal" ] ||
        fail "run this script from the unpacked archive (no $HERE/chatdesk and _internal)"
    if [ -f "$MANIFEST" ]; then
        say "replacing the installed chatdesk"
        uninstall
    fi
    taken "$APP" && fail "$APP exists but was not installed by this script; move it away first"
    LOG=$(mktemp)
    trap save_manifest EXIT
    make_dir "$APP"
    mkdir "$APP/app"
    cp -R "$HERE/chatdesk" "$HERE/_internal" "$APP/app/"
    record tree "$APP/app"
    make_dir "$BIN"
    taken "$BIN/chatdesk" && fail "$BIN/chatdesk already exists; move it away first"
    ln -s "$APP/app/chatdesk" "$BIN/chatdesk"
    record file "$BIN/chatdesk"

    assets=$HERE/_internal/chatdesk/assets
    desktop=$(mktemp)
    # The menu entry runs this copy by its full path (~/.local/bin is not always on the
    # desktop session's PATH).
    sed -e "s|^Exec=.*|Exec=\"$APP/app/chatdesk\" %f|" -e "s|^TryExec=.*|TryExec=$APP/app/chatdesk|" \
        "$assets/chatdesk.desktop" >"$desktop"
    put "$desktop" "$DATA/applications/chatdesk.desktop"
    rm -f "$desktop"
    for size in $ICON_SIZES; do
        put "$assets/icons/chatdesk-$size.png" "$DATA/icons/hicolor/${size}x${size}/apps/chatdesk.png"
    done
    put "$assets/chatdesk.svg" "$DATA/icons/hicolor/scalable/apps/chatdesk.svg"
    put "$assets/chatdesk-mime.xml" "$DATA/mime/packages/chatdesk.xml"
    put "$assets/chatdesk.metainfo.xml" "$DATA/metainfo/$METAINFO_ID.metainfo.xml"
    # update-desktop-database may create this cache in a folder that was already there.
    [ -e "$DATA/applications/mimeinfo.cache" ] || record cache "$DATA/applications/mimeinfo.cache"
    refresh_caches
    say "installed in $APP/app; start it from your applications menu or with $BIN/chatdesk"
    case ":$PATH:" in *":$BIN:"*) ;; *) say "(add $BIN to your PATH to type just 'chatdesk')" ;; esac
}

case "${1:-}" in
    "") install ;;
    --uninstall) uninstall; say "uninstalled" ;;
    -h|--help) sed -n '2,12p' "$0" | cut -c3- ;;
    *) fail "unknown option $1 (use --uninstall or --help)" ;;
esac
