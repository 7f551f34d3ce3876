"""Generate one closed, outward-oriented triangle surface per structure from its
recipe in landmarks.json.

Recipes:
- ``tube``   nerves and vessels: a smooth centreline with a radius profile, swept
             circles, hemispherical end caps; or, with a ``section`` (width and
             thickness), a flat band: swept stadiums, half-capsule end caps (see
             shapes.TubeSamples).
- ``loft``   muscles and tendons: a smooth centreline with superelliptic cross-sections
             (half-width, half-depth, angle, offset) interpolated between levels,
             ellipsoidal end caps.
- ``limb``   skin, subcutaneous fat and the deep fascia (fascia lata with the
             iliotibial tract): shells between offsets of the limb envelope.
- ``bone``   the femur: a smooth union of simple solids (signed distance functions),
             contoured on a grid and smoothed.

Everything is deterministic: the same landmarks.json gives the same vertices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from thighmap.anatomy import shapes

FloatArray = np.ndarray
IntArray = np.ndarray


@dataclass
class SurfaceMesh:
    """A triangle surface: vertices (V,3) in mm and faces (F,3) of vertex indices."""

    vertices: FloatArray
    faces: IntArray

    @property
    def n_triangles(self) -> int:
        return len(self.faces)

    def signed_volume_mm3(self) -> float:
        v = self.vertices[self.faces]
        return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)


# A loft's ends are closed by domes of LOFT_CAP_STEPS - 1 rings and a pole each, so a
# loft's vertices are: rings of `segments` vertices from start to end, then two poles.
LOFT_CAP_STEPS = 8

# --------------------------------------------------------------------------- rings


def rings_to_mesh(
    rings: FloatArray, start_pole: FloatArray | None, end_pole: FloatArray | None
) -> SurfaceMesh:
    """Stitch rings (N, n, 3) into a tube; close each end with a pole vertex.

    Ring points must run counter-clockwise seen from ahead (from +tangent), which is
    what the (u, v) section frames give; the result is then outward-oriented.
    """
    n_rings, n = rings.shape[:2]
    verts = [rings.reshape(-1, 3)]
    j = np.arange(n)
    jn = (j + 1) % n
    faces = []
    for i in range(n_rings - 1):
        a = i * n + j
        b = i * n + jn
        c = (i + 1) * n + j
        d = (i + 1) * n + jn
        faces.append(np.column_stack([a, b, c]))
        faces.append(np.column_stack([b, d, c]))
    next_index = n_rings * n
    if start_pole is not None:
        verts.append(np.asarray(start_pole, float)[None, :])
        faces.append(np.column_stack([np.full(n, next_index), jn, j]))
        next_index += 1
    if end_pole is not None:
        verts.append(np.asarray(end_pole, float)[None, :])
        last = (n_rings - 1) * n
        faces.append(np.column_stack([np.full(n, next_index), last + j, last + jn]))
    mesh = SurfaceMesh(np.vstack(verts), np.vstack(faces).astype(np.int64))
    if mesh.signed_volume_mm3() < 0:
        mesh.faces = mesh.faces[:, ::-1].copy()
    return mesh


def _superellipse(theta: FloatArray, exponent: float) -> tuple[FloatArray, FloatArray]:
    """Unit superellipse |x|^e + |y|^e = 1 at polar-like angles theta."""
    c, s = np.cos(theta), np.sin(theta)
    p = 2.0 / exponent
    return np.sign(c) * np.abs(c) ** p, np.sign(s) * np.abs(s) ** p


def _cap_rings(
    centre: FloatArray,
    tangent: FloatArray,
    section: FloatArray,
    cap_length_mm: float,
    n_steps: int,
    outward_sign: float,
) -> tuple[FloatArray, FloatArray]:
    """Rings closing a tube end as an ellipsoidal dome.

    `section` (n,3) is the end ring relative to `centre`; returns the extra rings
    (ordered away from the tube) and the pole.
    """
    rings = []
    for k in range(1, n_steps):
        phi = 0.5 * np.pi * k / n_steps
        rings.append(centre + outward_sign * tangent * cap_length_mm * np.sin(phi) + section * np.cos(phi))
    pole = centre + outward_sign * tangent * cap_length_mm
    return np.array(rings), pole


def segments_for_radius(radius_mm: float, chord_error_mm: float, minimum: int = 24) -> int:
    """Ring segments so that the inscribed polygon is within chord_error of the circle."""
    if radius_mm <= chord_error_mm:
        return minimum
    n = int(np.ceil(np.pi / np.arccos(1.0 - chord_error_mm / radius_mm)))
    return max(minimum, n + (n % 2))


# The drawn surface of a tube is set this far inside its radius, so that the committed
# mesh, whose vertices are stored as float32 (meshio.write_ply: half a unit in the last
# place is at most 3.1e-5 mm per coordinate below 1024 mm, 5.3e-5 mm as a vector), still
# lies within the safety engine's capsules (a vertex exactly on a capsule could otherwise
# be stored a few 1e-5 mm outside it).
STORE_MARGIN_MM = 1e-4


def _drawn_radii(radii_mm: FloatArray) -> FloatArray:
    r = np.asarray(radii_mm, float)
    return np.maximum(r - STORE_MARGIN_MM, 0.5 * r)


def tube_mesh(samples: shapes.TubeSamples, chord_error_mm: float = 0.012) -> SurfaceMesh:
    if samples.is_band:
        return _band_mesh(samples, chord_error_mm)
    c = samples.centres_mm
    r = _drawn_radii(samples.radii_mm)
    t = shapes.tangents(c)
    u, v = shapes.section_frames(t)
    n = segments_for_radius(float(r.max()), chord_error_mm)
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring_dirs = np.cos(theta)[None, :, None] * u[:, None, :] + np.sin(theta)[None, :, None] * v[:, None, :]
    rings = c[:, None, :] + r[:, None, None] * ring_dirs
    cap_steps = max(6, int(np.ceil(n / 6)))
    start_rings, start_pole = _cap_rings(c[0], t[0], rings[0] - c[0], r[0], cap_steps, -1.0)
    end_rings, end_pole = _cap_rings(c[-1], t[-1], rings[-1] - c[-1], r[-1], cap_steps, 1.0)
    all_rings = np.concatenate([start_rings[::-1], rings, end_rings])
    return rings_to_mesh(all_rings, start_pole, end_pole)


def _band_outline(n_arc: int, fractions: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One stadium ring, counter-clockwise from the lateral axis, as three (m,) arrays:
    the place across the flat part (-1..1, times the flat half-width) and the unit
    offset (along u, along v) from that place to the outline (times the radius).

    Each half-circle has `n_arc` segments; on each flat face the vertices lie at the
    chains (`fractions`) and halfway between them, so that every quad of the mesh stays
    within r' of one chain (shapes.TubeSamples)."""
    phi = np.linspace(-0.5 * np.pi, 0.5 * np.pi, n_arc + 1)
    cos_arc, sin_arc = np.cos(phi), np.sin(phi)
    cos_arc[[0, -1]] = 0.0  # the ends of the faces exactly: a round section welds them
    sin_arc[[0, -1]] = (-1.0, 1.0)
    stops = np.empty(2 * len(fractions) - 1)
    stops[0::2] = fractions
    stops[1::2] = (fractions[:-1] + fractions[1:]) / 2.0
    face = stops[1:-1]  # the faces' inner vertices (their ends belong to the half-circles)
    place = np.concatenate([np.ones(n_arc + 1), face[::-1], -np.ones(n_arc + 1), face])
    along_u = np.concatenate([cos_arc, np.zeros(len(face)), -cos_arc, np.zeros(len(face))])
    along_v = np.concatenate([sin_arc, np.ones(len(face)), -sin_arc, -np.ones(len(face))])
    return place, along_u, along_v


