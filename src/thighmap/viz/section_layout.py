"""The geometry of a cross-section's picture: which structure is at a point, and where
its label goes. Plain numpy (no Qt, no VTK); the cross-section panel draws what comes
back.

A section is a list of regions in drawing order (skin first, nerves last): each region
is a structure's cut, closed loops filled even-odd (a ring of skin is its outer loop
with the inner one as a hole). A region drawn later covers the earlier ones, so the
structure at a point is the last region that contains it (:func:`region_at`), and the
part of a region one can see is the region less every region drawn after it.

Labels (:func:`layout_section_labels`): each region's label hangs from the point of its
visible part farthest from that part's edge (on a grid of a few pixels, the distance by
a distance transform of the grid, to within a grid step). A label whose
box fits inside the visible part there sits on it, with no leader; the others go beside
the section with leader lines, never on a label already placed nor outside the viewport:
in two columns left and right of the section (rows above and below it for a section
wider than tall, when they hold as many), each label on its structure's side, stacked in the order of their
structures along the column so that no two leaders cross (as anatomy atlases label a
cross-section). Where the columns cannot hold them all, the 3D view's layout
(:func:`thighmap.viz.labels.layout_labels`) places them around the section instead,
whichever names more. Everything is in the picture's pixels (any orientation of the y
axis).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from thighmap.viz import labels as label_layout

GRID_PX = 3.0  # the step of the grid a region's label point is searched on
MAX_GRID = 160  # at most this many grid steps along a side (a huge region is sampled coarser)
INSIDE_MARGIN_PX = 1.0  # a label inside its region keeps this far from the region's edge
SIDE_PENALTY_PX = 250.0  # a label beside the section on the other side than its structure
COLUMN_GAP_PX = 8.0  # between the section's bounding box and a column of labels
WIDE_SECTION = 1.5  # a section this many times wider than tall is labelled above and below


def points_in_loops(points: Any, loops: Sequence[np.ndarray]) -> np.ndarray:
    """(P,) True for the points inside the loops, filled even-odd (each loop is closed,
    its last point joined to its first)."""
    p = np.asarray(points, float).reshape(-1, 2)
    odd = np.zeros(len(p), bool)
    for loop in loops:
        q = np.asarray(loop, float).reshape(-1, 2)
        if len(q) < 3:
            continue
        a, b = q, np.roll(q, -1, axis=0)
        # crossing number: edges straddling the point's horizontal, crossed right of it
        ay, by = a[None, :, 1], b[None, :, 1]
        py = p[:, 1:2]
        straddle = (ay > py) != (by > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = a[None, :, 0] + (py - ay) * (b[None, :, 0] - a[None, :, 0]) / (by - ay)
        crossings = (straddle & (p[:, 0:1] < x_at)).sum(axis=1)
        odd ^= crossings % 2 == 1
    return odd


def grid_in_loops(xs: np.ndarray, ys: np.ndarray, loops: Sequence[np.ndarray]) -> np.ndarray:
    """(len(ys), len(xs)) True for the grid points (xs[i], ys[j]) inside the loops, filled
    even-odd: :func:`points_in_loops` for a grid, row by row (the edges crossing a row,
    sorted once, and the number of them left of each point)."""
    xs = np.asarray(xs, float)
    ys = np.asarray(ys, float)
    a, b = _segments([q for q in loops if len(q) >= 3])
    out = np.zeros((len(ys), len(xs)), bool)
    if len(a) == 0:
        return out
    ay, by = a[:, 1][None, :], b[:, 1][None, :]
    py = ys[:, None]
    straddle = (ay > py) != (by > py)  # (rows, edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = a[:, 0][None, :] + (py - ay) * (b[:, 0] - a[:, 0])[None, :] / (by - ay)
    x_at = np.where(straddle, x_at, np.inf)
    x_at.sort(axis=1)
    for j in range(len(ys)):
        row = x_at[j]
        n = int(np.searchsorted(row, np.inf))  # the crossings of this row
        if n:
            # crossings right of the point: as points_in_loops counts them (px < x_at)
            right = n - np.searchsorted(row[:n], xs, side="right")
            out[j] = right % 2 == 1
    return out


def region_at(regions: Sequence[Sequence[np.ndarray]], point: Any) -> int | None:
    """The index of the region drawn on top at ``point`` (the last one containing it), or
    None outside every region."""
    p = np.asarray(point, float).reshape(1, 2)
    for k in range(len(regions) - 1, -1, -1):
        if points_in_loops(p, regions[k])[0]:
            return k
    return None


def _segments(loops: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    starts = [np.asarray(q, float).reshape(-1, 2) for q in loops if len(q) >= 2]
    if not starts:
        return np.zeros((0, 2)), np.zeros((0, 2))
    return np.vstack(starts), np.vstack([np.roll(q, -1, axis=0) for q in starts])


def distance_to_segments(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P,) distance from each point to the nearest of the segments a[s]-b[s]."""
    if len(a) == 0:
        return np.full(len(points), np.inf)
    d = b - a
    dd = np.maximum((d * d).sum(axis=1), 1e-18)
    t = np.clip(((points[:, None, :] - a[None]) * d[None]).sum(axis=2) / dd[None], 0.0, 1.0)
    nearest = a[None] + t[..., None] * d[None]
    return np.sqrt(((points[:, None, :] - nearest) ** 2).sum(axis=2)).min(axis=1)


