"""What lies at a point of a surface (no Qt): the nearest point of a triangle mesh, a
per-vertex value interpolated there, and the structure whose surface a point lies on.

The window's measuring tool and its map read-out use these on points picked in the 3D
view; the nearest face is found exactly (safety.geometry.point_triangle_closest) among
the faces around the point's nearest vertices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from thighmap.anatomy.meshgen import SurfaceMesh
from thighmap.safety.geometry import point_triangle_closest

NEAREST_VERTICES = 24  # the faces around this many nearest vertices are searched
ON_SURFACE_MM = 1.0  # a point this close to a structure's surface lies on it


@dataclass(frozen=True)
class SurfacePoint:
    """The point of a mesh nearest to a query point."""

    point_mm: np.ndarray  # (3,) on the surface
    distance_mm: float  # from the query point
    face: int  # index into the mesh's faces
    weights: np.ndarray  # (3,) barycentric weights of the face's vertices (sum 1)


def nearest_on_surface(mesh: SurfaceMesh, point_mm: Any, k: int = NEAREST_VERTICES) -> SurfacePoint:
    """The point of ``mesh`` nearest to ``point_mm``, searched among the faces that touch
    its ``k`` nearest vertices (exact for a point on or near the surface)."""
    p = np.asarray(point_mm, float).reshape(3)
    verts = np.asarray(mesh.vertices, float)
    faces = np.asarray(mesh.faces, np.int64)
    if len(faces) == 0:
        raise ValueError("the mesh has no faces")
    d2 = np.einsum("ij,ij->i", verts - p, verts - p)
    k = min(k, len(verts))
    near = np.argpartition(d2, k - 1)[:k]
    mask = np.zeros(len(verts), bool)
    mask[near] = True
    cand = np.flatnonzero(mask[faces].any(axis=1))
    tri = verts[faces[cand]]
    dist, closest = point_triangle_closest(np.repeat(p[None], len(cand), 0), tri[:, 0], tri[:, 1], tri[:, 2])
    best = int(np.argmin(dist))
    face = int(cand[best])
    q = closest[best]
    return SurfacePoint(q, float(dist[best]), face, barycentric(verts[faces[face]], q))


def barycentric(triangle: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Barycentric weights (3,) of a point of the triangle (3,3); a degenerate triangle
    gives its nearest vertex all the weight."""
    a, b, c = np.asarray(triangle, float)
    v0, v1, v2 = b - a, c - a, np.asarray(point, float) - a
    d00, d01, d11 = v0 @ v0, v0 @ v1, v1 @ v1
    d20, d21 = v2 @ v0, v2 @ v1
    den = d00 * d11 - d01 * d01
    if den <= 1e-12 * max(d00 * d11, 1e-300):
        w = np.zeros(3)
        w[int(np.argmin(np.linalg.norm(triangle - point, axis=1)))] = 1.0
        return w
    wb = (d11 * d20 - d01 * d21) / den
    wc = (d00 * d21 - d01 * d20) / den
    w = np.clip(np.array([1.0 - wb - wc, wb, wc]), 0.0, 1.0)
    return w / w.sum()


def value_at(mesh: SurfaceMesh, values: Any, point_mm: Any) -> tuple[float, SurfacePoint]:
    """A per-vertex value of ``mesh`` at the surface point nearest ``point_mm``, linearly
    interpolated over its face (as the colours of a map are drawn), and that point."""
    vals = np.asarray(values, float)
    if vals.shape != (len(mesh.vertices),):
        raise ValueError(f"expected one value per vertex ({len(mesh.vertices)}), got shape {vals.shape}")
    at = nearest_on_surface(mesh, point_mm)
    corners = vals[np.asarray(mesh.faces)[at.face]]
    return float(at.weights @ corners), at


def structure_at(
    atlas: Any, point_mm: Any, structure_ids: Iterable[str], tolerance_mm: float = ON_SURFACE_MM
) -> str | None:
    """Of ``structure_ids`` (say the visible ones), the one whose surface is nearest to
    ``point_mm``, if that surface is within ``tolerance_mm`` of it; else None."""
    p = np.asarray(point_mm, float).reshape(3)
    best: tuple[float, str] | None = None
    for sid in structure_ids:
        mesh = atlas.mesh(sid)
        lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
        if np.any(p < lo - tolerance_mm) or np.any(p > hi + tolerance_mm):
            continue
        d = nearest_on_surface(mesh, p).distance_mm
        if d <= tolerance_mm and (best is None or d < best[0]):
            best = (d, sid)
    return None if best is None else best[1]


__all__ = ["SurfacePoint", "barycentric", "nearest_on_surface", "structure_at", "value_at"]
