"""A plan carried from one patient fit to another (planning.refit, anatomy.fitting.FitMap,
safety.carry): needles stay on the skin, follow their trigger points and angles, come
back on a round trip, and the saved plan checks the way the window shows it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thighmap.anatomy.fitting import FitMap, fit_atlas
from thighmap.planning import (
    Needle,
    PatientProfile,
    Plan,
    angles_from_direction,
    direction_from_angles,
    save_plan,
)
from thighmap.safety.carry import carry_plan_to_patient
from thighmap.safety.engine import load_plan_for_checking, model_for_patient

SMALL = PatientProfile(thigh_length_mm=380, mid_thigh_circumference_mm=430, subcutaneous_fat_mm=8)
LARGE = PatientProfile(thigh_length_mm=470, mid_thigh_circumference_mm=640, subcutaneous_fat_mm=25)
PATIENTS = {"small": SMALL, "large": LARGE}
ON_SKIN_MM = 0.01  # an entry "on the skin" is this close to the outer skin surface
ROUND_TRIP_MM = 0.02  # the entry is put back on the skin along a line that bends with the map
ROUND_TRIP_DEG = 0.05
# Anywhere on the skin: the needle runs from the moved entry to the moved tip, so its tip
# ends on the mapped tip (to rounding); the way there and back leaves differences of
# hundredths of a millimetre where the map bends near the femur.
TIP_MISS_MM = 0.01
ROUND_TRIP_ANY_MM = 0.1
ROUND_TRIP_ANY_DEG = 0.25
MIRROR = np.array([-1.0, 1.0, 1.0])
TRIGGER_POINTS = ("bfl_nct_mid", "st_nct_proximal", "bfl_nct_proximal")


def _explicit(needle: Needle, side: str) -> Needle:
    """The needle as entry + direction, on the given side."""
    flip = MIRROR if side == "left" else np.ones(3)
    return Needle(
        needle.id,
        needle.entry_mm * flip,
        needle.direction * flip,
        needle.depth_mm,
        needle.needle_length_mm,
        needle.gauge_mm,
        target=needle.target,
    )


def _skin_distance(model, point: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    q, _n = model.skin_surface_frame(point)
    return float(np.linalg.norm(q - point))


def test_fit_map_moves_trigger_points_like_the_fit(atlas) -> None:  # type: ignore[no-untyped-def]
    small, large = fit_atlas(atlas, SMALL), fit_atlas(atlas, LARGE)
    for source, target in ((atlas, small), (small, large), (large, atlas)):
        fmap = FitMap(source, target)
        for tid, tp in source.trigger_points.items():
            moved = fmap(tp.position_mm)
            assert np.allclose(moved, target.trigger_points[tid].position_mm, atol=1e-6), tid
    rng = np.random.default_rng(3)
    pts = rng.uniform([-60, -40, 20], [60, 80, 380], size=(200, 3))
    fmap = FitMap(small, large)
    assert np.allclose(fmap.inverse()(fmap(pts)), pts, atol=1e-9)
    # the linear part agrees with the map over a short step
    p, d = pts[0], np.array([0.3, 0.9, -0.3])
    step = 1e-3
    assert np.allclose(fmap.linear_part(p) @ d, (fmap(p + step * d) - fmap(p)) / step, atol=1e-4)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("size", ["small", "large"])
def test_needle_on_reference_skin_lands_on_fitted_skin_and_comes_back(atlas, side: str, size: str) -> None:  # type: ignore[no-untyped-def]
    ref = model_for_patient(None, atlas)
    needles = [
        _explicit(ref.needle_from_trigger_point(t, f"n{k}"), side) for k, t in enumerate(TRIGGER_POINTS)
    ]
    plan = Plan(side=side, needles=needles)
    ref_side = model_for_patient(None, atlas, side)
    for n in needles:
        assert _skin_distance(ref_side, n.entry_mm) < ON_SKIN_MM

    carried = carry_plan_to_patient(plan, PATIENTS[size], atlas)
    assert carried.notes == []
    assert carried.plan.patient == PATIENTS[size]
    fitted = model_for_patient(PATIENTS[size], atlas, side)
    for before, after in zip(needles, carried.plan.needles, strict=True):
        assert _skin_distance(fitted, after.entry_mm) < ON_SKIN_MM, after.id
        # the tip ends in the same muscle it was aimed at
        assert fitted.check_needle(after).tip_in == ref_side.check_needle(before).tip_in
        # a smaller thigh needs a shorter needle path, a larger one a longer path
        if size == "small":
            assert after.depth_mm < before.depth_mm
        else:
            assert after.depth_mm > before.depth_mm
        assert after.needle_length_mm == before.needle_length_mm and after.gauge_mm == before.gauge_mm

    back = carry_plan_to_patient(carried.plan, None, atlas)
    assert back.plan.patient is None
    for before, again in zip(needles, back.plan.needles, strict=True):
        assert np.linalg.norm(again.entry_mm - before.entry_mm) < ROUND_TRIP_MM
        angle = np.degrees(np.arccos(np.clip(again.direction @ before.direction, -1.0, 1.0)))
        assert angle < ROUND_TRIP_DEG
        assert abs(again.depth_mm - before.depth_mm) < ROUND_TRIP_MM


def _write(path: Path, doc: dict) -> Path:  # type: ignore[type-arg]
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _patient_doc(p: PatientProfile) -> dict:  # type: ignore[type-arg]
    return {
        "thigh_length_mm": p.thigh_length_mm,
        "mid_thigh_circumference_mm": p.mid_thigh_circumference_mm,
        "subcutaneous_fat_mm": p.subcutaneous_fat_mm,
    }


@pytest.mark.parametrize("side", ["right", "left"])
def test_carried_plan_checks_as_the_same_plan_loaded_for_the_new_patient(
    atlas,
    tmp_path: Path,
    side: str,  # type: ignore[no-untyped-def]
) -> None:
    """Trigger-point needles re-resolve, angle needles keep their angles; saving the carried
    plan and loading it (as `thighmap check` does) gives the same needles."""
    small = model_for_patient(SMALL, atlas, side)
    tp = small.needle_from_trigger_point("bfl_nct_mid", "tp")  # on the small patient's skin
    entry = np.round(tp.entry_mm, 3).tolist()
    doc = {
        "format": "thighmap-plan",
        "version": 1,
        "side": side,
        "patient": _patient_doc(SMALL),
        "needles": [
            {"id": "tp", "trigger_point": "bfl_nct_mid"},
            {
                "id": "ang",
                "entry_mm": entry,
                "angles_deg": {"tilt": 20, "azimuth": 90},
                "depth_mm": 25,
                "needle_length_mm": 50,
                "gauge_mm": 0.25,
            },
        ],
    }
    small_plan, _ = load_plan_for_checking(str(_write(tmp_path / "small.thighplan.json", doc)), atlas)
    carried = carry_plan_to_patient(small_plan, LARGE, atlas)
    assert carried.notes == []
    large_doc = {**doc, "patient": _patient_doc(LARGE)}
    fresh, _ = load_plan_for_checking(str(_write(tmp_path / "large.thighplan.json", large_doc)), atlas)
    # the trigger-point needle is exactly the one the check resolves on the new fit
    assert carried.plan.needle("tp").isclose(fresh.needle("tp"), 1e-6)
    # the angle needle keeps its angles against the new skin normal at its new entry
    large = model_for_patient(LARGE, atlas, side)
    ang = carried.plan.needle("ang")
    assert _skin_distance(large, ang.entry_mm) < ON_SKIN_MM
    _q, normal = large.skin_surface_frame(ang.entry_mm)
    tilt, azimuth = angles_from_direction(ang.direction, normal, side)
    assert tilt == pytest.approx(20, abs=1e-6) and azimuth == pytest.approx(90, abs=1e-6)

    # what the window shows is what the check of the saved plan sees
    saved = tmp_path / "carried.thighplan.json"
    save_plan(carried.plan, saved)
    written = json.loads(saved.read_text(encoding="utf-8"))
    assert written["needles"][0]["trigger_point"] == "bfl_nct_mid" and "entry_mm" not in written["needles"][0]
    assert "angles_deg" in written["needles"][1]
    reloaded, model = load_plan_for_checking(str(saved), atlas)
    assert reloaded.patient == carried.plan.patient
    for a, b in zip(carried.plan.needles, reloaded.needles, strict=True):
        assert a.isclose(b, 1e-3), a.id
        assert model.check_needle(a).status == model.check_needle(b).status


def test_edited_trigger_point_needle_is_carried_as_explicit(atlas) -> None:  # type: ignore[no-untyped-def]
    ref = model_for_patient(None, atlas)
    tp = ref.needle_from_trigger_point("bfl_nct_mid", "n1")
    stated = tp.with_changes(
        source={
            "kind": "trigger_point",
            "trigger_point": "bfl_nct_mid",
            "stated": {"trigger_point": "bfl_nct_mid"},
            "resolved": {
                "entry_mm": tp.entry_mm.tolist(),
                "direction": tp.direction.tolist(),
                "depth_mm": tp.depth_mm,
            },
        }
    )
    edited = stated.with_changes(depth_mm=tp.depth_mm - 5.0)  # the user made it shallower
    carried = carry_plan_to_patient(Plan(needles=[stated, edited.with_changes(id="n2")]), SMALL, atlas)
    small = fit_atlas(atlas, SMALL)
    follows, mapped = carried.plan.needles
    assert np.allclose(follows.tip_mm, small.trigger_points["bfl_nct_mid"].position_mm, atol=1e-3)
    # the edited one keeps its (shallower) relation to the site: its tip stays short of it
    assert mapped.depth_mm < follows.depth_mm - 2.0
    assert mapped.source["stated"]["depth_mm"] == mapped.depth_mm


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pick=st.floats(0.0, 1.0),
    tilt=st.floats(0.0, 35.0),
    azimuth=st.floats(0.0, 360.0),
    depth=st.floats(3.0, 45.0),
    side=st.sampled_from(["right", "left"]),
    size=st.sampled_from(["small", "large"]),
)
def test_any_needle_on_the_skin_stays_on_it_and_comes_back(
    atlas, pick, tilt, azimuth, depth, side, size
) -> None:  # type: ignore[no-untyped-def]
    ref = model_for_patient(None, atlas, side)
    points, _normals = ref.skin_points()
    z0, z1 = np.percentile(points[:, 2], [20, 80])
    usable = np.flatnonzero((points[:, 2] > z0) & (points[:, 2] < z1) & (points[:, 1] > 0))
    k = usable[min(int(pick * len(usable)), len(usable) - 1)]
    entry, normal = ref.skin_surface_frame(points[k])
    direction = direction_from_angles(tilt, azimuth, normal, side)
    needle = Needle("n", entry, direction, depth, 50.0, 0.25)
    carried = carry_plan_to_patient(Plan(side=side, needles=[needle]), PATIENTS[size], atlas)
    assert carried.notes == [] or all("depth" in note for note in carried.notes)
    moved = carried.plan.needles[0]
    assert _skin_distance(model_for_patient(PATIENTS[size], atlas, side), moved.entry_mm) < ON_SKIN_MM
    fit_map = FitMap(atlas, model_for_patient(PATIENTS[size], atlas).atlas)
    flip = MIRROR if side == "left" else np.ones(3)
    mapped_tip = fit_map(needle.tip_mm * flip) * flip
    assert carried.notes or np.linalg.norm(moved.tip_mm - mapped_tip) < TIP_MISS_MM
    if carried.notes:
        return  # the depth was clamped: the way back cannot restore it
    back = carry_plan_to_patient(carried.plan, None, atlas).plan.needles[0]
    assert np.linalg.norm(back.entry_mm - needle.entry_mm) < ROUND_TRIP_ANY_MM
    assert np.degrees(np.arccos(np.clip(back.direction @ needle.direction, -1.0, 1.0))) < ROUND_TRIP_ANY_DEG
    assert abs(back.depth_mm - needle.depth_mm) < ROUND_TRIP_ANY_MM


def test_an_entry_off_the_skin_keeps_its_offset_and_a_same_fit_moves_nothing(atlas) -> None:  # type: ignore[no-untyped-def]
    """Carrying does not mend a plan: an entry 5 mm above the skin stays 5 mm above it."""
    ref = model_for_patient(None, atlas)
    on = _explicit(ref.needle_from_trigger_point("bfl_nct_mid", "on"), "right")
    above = on.with_changes(id="above", entry_mm=on.entry_mm - 5.0 * on.direction, depth_mm=on.depth_mm + 5.0)
    carried = carry_plan_to_patient(Plan(needles=[on, above]), SMALL, atlas)
    assert carried.notes == []
    new_on, new_above = carried.plan.needles
    # (the two lines' directions differ by the map's bend over the 5 mm between their entries)
    assert np.linalg.norm(new_on.entry_mm - (new_above.entry_mm + 5.0 * new_above.direction)) < 0.01
    assert abs(new_above.depth_mm - new_on.depth_mm - 5.0) < 0.01
    # a profile that gives the same fit (the sex, with the fat given) changes no needle
    same = PatientProfile(
        thigh_length_mm=SMALL.thigh_length_mm,
        mid_thigh_circumference_mm=SMALL.mid_thigh_circumference_mm,
        subcutaneous_fat_mm=SMALL.subcutaneous_fat_mm,
        sex="female",
    )
    again = carry_plan_to_patient(carried.plan, same, atlas)
    assert again.plan.patient == same
    assert all(a == b for a, b in zip(again.plan.needles, carried.plan.needles, strict=True))