def _bounds(loops: Sequence[np.ndarray]) -> np.ndarray:
    allp = np.vstack([np.asarray(q, float).reshape(-1, 2) for q in loops])
    return np.array([*allp.min(axis=0), *allp.max(axis=0)])


def _touches(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3])


@dataclass(frozen=True)
class VisiblePart:
    """Where one region can be seen: grid points of its visible part and their distance
    to that part's edge, and the edges themselves (its loops' and those of the regions
    drawn over it nearby)."""

    points: np.ndarray  # (P, 2)
    clearance: np.ndarray  # (P,) distance to the edge
    edge_a: np.ndarray  # (S, 2) edge segments
    edge_b: np.ndarray

    @property
    def pole(self) -> np.ndarray | None:
        """The visible point farthest from the edge (None when nothing is visible)."""
        return None if len(self.points) == 0 else self.points[int(np.argmax(self.clearance))]


def _beside_edges(loops: Sequence[np.ndarray], offset: float) -> np.ndarray:
    """Points ``offset`` to either side of the middle of every edge of the loops."""
    a, b = _segments(loops)
    d = b - a
    length = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-12)
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / length[:, None]
    mid = (a + b) / 2.0
    return np.vstack([mid + offset * normal, mid - offset * normal])


def visible_part(regions: Sequence[Sequence[np.ndarray]], k: int, grid_px: float = GRID_PX) -> VisiblePart:
    """Region ``k`` less the regions drawn after it, sampled on a grid."""
    loops = [np.asarray(q, float).reshape(-1, 2) for q in regions[k] if len(q) >= 3]
    empty = VisiblePart(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2)))
    if not loops:
        return empty
    box = _bounds(loops)
    step = max(grid_px, float(max(box[2] - box[0], box[3] - box[1])) / MAX_GRID)
    xs = np.arange(box[0] + step / 2, box[2], step)
    ys = np.arange(box[1] + step / 2, box[3], step)
    if len(xs) == 0 or len(ys) == 0:  # smaller than a grid step: its centre
        xs, ys = np.array([(box[0] + box[2]) / 2]), np.array([(box[1] + box[3]) / 2])
    gx, gy = np.meshgrid(xs, ys)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    mask = grid_in_loops(xs, ys, loops).ravel()
    on_grid = bool(mask.any())
    if not on_grid:  # thinner than the grid (a ring of skin): points just off its edges
        pts = _beside_edges(loops, min(1.0, step / 4))
        mask = points_in_loops(pts, loops)
    edge_loops: list[np.ndarray] = list(loops)
    for j in range(k + 1, len(regions)):
        over = [np.asarray(q, float).reshape(-1, 2) for q in regions[j] if len(q) >= 3]
        if not over or not _touches(_bounds(over), box):
            continue
        if on_grid:
            mask &= ~grid_in_loops(xs, ys, over).ravel()
        else:
            mask[mask] &= ~points_in_loops(pts[mask], over)
        edge_loops += over
    if not mask.any():
        return empty
    a, b = _segments(edge_loops)
    # only the edges near the region matter for its points' clearance
    near = (
        (np.minimum(a[:, 0], b[:, 0]) <= box[2])
        & (np.maximum(a[:, 0], b[:, 0]) >= box[0])
        & (np.minimum(a[:, 1], b[:, 1]) <= box[3])
        & (np.maximum(a[:, 1], b[:, 1]) >= box[1])
    )
    a, b = a[near], b[near]
    if on_grid:
        from scipy import ndimage  # here: the window need not load it before a slice is drawn

        # the distance to the nearest grid point not seen (the grid padded with unseen
        # points): the distance to the edge, to within a grid step
        seen = np.pad(mask.reshape(len(ys), len(xs)), 1)
        clearance = ndimage.distance_transform_edt(seen)[1:-1, 1:-1].ravel()[mask] * step
    else:
        clearance = distance_to_segments(pts[mask], a, b)
    return VisiblePart(pts[mask], clearance, a, b)


