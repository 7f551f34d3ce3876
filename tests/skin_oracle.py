"""A brute-force oracle of "does this needle enter the body through the skin at its
entry", independent of the engine's tissue index: every triangle of the skin, distances
and generalised winding numbers. Shared by the property tests and the file fuzz."""

from __future__ import annotations

import numpy as np

from thighmap.safety.engine import SafetyModel
from thighmap.safety.geometry import point_triangle_closest

# the oracle answers only away from its surfaces (rounding of two methods)
CLEAR_MM = 0.05


class SkinOracle:
    """Brute force over every triangle: distance to the outer skin, and whether a point
    lies in the skin layer or inside the body (generalised winding numbers)."""

    def __init__(self, model: SafetyModel) -> None:
        if model.side != "right":  # outer_skin() is drawn on the model's side; mesh() is not
            raise ValueError("the skin oracle works in the atlas (right-thigh) frame: give it a right model")
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


def enters_the_body(
    oracle: SkinOracle, max_distance: float, entry: np.ndarray, tip: np.ndarray
) -> bool | None:
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
