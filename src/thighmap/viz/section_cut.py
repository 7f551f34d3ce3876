"""Cutting the atlas by a plane: each structure's cut as loops in the plane's
coordinates (mm), the geometry the cross-section panel and the 3D view's section plane
draw. Exact cuts of the atlas surfaces (VTK's cutter), so a slice shows the same
geometry the 3D view and the checks use. No Qt here."""

from __future__ import annotations

import numpy as np
import pyvista as pv

from thighmap.anatomy.atlas import Atlas


def atlas_polydata(atlas: Atlas, sid: str) -> pv.PolyData:
    mesh = atlas.mesh(sid)
    cells = np.hstack([np.full((len(mesh.faces), 1), 3), mesh.faces]).astype(np.int64).ravel()
    return pv.PolyData(np.asarray(mesh.vertices, float), cells)


def cut_loops(
    poly: pv.PolyData, origin: np.ndarray, normal: np.ndarray, e1: np.ndarray, e2: np.ndarray
) -> list[np.ndarray]:
    """Closed (or open) polylines of the cut, in (e1, e2) coordinates."""
    cut = poly.slice(normal=tuple(normal), origin=tuple(origin))
    if cut.n_points == 0:
        return []
    cut = cut.strip(join=True)
    pts = np.asarray(cut.points) - origin
    uv = np.column_stack([pts @ e1, pts @ e2])
    lines = np.asarray(cut.lines)
    out: list[np.ndarray] = []
    i = 0
    while i < len(lines):
        n = int(lines[i])
        idx = lines[i + 1 : i + 1 + n]
        if n >= 3:
            out.append(uv[idx])
        i += n + 1
    return out


__all__ = ["atlas_polydata", "cut_loops"]