def fits_inside(part: VisiblePart, rect: np.ndarray, margin_px: float = INSIDE_MARGIN_PX) -> bool:
    """Whether the box lies in the visible part: no edge comes within ``margin_px`` of it
    (so all of it is on one side of every edge) and a visible grid point lies in it."""
    r = np.asarray(rect, float) + np.array([-margin_px, -margin_px, margin_px, margin_px])
    if len(part.points) == 0:
        return False
    if len(part.edge_a) and label_layout.segments_hit_rects(r[None], part.edge_a, part.edge_b).any():
        return False
    inside = (
        (part.points[:, 0] >= r[0])
        & (part.points[:, 0] <= r[2])
        & (part.points[:, 1] >= r[1])
        & (part.points[:, 1] <= r[3])
    )
    return bool(inside.any())


@dataclass(frozen=True)
class SectionLabels:
    """Where the labels of a section go: one row per region, in the order given."""

    rects_px: np.ndarray  # (n, 4) x0, y0, x1, y1; NaN where not shown
    anchors_px: np.ndarray  # (n, 2) the point each label names (NaN: nothing visible)
    inside: np.ndarray  # (n,) bool: the label sits on its region (no leader)
    placed: np.ndarray  # (n,) bool
    leader_end_px: np.ndarray  # (n, 2) where the leader meets the box; NaN without one

    def leaders(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(anchor, end) of every label drawn beside its region."""
        return [
            (self.anchors_px[k], self.leader_end_px[k]) for k in np.flatnonzero(self.placed & ~self.inside)
        ]

    def crossing_leaders(self) -> list[tuple[int, int]]:
        """The pairs of regions whose leaders cross each other."""
        return crossing_segments(self.anchors_px, self.leader_end_px, self.placed & ~self.inside)


def crossing_segments(a: np.ndarray, b: np.ndarray, use: np.ndarray | None = None) -> list[tuple[int, int]]:
    """The pairs (i, j), i < j, of segments a[i]-b[i] that properly cross (of those ``use``)."""
    idx = np.flatnonzero(np.ones(len(a), bool) if use is None else use)
    if len(idx) < 2:
        return []
    cross = label_layout._segments_cross(a[idx], b[idx], a[idx], b[idx])
    return [(int(idx[i]), int(idx[j])) for i, j in zip(*np.nonzero(np.triu(cross, 1)), strict=True)]


def layout_section_labels(
    regions: Sequence[Sequence[np.ndarray]],
    sizes_px: Any,
    priorities: Any,
    viewport_px: Sequence[float],
    *,
    blocked_px: Any = None,
    needles_px: Any = None,
    gap_px: float = label_layout.GAP_PX,
) -> SectionLabels:
    """Place a label of ``sizes_px[k]`` (width, height) for each region ``k`` (loops in
    pixels, drawing order); see the module's description. Higher ``priorities`` are
    placed first and dropped last; ``blocked_px`` boxes are kept free (titles, a scale
    bar); boxes prefer not to cover ``needles_px`` segments."""
    n = len(regions)
    sizes = np.asarray(sizes_px, float).reshape(-1, 2)
    prio = np.asarray(priorities, float).reshape(-1)
    if len(sizes) != n or len(prio) != n:
        raise ValueError("one size and one priority per region")
    vp = np.asarray(viewport_px, float).reshape(4)
    blocked = np.zeros((0, 4)) if blocked_px is None else np.asarray(blocked_px, float).reshape(-1, 4)
    rects = np.full((n, 4), np.nan)
    anchors = np.full((n, 2), np.nan)
    inside = np.zeros(n, bool)
    parts = [visible_part(regions, k) for k in range(n)]
    for k, part in enumerate(parts):
        if part.pole is not None:
            anchors[k] = part.pole
    # first the labels that fit on their own region, most important first
    taken: list[np.ndarray] = list(blocked)
    for k in sorted(range(n), key=lambda i: (-prio[i], i)):
        part = parts[k]
        if part.pole is None:
            continue
        w, h = sizes[k]
        # the points farthest from the edge first: the pole, then the next best places
        for idx in np.argsort(-part.clearance, kind="stable")[:12]:
            if part.clearance[idx] < min(w, h) / 2:
                break  # nowhere left that is wide enough
            at = part.points[idx]
            rect = np.array([at[0] - w / 2, at[1] - h / 2, at[0] + w / 2, at[1] + h / 2])
            if (
                rect[0] >= vp[0] + gap_px
                and rect[1] >= vp[1] + gap_px
                and rect[2] <= vp[2] - gap_px
                and rect[3] <= vp[3] - gap_px
                and fits_inside(part, rect)
                and not _overlaps_any(rect, taken, gap_px)
            ):
                rects[k], anchors[k], inside[k] = rect, at, True
                taken.append(rect)
                break
    # then the others beside the section, with leaders
    rest = [k for k in range(n) if not inside[k] and np.isfinite(anchors[k]).all()]
    leader_end = np.full((n, 2), np.nan)
    if rest:
        shown = [np.asarray(q, float).reshape(-1, 2) for loops in regions for q in loops if len(q)]
        allp = np.vstack(shown) if shown else np.zeros((0, 2))
        avoid = (*allp.min(axis=0), *allp.max(axis=0)) if len(allp) else None
        obstacles = np.array(taken).reshape(-1, 4)
        p = prio[rest]
        # columns beside a section taller than wide, rows above and below a wider one (else
        # the other way round)
        wide = avoid is not None and avoid[2] - avoid[0] > WIDE_SECTION * (avoid[3] - avoid[1])
        best: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        for transpose in (wide, not wide):
            cols = _columns(anchors[rest], sizes[rest], p, vp, avoid, obstacles, gap_px, transpose)
            if cols is not None and (best is None or _named(cols[2], p) > _named(best[2], p)):
                best = cols
            if best is not None and best[2].all():
                break
        if best is None or not best[2].all():
            # around the section, each label on its structure's side (leaders stay short
            # and do not cross the section), when that names more
            mid_x = (avoid[0] + avoid[2]) / 2.0 if avoid is not None else 0.0
            out = label_layout.layout_labels(
                anchors[rest],
                sizes[rest],
                vp,
                p,
                needles_px=needles_px,
                avoid_px=avoid,
                blocked_px=obstacles,
                gap_px=gap_px,
                max_fill=0.6,
                max_leader_px=max(vp[2] - vp[0], vp[3] - vp[1]),
                tangle_from=float(np.min(prio)),
                prefer_side=np.where(anchors[rest][:, 0] < mid_x, -1.0, 1.0),
                side_penalty_px=SIDE_PENALTY_PX,
            )
            if best is None or _named(out.placed, p) > _named(best[2], p):
                best = (out.rects_px, out.leader_end_px, out.placed)
        for j, k in enumerate(rest):
            if best[2][j]:
                rects[k] = best[0][j]
                leader_end[k] = best[1][j]
    placed = np.isfinite(rects).all(axis=1)
    return SectionLabels(rects, anchors, inside, placed, leader_end)


def _named(placed: np.ndarray, prio: np.ndarray) -> tuple[int, float]:
    """How much a layout names: how many labels, then how important they are."""
    return int(placed.sum()), float(prio[placed].sum())


def _columns(
    anchors: np.ndarray,
    sizes: np.ndarray,
    prio: np.ndarray,
    vp: np.ndarray,
    section: Any,
    obstacles: np.ndarray,
    gap: float,
    transpose: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Labels in a column left and right of the section's box ``section`` (``transpose``:
    in rows above and below it), each on its anchor's side, in the order of the anchors
    along the column, then swapped pairwise until no two leaders cross. Labels that do not
    fit are dropped, least important first. None when there is no room beside the section."""
    if section is None:
        return None
    t = (lambda r: r[..., [1, 0, 3, 2]]) if transpose else (lambda r: r)
    swap = (lambda p: p[..., ::-1]) if transpose else (lambda p: p)
    box, vp_t, obs = t(np.asarray(section, float)), t(vp), t(obstacles)
    anc, size = swap(anchors), swap(sizes)
    n = len(anc)
    rects, ends = np.full((n, 4), np.nan), np.full((n, 2), np.nan)
    mid = (box[0] + box[2]) / 2.0
    for side in (-1.0, 1.0):
        members = np.flatnonzero((anc[:, 0] < mid) == (side < 0))
        if not len(members):
            continue
        widest = float(size[members, 0].max())
        if side < 0:
            x1 = box[0] - COLUMN_GAP_PX
            x0 = x1 - widest
            if x0 < vp_t[0] + gap:
                return None
        else:
            x0 = box[2] + COLUMN_GAP_PX
            x1 = x0 + widest
            if x1 > vp_t[2] - gap:
                return None
        # the stretches of the column blocked by boxes already placed (titles, labels)
        hit = (obs[:, 0] < x1 + gap) & (obs[:, 2] > x0 - gap)
        blocked = sorted((float(o[1]) - gap, float(o[3]) + gap) for o in obs[hit])

        def stack(order: list[int], blocked: list[tuple[float, float]] = blocked) -> np.ndarray | None:
            return _stack(anc[order, 1], size[order, 1], (vp_t[1] + gap, vp_t[3] - gap), blocked, gap)

        order = [int(k) for k in members[np.argsort(anc[members, 1], kind="stable")]]
        while order and (ys := stack(order)) is None:
            order.remove(min(order, key=lambda k: (prio[k], -k)))  # the least important goes
        if not order or ys is None:
            continue
        edge = x1 if side < 0 else x0
        order, ys = _untangle(order, ys, anc, edge, stack)
        for k, yk in zip(order, ys, strict=True):
            w, h = size[k]
            left = x1 - w if side < 0 else x0
            rects[k] = (left, yk - h / 2, left + w, yk + h / 2)
            ends[k] = (edge, yk)
    placed = np.isfinite(rects).all(axis=1)
    return t(rects), swap(ends), placed


def _stack(
    want: np.ndarray,
    heights: np.ndarray,
    span: tuple[float, float],
    blocked: list[tuple[float, float]],
    gap: float,
) -> np.ndarray | None:
    """Centres along a column for boxes of ``heights`` in the order given, each as near its
    ``want`` as can be, apart by ``gap``, inside ``span`` and off the ``blocked``
    stretches; None when they do not fit."""
    h = np.asarray(heights, float)
    y = np.asarray(want, float).copy()
    if not len(y):
        return y

    def free(c: float, hh: float) -> tuple[float, float] | None:
        for b0, b1 in blocked:
            if c - hh / 2 < b1 and c + hh / 2 > b0:
                return b0, b1
        return None

    # downwards: each below the one before and below any blocked stretch it touches
    for i in range(len(y)):
        y[i] = max(y[i], span[0] + h[i] / 2, (y[i - 1] + h[i - 1] / 2 + gap + h[i] / 2) if i else -np.inf)
        while (b := free(y[i], h[i])) is not None:
            y[i] = b[1] + h[i] / 2
    # upwards from the end when the column overflows
    for i in range(len(y) - 1, -1, -1):
        limit = span[1] - h[i] / 2 if i == len(y) - 1 else y[i + 1] - h[i + 1] / 2 - gap - h[i] / 2
        if y[i] > limit:
            y[i] = limit
            while (b := free(y[i], h[i])) is not None:
                y[i] = b[0] - h[i] / 2
    if y[0] - h[0] / 2 < span[0] - 1e-9 or any(free(c, hh) for c, hh in zip(y, h, strict=True)):
        return None
    if np.any(np.diff(y) < (h[1:] + h[:-1]) / 2 + gap - 1e-9):
        return None
    return y


def _untangle(
    order: list[int], ys: np.ndarray, anc: np.ndarray, edge: float, stack: Any
) -> tuple[list[int], np.ndarray]:
    """Swap two labels whose leaders (anchor to the column's ``edge``) cross and stack the
    column again, until no two leaders cross (or the swaps run out)."""
    for _ in range(4 * len(order) ** 2 + 4):
        pair = next(
            (
                (i, j)
                for i in range(len(order))
                for j in range(i + 1, len(order))
                if _cross(anc[order[i]], (edge, ys[i]), anc[order[j]], (edge, ys[j]))
            ),
            None,
        )
        if pair is None:
            break
        i, j = pair
        new = list(order)
        new[i], new[j] = new[j], new[i]
        new_ys = stack(new)
        if new_ys is None:
            break
        order, ys = new, new_ys
    return order, ys


def _cross(p1: Any, p2: Any, q1: Any, q2: Any) -> bool:
    """Whether segment p1-p2 properly crosses segment q1-q2."""

    def orient(a: Any, b: Any, c: Any) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return orient(p1, p2, q1) * orient(p1, p2, q2) < 0 and orient(q1, q2, p1) * orient(q1, q2, p2) < 0


def _overlaps_any(rect: np.ndarray, taken: list[np.ndarray], gap: float) -> bool:
    return any(
        rect[0] < t[2] + gap and t[0] < rect[2] + gap and rect[1] < t[3] + gap and t[1] < rect[3] + gap
        for t in taken
    )


def outer_loop(loops: Sequence[np.ndarray]) -> np.ndarray | None:
    """The loop enclosing the largest area (shoelace) of the first two columns: a limb's
    outline among the loops of its skin's cut."""
    best, best_area = None, 0.0
    for q in loops:
        q = np.asarray(q, float)
        if len(q) < 3:
            continue
        x, y = q[:, 0], q[:, 1]
        area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
        if area > best_area:
            best, best_area = q, area
    return best


__all__ = [
    "SectionLabels",
    "VisiblePart",
    "crossing_segments",
    "distance_to_segments",
    "fits_inside",
    "grid_in_loops",
    "layout_section_labels",
    "outer_loop",
    "points_in_loops",
    "region_at",
    "visible_part",
]
