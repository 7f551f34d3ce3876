"""The packed thigh: one label volume in which every voxel inside the deep fascia
belongs to exactly one structure, and the surfaces of its muscles and fat regions.

How the volume is made, level by level (axial slices, z):

1. The domain is the inside of the deep fascia (the fascia lata's inner surface, beneath
   the subcutaneous fat of the limb envelope): the voxels whose centres lie inside it.
2. Bones, nerves and vessels are carved first, from their own exact surfaces (the
   skeleton's bones, the nerves' and vessels' tubes).
3. Named fat sleeves surround the nerves that run in fat, a few millimetres thick.
4. What is left is shared among the muscles and named fat regions present at that
   level by an anisotropic, additively weighted Voronoi diagram (share_level):
   each member has a seed that follows a smooth path from origin to insertion (its
   recipe's centreline and sections), a section shape (half-width, half-depth, angle)
   that makes its cell elongated like the muscle, and a weight solved so that its share
   of the level is its target share; every member keeps the pixels round its own seed.
   A member's target area along its length is its recipe's section area, scaled so that
   its volume is the published one (recipe.volume_cm3); members without one keep their
   recipe's areas and take what the others leave. Each member is kept in one piece.

All the surfaces then come from one network of the boundaries between labels
(surfaces_from_volume): VTK's SurfaceNets (vtkSurfaceNets3D) gives every boundary once,
shared by the two structures it separates, so neighbouring muscles meet without gap or
overlap by construction. The network's borders with the bones, nerves and vessels are
moved onto their exact surfaces and its border with the outside onto the deep fascia, so
a muscle touches the exact structures it meets instead of stopping short of them or
reaching into them. Each patch between two structures is then decimated on its own, its
border kept, so that the patches still fit.
"""

from __future__ import annotations

