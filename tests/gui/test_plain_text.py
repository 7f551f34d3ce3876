"""Text from files is shown as written in every message box, never as HTML."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from thighmap.gui.dialogs import MAX_MESSAGE_CHARS, plain_message_box

pytestmark = pytest.mark.gui

HOSTILE_ID = "<img src='x.png'><b>n1</b>"


def test_a_message_box_shows_html_as_text(qtbot) -> None:  # type: ignore[no-untyped-def]
    box = plain_message_box(None, QMessageBox.Icon.Critical, "Cannot open", f"needle '{HOSTILE_ID}': bad")
    qtbot.addWidget(box)
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert box.text() == f"needle '{HOSTILE_ID}': bad"


def test_long_and_unprintable_messages_are_cut_and_escaped(qtbot) -> None:  # type: ignore[no-untyped-def]
    box = plain_message_box(None, QMessageBox.Icon.Critical, "x", "a\ud800b\n" + "y" * 100_000)
    qtbot.addWidget(box)
    assert box.text().startswith("a\\ud800b\n") and len(box.text()) <= MAX_MESSAGE_CHARS
    assert box.text().endswith("…")


def test_the_window_error_dialog_is_plain_text(window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    shown: list[QMessageBox] = []
    monkeypatch.setattr(QMessageBox, "exec", lambda self: shown.append(self) or 0)
    window.error("Cannot open the plan", f"plan.thighplan.json: needle '{HOSTILE_ID}': field 'depth_mm'")
    (box,) = shown
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert HOSTILE_ID in box.text()


def test_the_recovery_question_shows_a_hostile_path_as_plain_text() -> None:
    from PySide6.QtGui import Qt as QtGui

    from thighmap.gui.app import recovery_question

    text = recovery_question("2026-11-30 10:00", "/tmp/<img src=x onerror=alert(1)>.thighplan.json")
    assert not QtGui.mightBeRichText(text)
    assert "<img src=x onerror=alert(1)>" in text
