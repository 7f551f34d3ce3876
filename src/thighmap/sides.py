"""Left and right thighs: the one place where the mirror in x is written.

The atlas describes a right thigh (design.md, "Coordinate frame"); a left thigh is its
mirror image in x. Plans for the left thigh store mirrored coordinates, so every point,
direction, needle, report and surface crosses between the plan's frame and the atlas
frame through the functions here. The mirror is its own inverse.

No Qt and no other thighmap module is imported at module level, so every layer (planning,
anatomy, safety, viz, gui) can use it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import numpy as np

MIRROR_X = np.array([-1.0, 1.0, 1.0])
MIRROR_X.flags.writeable = False

T = TypeVar("T")


def other_side(side: str) -> str:
    """'left' for 'right' and the other way round (anything else unchanged)."""
    return {"right": "left", "left": "right"}.get(side, side)


def is_mirrored(side: str) -> bool:
    """Whether coordinates on this side are the atlas's mirrored in x."""
    return side == "left"


def mirror_points(points: Any) -> np.ndarray:
    """Points or directions, shape (..., 3), mirrored in x (a new float array)."""
    return np.asarray(points, dtype=float) * MIRROR_X


def mirror_vector(v: Any) -> Any:
    """One 3-vector mirrored in x, keeping its container (list, tuple or array); values
    that are not 3-vectors (or non-numeric x) are returned unchanged."""
    if isinstance(v, np.ndarray):
        return v * MIRROR_X
    if isinstance(v, list | tuple) and len(v) == 3:
        x = v[0]
        return type(v)([-x if isinstance(x, int | float) and not isinstance(x, bool) else x, *v[1:]])
    return v


def to_atlas_frame(points: Any, side: str) -> np.ndarray:
    """Points or directions of a plan on `side` in the atlas (right-thigh) frame."""
    arr = np.asarray(points, dtype=float)
    return arr * MIRROR_X if is_mirrored(side) else arr


# the mirror is its own inverse
from_atlas_frame = to_atlas_frame


def mirror_mesh(mesh: T) -> T:
    """A surface (anything with `vertices` and `faces`, rebuilt with its own type)
    mirrored in x, faces reversed so it stays outward-oriented."""
    cls = type(mesh)
    return cls(np.asarray(mesh.vertices) * MIRROR_X, np.asarray(mesh.faces)[:, ::-1].copy())  # type: ignore[attr-defined, call-arg]


def mesh_on_side(mesh: T, side: str) -> T:
    """An atlas surface as drawn or checked on `side`."""
    return mirror_mesh(mesh) if is_mirrored(side) else mesh


def _mirror_statement(source: dict[str, Any]) -> dict[str, Any]:
    out = dict(source)
    for key in ("stated", "resolved"):
        if isinstance(source.get(key), dict):
            block = dict(source[key])
            for vec_key in ("entry_mm", "direction"):
                if vec_key in block:
                    block[vec_key] = mirror_vector(block[vec_key])
            out[key] = block
    return out


def mirror_needle(needle: T) -> T:
    """A needle (planning.Needle) mirrored in x: entry, direction and the statement it
    came from. Angles and trigger-point ids are anatomical (medial/lateral), so they stay
    as stated; the mirrored needle resolves to the mirrored geometry on the other side."""
    return dataclasses.replace(
        needle,  # type: ignore[type-var]
        entry_mm=np.asarray(needle.entry_mm) * MIRROR_X,  # type: ignore[attr-defined]
        direction=np.asarray(needle.direction) * MIRROR_X,  # type: ignore[attr-defined]
        source=_mirror_statement(needle.source),  # type: ignore[attr-defined]
    )


def mirror_report(report: T) -> T:
    """A needle report (safety.report.NeedleReport) mirrored in x, in place and returned:
    its entry, direction and the closest points of its nearest danger and caution
    structures.
    Distances, depths and findings do not change under a mirror."""
    for attr in ("nearest_danger", "nearest_caution"):
        nd = getattr(report, attr, None)
        if nd is not None:
            setattr(
                report,
                attr,
                dataclasses.replace(
                    nd,
                    point_on_structure_mm=np.asarray(nd.point_on_structure_mm) * MIRROR_X,
                    point_on_needle_mm=np.asarray(nd.point_on_needle_mm) * MIRROR_X,
                ),
            )
    report.entry_mm = np.asarray(report.entry_mm) * MIRROR_X  # type: ignore[attr-defined]
    report.direction = np.asarray(report.direction) * MIRROR_X  # type: ignore[attr-defined]
    return report