import itertools
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
UNTANGLE_ROUNDS = 6  # chosen: see snap_to_exact
SURFACE_REDUCTION = 0.9  # chosen: share of a patch's faces removed at most (see decimate_network)
END_INSET_MM = 1.0  # chosen: see surfaces_from_volume
MAX_COVER_MM = 1.0  # chosen: see cover_exact
DECIMATION_ERROR_MM = 0.1  # chosen: how far decimation may move a surface (see _decimated)
DAMPING = 0.3  # chosen: larger steps make neighbouring cells trade area back and forth
SEED_MARGIN_MM = 2.5  # chosen: more than the width of a pixel of DEFAULT_SPACING_MM; see share_level
FOOTPRINT_RADIUS_MM = 3.0  # chosen: a tendon's radius where a muscle attaches (see build_volume)
FOOTPRINT_REACH_MM = 10.0  # chosen: attachment points farther than this from their bone are left out
FOOTPRINT_LENGTH_MM = 25.0  # chosen: a tendon drawn no longer than this (see _footprints)
TENDON_AREA_MM2 = 20.0  # chosen: a tendon keeps at least the section its recipe draws, up to this
# chosen: a nerve or vessel thinner than this (a cutaneous nerve, a perforating artery) is
# carved by distance to its centreline as well as by the voxels its surface encloses: at
# DEFAULT_SPACING_MM a tube 2-3 mm across encloses few voxel centres, or none where it runs
# between them, and the muscles sharing the level would grow over it (see build_volume)
THIN_TUBE_RADIUS_MM = 2.0


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
    """(len(z), n_theta, 2) the outline of the deep fascia's inner surface (where the
    muscles begin) at each level."""
    env = LimbEnvelope.from_recipe(limb)
    theta = np.linspace(0.0, 2.0 * np.pi, n_theta, endpoint=False)
    pts = env.surface_points(np.asarray(z, float), theta, inset="beneath_fascia")
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
    # (member, a point of its path, the point on a bone it attaches to): see build_volume
    footprints: tuple[tuple[str, FloatArray, FloatArray], ...] = ()
    # (exact tube, its centreline samples (N, 3), its radii (N,)) for the thin ones: see build_volume
    thin: tuple[tuple[str, FloatArray, FloatArray], ...] = ()


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
    """Assign pixels to members by an anisotropic, additively weighted Voronoi diagram
    (an Apollonius diagram: a pixel goes to the member whose |A (p - seed)| - weight is
    least) whose weights, in mm, give each member `target_share` of the level's area.

    Additive weights keep each cell on its own side of its neighbours: the boundary
    between a large and a small member bends round the small one but leaves it open
    on its far side, so a large muscle cannot wrap round a small one into the far side
    of the level (a multiplicatively weighted diagram, used before, encloses the small
    member in a disk of the large one: the vasti wrapped round the femur and reached the
    sciatic nerve). Each weight is kept below its neighbours' by their seeds' distance
    less SEED_MARGIN_MM, so every member keeps the pixels round its own seed and stays
    where its path puts it. Returns (member index per pixel, the solved
    weights; a weight that is not finite on input starts from the member's target
    radius)."""
    d = pixels_xy[:, None, :] - seeds[None, :, :]  # (n, m, 2)
    q = np.einsum("mij,nmj->nmi", metric, d)
    dist = np.sqrt(np.einsum("nmi,nmi->nm", q, q))
    total = len(pixels_xy) * pixel_area_mm2
    target = np.maximum(target_share * total, pixel_area_mm2)
    radius = np.sqrt(target / np.pi)
    # between[i, j]: seed j's distance from seed i in i's metric; member i's weight may
    # exceed member j's by less than that, or i would take j's seed
    sep = seeds[None, :, :] - seeds[:, None, :]
    sq = np.einsum("ikl,ijl->ijk", metric, sep)
    between = np.sqrt(np.einsum("ijk,ijk->ij", sq, sq))
    slack = between - np.minimum(SEED_MARGIN_MM, 0.25 * between)
    np.fill_diagonal(slack, np.inf)
    w = np.where(np.isfinite(weights), weights, radius)
    owner = np.zeros(len(pixels_xy), np.int64)
    for step in range(iterations):
        owner = np.argmin(dist - w[None, :], axis=1)
        area = np.maximum(np.bincount(owner, minlength=len(seeds)) * pixel_area_mm2, 0.5 * pixel_area_mm2)
        # a cell's radius grows by about half its weight's growth (the boundary with
        # each neighbour moves half way); smaller steps as it goes, so that two cells
        # whose areas jump with their weights do not trade area back and forth for ever
        rate = 2.0 * DAMPING / (1.0 + step / 30.0)
        w = w + rate * (radius - np.sqrt(area / np.pi))
        for _ in range(3):
            w = np.minimum(w, np.min(w[None, :] + slack, axis=1))
    owner = np.argmin(dist - w[None, :], axis=1)
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
    # voxel centres inside the deep fascia: the surfaces are moved onto it afterwards
    inside = domain_mask(limb, xs, ys, zs)
    for sid in spec.exact:
        mask = inside_grid(exact_meshes[sid], xs, ys, zs)
        labels[mask & (labels == 0)] = ids.index(sid) + 1
    for sid, centres, radii in spec.thin:
        # every voxel whose centre lies within half a voxel's width across of the tube's surface,
        # so that the tube leaves a channel at least one voxel wide wherever it runs
        reach = 0.5 * float(max(spec.spacing_mm[:2]))
        for (a, ra), (b, rb) in itertools.pairwise(zip(centres, radii, strict=True)):
            _claim_capsule(
                labels, ids.index(sid) + 1, a, b, (xs, ys, zs), inside, len(ids) + 1, max(ra, rb) + reach
            )
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
    weights = np.full(len(spec.members), np.nan)
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
    member_labels = range(first_member, first_member + len(spec.members))
    _keep_largest_pieces(labels, member_labels, inside & ~taken)
    _attach(labels, ids, spec, (xs, ys, zs), inside, first_member)
    _keep_largest_pieces(labels, member_labels, inside & ~taken)
    return LabelVolume(
        origin_mm=np.array([xs[0], ys[0], zs[0]]),
        spacing_mm=np.array(spec.spacing_mm, float),
        labels=labels,
        ids=ids,
        exact=set(spec.exact),
        bones=set(spec.bones),
    )


def _attach(
    labels: np.ndarray,
    ids: Sequence[str],
    spec: PackingSpec,
    axes: tuple[FloatArray, FloatArray, FloatArray],
    inside: np.ndarray,
    first_member: int,
) -> None:
    """Each muscle's origins and insertions on the bones (in place): a tendon of
    FOOTPRINT_RADIUS_MM that follows the muscle's path from the level of its voxel
    nearest the attachment to the level of the attachment, then goes straight to the
    point on the bone, taken from whichever muscles or fat regions the sharing gave it to,
    so that the muscle touches the bone where it attaches."""
    xs, ys, zs = axes
    origin = np.array([xs[0], ys[0], zs[0]])
    spacing = np.array([xs[1] - xs[0], ys[1] - ys[0], zs[1] - zs[0]])
    members = {m.id: m for m in spec.members}
    for sid, start, end in spec.footprints:
        lab = ids.index(sid) + 1
        own = np.argwhere(labels == lab)
        if not len(own):
            continue
        centres = origin + own * spacing
        nearest = centres[np.argmin(np.linalg.norm(centres - end, axis=1))]
        # along the path from that level to the attachment's, then to the bone
        m = members[sid]
        levels = np.linspace(nearest[2], start[2], max(2, int(abs(start[2] - nearest[2]) / 1.5) + 1))
        path = np.array([[*m.at(float(np.clip(z, m.z_lo, m.z_hi)))[0], z] for z in levels])
        path = np.vstack([nearest, path, end])
        for a, b in itertools.pairwise(path):
            _claim_capsule(labels, lab, a, b, axes, inside, first_member)


