"""Measuring the generated meshes the way an anatomist reads sections.

Independent of the generator: everything here starts from the committed triangle
surfaces (via voxel parity), never from the recipes in landmarks.json.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from thighmap.anatomy.voxels import inside_grid

STEP_MM = 1.0
XS = np.arange(-125.0, 125.0, STEP_MM)
YS = np.arange(-125.0, 135.0, STEP_MM)


def section(atlas, sid: str, z: float) -> np.ndarray:
    """Boolean (len(XS), len(YS)) cross-section of a structure at level z."""
    return inside_grid(atlas.mesh(sid), XS, YS, np.array([float(z)]))[:, :, 0]


def centroid(mask: np.ndarray) -> np.ndarray:
    ix, iy = np.nonzero(mask)
    if len(ix) == 0:
        raise AssertionError("empty section")
    return np.array([XS[ix].mean(), YS[iy].mean()])


def area_mm2(mask: np.ndarray) -> float:
    return float(mask.sum()) * STEP_MM**2


def points(mask: np.ndarray) -> np.ndarray:
    ix, iy = np.nonzero(mask)
    return np.column_stack([XS[ix], YS[iy]])


def gap_mm(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest distance between two sections (0 when they touch or overlap)."""
    if np.any(a & b):
        return 0.0
    dist_to_b = ndimage.distance_transform_edt(~b, sampling=STEP_MM)
    return float(dist_to_b[a].min())


def body_interior(atlas, z: float) -> np.ndarray:
    """Everything enclosed by the skin at level z (skin itself excluded)."""
    skin = section(atlas, "skin", z)
    labels, _ = ndimage.label(~skin)
    outside = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
    return ~skin & ~np.isin(labels, list(outside))


def components(mask: np.ndarray) -> int:
    return int(ndimage.label(mask)[1])
