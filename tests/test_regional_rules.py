"""The near_line regional rule (issue #11): keep the needle away from the linea aspera,
where perforating arteries of the profunda femoris pass to the back of the thigh at levels
no atlas can draw (pretterklieber2020). Parsed with the atlas, fired by check_needle,
bounded by the maximum safe depth, the same on the batch paths, and silent for every
bundled trigger-point technique."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_prefetch import _same
from thighmap.anatomy.atlas import AtlasError, parse_atlas
from thighmap.anatomy.atlas_rules import NearLineRule, RuleError, Rules, parse_rules
from thighmap.anatomy.fitting import fit_atlas
from thighmap.planning import CONTRAINDICATION_KEYS, Needle, PatientProfile
from thighmap.safety import prefetch, rules
from thighmap.safety.engine import SafetyModel, model_for_patient

RULE_ID = "perforating_arteries_along_the_linea_aspera"
LEVEL_MM = 270.0  # between the drawn perforating arteries (z = 295 and 245 mm)


@pytest.fixture(scope="module")
def model(atlas) -> SafetyModel:
    """The bundled atlas less the drawn profunda femoris and perforating arteries, whose
    own zones would stop these needles first: the rule is what is measured here."""
    from tests.caution_atlas import without_structures

    drawn = [sid for sid in atlas.structures if sid.startswith(("perforating_artery", "profunda_femoris"))]
    return SafetyModel.for_atlas(without_structures(atlas, drawn))


@pytest.fixture(scope="module")
def rule(atlas) -> NearLineRule:
    (found,) = [r for r in atlas.rules.near_line if r.id == RULE_ID]
    return found


def _point_on_line(line: np.ndarray, z: float) -> np.ndarray:
    k = int(np.searchsorted(line[:, 2], z))
    a, b = line[k - 1], line[k]
    return a + (z - a[2]) / (b[2] - a[2]) * (b - a)


@pytest.fixture(scope="module")
def at_the_bone(model, rule) -> tuple[np.ndarray, np.ndarray, float]:
    """(entry, unit direction, distance to the bone): from the posterolateral skin at
    z = 270 mm straight at the linea aspera (the rule's line at that level, on the femur's
    back surface)."""
    target = _point_on_line(np.asarray(rule.line_mm), LEVEL_MM)
    posterolateral = np.array([np.sin(np.radians(60.0)), np.cos(np.radians(60.0)), 0.0])
    entry, _ = model.skin_surface_frame(target + 150.0 * posterolateral)
    d = target - entry
    return entry, d / np.linalg.norm(d), float(np.linalg.norm(d))


def _needle(entry, direction, depth, *, length=100.0, gauge=0.25, nid="n1") -> Needle:
    return Needle(
        id=nid,
        entry_mm=np.asarray(entry, float),
        direction=np.asarray(direction, float),
        depth_mm=float(depth),
        needle_length_mm=float(length),
        gauge_mm=float(gauge),
    )


# ---------------------------------------------------------------------- an independent oracle
def _distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """(M,) distances from points (M, 3) to a polyline, by projection onto every segment."""
    a, b = line[:-1], line[1:]
    ab = b - a
    ab2 = np.einsum("ij,ij->i", ab, ab)
    rel = points[:, None, :] - a[None, :, :]
    t = np.clip(np.einsum("mij,ij->mi", rel, ab) / np.where(ab2 > 0, ab2, 1.0), 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=2).min(axis=1)


def _first_depth_by_sampling(
    line: np.ndarray, entry: np.ndarray, direction: np.ndarray, radius: float, depth_mm: float
) -> float:
    """The first depth (to 1e-7 mm) at which the needle's axis comes within `radius` of the
    line, sampling the ray every 0.05 mm and bisecting the first step that gets inside;
    inf if no sample does."""
    t = np.arange(0.0, depth_mm, 0.05)
    d = _distance_to_polyline(entry + t[:, None] * direction, line)
    inside = np.flatnonzero(d <= radius)
    if len(inside) == 0:
        return math.inf
    k = int(inside[0])
    if k == 0:
        return 0.0
    lo, hi = float(t[k - 1]), float(t[k])
    while hi - lo > 1e-7:
        mid = (lo + hi) / 2
        inside_mid = _distance_to_polyline((entry + mid * direction)[None], line)[0] <= radius
        lo, hi = (lo, mid) if inside_mid else (mid, hi)
    return hi


# ---------------------------------------------------------------------- the rule fires
def test_a_needle_to_the_linea_aspera_between_the_drawn_perforators_is_a_caution(model, rule, at_the_bone):
    entry, direction, to_bone = at_the_bone
    report = model.check_needle(_needle(entry, direction, to_bone - 1.0))
    fired = [f for f in report.findings if f.rule == RULE_ID]
    assert len(fired) == 1, report.to_text()
    assert fired[0].severity == "caution"
    along = entry + np.linspace(0.0, to_bone - 1.0, 20001)[:, None] * direction
    closest = float(_distance_to_polyline(along, np.asarray(rule.line_mm)).min()) - 0.125
    assert closest < 1.0
    assert f"within {max(closest, 0.0):.0f} mm of the linea aspera" in fired[0].message, fired[0].message
    assert "perforating arteries" in fired[0].message
    assert report.status == "caution", report.to_text()
    # the maximum safe depth stops where the needle (0.25 mm wide) first comes within 15 mm
    want = _first_depth_by_sampling(
        np.asarray(rule.line_mm), entry, direction, rule.distance_mm + 0.125, to_bone
    )
    assert report.limiting_rule == RULE_ID, report.to_text()
    assert report.max_safe_depth_mm == pytest.approx(want, abs=1e-6)
    assert 30.0 < want < to_bone - 14.0
    at = model.check_needle(_needle(entry, direction, report.max_safe_depth_mm))
    assert not ({f.rule for f in at.findings} & rules.depth_rule_ids(model.atlas.rules)), at.to_text()
    assert at.status == "safe", at.to_text()
    beyond = model.check_needle(_needle(entry, direction, report.max_safe_depth_mm + 0.05))
    assert RULE_ID in {f.rule for f in beyond.findings}, beyond.to_text()


def test_the_same_needle_stopping_30_mm_short_does_not_fire(model, at_the_bone):
    entry, direction, to_bone = at_the_bone
    report = model.check_needle(_needle(entry, direction, to_bone - 30.0))
    assert RULE_ID not in {f.rule for f in report.findings}, report.to_text()
    assert report.status == "safe", report.to_text()


def test_a_thicker_needle_is_stopped_earlier_by_half_its_gauge(model, rule, at_the_bone):
    entry, direction, _ = at_the_bone
    thin = model.check_needle(_needle(entry, direction, 40.0, gauge=0.25))
    thick = model.check_needle(_needle(entry, direction, 40.0, gauge=2.25))
    limit = rules.line_first_within
    one, two = (limit(rule, entry[None], direction[None], np.array([g / 2])) for g in (0.25, 2.25))
    assert thin.max_safe_depth_mm == pytest.approx(float(one[0]), abs=1e-12)
    assert thick.max_safe_depth_mm == pytest.approx(float(two[0]), abs=1e-12)
    assert thick.max_safe_depth_mm < thin.max_safe_depth_mm


def test_the_left_thigh_fires_the_same(model, at_the_bone):
    entry, direction, to_bone = at_the_bone
    left = model_for_patient(None, model.atlas, "left")
    right = model
    mirror = np.array([-1.0, 1.0, 1.0])
    a = right.check_needle(_needle(entry, direction, to_bone - 1.0))
    b = left.check_needle(_needle(entry * mirror, direction * mirror, to_bone - 1.0))
    assert RULE_ID in {f.rule for f in b.findings}, b.to_text()
    assert b.max_safe_depth_mm == pytest.approx(a.max_safe_depth_mm, abs=1e-9)


def test_fitting_moves_the_line_with_the_bone(atlas, rule):
    fitted = fit_atlas(atlas, PatientProfile(thigh_length_mm=400.0))
    scale = fitted.document["fit"]["length_scale"]
    assert scale != pytest.approx(1.0)
    (moved,) = [r for r in fitted.rules.near_line if r.id == RULE_ID]
    got, ref = np.asarray(moved.line_mm), np.asarray(rule.line_mm)
    np.testing.assert_allclose(got[:, :2], ref[:, :2])
    np.testing.assert_allclose(got[:, 2], ref[:, 2] * scale)


def test_no_bundled_trigger_point_technique_comes_near_the_linea_aspera(model, rule):
    for tp in sorted(model.atlas.trigger_points):
        needle = model.needle_from_trigger_point(tp)
        report = model.check_needle(needle)
        assert RULE_ID not in {f.rule for f in report.findings}, (tp, report.to_text())
        assert report.limiting_rule != RULE_ID, (tp, report.to_text())


# ---------------------------------------------------------------------- the batch paths
def _needles_near_the_linea_aspera(at_the_bone) -> list[Needle]:
    entry, direction, to_bone = at_the_bone
    rng = np.random.default_rng(11)
    out = [
        _needle(entry, direction, to_bone - 1.0, nid="deep"),
        _needle(entry, direction, to_bone - 30.0, nid="short"),
        _needle(entry, direction, to_bone - 1.0, length=75.0, gauge=0.3, nid="deep75"),
    ]
    for i in range(9):
        d = direction + rng.normal(0.0, 0.15, 3)
        out.append(
            _needle(
                entry + rng.uniform(-10.0, 10.0, 3) * [1.0, 0.2, 1.0],
                d / np.linalg.norm(d),
                float(rng.uniform(20.0, 70.0)),
                length=float(rng.choice([50.0, 75.0, 100.0])),
                gauge=float(rng.choice([0.16, 0.25, 0.3])),
                nid=f"r{i}",
            )
        )
    return out


def test_the_prefetch_path_gives_check_needles_reports(atlas, at_the_bone):
    mirror = np.array([-1.0, 1.0, 1.0])
    for side in ("right", "left"):
        model = model_for_patient(None, atlas, side)
        needles = _needles_near_the_linea_aspera(at_the_bone)
        if side == "left":
            needles = [
                n.with_changes(entry_mm=n.entry_mm * mirror, direction=n.direction * mirror) for n in needles
            ]
        want = [model.check_needle(n) for n in needles]
        assert any(RULE_ID in {f.rule for f in r.findings} for r in want)
        assert any(r.limiting_rule == RULE_ID for r in want)
        got = list(prefetch.check_needles(model, needles))
        for n, a, b in zip(needles, got, want, strict=True):
            _same(a, b, f"{side} needle {n.id}")


def test_check_many_gives_check_needles_maximum_safe_depth(model, at_the_bone):
    needles = _needles_near_the_linea_aspera(at_the_bone)
    batch = model.check_many(
        np.array([n.entry_mm for n in needles]),
        np.array([n.direction for n in needles]),
        np.array([n.depth_mm for n in needles]),
        np.array([n.gauge_mm for n in needles]),
        np.array([n.needle_length_mm for n in needles]),
    )
    for k, n in enumerate(needles):
        rep = model.check_needle(n)
        assert batch.max_safe_depth_mm[k] == pytest.approx(rep.max_safe_depth_mm, abs=1e-9), n.id
        assert batch.limiting_rule[k] == rep.limiting_rule, n.id
    assert RULE_ID in batch.limiting_rule


# ---------------------------------------------------------------------- depth_limits vs an oracle
_coord = st.floats(-60.0, 60.0, allow_nan=False)
_point = st.tuples(_coord, _coord, _coord)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    line=st.lists(_point, min_size=2, max_size=5),
    entries=st.lists(_point, min_size=1, max_size=6),
    directions=st.lists(
        st.tuples(*[st.floats(-1.0, 1.0, allow_nan=False)] * 3).filter(
            lambda v: sum(c * c for c in v) > 0.01
        ),
        min_size=6,
        max_size=6,
    ),
    distance=st.floats(0.5, 20.0),
    gauge=st.floats(0.0, 1.0),
)
def test_depth_limits_is_the_first_depth_within_the_distance(line, entries, directions, distance, gauge):
    """Tolerance: the oracle samples every h = 0.05 mm up to 200 mm. The distance to the
    line changes by at most 1 mm per mm along a unit ray, so the exact first depth t
    satisfies t <= (the first sample within the radius) and t >= (the first sample within
    the radius + h/2) - h/2: a sample lies within h/2 of t, at most h/2 farther out."""
    poly = np.array(line, float)
    near_line = NearLineRule("r", tuple(line), distance, "caution", "m", "s")
    stand_in = SimpleNamespace(rules=Rules(near_line=(near_line,)))
    entry = np.array([entries[k % len(entries)] for k in range(6)], float)
    direction = np.array(directions, float)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    limit, which = rules.depth_limits(stand_in, entry, direction, None, np.full(6, np.inf), gauge)  # type: ignore[arg-type]
    radius = distance + gauge / 2.0
    h, reach = 0.05, 200.0
    t = np.arange(0.0, reach + h / 2, h)
    for k in range(6):
        d = _distance_to_polyline(entry[k] + t[:, None] * direction[k], poly)
        inside = np.flatnonzero(d <= radius)
        near = np.flatnonzero(d <= radius + h / 2)
        if len(inside):
            assert limit[k] <= t[inside[0]] + 1e-9
            assert which[k] == "r"
        if len(near):
            assert limit[k] >= t[near[0]] - h / 2 - 1e-9
        else:
            assert limit[k] > reach - 1e-9
        if 0.0 < limit[k] <= reach:
            # the limit is a depth at which the rule does not fire yet (evaluate's test)
            tip = entry[k] + limit[k] * direction[k]
            assert rules.line_clearance(near_line, entry[k], tip, gauge) >= distance - 1e-9
        if math.isinf(limit[k]):
            assert which[k] is None


# ---------------------------------------------------------------------- parsing
def _rules_doc(atlas) -> tuple[dict[str, Any], int]:
    raw = copy.deepcopy(atlas.document["rules"])
    (index,) = [i for i, r in enumerate(raw["regional"]) if r.get("id") == RULE_ID]
    return raw, index


def _parse(atlas, raw: dict[str, Any]) -> Rules:
    return parse_rules(
        raw,
        Path("somewhere/landmarks.json"),
        structures=atlas.structures,
        landmarks=atlas.landmarks,
        contraindication_keys=CONTRAINDICATION_KEYS,
    )


def test_the_bundled_rule_parses_as_written(atlas, rule):
    raw, index = _rules_doc(atlas)
    entry = raw["regional"][index]
    assert rule.line_mm == tuple(tuple(p) for p in entry["line_mm"])
    assert rule.distance_mm == 15.0 and rule.severity == "caution"
    assert "pretterklieber2020" in rule.source and "pretterklieber2020" in atlas.document["sources"]
    assert RULE_ID in rules.depth_rule_ids(atlas.rules)


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("line_mm", [[1.0, 2.0, 3.0]], "[[1.0, 2.0, 3.0]]"),
        ("line_mm", "the linea aspera", "'the linea aspera'"),
        ("line_mm", None, "null"),
        ("line_mm", [[0, 0, 0], [1, 2]], "[1, 2]"),
        ("line_mm", [[0, 0, 0], [1, 2, float("nan")]], "NaN"),
        ("line_mm", [[0, 0, 0], [1, "2", 3]], "'2'"),
        ("distance_mm", 0, "0"),
        ("distance_mm", -3.0, "-3.0"),
        ("distance_mm", float("inf"), "Infinity"),
        ("distance_mm", True, "true"),
        ("severity", "note", "'note'"),
        ("severity", "bad", "'bad'"),
        ("message", "within {clearence_mm} mm", "'within {clearence_mm} mm'"),
        ("message", "", "''"),
        ("source", 7, "7"),
    ],
)
def test_a_malformed_near_line_rule_names_field_and_value(atlas, field, value, shown):
    raw, index = _rules_doc(atlas)
    raw["regional"][index][field] = value
    with pytest.raises(RuleError) as err:
        _parse(atlas, raw)
    message = str(err.value)
    assert "somewhere/landmarks.json" in message
    assert f"field 'rules.regional[{index}].{field}" in message, message
    assert f"value {shown}" in message, message


def test_a_malformed_near_line_rule_stops_the_atlas_loading(atlas, tmp_path):
    doc = copy.deepcopy(atlas.document)
    _, index = _rules_doc(atlas)
    doc["rules"]["regional"][index]["line_mm"] = [[0.0, 0.0, 0.0]]
    with pytest.raises(AtlasError) as err:
        parse_atlas(doc, tmp_path / "landmarks.json")
    assert f"field 'rules.regional[{index}].line_mm': value [[0.0, 0.0, 0.0]]" in str(err.value)


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.floats(allow_nan=True), st.text(max_size=3), st.none()), max_size=4),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["line_mm", "distance_mm", "severity", "message", "source"]), value=_junk)
def test_fuzzed_fields_are_refused_by_name_or_accepted_whole(atlas, field, value):
    raw, index = _rules_doc(atlas)
    raw["regional"][index][field] = value
    try:
        parsed = _parse(atlas, raw)
    except RuleError as exc:
        assert f"field 'rules.regional[{index}].{field}" in str(exc), str(exc)
        return
    (got,) = parsed.near_line
    # accepted: the value was a usable one, and it is what the rule holds
    if field == "distance_mm":
        assert math.isfinite(value) and value > 0 and got.distance_mm == value
    elif field == "severity":
        assert got.severity in ("caution", "danger")
    elif field in ("message", "source"):
        assert isinstance(value, str) and value.strip() and getattr(got, field) == value
    else:
        assert len(got.line_mm) >= 2 and all(math.isfinite(c) for p in got.line_mm for c in p)


def test_the_rule_round_trips_through_json(atlas):
    raw, _ = _rules_doc(atlas)
    again = _parse(atlas, json.loads(json.dumps(raw)))
    assert dataclasses.asdict(again.near_line[0]) == dataclasses.asdict(atlas.rules.near_line[0])
