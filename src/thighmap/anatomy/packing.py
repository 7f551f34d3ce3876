"""The packed thigh: one label volume in which every voxel inside the deep fascia
belongs to exactly one structure, and the surfaces of its muscles and fat regions.

How the volume is made, level by level (axial slices, z):

1. The domain is the inside of the deep fascia (the deep surface of the subcutaneous
   fat of the limb envelope), one voxel wider.
2. Bones, nerves and vessels are carved first, from their own exact surfaces (the
   skeleton's bones, the nerves' and vessels' tubes).
3. Named fat sleeves surround the nerves that run in fat, a few millimetres thick.
4. What is left is shared among the muscles and named fat regions present at that
   level by an anisotropic, multiplicatively weighted Voronoi diagram (share_level):
   each member has a seed that follows a smooth path from origin to insertion (its
   recipe's centreline and sections), a section shape (half-width, half-depth, angle)
   that makes its cell elongated like the muscle, and a weight solved so that its share
   of the level is its target share; every member keeps the pixels round its own seed.
   A member's target area along its length is its recipe's section area, scaled so that
   its volume is the published one (recipe.volume_cm3); members without one keep their
   recipe's areas and take what the others leave. Each member is kept in one piece.

Each surface is then contoured from its structure's voxels (surfaces_from_volume): VTK's
flying edges on the voxels blurred a little, at a level below one half so that
neighbours overlap slightly rather than leave gaps where three or four meet; where a
muscle meets a bone, a nerve or a vessel it takes that structure's outer layer of voxels
too, so that it reaches into the exact surface instead of stopping short of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thighmap.anatomy import shapes
from thighmap.anatomy.meshgen import LimbEnvelope, SurfaceMesh

FloatArray = np.ndarray
IntArray = np.ndarray

BACKGROUND = 0  # outside the deep fascia
VOLUME_SLACK = 0.04
VOLUME_ROUNDS = 3  # corrections of the members' volume targets by their extracted surfaces
SMOOTH_MM, ISO_LEVEL = 0.6, 0.2  # chosen: see surfaces_from_volume
THIN_RIM_DISCOUNT = 0.0  # chosen: see surfaces_from_volume
DAMPING = 0.3  # chosen: larger steps make neighbouring cells trade area back and forth
REACH, OUT_OF_REACH = 3.0, 100.0  # chosen: see share_level
TENDON_AREA_MM2 = 20.0  # chosen: a tendon keeps at least the section its recipe draws, up to this


@dataclass
class LabelVolume:
    """Labels on a regular grid: ``labels[i, j, k]`` is the structure at
    ``origin + (i, j, k) * spacing`` (voxel centres, mm); 0 is outside the fascia."""

    origin_mm: FloatArray  # (3,)
    spacing_mm: FloatArray  # (3,)
    labels: np.ndarray  # (nx, ny, nz) uint8
    ids: list[str]  # ids[label - 1] is the structure of a label
    exact: set[str] = field(default_factory=set)  # structures whose surface is not taken from here
    bones: set[str] = field(default_factory=set)  # the exact structures that are bones

    def label_of(self, sid: str) -> int:
        return self.ids.index(sid) + 1

    def axis(self, k: int) -> FloatArray:
        return self.origin_mm[k] + self.spacing_mm[k] * np.arange(self.labels.shape[k])


@dataclass(frozen=True)
class Member:
    """A structure that takes its share of each level by the power diagram."""

    id: str
    z_lo: float
    z_hi: float
    z: FloatArray  # sampled levels of its path, ascending
    seed_xy: FloatArray  # (N,2) the seed at each sampled level
    half_width: FloatArray  # (N,)
    half_depth: FloatArray  # (N,)
    angle_rad: FloatArray  # (N,)
    area: FloatArray  # (N,) target area (relative until scaled), mm2

    def at(self, z: float) -> tuple[FloatArray, float, float, float, float]:
        """Seed, half-width, half-depth, angle and target area at level z."""
        seed = np.array([np.interp(z, self.z, self.seed_xy[:, 0]), np.interp(z, self.z, self.seed_xy[:, 1])])
        return (
            seed,
            float(np.interp(z, self.z, self.half_width)),
            float(np.interp(z, self.z, self.half_depth)),
            float(np.interp(z, self.z, self.angle_rad)),
            float(np.interp(z, self.z, self.area)),
        )


def _superellipse_area_factor(exponent: float) -> float:
    """Area of the unit superellipse |x|^e + |y|^e = 1 (4 Γ(1+1/e)² / Γ(1+2/e))."""
    from math import gamma

    return 4.0 * gamma(1.0 + 1.0 / exponent) ** 2 / gamma(1.0 + 2.0 / exponent)


def member_from_recipe(sid: str, recipe: Mapping[str, Any], step_mm: float = 2.0) -> Member:
    """A member's path, section shape and relative target area from a loft-like recipe
    (centreline_mm, sections with half_width_mm, half_depth_mm, angle_deg, offset_mm)."""
    from thighmap.anatomy.meshgen import sample_loft

    smp = sample_loft(recipe, step_mm)
    c = smp.centres_mm
    t = shapes.tangents(c)
    u, v = shapes.section_frames(t)
    ang = np.radians(smp.angle_deg)
    off = smp.offset_mm
    centre = c + off[:, 0:1] * u + off[:, 1:2] * v
    # the section's in-plane axes projected on the axial plane: the angle of the
    # rotated u axis about z
    ux = np.cos(ang)[:, None] * u + np.sin(ang)[:, None] * v
    angle_xy = np.arctan2(ux[:, 1], ux[:, 0])
    # sections of an oblique path cut a level wider: stretch by 1/|t_z| along the
    # projected tangent (approximated on the half-width axis)
    tz = np.clip(np.abs(t[:, 2]), 0.35, 1.0)
    hw = smp.half_width_mm / tz
    hd = smp.half_depth_mm
    exponent = float(recipe.get("squareness", 2.2))
    area = _superellipse_area_factor(exponent) * smp.half_width_mm * smp.half_depth_mm / tz
    order = np.argsort(centre[:, 2], kind="stable")
    z = centre[order, 2]
    z, keep = np.unique(z, return_index=True)
    idx = order[keep]
    return Member(
        id=sid,
        z_lo=float(z[0]),
        z_hi=float(z[-1]),
        z=z,
        seed_xy=centre[idx, :2],
        half_width=hw[idx],
        half_depth=hd[idx],
        angle_rad=angle_xy[idx],
        area=area[idx],
    )


# --------------------------------------------------------------------------- domain


def fascia_polygons(limb: Mapping[str, Any], z: FloatArray, n_theta: int = 180) -> FloatArray:
    """(len(z), n_theta, 2) the deep fascia's outline at each level."""
    env = LimbEnvelope.from_recipe(limb)
    theta = np.linspace(0.0, 2.0 * np.pi, n_theta, endpoint=False)
    pts = env.surface_points(np.asarray(z, float), theta, inset="fascia")
    return pts[..., :2]


