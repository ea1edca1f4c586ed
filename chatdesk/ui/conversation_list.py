"""The left sidebar: New chat, a full-text search over every chat, and the conversation
list (pinned first, then newest), with rename, pin and delete on a right-click."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction
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

from chatdesk.core.timestamps import format_timestamp
from chatdesk.ui.rename_dialog import ask_new_title

SEARCH_DELAY_MS = 200  # search once typing pauses, not per keystroke

ID_ROLE = Qt.ItemDataRole.UserRole
HIT_ROLE = Qt.ItemDataRole.UserRole + 1
TITLE_ROLE = Qt.ItemDataRole.UserRole + 2


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
        self.new_button = QPushButton(self.tr("New chat"))
        self.new_button.setToolTip(self.tr("Start a new conversation (Ctrl+N)"))
        self.new_button.clicked.connect(self.new_requested)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText(self.tr("Search all chats (Ctrl+F)"))
        self.search_box.setAccessibleName(self.tr("Search all chats"))
        self.search_box.setClearButtonEnabled(True)
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
        """Show conversations (history Conversation objects) without emitting a selection."""
        self._updating = True
        try:
            self.list.clear()
            for conversation in conversations:
                title = conversation.title or self.tr("Untitled")
                item = QListWidgetItem(("📌 " if conversation.pinned else "") + title)
                item.setData(ID_ROLE, conversation.id)
                item.setData(TITLE_ROLE, title)
                when = format_timestamp(conversation.updated_at, "%Y-%m-%d %H:%M",
                                        unknown=self.tr("unknown time"))
                item.setToolTip(self.tr("{title}\nLast used: {when}").format(title=title,
                                                                              when=when))
                self.list.addItem(item)
                if conversation.id == current_id:
                    self.list.setCurrentItem(item)
        finally:
            self._updating = False

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(ID_ROLE))

    def _current_changed(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is not None and not self._updating:
            self.conversation_selected.emit(int(item.data(ID_ROLE)))

    def _context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        self.context_menu_for(item).exec(self.list.viewport().mapToGlobal(pos))

    def context_menu_for(self, item: QListWidgetItem) -> QMenu:
        conversation_id = int(item.data(ID_ROLE))
        pinned = item.text().startswith("📌 ")
        menu = QMenu(self)
        rename = QAction(self.tr("Rename…"), menu)
        rename.triggered.connect(lambda: self.ask_rename(conversation_id))
        pin = QAction(self.tr("Unpin") if pinned else self.tr("Pin to top"), menu)
        pin.triggered.connect(lambda: self.pin_requested.emit(conversation_id, not pinned))
        export = QAction(self.tr("Export…"), menu)
        export.triggered.connect(lambda: self.export_requested.emit(conversation_id))
        delete = QAction(self.tr("Delete"), menu)
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
        for row in range(self.list.count()):
            item = self.list.item(row)
            if int(item.data(ID_ROLE)) == conversation_id:
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
