"""Demonstration steps: stored in the plan, validated, interpolated, exported."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_cli import run
from thighmap.planning import Plan, load_plan, save_plan
from thighmap.planning.demo import (
    DEFAULT_DURATION_S,
    LABEL_KINDS,
    Camera,
    DemoError,
    DemoStep,
    MeasuredPoint,
    Section,
    delete_step,
    duplicate_step,
    edit_step,
    interpolate_camera,
    move_step,
    move_step_down,
    move_step_up,
    rename_step,
    step_to_json,
    steps_of,
    with_steps,
)
from thighmap.planning.planfile import parse_plan, plan_to_document

POSTERIOR = Camera((0.0, 900.0, 200.0), (0.0, 0.0, 200.0), (0.0, 0.0, 1.0), 30.0)
LATERAL = Camera((-900.0, 0.0, 150.0), (10.0, 5.0, 150.0), (0.0, 0.0, 1.0), 25.0)


def _steps() -> list[DemoStep]:
    return [
        DemoStep("The hamstrings", POSTERIOR, "Semitendinosus lies medial.", hidden=("subcutaneous_fat",)),
        DemoStep(
            "Sciatic nerve",
            LATERAL,
            "The nerve runs deep to the long head.",
            opacity={"skin": 0.05, "zone:sciatic_nerve": 0.4, "tp:st_nct_mid": 0.1},
            needles=("n1",),
            selected="n1",
            danger_zones=False,
            duration_s=4.5,
            focused="sciatic_nerve",
            hidden_zones=("femoral_vein",),
            trigger_points=False,
            hidden_trigger_points=("st_nct_mid",),
            labels={"structures": False, "landmarks": True, "trigger_points": False},
            section=Section(shown=True, mode="across", follow="fixed", level_mm=210.0),
            measurement=(
                MeasuredPoint((12.5, 40.25, 210.0), "semitendinosus"),
                MeasuredPoint((-3.0, 35.5, 150.0)),
            ),
            referral="st_nct_mid",
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
        (lambda s: s.update(duration_s=0), "demonstration.steps[0].duration_s"),
        (lambda s: s.update(labels={"landmarks": "yes"}), "demonstration.steps[0].labels.landmarks"),
        (
            lambda s: s.update(section={"shown": True, "mode": "oblique"}),
            "demonstration.steps[0].section.mode",
        ),
        (lambda s: s.update(hidden_zones="femoral_vein"), "demonstration.steps[0].hidden_zones"),
        (lambda s: s.update(trigger_points=1), "demonstration.steps[0].trigger_points"),
        (
            lambda s: s.update(measurement=[{"point_mm": [0, 0]}]),
            "demonstration.steps[0].measurement[0].point_mm",
        ),
        (lambda s: s.update(measurement=[{"point_mm": [0, 0, 0]}] * 3), "demonstration.steps[0].measurement"),
        (
            lambda s: s.update(measurement=[{"point_mm": [0, 0, 0], "on": 3}]),
            "demonstration.steps[0].measurement[0].on",
        ),
        (lambda s: s.update(referral=""), "demonstration.steps[0].referral"),
    ],
)
def test_bad_steps_are_named(change, field):
    plan = with_steps(Plan(), _steps())
    raw = json.loads(json.dumps(plan.extra))
    change(raw["demonstration"]["steps"][0])
    with pytest.raises(DemoError, match=field.replace("[", r"\[").replace("]", r"\]")):
        steps_of(plan.with_changes(extra=raw))


def test_old_steps_load_and_unknown_keys_are_kept(tmp_path):
    """A step written before the new keys existed loads with their defaults; keys of a
    later version survive a load and a save."""
    raw = {
        "format": "thighmap-plan",
        "version": 1,
        "side": "right",
        "needles": [],
        "demonstration": {
            "steps": [
                {
                    "title": "Old",
                    "camera": {"position": [0, 900, 200], "focal_point": [0, 0, 200], "up": [0, 0, 1]},
                    "hidden": ["skin"],
                    "spotlight": {"colour": "gold"},
                }
            ]
        },
    }
    path = tmp_path / "old.thighplan.json"
    path.write_text(json.dumps(raw))
    (step,) = steps_of(load_plan(path))
    assert step.needles is None and step.shows_needle("any") and step.duration_s == DEFAULT_DURATION_S
    assert step.labels is None and step.section is None and step.trigger_points is None
    assert step.measurement == () and step.referral is None  # an old step shows neither
    save_plan(rename_step(load_plan(path), 0, "Renamed"), path)
    again = json.loads(path.read_text())["demonstration"]["steps"][0]
    assert again["spotlight"] == {"colour": "gold"} and again["title"] == "Renamed"


def test_the_schema_accepts_every_step_field():
    jsonschema = pytest.importorskip("jsonschema")
    from thighmap.planning.planfile import plan_to_document
    from thighmap.planning.schema import plan_schema

    doc = plan_to_document(with_steps(Plan(), _steps()))
    jsonschema.validate(doc, plan_schema())
    doc["demonstration"]["steps"][1]["duration_s"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, plan_schema())


def _titles(plan: Plan) -> list[str]:
    return [s.title for s in steps_of(plan)]


def test_steps_are_renamed_reordered_duplicated_edited_and_deleted():
    a, b = _steps()
    c = DemoStep("Third", POSTERIOR)
    plan = with_steps(Plan(title="demo"), [a, b, c])
    assert _titles(rename_step(plan, 1, "  Nerve  ")) == ["The hamstrings", "Nerve", "Third"]
    assert _titles(move_step_up(plan, 2)) == ["The hamstrings", "Third", "Sciatic nerve"]
    assert _titles(move_step_down(plan, 0)) == ["Sciatic nerve", "The hamstrings", "Third"]
    assert _titles(move_step(plan, 0, 99)) == ["Sciatic nerve", "Third", "The hamstrings"]
    assert _titles(move_step_up(plan, 0)) == _titles(plan)  # the first stays first
    dup = steps_of(duplicate_step(plan, 1))
    assert [s.title for s in dup] == ["The hamstrings", "Sciatic nerve", "Sciatic nerve (copy)", "Third"]
    assert dup[2] == DemoStep(**{**b.__dict__, "title": "Sciatic nerve (copy)"})  # everything else kept
    assert _titles(delete_step(plan, 0)) == ["Sciatic nerve", "Third"]
    edited = steps_of(edit_step(plan, 2, text="New text", duration_s=7.0))[2]
    assert (edited.title, edited.text, edited.duration_s) == ("Third", "New text", 7.0)
    assert steps_of(plan)[2] == c  # the original plan is unchanged
    for bad in (
        lambda: rename_step(plan, 0, "  "),
        lambda: edit_step(plan, 0, duration_s=0.0),
        lambda: delete_step(plan, 3),
        lambda: move_step(plan, -1, 0),
    ):
        with pytest.raises(DemoError):
            bad()
    assert "demonstration" not in delete_step(with_steps(Plan(), [c]), 0).extra


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
    from PIL import Image

    from thighmap.viz.demo import FRAME_S, MOVE_FRAMES

    # each step once, held for its own duration, and every frame of the move
    assert frames.shape[0] == MOVE_FRAMES + 2 and frames.shape[1:3] == (240, 320)
    with Image.open(tmp_path / "demo.gif") as gif:
        durations = []
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info["duration"])
    steps = _steps()
    assert durations[0] == 1000 * steps[0].duration_s and durations[-1] == 1000 * steps[1].duration_s
    assert set(durations[1:-1]) == {1000 * FRAME_S}
    # the camera really moves: the frames of the move differ from both steps
    assert len({hash(f.tobytes()) for f in frames}) > 5
    empty = tmp_path / "empty.thighplan.json"
    save_plan(Plan(), empty)
    out = run("demo", str(empty), "-o", str(tmp_path / "x"))
    assert out.returncode == 3 and "demonstration" in out.stderr


def test_an_exported_step_shows_exactly_its_needles(atlas):
    """The needle inside the muscle is drawn (in front of the anatomy) when the step names
    it, and not drawn when the step leaves it out."""
    from thighmap.safety.engine import SafetyModel
    from thighmap.viz import scene
    from thighmap.viz.demo import DemoRenderer

    model = SafetyModel.for_atlas(atlas)
    needle = model.needle_from_trigger_point("st_nct_mid", "n1")
    plan = Plan(needles=[needle])
    status = model.check_plan(plan).needles[0].status
    colour = np.array([int(scene.STATUS_COLOURS[status][i : i + 2], 16) for i in (1, 3, 5)], float)
    renderer = DemoRenderer(plan, model, (320, 240))
    try:
        counts = {}
        for shown in ((), ("n1",)):
            renderer.show(DemoStep("s", POSTERIOR, needles=shown))
            img = renderer.image()[..., :3].astype(float)
            counts[shown] = int((np.abs(img - colour).sum(axis=-1) < 60).sum())
    finally:
        renderer.close()
    assert counts[("n1",)] > counts[()] + 20


def test_an_exported_step_shows_its_trigger_points(atlas):
    from thighmap.safety.engine import SafetyModel
    from thighmap.viz.demo import DemoRenderer

    model = SafetyModel.for_atlas(atlas)
    renderer = DemoRenderer(Plan(), model, (320, 240))
    try:
        every = list(atlas.trigger_points)
        renderer.show(DemoStep("s", POSTERIOR, trigger_points=True))
        with_tps = renderer.image().astype(float)
        assert all(core.GetVisibility() for core, _ in renderer.trigger_points.values())
        renderer.show(DemoStep("s", POSTERIOR, trigger_points=True, hidden_trigger_points=tuple(every)))
        without = renderer.image().astype(float)
        renderer.show(DemoStep("s", POSTERIOR, trigger_points=False))
        off = renderer.image().astype(float)
    finally:
        renderer.close()
    assert np.abs(with_tps - without).sum(axis=-1).astype(bool).sum() > 50  # the markers are drawn
    np.testing.assert_array_equal(without, off)  # hidden one by one or all at once: the same


def test_an_exported_step_shows_its_measurement_and_referral_region(atlas):
    from thighmap.safety.engine import SafetyModel
    from thighmap.viz import scene
    from thighmap.viz.demo import DemoRenderer

    def pixels_of(img: np.ndarray, rgb: tuple[int, int, int], tol: float) -> int:
        return int((np.abs(img[..., :3].astype(float) - np.array(rgb, float)).sum(axis=-1) < tol).sum())

    skin = atlas.mesh("skin").vertices
    band = skin[np.abs(skin[:, 2] - 200.0) < 5.0]
    back = band[np.argmax(band[:, 1])]
    side = band[np.argmax(band[:, 0])]
    measured = DemoStep(
        "m",
        POSTERIOR,
        measurement=(MeasuredPoint(tuple(back)), MeasuredPoint(tuple(side))),
        referral="st_nct_mid",
    )
    yellow = tuple(int(scene.MEASURE_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
    renderer = DemoRenderer(Plan(), SafetyModel.for_atlas(atlas), (320, 240))
    try:
        renderer.show(DemoStep("plain", POSTERIOR, trigger_points=False))
        plain = renderer.image()
        renderer.show(DemoStep("m", POSTERIOR, trigger_points=False, measurement=measured.measurement))
        with_measurement = renderer.image()
        renderer.show(DemoStep("r", POSTERIOR, trigger_points=False, referral="st_nct_mid"))
        with_referral = renderer.image()
        renderer.show(DemoStep("plain", POSTERIOR, trigger_points=False))
        again = renderer.image()
    finally:
        renderer.close()
    assert pixels_of(with_measurement, yellow, 60) > pixels_of(plain, yellow, 60) + 30
    changed = np.abs(with_referral.astype(float) - plain.astype(float)).sum(axis=-1) > 30
    assert changed.sum() > 200  # the shaded region on the skin
    np.testing.assert_array_equal(again, plain)  # a step without them: gone again


_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
_steps_strategy = st.lists(
    st.builds(
        DemoStep,
        title=st.text(min_size=1, max_size=20).filter(str.strip),
        camera=st.sampled_from([POSTERIOR, LATERAL]),
        text=st.text(max_size=40),
        hidden=st.lists(_ids, max_size=3).map(tuple),
        opacity=st.dictionaries(_ids, st.floats(0.0, 1.0), max_size=3),
        needles=st.none() | st.lists(_ids, max_size=3).map(tuple),
        selected=st.none() | _ids,
        danger_zones=st.booleans(),
        duration_s=st.floats(0.2, 60.0),
        hidden_zones=st.lists(_ids, max_size=2).map(tuple),
        trigger_points=st.none() | st.booleans(),
        labels=st.none() | st.fixed_dictionaries({k: st.booleans() for k in LABEL_KINDS}),
        section=st.none()
        | st.builds(
            Section,
            st.booleans(),
            st.sampled_from(["long", "across"]),
            st.sampled_from(["tip", "fixed"]),
            st.floats(-100, 600),
        ),
    ),
    min_size=1,
    max_size=5,
)


def _same(a: DemoStep, b: DemoStep) -> bool:
    """Equal as stored (the file keeps 3 decimals of numbers)."""
    return step_to_json(a) == step_to_json(b)


@settings(max_examples=60, deadline=None)
@given(_steps_strategy, st.data())
def test_step_edits_keep_every_step_and_survive_the_file(steps, data) -> None:  # type: ignore[no-untyped-def]
    plan = with_steps(Plan(), steps)
    loaded = steps_of(parse_plan(json.loads(json.dumps(plan_to_document(plan))), "fuzz"))
    assert all(_same(a, b) for a, b in zip(loaded, steps, strict=True))
    stored = steps_of(plan)  # the edits work on the steps as the file keeps them
    i = data.draw(st.integers(0, len(steps) - 1))
    j = data.draw(st.integers(0, len(steps) - 1))
    moved = steps_of(move_step(plan, i, j))
    assert moved[j] == stored[i] and sorted(map(repr, moved)) == sorted(map(repr, stored))
    assert steps_of(move_step(move_step(plan, i, j), j, i)) == stored  # and back
    dup = steps_of(duplicate_step(plan, i))
    assert len(dup) == len(stored) + 1 and dup[i + 1].camera == stored[i].camera
    assert steps_of(delete_step(plan, i)) == stored[:i] + stored[i + 1 :]
