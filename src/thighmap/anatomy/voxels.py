"""Inside/outside classification of grid points by ray parity along z (vectorised).

Used by the anatomy tests (overlap volumes, containment) and the cross-section
panel. A vertical line through each (x, y) column is intersected with every triangle;
a grid point is inside when an odd number of crossings lie below it. The grid is
nudged by an irrational fraction of a micrometre so that no column passes exactly
through a mesh edge or vertex.
"""

from __future__ import annotations

import numpy as np

from thighmap.anatomy.meshgen import SurfaceMesh

_NUDGE_MM = 1e-4 * np.pi


def inside_grid(mesh: SurfaceMesh, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
    """Boolean array (len(xs), len(ys), len(zs)): grid points inside the closed mesh."""
    xs = np.asarray(xs, float) + _NUDGE_MM
    ys = np.asarray(ys, float) + _NUDGE_MM * 0.7
    zs = np.asarray(zs, float)
    nx, ny = len(xs), len(ys)
    out = np.zeros((nx, ny, len(zs)), dtype=bool)
    tri = mesh.vertices[mesh.faces]  # (F,3,3)
    if len(tri) == 0 or nx == 0 or ny == 0:
        return out
    lo = tri[:, :, :2].min(axis=1)
    hi = tri[:, :, :2].max(axis=1)
    ix0 = np.searchsorted(xs, lo[:, 0], side="left")
    ix1 = np.searchsorted(xs, hi[:, 0], side="right")
    iy0 = np.searchsorted(ys, lo[:, 1], side="left")
    iy1 = np.searchsorted(ys, hi[:, 1], side="right")
    cx = np.maximum(ix1 - ix0, 0)
    cy = np.maximum(iy1 - iy0, 0)
    counts = cx * cy
    keep = counts > 0
    if not np.any(keep):
        return out
    f_idx = np.repeat(np.nonzero(keep)[0], counts[keep])
    # position of each pair within its triangle's rectangle of columns
    starts = np.repeat(np.cumsum(counts[keep]) - counts[keep], counts[keep])
    local = np.arange(len(f_idx)) - starts
    gx = ix0[f_idx] + local // cy[f_idx]
    gy = iy0[f_idx] + local % cy[f_idx]
    px, py = xs[gx], ys[gy]
    a, b, c = tri[f_idx, 0], tri[f_idx, 1], tri[f_idx, 2]
    d = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        w1 = ((px - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (py - a[:, 1])) / d
        w2 = ((b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (px - a[:, 0]) * (b[:, 1] - a[:, 1])) / d
    w0 = 1.0 - w1 - w2
    hit = (d != 0) & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    zc = (w0 * a[:, 2] + w1 * b[:, 2] + w2 * c[:, 2])[hit]
    col = (gx * ny + gy)[hit]
    order = np.lexsort((zc, col))
    col, zc = col[order], zc[order]
    # crossings below each grid point, per column
    span = float(zs.max() - zs.min() + 1.0) if len(zs) else 1.0
    base = zs.min() - 1.0 if len(zs) else 0.0
    key = col * (2 * span) + (zc - base).clip(-span / 2, 1.5 * span)
    col_start = np.searchsorted(col, np.arange(nx * ny), side="left")
    grid_cols = np.arange(nx * ny)[:, None]
    vkey = grid_cols * (2 * span) + (zs[None, :] - base)
    below = np.searchsorted(key, vkey.ravel(), side="right").reshape(nx * ny, len(zs))
    below -= col_start[:, None]
    out[:] = (below % 2 == 1).reshape(nx, ny, len(zs))
    return out
