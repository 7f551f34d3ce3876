"""Undo and redo keys that reach the plan whatever widget has the focus."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QApplication


class UndoKeys(QObject):
    """Ctrl+Z and Ctrl+Shift+Z (Ctrl+Y) undo and redo the plan, also while a spin box has
    the focus: a spin box's line edit would otherwise take them for its own text (Qt asks
    the focused widget first, with a ShortcutOverride event). Installed on the application."""

    KEYS = (QKeySequence.StandardKey.Undo, QKeySequence.StandardKey.Redo)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if any(event.matches(k) for k in self.KEYS) and self._in_spin_box(obj):
                event.ignore()  # not the widget's: the window's Undo/Redo shortcut fires
                return True
        return False

    @staticmethod
    def _in_spin_box(obj: QObject) -> bool:
        while obj is not None:
            if isinstance(obj, QAbstractSpinBox):
                return True
            obj = obj.parent()
        return False


def install_undo_keys(app: QApplication) -> UndoKeys:
    """Once per application (every window relies on it)."""
    keys = app.findChild(UndoKeys)
    if keys is None:
        keys = UndoKeys(app)
        app.installEventFilter(keys)
    return keys
