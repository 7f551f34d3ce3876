"""The safety engine on hand-built cases, the bundled techniques, fitting and sides."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.anatomy_slices import lateral_entry_toward_femur
from thighmap.planning import Needle, PatientProfile, Plan, mirror_x
from thighmap.safety.engine import SafetyModel, model_for_plan


@pytest.fixture(scope="module")
def model(atlas):
    return SafetyModel.for_atlas(atlas)


def _needle(entry, direction, depth, *, length=50.0, gauge=0.25, target=None, nid="n1") -> Needle:
    return Needle(
        id=nid,
        entry_mm=np.asarray(entry, float),
        direction=np.asarray(direction, float),
        depth_mm=float(depth),
        needle_length_mm=length,
        gauge_mm=gauge,
        target=target,
    )


def _skin_above(model, x, z):
    """Skin point straight posterior of (x, z) and the inward normal there."""
    return model.skin_surface_frame(np.array([x, 200.0, z]))


def _skin_straight_behind(model, x, z):
    """Where a line along -y from behind the thigh at (x, z) meets the outer skin."""
    skin = model.atlas.mesh("skin")
    origin = np.array([[x, 400.0, z]])
    hits, _, _ = trimesh.Trimesh(skin.vertices, skin.faces, process=False).ray.intersects_location(
        origin, np.array([[0.0, -1.0, 0.0]])
    )
    return hits[np.argmax(hits[:, 1])]


def _nerve_centre(atlas, sid, z):
    tube = atlas.tube(sid)
    i = int(np.argmin(np.abs(tube.centres_mm[:, 2] - z)))
    return tube.centres_mm[i], tube.radii_mm[i]


def test_needle_straight_down_onto_sciatic_nerve_mid_thigh_is_danger(model, atlas):
    centre, radius = _nerve_centre(atlas, "sciatic_nerve", 215.0)
    entry = _skin_straight_behind(model, centre[0], centre[2])
    depth = entry[1] - centre[1]  # tip at the nerve's centre
    report = model.check_needle(_needle(entry, [0, -1, 0], depth, length=75))
    assert report.status == "danger"
    assert report.nearest_danger.structure == "sciatic_nerve"
    # the tip at the centre of the flat nerve is half its thickness (`radius`) inside it; the
    # chains across its width report that depth less at most the band's stated shortfall
    shortfall = atlas.tube("sciatic_nerve").max_inside_shortfall_mm
    assert -radius - 0.125 - 0.05 <= report.clearances_mm["sciatic_nerve"] <= -radius - 0.125 + shortfall
    assert report.clearances_mm["sciatic_nerve"] < -2.0
    assert any(f.rule == "danger_zone" and f.structure == "sciatic_nerve" for f in report.findings)


def test_same_needle_stopped_well_short_is_safe(model, atlas):
    centre, _ = _nerve_centre(atlas, "sciatic_nerve", 215.0)
    entry = _skin_straight_behind(model, centre[0], centre[2])
    report = model.check_needle(_needle(entry, [0, -1, 0], 20.0, length=50))
    assert report.status == "safe", report.to_text()
    assert report.tissues[0].structure == "skin"
    assert report.tissues[0].enter_mm == pytest.approx(0.0, abs=1.0)


def test_max_safe_depth_is_where_the_status_changes(model, atlas):
    centre, _ = _nerve_centre(atlas, "sciatic_nerve", 215.0)
    entry = _skin_straight_behind(model, centre[0], centre[2])
    probe = model.check_needle(_needle(entry, [0, -1, 0], 10.0, length=100))
    limit = probe.max_safe_depth_mm
    assert probe.limiting_structure == "sciatic_nerve"
    before = model.check_needle(_needle(entry, [0, -1, 0], limit - 0.01, length=100))
    after = model.check_needle(_needle(entry, [0, -1, 0], limit + 0.01, length=100))
    tube_rules = {"danger_zone", "caution_margin"}
    assert not any(f.rule in tube_rules for f in before.findings)
    assert any(f.rule in tube_rules for f in after.findings)


def test_deep_medial_needle_toward_the_femoral_vessels_near_hiatus_is_danger(model, atlas):
    """A deep needle from the posteromedial side aimed at the femoral vessels just above
    the adductor hiatus. In a real thigh it passes adductor magnus; in the packed model
    vastus medialis fills that side (README, 'Known limits of the model'), so the test
    holds the path to the muscles of the medial thigh."""
    hiatus = atlas.landmark("adductor_hiatus")
    target = hiatus + np.array([-2.0, -4.0, 20.0])  # femoral vessels just above the hiatus
    entry, _ = model.skin_surface_frame(target + np.array([-80.0, 25.0, 0.0]))
    direction = target - entry
    report = model.check_needle(_needle(entry, direction, np.linalg.norm(direction), length=75))
    assert report.status == "danger", report.to_text()
    assert report.nearest_danger.structure in (
        "femoral_artery",
        "femoral_vein",
        "popliteal_artery",
        "popliteal_vein",
    )
    passed = {t.structure for t in report.tissues}
    assert passed & {"adductor_magnus", "vastus_medialis", "gracilis"}, passed


def test_popliteal_fossa_midline_needle_meets_the_cutaneous_nerve_then_the_tibial_nerve(model, atlas):
    """Straight in over the fossa: the posterior femoral cutaneous nerve, in the plane of
    the fascia, limits the depth first (a caution structure); of the danger structures the
    tibial nerve comes first, then the popliteal vein, then the artery."""
    crease = atlas.landmark("popliteal_crease")
    entry, normal = model.skin_surface_frame(crease + np.array([0.0, 0.0, 20.0]))
    report = model.check_needle(_needle(entry, normal, 45.0, length=60))
    assert report.limiting_structure == "posterior_femoral_cutaneous_nerve", report.to_text()
    hits = model.chains.first_caution_hit(entry, normal / np.linalg.norm(normal), 0.25, 60.0)
    order = [model.chains.structure_ids[k] for k in np.argsort(hits) if np.isfinite(hits[k])]
    assert order[0] == "tibial_nerve"
    assert order.index("popliteal_vein") < order.index("popliteal_artery")


def test_every_bundled_technique_is_safe_or_explained_caution(model, atlas):
    for tid in atlas.trigger_points:
        needle = model.needle_from_trigger_point(tid)
        tp = atlas.trigger_points[tid]
        lo, hi = tp.technique.depth_range_mm
        assert lo <= needle.depth_mm <= hi, tid
        report = model.check_needle(needle)
        assert report.status != "danger", report.to_text()
        if report.status == "caution":
            assert any(f.severity == "caution" for f in report.findings)
        assert report.tip_in == tp.muscle, report.to_text()


def test_rules_fire_with_readable_findings(model, atlas):
    needle = model.needle_from_trigger_point("bfl_nct_proximal")
    deep = model.check_needle(needle.with_changes(depth_mm=38.0))
    rules = {f.rule for f in deep.findings}
    assert "stay_superficial_near_ischial_tuberosity" in rules
    assert "shaft_outside_skin" in rules
    am = model.needle_from_trigger_point("am_mid")
    flipped = am.with_changes(direction=am.direction * np.array([-1.0, 1.0, 1.0]))
    assert "angle_laterally_toward_adductor_magnus" not in {f.rule for f in model.check_needle(am).findings}
    # pointing medially from the same entry
    medial = model.check_needle(flipped.with_changes(entry_mm=am.entry_mm))
    assert "angle_laterally_toward_adductor_magnus" in {f.rule for f in medial.findings}


def test_bone_strike_is_caution(model, atlas):
    """A needle from the lateral thigh straight at the femur's shaft, to its centre."""
    entry, depth = lateral_entry_toward_femur(atlas, 250.0)
    report = model.check_needle(_needle(entry, [-1, 0, 0], depth, length=100))
    assert any(f.rule == "bone_strike" for f in report.findings)
    assert report.status in ("caution", "danger")


