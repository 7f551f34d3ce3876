"""check_plan (the geometry of many needles computed in batches, safety/prefetch.py) gives
exactly the reports of one check_needle call per needle: every field, every float to the
last bit, on the right and the left thigh, with grazing, deep and outside needles."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest

from thighmap.planning import Needle, Plan
from thighmap.safety import prefetch
from thighmap.safety.engine import SafetyModel, model_for_patient


def _same(a: Any, b: Any, where: str = "report") -> None:
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=True), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, (where, a, b)


def _needles(model: SafetyModel, n: int, seed: int) -> list[Needle]:
    """Needles around the trigger-point techniques and from the skin toward the nerves,
    some grazing a nerve, some ending outside the body, some angled steeply."""
    rng = np.random.default_rng(seed)
    base = [model.needle_from_trigger_point(tp) for tp in sorted(model.atlas.trigger_points)]
    if model.side == "left":
        base = [
            b.with_changes(entry_mm=b.entry_mm * [-1, 1, 1], direction=b.direction * [-1, 1, 1]) for b in base
        ]
    out = []
    for i in range(n):
        b = base[i % len(base)]
        d = b.direction + rng.normal(0.0, 0.25, 3)
        out.append(
            Needle(
                id=f"n{i}",
                entry_mm=b.entry_mm + rng.uniform(-15.0, 15.0, 3),
                direction=d / np.linalg.norm(d),
                depth_mm=float(rng.uniform(1.0, 70.0)),
                needle_length_mm=float(rng.choice([25.0, 40.0, 50.0, 75.0])),
                gauge_mm=float(rng.choice([0.16, 0.25, 0.3])),
                target=b.target if i % 3 else None,
            )
        )
    return out


@pytest.mark.parametrize("side", ["right", "left"])
def test_plan_check_equals_one_check_per_needle(atlas, side: str) -> None:  # type: ignore[no-untyped-def]
    model = model_for_patient(None, atlas, side)
    needles = _needles(model, 300, seed=1 if side == "right" else 2)
    plan = Plan(side=side, title=None, patient=None, needles=needles)
    fast = model.check_plan(plan)
    assert len(fast.needles) == len(needles)
    statuses = set()
    for n, report in zip(needles, fast.needles, strict=True):
        _same(report, model.check_needle(n), f"needle {n.id}")
        statuses.add(report.status)
    assert statuses == {"safe", "caution", "danger"}  # the plan exercises every verdict
    one_by_one = [model.check_needle(n) for n in needles]
    assert json.dumps(fast.to_json()) == json.dumps(dataclasses.replace(fast, needles=one_by_one).to_json())


def test_chunks_and_small_plans_give_the_same_reports(atlas, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model = SafetyModel.for_atlas(atlas)
    needles = _needles(model, 23, seed=3)
    want = [model.check_needle(n) for n in needles]
    monkeypatch.setattr(prefetch, "CHUNK_NEEDLES", 5)  # several chunks, the last one short
    _same(list(prefetch.check_needles(model, needles)), want)
    _same(list(prefetch.check_needles(model, needles[:2])), want[:2])  # below the batch size


def test_a_query_the_batch_does_not_hold_is_computed_as_usual(atlas) -> None:  # type: ignore[no-untyped-def]
    model = SafetyModel.for_atlas(atlas)
    needles = _needles(model, 8, seed=4)
    view = prefetch._prefetched(model, needles[:4])
    for n in needles[4:]:  # not prefetched: answered by the real danger set and tissue index
        _same(view.check_needle(n), model.check_needle(n), f"needle {n.id}")


def test_the_batch_answers_every_geometric_query_of_its_needles(atlas) -> None:  # type: ignore[no-untyped-def]
    model = SafetyModel.for_atlas(atlas)
    needles = _needles(model, 6, seed=5)
    view = prefetch._prefetched(model, needles)

    def not_batched(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("computed one needle at a time")

    view.dangers._base = dataclasses.make_dataclass("Base", [])()  # type: ignore[union-attr]
    view.dangers._base.chains = model.dangers.chains  # type: ignore[union-attr]
    view.dangers._base.structure_ids = model.dangers.structure_ids  # type: ignore[union-attr]
    view.dangers._base.needle_clearances = not_batched  # type: ignore[union-attr]
    view.dangers._base.first_caution_hit = not_batched  # type: ignore[union-attr]
    for n in needles:
        _same(view.check_needle(n), model.check_needle(n), f"needle {n.id}")


@pytest.mark.parametrize("as_json", [False, True])
def test_the_rendered_report_is_the_plan_reports_text(atlas, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """What `thighmap check` prints (each needle rendered as it is checked) is byte for
    byte PlanReport's text or JSON, for a plan with needles and for an empty one."""
    from thighmap.safety.rendering import render_plan_report

    model = model_for_patient(None, atlas, "left")
    for needles in (_needles(model, 40, seed=6), []):
        plan = Plan(side="left", title=None, patient=None, needles=needles)
        whole = model.check_plan(plan, plan_path='my plan "x".thighplan.json')
        pieces, status = render_plan_report(
            prefetch.check_needles(model, needles),
            plan_path='my plan "x".thighplan.json',
            side="left",
            patient_fitted=False,
            as_json=as_json,
        )
        assert status == whole.status
        assert "".join(pieces) == (json.dumps(whole.to_json(), indent=2) if as_json else whole.to_text())


