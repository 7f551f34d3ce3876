"""Fixtures of the GUI tests: an isolated settings folder and one shared core session.

The window is real (PySide6 + VTK under the virtual X server pytest-xvfb starts);
the atlas and its meshes are loaded once per test session and shared by the windows.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

_SRC = Path(__file__).resolve().parents[2] / "src"
if str(_SRC) not in sys.path:  # running from a source tree that is not installed
    sys.path.insert(0, str(_SRC))

from thighmap.gui.core import CoreSession  # noqa: E402


@pytest.fixture(autouse=True)
def settings_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep settings, recovery file and log out of the user's folders."""
    d = tmp_path / "settings"
    d.mkdir()
    monkeypatch.setenv("THIGHMAP_SETTINGS_DIR", str(d))
    return d


@pytest.fixture(scope="session")
def session() -> CoreSession:
    return CoreSession()


@pytest.fixture
def window(qtbot, session: CoreSession) -> Iterator:  # type: ignore[no-untyped-def]
    from thighmap.gui.app import MainWindow

    w = MainWindow(session=session, offer_recovery=False)
    # not qtbot.addWidget: pytest-qt would close the window before this fixture's
    # teardown, while the plan is still "unsaved", and the close would ask
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.undo.setClean()  # no "save changes?" prompt when the test closes it
    w.close()
    w.deleteLater()


@pytest.fixture(autouse=True)
def no_blocking_questions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A question box nobody answers would hang the suite: answer "No"/"Discard"."""
    from PySide6.QtWidgets import QMessageBox

    asked: list[str] = []

    def question(_parent, title, text, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(f"{title}: {text}")
        buttons = args[0] if args else kwargs.get("buttons")
        if buttons is not None and buttons & QMessageBox.StandardButton.Discard:
            return QMessageBox.StandardButton.Discard
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return asked


def engine_or_skip() -> None:
    pytest.importorskip("thighmap.safety.engine", reason="safety engine not in the tree yet")


def point_above_nerve(session: CoreSession, fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(a skin point straight behind the sciatic nerve, the nerve's centre there)."""
    tube = session.reference_atlas.tube("sciatic_nerve")
    centre = np.asarray(tube.centres_mm[int(len(tube.centres_mm) * fraction)], float)
    return centre + np.array([0.0, 120.0, 0.0]), centre
