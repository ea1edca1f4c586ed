"""The left sidebar: New chat, a full-text search over every chat, and the conversation
list (Pinned, then Today, Yesterday, Previous 7 days, Older, each under a header that
cannot be selected), with rename, pin and delete on a right-click."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QFontMetrics
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chatdesk.core.timestamps import DAY_GROUPS, day_group, format_timestamp
from chatdesk.ui.icons import icon
from chatdesk.ui.rename_dialog import ask_new_title

SEARCH_DELAY_MS = 200  # search once typing pauses, not per keystroke

ID_ROLE = Qt.ItemDataRole.UserRole
HIT_ROLE = Qt.ItemDataRole.UserRole + 1
TITLE_ROLE = Qt.ItemDataRole.UserRole + 2
PINNED_ROLE = Qt.ItemDataRole.UserRole + 3
HEADER_ROLE = Qt.ItemDataRole.UserRole + 4  # a group's header row: its title
HEADER_COLOR = QColor("#8a8f98")


def highlight_snippet(snippet: str, start: str, end: str) -> str:
    """Escape a search snippet and turn its match markers into bold highlighted spans."""
    escaped = html.escape(snippet)
    return (escaped.replace(html.escape(start), '<b style="background:#fef08a">')
            .replace(html.escape(end), "</b>"))


class ConversationList(QWidget):
    new_requested = Signal()
    conversation_selected = Signal(int)
    rename_requested = Signal(int, str)
    pin_requested = Signal(int, bool)
    delete_requested = Signal(int)
    export_requested = Signal(int)
    search_requested = Signal(str)
    hit_activated = Signal(int, int)  # conversation id, message id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(200)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.new_button = QPushButton(icon("new_chat"), self.tr("New chat"))
        self.new_button.setToolTip(self.tr("Start a new conversation (Ctrl+N)"))
        self.new_button.clicked.connect(self.new_requested)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText(self.tr("Search all chats (Ctrl+F)"))
        self.search_box.setAccessibleName(self.tr("Search all chats"))
        self.search_box.setClearButtonEnabled(True)
        if not icon("search").isNull():
            self.search_box.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(
            lambda: self.search_requested.emit(self.search_box.text().strip()))
        self.search_box.textChanged.connect(self._search_text_changed)
        self.hits = QListWidget()
        self.hits.setAccessibleName(self.tr("Search results"))
        self.hits.itemActivated.connect(self._hit_activated)
        self.hits.itemClicked.connect(self._hit_activated)
        self.hits.hide()
        self.hits_label = QLabel()
        self.hits_label.hide()
        self.list = QListWidget()
        self.list.setAccessibleName(self.tr("Conversations"))
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)  # long titles end in "…"
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.currentItemChanged.connect(self._current_changed)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_box)
        layout.addWidget(self.hits_label)
        layout.addWidget(self.hits, 1)
        layout.addWidget(self.list, 2)
        self._updating = False

    # -- the list -----------------------------------------------------------------------
    def set_conversations(self, conversations: Sequence[Any], current_id: int | None) -> None:
        """Show conversations (history Conversation objects), grouped under headers, without
        emitting a selection."""
        groups: dict[str, list[Any]] = {name: [] for name in ("Pinned", *DAY_GROUPS)}
        for conversation in conversations:
            key = "Pinned" if conversation.pinned else day_group(conversation.updated_at)
            groups[key].append(conversation)
        self._updating = True
        try:
            self.list.clear()
            for name, members in groups.items():
                if members:
                    self.list.addItem(self._header(self.tr(name)))
                for conversation in members:
                    item = self._conversation_item(conversation)
                    self.list.addItem(item)
                    if conversation.id == current_id:
                        self.list.setCurrentItem(item)
        finally:
            self._updating = False

    def _header(self, title: str) -> QListWidgetItem:
        item = QListWidgetItem(title)
        item.setFlags(Qt.ItemFlag.NoItemFlags)  # not selectable; arrow keys skip it
        item.setData(HEADER_ROLE, title)
        font = QFont(self.list.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 0.85)
        item.setFont(font)
        item.setForeground(HEADER_COLOR)  # readable on light and dark, unlike "disabled"
        item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom)
        item.setSizeHint(QSize(0, QFontMetrics(font).height() + 10))  # air above a group
        return item

    def _conversation_item(self, conversation: Any) -> QListWidgetItem:
        title = conversation.title or self.tr("Untitled")
        item = QListWidgetItem(title)
        if conversation.pinned:
            item.setIcon(icon("pin"))
        item.setData(ID_ROLE, conversation.id)
        item.setData(TITLE_ROLE, title)
        item.setData(PINNED_ROLE, bool(conversation.pinned))
        when = format_timestamp(conversation.updated_at, "%Y-%m-%d %H:%M",
                                unknown=self.tr("unknown time"))
        item.setToolTip(self.tr("{title}\nLast used: {when}").format(title=title, when=when))
        return item

    def conversation_items(self) -> list[QListWidgetItem]:
        """The rows that are chats (not headers), top to bottom."""
        return [self.list.item(row) for row in range(self.list.count())
                if self.list.item(row).data(ID_ROLE) is not None]

    def headers(self) -> list[str]:
        """The group headers shown, top to bottom."""
        return [str(self.list.item(row).data(HEADER_ROLE)) for row in range(self.list.count())
                if self.list.item(row).data(HEADER_ROLE)]

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None or item.data(ID_ROLE) is None else int(item.data(ID_ROLE))

    def _current_changed(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is not None and item.data(ID_ROLE) is not None and not self._updating:
            self.conversation_selected.emit(int(item.data(ID_ROLE)))

    def _context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None or item.data(ID_ROLE) is None:
            return
        self.context_menu_for(item).exec(self.list.viewport().mapToGlobal(pos))

    def context_menu_for(self, item: QListWidgetItem) -> QMenu:
        conversation_id = int(item.data(ID_ROLE))
        pinned = bool(item.data(PINNED_ROLE))
        menu = QMenu(self)
        rename = QAction(icon("rename"), self.tr("Rename…"), menu)
        rename.triggered.connect(lambda: self.ask_rename(conversation_id))
        pin = QAction(icon("unpin" if pinned else "pin"),
                      self.tr("Unpin") if pinned else self.tr("Pin to top"), menu)
        pin.triggered.connect(lambda: self.pin_requested.emit(conversation_id, not pinned))
        export = QAction(icon("export"), self.tr("Export…"), menu)
        export.triggered.connect(lambda: self.export_requested.emit(conversation_id))
        delete = QAction(icon("delete"), self.tr("Delete"), menu)
        delete.triggered.connect(lambda: self.delete_requested.emit(conversation_id))
        for action in (rename, pin, export, delete):
            menu.addAction(action)
        return menu

    def ask_rename(self, conversation_id: int) -> None:
        item = self._item(conversation_id)
        old = str(item.data(TITLE_ROLE)) if item is not None else ""
        title = ask_new_title(self, old)
        if title:
            self.rename_requested.emit(conversation_id, title)

    def _item(self, conversation_id: int) -> QListWidgetItem | None:
        for item in self.conversation_items():
            if item.data(ID_ROLE) == conversation_id:
                return item
        return None

    # -- search -------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.search_box.setFocus()
        self.search_box.selectAll()

    def _search_text_changed(self, text: str) -> None:
        if text.strip():
            self._search_timer.start()
        else:
            self._search_timer.stop()
            self.show_hits([], "", "", "")

    def show_hits(self, hits: Sequence[Any], query: str, start: str, end: str) -> None:
        """Show search hits (history SearchHit objects); ``start``/``end`` mark the match."""
        self.hits.clear()
        searching = bool(query)
        self.hits.setVisible(searching)
        self.hits_label.setVisible(searching)
        self.hits_label.setText(self.tr("{0} messages match").format(len(hits)))
        for hit in hits:
            item = QListWidgetItem()
            item.setData(HIT_ROLE, (hit.conversation_id, hit.message_id))
            label = QLabel(f"<b>{html.escape(hit.conversation_title)}</b><br>"
                           f"{highlight_snippet(hit.snippet, start, end)}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setContentsMargins(4, 2, 4, 2)
            item.setSizeHint(label.sizeHint())
            self.hits.addItem(item)
            self.hits.setItemWidget(item, label)

    def _hit_activated(self, item: QListWidgetItem) -> None:
        conversation_id, message_id = item.data(HIT_ROLE)
        self.hit_activated.emit(conversation_id, message_id)