@pytest.mark.parametrize("as_json", [False, True])
def test_thighmap_check_prints_the_plan_report_with_its_contraindications(
    atlas, tmp_path, capsys, as_json: bool
) -> None:  # type: ignore[no-untyped-def]
    """`thighmap check` (streamed, batched) prints exactly the PlanReport of check_plan,
    the checklist's findings included, for a left plan large enough to be batched."""
    from thighmap.cli import check_plan_file
    from thighmap.planning import CONTRAINDICATION_KEYS, save_plan
    from thighmap.safety.engine import load_plan_for_checking

    model = model_for_patient(None, atlas, "left")
    answers = {key: key == CONTRAINDICATION_KEYS[1] for key in CONTRAINDICATION_KEYS}
    plan = Plan(
        side="left",
        title=None,
        patient=None,
        needles=[
            n.with_changes(depth_mm=min(n.depth_mm, n.needle_length_mm))  # what a plan file allows
            for n in _needles(model, prefetch.MIN_NEEDLES + 25, seed=7)
        ],
        contraindications=answers,
    )
    path = tmp_path / "p.thighplan.json"
    save_plan(plan, path)
    loaded, checking = load_plan_for_checking(str(path), atlas)
    whole = checking.check_plan(loaded, plan_path=str(path))
    assert whole.findings  # the "yes" gives the plan a finding
    code = check_plan_file(str(path), atlas, as_json=as_json)
    printed = capsys.readouterr().out
    assert printed == (json.dumps(whole.to_json(), indent=2) if as_json else whole.to_text()) + "\n"
    assert code == {"safe": 0, "caution": 1, "danger": 2}[whole.status]


def test_the_batch_does_no_entry_geometry_one_needle_at_a_time(atlas, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The skin frame, the outer-skin crossings and the maximum safe depth of a batched
    needle come from the batch: the per-needle computations are never asked."""
    for side in ("right", "left"):
        model = model_for_patient(None, atlas, side)
        needles = _needles(model, 12, seed=8)
        want = [model.check_needle(n) for n in needles]
        view = prefetch._prefetched(model, needles)

        def not_batched(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("computed one needle at a time")

        with monkeypatch.context() as m:
            for name in (
                "_skin_frame_right",
                "_skin_frames_right",
                "_skin_frames_near",
                "_outer_skin_crossings",
                "_max_safe_depth",
            ):
                m.setattr(model, name, not_batched)
            m.setattr(model._outer_skin_index(), "crossing_depths", not_batched)
            for n, report in zip(needles, want, strict=True):
                _same(view.check_needle(n), report, f"{side} needle {n.id}")


def test_a_skin_frame_the_batch_does_not_hold_is_computed_as_usual(atlas) -> None:  # type: ignore[no-untyped-def]
    model = SafetyModel.for_atlas(atlas)
    needles = _needles(model, 6, seed=9)
    view = prefetch._prefetched(model, needles)
    p = np.asarray(needles[0].entry_mm, float) + 0.5
    _same(view._skin_frame_right(p), model._skin_frame_right(p))
    e, d = np.asarray(needles[1].entry_mm, float), np.asarray(needles[1].direction, float)
    d = d / np.linalg.norm(d)
    _same(view._outer_skin_crossings(e, d, 33.0), model._outer_skin_crossings(e, d, 33.0))
    args = (
        e[None],
        d[None],
        np.array([40.0]),
        np.array([12.0]),
        np.array([0]),
        np.array([np.inf]),
        [None],
        np.array([0.25]),
    )
    _same(view._max_safe_depth(*args), model._max_safe_depth(*args))


def test_outer_skin_crossings_of_many_lines_are_each_lines(atlas) -> None:  # type: ignore[no-untyped-def]
    model = SafetyModel.for_atlas(atlas)
    needles = _needles(model, 200, seed=10)
    entry = np.array([n.entry_mm for n in needles], float)
    direction = np.array([n.direction / np.linalg.norm(n.direction) for n in needles])
    depth = np.array([n.depth_mm for n in needles]) + 100.0  # through the body: both skin crossings
    index = model._outer_skin_index()
    many = index.crossing_depths_many(entry, direction, depth)
    assert sum(len(t) for t in many) > len(needles)  # the lines do cross the skin
    for j in range(len(needles)):
        _same(many[j], index.crossing_depths(entry[j], direction[j], float(depth[j])), f"line {j}")