def _claim_capsule(
    labels: np.ndarray,
    lab: int,
    a: FloatArray,
    b: FloatArray,
    axes: tuple[FloatArray, FloatArray, FloatArray],
    inside: np.ndarray,
    first_member: int,
    radius_mm: float = FOOTPRINT_RADIUS_MM,
) -> None:
    """Label `lab` on the voxels within radius_mm of the segment a-b that lie inside the
    fascia and are free or belong to a member (labels >= first_member)."""
    lo = np.minimum(a, b) - radius_mm
    hi = np.maximum(a, b) + radius_mm
    box = tuple(
        slice(int(np.searchsorted(ax, lo[k])), int(np.searchsorted(ax, hi[k], side="right")))
        for k, ax in enumerate(axes)
    )
    gx, gy, gz = np.meshgrid(axes[0][box[0]], axes[1][box[1]], axes[2][box[2]], indexing="ij")
    near = _distance_to_segment(np.stack([gx, gy, gz], axis=-1), a, b) <= radius_mm
    sub = labels[box]
    sub[near & inside[box] & ((sub >= first_member) | (sub == BACKGROUND))] = lab


def _distance_to_segment(points: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[..., None] * ab), axis=-1)


def _keep_largest_pieces(labels: np.ndarray, member_labels: Any, free: np.ndarray, rounds: int = 6) -> None:
    """Each member keeps only its largest connected piece (6-connected); each other
    piece goes whole to the member it borders most (in place). A piece is a voxel island
    the level-by-level diagram left where two cells wrap round each other. Giving a piece
    away can leave its new owner in two pieces, so this repeats until none is left (or
    `rounds` times)."""
    from scipy import ndimage

    cross = ndimage.generate_binary_structure(3, 1)
    for _ in range(rounds):
        moved = False
        for lab in member_labels:
            pieces, n = ndimage.label(labels == lab, structure=cross)
            if n <= 1:
                continue
            sizes = np.bincount(pieces.ravel())
            sizes[0] = 0
            keep = int(np.argmax(sizes))
            for k, box in enumerate(ndimage.find_objects(pieces), start=1):
                if k == keep or box is None:
                    continue
                grown = tuple(slice(max(sl.start - 1, 0), sl.stop + 1) for sl in box)
                piece = pieces[grown] == k
                rim = ndimage.binary_dilation(piece, structure=cross) & ~piece
                around = labels[grown][rim & free[grown]]
                if not len(around):  # a voxel or two wedged between bones or vessels
                    around = labels[grown][rim]
                around = around[around != lab]
                if len(around):
                    labels[grown][piece] = np.bincount(around).argmax()
                    moved = True
        if not moved:
            return


# --------------------------------------------------------------------------- surfaces


