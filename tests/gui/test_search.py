"""The Layers panel's search box, driven by typing: synonyms and groups filter the tree,
"no match" is said, Enter selects the best structure and its card, Isolate and Fly to act."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from thighmap.anatomy.search import HAMSTRINGS
from thighmap.gui.panels import ROLE_KIND, ROLE_SID

pytestmark = pytest.mark.gui


def _visible_structures(window) -> set[str]:  # type: ignore[no-untyped-def]
    out = set()
    root = window.layers.tree.invisibleRootItem()
    for i in range(root.childCount()):
        group = root.child(i)
        for k in range(group.childCount()):
            item = group.child(k)
            if not item.isHidden() and not group.isHidden() and item.data(0, ROLE_KIND) in (
                "muscle", "nerve", "artery", "vein", "bone", "skin", "fat", "tendon", "fascia",
            ):  # fmt: skip
                out.add(str(item.data(0, ROLE_SID)))
    return out


def _type(qtbot, window, text: str) -> None:  # type: ignore[no-untyped-def]
    box = window.layers.search
    box.clear()
    qtbot.keyClicks(box, text)


def test_search_by_group_synonym_and_abbreviation(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    search = window.structure_search
    _type(qtbot, window, "hamstring")
    assert _visible_structures(window) == set(HAMSTRINGS)
    assert search.bar.isVisible() and search.status.text().startswith("Enter: ")
    qtbot.mouseClick(search.isolate_button, Qt.MouseButton.LeftButton)
    assert {s for s, a in window.scene.atlas_actors.items() if a.GetVisibility()} == set(HAMSTRINGS)
    qtbot.mouseClick(window.layers.show_all, Qt.MouseButton.LeftButton)
    assert all(a.GetVisibility() for a in window.scene.atlas_actors.values())
    _type(qtbot, window, "SM")
    assert _visible_structures(window) == {"semimembranosus"}
    _type(qtbot, window, "xyzzy")
    assert _visible_structures(window) == set()
    assert search.status.text() == "No match" and search.status.isVisible()
    assert not search.fly_button.isVisible()
    window.layers.search.clear()
    assert not search.bar.isVisible()
    assert len(_visible_structures(window)) == len(window.scene.atlas.structures)  # all back


def test_enter_selects_the_best_match_and_offers_isolate_and_fly_to(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    search = window.structure_search
    _type(qtbot, window, "peroneal")
    qtbot.keyClick(window.layers.search, Qt.Key.Key_Return)
    assert window.layers.tree.currentItem().data(0, ROLE_SID) == "common_fibular_nerve"
    assert "Common fibular" in window.info.toPlainText()  # its card
    assert window.scene.focused == "common_fibular_nerve"  # outlined in the view

    before = np.array(window.pl.camera.position)
    qtbot.mouseClick(search.fly_button, Qt.MouseButton.LeftButton)
    actor = window.scene.atlas_actors["common_fibular_nerve"]
    centre = np.array(actor.GetBounds()).reshape(3, 2).mean(axis=1)
    np.testing.assert_allclose(window.pl.camera.focal_point, centre, atol=1e-6)
    assert np.linalg.norm(np.array(window.pl.camera.position) - before) > 1.0
    # the whole structure is in front of the camera and inside the view
    window.scene.render_now()
    renderer = window.pl.renderer
    bounds = np.array(actor.GetBounds()).reshape(3, 2)
    for corner in np.array(np.meshgrid(*bounds)).T.reshape(-1, 3):
        renderer.SetWorldPoint(*corner, 1.0)
        renderer.WorldToView()
        x, y, _z = renderer.GetViewPoint()
        assert -1.0 <= x <= 1.0 and -1.0 <= y <= 1.0

    qtbot.mouseClick(search.isolate_button, Qt.MouseButton.LeftButton)
    visible = [s for s, a in window.scene.atlas_actors.items() if a.GetVisibility()]
    assert visible == ["common_fibular_nerve"]