def test_json_contract_fields(model):
    needle = model.needle_from_trigger_point("bfl_nct_mid", "n1")
    doc = model.check_plan(Plan(side="right", needles=[needle]), "p.json").to_json()
    assert doc["plan"] == "p.json" and doc["status"] in ("safe", "caution", "danger")
    n = doc["needles"][0]
    for key in (
        "id",
        "status",
        "nearest_danger",
        "clearances_mm",
        "max_safe_depth_mm",
        "tissues",
        "tip_in",
        "findings",
    ):
        assert key in n
    assert set(n["clearances_mm"]) == {s.id for s in model.atlas.guarded_structures()}
    assert {"structure", "clearance_mm"} <= set(n["nearest_danger"])
    assert all({"structure", "enter_mm", "exit_mm"} <= set(t) for t in n["tissues"])


def test_batch_agrees_with_single_checks(model):
    rng = np.random.default_rng(7)
    pts, normals = model.skin_points()
    idx = rng.choice(len(pts), 300, replace=False)
    tilt = rng.normal(scale=0.3, size=(300, 3))
    directions = normals[idx] + tilt
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    depths = rng.uniform(5, 70, 300)
    batch = model.check_many(pts[idx], directions, depths, 0.25, 75.0)
    for k in range(300):
        rep = model.check_needle(_needle(pts[idx[k]], directions[k], depths[k], length=75.0))
        tube = [
            f.severity
            for f in rep.findings
            if f.rule in ("danger_zone", "caution_margin", "caution_structure")
        ]
        expected = 2 if "danger" in tube else 1 if "caution" in tube else 0
        assert batch.status[k] == expected
        assert batch.nearest_structure[k] == rep.nearest_danger.structure
        assert batch.nearest_clearance_mm[k] == pytest.approx(rep.nearest_danger.clearance_mm, abs=1e-9)
        assert batch.max_safe_depth_mm[k] == pytest.approx(rep.max_safe_depth_mm, abs=1e-9)
        assert batch.limiting_structure[k] == rep.limiting_structure
        margins = {s.id: s.safety.caution_margin_mm for s in model.atlas.guarded_structures()}
        caution = min(z - margins[sid] for sid, z in rep.zone_clearances_mm.items())
        assert batch.caution_clearance_mm[k] == pytest.approx(caution, abs=1e-9)