def separate_edge_contacts(labels: np.ndarray, rank: IntArray, max_rounds: int = 200) -> np.ndarray:
    """A copy of `labels` in which no label touches itself only along a voxel edge.

    Where two voxels of one label lie diagonally in a square of four and the other two
    belong to other labels, that label's surface pinches to a non-manifold edge, which
    vtkSurfaceNets3D splits into sheets with open edges. Each such square is resolved by
    giving one of its voxels a label of higher rank (``rank[label]``, a permutation of the
    labels) than it had: the diagonal's own label if that ranks higher, else the higher of
    the other two. Ranks only grow, so the process ends; the labels ranked highest (the
    exact structures) never give way."""
    order = np.argsort(rank)
    out = np.asarray(rank, np.int64)[labels]
    for _ in range(max_rounds):
        changed = 0
        for axis in range(3):
            u, v = (k for k in range(3) if k != axis)
            n_u, n_v = out.shape[u] - 1, out.shape[v] - 1

            def corner(du: int, dv: int, u: int = u, v: int = v, n_u: int = n_u, n_v: int = n_v) -> Any:
                s = [slice(None)] * 3
                s[u] = slice(du, n_u + du)
                s[v] = slice(dv, n_v + dv)
                return tuple(s)

            for (a, b), (c, d) in (
                (((0, 0), (1, 1)), ((0, 1), (1, 0))),
                (((0, 1), (1, 0)), ((0, 0), (1, 1))),
            ):
                pa, pb, pc, pd = (out[corner(*k)] for k in (a, b, c, d))
                diag = (pa == pb) & (pc != pa) & (pd != pa)
                if not diag.any():
                    continue
                own = pa[diag].astype(np.int64)
                other_c, other_d = pc[diag].astype(np.int64), pd[diag].astype(np.int64)
                at = np.argwhere(diag)
                # which corner changes, and to what
                grow_c = other_c < own
                grow_d = ~grow_c & (other_d < own)
                give_a = ~grow_c & ~grow_d
                for offset, pick, value in (
                    (c, grow_c, own),
                    (d, grow_d, own),
                    (a, give_a, np.maximum(other_c, other_d)),
                ):
                    if not pick.any():
                        continue
                    idx = at[pick].copy()
                    idx[:, u] += offset[0]
                    idx[:, v] += offset[1]
                    cur = out[tuple(idx.T)].astype(np.int64)
                    new = np.maximum(cur, value[pick])
                    out[tuple(idx.T)] = new.astype(out.dtype)
                    changed += int(np.count_nonzero(new != cur))
        if not changed:
            break
    return order[out].astype(labels.dtype)


@dataclass
class LabelNetwork:
    """Every boundary between two labels of a volume as one triangle network: each face
    lies between labels ``pairs[f, 0]`` and ``pairs[f, 1]`` and its normal (right-hand
    winding) points from the first into the second. Neighbours share their faces, so the
    surfaces assembled from it meet without gap or overlap."""

    points: FloatArray  # (n,3) mm
    faces: IntArray  # (m,3)
    pairs: IntArray  # (m,2)

    def surface_of(self, label: int) -> SurfaceMesh:
        """The closed surface of one label, wound outward."""
        f = np.concatenate(
            [self.faces[self.pairs[:, 0] == label], self.faces[self.pairs[:, 1] == label][:, ::-1]]
        )
        used, inverse = np.unique(f, return_inverse=True)
        return SurfaceMesh(self.points[used].copy(), inverse.reshape(-1, 3).astype(np.int64))


def _face_normals(points: FloatArray, faces: IntArray) -> FloatArray:
    a, b, c = (points[faces[:, k]] for k in range(3))
    n = np.cross(b - a, c - a)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def label_network(volume: LabelVolume, labels: np.ndarray) -> LabelNetwork:
    """The boundaries of `labels` (on `volume`'s grid) by VTK's SurfaceNets
    (vtkSurfaceNets3D through pyvista's contour_labels: one vertex per boundary cell,
    shared by every label meeting there, smoothed with the constraint that a vertex stays
    within its cell)."""
    import pyvista as pv

    img = pv.ImageData(dimensions=labels.shape, spacing=volume.spacing_mm, origin=volume.origin_mm)
    img.point_data["labels"] = labels.ravel(order="F")
    net = img.contour_labels("all", output_mesh_type="triangles", simplify_output=False, smoothing=True)
    points = np.asarray(net.points, float)
    faces = np.asarray(net.regular_faces, np.int64)
    pairs = np.asarray(net.cell_data["boundary_labels"], np.int64)
    # the winding's sense: checked on the volume (VTK has changed it between versions)
    n = _face_normals(points, faces)
    centre = points[faces].mean(axis=1)
    step = 0.5 * float(np.min(volume.spacing_mm))
    ahead = _label_at(volume, labels, centre + step * n)
    behind = _label_at(volume, labels, centre - step * n)
    into_second = np.count_nonzero((ahead == pairs[:, 1]) & (behind == pairs[:, 0]))
    into_first = np.count_nonzero((ahead == pairs[:, 0]) & (behind == pairs[:, 1]))
    if into_first > into_second:
        faces = faces[:, ::-1].copy()
    return LabelNetwork(points, faces, pairs)


def _label_at(volume: LabelVolume, labels: np.ndarray, points: FloatArray) -> IntArray:
    ijk = np.rint((points - volume.origin_mm) / volume.spacing_mm).astype(np.int64)
    ok = np.all((ijk >= 0) & (ijk < np.array(labels.shape)), axis=1)
    out = np.zeros(len(points), np.int64)
    out[ok] = labels[tuple(ijk[ok].T)]
    return out


