"""Attachments and sources in chatdesk's JSON format (issue 13).

Each message may carry ``files`` (what was attached: name, sha256, size, kind, pages,
tokens) and ``sources`` (the passages its answer was given: file, page, text, sha256,
ordinal, whole). The file's bytes travel once, base64, in the top-level ``attachments``
object keyed by sha256, so an import brings the files back into the data folder and the
conversation can be asked about them again. The keys are optional: older chatdesks read
such a file and ignore them, and a file without them imports as before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from chatdesk.core.documents.attachments import AttachmentStore
from chatdesk.core.exchange.common import ExchangeError
from chatdesk.core.history import FileRef, HistoryStore, SourceRef, StoredMessage

MAX_ATTACHMENT_BYTES = 200 * 1024 * 1024


def store_for(history: HistoryStore) -> AttachmentStore:
    """The attachment store beside a history (the data folder's ``attachments/``)."""
    from chatdesk.core.documents.library import ATTACHMENTS_DIR

    return AttachmentStore(Path(history.path).parent / ATTACHMENTS_DIR)


def export_fields(history: HistoryStore, messages: Sequence[StoredMessage]
                  ) -> tuple[dict[int, dict[str, Any]], dict[str, str]]:
    """(per message id: its "files"/"sources" keys, attachments: sha256 -> base64)."""
    ids = [m.id for m in messages]
    files, sources = history.message_files(ids), history.message_sources(ids)
    store = store_for(history)
    fields: dict[int, dict[str, Any]] = {}
    attachments: dict[str, str] = {}
    for message_id, refs in files.items():
        fields.setdefault(message_id, {})["files"] = [vars(f).copy() for f in refs]
        for ref in refs:
            if ref.sha256 not in attachments and store.has(ref.sha256):
                attachments[ref.sha256] = base64.b64encode(
                    store.read(ref.sha256, ref.name)).decode("ascii")
    for message_id, refs in sources.items():
        fields.setdefault(message_id, {})["sources"] = [vars(s).copy() for s in refs]
    return fields, attachments


def parse_fields(document: dict[str, Any], raw_messages: list[Any],
                 fail: Any) -> dict[str, Any]:
    """Validated documents of an export: {"files": {key: [FileRef]}, "sources": {key:
    [SourceRef]}, "attachments": {sha256: bytes}}; ``fail(where, problem)`` makes the
    error."""
    files: dict[Hashable, list[FileRef]] = {}
    sources: dict[Hashable, list[SourceRef]] = {}
    for index, raw in enumerate(raw_messages):
        where = f"messages[{index}]"
        for name, target, build in (("files", files, _file), ("sources", sources, _source)):
            value = raw.get(name)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise fail(where, f"'{name}' must be a list of objects")
            try:
                target[raw["id"]] = [build(v) for v in value]
            except (TypeError, ValueError) as exc:
                raise fail(where, f"'{name}': {exc}") from None
    attachments: dict[str, bytes] = {}
    raw_attachments = document.get("attachments") or {}
    if not isinstance(raw_attachments, dict):
        raise fail("attachments", "must be an object")
    for sha, encoded in raw_attachments.items():
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise fail("attachments", f"{sha[:12]}… is not base64") from None
        if len(data) > MAX_ATTACHMENT_BYTES or hashlib.sha256(data).hexdigest() != sha:
            raise fail("attachments", f"{sha[:12]}… does not match its sha256")
        attachments[sha] = data
    return {"files": files, "sources": sources, "attachments": attachments}


def _text(value: dict[str, Any], key: str, default: Any = ...) -> Any:
    found = value.get(key, default)
    if found is ...:
        raise ValueError(f"'{key}' is missing")
    return found


def _file(value: dict[str, Any]) -> FileRef:
    ref = FileRef(str(_text(value, "sha256")), str(_text(value, "name")),
                  int(_text(value, "size", 0)), str(_text(value, "kind", "text")),
                  int(_text(value, "pages", 0)), int(_text(value, "tokens", 0)))
    if len(ref.sha256) != 64:
        raise ValueError("'sha256' must be 64 hex digits")
    return ref


def _source(value: dict[str, Any]) -> SourceRef:
    return SourceRef(str(_text(value, "file")), int(_text(value, "page", 0)),
                     str(_text(value, "text")), str(_text(value, "sha256", "")),
                     int(_text(value, "ordinal", -1)), bool(_text(value, "whole", False)))


def restore(history: HistoryStore, conversation_id: int, keys: Sequence[Hashable],
            documents: dict[str, Any]) -> None:
    """After ``import_conversation``: link the files and sources to the new messages (made
    in the order of ``keys``) and put the files' bytes back into the data folder."""
    if not documents or not (documents["files"] or documents["sources"]):
        return
    ids = sorted(m.id for m in history.messages(conversation_id))
    if len(ids) != len(keys):
        raise ExchangeError("the imported messages could not be matched to their files")
    new_id = dict(zip(keys, ids, strict=True))
    store = store_for(history)
    for sha, data in documents["attachments"].items():
        try:
            store.put(data)
        except OSError as exc:
            raise ExchangeError(f"an attached file could not be kept ({sha[:12]}…): "
                                f"{exc.strerror or exc}") from exc
    for key, refs in documents["files"].items():
        if key in new_id:
            history.add_message_files(new_id[key], refs)
    for key, refs in documents["sources"].items():
        if key in new_id:
            history.set_message_sources(new_id[key], refs)
