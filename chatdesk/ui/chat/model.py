"""The messages of one conversation as a Qt list model of frozen ``MessageItem`` s.

The model holds no rendering state: documents and heights live in the view, keyed by
message id, so replacing an item (a streamed answer growing) costs one list assignment.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt

ITEM_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class MessageItem:
    """One message as the view shows it (the window builds these from the history)."""

    id: int
    role: str                 # "user" | "assistant" | "system"
    text: str                 # Markdown for answers, shown as typed for user messages
    title: str                # "You", or the model name for answers
    note: str = ""            # the grey line under an answer (when it has no chips)
    incomplete: bool = False  # an interrupted answer
    sibling_index: int = 0    # which alternative this is (0-based) ...
    sibling_count: int = 1    # ... of how many
    tooltip: str = ""         # shown when hovering a finished answer (default: ``note``)
    chips: tuple[str, ...] = ()  # short figures under an answer: "42 tokens", "0.9 J"
    stop_note: str = ""       # why an answer ended early: "stopped: it began repeating itself"
    continue_tip: str = ""    # set when it can be continued: the "Continue anyway" tooltip
    files: tuple[str, ...] = ()  # attachments of a question, as their chips read
    sources: tuple[str, ...] = ()  # the passages an answer was given, as their chips read
    source_tips: tuple[str, ...] = ()  # each source's passage (its chip's tooltip)


class MessageListModel(QAbstractListModel):
    """The messages of one conversation, in order."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[MessageItem] = []
        self._rows: dict[int, int] = {}

    # -- Qt model API -------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.text
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{item.title}: {item.text}"
        if role == ITEM_ROLE:
            return item
        return None

    # -- ours ---------------------------------------------------------------------------
    @property
    def items(self) -> list[MessageItem]:
        return self._items

    def item(self, row: int) -> MessageItem:
        return self._items[row]

    def row_of(self, message_id: int) -> int | None:
        return self._rows.get(message_id)

    def reset(self, items: list[MessageItem]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._reindex()
        self.endResetModel()

    def append(self, item: MessageItem) -> int:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(item)
        self._rows[item.id] = row
        self.endInsertRows()
        return row

    def replace(self, row: int, item: MessageItem, *, notify: bool = True) -> None:
        old = self._items[row]
        self._items[row] = item
        if old.id != item.id:
            if self._rows.get(old.id) == row:
                del self._rows[old.id]
            self._rows[item.id] = row
        if notify:
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._items[row]
        self._reindex()
        self.endRemoveRows()

    def truncate(self, rows: int) -> list[MessageItem]:
        """Keep the first ``rows`` rows; one removal for all the others (returned)."""
        rows = max(0, rows)
        if rows >= len(self._items):
            return []
        self.beginRemoveRows(QModelIndex(), rows, len(self._items) - 1)
        dropped = self._items[rows:]
        del self._items[rows:]
        for item in dropped:
            if self._rows.get(item.id, -1) >= rows:
                del self._rows[item.id]
        self.endRemoveRows()
        return dropped

    def _reindex(self) -> None:
        self._rows = {item.id: row for row, item in enumerate(self._items)}