def closest_points_on(mesh: SurfaceMesh, points: FloatArray) -> FloatArray:
    """The closest point of `mesh` to each of `points` (VTK's cell locator)."""
    import pyvista as pv

    if not len(points):
        return np.zeros((0, 3))
    poly = pv.PolyData.from_regular_faces(mesh.vertices, mesh.faces)
    _, closest = poly.find_closest_cell(np.asarray(points, float), return_closest_point=True)
    return np.asarray(closest, float).reshape(-1, 3)


def snap_to_exact(
    net: LabelNetwork,
    volume: LabelVolume,
    exact_meshes: Mapping[str, SurfaceMesh],
    fascia: SurfaceMesh,
    z_ends_mm: tuple[float, float],
) -> FloatArray:
    """The network's points moved onto the surfaces its voxels only approximate: a point
    on a face bordering a bone, nerve or vessel onto that structure's exact surface (the
    nearest, where it borders several), a point bordering the outside of the deep fascia
    onto the fascia (its inner surface, where the muscles begin), or onto the limb's cut end
    at the first and last levels.

    Where moving points onto a curved surface turns a face over (the voxels' staircase
    folds when pressed flat), the moved points round it are slid along their surface
    towards the mean of their neighbours, a few times; moves that still turn a face are
    then halved until none does."""
    pts = net.points
    target = pts.copy()
    best = np.full(len(pts), np.inf)
    owner = np.full(len(pts), -1)  # which surface a point was moved onto (-1: none, -2: a cut end)
    exact_ids = sorted(volume.exact, key=volume.label_of)
    surfaces: list[SurfaceMesh] = [exact_meshes[sid] for sid in exact_ids]  # owner k: surfaces[k]
    for k, sid in enumerate(exact_ids):
        on = np.unique(net.faces[(net.pairs == volume.label_of(sid)).any(axis=1)])
        if not len(on):
            continue
        q = closest_points_on(exact_meshes[sid], pts[on])
        d = np.linalg.norm(q - pts[on], axis=1)
        nearer = d < best[on]
        target[on[nearer]] = q[nearer]
        best[on[nearer]] = d[nearer]
        owner[on[nearer]] = k
    # where two exact structures meet (the femoral vessels running on into the popliteal
    # ones), a point moved onto one can land inside the other: it goes onto that one too
    for _ in range(2):
        moved = np.nonzero(owner >= 0)[0]
        landed = _label_at(volume, volume.labels, target[moved])
        for sid in exact_ids:
            lab = volume.label_of(sid)
            inside_other = moved[(landed == lab) & (owner[moved] != exact_ids.index(sid))]
            if len(inside_other):
                target[inside_other] = closest_points_on(exact_meshes[sid], target[inside_other])
                owner[inside_other] = exact_ids.index(sid)
    outside = np.unique(net.faces[(net.pairs == BACKGROUND).any(axis=1)])
    outside = outside[owner[outside] == -1]
    zs = volume.axis(2)
    low = pts[outside, 2] < zs[0]
    high = pts[outside, 2] > zs[-1]
    side = outside[~low & ~high]
    target[side] = closest_points_on(fascia, pts[side])
    owner[side] = len(surfaces)
    surfaces.append(fascia)
    target[outside[low], 2] = z_ends_mm[0]
    target[outside[high], 2] = z_ends_mm[1]
    owner[outside[low | high]] = -2
    was = _face_normals(pts, net.faces)
    edges = np.concatenate([net.faces[:, [0, 1]], net.faces[:, [1, 2]], net.faces[:, [2, 0]]])
    for _ in range(UNTANGLE_ROUNDS):
        turned = np.einsum("ij,ij->i", _face_normals(target, net.faces), was) <= 0.0
        if not turned.any():
            break
        near = np.zeros(len(pts), bool)
        near[net.faces[turned]] = True
        near[edges[near[edges[:, 0]], 1]] = True  # and their neighbours
        near &= owner >= 0
        total = np.zeros_like(target)
        count = np.zeros(len(pts))
        np.add.at(total, edges[:, 0], target[edges[:, 1]])
        np.add.at(count, edges[:, 0], 1.0)
        mean = total / np.maximum(count, 1.0)[:, None]
        for k, surface in enumerate(surfaces):
            these = np.nonzero(near & (owner == k))[0]
            if len(these):
                target[these] = closest_points_on(surface, mean[these])
    return _without_turned_faces(pts, target, net.faces)


