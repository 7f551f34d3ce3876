"""The window's status bar: messages that keep clear of the permanent summary."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStatusBar


class StatusBar(QStatusBar):
    """The status bar: a message on the left that never runs into the permanent summary on
    the right (cut with an ellipsis to the room there is, the whole text as its tooltip)."""

    GAP_PX = 16

    def __init__(self) -> None:
        super().__init__()
        self.permanent = QLabel()
        self.permanent.setObjectName("status_summary")
        self.permanent.setStyleSheet(
            "QLabel#status_summary { border-left: 1px solid #888; padding-left: 8px; }"
        )
        self.addPermanentWidget(self.permanent)
        self.full_message = ""

    def message_room_px(self) -> int:
        """The width the message may take: left of the summary, less a gap."""
        right = self.permanent.geometry().left() if self.permanent.isVisible() else self.width()
        return max(right - self.GAP_PX - 8, 40)

    def showMessage(self, text: str, timeout: int = 0) -> None:
        self.full_message = text
        shown = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, self.message_room_px())
        self.setToolTip(text if shown != text else "")
        super().showMessage(shown, timeout)
