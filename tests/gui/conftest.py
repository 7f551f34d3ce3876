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


def seen_back_point(atlas, sid: str, clear_of_markers_mm: float = 15.0) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A point on the back of a structure that a click from behind lands on: at one of
    several levels of the structure, rays from behind (skin and fat aside) are cast
    across its width; the point is the middle of the stretch where they meet this
    structure first, at least 3 mm from its edges and `clear_of_markers_mm` from every
    trigger-point marker."""
    import trimesh

    markers = np.array([tp.position_mm for tp in atlas.trigger_points.values()])
    under_skin = [o for o, st in atlas.structures.items() if st.recipe["type"] != "limb"]
    meshes = {
        o: trimesh.Trimesh(atlas.mesh(o).vertices, atlas.mesh(o).faces, process=False) for o in under_skin
    }
    v = atlas.mesh(sid).vertices
    z_lo, z_hi = np.percentile(v[:, 2], [25, 75])
    for z in np.linspace(0.5 * (z_lo + z_hi), z_lo, 6).tolist() + np.linspace(z_lo, z_hi, 6).tolist():
        band = v[np.abs(v[:, 2] - z) < 3.0]
        if not len(band):
            continue
        xs = np.arange(band[:, 0].min(), band[:, 0].max(), 1.0)
        starts = np.column_stack([xs, np.full_like(xs, 400.0), np.full_like(xs, z)])
        down = np.tile([0.0, -1.0, 0.0], (len(xs), 1))
        first = np.full(len(xs), -np.inf)
        owner = np.full(len(xs), "", dtype=object)
        for o, m in meshes.items():
            loc, ray, _ = m.ray.intersects_location(starts, down)
            for y, r in zip(np.reshape(loc, (-1, 3))[:, 1], ray, strict=True):
                if y > first[r]:
                    first[r], owner[r] = y, o
        mine = np.nonzero(owner == sid)[0]
        if len(mine) < 7:
            continue
        k = mine[len(mine) // 2]
        p = np.array([xs[k], first[k], z])
        if len(markers) and np.min(np.linalg.norm(markers - p, axis=1)) < clear_of_markers_mm:
            continue
        if mine[-1] - k >= 3 and k - mine[0] >= 3:
            return p
    raise AssertionError(f"no point on the back of {sid} is seen from behind, clear of the markers")
