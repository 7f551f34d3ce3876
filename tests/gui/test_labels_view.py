"""Labels of the 3D view, measured in rendered frames: inside the view and apart.

Every label on (structures, landmarks, trigger points) and three needles, at 1280x800
and at a small window, from behind and from below. Each label's text box is read from
VTK (vtkTextActor.GetBoundingBox: what was drawn), not from the layout's answer.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import vtk

from thighmap.gui import scene3d

pytestmark = pytest.mark.gui

NEEDLE_TRIGGER_POINTS = ("st_nct_mid", "bfl_nct_mid", "sm_lower_third")


def _all_labels_and_three_needles(window) -> None:  # type: ignore[no-untyped-def]
    for key in ("labels", "landmarks", "tp_labels"):
        window.layers.set_checked(key, True)
    for tp in NEEDLE_TRIGGER_POINTS:
        assert window.add_from_trigger_point(tp) is not None
    assert len(window.plan.needles) == 3


def _drawn_text_boxes(window) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Every visible text of the 3D view as drawn in the last frame: (x0, y0, x1, y1) px."""
    ren = window.pl.renderer
    out = {}
    for name, actor in window.pl.actors.items():
        if isinstance(actor, vtk.vtkTextActor) and actor.GetVisibility():
            bb = [0.0] * 4
            actor.GetBoundingBox(ren, bb)
            x, y = actor.GetPositionCoordinate().GetComputedViewportValue(ren)
            out[str(name)] = np.array([x + bb[0], y + bb[2], x + bb[1] + 1, y + bb[3] + 1], float)
    return out


def _overlaps(boxes: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    names = sorted(boxes)
    bad = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            p, q = boxes[a], boxes[b]
            if p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]:
                bad.append((a, b))
    return bad


@pytest.mark.parametrize("size", [(1280, 800), (860, 560)])
def test_labels_in_a_rendered_frame_are_inside_the_view_and_apart(window, qtbot, size) -> None:  # type: ignore[no-untyped-def]
    window.resize(*size)
    qtbot.wait(50)
    _all_labels_and_three_needles(window)
    for view in ("posterior", "axial_from_below"):
        window.scene.camera(view)
        window.scene.render_now()
        width, height = window.pl.renderer.GetSize()
        texts = _drawn_text_boxes(window)
        labels = window.scene.labels
        shown = [n for n in labels if n in texts]
        assert "scalelabel" in texts
        # what is drawn: every label of the layout, and nothing else but the scale bar's text
        assert set(texts) == {*window.scene.label_rects, "scalelabel"}, view
        for name, box in texts.items():
            assert box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height, (view, size, name)
        assert _overlaps(texts) == [], (view, size)
        # the boxes drawn behind the texts hold them and are apart too
        boxes = window.scene.label_rects
        for name in shown:
            t, b = texts[name], boxes[name]
            assert b[0] <= t[0] and b[1] <= t[1] and t[2] <= b[2] + 1 and t[3] <= b[3] + 1, name
        assert _overlaps(dict(boxes)) == []
        # the three needles keep their labels, under short names
        for needle in window.plan.needles:
            assert f"nlabel:{needle.id}" in texts, (view, size)
        assert not [n for n in window.scene.labels_dropped if labels[n].kind == "needle"]
        structures = [n for n in shown if labels[n].kind == "structure"]
        assert len(structures) >= 6, (view, size, window.scene.labels_dropped)
        # structures go after landmarks and trigger points
        dropped_kinds = {labels[n].kind for n in window.scene.labels_dropped}
        if "structure" in dropped_kinds:
            assert not [n for n in shown if labels[n].kind in ("landmark", "trigger_point")], view
        for name in shown:
            assert labels[name].actor.GetInput() == labels[name].text
            # short names on anatomy labels; a needle's label may add its max safe depth
            assert labels[name].kind == "needle" or len(labels[name].text) <= 16
        cfn = labels.get("label:common_fibular_nerve")
        assert cfn is not None and cfn.text == "Com. fibular n."
        assert cfn.full_text == "Common fibular (peroneal) nerve"


def test_label_boxes_are_drawn_where_the_layout_put_them(window) -> None:  # type: ignore[no-untyped-def]
    _all_labels_and_three_needles(window)
    window.scene.camera("posterior")
    window.scene.render_now()
    img = np.asarray(window.pl.screenshot(None, return_img=True), dtype=float)[..., :3]
    height = img.shape[0]
    for needle in window.plan.needles:
        lab = window.scene.labels[f"nlabel:{needle.id}"]
        x0, y0, x1, y1 = (round(float(v)) for v in window.scene.label_rects[lab.name])
        patch = img[height - y1 + 1 : height - y0 - 1, x0 + 1 : x1 - 1]
        bg = np.array([int(lab.bg[i : i + 2], 16) for i in (1, 3, 5)], float)
        near_bg = np.abs(patch - bg).max(axis=2) < 60
        assert near_bg.mean() > 0.4, (lab.name, near_bg.mean())


def test_labels_follow_the_camera_and_name_in_full_on_hover(window, qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    window.scene.camera("posterior")
    window.scene.render_now()
    before = dict(window.scene.label_rects)
    assert before
    window.pl.camera.Azimuth(35.0)
    time.sleep(0.15)  # past the re-layout throttle
    window.scene.render_now()
    after = window.scene.label_rects
    assert set(after) and any(not np.allclose(before[n], after[n]) for n in set(before) & set(after))
    assert window.scene._placed_state == window.scene._camera_state()
    # a move within the throttle (made long here: a software frame takes a good part of
    # the usual 0.1 s): that frame keeps the labels, then a timer places them
    monkeypatch.setattr(scene3d, "LABEL_THROTTLE_S", 2.0)
    window.scene.place_labels()
    window.pl.camera.Azimuth(-20.0)
    window.scene.render_now()
    assert window.scene._placed_state != window.scene._camera_state()
    qtbot.waitUntil(lambda: window.scene._placed_state == window.scene._camera_state(), timeout=5000)
    window.scene.render_now()
    after = window.scene.label_rects
    # hover over a structure's label (one on the virtual screen, which may be smaller than
    # the window): its full name in the status bar
    screen = window.screen().geometry()
    ratio = window.pl.devicePixelRatioF()
    height = window.pl.height() * ratio

    def widget_point(rect: np.ndarray) -> QPoint:
        return QPoint(
            round((rect[0] + rect[2]) / 2 / ratio), round((height - 1 - (rect[1] + rect[3]) / 2) / ratio)
        )

    name = next(
        n
        for n in after
        if window.scene.labels[n].kind == "structure"
        and screen.contains(window.pl.mapToGlobal(widget_point(after[n])))
    )
    QTest.mouseMove(window.pl, widget_point(after[name]))
    full = window.scene.labels[name].full_text
    assert full != window.scene.labels[name].text or len(full) <= 16
    qtbot.waitUntil(lambda: full in window.statusBar().currentMessage(), timeout=3000)
    assert window.scene.focused == name.split(":", 1)[1]
