"""The window's status bar: messages that keep clear of the permanent summary."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStatusBar


class StatusBar(QStatusBar):
    """The status bar: a message on the left that never runs into the permanent summary on
    the right (cut with an ellipsis to the room there is, the whole text as its tooltip).
    The cut is made again when the summary or the window's width changes."""

    GAP_PX = 16  # between the message and the summary's separator
    MARGIN_PX = 12  # Qt's own margins around the message

    def __init__(self) -> None:
        super().__init__()
        self.permanent = QLabel()
        self.permanent.setStyleSheet("QLabel { border-left: 1px solid palette(mid); padding-left: 8px; }")
        self.addPermanentWidget(self.permanent)
        self.full_message = ""
        self._timeout_ms = 0
        self._shown_at = 0.0
        self.messageChanged.connect(self._on_message_changed)

    def message_room_px(self) -> int:
        """The width the message may take: left of the summary (as wide as its text, even
        before the layout catches up), less a gap."""
        summary = self.permanent.sizeHint().width() if self.permanent.isVisibleTo(self) else 0
        grip = 16 if self.isSizeGripEnabled() else 0
        return max(self.width() - summary - grip - self.GAP_PX - self.MARGIN_PX, 40)

    def showMessage(self, text: str, timeout: int = 0) -> None:
        self.full_message = text
        self._timeout_ms = timeout
        self._shown_at = time.monotonic()
        self._show_elided(timeout)

    def _show_elided(self, timeout: int) -> None:
        text = self.full_message
        shown = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, self.message_room_px())
        self.setToolTip(text if shown != text else "")
        super().showMessage(shown, timeout)

    def _on_message_changed(self, message: str) -> None:
        if not message:  # cleared, or its time ran out
            self.full_message = ""
            self.setToolTip("")

    def _refit(self) -> None:
        """Cut the message on show again for the room there is now (same time left)."""
        if not self.full_message or not self.currentMessage():
            return
        left = 0
        if self._timeout_ms:
            left = max(1, round(self._timeout_ms - 1000 * (time.monotonic() - self._shown_at)))
        self._show_elided(left)

    def set_summary(self, text: str) -> None:
        """The permanent summary on the right (the plan's side, patient, needles, verdict)."""
        self.permanent.setText(text)
        self._refit()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._refit()
