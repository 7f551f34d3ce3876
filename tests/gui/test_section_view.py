"""The cross-section panel through its real widgets: labels measured on screen (apart,
inside the picture, wide enough for their text), the full name under the mouse, a
click that shows the structure's card, and the plane of the axial slice in the 3D view
following the level slider. Structures and levels come from the atlas."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QFontMetricsF, QMouseEvent
from PySide6.QtWidgets import QApplication

from thighmap.viz import section_layout

from .conftest import engine_or_skip, point_above_nerve


def _show_section(window, qtbot):  # type: ignore[no-untyped-def]
    window.docks["Cross-section"].show()
    window.resizeDocks([window.docks["Cross-section"]], [330], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: window.section.isVisible())
    qtbot.wait(200)  # the docks settle to their sizes
    window.section.recompute()
    view = window.section.axial
    qtbot.waitUntil(lambda: view.slice is not None and bool(view.slice.regions))
    size = view.size()
    qtbot.wait(100)
    assert view.size() == size
    view.repaint()  # lays the labels out for the size on screen
    return view


def _move(widget, pos: QPoint) -> None:  # type: ignore[no-untyped-def]
    """The mouse moved over the widget with no button held: the event Qt sends (QTest's
    mouseMove did not reach the widget under the virtual screen)."""
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(pos),
        QPointF(widget.mapToGlobal(pos)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def _overlapping(rects: list[np.ndarray]) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i in range(len(rects))
        for j in range(i + 1, len(rects))
        if rects[i][0] < rects[j][2]
        and rects[j][0] < rects[i][2]
        and rects[i][1] < rects[j][3]
        and rects[j][1] < rects[i][3]
    ]


def _levels(window) -> list[float]:  # type: ignore[no-untyped-def]
    z = window.scene.atlas.mesh("skin").vertices[:, 2]
    lo, hi = float(z.min()), float(z.max())
    return [lo + f * (hi - lo) for f in (0.2, 0.5, 0.8)]


def test_section_labels_are_apart_inside_and_fit_their_text(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _show_section(window, qtbot)
    slider = window.section.level_slider
    atlas = window.scene.atlas
    for level in _levels(window):
        slider.setValue(round(level))  # as a drag of the slider sets it
        qtbot.waitUntil(lambda level=level: abs(window.view.section.level_mm - round(level)) < 0.5)
        window.section.recompute()
        view.repaint()
        cut = [sid for sid, _c, _a, _loops in view.slice.regions]
        assert cut and set(view.label_rects) <= set(cut)
        danger = [sid for sid in cut if atlas.structures[sid].role == "danger"]
        assert set(danger) <= set(view.label_rects), "every nerve and vessel in the slice is named"
        fm = QFontMetricsF(view._label_font())
        rects = list(view.label_rects.values())
        assert not _overlapping(rects)
        for sid, r in view.label_rects.items():
            assert 0 <= r[0] and 0 <= r[1] and r[2] <= view.width() and r[3] <= view.height(), sid
            assert r[2] - r[0] >= fm.horizontalAdvance(atlas.structures[sid].short_name), sid
        # a leader starts on its structure
        for sid, (anchor, _end) in view.label_leaders.items():
            uv = view.to_plane(*anchor)
            regions = [loops for _s, _c, _a, loops in view.slice.regions]
            assert cut[section_layout.region_at(regions, uv)] == sid


def test_hover_names_a_structure_and_a_click_shows_its_card(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _show_section(window, qtbot)
    atlas = window.scene.atlas
    regions = [loops for _s, _c, _a, loops in view.slice.regions]
    # the muscle whose visible part is widest: hover its middle, away from every label
    muscles = [k for k, (sid, *_r) in enumerate(view.slice.regions) if atlas.structures[sid].kind == "muscle"]
    parts = {
        k: section_layout.visible_part([[view.to_px(q) for q in loops] for loops in regions], k)
        for k in muscles
    }
    k = max(parts, key=lambda i: parts[i].clearance.max())
    sid = view.slice.regions[k][0]
    part = parts[k]
    free = [
        p
        for p in part.points[np.argsort(-part.clearance)]
        if not any(
            r[0] - 2 <= p[0] <= r[2] + 2 and r[1] - 2 <= p[1] <= r[3] + 2 for r in view.label_rects.values()
        )
    ]
    assert free
    pos = QPoint(round(free[0][0]), round(free[0][1]))
    hovered: list[str] = []
    view.hovered.connect(hovered.append)
    _move(view, QPoint(2, 2))
    _move(view, pos)
    qtbot.waitUntil(lambda: sid in hovered)
    assert view.toolTip() == atlas.structures[sid].name
    assert atlas.structures[sid].name in window.statusBar().currentMessage()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=pos)
    assert window.scene.focused == sid  # outlined in 3D, as a click there does
    assert atlas.structures[sid].name in window.info.toPlainText()


def test_a_label_names_its_structure_under_the_mouse(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _show_section(window, qtbot)
    sid, r = next(iter(view.label_rects.items()))
    centre = QPoint(round((r[0] + r[2]) / 2), round((r[1] + r[3]) / 2))
    assert view.structure_at(centre.x(), centre.y()) == sid
    _move(view, QPoint(1, 1))
    _move(view, centre)
    qtbot.waitUntil(lambda: view.toolTip() == window.scene.atlas.structures[sid].name)


def test_the_section_plane_follows_the_slider_and_the_panel(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    plane = window.scene.section_plane
    assert not plane.fill_actor.GetVisibility()  # the panel starts hidden
    _show_section(window, qtbot)
    qtbot.waitUntil(lambda: bool(plane.fill_actor.GetVisibility()))
    slider = window.section.level_slider
    slider.setFocus()
    for level in _levels(window):
        slider.setValue(round(level))
        bounds = plane.fill_actor.GetBounds()
        assert bounds[4] == pytest.approx(round(level), abs=1e-3) and bounds[5] == pytest.approx(bounds[4])
        # clipped to the limb: within the skin's extent at that level, and most of it
        skin = window.scene.atlas.mesh("skin").vertices
        near = skin[np.abs(skin[:, 2] - round(level)) < 3.0]
        width = bounds[1] - bounds[0]
        assert 0.8 * np.ptp(near[:, 0]) <= width <= np.ptp(near[:, 0]) + 1.0
    before = plane.fill_actor.GetBounds()[4]
    qtbot.keyClick(slider, Qt.Key.Key_PageDown)  # the keyboard moves it too
    assert plane.fill_actor.GetBounds()[4] < before
    window.docks["Cross-section"].hide()
    qtbot.waitUntil(lambda: not plane.fill_actor.GetVisibility())
    assert not plane.outline_actor.GetVisibility()


def test_the_plane_follows_the_needle_tip(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    _show_section(window, qtbot)
    entry, nerve = point_above_nerve(window.core)
    window.handle_skin_pick(entry)
    window.on_tip_dragged(nerve + np.array([0.0, 30.0, 25.0]))
    needle = window.doc.selected_needle()
    assert needle is not None and window.view.section.follow == "tip"
    qtbot.waitUntil(lambda: abs(window.view.section.level_mm - needle.tip_mm[2]) < 1e-6, timeout=3000)
    bounds = window.scene.section_plane.fill_actor.GetBounds()
    assert bounds[4] == pytest.approx(needle.tip_mm[2], abs=1e-3)
