"""Other ways to state a needle, and side mirroring.

A needle in a plan file may be stated, instead of with ``entry_mm`` + ``direction``:

* by a trigger point: ``"trigger_point": "<id>"`` takes that site's recommended
  technique from the atlas (entry, direction, depth, needle length, gauge, target);
  any of those fields given explicitly in the needle overrides the technique;
* by angles: ``"entry_mm"`` plus ``"angles_deg": {"tilt": t, "azimuth": a}`` relative
  to the inward skin normal at the entry point (see :func:`direction_from_angles`).

Both resolve, at load time, to the explicit form; the file keeps the original
statement. The atlas describes the right thigh (``design.md``, "Coordinate frame");
for a left-side plan, whose coordinates are mirrored in ``x``, inputs are mirrored
into the atlas frame and the results mirrored back, so that a trigger point or an
azimuth "toward lateral" means the same anatomy on both sides.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol, runtime_checkable

import numpy as np

from thighmap import sides
from thighmap.planning.model import Needle, Plan

_Z = np.array([0.0, 0.0, 1.0])

TECHNIQUE_KEYS: tuple[str, ...] = (
    "entry_mm",
    "direction",
    "depth_mm",
    "needle_length_mm",
    "gauge_mm",
    "target",
)


@runtime_checkable
class AtlasForPlanning(Protocol):
    """What the planning package needs from the atlas (right-thigh frame, mm)."""

    structure_ids: set[str]
    trigger_point_ids: set[str]

    def trigger_point_technique(self, tp_id: str) -> dict:
        """Recommended technique for a trigger point.

        Keys: ``entry_mm`` (3 numbers), ``direction`` (3 numbers), ``depth_mm``,
        ``needle_length_mm``, ``gauge_mm``, ``target`` (structure id or ``None``).
        """
        ...

    def skin_surface_frame(self, point_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(closest skin point, inward unit normal there)`` for a point near the skin."""
        ...


class AngleConventionError(ValueError):
    """The tangent-plane reference direction is undefined at this skin normal."""