def _band_mesh(samples: shapes.TubeSamples, chord_error_mm: float) -> SurfaceMesh:
    """The swept stadium of a flat band, its ends closed by half-capsules round the end
    segments (each end's points within r of its flat part, on the outer side)."""
    c = samples.centres_mm
    r = _drawn_radii(samples.radii_mm)
    h = samples.flat_half_widths
    t = shapes.tangents(c)
    u, v = shapes.section_frames(t)
    n = segments_for_radius(float(r.max()), chord_error_mm)
    place, along_u, along_v = _band_outline(n // 2, samples.chain_fractions)

    def ring(i: int, shrink: float, lift: float, sign: float) -> FloatArray:
        across = place[:, None] * h[i] * u[i]
        offset = r[i] * (along_u[:, None] * u[i] + along_v[:, None] * v[i])
        return c[i] + across + shrink * offset + (sign * lift * r[i]) * t[i]

    rings = np.stack([ring(i, 1.0, 0.0, 0.0) for i in range(len(c))])
    cap_steps = max(6, int(np.ceil(n / 6)))
    phis = 0.5 * np.pi * np.arange(1, cap_steps) / cap_steps
    start = np.stack([ring(0, np.cos(p), np.sin(p), -1.0) for p in phis])
    end = np.stack([ring(len(c) - 1, np.cos(p), np.sin(p), 1.0) for p in phis])
    start_pole = c[0] - r[0] * t[0]
    end_pole = c[-1] + r[-1] * t[-1]
    mesh = rings_to_mesh(np.concatenate([start[::-1], rings, end]), start_pole, end_pole)
    return _weld_coincident(mesh)


def _weld_coincident(mesh: SurfaceMesh) -> SurfaceMesh:
    """Merge vertices at exactly the same place (a band's faces where it is round) and
    drop the triangles that then have two equal corners; the surface stays closed."""
    unique, first, inverse = np.unique(mesh.vertices, axis=0, return_index=True, return_inverse=True)
    if len(unique) == len(mesh.vertices):
        return mesh
    order = np.argsort(first)  # keep the vertices in their first order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    faces = rank[inverse.reshape(-1)][mesh.faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
    return SurfaceMesh(unique[order], faces[keep])


# --------------------------------------------------------------------------- loft


@dataclass(frozen=True)
class LoftSamples:
    centres_mm: FloatArray  # (N,3) points on the centreline
    half_width_mm: FloatArray  # (N,) along u (medio-lateral)
    half_depth_mm: FloatArray  # (N,) along v (antero-posterior)
    angle_deg: FloatArray  # (N,) rotation of the section in the (u, v) plane
    offset_mm: FloatArray  # (N,2) shift of the section centre in (u, v)


def _station_parameters(recipe: Mapping[str, Any], centres: FloatArray, s: FloatArray) -> FloatArray:
    """Map each section's `z_mm` (or `at`) to normalised arc length."""
    stations = []
    for sec in recipe["sections"]:
        if "at" in sec:
            stations.append(float(sec["at"]))
        else:
            z = float(sec["z_mm"])
            zs = centres[:, 2]
            order = np.argsort(zs)
            stations.append(float(np.interp(z, zs[order], s[order])))
    return np.array(stations)


def sample_loft(recipe: Mapping[str, Any], spacing_mm: float = 4.0) -> LoftSamples:
    centres, s = shapes.smooth_centreline(np.array(recipe["centreline_mm"], float), spacing_mm)
    stations = _station_parameters(recipe, centres, s)
    order = np.argsort(stations)
    secs = [recipe["sections"][i] for i in order]
    st = stations[order]
    vals = np.array(
        [
            [
                sec["half_width_mm"],
                sec["half_depth_mm"],
                sec.get("angle_deg", 0.0),
                *sec.get("offset_mm", [0.0, 0.0]),
            ]
            for sec in secs
        ],
        float,
    )
    prof = shapes.interpolate_profile(st, vals, s)
    return LoftSamples(centres, prof[:, 0], prof[:, 1], prof[:, 2], prof[:, 3:5])


def loft_mesh(recipe: Mapping[str, Any]) -> SurfaceMesh:
    spacing = float(recipe.get("spacing_mm", 4.0))
    smp = sample_loft(recipe, spacing)
    n = int(recipe.get("segments", 48))
    exponent = float(recipe.get("squareness", 2.2))
    c = smp.centres_mm
    t = shapes.tangents(c)
    u, v = shapes.section_frames(t)
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    px, py = _superellipse(theta, exponent)
    ang = np.radians(smp.angle_deg)[:, None]
    lx = smp.half_width_mm[:, None] * px[None, :]
    ly = smp.half_depth_mm[:, None] * py[None, :]
    rx = lx * np.cos(ang) - ly * np.sin(ang) + smp.offset_mm[:, 0:1]
    ry = lx * np.sin(ang) + ly * np.cos(ang) + smp.offset_mm[:, 1:2]
    rings = c[:, None, :] + rx[..., None] * u[:, None, :] + ry[..., None] * v[:, None, :]
    steps = LOFT_CAP_STEPS
    cap0 = 0.9 * min(smp.half_width_mm[0], smp.half_depth_mm[0])
    cap1 = 0.9 * min(smp.half_width_mm[-1], smp.half_depth_mm[-1])
    centre0 = rings[0].mean(axis=0)
    centre1 = rings[-1].mean(axis=0)
    start_rings, start_pole = _cap_rings(centre0, t[0], rings[0] - centre0, cap0, steps, -1.0)
    end_rings, end_pole = _cap_rings(centre1, t[-1], rings[-1] - centre1, cap1, steps, 1.0)
    all_rings = np.concatenate([start_rings[::-1], rings, end_rings])
    return rings_to_mesh(all_rings, start_pole, end_pole)


# --------------------------------------------------------------------------- limb envelope


@dataclass(frozen=True)
class FasciaLayer:
    """The deep fascia's thickness round the section (limb recipe ``fascia``).

    A base thickness in the four directions (medial, lateral, anterior, posterior),
    blended round the section like the fat, plus the iliotibial tract: a band of greater
    thickness centred on an angle, with soft edges round the section and at its ends.
    """

    thickness_mm: FloatArray  # (4,) medial, lateral, anterior, posterior
    tract_thickness_mm: float
    tract_centre_rad: float
    tract_half_width_rad: float
    tract_edge_rad: float
    tract_z_mm: tuple[float, float]  # lowest and highest level of the full thickness
    tract_z_edge_mm: float

    @classmethod
    def from_recipe(cls, fascia: Mapping[str, Any] | None) -> FasciaLayer | None:
        if fascia is None:
            return None
        keys = ("medial", "lateral", "anterior", "posterior")
        tract = fascia["iliotibial_tract"]
        return cls(
            thickness_mm=np.array([float(fascia["thickness_mm"][k]) for k in keys]),
            tract_thickness_mm=float(tract["thickness_mm"]),
            tract_centre_rad=np.deg2rad(float(tract["centre_deg"])),
            tract_half_width_rad=np.deg2rad(float(tract["half_width_deg"])),
            tract_edge_rad=np.deg2rad(float(tract["edge_deg"])),
            tract_z_mm=(float(tract["z_range_mm"][0]), float(tract["z_range_mm"][1])),
            tract_z_edge_mm=float(tract["z_edge_mm"]),
        )

    def thickness_at(self, z: FloatArray, theta: FloatArray) -> FloatArray:
        """(len(z), len(theta)) thickness in mm; theta about the section's centre, 0 = +x."""
        c, s = np.cos(theta), np.sin(theta)
        t = self.thickness_mm
        base = np.where(c >= 0, t[1], t[0]) * c**2 + np.where(s >= 0, t[3], t[2]) * s**2
        off = np.abs(np.angle(np.exp(1j * (theta - self.tract_centre_rad))))
        across = _smooth_step((self.tract_half_width_rad + self.tract_edge_rad - off) / self.tract_edge_rad)
        lo, hi = self.tract_z_mm
        zz = np.asarray(z, float)
        along = _smooth_step((zz - (lo - self.tract_z_edge_mm)) / self.tract_z_edge_mm) * _smooth_step(
            (hi + self.tract_z_edge_mm - zz) / self.tract_z_edge_mm
        )
        band = along[:, None] * across[None, :]
        return base[None, :] + band * np.clip(self.tract_thickness_mm - base[None, :], 0.0, None)


def _smooth_step(u: FloatArray) -> FloatArray:
    """0 below 0, 1 above 1, a smooth (C1) rise between."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


@dataclass(frozen=True)
class LimbEnvelope:
    """The outer surface of the thigh as a stack of asymmetric superellipses.

    Each level has a centre (x, y) and four half-extents (medial, lateral,
    anterior, posterior) plus the subcutaneous fat thickness in the same four
    directions; values between levels are interpolated along z with PCHIP, and around
    the section by the squared cosine/sine of the angle.
    """

    z_mm: FloatArray
    centre_mm: FloatArray  # (K,2)
    half_extent_mm: FloatArray  # (K,4) medial, lateral, anterior, posterior
    fat_mm: FloatArray  # (K,4)
    skin_thickness_mm: float
    squareness: float
    fascia: FasciaLayer | None = None  # the deep fascia beneath the fat, where the recipe has one

    @classmethod
    def from_recipe(cls, limb: Mapping[str, Any]) -> LimbEnvelope:
        secs = sorted(limb["sections"], key=lambda s: s["z_mm"])
        keys = ("medial", "lateral", "anterior", "posterior")
        return cls(
            z_mm=np.array([s["z_mm"] for s in secs], float),
            centre_mm=np.array([s["centre_mm"] for s in secs], float),
            half_extent_mm=np.array([[s["half_extent_mm"][k] for k in keys] for s in secs], float),
            fat_mm=np.array([[s["fat_mm"][k] for k in keys] for s in secs], float),
            skin_thickness_mm=float(limb["skin_thickness_mm"]),
            squareness=float(limb.get("squareness", 2.2)),
            fascia=FasciaLayer.from_recipe(limb.get("fascia")),
        )

    def at_levels(self, z: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        prof = _pchip_in_z(self, np.asarray(z, float))
        return prof[:, 0:2], prof[:, 2:6], prof[:, 6:10]

    def surface_points(self, z: FloatArray, theta: FloatArray, inset: str | float = 0.0) -> FloatArray:
        """Points of the envelope (or an inset surface) on a (len(z), len(theta)) grid.

        inset: a distance in mm inward from the skin surface; "fascia" for the deep
        surface of the subcutaneous fat, which is the deep fascia's outer surface (skin
        thickness + local fat thickness); "beneath_fascia" for the deep fascia's inner
        surface, where the muscles begin (the same, plus the fascia's local thickness;
        the same as "fascia" in a limb without one). Insets follow the section's radial
        direction about its centre.
        """
        centre, ext, fat = self.at_levels(z)
        c, s = np.cos(theta), np.sin(theta)
        ux, uy = _superellipse(theta, self.squareness)
        hx = np.where(c[None, :] >= 0, ext[:, 1:2], ext[:, 0:1])
        hy = np.where(s[None, :] >= 0, ext[:, 3:4], ext[:, 2:3])
        x = hx * ux[None, :]
        y = hy * uy[None, :]
        if isinstance(inset, str):
            fx = np.where(c[None, :] >= 0, fat[:, 1:2], fat[:, 0:1])
            fy = np.where(s[None, :] >= 0, fat[:, 3:4], fat[:, 2:3])
            depth = self.skin_thickness_mm + fx * c[None, :] ** 2 + fy * s[None, :] ** 2
            if inset == "beneath_fascia" and self.fascia is not None:
                depth = depth + self.fascia.thickness_at(z, theta)
            elif inset not in ("fascia", "beneath_fascia"):
                raise ValueError(f"inset {inset!r}: a distance in mm, 'fascia' or 'beneath_fascia'")
        else:
            depth = np.full_like(x, float(inset))
        rad = np.hypot(x, y)
        scale = np.clip((rad - depth) / rad, 0.0, None)
        pts = np.stack(
            [
                centre[:, 0:1] + x * scale,
                centre[:, 1:2] + y * scale,
                np.broadcast_to(z[:, None], x.shape),
            ],
            axis=-1,
        )
        return pts


def _pchip_in_z(env: LimbEnvelope, z: FloatArray) -> FloatArray:
    vals = np.hstack([env.centre_mm, env.half_extent_mm, env.fat_mm])
    span = env.z_mm[-1] - env.z_mm[0]
    return shapes.interpolate_profile((env.z_mm - env.z_mm[0]) / span, vals, (z - env.z_mm[0]) / span)


def _grid_surface(points: FloatArray) -> tuple[FloatArray, IntArray]:
    """Faces for a (K, n) grid closed around theta, oriented outward (theta CCW, z up)."""
    k, n = points.shape[:2]
    j = np.arange(n)
    jn = (j + 1) % n
    faces = []
    for i in range(k - 1):
        a, b = i * n + j, i * n + jn
        c, d = (i + 1) * n + j, (i + 1) * n + jn
        faces.append(np.column_stack([a, b, c]))
        faces.append(np.column_stack([b, d, c]))
    return points.reshape(-1, 3), np.vstack(faces)


def shell_mesh(outer: FloatArray, inner: FloatArray) -> SurfaceMesh:
    """Closed shell between two (K, n, 3) grids: outer wall, inner wall, annular ends."""
    k, n = outer.shape[:2]
    vo, fo = _grid_surface(outer)
    vi, fi = _grid_surface(inner)
    off = len(vo)
    fi = fi[:, ::-1] + off  # inner wall faces inward (toward the axis)
    j = np.arange(n)
    jn = (j + 1) % n
    bottom_o, bottom_i = j, off + j
    top_o, top_i = (k - 1) * n + j, off + (k - 1) * n + j
    top_on, top_in = (k - 1) * n + jn, off + (k - 1) * n + jn
    faces = [
        fo,
        fi,
        np.column_stack([bottom_o, bottom_i, jn]),
        np.column_stack([jn, bottom_i, off + jn]),
        np.column_stack([top_o, top_on, top_i]),
        np.column_stack([top_on, top_in, top_i]),
    ]
    mesh = SurfaceMesh(np.vstack([vo, vi]), np.vstack(faces).astype(np.int64))
    if mesh.signed_volume_mm3() < 0:
        mesh.faces = mesh.faces[:, ::-1].copy()
    return mesh


def limb_meshes(limb: Mapping[str, Any]) -> dict[str, SurfaceMesh]:
    """The limb's layers by their recipe ``layer`` name: skin (outer surface to skin
    thickness), fat (to the deep fascia), fascia (the deep fascia, where the recipe gives
    its thickness), and beneath_skin, not a structure: everything from under the skin to
    beneath the fascia, whose inner wall is where the muscles begin."""
    env = LimbEnvelope.from_recipe(limb)
    z0, z1 = limb["z_range_mm"]
    nz = int(np.ceil((z1 - z0) / float(limb.get("level_spacing_mm", 6.0)))) + 1
    z = np.linspace(z0, z1, nz)
    theta = np.linspace(0, 2 * np.pi, int(limb.get("segments", 96)), endpoint=False)
    outer = env.surface_points(z, theta, 0.0)
    under_skin = env.surface_points(z, theta, env.skin_thickness_mm)
    fascia = env.surface_points(z, theta, "fascia")
    layers = {"skin": shell_mesh(outer, under_skin), "fat": shell_mesh(under_skin, fascia)}
    if env.fascia is not None:
        beneath = env.surface_points(z, theta, "beneath_fascia")
        layers["fascia"] = shell_mesh(fascia, beneath)
        layers["beneath_skin"] = shell_mesh(under_skin, beneath)
    else:
        layers["beneath_skin"] = layers["fat"]
    return layers


# --------------------------------------------------------------------------- bone (SDF)


def _sd_capsule_chain(p: FloatArray, pts: FloatArray, radii: FloatArray) -> FloatArray:
    """Signed distance to a chain of round cones (radius linear along each segment)."""
    best = np.full(len(p), np.inf)
    for a, b, ra, rb in zip(pts[:-1], pts[1:], radii[:-1], radii[1:], strict=True):
        ab = b - a
        h = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
        d = np.linalg.norm(p - (a + h[:, None] * ab), axis=1) - (ra + (rb - ra) * h)
        best = np.minimum(best, d)
    return best


def _sd_ellipsoid(p: FloatArray, centre: FloatArray, radii: FloatArray) -> FloatArray:
    """First-order signed distance to an ellipsoid (exact zero set)."""
    q = (p - centre) / radii
    k0 = np.linalg.norm(q, axis=1)
    k1 = np.linalg.norm(q / radii, axis=1)
    return np.where(k1 > 0, k0 * (k0 - 1.0) / np.maximum(k1, 1e-12), -radii.min())


def _smooth_union(a: FloatArray, b: FloatArray, k: float) -> FloatArray:
    if k <= 0:
        return np.minimum(a, b)
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _part_sdf(part: Mapping[str, Any], p: FloatArray) -> FloatArray:
    kind = part["shape"]
    if kind == "capsule_chain":
        pts = np.array(part["points_mm"], float)
        radii = np.array(part["radii_mm"], float)
        if part.get("smooth", True) and len(pts) > 2:
            dense, s = shapes.smooth_centreline(pts, 6.0)
            _, s_ctrl = _control_stations(pts)
            radii = np.interp(s, s_ctrl, radii)
            pts = dense
        return _sd_capsule_chain(p, pts, radii)
    if kind == "ellipsoid":
        return _sd_ellipsoid(p, np.array(part["centre_mm"], float), np.array(part["radii_mm"], float))
    if kind == "sphere":
        return np.linalg.norm(p - np.array(part["centre_mm"], float), axis=1) - float(part["radius_mm"])
    raise ValueError(f"unknown bone part shape {kind!r}")


def _part_bounds(part: Mapping[str, Any]) -> tuple[FloatArray, FloatArray]:
    kind = part["shape"]
    if kind == "capsule_chain":
        pts = np.array(part["points_mm"], float)
        r = float(np.max(part["radii_mm"]))
        return pts.min(axis=0) - r, pts.max(axis=0) + r
    c = np.array(part["centre_mm"], float)
    r = np.array(part["radii_mm"], float) if kind == "ellipsoid" else float(part["radius_mm"])
    return c - r, c + r


def bone_sdf(recipe: Mapping[str, Any], p: FloatArray) -> FloatArray:
    """Smooth union of the parts; each part is evaluated only near its bounding box."""
    far = 1e3
    d = np.full(len(p), far)
    default_blend = float(recipe.get("blend_mm", 4.0))
    for part in recipe["parts"]:
        k = float(part.get("blend_mm", default_blend))
        lo, hi = _part_bounds(part)
        near = np.all((p >= lo - 2 * k - 4) & (p <= hi + 2 * k + 4), axis=1)
        di = np.full(len(p), far)
        if np.any(near):
            di[near] = _part_sdf(part, p[near])
        d = _smooth_union(d, di, k)
    return d


def _control_stations(pts: FloatArray) -> tuple[FloatArray, FloatArray]:
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return pts, cum / cum[-1]


def bone_mesh(recipe: Mapping[str, Any]) -> SurfaceMesh:
    import pyvista as pv

    spacing = float(recipe.get("grid_mm", 1.6))
    lo = np.array(recipe["bounds_mm"][0], float)
    hi = np.array(recipe["bounds_mm"][1], float)
    dims = np.ceil((hi - lo) / spacing).astype(int) + 1
    grid = pv.ImageData(dimensions=tuple(int(x) for x in dims), spacing=(spacing,) * 3, origin=lo)
    pts = np.asarray(grid.points)
    values = np.empty(len(pts))
    chunk = 400_000
    for i in range(0, len(pts), chunk):
        values[i : i + chunk] = bone_sdf(recipe, pts[i : i + chunk])
    grid.point_data["sdf"] = values
    surf = grid.contour([0.0], scalars="sdf", method="flying_edges").triangulate().clean()
    surf = surf.connectivity("largest")
    surf.clear_data()
    surf = surf.smooth_taubin(n_iter=int(recipe.get("smoothing_iterations", 30)), pass_band=0.05)
    surf = surf.clean().triangulate()
    faces = np.asarray(surf.faces).reshape(-1, 4)[:, 1:]
    mesh = SurfaceMesh(np.asarray(surf.points, float), faces.astype(np.int64))
    if mesh.signed_volume_mm3() < 0:
        mesh.faces = mesh.faces[:, ::-1].copy()
    return mesh
