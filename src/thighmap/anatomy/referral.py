"""Where a trigger point refers pain, as a region of the skin (no Qt).

A trigger point's ``referral_region`` in landmarks.json is one or more zones, each a band
along the thigh and a sector around it, stated relative to the skin so that it follows
the patient fitting:

- ``z_range``: from the popliteal crease (0) to the gluteal fold (1), the two skin
  landmarks on the posterior midline; values below 0 reach toward the leg, above 1
  toward the buttock;
- ``sector_deg``: around the thigh's centre at each level (the centroid of the skin's
  cross-section there), 0 posterior, +90 lateral, -90 medial, +-180 anterior;
- ``kind``: "strong" (the zone the summaries call strong or main) or "diffuse" (the
  spill-over the summaries call diffuse or occasional).

:func:`region_weights` gives every skin vertex a weight in [0, 1]: 1 inside a strong
zone, :data:`DIFFUSE_WEIGHT` inside a diffuse one, fading to 0 over a narrow edge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ZONE_KINDS = ("strong", "diffuse")
DIFFUSE_WEIGHT = 0.35  # drawing: a diffuse zone is shaded about a third as strongly as a strong one
EDGE_MM = 20.0  # drawing: zones fade out over this length along the thigh ...
EDGE_DEG = 20.0  # ... and this angle around it (the patterns have no sharp borders)
LEVEL_BIN_MM = 10.0  # the skin's centre is taken per band of this height
LOWER_LANDMARK, UPPER_LANDMARK = "popliteal_crease", "gluteal_fold"


@dataclass(frozen=True)
class ReferralZone:
    kind: str  # "strong" or "diffuse"
    z_range: tuple[float, float]  # fractions, popliteal crease 0 to gluteal fold 1
    sector_deg: tuple[float, float]  # around the thigh: 0 posterior, +90 lateral, -90 medial


@dataclass(frozen=True)
class ReferralRegion:
    zones: tuple[ReferralZone, ...]
    reasoning: str  # how the zones were read from the referral text and its sources
    not_drawn: str = ""  # what of the pattern lies off the model (inside the pelvis, the calf)


Error = Callable[[Path, str, Any, str], Exception]  # (file, field, value, message) -> error


def parse_referral_region(path: Path, where: str, raw: Any, error: Error) -> ReferralRegion | None:
    """The ``referral_region`` field of a trigger point (None when absent); bad values raise
    ``error(file, field, value, message)``."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise error(path, where, raw, "expected an object with 'zones' and 'reasoning'")
    zones_raw = raw.get("zones")
    if not isinstance(zones_raw, list) or not zones_raw:
        raise error(path, f"{where}.zones", zones_raw, "expected a non-empty list of zones")
    zones = tuple(_parse_zone(path, f"{where}.zones[{i}]", z, error) for i, z in enumerate(zones_raw))
    reasoning = raw.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise error(path, f"{where}.reasoning", reasoning, "expected non-empty text saying how it was read")
    not_drawn = raw.get("not_drawn", "")
    if not isinstance(not_drawn, str):
        raise error(path, f"{where}.not_drawn", not_drawn, "expected text")
    return ReferralRegion(zones, reasoning, not_drawn)


def _pair(
    path: Path, where: str, value: Any, lo: float, hi: float, unit: str, error: Error
) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(np.isfinite(v) for v in value)
    ):
        raise error(path, where, value, f"expected [from, to], two finite numbers ({unit})")
    a, b = float(value[0]), float(value[1])
    if not (lo <= a < b <= hi):
        raise error(path, where, value, f"expected {lo:g} <= from < to <= {hi:g} ({unit})")
    return a, b


