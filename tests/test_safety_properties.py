"""Hypothesis properties of the verdict on random needles of the bundled atlas:

* the maximum safe depth and the depth findings agree: at that depth no depth rule
  fires, a little deeper one does;
* no needle that fails to enter the body through the skin at its entry is ever safe,
  with a brute-force oracle (every triangle of the skin, winding numbers) deciding
  what "enters" means, independent of the engine's tissue index.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.skin_oracle import SkinOracle, enters_the_body
from thighmap.planning import NEEDLE_LENGTH_PRESETS_MM, Needle
from thighmap.safety import rules
from thighmap.safety.engine import SafetyModel

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def model(atlas):
    return SafetyModel.for_atlas(atlas)


@pytest.fixture(scope="module")
def skin_points(model):
    pts, normals = model.skin_points()
    keep = (pts[:, 2] > 20.0) & (pts[:, 2] < 400.0)  # away from the cut ends of the limb
    return pts[keep], normals[keep]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------------- maximum safe depth
@SETTINGS
@given(
    index=st.integers(0, 10**9),
    tilt=st.tuples(*[st.floats(-0.6, 0.6)] * 3),
    length=st.sampled_from(NEEDLE_LENGTH_PRESETS_MM),
)
def test_max_safe_depth_is_where_the_first_depth_finding_appears(model, skin_points, index, tilt, length):
    pts, normals = skin_points
    i = index % len(pts)
    direction = _unit(normals[i] + np.array(tilt))
    needle = Needle("p", pts[i], direction, 1.0, length, 0.25)
    limit = model.check_needle(needle).max_safe_depth_mm
    assume(limit > 0.05)
    depth_rules = rules.depth_rule_ids(model.atlas.rules)
    at = model.check_needle(needle.with_changes(depth_mm=limit))
    assert not ({f.rule for f in at.findings} & depth_rules), at.to_text()
    assert at.max_safe_depth_mm == pytest.approx(limit, abs=1e-9)
    beyond = model.check_needle(needle.with_changes(depth_mm=limit + 0.05))
    assert {f.rule for f in beyond.findings} & depth_rules, beyond.to_text()
    assert beyond.status != "safe"


# ---------------------------------------------------------------------- entering the body
@pytest.fixture(scope="module")
def oracle(model):
    return SkinOracle(model)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(
    index=st.integers(0, 10**9),
    offset_mm=st.one_of(st.floats(-12.0, 12.0), st.floats(-1.0, 1.0)),
    direction=st.tuples(*[st.floats(-1.0, 1.0)] * 3),
    inward=st.floats(-1.0, 1.0),
    depth=st.one_of(st.floats(5e-324, 1e-3), st.floats(0.01, 4.0), st.floats(4.0, 120.0)),
)
def test_no_needle_that_fails_to_enter_the_body_is_ever_safe(
    model, skin_points, oracle, index, offset_mm, direction, inward, depth
):
    pts, normals = skin_points
    i = index % len(pts)
    raw = np.array(direction) + inward * normals[i]
    assume(np.linalg.norm(raw) > 1e-3)
    entry = pts[i] - normals[i] * offset_mm  # positive offsets lie outside the skin
    needle = Needle("p", entry, raw, depth, max(150.0, depth), 0.25)
    report = model.check_needle(needle)
    enters = enters_the_body(oracle, model.atlas.rules.entry.max_distance_mm, entry, needle.tip_mm)
    if enters is False:
        assert report.status != "safe", report.to_text()
        assert {f.rule for f in report.findings} & {
            "needle_points_out_of_skin",
            "entry_on_skin",
            "needle_misses_skin",
            "tip_not_beneath_skin",
        }, report.to_text()
