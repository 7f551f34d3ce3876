"""Verdicts that cannot be fooled: needles that do not enter the body, contraindications,
one maximum safe depth, rules validated when the atlas loads, and the sides module."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from tests.anatomy_slices import lateral_entry_toward_femur
from tests.test_cli import run
from thighmap import sides
from thighmap.anatomy.atlas import AtlasError, parse_atlas
from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.planning import CONTRAINDICATION_KEYS, Needle, Plan, mirror_x
from thighmap.safety import rules, wording
from thighmap.safety.engine import SafetyModel, model_for_plan

ENTRY_RULES = {"needle_points_out_of_skin", "entry_on_skin", "needle_misses_skin", "tip_not_beneath_skin"}


@pytest.fixture(scope="module")
def model(atlas):
    return SafetyModel.for_atlas(atlas)


@pytest.fixture(scope="module")
def posterior(model):
    """A skin point on the back of the mid-thigh, its inward normal and a tangent."""
    q, n = model.skin_surface_frame(np.array([20.0, 200.0, 240.0]))
    t = np.cross(n, [0.0, 0.0, 1.0])
    return q, n, t / np.linalg.norm(t)


def _needle(entry, direction, depth, *, length=50.0, nid="n1") -> Needle:
    return Needle(
        id=nid,
        entry_mm=np.asarray(entry, float),
        direction=np.asarray(direction, float),
        depth_mm=float(depth),
        needle_length_mm=length,
        gauge_mm=0.25,
    )


def _rules(report) -> set[str]:
    return {f.rule for f in report.findings}


# ---------------------------------------------------------------------- entering the body
def test_a_straight_needle_into_the_skin_enters_the_body(model, posterior):
    q, n, _ = posterior
    report = model.check_needle(_needle(q, n, 20.0))
    assert not (_rules(report) & ENTRY_RULES), report.to_text()
    assert report.status == "safe", report.to_text()


def test_an_outward_needle_is_danger_and_names_the_direction(model, posterior):
    q, n, _ = posterior
    report = model.check_needle(_needle(q, -n, 30.0))
    assert report.status == "danger"
    [finding] = [f for f in report.findings if f.rule == "needle_points_out_of_skin"]
    assert "points out of the skin (180 degrees from the inward normal)" in finding.message
    assert report.key_sentence().startswith("DANGER: The needle points out of the skin")
    # the case: straight back out of a posterior entry
    back = model.check_needle(_needle([3.0, 91.3, 215.3], [0, 1, 0], 30.0))
    assert back.status == "danger" and "needle_points_out_of_skin" in _rules(back)


def test_a_needle_parallel_to_the_skin_is_never_safe(model, posterior):
    q, _n, t = posterior
    report = model.check_needle(_needle(q, t, 30.0))
    assert report.status == "danger", report.to_text()
    assert _rules(report) & {"needle_points_out_of_skin", "needle_misses_skin"}


@pytest.mark.parametrize("degrees_out", [2.0, 5.0, 15.0])
def test_a_needle_tilted_a_few_degrees_out_names_its_angle(model, posterior, degrees_out):
    q, n, t = posterior
    a = np.radians(90.0 + degrees_out)
    report = model.check_needle(_needle(q, np.cos(a) * n + np.sin(a) * t, 30.0))
    assert report.status == "danger"
    [finding] = [f for f in report.findings if f.rule == "needle_points_out_of_skin"]
    assert f"({90 + degrees_out:.0f} degrees from the inward normal)" in finding.message
    assert "entry_on_skin" not in _rules(report)  # the fault is the direction, not the entry
    assert all(t.exit_mm > t.enter_mm for t in report.tissues), report.to_text()  # no 0.0-0.0 spans


@pytest.mark.parametrize("depth", [5e-324, 1e-6, 0.5])
def test_a_depth_too_small_to_pass_the_skin_is_caution(model, posterior, depth):
    q, n, _ = posterior
    report = model.check_needle(_needle(q, n, depth))
    assert report.status == "caution", report.to_text()
    [finding] = [f for f in report.findings if f.rule == "tip_not_beneath_skin"]
    assert "stops short of the tissue beneath the skin" in finding.message


@pytest.mark.parametrize(("offset", "where"), [(10.0, "outside"), (-10.0, "beneath")])
def test_an_entry_off_the_skin_is_caution_with_its_true_distance(model, posterior, offset, where):
    q, n, _ = posterior
    report = model.check_needle(_needle(q - n * offset, n, 30.0))
    assert report.status != "safe"
    [finding] = [f for f in report.findings if f.rule == "entry_on_skin"]
    assert f"10.0 mm {where} the skin surface" in finding.message
    assert finding.severity == model.atlas.rules.entry.severity


def test_a_needle_laid_along_the_skin_from_just_above_it_misses_the_skin(model, posterior):
    q, n, t = posterior
    a = np.radians(85.0)  # into the skin, but nearly along it, from 2.5 mm above
    report = model.check_needle(_needle(q - n * 2.5, np.cos(a) * n + np.sin(a) * t, 30.0))
    assert report.status == "danger", report.to_text()
    [finding] = [f for f in report.findings if f.rule == "needle_misses_skin"]
    assert "meets the skin" in finding.message or "never passes through the skin" in finding.message


def test_a_needle_through_the_whole_thigh_has_its_tip_outside(model, posterior):
    q, n, _ = posterior
    skin = [iv for iv in model.tissues.intervals(q, n, 400.0) if iv.structure == "skin"]
    far_side = max(iv.exit_mm for iv in skin)
    report = model.check_needle(_needle(q, n, far_side + 5.0, length=400.0))
    assert report.status != "safe"
    messages = [f.message for f in report.findings if f.rule == "tip_not_beneath_skin"]
    assert messages and "outside the body" in messages[0]


def test_a_left_outward_needle_is_the_mirror_of_the_right(model, atlas, posterior):
    q, n, _ = posterior
    right = Plan(side="right", needles=[_needle(q, -n, 30.0)])
    left = mirror_x(right)
    a = model_for_plan(right, atlas).check_plan(right).needles[0]
    b = model_for_plan(left, atlas).check_plan(left).needles[0]
    assert a.status == b.status == "danger"
    assert [f.message for f in a.findings] == [f.message for f in b.findings]


# ---------------------------------------------------------------------- contraindications
@pytest.mark.parametrize("key", CONTRAINDICATION_KEYS)
def test_each_contraindication_counts(model, atlas, key):
    needle = model.needle_from_trigger_point("bfl_nct_mid", "n1")
    clean = Plan(side="right", needles=[needle], contraindications={k: False for k in CONTRAINDICATION_KEYS})
    base = model.check_plan(clean)
    assert base.status == "safe" and not base.findings
    plan = clean.with_changes(contraindications={**clean.contraindications, key: True})
    report = model.check_plan(plan)
    rule = atlas.rules.contraindications[key]
    [plan_finding] = report.findings
    assert plan_finding.rule == f"contraindication_{key}" and plan_finding.severity == rule.severity
    assert report.status == rule.severity  # at least a caution
    assert report.needles[0].status == rule.severity  # and so is every needle's
    assert plan_finding in report.needles[0].findings
    doc = report.to_json()
    assert doc["status"] == rule.severity
    assert doc["findings"][0]["rule"] == f"contraindication_{key}"
    assert doc["needles"][0]["status"] == rule.severity
    # the seeds: an acute tear means wait, the others are reasons to reconsider
    assert rule.severity == ("danger" if key == "acute_tear_under_72h" else "caution")


def test_a_contraindication_counts_in_a_plan_without_needles(model):
    report = model.check_plan(Plan(side="right", contraindications={"pregnancy": True}))
    assert report.status == "caution" and len(report.findings) == 1


def test_bleeding_disorder_makes_a_vessel_caution_margin_a_danger(model, atlas):
    from thighmap.safety import maps

    # a perpendicular needle whose depth is limited by a vessel's caution margin
    dmap = maps.depth_map(model, 200.0)
    pts, normals = model.skin_points()
    vessels = [
        i
        for i, sid in enumerate(dmap.limiting_structure)
        if sid is not None and atlas.structures[sid].kind in ("artery", "vein")
    ]
    assert vessels
    i = vessels[len(vessels) // 2]
    needle = _needle(pts[i], normals[i], dmap.max_safe_depth_mm[i] + 0.5, length=200.0)
    plain = model.check_needle(needle)
    margin = [f for f in plain.findings if f.rule == "caution_margin"]
    assert margin and plain.status == "caution", plain.to_text()
    bleeding = model.check_needle(needle, {"bleeding_disorder_or_anticoagulation": True})
    assert bleeding.status == "danger"
    for f in (f for f in bleeding.findings if f.rule == "caution_margin"):
        vessel = atlas.structures[f.structure].kind in ("artery", "vein")
        assert f.severity == ("danger" if vessel else "caution")
        assert ("counts as danger" in f.message) == vessel


def test_contraindications_reach_the_command_line(tmp_path, model):
    needle = model.needle_from_trigger_point("bfl_nct_mid", "n1")
    doc = {
        "format": "thighmap-plan",
        "version": 1,
        "side": "right",
        "contraindications": {"bleeding_disorder_or_anticoagulation": True},
        "needles": [
            {
                "id": "n1",
                "entry_mm": needle.entry_mm.tolist(),
                "direction": needle.direction.tolist(),
                "depth_mm": needle.depth_mm,
                "needle_length_mm": needle.needle_length_mm,
                "gauge_mm": needle.gauge_mm,
            }
        ],
    }
    path = tmp_path / "p.thighplan.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    out = run("check", str(path), "--json")
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["status"] == "caution"
    assert [f["rule"] for f in report["findings"]] == [
        "contraindication_bleeding_disorder_or_anticoagulation"
    ]
    text = run("check", str(path))
    assert text.returncode == 1 and "Plan findings:" in text.stdout and "CAUTION" in text.stdout


def test_an_outward_needle_from_the_command_line_exits_2(tmp_path):
    doc = {
        "format": "thighmap-plan",
        "version": 1,
        "side": "right",
        "needles": [
            {
                "id": "out",
                "entry_mm": [3.0, 91.3, 215.3],
                "direction": [0, 1, 0],
                "depth_mm": 30,
                "needle_length_mm": 50,
                "gauge_mm": 0.25,
            }
        ],
    }
    path = tmp_path / "out.thighplan.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    out = run("check", str(path))
    assert out.returncode == 2, out.stdout
    assert "points out of the skin" in out.stdout


# ---------------------------------------------------------------------- maximum safe depth
def test_a_needle_to_the_hub_is_limited_by_the_shaft_rule(model):
    # 12 mm lateral of the midline, clear of the posterior femoral cutaneous nerve's margin
    needle = _needle([12.0, 82.3, 215.3], [0, -1, 0], 40.0, length=40.0)
    report = model.check_needle(needle)
    assert report.max_safe_depth_mm == pytest.approx(30.0)
    assert report.limiting_rule == "shaft_outside_skin"
    assert "shaft_outside_skin" in _rules(report)
    assert "no deeper than 30.0 mm" in " ".join(f.message for f in report.findings)
    at = model.check_needle(needle.with_changes(depth_mm=report.max_safe_depth_mm))
    assert not (_rules(at) & rules.depth_rule_ids(model.atlas.rules)), at.to_text()


def test_bone_and_regional_rules_set_the_maximum_safe_depth(model, atlas):
    entry, _ = lateral_entry_toward_femur(atlas, 250.0)  # lateral thigh, toward the femur
    bone = model.check_needle(_needle(entry, [-1, 0, 0], 10.0, length=100.0))
    assert bone.limiting_rule == "bone_strike" and bone.limiting_structure == "femur"
    near = model.needle_from_trigger_point("bfl_nct_proximal").with_changes(needle_length_mm=75.0)
    report = model.check_needle(near)
    assert report.limiting_rule == "stay_superficial_near_ischial_tuberosity", report.to_text()
    assert report.max_safe_depth_mm == pytest.approx(35.0)
    assert wording.max_safe_text(report) == (
        "35.0 mm (limited by the regional depth limit: stay superficial near ischial tuberosity)"
    )
    assert wording.max_safe_text(bone) == f"{bone.max_safe_depth_mm:.1f} mm (limited by the Femur (bone))"


# ---------------------------------------------------------------------- rules at load time
def _doc_with(atlas, change):
    doc = copy.deepcopy(atlas.document)
    change(doc["rules"])
    return doc


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        (
            lambda r: r["shaft_outside_skin"].pop("max_inserted_fraction"),
            "shaft_outside_skin.max_inserted_fraction",
            "null",
        ),
        (
            lambda r: r["shaft_outside_skin"].update(max_inserted_fraction=1.5),
            "shaft_outside_skin.max_inserted_fraction",
            "1.5",
        ),
        (
            lambda r: r["bone_strike"].update(message="at {depht_mm} mm"),
            "bone_strike.message",
            "'at {depht_mm} mm'",
        ),
        (lambda r: r["regional"][0].update(landmark="knee"), "regional[0].landmark", "'knee'"),
        (lambda r: r["regional"][1].update(type="spiral"), "regional[1].type", "'spiral'"),
        (lambda r: r["regional"][0].update(severity="bad"), "regional[0].severity", "'bad'"),
        (lambda r: r.pop("entry_on_skin"), "entry_on_skin", "null"),
        (
            lambda r: r["contraindications"]["items"].pop("pregnancy"),
            "contraindications.items.pregnancy",
            "null",
        ),
        (
            lambda r: r["contraindications"]["items"]["pregnancy"].update(severity="note"),
            "contraindications.items.pregnancy.severity",
            "'note'",
        ),
    ],
)
def test_a_malformed_rule_fails_when_the_atlas_loads(atlas, tmp_path, change, field, value):
    with pytest.raises(AtlasError) as err:
        parse_atlas(_doc_with(atlas, change), tmp_path / "landmarks.json")
    message = str(err.value)
    assert str(tmp_path / "landmarks.json") in message
    assert f"field 'rules.{field}': value {value}" in message


# ---------------------------------------------------------------------- sides
def test_sides_mirror_is_its_own_inverse_and_keeps_meshes_outward(atlas):
    p = np.array([[1.0, 2.0, 3.0], [-4.0, 5.0, 6.0]])
    assert np.array_equal(sides.mirror_points(sides.mirror_points(p)), p)
    assert np.array_equal(sides.to_atlas_frame(p, "right"), p)
    assert np.array_equal(sides.to_atlas_frame(p, "left")[:, 0], -p[:, 0])
    assert sides.mirror_vector([1, 2, 3]) == [-1, 2, 3] and sides.mirror_vector((1.5, 0, 0)) == (-1.5, 0, 0)
    assert sides.other_side("left") == "right" and sides.other_side("right") == "left"
    skin = atlas.mesh("femur")
    mirrored = sides.mirror_mesh(skin)
    assert isinstance(mirrored, SurfaceMesh)

    def volume(m):
        v = m.vertices[m.faces]
        return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)

    assert volume(mirrored) == pytest.approx(volume(skin))  # still outward: positive volume
    assert volume(skin) > 0


def test_sides_mirror_a_needle_and_its_report(model):
    needle = model.needle_from_trigger_point("bfl_nct_mid", "n1")
    twice = sides.mirror_needle(sides.mirror_needle(needle))
    assert twice == needle
    report = model.check_needle(needle)
    entry = report.entry_mm.copy()
    mirrored = sides.mirror_report(report)
    assert np.array_equal(mirrored.entry_mm, entry * np.array([-1.0, 1.0, 1.0]))


def test_the_pdf_gives_the_contraindication_verdict(tmp_path, model):
    from pypdf import PdfReader

    from thighmap.report import write_plan_report

    needle = model.needle_from_trigger_point("bfl_nct_mid", "n1")
    plan = Plan(side="right", needles=[needle], contraindications={"acute_tear_under_72h": True})
    report = model.check_plan(plan)
    assert report.status == "danger"
    path = write_plan_report(plan, model, tmp_path / "r.pdf", pictures=False)
    pages = [" ".join(p.extract_text().split()) for p in PdfReader(str(path)).pages]
    assert "SAFE" not in pages[0] and "SAFE" not in pages[1]
    assert "DANGER" in pages[0] and "DANGER" in pages[1]
    assert "Acute hamstring tear in the last 72 hours: YES - wait" in pages[0]
    message = " ".join(report.findings[0].message.split())
    assert message[:60] in pages[0] and message[:60] in pages[1]
