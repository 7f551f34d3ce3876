"""Demonstration steps: stored in the plan, validated, interpolated, exported."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.test_cli import run
from thighmap.planning import Plan, load_plan, save_plan
from thighmap.planning.demo import Camera, DemoError, DemoStep, interpolate_camera, steps_of, with_steps

POSTERIOR = Camera((0.0, 900.0, 200.0), (0.0, 0.0, 200.0), (0.0, 0.0, 1.0), 30.0)
LATERAL = Camera((-900.0, 0.0, 150.0), (10.0, 5.0, 150.0), (0.0, 0.0, 1.0), 25.0)


def _steps() -> list[DemoStep]:
    return [
        DemoStep("The hamstrings", POSTERIOR, "Semitendinosus lies medial.", hidden=("subcutaneous_fat",)),
        DemoStep(
            "Sciatic nerve",
            LATERAL,
            "The nerve runs deep to the long head.",
            opacity={"skin": 0.05},
            danger_zones=False,
        ),
    ]


def test_steps_round_trip_through_the_plan_file(tmp_path):
    plan = with_steps(Plan(title="demo"), _steps())
    path = tmp_path / "demo.thighplan.json"
    save_plan(plan, path)
    again = load_plan(path)
    assert steps_of(again) == _steps()
    assert json.loads(path.read_text())["demonstration"]["steps"][1]["danger_zones"] is False
    assert steps_of(with_steps(again, [])) == [] and "demonstration" not in with_steps(again, []).extra


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda s: s.pop("title"), "demonstration.steps[0].title"),
        (lambda s: s["camera"].update(position=[0, "a", 0]), "demonstration.steps[0].camera.position"),
        (lambda s: s["camera"].update(view_angle=float("nan")), "demonstration.steps[0].camera.view_angle"),
        (lambda s: s.update(opacity={"skin": 3}), "demonstration.steps[0].opacity.skin"),
        (lambda s: s.update(hidden="skin"), "demonstration.steps[0].hidden"),
        (lambda s: s["camera"].update(position=s["camera"]["focal_point"]), "demonstration.steps[0].camera"),
    ],
)
def test_bad_steps_are_named(change, field):
    plan = with_steps(Plan(), _steps())
    raw = json.loads(json.dumps(plan.extra))
    change(raw["demonstration"]["steps"][0])
    with pytest.raises(DemoError, match=field.replace("[", r"\[").replace("]", r"\]")):
        steps_of(plan.with_changes(extra=raw))


def test_camera_moves_smoothly_from_step_to_step():
    a, b = POSTERIOR, LATERAL
    start, end = interpolate_camera(a, b, 0.0), interpolate_camera(a, b, 1.0)
    np.testing.assert_allclose(start.position, a.position, atol=1e-9)
    np.testing.assert_allclose(end.position, b.position, atol=1e-9)
    np.testing.assert_allclose(end.focal_point, b.focal_point, atol=1e-9)
    previous = np.asarray(start.position)
    distances = [np.linalg.norm(np.subtract(c.position, c.focal_point)) for c in (a, b)]
    lo, hi = min(distances), max(distances)
    for t in np.linspace(0.05, 1.0, 20):
        cam = interpolate_camera(a, b, float(t))
        pos, focal = np.asarray(cam.position), np.asarray(cam.focal_point)
        # the camera keeps its distance range (no swing through the model) and moves in small steps
        assert lo - 1e-6 <= np.linalg.norm(pos - focal) <= hi + 1e-6
        assert np.linalg.norm(pos - previous) < 150.0
        assert abs(np.dot(cam.up, (pos - focal) / np.linalg.norm(pos - focal))) < 1e-9
        previous = pos


def test_export_steps_from_the_command_line(tmp_path, atlas):
    from thighmap.safety.engine import SafetyModel

    needle = SafetyModel.for_atlas(atlas).needle_from_trigger_point("st_nct_mid", "n1")
    plan = with_steps(Plan(title="demo", needles=[needle]), _steps())
    path = tmp_path / "demo.thighplan.json"
    save_plan(plan, path)
    out = run(
        "demo",
        str(path),
        "-o",
        str(tmp_path / "steps"),
        "--gif",
        str(tmp_path / "demo.gif"),
        "--size",
        "320x240",
    )
    assert out.returncode == 0, out.stderr
    pngs = sorted((tmp_path / "steps").glob("step-*.png"))
    assert [p.name for p in pngs] == ["step-01.png", "step-02.png"]
    import imageio.v3 as iio

    frames = iio.imread(tmp_path / "demo.gif", index=None)
    from thighmap.viz.demo import MOVE_FRAMES

    # held frames are merged by the GIF writer: each step once, and every frame of the move
    assert frames.shape[0] == MOVE_FRAMES + 2 and frames.shape[1:3] == (240, 320)
    # the camera really moves: the frames of the move differ from both steps
    assert len({hash(f.tobytes()) for f in frames}) > 5
    empty = tmp_path / "empty.thighplan.json"
    save_plan(Plan(), empty)
    out = run("demo", str(empty), "-o", str(tmp_path / "x"))
    assert out.returncode == 3 and "demonstration" in out.stderr