def _without_turned_faces(
    before: FloatArray, after: FloatArray, faces: IntArray, rounds: int = 8
) -> FloatArray:
    was = _face_normals(before, faces)
    move = after - before
    for _ in range(rounds):
        turned = np.einsum("ij,ij->i", _face_normals(before + move, faces), was) <= 0.0
        if not turned.any():
            return before + move
        move[np.unique(faces[turned])] *= 0.5
    turned = np.einsum("ij,ij->i", _face_normals(before + move, faces), was) <= 0.0
    move[np.unique(faces[turned])] = 0.0
    return before + move


def decimate_network(net: LabelNetwork, reduction: float, keep: np.ndarray | None = None) -> LabelNetwork:
    """Fewer faces, the network still shared: each patch between two labels is
    decimated on its own (vtkDecimatePro, topology preserved) with the strip of faces
    along its border (where three labels meet) kept as it is, so the patches still meet
    vertex for vertex and no two of them cut the same corner. `keep` (per face) selects
    the faces to keep at all (the others are dropped first)."""

    faces, pairs = net.faces, net.pairs
    if keep is not None:
        faces, pairs = faces[keep], pairs[keep]
    if reduction <= 0 or not len(faces):
        return LabelNetwork(net.points, faces, pairs)
    key = pairs[:, 0] * 65536 + pairs[:, 1]
    order = np.argsort(key, kind="stable")
    uniq, start = np.unique(key[order], return_index=True)
    stop = np.append(start[1:], len(order))
    # a vertex in more than one patch lies on a border
    patch_of_face = np.empty(len(faces), np.int64)
    for i in range(len(uniq)):
        patch_of_face[order[start[i] : stop[i]]] = i
    vp = np.unique(np.column_stack([faces.ravel(), np.repeat(patch_of_face, 3)]), axis=0)
    border = np.bincount(vp[:, 0], minlength=len(net.points)) > 1
    out_faces, out_pairs = [], []
    for i in range(len(uniq)):
        f = faces[order[start[i] : stop[i]]]
        strip = border[f].any(axis=1)
        f_new = f
        # vtkDecimatePro now and then leaves an edge with more than two faces (where the
        # inner part's border touches itself): the faces round such an edge join the
        # strip and the rest is decimated again; at last the patch is kept as it was
        for _ in range(6):
            inner = f[~strip]
            if len(inner) < 64:
                break
            candidate = np.concatenate([f[strip], _decimated(net.points, inner, reduction)])
            bad = _overused_edges(candidate)
            if not len(bad):
                f_new = candidate
                break
            near = np.zeros(len(net.points), bool)
            near[bad.ravel()] = True
            near[f[near[f].any(axis=1)]] = True
            strip |= near[f].any(axis=1)
        out_faces.append(f_new)
        out_pairs.append(np.repeat(pairs[order[start[i]]][None, :], len(f_new), axis=0))
    return LabelNetwork(net.points, np.concatenate(out_faces), np.concatenate(out_pairs))


def _decimated(points: FloatArray, faces: IntArray, reduction: float) -> IntArray:
    """`faces` decimated by vtkDecimatePro: topology and border points kept, no point
    removed whose removal would move the surface more than DECIMATION_ERROR_MM (so that a
    patch lying on a curved exact surface, the fascia or a bone, does not cut under it).
    Indices into `points`; the kept points are not moved."""
    import pyvista as pv
    from vtkmodules.vtkFiltersCore import vtkDecimatePro

    used, inverse = np.unique(faces, return_inverse=True)
    poly = pv.PolyData.from_regular_faces(points[used], inverse.reshape(-1, 3))
    poly.point_data["vertex"] = used
    dec = vtkDecimatePro()
    dec.SetInputData(poly)
    dec.SetTargetReduction(reduction)
    dec.PreserveTopologyOn()
    dec.SplittingOff()
    dec.BoundaryVertexDeletionOff()
    dec.SetErrorIsAbsolute(1)
    dec.SetAbsoluteError(DECIMATION_ERROR_MM)
    dec.AccumulateErrorOff()
    dec.Update()
    out = pv.wrap(dec.GetOutput())
    return np.asarray(out.point_data["vertex"], np.int64)[
        np.asarray(out.triangulate().regular_faces, np.int64)
    ]