def test_left_plan_gives_the_mirrored_results(atlas):
    right_model = SafetyModel.for_atlas(atlas)
    needles = [right_model.needle_from_trigger_point(t, t) for t in ("bfl_nct_mid", "bfs_distal", "am_mid")]
    right = Plan(side="right", needles=needles)
    left = mirror_x(right)
    assert left.side == "left"
    r = model_for_plan(right, atlas).check_plan(right)
    lft = model_for_plan(left, atlas).check_plan(left)
    for a, b in zip(r.needles, lft.needles, strict=True):
        assert a.status == b.status
        for sid, v in a.clearances_mm.items():
            assert b.clearances_mm[sid] == pytest.approx(v, abs=1e-9)
        assert b.nearest_danger.point_on_structure_mm[0] == pytest.approx(
            -a.nearest_danger.point_on_structure_mm[0]
        )


@pytest.mark.slow
def test_fitted_sciatic_depth_follows_thigh_size(atlas):
    from tests.anatomy_slices import YS, body_interior, section
    from thighmap.anatomy.fitting import fit_atlas

    def depth_and_ap(at):
        z = at.landmark("lesser_trochanter")[2]
        nerve = section(at, "sciatic_nerve", z)
        ix, iy = np.nonzero(nerve)
        k = int(np.argmax(YS[iy]))
        skin = section(at, "skin", z)
        back = YS[np.nonzero(skin[ix[k]])[0]].max()
        inside = body_interior(at, z) | skin
        ys = YS[np.nonzero(inside.any(axis=0))[0]]
        return float(back - YS[iy[k]]), float(ys.max() - ys.min() + 1)

    small = fit_atlas(
        atlas, PatientProfile(thigh_length_mm=400, mid_thigh_circumference_mm=440, subcutaneous_fat_mm=8)
    )
    large = fit_atlas(
        atlas, PatientProfile(thigh_length_mm=450, mid_thigh_circumference_mm=620, subcutaneous_fat_mm=20)
    )
    d_ref, ap_ref = depth_and_ap(atlas)
    d_small, ap_small = depth_and_ap(small)
    d_large, ap_large = depth_and_ap(large)
    print(
        f"sciatic depth / AP: small {d_small:.0f}/{ap_small:.0f}, "
        f"reference {d_ref:.0f}/{ap_ref:.0f}, large {d_large:.0f}/{ap_large:.0f}"
    )
    assert d_small < d_ref < d_large
    # Chan 2006 cohort: depth 65.1 mm at AP 189.4 mm, i.e. about 0.344 x AP; within the
    # residual spread left after fitting (design.md: ~10 mm)
    for d, ap in ((d_small, ap_small), (d_large, ap_large)):
        assert abs(d - 0.344 * ap) <= 10.3
    # the fitted model uses the fitted (smaller) uncertainty
    m = SafetyModel.for_atlas(large)
    assert m.atlas.fitted
    assert np.all(m.chains.uncertainty <= SafetyModel.for_atlas(atlas).chains.uncertainty.max())


def test_large_batches_split_across_threads_give_the_same_results(model, monkeypatch):
    from thighmap.safety import dangers

    rng = np.random.default_rng(21)
    pts, normals = model.skin_points()
    n = dangers.PARALLEL_MIN_NEEDLES + 1000
    idx = rng.choice(len(pts), n)
    directions = normals[idx] + rng.normal(scale=0.3, size=(n, 3))
    depths = rng.uniform(5, 70, n)
    split = model.dangers.batch(pts[idx], directions, depths, np.full(n, 0.25), np.full(n, 75.0))
    monkeypatch.setattr(dangers, "PARALLEL_MIN_NEEDLES", 10**9)  # the same batch in one piece
    whole = model.dangers.batch(pts[idx], directions, depths, np.full(n, 0.25), np.full(n, 75.0))
    assert split.keys() == whole.keys()
    for key in whole:
        np.testing.assert_array_equal(split[key], whole[key], err_msg=key)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_rows_in_is_membership_of_the_rows_floats(seed: int) -> None:
    """engine._rows_in (which outer-skin vertices the fat layer shares) says what a set of
    float triples says, -0.0 and 0.0 alike."""
    from thighmap.safety.engine import _rows_in

    rng = np.random.default_rng(seed)
    values = np.array([0.0, -0.0, 0.5, -0.5, 1e-4, 123.4567])
    points, others = values[rng.integers(0, 6, (200, 3))], values[rng.integers(0, 6, (40, 3))]
    keys = {tuple(v) for v in others}
    np.testing.assert_array_equal(_rows_in(points, others), [tuple(v) in keys for v in points])
