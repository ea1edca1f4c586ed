"""What the conversation does with the mouse and keys: hover, click, menus, tooltips.

A mixin of ``MessageView``, kept apart because it is the view's other half: the view lays
out and streams, this answers the user. Hit-testing uses the same ``geometry`` as the
painting, so what is clicked is what is seen.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QPoint, QPointF, QRect, QRectF, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QContextMenuEvent,
    QDesktopServices,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
)
from PySide6.QtWidgets import QMenu, QToolTip

from chatdesk.core.figures import CONTINUE_LABEL
from chatdesk.ui.chat import geometry
from chatdesk.ui.icons import icon

_CLICKABLE = ("action", "nav", "code", "link", "file", "source")


class ViewInteraction:
    """Mouse, keyboard, context menu and tooltips of ``MessageView`` (its mixin)."""

    def target_rect(self, message_id: int, target: str) -> QRect | None:
        """Viewport rectangle of a part of a visible message, for tests and automation:
        "copy", "edit", "regenerate", "delete", "previous", "next", "continue" (under an
        answer that stopped early), "code:N" (the copy button of code block N), "bubble",
        "text" (the message body), "footer:N" (the Nth piece under it: a status, a figure
        chip or a part of the note)."""
        row = self._model.row_of(message_id)
        if row is None:
            return None
        self.executeDelayedItemsLayout()
        geo = self.row_geometry(row, self.visualRect(self._model.index(row)))
        rect: QRectF | None = None
        if target == "bubble":
            rect = geo.bubble
        elif target == "text":
            rect = geo.doc_rect
        elif target in ("previous", "next") and geo.nav:
            rect = geo.nav[0] if target == "previous" else geo.nav[2]
        elif target.startswith(("code:", "footer:")):
            kind, number = target.split(":")
            rects = geo.code_copy if kind == "code" else [r for _, r in geo.footer]
            rect = rects[int(number)] if int(number) < len(rects) else None
        else:
            buttons = [(piece.action, r) for piece, r in geo.footer if piece.action]
            rect = next((r for name, r in [*geo.actions, *buttons] if name == target), None)
        return rect.toAlignedRect() if rect is not None else None

    def context_menu(self, message_id: int) -> QMenu | None:
        """The menu of a message's actions (what right-click and the Menu key show)."""
        row = self._model.row_of(message_id)
        return None if row is None else self._build_menu(row)

    def _hit(self, pos: QPoint) -> tuple[int, str, object] | None:
        index = self.indexAt(pos)
        if not index.isValid():
            return None
        row = index.row()
        geo = self.row_geometry(row, self.visualRect(index))
        point = QPointF(pos)
        kind, key = geometry.hit(geo, point)
        if kind == "doc":
            anchor = self.rendered(row).anchor_at(point - geo.doc_origin)
            return (row, "link", anchor) if anchor else (row, "bubble", None)
        return (row, kind, key)

    def _set_hover(self, hit: tuple[int, str, object] | None) -> None:
        if hit == self._hover:
            return
        rows = {h[0] for h in (hit, self._hover) if h is not None}
        self._hover = hit
        for row in rows:
            if row < self._model.rowCount():
                self.viewport().update(self.visualRect(self._model.index(row)))
        clickable = hit is not None and hit[1] in _CLICKABLE
        self.viewport().setCursor(Qt.CursorShape.PointingHandCursor if clickable
                                  else Qt.CursorShape.ArrowCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._set_hover(self._hit(event.position().toPoint()))
        if event.buttons() == Qt.MouseButton.NoButton:
            super().mouseMoveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hit = self._hit(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and hit and hit[1] in _CLICKABLE:
            self._pressed = hit
            event.accept()
            return
        self._pressed = None
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        pressed, self._pressed = self._pressed, None
        if pressed is not None and event.button() == Qt.MouseButton.LeftButton:
            if self._hit(event.position().toPoint()) == pressed:
                self._activate(pressed, event.globalPosition().toPoint())
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        hit = self._hit(event.position().toPoint())
        if hit and hit[1] in _CLICKABLE:
            event.accept()  # a fast second click on a button is not a double click on a row
            return
        super().mouseDoubleClickEvent(event)

    def _activate(self, hit: tuple[int, str, object], global_pos: QPoint | None = None
                  ) -> None:
        row, kind, key = hit
        if row >= self._model.rowCount():
            return
        item = self._model.item(row)
        if kind == "action":
            self._run_action(row, str(key))
        elif kind == "nav":
            step = -1 if key == "previous" else 1
            target = item.sibling_index + step
            if 0 <= target < item.sibling_count:
                self.sibling_requested.emit(item.id, target)
        elif kind == "code":
            number = int(key)  # type: ignore[arg-type]
            blocks = self.rendered(row).code_blocks
            if number < len(blocks):
                QGuiApplication.clipboard().setText(blocks[number].code)
                self._copied = (item.id, number)
                self.viewport().update(self.visualRect(self._model.index(row)))
                QTimer.singleShot(1500, self, self._clear_copied)
                self.code_copied.emit(item.id, number)
        elif kind == "file":
            self.file_activated.emit(item.id, int(key))  # type: ignore[arg-type]
        elif kind == "source":
            self.source_activated.emit(item.id, int(key))  # type: ignore[arg-type]
        elif kind == "link":
            href = str(key)
            self.link_activated.emit(href)
            url = QUrl(href)
            if url.scheme() in ("http", "https", "mailto"):
                QDesktopServices.openUrl(url)

    def _clear_copied(self) -> None:
        if self._copied is not None:
            self._copied = None
            self.viewport().update()

    def _run_action(self, row: int, name: str) -> None:
        item = self._model.item(row)
        if name == "copy":
            QGuiApplication.clipboard().setText(self.message_text(item.id))
            self.copy_requested.emit(item.id)
        elif name == "edit":
            self.edit_requested.emit(item.id)
        elif name == "regenerate":
            self.regenerate_requested.emit(item.id)
        elif name == "tokens":
            self.tokens_requested.emit(item.id)
        elif name == "delete":
            self.delete_requested.emit(item.id)
        elif name == "continue" and self.can_continue(row):
            self.continue_requested.emit(item.id)

    def _build_menu(self, row: int) -> QMenu:
        item = self._model.item(row)
        menu = QMenu(self)
        for name, text in self.actions_for(row):
            action = menu.addAction(icon(name), text)
            action.setObjectName(name)
            action.triggered.connect(lambda _=False, n=name, i=item.id: self._menu_action(i, n))
        if self.can_continue(row):
            action = menu.addAction(self.tr(CONTINUE_LABEL))
            action.setObjectName("continue")
            action.setToolTip(item.continue_tip)
            action.triggered.connect(
                lambda _=False, i=item.id: self._menu_action(i, "continue"))
        if item.sibling_count > 1:
            menu.addSeparator()
            for name, text, target in (
                    ("previous", self.tr("Previous alternative"), item.sibling_index - 1),
                    ("next", self.tr("Next alternative"), item.sibling_index + 1)):
                action = menu.addAction(text)
                action.setObjectName(name)
                action.setEnabled(0 <= target < item.sibling_count)
                action.triggered.connect(
                    lambda _=False, i=item.id, t=target: self.sibling_requested.emit(i, t))
        return menu

    def _menu_action(self, message_id: int, name: str) -> None:
        row = self._model.row_of(message_id)
        if row is not None:
            self._run_action(row, name)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if event.reason() == QContextMenuEvent.Reason.Mouse:
            index = self.indexAt(event.pos())
        else:
            index = self.currentIndex()
            rows = self._visible_rows(0)
            if not index.isValid() or index.row() not in rows:
                index = self._model.index(rows.start) if rows else QModelIndex()
        if not index.isValid():
            return
        menu = self._build_menu(index.row())
        if event.reason() == QContextMenuEvent.Reason.Mouse:
            position = event.globalPos()
        else:
            rect = self.visualRect(index)
            position = self.viewport().mapToGlobal(rect.topLeft() + QPoint(geometry.MARGIN_H, 0))
        menu.exec(position)
        menu.deleteLater()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        bar = self.verticalScrollBar()
        key = event.key()
        if key == Qt.Key.Key_Escape:
            event.ignore()  # the window's Stop shortcut, and dialogs, need it
            return
        if event.matches(QKeySequence.StandardKey.Copy) and self.currentIndex().isValid():
            self._run_action(self.currentIndex().row(), "copy")
            return
        # The conversation reads like a document: keys scroll it.
        if key == Qt.Key.Key_PageDown:
            bar.triggerAction(bar.SliderAction.SliderPageStepAdd)
        elif key == Qt.Key.Key_PageUp:
            bar.triggerAction(bar.SliderAction.SliderPageStepSub)
        elif key == Qt.Key.Key_Down:
            bar.triggerAction(bar.SliderAction.SliderSingleStepAdd)
        elif key == Qt.Key.Key_Up:
            bar.triggerAction(bar.SliderAction.SliderSingleStepSub)
        elif key == Qt.Key.Key_Home:
            bar.triggerAction(bar.SliderAction.SliderToMinimum)
        elif key == Qt.Key.Key_End:
            bar.triggerAction(bar.SliderAction.SliderToMaximum)
        else:
            super().keyPressEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.ToolTip:
            self._show_tooltip(event)  # type: ignore[arg-type]
            return True
        if kind == QEvent.Type.Leave:
            self._set_hover(None)
        return super().viewportEvent(event)

    def tooltip_at(self, pos: QPoint) -> str:
        """The tooltip text for a viewport position ("" for none)."""
        hit = self._hit(pos)
        if hit is None:
            return ""
        row, kind, key = hit
        item = self._model.item(row)
        if kind == "action":
            return {"copy": self.tr("Copy this message"),
                    "edit": self.tr("Edit and resend this message"),
                    "regenerate": self.tr("Write a new answer (this one stays as an "
                                          "alternative)"),
                    "delete": self.tr("Delete this message"),
                    "continue": item.continue_tip}.get(str(key), "")
        if kind == "nav":
            return (self.tr("Previous alternative") if key == "previous"
                    else self.tr("Next alternative"))
        if kind == "code":
            return self.tr("Copy the code")
        if kind == "file":
            return self.tr("Open the attached file")
        if kind == "source":
            tips = item.source_tips
            return tips[int(key)] if int(key) < len(tips) else ""  # type: ignore[arg-type]
        if kind == "link":
            return str(key)
        if kind == "bubble" and item.role == "assistant" and row != self._stream_row:
            return item.tooltip or item.note
        return ""

    def _show_tooltip(self, event) -> None:
        text = self.tooltip_at(event.pos())
        if text:
            QToolTip.showText(event.globalPos(), text, self.viewport())
        else:
            QToolTip.hideText()
            event.ignore()