def inside_star(outline: FloatArray, centre: FloatArray, xs: FloatArray, ys: FloatArray) -> np.ndarray:
    """(len(xs), len(ys)) grid points inside an outline that is star-shaped about
    `centre` (the envelope's sections are), by comparing radii at the same angle."""
    d = outline - centre
    phi = np.arctan2(d[:, 1], d[:, 0])
    rad = np.hypot(d[:, 0], d[:, 1])
    order = np.argsort(phi)
    phi, rad = phi[order], rad[order]
    phi = np.concatenate([phi[-1:] - 2 * np.pi, phi, phi[:1] + 2 * np.pi])
    rad = np.concatenate([rad[-1:], rad, rad[:1]])
    X = xs[:, None] - centre[0]
    Y = ys[None, :] - centre[1]
    return np.hypot(X, Y) < np.interp(np.arctan2(Y, X), phi, rad)


# --------------------------------------------------------------------------- the volume


@dataclass(frozen=True)
class PackingSpec:
    """What the volume is made of (from landmarks.json's ``packing`` block)."""

    spacing_mm: tuple[float, float, float]
    members: list[Member]
    volumes_mm3: dict[str, float]  # published volume of a member, where one is used
    exact: list[str]  # bones, nerves, vessels, carved from their own surfaces, in order
    sleeves: list[tuple[str, str, float]]  # (fat region id, structure it surrounds, thickness mm)
    iterations: int = 120
    bones: tuple[str, ...] = ()  # the exact structures that are bones (the others are thin)


