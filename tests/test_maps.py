"""Approach and depth maps against single-needle checks, patient fitting and sides."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_cli import run
from thighmap.planning import Needle, PatientProfile
from thighmap.safety import maps
from thighmap.safety.engine import SafetyModel, model_for_patient


@pytest.fixture(scope="module")
def model(atlas):
    return SafetyModel.for_atlas(atlas)


def _zone_margin_clearance(model, report) -> float:
    margins = {s.id: s.safety.caution_margin_mm for s in model.atlas.guarded_structures()}
    return min(z - margins[sid] for sid, z in report.zone_clearances_mm.items())


def test_approach_map_agrees_with_single_checks(model, atlas):
    target = atlas.trigger_points["bfl_nct_mid"].position_mm
    amap = maps.approach_map(model, target)
    assert len(amap.status) == len(model.skin_points()[0])
    assert {0, 1, 2} <= set(np.unique(amap.status))  # this target has all three kinds of path
    rng = np.random.default_rng(3)
    for i in rng.choice(len(amap.status), 60, replace=False):
        needle = Needle(
            id="p",
            entry_mm=amap.points_mm[i],
            direction=target - amap.points_mm[i],
            depth_mm=float(amap.length_mm[i]),
            needle_length_mm=max(200.0, float(amap.length_mm[i])),
            gauge_mm=0.25,
        )
        rep = model.check_needle(needle)
        tube = [
            f.severity
            for f in rep.findings
            if f.rule in ("danger_zone", "caution_margin", "caution_structure")
        ]
        assert amap.status[i] == (2 if "danger" in tube else 1 if "caution" in tube else 0)
        assert amap.caution_clearance_mm[i] == pytest.approx(_zone_margin_clearance(model, rep), abs=1e-9)


def test_best_entry_is_a_safe_usable_needle_with_the_largest_clearance(model, atlas):
    target = atlas.trigger_points["bfl_nct_mid"].position_mm
    amap = maps.approach_map(model, target)
    i = amap.best_index
    assert i is not None
    assert amap.status[i] == 0 and amap.usable[i]
    assert amap.length_mm[i] <= 0.75 * 75.0 and amap.angle_from_normal_deg[i] <= 60.0
    candidates = amap.usable & (amap.status == 0)
    assert amap.caution_clearance_mm[i] >= amap.caution_clearance_mm[candidates].max() - 0.05
    needle = amap.needle_at(i, "best")
    assert needle.depth_mm <= 0.75 * needle.needle_length_mm
    report = model.check_needle(needle)
    assert report.status != "danger"
    assert not any(f.rule in ("danger_zone", "caution_margin") for f in report.findings)
    assert np.linalg.norm(report.tip_mm - target) < 0.05


def test_no_safe_entry_to_a_point_inside_the_sciatic_nerve(model, atlas):
    tube = atlas.tube("sciatic_nerve")
    target = tube.centres_mm[len(tube.centres_mm) // 2]
    amap = maps.approach_map(model, target)
    assert np.all(amap.status == 2)
    assert amap.best_index is None


def test_depth_map_is_the_max_safe_depth_of_a_normal_needle(model):
    dmap = maps.depth_map(model, 75.0)
    pts, normals = model.skin_points()
    assert np.all((dmap.max_safe_depth_mm >= 0) & (dmap.max_safe_depth_mm <= 75.0))
    rng = np.random.default_rng(5)
    for i in rng.choice(len(pts), 60, replace=False):
        needle = Needle(
            id="d", entry_mm=pts[i], direction=normals[i], depth_mm=1.0, needle_length_mm=75.0, gauge_mm=0.25
        )
        rep = model.check_needle(needle)
        assert dmap.max_safe_depth_mm[i] == pytest.approx(rep.max_safe_depth_mm, abs=1e-9)
        assert dmap.limiting_structure[i] == rep.limiting_structure
    # somewhere over the popliteal fossa the nerves are shallow
    assert dmap.max_safe_depth_mm.min() < 25.0


def test_maps_follow_the_patient_profile(atlas):
    small = model_for_patient(
        PatientProfile(mid_thigh_circumference_mm=440.0, subcutaneous_fat_mm=8.0), atlas
    )
    large = model_for_patient(
        PatientProfile(mid_thigh_circumference_mm=620.0, subcutaneous_fat_mm=20.0), atlas
    )
    d_small = maps.depth_map(small).max_safe_depth_mm
    d_large = maps.depth_map(large).max_safe_depth_mm
    # deeper structures in a larger thigh: a needle along the normal goes deeper safely
    assert np.median(d_large) > np.median(d_small)


def test_left_maps_mirror_the_right(atlas):
    right = model_for_patient(None, atlas, "right")
    left = model_for_patient(None, atlas, "left")
    target = atlas.trigger_points["st_nct_mid"].position_mm
    a_r = maps.approach_map(right, target)
    a_l = maps.approach_map(left, target * np.array([-1.0, 1.0, 1.0]))
    np.testing.assert_allclose(a_l.points_mm, a_r.points_mm * np.array([-1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(a_l.status, a_r.status)
    np.testing.assert_allclose(a_l.caution_clearance_mm, a_r.caution_clearance_mm, atol=1e-9)
    assert a_l.best_index == a_r.best_index
    np.testing.assert_allclose(
        maps.depth_map(left).max_safe_depth_mm, maps.depth_map(right).max_safe_depth_mm
    )


def test_render_maps_from_the_command_line(tmp_path):
    png = tmp_path / "approach.png"
    out = run("render", "--approach", "bfl_nct_mid", "-o", str(png), "--size", "300x400")
    assert out.returncode == 0, out.stderr
    assert "best entry:" in out.stdout and png.stat().st_size > 5000
    out = run("render", "--depth-map", "-o", str(tmp_path / "depth.png"), "--size", "300x400")
    assert out.returncode == 0, out.stderr
    assert "depth map:" in out.stdout
    out = run("render", "--approach", "nowhere", "-o", str(tmp_path / "x.png"))
    assert out.returncode == 3
    assert "--approach" in out.stderr and "nowhere" in out.stderr and "Traceback" not in out.stderr


def test_maps_in_chunks_report_progress_and_can_be_cancelled(model, atlas):
    """With surfaces checked against their triangles the maps go in chunks, reporting
    progress; the joined chunks are the one-batch result, and False from the callback
    stops the map."""
    mesh_model = SafetyModel(atlas, mesh_only=["popliteal_artery"])
    pts, normals = mesh_model.skin_points()
    pick = np.random.default_rng(5).choice(len(pts), 40, replace=False)
    calls: list[tuple[int, int]] = []
    chunked = maps._check_in_chunks(
        mesh_model,
        pts[pick],
        normals[pick],
        np.full(40, 30.0),
        0.25,
        75.0,
        lambda d, t: not calls.append((d, t)),
    )
    assert calls == [(16, 40), (32, 40), (40, 40)]
    whole = mesh_model.check_many(pts[pick], normals[pick], np.full(40, 30.0), 0.25, 75.0)
    np.testing.assert_array_equal(chunked.status, whole.status)
    np.testing.assert_array_equal(chunked.max_safe_depth_mm, whole.max_safe_depth_mm)
    assert chunked.limiting_structure == whole.limiting_structure
    assert chunked.nearest_structure == whole.nearest_structure

    stops: list[int] = []
    with pytest.raises(maps.MapCancelled):
        maps.depth_map(mesh_model, progress=lambda d, t: not stops.append(d) and d < 32)
    assert stops == [16, 32]
    # capsule chains only: one batch, one call
    calls.clear()
    maps.depth_map(model, progress=lambda d, t: not calls.append((d, t)))
    assert calls == [(len(model.skin_points()[0]),) * 2]
