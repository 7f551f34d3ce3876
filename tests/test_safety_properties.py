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

from thighmap.planning import NEEDLE_LENGTH_PRESETS_MM, Needle
from thighmap.safety import rules
from thighmap.safety.engine import SafetyModel
from thighmap.safety.geometry import point_triangle_closest

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# the oracle asserts only away from its surfaces' boundaries (rounding of two methods)
CLEAR_MM = 0.05


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
class SkinOracle:
    """Brute force over every triangle: distance to the outer skin, and whether a point
    lies in the skin layer or inside the body (generalised winding numbers)."""

    def __init__(self, model: SafetyModel) -> None:
        outer = model.outer_skin()
        self.outer = outer.vertices[outer.faces]
        skin = model.atlas.mesh("skin")
        self.skin = skin.vertices[skin.faces]

    @staticmethod
    def _distance(tri: np.ndarray, p: np.ndarray) -> float:
        d, _ = point_triangle_closest(np.broadcast_to(p, (len(tri), 3)), tri[:, 0], tri[:, 1], tri[:, 2])
        return float(np.min(d))

    @staticmethod
    def _winding(tri: np.ndarray, p: np.ndarray) -> float:
        a, b, c = tri[:, 0] - p, tri[:, 1] - p, tri[:, 2] - p
        la, lb, lc = (np.linalg.norm(v, axis=1) for v in (a, b, c))
        det = np.einsum("ij,ij->i", a, np.cross(b, c))
        div = (
            la * lb * lc
            + np.einsum("ij,ij->i", a, b) * lc
            + np.einsum("ij,ij->i", b, c) * la
            + np.einsum("ij,ij->i", c, a) * lb
        )
        return float(np.sum(2.0 * np.arctan2(det, div)) / (4.0 * np.pi))

    def distance_to_outer(self, p: np.ndarray) -> float:
        return self._distance(self.outer, p)

    def tip_state(self, p: np.ndarray) -> str:
        """'beneath' (inside the body, below the skin), 'skin', 'outside' or 'unsure'
        (within CLEAR_MM of the skin's surfaces)."""
        if self._distance(self.skin, p) < CLEAR_MM:
            return "unsure"
        if abs(self._winding(self.skin, p)) > 0.5:
            return "skin"
        return "beneath" if self._winding(self.outer, p) > 0.5 else "outside"


@pytest.fixture(scope="module")
def oracle(model):
    return SkinOracle(model)


def _enters(oracle: SkinOracle, max_distance: float, entry: np.ndarray, tip: np.ndarray) -> bool | None:
    """Does the needle enter the body through the skin at its entry? None: too close to
    call. A needle enters when its entry is within the stated distance of the skin and
    its tip lies beneath the skin."""
    d = oracle.distance_to_outer(entry)
    if d > max_distance + CLEAR_MM:
        return False
    state = oracle.tip_state(tip)
    if state in ("skin", "outside"):
        return False
    if state == "unsure" or d > max_distance - CLEAR_MM:
        return None
    return True


@settings(
    max_examples=60,
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
    enters = _enters(oracle, model.atlas.rules.entry.max_distance_mm, entry, needle.tip_mm)
    if enters is False:
        assert report.status != "safe", report.to_text()
        assert {f.rule for f in report.findings} & {
            "needle_points_out_of_skin",
            "entry_on_skin",
            "needle_misses_skin",
            "tip_not_beneath_skin",
        }, report.to_text()