def grid_axes(
    limb: Mapping[str, Any], spacing_mm: Sequence[float]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    z0, z1 = (float(v) for v in limb["z_range_mm"])
    sz = float(spacing_mm[2])
    # the first and last levels lie one and a half voxels inside the limb's cut ends, so
    # that the surfaces, which close up to a voxel beyond them, stay inside the skin
    zs = np.arange(z0 + 1.5 * sz, z1 - 1.4 * sz, sz)
    outline = fascia_polygons(limb, zs)
    lo = outline.reshape(-1, 2).min(axis=0) - 2 * np.asarray(spacing_mm[:2])
    hi = outline.reshape(-1, 2).max(axis=0) + 2 * np.asarray(spacing_mm[:2])
    xs = np.arange(lo[0], hi[0], float(spacing_mm[0]))
    ys = np.arange(lo[1], hi[1], float(spacing_mm[1]))
    return xs, ys, zs


def domain_mask(limb: Mapping[str, Any], xs: FloatArray, ys: FloatArray, zs: FloatArray) -> np.ndarray:
    """(nx, ny, nz) voxel centres inside the deep fascia."""
    env = LimbEnvelope.from_recipe(limb)
    centres, _, _ = env.at_levels(zs)
    outline = fascia_polygons(limb, zs)
    out = np.zeros((len(xs), len(ys), len(zs)), bool)
    for k in range(len(zs)):
        out[:, :, k] = inside_star(outline[k], centres[k], xs, ys)
    return out


def _metric(hw: FloatArray, hd: FloatArray, angle: FloatArray) -> FloatArray:
    """(m,2,2) matrices A with det 1 whose |A d|² is the anisotropic squared distance
    of a section elongated along `angle` with aspect hw/hd."""
    aspect = np.sqrt(np.clip(hw, 0.5, None) / np.clip(hd, 0.5, None))
    c, s = np.cos(angle), np.sin(angle)
    # rotate into the section's axes, then scale the long axis down, the short one up
    a = np.empty((len(hw), 2, 2))
    a[:, 0, 0] = c / aspect
    a[:, 0, 1] = s / aspect
    a[:, 1, 0] = -s * aspect
    a[:, 1, 1] = c * aspect
    return a


def share_level(
    pixels_xy: FloatArray,
    pixel_area_mm2: float,
    seeds: FloatArray,
    metric: FloatArray,
    target_share: FloatArray,
    weights: FloatArray,
    iterations: int,
) -> tuple[IntArray, FloatArray]:
    """Assign pixels to members by an anisotropic, multiplicatively weighted Voronoi
    diagram (a pixel goes to the member whose |A (p - seed)|² / weight is least) whose
    weights give each member `target_share` of the level's area. Unlike a power diagram,
    every member keeps the pixels round its own seed, so a muscle stays where its path
    puts it; and a member reaches no farther than REACH times its target radius from its
    seed (beyond it its cost is multiplied by OUT_OF_REACH), so that a large member cannot
    wrap round the small ones into the far side of the level. Returns (member index per
    pixel, the solved weights; a weight of 0 on input starts from the member's target
    area)."""
    d = pixels_xy[:, None, :] - seeds[None, :, :]  # (n, m, 2)
    q = np.einsum("mij,nmj->nmi", metric, d)
    dist2 = np.einsum("nmi,nmi->nm", q, q)
    total = len(pixels_xy) * pixel_area_mm2
    target = np.maximum(target_share * total, pixel_area_mm2)
    radius2 = target / np.pi
    # beyond its reach a member's cost is multiplied by OUT_OF_REACH: it takes such a
    # pixel only where no member reaches it
    penalty = np.where(dist2 <= (REACH**2) * radius2[None, :], 1.0, OUT_OF_REACH)
    w = np.where(weights > 0, weights, radius2)
    owner = np.zeros(len(pixels_xy), np.int64)
    for step in range(iterations):
        owner = np.argmin(penalty * dist2 / w[None, :], axis=1)
        area = np.maximum(np.bincount(owner, minlength=len(seeds)) * pixel_area_mm2, 0.5 * pixel_area_mm2)
        # smaller steps as it goes: where a cell's area jumps with its weight (two seeds
        # close together) a fixed step would trade the area back and forth for ever
        rate = DAMPING / (1.0 + step / 30.0)
        w = np.clip(w * np.clip(target / area, 0.5, 2.0) ** rate, 1e-6 * radius2, 1e6 * radius2)
    owner = np.argmin(penalty * dist2 / w[None, :], axis=1)
    return owner, w


def _active(members: Sequence[Member], z: float) -> list[int]:
    on = [i for i, m in enumerate(members) if m.z_lo <= z <= m.z_hi]
    if on:
        return on
    gap = [min(abs(z - m.z_lo), abs(z - m.z_hi)) for m in members]
    return [int(np.argmin(gap))]


def _target_areas(members: Sequence[Member], zs: FloatArray) -> FloatArray:
    """(len(zs), m) each member's relative target area at each level (0 where absent)."""
    out = np.zeros((len(zs), len(members)))
    for k, z in enumerate(zs):
        for i in _active(members, float(z)):
            out[k, i] = max(members[i].at(float(z))[4], 1.0)
    return out


def _scaled_areas(base: FloatArray, factor: FloatArray) -> FloatArray:
    """A member's target areas scaled toward its volume; a tendon keeps the section its
    recipe draws (up to TENDON_AREA_MM2), whatever its muscle's volume asks."""
    return np.maximum(base * factor, np.minimum(base, TENDON_AREA_MM2))


def solve_volume_factors(
    members: Sequence[Member],
    volumes_mm3: Mapping[str, float],
    free_area_mm2: FloatArray,
    zs: FloatArray,
    rounds: int = 30,
) -> FloatArray:
    """Scale factors on the members' target areas so that, shared level by level in
    proportion to the scaled areas, every member with a published volume gets it. The
    members without one (the parts of muscles that reach beyond the model, the fat
    regions) keep their recipe's areas, so they take what the others leave."""
    base = _target_areas(members, zs)
    dz = float(zs[1] - zs[0]) if len(zs) > 1 else 1.0
    factor = np.ones(len(members))
    fixed = np.array([m.id in volumes_mm3 for m in members])
    want = np.array([volumes_mm3.get(m.id, 0.0) for m in members])
    for _ in range(rounds):
        scaled = np.where(base > 0, _scaled_areas(base, factor[None, :]), 0.0)
        share = scaled / np.maximum(scaled.sum(axis=1, keepdims=True), 1e-12)
        got = (share * free_area_mm2[:, None]).sum(axis=0) * dz
        factor[fixed] *= np.clip(want[fixed] / np.maximum(got[fixed], 1.0), 0.5, 2.0)
    return factor


def build_volume(
    limb: Mapping[str, Any],
    spec: PackingSpec,
    exact_meshes: Mapping[str, SurfaceMesh],
) -> LabelVolume:
    """The packed label volume (see the module's docstring)."""
    from scipy import ndimage

    from thighmap.anatomy.voxels import inside_grid

    xs, ys, zs = grid_axes(limb, spec.spacing_mm)
    sx, sy, sz = spec.spacing_mm
    ids = list(spec.exact) + [rid for rid, _, _ in spec.sleeves] + [m.id for m in spec.members]
    labels = np.zeros((len(xs), len(ys), len(zs)), np.uint8)
    # one voxel beyond the deep fascia, so that the muscles' surfaces, which lie half a
    # voxel beyond their outermost voxels, reach into the fat instead of stopping short
    inside = ndimage.binary_dilation(
        domain_mask(limb, xs, ys, zs), structure=ndimage.generate_binary_structure(2, 1)[:, :, None]
    )
    for sid in spec.exact:
        mask = inside_grid(exact_meshes[sid], xs, ys, zs)
        labels[mask & (labels == 0)] = ids.index(sid) + 1
    taken = labels > 0
    for rid, around, thickness in spec.sleeves:
        core = labels == ids.index(around) + 1
        dist = ndimage.distance_transform_edt(~core, sampling=(sx, sy, sz))
        sleeve = (dist <= thickness) & ~taken & inside
        labels[sleeve] = ids.index(rid) + 1
        taken |= sleeve
    free = inside & ~taken
    pixel_area = sx * sy
    free_area = free.sum(axis=(0, 1)) * pixel_area
    factor = solve_volume_factors(spec.members, spec.volumes_mm3, free_area, zs)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    first_member = len(spec.exact) + len(spec.sleeves) + 1
    weights = np.zeros(len(spec.members))
    for k, z in enumerate(zs):
        f = free[:, :, k]
        if not f.any():
            continue
        act = _active(spec.members, float(z))
        params = [spec.members[i].at(float(z)) for i in act]
        seeds = np.array([p[0] for p in params])
        metric = _metric(
            np.array([p[1] for p in params]),
            np.array([p[2] for p in params]),
            np.array([p[3] for p in params]),
        )
        area = _scaled_areas(np.array([max(p[4], 1.0) for p in params]), factor[act])
        share = area / area.sum()
        pix = np.column_stack([gx[f], gy[f]])
        owner, w = share_level(pix, pixel_area, seeds, metric, share, weights[act], spec.iterations)
        weights[act] = w
        layer = labels[:, :, k]
        layer[f] = (first_member + np.asarray(act)[owner]).astype(np.uint8)
    _keep_largest_pieces(labels, range(first_member, first_member + len(spec.members)), free)
    return LabelVolume(
        origin_mm=np.array([xs[0], ys[0], zs[0]]),
        spacing_mm=np.array(spec.spacing_mm, float),
        labels=labels,
        ids=ids,
        exact=set(spec.exact),
        bones=set(spec.bones),
    )


def _keep_largest_pieces(labels: np.ndarray, member_labels: Any, free: np.ndarray) -> None:
    """Each member keeps only its largest connected piece (6-connected); each other
    piece goes whole to the member it borders most (in place). A piece is a voxel island
    the level-by-level diagram left where two cells wrap round each other."""
    from scipy import ndimage

    cross = ndimage.generate_binary_structure(3, 1)
    for lab in member_labels:
        pieces, n = ndimage.label(labels == lab)
        if n <= 1:
            continue
        sizes = np.bincount(pieces.ravel())
        sizes[0] = 0
        keep = int(np.argmax(sizes))
        for k in range(1, n + 1):
            if k == keep:
                continue
            piece = pieces == k
            rim = ndimage.binary_dilation(piece, structure=cross) & ~piece & free
            around = labels[rim]
            around = around[around != lab]
            if len(around):
                labels[piece] = np.bincount(around).argmax()


# --------------------------------------------------------------------------- surfaces


def _grow_into(labels: np.ndarray, members: np.ndarray) -> np.ndarray:
    """One layer of the voxels of exact structures (bones, nerves, vessels) given to a
    neighbouring member (the first of the six neighbours, in a fixed
    order), so that the members' surfaces reach into the exact surfaces they meet
    instead of stopping short of them."""
    out = labels.copy()
    is_member = members[labels]
    todo = ~is_member & (labels != BACKGROUND)
    for axis in range(3):
        for step in (1, -1):
            src = np.roll(labels, step, axis=axis)
            ok = np.roll(is_member, step, axis=axis)
            # no wrap-around across the volume's faces
            edge = [slice(None)] * 3
            edge[axis] = slice(0, 1) if step == 1 else slice(-1, None)
            ok[tuple(edge)] = False
            take = todo & ok
            out[take] = src[take]
            todo &= ~take
    return out


def surfaces_from_volume(
    volume: LabelVolume,
    structure_ids: Sequence[str],
    target_reduction: float = 0.8,
) -> dict[str, SurfaceMesh]:
    """Closed, outward surfaces of the given (non-exact) structures of the volume.

    Each structure's voxels (with the outer layer of the exact structures it meets, see
    _grow_into), blurred by a Gaussian of SMOOTH_MM, are contoured at ISO_LEVEL by VTK's
    flying edges (marching cubes: a closed, manifold surface), then simplified (see
    _simplify). Where two structures meet, both blurred fields cross one half at the same
    place, so their surfaces meet; contouring a little below one half makes each reach
    slightly past the interface, so that neighbours overlap by a fraction of a voxel
    instead of leaving a gap where three meet."""
    import pyvista as pv
    from scipy import ndimage

    n_labels = len(volume.ids) + 1
    members = np.zeros(n_labels, bool)
    for sid in structure_ids:
        members[volume.label_of(sid)] = True
    grown = _grow_into(volume.labels, members)
    # the layer taken from a thin exact structure (a nerve, a vessel) counts part-way
    # only, so a muscle reaches into it by about half a voxel, not across it
    thin = np.zeros(n_labels, bool)
    for sid in volume.ids:
        if sid in volume.exact and sid not in volume.bones:
            thin[volume.label_of(sid)] = True
    partial = thin[volume.labels]
    sigma = SMOOTH_MM / volume.spacing_mm
    out: dict[str, SurfaceMesh] = {}
    for sid in structure_ids:
        mask = grown == volume.label_of(sid)
        idx = np.argwhere(mask)
        if not len(idx):
            raise ValueError(f"structure {sid!r}: no voxel of the packed volume is its own")
        lo = np.maximum(idx.min(axis=0) - 4, 0)
        hi = np.minimum(idx.max(axis=0) + 5, mask.shape)
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
        weight = mask[box].astype(np.float32) - THIN_RIM_DISCOUNT * (mask[box] & partial[box])
        sub = np.pad(weight, 2)
        field_ = ndimage.gaussian_filter(sub, sigma)
        img = pv.ImageData(
            dimensions=field_.shape,
            spacing=volume.spacing_mm,
            origin=volume.origin_mm + (lo - 2) * volume.spacing_mm,
        )
        img.point_data["inside"] = field_.ravel(order="F")
        surf = img.contour([ISO_LEVEL], scalars="inside", method="flying_edges").triangulate().clean()
        out[sid] = _simplify(
            np.asarray(surf.points, float), np.asarray(surf.regular_faces, np.int64), target_reduction
        )
    return out


def _edge_counts_ok(faces: IntArray) -> bool:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return bool(np.all(counts == 2))


def _simplify(points: FloatArray, faces: IntArray, target_reduction: float) -> SurfaceMesh:
    """Quadric decimation (vtkQuadricDecimation, volume preserved) of a closed surface,
    at the largest of a few reductions that keeps it closed and manifold; the surface
    as extracted when none does."""
    import pyvista as pv

    sm = _without_crumbs(SurfaceMesh(np.asarray(points, float), np.asarray(faces, np.int64)))
    mesh = pv.PolyData.from_regular_faces(sm.vertices, sm.faces)
    if target_reduction <= 0:
        return _outward(sm)
    for reduction in target_reduction - np.array([0.0, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25]):
        dec = mesh.decimate(reduction, volume_preservation=True)
        f = np.asarray(dec.regular_faces, np.int64)
        if len(f) and _edge_counts_ok(f):
            return _outward(SurfaceMesh(np.asarray(dec.points, float), f))
    for reduction in (target_reduction, 0.6, 0.5):
        dec = mesh.decimate_pro(
            reduction, preserve_topology=True, splitting=False, boundary_vertex_deletion=False
        )
        f = np.asarray(dec.triangulate().regular_faces, np.int64)
        if len(f) and _edge_counts_ok(f):
            return _outward(SurfaceMesh(np.asarray(dec.points, float), f))
    return _outward(sm)


def _without_crumbs(sm: SurfaceMesh, share: float = 0.02) -> SurfaceMesh:
    """The surface less its pieces that enclose under `share` of its volume: where a thin
    part of a structure is contoured, a bead can come off it (the volume holds each
    member in one piece; the bead is the contouring's, not the anatomy's)."""
    import trimesh

    pieces = trimesh.Trimesh(sm.vertices, sm.faces, process=False).split(only_watertight=False)
    if len(pieces) <= 1:
        return sm
    volumes = np.array([abs(p.volume) for p in pieces])
    keep = [p for p, v in zip(pieces, volumes, strict=True) if v >= share * volumes.sum()]
    merged = trimesh.util.concatenate(keep)
    return SurfaceMesh(np.asarray(merged.vertices, float), np.asarray(merged.faces, np.int64))


def _outward(sm: SurfaceMesh) -> SurfaceMesh:
    if sm.signed_volume_mm3() < 0:
        sm.faces = sm.faces[:, ::-1].copy()
    return sm


# --------------------------------------------------------------------------- the atlas's


PACKED_TYPES = ("packed", "sleeve")
DEFAULT_SPACING_MM = (1.5, 1.5, 3.0)


def spec_from_atlas(atlas: Any, volume_scale: Mapping[str, float] | None = None) -> PackingSpec:
    """The packing of an atlas: its packed and sleeve structures, the bones and the
    nerves and vessels carved before them."""
    structures = atlas.structures
    block = atlas.document.get("packing", {}) or {}
    spacing = tuple(float(v) for v in block.get("spacing_mm", DEFAULT_SPACING_MM))
    members, volumes, sleeves = [], {}, []
    for sid, st in structures.items():
        rec = st.recipe
        if rec["type"] == "packed":
            members.append(member_from_recipe(sid, rec))
            if "volume_cm3" in rec:
                scale = (volume_scale or {}).get(sid, 1.0)
                volumes[sid] = float(rec["volume_cm3"]["target"]) * 1000.0 * scale
        elif rec["type"] == "sleeve":
            sleeves.append((sid, str(rec["around"]), float(rec["thickness_mm"])))
    exact = [sid for sid, st in structures.items() if st.kind == "bone"]
    exact += [
        sid
        for sid, st in structures.items()
        if st.role in ("danger", "caution") and st.recipe["type"] not in PACKED_TYPES and sid not in exact
    ]
    bones = tuple(sid for sid, st in structures.items() if st.kind == "bone")
    return PackingSpec(spacing, members, volumes, exact, sleeves, bones=bones)  # type: ignore[arg-type]


def packed_ids(atlas: Any) -> list[str]:
    return [sid for sid, st in atlas.structures.items() if st.recipe["type"] in PACKED_TYPES]


def atlas_volume(atlas: Any, exact_meshes: Mapping[str, SurfaceMesh]) -> LabelVolume:
    """The atlas's packed label volume. The muscles' surfaces take one more layer of
    voxels where they meet exact surfaces (see surfaces_from_volume) and are smoothed, so
    a surface encloses more than its voxels, most for thin muscles along the fascia: the
    volume is rebuilt VOLUME_ROUNDS times, each member's target corrected by how far its
    extracted surface missed its published volume."""
    spec = spec_from_atlas(atlas)
    volume = build_volume(atlas.document["limb"], spec, exact_meshes)
    targeted = [m.id for m in spec.members if m.id in spec.volumes_mm3]
    scale = dict.fromkeys(targeted, 1.0)
    for _ in range(VOLUME_ROUNDS):
        surfaces = surfaces_from_volume(volume, targeted, target_reduction=0.0)
        for sid in targeted:
            # only the members that came out more than VOLUME_SLACK off: correcting every
            # member at once moves their neighbours too
            miss = spec.volumes_mm3[sid] / max(surfaces[sid].signed_volume_mm3(), 1.0)
            if abs(miss - 1.0) > VOLUME_SLACK:
                scale[sid] *= float(np.clip(miss, 0.5, 2.0)) ** 0.7
        volume = build_volume(atlas.document["limb"], spec_from_atlas(atlas, scale), exact_meshes)
    return volume


def build_packed(
    atlas: Any, exact_meshes: Mapping[str, SurfaceMesh]
) -> tuple[LabelVolume, dict[str, SurfaceMesh]]:
    volume = atlas_volume(atlas, exact_meshes)
    return volume, surfaces_from_volume(volume, packed_ids(atlas))