def tangent_frame(
    inward_normal: np.ndarray, side: str = "right"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(n, proximal, lateral)``: unit inward normal and the two tangent references.

    ``proximal`` is ``+z`` projected onto the tangent plane. ``lateral`` is the tangent
    direction 90 degrees from it: ``proximal x n`` on the right side, which is ``+x``
    (lateral) on the posterior surface of the thigh, the surface where hamstrings are
    needled. On the left side (x mirrored) it is ``-(proximal x n)``, again lateral.
    Raises :class:`AngleConventionError` where the normal is (nearly) parallel to the
    long axis and "proximal" has no direction in the tangent plane.
    """
    n = np.asarray(inward_normal, dtype=float).reshape(3)
    norm = float(np.linalg.norm(n))
    if not math.isfinite(norm) or norm == 0.0:
        raise ValueError("inward normal must be a finite, non-zero vector")
    n = n / norm
    p = _Z - float(_Z @ n) * n
    p_norm = float(np.linalg.norm(p))
    if p_norm < 1e-6:
        raise AngleConventionError(
            "the skin normal is parallel to the long axis of the thigh here, so "
            "'proximal' has no direction in the skin's tangent plane"
        )
    p = p / p_norm
    lateral = np.cross(p, n)
    if side == "left":
        lateral = -lateral
    return n, p, lateral


def direction_from_angles(
    tilt_deg: float, azimuth_deg: float, inward_normal: np.ndarray, side: str = "right"
) -> np.ndarray:
    """Unit needle direction from angles relative to the inward skin normal.

    * ``tilt_deg``: angle between the needle and the inward normal; 0 is straight in,
      perpendicular to the skin; it must be below 90 for the needle to enter the body.
    * ``azimuth_deg``: the direction the needle is tilted toward, measured in the
      skin's tangent plane from *proximal* (``+z`` projected onto the tangent plane,
      azimuth 0) toward *lateral* (``+x`` on the posterior surface of a right thigh,
      azimuth 90); 180 is distal, 270 medial.

    The result is ``cos(tilt) n + sin(tilt) (cos(az) proximal + sin(az) lateral)``,
    see :func:`tangent_frame`. ``inward_normal`` and the result are in the plan's frame
    (mirrored in ``x`` for ``side="left"``).
    """
    n, p, lat = tangent_frame(inward_normal, side)
    t = math.radians(tilt_deg)
    a = math.radians(azimuth_deg)
    d = math.cos(t) * n + math.sin(t) * (math.cos(a) * p + math.sin(a) * lat)
    return d / np.linalg.norm(d)


def angles_from_direction(
    direction: np.ndarray, inward_normal: np.ndarray, side: str = "right"
) -> tuple[float, float]:
    """Inverse of :func:`direction_from_angles`: ``(tilt_deg, azimuth_deg)``.

    ``tilt_deg`` is in [0, 180] (above 90 points out of the body); ``azimuth_deg`` is in
    [0, 360), and 0 when the tilt is (numerically) zero and the azimuth is undefined.
    """
    d = np.asarray(direction, dtype=float).reshape(3)
    d_norm = float(np.linalg.norm(d))
    if not math.isfinite(d_norm) or d_norm == 0.0:
        raise ValueError("direction must be a finite, non-zero vector")
    d = d / d_norm
    n, p, lat = tangent_frame(inward_normal, side)
    along = float(d @ n)
    tp, tl = float(d @ p), float(d @ lat)
    tangential = math.hypot(tp, tl)
    tilt = math.degrees(math.atan2(tangential, along))
    if tangential < 1e-12:
        return tilt, 0.0
    azimuth = math.degrees(math.atan2(tl, tp)) % 360.0
    if azimuth >= 360.0:  # -tiny % 360 rounds to 360.0
        azimuth = 0.0
    return tilt, azimuth


def trigger_point_base(atlas: AtlasForPlanning, tp_id: str, side: str) -> dict[str, Any]:
    """The atlas's technique for ``tp_id`` expressed in the plan's frame.

    Only the keys of :data:`TECHNIQUE_KEYS` present in the atlas answer are returned;
    vectors as plain lists, mirrored in ``x`` for a left-side plan. Values are not
    validated here (the loader checks them like explicit values).
    """
    technique = atlas.trigger_point_technique(tp_id)
    out: dict[str, Any] = {}
    for key in TECHNIQUE_KEYS:
        if key not in technique:
            continue
        value = technique[key]
        if key in ("entry_mm", "direction"):
            value = np.asarray(value, dtype=float).reshape(-1).tolist()
            if sides.is_mirrored(side):
                value = sides.mirror_vector(value)
        out[key] = value
    return out


def direction_at_entry(
    atlas: AtlasForPlanning,
    entry_mm: np.ndarray,
    tilt_deg: float,
    azimuth_deg: float,
    side: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Direction from angles at ``entry_mm`` (plan frame): ``(direction, inward normal)``.

    The normal is the atlas's inward skin normal at the skin point closest to the
    entry. For a left-side plan the entry is mirrored into the atlas frame, the
    direction computed there with the right-side convention, and mirrored back.
    """
    entry = np.asarray(entry_mm, dtype=float).reshape(3)
    atlas_entry = sides.to_atlas_frame(entry, side)
    _skin_point, normal = atlas.skin_surface_frame(atlas_entry)
    direction = direction_from_angles(tilt_deg, azimuth_deg, np.asarray(normal, dtype=float))
    normal = np.asarray(normal, dtype=float).reshape(3)
    return sides.from_atlas_frame(direction, side), sides.from_atlas_frame(normal, side)


def mirror_needle(needle: Needle) -> Needle:
    """The needle mirrored in ``x`` (entry and direction), statement included; see
    :func:`thighmap.sides.mirror_needle`."""
    return sides.mirror_needle(needle)


def mirror_x(plan: Plan) -> Plan:
    """The plan for the other thigh: every entry and direction with x negated, side
    flipped. Applying it twice gives back the original plan."""
    return dataclasses.replace(
        plan, side=sides.other_side(plan.side), needles=[sides.mirror_needle(n) for n in plan.needles]
    )