def _parse_zone(path: Path, where: str, raw: Any, error: Error) -> ReferralZone:
    if not isinstance(raw, dict):
        raise error(path, where, raw, "expected an object with kind, z_range and sector_deg")
    kind = raw.get("kind")
    if kind not in ZONE_KINDS:
        raise error(path, f"{where}.kind", kind, f"expected one of {', '.join(ZONE_KINDS)}")
    z = _pair(
        path, f"{where}.z_range", raw.get("z_range"), -1.0, 2.0, "popliteal crease 0, gluteal fold 1", error
    )
    s = _pair(
        path, f"{where}.sector_deg", raw.get("sector_deg"), -180.0, 180.0, "degrees, 0 posterior", error
    )
    return ReferralZone(str(kind), z, s)


def skin_levels(vertices: np.ndarray, lower_z_mm: float, upper_z_mm: float) -> np.ndarray:
    """Each vertex's level: 0 at ``lower_z_mm`` (the popliteal crease), 1 at ``upper_z_mm``
    (the gluteal fold)."""
    span = upper_z_mm - lower_z_mm
    if not span > 0:
        raise ValueError(
            f"the gluteal fold (z {upper_z_mm}) must lie above the popliteal crease (z {lower_z_mm})"
        )
    return (np.asarray(vertices, float)[:, 2] - lower_z_mm) / span


def around_deg(vertices: np.ndarray, lateral_sign: float = 1.0) -> np.ndarray:
    """Each vertex's angle around the thigh (degrees): about the centroid of the skin's
    vertices in its band of height, 0 posterior (+y), +90 lateral, -90 medial. Lateral
    is +x on a right thigh (``lateral_sign`` 1) and -x on a left one (-1)."""
    v = np.asarray(vertices, float)
    band = np.floor(v[:, 2] / LEVEL_BIN_MM).astype(np.int64)
    _, inverse, counts = np.unique(band, return_inverse=True, return_counts=True)
    cx = np.bincount(inverse, v[:, 0]) / counts
    cy = np.bincount(inverse, v[:, 1]) / counts
    return np.degrees(np.arctan2(lateral_sign * (v[:, 0] - cx[inverse]), v[:, 1] - cy[inverse]))


def _ramp(inside: np.ndarray, edge: float) -> np.ndarray:
    """0 well outside, 0.5 at the border, 1 well inside (``inside``: signed distance into the zone)."""
    return np.clip(0.5 + inside / edge, 0.0, 1.0)


def region_weights(
    region: ReferralRegion,
    vertices: np.ndarray,
    lower_z_mm: float,
    upper_z_mm: float,
    lateral_sign: float = 1.0,
) -> np.ndarray:
    """The weight (V,) in [0, 1] of the referral region at every skin vertex: the strongest
    zone that covers it (strong 1, diffuse DIFFUSE_WEIGHT), fading out at the zones' edges."""
    v = np.asarray(vertices, float)
    level = skin_levels(v, lower_z_mm, upper_z_mm)
    angle = around_deg(v, lateral_sign)
    span = upper_z_mm - lower_z_mm
    weights = np.zeros(len(v))
    for zone in region.zones:
        lo, hi = zone.z_range
        along = _ramp(np.minimum(level - lo, hi - level) * span, EDGE_MM)
        a0, a1 = zone.sector_deg
        around = _ramp(np.minimum(angle - a0, a1 - angle), EDGE_DEG)
        strength = 1.0 if zone.kind == "strong" else DIFFUSE_WEIGHT
        weights = np.maximum(weights, strength * along * around)
    return weights


def region_weights_on_atlas(region: ReferralRegion, atlas: Any, side: str = "right") -> np.ndarray:
    """:func:`region_weights` on the atlas's skin (fitted or not, mirrored for a left thigh:
    its landmarks and skin are in the same frame)."""
    return region_weights(
        region,
        atlas.mesh("skin").vertices,
        float(atlas.landmark(LOWER_LANDMARK)[2]),
        float(atlas.landmark(UPPER_LANDMARK)[2]),
        -1.0 if side == "left" else 1.0,
    )


__all__ = [
    "DIFFUSE_WEIGHT",
    "ReferralRegion",
    "ReferralZone",
    "around_deg",
    "parse_referral_region",
    "region_weights",
    "region_weights_on_atlas",
    "skin_levels",
]
