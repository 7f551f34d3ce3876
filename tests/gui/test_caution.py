"""Caution structures in the window (issue #11): a cutaneous nerve has a Layers group of
its own whose box hides it, an amber zone, a card that says what touching it means, and
a caution finding shown in amber in the Safety panel. The atlas is the bundled one less
its own caution structures, with one caution tube added: a posterior femoral cutaneous
nerve 4 mm under the skin behind the sciatic nerve. A window on an atlas without caution
structures shows none of this. With a core that does not know the caution role (before
issue #11's core) the tests that need one are skipped."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTreeWidgetItem

from tests.gui.conftest import engine_or_skip
from thighmap.anatomy import atlas as atlas_mod
from thighmap.anatomy.search import search_structures
from thighmap.gui import panels, section
from thighmap.gui.cards import (
    CAUTION_BOX_BG,
    CAUTION_BOX_FG,
    DANGER_BOX_BG,
    MIN_CONTRAST,
    ROLE_WORDS,
    contrast_ratio,
    structure_card_html,
)
from thighmap.gui.core import CoreSession
from thighmap.gui.scene3d import _hex_to_rgb
from thighmap.planning import Needle
from thighmap.viz import scene

SID = "posterior_femoral_cutaneous_nerve"
DEPTH_UNDER_SKIN_MM = 4.0
SAFETY = {
    "uncertainty": {"at": [0.0, 1.0], "reference_mm": [3.0, 3.0], "fitted_mm": [2.0, 2.0]},
    "uncertainty_source": "chosen for the test",
    "caution_margin_mm": 3.0,
    "caution_margin_source": "chosen for the test",
}


def _skin_points(atlas: Any) -> list[list[float]]:
    """Points DEPTH_UNDER_SKIN_MM under the outer skin, straight behind the sciatic nerve
    at six levels (a ray from behind finds the skin)."""
    import trimesh

    skin = atlas.mesh("skin")
    mesh = trimesh.Trimesh(skin.vertices, skin.faces, process=False)
    tube = atlas.tube("sciatic_nerve")
    out = []
    for f in np.linspace(0.15, 0.85, 6):
        c = tube.centres_mm[int(len(tube.centres_mm) * f)]
        loc, _, _ = mesh.ray.intersects_location([[c[0], 400.0, c[2]]], [[0.0, -1.0, 0.0]])
        out.append([float(c[0]), float(loc[:, 1].max() - DEPTH_UNDER_SKIN_MM), float(c[2])])
    return out


def _doc_without_caution(base: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base.document)
    doc["structures"] = [st for st in doc["structures"] if st.get("role") != "caution"]
    return doc


@pytest.fixture(scope="module")
def plain_atlas() -> Any:
    """The bundled atlas less any caution structure."""
    base = atlas_mod.load_atlas()
    return atlas_mod.parse_atlas(_doc_without_caution(base), base.path)


@pytest.fixture(scope="module")
def caution_atlas() -> Any:
    if "caution" not in atlas_mod.ROLES:
        pytest.skip("this core does not know the caution role (issue #11)")
    base = atlas_mod.load_atlas()
    doc = _doc_without_caution(base)
    doc["structures"].append(
        {
            "id": SID,
            "name": "Posterior femoral cutaneous nerve",
            "short_name": "Post. fem. cut. n.",
            "kind": "nerve",
            "role": "caution",
            "description": "Runs down the back of the thigh under the fascia lata.",
            "recipe": {
                "type": "tube",
                "spacing_mm": 2.5,
                "centreline_mm": _skin_points(base),
                "radius": {"at": [0.0, 1.0], "mm": [1.2, 1.0]},
            },
            "safety": SAFETY,
        }
    )
    return atlas_mod.parse_atlas(doc, base.path)


def _window(qtbot, atlas: Any) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    from thighmap.gui.app import MainWindow

    w = MainWindow(session=CoreSession(atlas), offer_recovery=False)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.undo.setClean()
    w.close()
    w.deleteLater()


@pytest.fixture
def caution_window(qtbot, caution_atlas) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield from _window(qtbot, caution_atlas)


@pytest.fixture
def plain_window(qtbot, plain_atlas) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield from _window(qtbot, plain_atlas)


def _group(window: Any, label: str) -> QTreeWidgetItem | None:
    root = window.layers.tree.invisibleRootItem()
    for i in range(root.childCount()):
        if root.child(i).text(0) == label:
            return root.child(i)
    return None


def _keys(group: QTreeWidgetItem) -> list[str]:
    return [str(group.child(k).data(0, panels.ROLE_SID)) for k in range(group.childCount())]


# ---------------------------------------------------------------------- colours, search
def test_a_caution_structure_is_paler_than_a_danger_one_of_its_kind(caution_atlas) -> None:  # type: ignore[no-untyped-def]
    caution = scene.colour_of(caution_atlas.structures[SID])
    danger = scene.colour_of(caution_atlas.structures["sciatic_nerve"])
    assert caution != danger
    assert sum(scene._hex_rgb(caution)) > sum(scene._hex_rgb(danger))  # towards white
    assert scene.zone_colour(caution_atlas.structures[SID]) == scene.STATUS_COLOURS["caution"]
    assert scene.zone_colour(caution_atlas.structures["sciatic_nerve"]) == danger
    zoned = [st.id for st in scene.zoned_structures(caution_atlas)]
    assert zoned[-1] == SID and "sciatic_nerve" in zoned


@pytest.mark.parametrize("query", ["caution", "cutaneous", "cutaneous nerves", "PFCN"])
def test_search_finds_the_caution_structures(caution_atlas, query: str) -> None:  # type: ignore[no-untyped-def]
    """A caution nerve answers to its role ("caution structures") and to the group of its
    kind within the role ("cutaneous nerves"); a danger nerve does not."""
    found = [h.structure_id for h in search_structures(caution_atlas.structures.values(), query)]
    assert SID in found
    assert "sciatic_nerve" not in found


# ---------------------------------------------------------------------- the window
def test_the_layers_tree_has_a_caution_group_whose_box_hides_the_actors(caution_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = caution_window
    group = _group(w, panels.CAUTION_GROUP)
    assert group is not None and _keys(group) == [SID]
    assert SID not in _keys(_group(w, "Nerves"))  # a caution nerve is not among the danger nerves
    actor = w.scene.atlas_actors[SID]
    assert actor.GetVisibility()
    assert tuple(actor.prop.color.float_rgb) == pytest.approx(
        _hex_to_rgb(scene.colour_of(w.scene.atlas.structures[SID]))
    )
    group.setCheckState(0, Qt.CheckState.Unchecked)
    assert not w.view.is_visible(SID)
    assert not actor.GetVisibility()
    assert w.scene.atlas_actors["sciatic_nerve"].GetVisibility()  # the danger nerves stay
    group.setCheckState(0, Qt.CheckState.Checked)
    assert actor.GetVisibility()
    # its zone: in the Caution zones group, drawn in amber when the zones are shown
    zones = _group(w, "Caution zones")
    assert zones is not None and _keys(zones) == [f"zone:{SID}"]
    assert f"zone:{SID}" not in _keys(_group(w, "Danger zones"))
    w.scene.set_zones_shown(True)
    zone = w.scene.zone_actors[SID]
    assert zone.GetVisibility()
    assert tuple(zone.prop.color.float_rgb) == pytest.approx(_hex_to_rgb(scene.STATUS_COLOURS["caution"]))
    zones.setCheckState(0, Qt.CheckState.Unchecked)
    assert not zone.GetVisibility() and w.scene.zone_actors["sciatic_nerve"].GetVisibility()
    # searching "cutaneous" keeps the caution group and its nerve in the tree
    w.layers.search.setText("cutaneous")
    assert not group.isHidden() and not group.child(0).isHidden()
    assert _group(w, "Muscles").isHidden()


def test_a_left_thigh_keeps_the_caution_group_and_its_amber_zone(caution_window) -> None:  # type: ignore[no-untyped-def]
    w = caution_window
    w.set_left_thigh(True)
    assert w.plan.side == "left"
    assert _keys(_group(w, panels.CAUTION_GROUP)) == [SID]
    w.scene.set_zones_shown(True)
    zone = w.scene.zone_actors[SID]
    assert zone.GetVisibility()
    # drawn on the mirrored nerve: the zone's centre lies on the nerve's side of the midline
    nerve = w.scene.atlas_actors[SID]
    assert np.sign(zone.center[0]) == np.sign(nerve.center[0]) != 0


def test_the_card_of_a_caution_structure_says_what_touching_it_means(caution_window) -> None:  # type: ignore[no-untyped-def]
    w = caution_window
    atlas = w.scene.atlas
    w.layers.select(SID)  # choosing the layer shows its card
    text = w.info.toPlainText()
    assert ROLE_WORDS["caution"] in text and "numbness" in text and "caution zone" in text
    card = structure_card_html(atlas, SID)
    assert CAUTION_BOX_BG in card and DANGER_BOX_BG not in card
    assert contrast_ratio(CAUTION_BOX_FG, CAUTION_BOX_BG) >= 7.0  # even AAA, as the danger box
    danger = structure_card_html(atlas, "sciatic_nerve")
    assert DANGER_BOX_BG in danger and ROLE_WORDS["caution"] not in danger


def test_a_caution_finding_shows_in_amber_in_the_safety_panel(caution_window) -> None:  # type: ignore[no-untyped-def]
    engine_or_skip()
    w = caution_window
    atlas = w.scene.atlas
    tube = atlas.tube(SID)
    centre = np.asarray(tube.centres_mm[len(tube.centres_mm) // 2], float)
    entry = centre + np.array([0.0, DEPTH_UNDER_SKIN_MM, 0.0])  # on the skin behind it
    w._add_needle(Needle("c1", entry, [0.0, -1.0, 0.0], 8.0, 50.0, 0.25), "caution needle")
    assert w.doc.selected == "c1"
    report = w.doc.reports["c1"]
    name = atlas.structures[SID].name
    # the core's verdict: a caution of its own, never a danger
    assert report.status == "caution", report.to_text()
    assert any(f.rule == scene.CAUTION_RULE and f.structure == SID for f in report.findings)
    assert report.nearest_caution is not None and report.nearest_caution.structure == SID
    safety = w.safety
    assert safety.badge.text() == "CAUTION"
    assert safety.nearest_caution.isVisibleTo(safety) and name in safety.nearest_caution.text()
    finding = next(f for f in report.findings if f.rule == scene.CAUTION_RULE)
    assert finding.message in safety.findings.toPlainText()
    shown = safety.findings.toHtml().lower()
    assert CAUTION_BOX_BG in shown  # the caution finding's amber box
    rows = {
        safety.clearances.item(i, 0).text(): safety.clearances.item(i, 1)
        for i in range(safety.clearances.rowCount())
    }
    assert rows[name].text() == "caution"
    assert rows[name].foreground().color().name() == panels.ROLE_TEXT["caution"]
    assert rows[atlas.structures["sciatic_nerve"].name].text() == "danger"
    # in the view: an amber line from the needle to the nerve, which is lit
    w.scene.update_needles(w.plan, {"c1": report}, "c1")
    line = w.scene.needle_actors["fb:caution_line"]
    assert line.GetVisibility()
    assert tuple(line.prop.color.float_rgb) == pytest.approx(_hex_to_rgb(scene.CAUTION_COLOUR))
    assert "fb:caution_distance" in w.scene.needle_names
    assert w.scene._highlighted is not None and w.scene._highlighted[0] == SID
    # in the cross-section along the needle: an amber line to the nerve's closest point
    # the cross-sections: the nerve in its own colour, its caution zone outlined in amber,
    # and along the needle an amber line to the nerve's closest point
    w.section.set_needle(w.plan.needle("c1"), report)
    w.section.recompute()
    along, axial = w.section.along.slice, w.section.axial.slice
    assert along.caution_closest is not None and along.closest is not None
    assert (SID, scene.colour_of(atlas.structures[SID])) in [(r[0], r[1]) for r in axial.regions]
    assert section._light(scene.CAUTION_COLOUR) in [o[0] for o in axial.outlines]


def test_the_amber_texts_are_legible_on_the_panels() -> None:
    for colour in (panels.CAUTION_TEXT, panels.CAUTION_GROUP_TEXT, *panels.ROLE_TEXT.values()):
        for ground in ("#ffffff", "#efefef"):  # the tables, the panels
            assert contrast_ratio(colour, ground) >= MIN_CONTRAST, (colour, ground)


def test_a_window_without_caution_structures_shows_no_caution_group(plain_window) -> None:  # type: ignore[no-untyped-def]
    window = plain_window
    assert not scene.structures_with_role(window.scene.atlas, "caution")
    assert _group(window, panels.CAUTION_GROUP) is None and _group(window, "Caution zones") is None
    assert _group(window, "Danger zones") is not None
    assert not window.safety.nearest_caution.isVisibleTo(window.safety)
    assert window.scene.zone_ids() == [st.id for st in window.scene.atlas.danger_structures()]