def cover_exact(
    net: LabelNetwork,
    volume: LabelVolume,
    exact_meshes: Mapping[str, SurfaceMesh],
    fascia: SurfaceMesh,
    z_ends_mm: tuple[float, float],
) -> FloatArray:
    """The network's points, those inside its patches on an exact surface (the fascia, a
    bone, a nerve, a vessel) pushed into that surface by as far as the faces round them
    sag below it. The points of such a patch lie on the exact surface (snap_to_exact),
    but a face between them is a chord of its curve, and would leave a sliver of no
    structure between the two; pushed, the packed structure overlaps the exact one by
    about that sliver instead. A point on a patch's border (shared with another packed
    structure) does not move, nor does a face at the limb's cut ends, nor any point by
    more than MAX_COVER_MM."""
    at_cut_end = np.isin(net.points[:, 2], z_ends_mm)
    targets = [(BACKGROUND, fascia)] + [(volume.label_of(sid), exact_meshes[sid]) for sid in volume.exact]
    exact_side = np.isin(net.pairs, [lab for lab, _ in targets])
    covered = exact_side.any(axis=1) & ~at_cut_end[net.faces].any(axis=1)
    others = np.zeros(len(net.points), bool)
    others[net.faces[~covered]] = True
    push = np.zeros(len(net.points))
    direction = np.zeros_like(net.points)
    for lab, surface in targets:
        on = covered & (net.pairs == lab).any(axis=1)
        faces = net.faces[on]
        if not len(faces):
            continue
        a, b, c = (net.points[faces[:, k]] for k in range(3))
        probes = np.stack([(a + b + c) / 3.0, (a + b) / 2.0, (b + c) / 2.0, (c + a) / 2.0], axis=1)
        closest = closest_points_on(surface, probes.reshape(-1, 3)).reshape(probes.shape)
        sag = np.linalg.norm(closest - probes, axis=2).max(axis=1)
        # a face is wound from its first label into its second: into the exact structure
        into = np.where(net.pairs[on][:, 1] == lab, 1.0, -1.0)
        normal = _face_normals(net.points, faces) * into[:, None]
        for k in range(3):
            np.maximum.at(push, faces[:, k], sag)
            np.add.at(direction, faces[:, k], normal)
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    push[others | at_cut_end] = 0.0
    return net.points + np.minimum(push, MAX_COVER_MM)[:, None] * direction


