"""Measuring the generated meshes the way an anatomist reads sections.

Independent of the generator: everything here starts from the committed triangle
surfaces (via voxel parity), never from the recipes in landmarks.json.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
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


# --------------------------------------------------------------------------- along a muscle

# A section at least this large counts as fleshy belly rather than tendon: a round cord of
# radius 6.5 mm, the radius above which the viewer draws a muscle's rings as muscle rather
# than tendon (thighmap.viz.scene.BELLY_MM).
FLESH_MM2 = float(np.pi * 6.5**2)


@dataclass(frozen=True)
class Profile:
    """Horizontal sections of one structure every `step` mm, top (proximal) first."""

    zs: np.ndarray  # levels with a non-empty section
    areas_mm2: np.ndarray
    centroids: np.ndarray  # (n, 3): section centroid x, y and the level z

    def path_mm(self, i0: int = 0, i1: int | None = None) -> float:
        """Length of the line through the section centroids from level i0 to i1."""
        c = self.centroids[i0 : (len(self.zs) if i1 is None else i1 + 1)]
        return float(np.sum(np.linalg.norm(np.diff(c, axis=0), axis=1)))

    def fleshy(self) -> tuple[int, int]:
        """First and last level whose section is at least FLESH_MM2."""
        idx = np.nonzero(self.areas_mm2 >= FLESH_MM2)[0]
        return int(idx.min()), int(idx.max())


_PROFILES: dict[tuple[int, str, float], Profile] = {}


def profile(atlas, sid: str, step: float = 2.0) -> Profile:
    key = (id(atlas), sid, step)
    if key not in _PROFILES:
        mesh = atlas.mesh(sid)
        lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
        xs = np.arange(np.floor(lo[0]) - 1.0, hi[0] + 1.0, STEP_MM)
        ys = np.arange(np.floor(lo[1]) - 1.0, hi[1] + 1.0, STEP_MM)
        zs = np.arange(np.floor(hi[2]) - 0.5, lo[2], -step)
        inside = inside_grid(mesh, xs, ys, zs)
        keep, areas, cents = [], [], []
        for k, z in enumerate(zs):
            ix, iy = np.nonzero(inside[:, :, k])
            if len(ix) == 0:
                continue
            keep.append(z)
            areas.append(len(ix) * STEP_MM**2)
            cents.append([xs[ix].mean(), ys[iy].mean(), z])
        _PROFILES[key] = Profile(np.array(keep), np.array(areas), np.array(cents))
    return _PROFILES[key]


def perimeters_mm(atlas, sid: str, zs: np.ndarray) -> np.ndarray:
    """Length of the outline of the structure's horizontal section at each level (exact
    polygon of the triangle surface cut by the plane)."""
    mesh = atlas.mesh(sid)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    out = np.zeros(len(zs))
    for k, path in enumerate(tm.section_multiplane([0.0, 0.0, 0.0], [0.0, 0.0, 1.0], list(zs))):
        if path is not None:
            out[k] = sum(float(np.sum(np.linalg.norm(np.diff(d, axis=0), axis=1))) for d in path.discrete)
    return out


# --------------------------------------------------------------------------- under the skin


def skin_crossings(atlas, points: np.ndarray) -> np.ndarray:
    """For each point, how often a horizontal ray from it, pointing away from the centre
    of the skin's ring at its level, crosses the skin shell.

    The skin is a closed shell (outer surface, inner surface 2 mm deeper, joined at the
    cut ends) and each of its sections is star-shaped about that centre, so: 2 for a
    point under the skin, 1 for a point within the skin's thickness, 0 for a point
    outside the body. Exact up to floating point: ray against triangle."""
    mesh = atlas.mesh("skin")
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    v = mesh.vertices
    levels = np.unique(np.round(v[:, 2], 6))
    ring_z = np.round(v[:, 2], 6)
    centres = np.array([v[ring_z == z, :2].mean(axis=0) for z in levels])
    pts = np.asarray(points, float)
    cx = np.interp(pts[:, 2], levels, centres[:, 0])
    cy = np.interp(pts[:, 2], levels, centres[:, 1])
    d = np.column_stack([pts[:, 0] - cx, pts[:, 1] - cy, np.zeros(len(pts))])
    norm = np.linalg.norm(d, axis=1)
    d[norm < 1e-9] = [1.0, 0.0, 0.0]
    d /= np.linalg.norm(d, axis=1)[:, None]
    loc, ray_idx, _ = tm.ray.intersects_location(pts, d, multiple_hits=True)
    dist = np.round(np.einsum("ij,ij->i", loc - pts[ray_idx], d[ray_idx]), 6)
    unique = np.unique(np.column_stack([ray_idx, dist]), axis=0)  # a hit on a shared edge counts once
    return np.bincount(unique[:, 0].astype(int), minlength=len(pts))


def tube_section_outline(atlas, sid: str, z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A nerve's or vessel's outline square to its course at level z: the closed loop
    (K,3, first point repeated last) where the plane through its centroid at z, normal
    to the line joining its centroids 3 mm above and below, cuts its triangle surface;
    with the plane's origin and unit normal."""
    mesh = atlas.mesh(sid)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    above, below = (np.r_[centroid(section(atlas, sid, z + dz)), z + dz] for dz in (3.0, -3.0))
    normal = (above - below) / np.linalg.norm(above - below)
    origin = np.r_[centroid(section(atlas, sid, z)), z]
    cut = tm.section(plane_origin=origin, plane_normal=normal)
    # the closed outline around the centroid (the plane may cut the tube elsewhere too)
    loop = min(cut.discrete, key=lambda d: float(np.linalg.norm(d.mean(axis=0) - origin)))
    return loop, origin, normal


def tube_cross_section_mm2(atlas, sid: str, z: float) -> float:
    """Area of a nerve's or vessel's section square to its course at level z (all
    measured on the triangle surface: tube_section_outline)."""
    loop, origin, _ = tube_section_outline(atlas, sid, z)
    return float(0.5 * np.linalg.norm(np.cross(loop[:-1] - origin, loop[1:] - origin).sum(axis=0)))


def tube_section_extent_mm(atlas, sid: str, z: float) -> tuple[float, float]:
    """(thickness, width) of the section square to the course at level z: the least and
    the largest extent of its outline over directions in the plane (every 0.5 degree)."""
    loop, _, normal = tube_section_outline(atlas, sid, z)
    e1 = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    angle = np.radians(np.arange(0.0, 180.0, 0.5))
    directions = np.cos(angle)[:, None] * e1 + np.sin(angle)[:, None] * e2
    extent = np.ptp(loop @ directions.T, axis=0)
    return float(extent.min()), float(extent.max())


def lateral_entry_toward_femur(atlas, z: float) -> tuple[np.ndarray, float]:  # type: ignore[no-untyped-def]
    """The point where a line along -x from the lateral side, through the centre of the
    femur's shaft at level z, meets the outer skin, and the distance from it to that
    centre (a needle of that depth ends in the bone)."""
    import trimesh

    femur = atlas.mesh("femur").vertices
    centre = femur[np.abs(femur[:, 2] - z) < 3.0].mean(axis=0)
    skin = atlas.mesh("skin")
    hits, _, _ = trimesh.Trimesh(skin.vertices, skin.faces, process=False).ray.intersects_location(
        np.array([[centre[0] + 400.0, centre[1], centre[2]]]), np.array([[-1.0, 0.0, 0.0]])
    )
    entry = hits[np.argmax(hits[:, 0])]
    return entry, float(entry[0] - centre[0])
