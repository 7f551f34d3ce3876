"""The plan document, the view state and the plan edits: Qt-free, tested without a window."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from thighmap.planning import Needle, Plan, edits
from thighmap.planning.document import CheckUnavailable, PlanDocument
from thighmap.viz.view_state import ViewState

SRC = Path(__file__).resolve().parents[1] / "src"


def needle(nid: str, depth: float = 20.0, length: float = 50.0) -> Needle:
    return Needle(nid, np.array([0.0, 60.0, 200.0]), np.array([0.0, -1.0, 0.0]), depth, length, 0.25)


def plan_of(*ids: str) -> Plan:
    return Plan(needles=[needle(i) for i in ids])


def test_models_import_without_qt() -> None:
    code = (
        "import sys; import thighmap.planning.document, thighmap.planning.edits, thighmap.viz.view_state;"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'pyvista', 'vtk'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(SRC)}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


# ---------------------------------------------------------------------- edits
def test_new_needle_id_fills_the_first_gap() -> None:
    assert edits.new_needle_id(Plan()) == "n1"
    assert edits.new_needle_id(plan_of("n1", "n3")) == "n2"
    assert edits.new_needle_id(plan_of("n1", "n2")) == "n3"


@given(depth=st.floats(-1e6, 1e6), length=st.sampled_from([13.0, 30.0, 50.0, 75.0]))
def test_clamped_depth_stays_on_the_needle(depth: float, length: float) -> None:
    d = edits.clamp_depth_mm(depth, length)
    assert edits.MIN_DEPTH_MM <= d <= length
    if edits.MIN_DEPTH_MM <= depth <= length:
        assert abs(d - depth) <= 0.5 * 10.0**-edits.DEPTH_DECIMALS + 1e-9  # rounded to 0.01 mm


def test_clamp_refuses_nan() -> None:
    with pytest.raises(ValueError, match="depth_mm"):
        edits.clamp_depth_mm(float("nan"), 50.0)


def test_set_depth_and_length_keep_the_depth_within_the_needle() -> None:
    p = edits.set_depth(plan_of("n1"), "n1", 80.0)
    assert p.needle("n1").depth_mm == 50.0
    p = edits.set_needle_length(p, "n1", 30.0)
    assert p.needle("n1").needle_length_mm == 30.0 and p.needle("n1").depth_mm == 30.0
    p = edits.set_needle_length(p, "n1", 75.0)
    assert p.needle("n1").depth_mm == 30.0  # a longer needle does not push it deeper
    with pytest.raises(ValueError):
        edits.set_needle_fields(p, "n1", depth_mm=5.0)


def test_default_needle_goes_straight_in() -> None:
    n = edits.default_needle("n4", np.array([1.0, 2.0, 3.0]), np.array([0.0, -2.0, 0.0]))
    assert n.id == "n4" and n.depth_mm == edits.DEFAULT_DEPTH_MM
    assert n.direction == pytest.approx([0.0, -1.0, 0.0])
    assert n.needle_length_mm == edits.DEFAULT_LENGTH_MM and n.gauge_mm == edits.DEFAULT_GAUGE_MM


def test_trigger_point_needle_is_stated_by_it() -> None:
    n = edits.stated_by_trigger_point(needle("n1"), "bfl_mid")
    assert n.source["stated"] == {"trigger_point": "bfl_mid"}
    assert n.source["resolved"]["depth_mm"] == 20.0


def test_add_remove_duplicate() -> None:
    p = edits.add_needle(plan_of("n1"), needle("n2"))
    with pytest.raises(ValueError, match="n2"):
        edits.add_needle(p, needle("n2"))
    p3 = edits.add_needle(p, needle("n3"))
    after, nxt = edits.remove_needle(p3, "n2")
    assert [n.id for n in after.needles] == ["n1", "n3"] and nxt == "n3"
    after, nxt = edits.remove_needle(p3, "n3")
    assert nxt == "n2"
    after, nxt = edits.remove_needle(plan_of("n1"), "n1")
    assert after.needles == [] and nxt is None
    with pytest.raises(KeyError):
        edits.remove_needle(p3, "n9")
    dup, nid = edits.duplicate_needle(p3, "n1")
    assert nid == "n4" and [n.id for n in dup.needles] == ["n1", "n4", "n2", "n3"]
    assert dup.needle("n4").depth_mm == dup.needle("n1").depth_mm
    assert p3.needles == [needle("n1"), needle("n2"), needle("n3")]  # the original is unchanged


def test_aim_at() -> None:
    p = plan_of("n1")
    entry = p.needle("n1").entry_mm
    aimed = edits.aim_at(p, "n1", entry + np.array([0.0, -30.0, 40.0]))
    assert aimed is not None
    assert aimed.needle("n1").depth_mm == 50.0  # 50 mm away, a 50 mm needle
    assert aimed.needle("n1").direction == pytest.approx([0.0, -0.6, 0.8])
    aimed = edits.aim_at(p, "n1", entry + np.array([0.0, -60.0, 80.0]))
    assert aimed is not None and aimed.needle("n1").depth_mm == 50.0  # clamped to the needle
    assert edits.aim_at(p, "n1", entry + 0.5) is None


def test_set_angles_aims_from_the_normal() -> None:
    p = edits.set_angles(plan_of("n1"), "n1", 0.0, 0.0, np.array([0.0, -1.0, 0.0]))
    assert p.needle("n1").direction == pytest.approx([0.0, -1.0, 0.0])
    p = edits.set_angles(p, "n1", 30.0, 0.0, np.array([0.0, -1.0, 0.0]))
    assert p.needle("n1").direction[2] == pytest.approx(np.sin(np.radians(30.0)))  # toward proximal


# ---------------------------------------------------------------------- document
def checker(plan: Plan) -> dict[str, object]:
    return {n.id: SimpleNamespace(status="danger" if n.depth_mm > 30 else "safe") for n in plan.needles}


def test_document_selects_checks_and_tells() -> None:
    doc = PlanDocument(checker)
    seen: list[tuple[str, object]] = []
    doc.plan_changed.connect(lambda new, old: seen.append(("plan", len(new.needles))))
    doc.selection_changed.connect(lambda nid: seen.append(("select", nid)))
    doc.dirty_changed.connect(lambda d: seen.append(("dirty", d)))
    doc.set_plan(plan_of("n1", "n2"))
    assert doc.selected == "n1" and set(doc.reports) == {"n1", "n2"}
    doc.set_plan(edits.set_depth(doc.plan, "n2", 40.0), "n2")
    assert doc.selected == "n2" and doc.worst_status() == "danger"
    assert doc.summary().endswith("2 needle(s) · plan DANGER")
    doc.select("n1")
    doc.select("n1")  # no change, no signal
    with pytest.raises(KeyError):
        doc.select("n9")
    doc.set_dirty(True)
    doc.set_dirty(True)
    plan, nxt = edits.remove_needle(doc.plan, "n1")
    doc.set_plan(plan, nxt)
    assert doc.selected == "n2"
    assert seen == [("plan", 2), ("plan", 2), ("select", "n1"), ("dirty", True), ("plan", 1)]


def test_document_open_resets_path_and_dirty() -> None:
    doc = PlanDocument(checker)
    doc.set_dirty(True)
    paths: list[object] = []
    doc.path_changed.connect(paths.append)
    doc.open(plan_of("n2", "n3"), "/tmp/x.thighplan.json")
    assert doc.selected == "n2" and not doc.dirty and paths == ["/tmp/x.thighplan.json"]


def test_document_shows_a_failing_check() -> None:
    def broken(_plan: Plan) -> dict[str, object]:
        raise RuntimeError("boom")

    def missing(_plan: Plan) -> dict[str, object]:
        raise CheckUnavailable("no engine")

    doc = PlanDocument(broken)
    doc.set_plan(plan_of("n1"))
    assert doc.reports == {} and doc.check_error is not None and "boom" in doc.check_error
    doc = PlanDocument(missing)
    doc.set_plan(plan_of("n1"))
    assert doc.check_error == "no engine"


# ---------------------------------------------------------------------- view state
def test_view_state_emits_only_changes() -> None:
    v = ViewState()
    seen: list[tuple[str, bool]] = []
    v.visibility_changed.connect(lambda k, on: seen.append((k, on)))
    assert v.set_visible("skin", False) and not v.set_visible("skin", False)
    v.set_visible("zone:sciatic_nerve", False)
    v.set_visible("tp:bfl_mid", False)
    v.set_visible("labels", False)
    assert v.hidden == {"skin"} and v.hidden_zones == {"sciatic_nerve"} and v.hidden_tps == {"bfl_mid"}
    assert not v.is_visible("labels") and v.labels["structures"] is False
    assert seen == [("skin", False), ("zone:sciatic_nerve", False), ("tp:bfl_mid", False), ("labels", False)]
    assert v.any_zone_visible(["sciatic_nerve", "tibial_nerve"])
    assert not v.any_zone_visible(["sciatic_nerve"])


def test_view_state_show_only_opacity_section() -> None:
    v = ViewState()
    v.show_only(["femur"], ["skin", "femur", "semitendinosus"])
    assert v.hidden == {"skin", "semitendinosus"}
    v.show_only(["skin", "femur", "semitendinosus"], ["skin", "femur", "semitendinosus"])
    assert v.hidden == set()
    changes: list[object] = []
    v.opacity_changed.connect(lambda k, x: changes.append((k, x)))
    v.section_changed.connect(changes.append)
    assert v.set_opacity("skin", 0.3) and not v.set_opacity("skin", 0.3)
    with pytest.raises(ValueError, match="skin"):
        v.set_opacity("skin", 1.5)
    assert v.opacity_of("femur", 0.7) == 0.7
    v.set_section(level_mm=150.0, follow="fixed")
    assert not v.set_section(level_mm=150.0)
    with pytest.raises(ValueError, match="mode"):
        v.set_section(mode="sideways")
    assert changes[0] == ("skin", 0.3) and changes[1].level_mm == 150.0 and len(changes) == 2
    hidden: list[object] = []
    v.hidden_needles_changed.connect(hidden.append)
    v.set_hidden_needles({"n1"})
    v.set_hidden_needles(["n1"])
    assert hidden == [frozenset({"n1"})]