def _overused_edges(faces: IntArray) -> IntArray:
    """(k,2) the edges of more than two of `faces`."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    edges, counts = np.unique(e, axis=0, return_counts=True)
    return edges[counts > 2]


def surfaces_from_volume(
    volume: LabelVolume,
    structure_ids: Sequence[str],
    limb: Mapping[str, Any],
    exact_meshes: Mapping[str, SurfaceMesh],
    target_reduction: float = SURFACE_REDUCTION,
) -> dict[str, SurfaceMesh]:
    """Closed, outward surfaces of the given (non-exact) structures of the volume, all
    from one network of shared boundaries (label_network), so that neighbours meet
    exactly; their borders with bones, nerves, vessels and the fascia moved onto those
    exact surfaces (snap_to_exact); decimated patch by patch (decimate_network)."""
    from thighmap.anatomy.meshgen import limb_meshes

    # ranked by the volume's order reversed (ids: exact structures, sleeves, members):
    # the exact structures keep their voxels, the sleeves theirs against the muscles
    n_labels = 256
    rank = np.concatenate([[0], np.arange(n_labels - 1, 0, -1)])
    labels = volume.labels
    exact_labels = [volume.label_of(sid) for sid in volume.exact]
    members = [k for k in range(1, len(volume.ids) + 1) if k not in exact_labels]
    for _ in range(3):
        # separating edge contacts can cut a thin member in two; giving the cut-off piece
        # to its neighbour can make new edge contacts: a few rounds settle both
        labels = separate_edge_contacts(labels, rank)
        before = labels.copy()
        _keep_largest_pieces(labels, members, np.isin(labels, members))
        if np.array_equal(before, labels):
            break
    net = label_network(volume, labels)
    # the layers outside the domain as one shell, whose inner wall is the domain's border
    # (the deep fascia's inner surface) and whose outer wall is far from it
    fascia = limb_meshes(limb)["beneath_skin"]
    # the cut ends 1 mm inside the limb's, as the bones' are (anatomy/skeleton.py)
    z_ends = (float(limb["z_range_mm"][0]) + END_INSET_MM, float(limb["z_range_mm"][1]) - END_INSET_MM)
    net.points = snap_to_exact(net, volume, exact_meshes, fascia, z_ends)
    wanted = np.zeros(max(256, len(volume.ids) + 1), bool)
    for sid in structure_ids:
        wanted[volume.label_of(sid)] = True
    net = decimate_network(net, target_reduction, keep=wanted[net.pairs].any(axis=1))
    net.points = cover_exact(net, volume, exact_meshes, fascia, z_ends)
    out: dict[str, SurfaceMesh] = {}
    for sid in structure_ids:
        sm = net.surface_of(volume.label_of(sid))
        if not len(sm.faces):
            raise ValueError(f"structure {sid!r}: no voxel of the packed volume is its own")
        out[sid] = _outward(_without_crumbs(sm))
    return out


def _without_crumbs(sm: SurfaceMesh, share: float = 0.02) -> SurfaceMesh:
    """The surface less its pieces that enclose under `share` of its volume (a voxel or
    two cut off where a thin part of a structure narrows to nothing)."""
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
    footprints = _footprints(atlas, members, bones)
    thin = []
    for sid in exact:
        if sid in bones or structures[sid].recipe["type"] != "tube":
            continue
        tube = atlas.tube(sid)
        flat = 0.0 if tube.flat_half_width_mm is None else tube.flat_half_width_mm
        if float(np.max(tube.radii_mm + flat)) < THIN_TUBE_RADIUS_MM:
            thin.append((sid, np.asarray(tube.centres_mm, float), np.asarray(tube.radii_mm, float)))
    return PackingSpec(
        spacing,
        members,
        volumes,
        exact,
        sleeves,
        bones=bones,
        footprints=footprints,
        thin=tuple(thin),  # type: ignore[arg-type]
    )


def _footprints(
    atlas: Any, members: Sequence[Member], bones: Sequence[str]
) -> tuple[tuple[str, FloatArray, FloatArray], ...]:
    """Each packed muscle's origins and insertions on the atlas's bones, from the
    skeleton's attachment points (anatomy/skeleton.py: MyoLeg's path points and their
    nearest points on the bones): (muscle, the point of its path at that level, the point
    on the bone). Points off the limb, on a bone the atlas does not have, or farther than
    FOOTPRINT_REACH_MM from their bone (the source model's point lies elsewhere) are left
    out, and so are those farther than FOOTPRINT_LENGTH_MM from the muscle's path (where
    the path and the source model disagree, a long tendon would cut through its
    neighbours)."""
    if not bones:
        return ()
    from thighmap.anatomy.skeleton import SkeletonError, load_skeleton

    try:
        skeleton = load_skeleton(atlas.skeleton_dir)
    except (SkeletonError, OSError):
        return ()
    z0, z1 = (float(v) for v in atlas.document["limb"]["z_range_mm"])
    by_id = {m.id: m for m in members}
    out = []
    for muscle in skeleton.attachments.values():
        member = by_id.get(muscle.structure or "")
        if member is None:
            continue
        for point in (muscle.origin, muscle.insertion):
            if point.bone not in bones or point.on_bone_mm is None:
                continue
            end = np.asarray(point.on_bone_mm, float)
            if not z0 < end[2] < z1 or np.linalg.norm(end - point.position_mm) > FOOTPRINT_REACH_MM:
                continue
            z = float(np.clip(end[2], member.z_lo, member.z_hi))
            start = np.array([*member.at(z)[0], z])
            if np.linalg.norm(end - start) <= FOOTPRINT_LENGTH_MM:
                out.append((member.id, start, end))
    return tuple(out)


def packed_ids(atlas: Any) -> list[str]:
    return [sid for sid, st in atlas.structures.items() if st.recipe["type"] in PACKED_TYPES]


def atlas_volume(atlas: Any, exact_meshes: Mapping[str, SurfaceMesh]) -> LabelVolume:
    """The atlas's packed label volume. A surface encloses a little more or less than its
    voxels (its borders are moved onto the fascia and the exact surfaces, see
    surfaces_from_volume): the volume is rebuilt VOLUME_ROUNDS times, each member's target
    corrected by how far its extracted surface missed its published volume."""
    spec = spec_from_atlas(atlas)
    volume = build_volume(atlas.document["limb"], spec, exact_meshes)
    targeted = [m.id for m in spec.members if m.id in spec.volumes_mm3]
    scale = dict.fromkeys(targeted, 1.0)
    for _ in range(VOLUME_ROUNDS):
        surfaces = surfaces_from_volume(
            volume, targeted, atlas.document["limb"], exact_meshes, target_reduction=0.0
        )
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
    return volume, surfaces_from_volume(volume, packed_ids(atlas), atlas.document["limb"], exact_meshes)
