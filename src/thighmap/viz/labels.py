"""Where the labels of the 3D view go: one layout for every label, in display pixels.

Every label of the 3D view (structures, landmarks, trigger points, needles) is a box of
known size hanging from an anchor (the projection of a 3D point). :func:`layout_labels`
puts the boxes inside the viewport and apart, away from the needles' projections and
the model where it can, and drops what does not fit, lowest priority first. It is plain
numpy (no Qt, no VTK): the 3D view projects the anchors, measures the texts
(:func:`measure_text_px`) and draws what comes back.

The layout is greedy: labels are placed in order of priority, each at the cheapest of a
few hundred candidate boxes (rings around its anchor, and columns beside the model)
that does not touch a box already placed. The cost of a candidate is the length of its
leader line plus penalties for covering a needle, another label's anchor or the model,
and for its leader running through a box. A place where the leader would cross another
leader, or the box lie on one, is taken only when there is no other, and only by a
label of priority ``tangle_from`` or more: past a certain density the view keeps fewer
of the lesser labels rather than a tangle. A label marked ``keep`` (a needle's) that has no free
candidate near its anchor takes the free cell nearest its anchor on a grid of the whole
viewport; with no ``blocked_px`` boxes this always succeeds while the grid has more than
four cells for every kept label placed before it (a box no larger than a cell touches at
most four cells), see :func:`grid_capacity`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

GAP_PX = 3.0  # least space between two labels, and between a label and the viewport's edge
RING_RADII_PX = (4.0, 12.0, 24.0, 40.0, 62.0, 90.0, 125.0, 170.0, 230.0, 310.0)
RING_DIRECTIONS = 16
COLUMN_STEPS = 12  # column candidates above and below the anchor's height
# penalties, in pixels of leader length
NEEDLE_PENALTY_PX = 150.0  # covering the projection of a needle or its clearance line
ANCHOR_PENALTY_PX = 40.0  # covering another label's anchor
CROSSING_PENALTY_PX = 35.0  # a leader crossing a leader already drawn
MODEL_PENALTY_PX = 200.0  # a box lying wholly over the model (pro rata for part of it)
SIDE_PENALTY_PX = 15.0  # a box on the other side of its anchor than the caller prefers
SHORTLIST = 48  # candidates whose leaders are checked first


@dataclass(frozen=True)
class LabelLayout:
    """The result: one row per label, in the order given."""

    rects_px: np.ndarray  # (n, 4) x0, y0, x1, y1 in display pixels; NaN where dropped
    placed: np.ndarray  # (n,) bool
    leader_end_px: np.ndarray  # (n, 2) the point of the box nearest its anchor; NaN where dropped

    @property
    def dropped(self) -> np.ndarray:
        """Indices of the labels left out."""
        return np.flatnonzero(~self.placed)


def _overlaps(cands: np.ndarray, rects: np.ndarray, gap: float) -> np.ndarray:
    """(C,) True where a candidate box comes closer than ``gap`` to any of ``rects``."""
    if len(rects) == 0:
        return np.zeros(len(cands), bool)
    c = cands[:, None, :]
    r = rects[None, :, :]
    hit = (
        (c[..., 0] < r[..., 2] + gap)
        & (r[..., 0] < c[..., 2] + gap)
        & (c[..., 1] < r[..., 3] + gap)
        & (r[..., 1] < c[..., 3] + gap)
    )
    return hit.any(axis=1)


def segments_hit_rects(rects: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(C, S) True where segment a[s]-b[s] passes through box rects[c] (slab test)."""
    if len(a) == 0 or len(rects) == 0:
        return np.zeros((len(rects), len(a)), bool)
    d = b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d  # +-inf along an axis the segment does not move on
        tx0 = (rects[:, 0:1] - a[:, 0]) * inv[:, 0]
        tx1 = (rects[:, 2:3] - a[:, 0]) * inv[:, 0]
        ty0 = (rects[:, 1:2] - a[:, 1]) * inv[:, 1]
        ty1 = (rects[:, 3:4] - a[:, 1]) * inv[:, 1]
    # a segment lying on a box's edge line gives 0 * inf = NaN: decide that axis directly
    inside_x = (rects[:, 0:1] <= a[:, 0]) & (a[:, 0] <= rects[:, 2:3])
    inside_y = (rects[:, 1:2] <= a[:, 1]) & (a[:, 1] <= rects[:, 3:4])
    still_x = d[:, 0] == 0
    still_y = d[:, 1] == 0
    enter = np.maximum(
        np.where(still_x, np.where(inside_x, 0.0, np.inf), np.minimum(tx0, tx1)),
        np.where(still_y, np.where(inside_y, 0.0, np.inf), np.minimum(ty0, ty1)),
    )
    leave = np.minimum(
        np.where(still_x, np.where(inside_x, 1.0, -np.inf), np.maximum(tx0, tx1)),
        np.where(still_y, np.where(inside_y, 1.0, -np.inf), np.maximum(ty0, ty1)),
    )
    return (np.maximum(enter, 0.0) <= np.minimum(leave, 1.0)) & (enter <= leave)


def _segments_cross(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """(C, L) True where segment p1[c]-p2[c] properly crosses q1[l]-q2[l]."""
    if len(q1) == 0:
        return np.zeros((len(p1), 0), bool)

    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (
            c[..., 0] - a[..., 0]
        )

    P1, P2 = p1[:, None, :], p2[:, None, :]
    Q1, Q2 = q1[None, :, :], q2[None, :, :]
    d1 = orient(P1, P2, Q1)
    d2 = orient(P1, P2, Q2)
    d3 = orient(Q1, Q2, P1)
    d4 = orient(Q1, Q2, P2)
    return (d1 * d2 < 0) & (d3 * d4 < 0)


def nearest_on_rects(points: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """The point of each box nearest to its point (the point itself when inside)."""
    x = np.clip(points[..., 0], rects[..., 0], rects[..., 2])
    y = np.clip(points[..., 1], rects[..., 1], rects[..., 3])
    return np.stack([x, y], axis=-1)


def grid_capacity(viewport_px: Sequence[float], cell_size_px: Sequence[float], gap_px: float = GAP_PX) -> int:
    """Cells of the fallback grid: boxes up to ``cell_size_px`` that fit in the viewport
    with ``gap_px`` around each."""
    vx0, vy0, vx1, vy1 = (float(v) for v in viewport_px)
    w, h = float(cell_size_px[0]), float(cell_size_px[1])
    px, py = w + 2 * gap_px, h + 2 * gap_px
    nx = int(np.floor((vx1 - vx0 - 2 * gap_px - w) / px)) + 1
    ny = int(np.floor((vy1 - vy0 - 2 * gap_px - h) / py)) + 1
    return max(nx, 0) * max(ny, 0)


def _candidates(
    anchor: np.ndarray, w: float, h: float, avoid: np.ndarray | None, viewport: np.ndarray
) -> np.ndarray:
    """Candidate boxes (C, 4) for a w x h label hanging from ``anchor``."""
    ang = np.arange(RING_DIRECTIONS) * (2 * np.pi / RING_DIRECTIONS)
    u = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    support = np.abs(u[:, 0]) * w / 2 + np.abs(u[:, 1]) * h / 2  # centre to edge along u
    radii = np.asarray(RING_RADII_PX)
    centres = anchor + u[None, :, :] * (radii[:, None, None] + support[None, :, None])
    centres = centres.reshape(-1, 2)
    xs = [viewport[0] + GAP_PX + w / 2, viewport[2] - GAP_PX - w / 2]
    if avoid is not None:
        xs += [avoid[0] - 10.0 - w / 2, avoid[2] + 10.0 + w / 2]
    k = np.arange(-COLUMN_STEPS, COLUMN_STEPS + 1)
    ys = anchor[1] + k * (h + GAP_PX + 1.0)
    cols = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1).reshape(-1, 2)
    centres = np.vstack([centres, cols])
    half = np.array([w / 2, h / 2])
    return np.hstack([centres - half, centres + half])


def _clamp_into(rects: np.ndarray, viewport: np.ndarray, gap: float) -> np.ndarray:
    w = rects[:, 2] - rects[:, 0]
    h = rects[:, 3] - rects[:, 1]
    x0 = np.clip(rects[:, 0], viewport[0] + gap, viewport[2] - gap - w)
    y0 = np.clip(rects[:, 1], viewport[1] + gap, viewport[3] - gap - h)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def layout_labels(
    anchors_px: Any,
    sizes_px: Any,
    viewport_px: Sequence[float],
    priorities: Any,
    *,
    keep: Any = None,
    needles_px: Any = None,
    avoid_px: Sequence[float] | None = None,
    blocked_px: Any = None,
    prefer_side: Any = None,
    gap_px: float = GAP_PX,
    max_leader_px: float | None = None,
    max_fill: float = 0.3,
    tangle_from: float = np.inf,
    side_penalty_px: float = SIDE_PENALTY_PX,
) -> LabelLayout:
    """Place label boxes; see the module's description.

    anchors_px: (n, 2) display pixels (rows with NaN, e.g. behind the camera, are dropped).
    sizes_px: (n, 2) width and height of each box, padding included.
    viewport_px: (x0, y0, x1, y1) the area the boxes must stay in.
    priorities: (n,) higher is placed first and dropped last (after every kept label).
    keep: (n,) bool, labels placed first and never dropped while the viewport has room (needles);
        their anchors are brought into the viewport, others' outside it are dropped.
    needles_px: (m, 2, 2) segments a box should not cover (needles, clearance lines).
    avoid_px: (x0, y0, x1, y1) of the model on screen; boxes prefer to lie beside it.
    blocked_px: (k, 4) boxes no label may touch (orientation marker, scale bar).
    prefer_side: (n,) +1 for a box right of its anchor, -1 left of it, 0 either; a box on
        the other side costs ``side_penalty_px`` of leader length.
    max_leader_px: optional labels farther than this from their anchor are dropped
        (default: 45% of the viewport's larger side).
    max_fill: optional labels stop once the boxes cover this fraction of the viewport.
    tangle_from: optional labels of this priority or more that have no place free of
        other leaders take the least tangled one; those below it are left out.
    """
    anchors = np.asarray(anchors_px, float).reshape(-1, 2)
    sizes = np.asarray(sizes_px, float).reshape(-1, 2)
    n = len(anchors)
    prio = np.asarray(priorities, float).reshape(-1)
    kept = np.zeros(n, bool) if keep is None else np.asarray(keep, bool).reshape(-1)
    side = np.zeros(n) if prefer_side is None else np.asarray(prefer_side, float).reshape(-1)
    if len(sizes) != n or len(prio) != n or len(kept) != n or len(side) != n:
        raise ValueError("anchors, sizes, priorities and keep must have one row per label")
    vp = np.asarray(viewport_px, float).reshape(4)
    segs = np.zeros((0, 2, 2)) if needles_px is None else np.asarray(needles_px, float).reshape(-1, 2, 2)
    segs = segs[np.isfinite(segs).all(axis=(1, 2))]
    blocked = np.zeros((0, 4)) if blocked_px is None else np.asarray(blocked_px, float).reshape(-1, 4)
    avoid = None if avoid_px is None else np.asarray(avoid_px, float).reshape(4)
    vw, vh = vp[2] - vp[0], vp[3] - vp[1]
    reach = max_leader_px if max_leader_px is not None else 0.45 * max(vw, vh)
    fill_left = max_fill * max(vw, 0.0) * max(vh, 0.0)

    rects = np.full((n, 4), np.nan)
    placed = np.zeros(n, bool)
    finite = np.isfinite(anchors).all(axis=1) & np.isfinite(sizes).all(axis=1)
    inside = (
        finite
        & (anchors[:, 0] >= vp[0])
        & (anchors[:, 0] <= vp[2])
        & (anchors[:, 1] >= vp[1])
        & (anchors[:, 1] <= vp[3])
    )
    anchor_at = np.where(finite[:, None], anchors, 0.0)
    anchor_at = np.stack(
        [np.clip(anchor_at[:, 0], vp[0], vp[2]), np.clip(anchor_at[:, 1], vp[1], vp[3])], axis=1
    )
    shown_anchors = anchor_at[inside]
    order = sorted(range(n), key=lambda i: (not kept[i], -prio[i], i))
    taken: list[np.ndarray] = [*blocked]
    leaders_a: list[np.ndarray] = []
    leaders_b: list[np.ndarray] = []
    big_w = float(sizes[kept & finite, 0].max()) if (kept & finite).any() else 0.0
    big_h = float(sizes[kept & finite, 1].max()) if (kept & finite).any() else 0.0
    for i in order:
        if not finite[i] or not (kept[i] or inside[i]):
            continue
        w, h = sizes[i]
        if w + 2 * gap_px > vw or h + 2 * gap_px > vh or w <= 0 or h <= 0:
            continue
        if not kept[i] and w * h > fill_left:
            continue
        a = anchor_at[i]
        cands = _clamp_into(_candidates(a, w, h, avoid, vp), vp, gap_px)
        taken_arr = np.asarray(taken).reshape(-1, 4)
        free = ~_overlaps(cands, taken_arr, gap_px)
        ends = nearest_on_rects(np.broadcast_to(a, (len(cands), 2)), cands)
        dist = np.linalg.norm(ends - a, axis=1)
        if not kept[i]:
            free &= dist <= reach
        if not free.any() and kept[i]:
            cands = _grid(vp, w, h, max(big_w, w), max(big_h, h), gap_px)
            free = ~_overlaps(cands, taken_arr, gap_px)
            ends = nearest_on_rects(np.broadcast_to(a, (len(cands), 2)), cands)
            dist = np.linalg.norm(ends - a, axis=1)
        if not free.any():
            continue
        cands, ends, dist = cands[free], ends[free], dist[free]
        cost = dist.copy()
        if len(segs):
            cost += NEEDLE_PENALTY_PX * segments_hit_rects(cands, segs[:, 0], segs[:, 1]).sum(axis=1)
        if len(shown_anchors):
            covered = (
                (shown_anchors[None, :, 0] >= cands[:, None, 0] - gap_px)
                & (shown_anchors[None, :, 0] <= cands[:, None, 2] + gap_px)
                & (shown_anchors[None, :, 1] >= cands[:, None, 1] - gap_px)
                & (shown_anchors[None, :, 1] <= cands[:, None, 3] + gap_px)
            )
            cost += ANCHOR_PENALTY_PX * covered.sum(axis=1)
        if avoid is not None:
            ox = np.clip(np.minimum(cands[:, 2], avoid[2]) - np.maximum(cands[:, 0], avoid[0]), 0, None)
            oy = np.clip(np.minimum(cands[:, 3], avoid[3]) - np.maximum(cands[:, 1], avoid[1]), 0, None)
            cost += MODEL_PENALTY_PX * ox * oy / (w * h)
        if side[i]:
            centre_x = (cands[:, 0] + cands[:, 2]) / 2.0
            cost += side_penalty_px * (side[i] * (centre_x - a[0]) < 0)
        # leaders: checked for the cheapest candidates first, for the rest only if need be
        by_cost = np.argsort(cost, kind="stable")
        tangled = np.full(len(cands), -1)  # leaders crossed and leaders through the box; -1 unchecked
        for part in (by_cost[:SHORTLIST], by_cost[SHORTLIST:]):
            if len(part) == 0:
                continue
            t, extra = _tangles(a, cands[part], ends[part], leaders_a, leaders_b, taken_arr)
            tangled[part] = t
            cost[part] += CROSSING_PENALTY_PX * (t + extra)
            if kept[i] or (t == 0).any():
                break
        checked = tangled >= 0
        if not kept[i] and (tangled == 0).any():  # a clean place beats any tangled one
            cost[tangled != 0] = np.inf
        elif not kept[i] and prio[i] < tangle_from:  # an optional label that would tangle
            continue
        cost[~checked] = np.inf
        best = int(np.argmin(cost))
        rects[i] = cands[best]
        placed[i] = True
        taken.append(cands[best])
        if not kept[i]:
            fill_left -= w * h
        if dist[best] > 0.5:
            leaders_a.append(a)
            leaders_b.append(ends[best])
    leader_end = np.full((n, 2), np.nan)
    leader_end[placed] = nearest_on_rects(anchor_at[placed], rects[placed])
    return LabelLayout(rects, placed, leader_end)


def _tangles(
    anchor: np.ndarray,
    cands: np.ndarray,
    ends: np.ndarray,
    leaders_a: list[np.ndarray],
    leaders_b: list[np.ndarray],
    taken: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: leaders it would cross or lie on, and boxes its leader runs through."""
    starts = np.broadcast_to(anchor, (len(cands), 2))
    tangled = np.zeros(len(cands), int)
    if leaders_a:
        la, lb = np.asarray(leaders_a), np.asarray(leaders_b)
        tangled += _segments_cross(starts, ends, la, lb).sum(axis=1)
        tangled += segments_hit_rects(cands, la, lb).sum(axis=1)
    through = np.zeros(len(cands), int)
    if len(taken):
        through = segments_hit_rects(taken, starts, ends).sum(axis=0)
    return tangled, through


def _grid(vp: np.ndarray, w: float, h: float, cell_w: float, cell_h: float, gap: float) -> np.ndarray:
    """Boxes w x h at the corners of a grid of cells (cell_w + 2 gap) x (cell_h + 2 gap)."""
    px, py = cell_w + 2 * gap, cell_h + 2 * gap
    nx = int(np.floor((vp[2] - vp[0] - 2 * gap - cell_w) / px)) + 1
    ny = int(np.floor((vp[3] - vp[1] - 2 * gap - cell_h) / py)) + 1
    if nx <= 0 or ny <= 0:
        return np.zeros((0, 4))
    x0 = vp[0] + gap + np.arange(nx) * px
    y0 = vp[1] + gap + np.arange(ny) * py
    gx, gy = np.meshgrid(x0, y0, indexing="ij")
    gx, gy = gx.ravel(), gy.ravel()
    return np.stack([gx, gy, gx + w, gy + h], axis=1)


def measure_text_px(
    texts: Sequence[str], font_size: int, *, bold: bool = False, italic: bool = False, dpi: int = 72
) -> np.ndarray:
    """(n, 2) width and height in pixels of each text as VTK draws it (vtkTextRenderer)."""
    import vtkmodules.vtkRenderingFreeType  # noqa: F401  (the text renderer's implementation)
    from vtkmodules.vtkRenderingCore import vtkTextProperty, vtkTextRenderer

    prop = vtkTextProperty()
    prop.SetFontSize(font_size)
    prop.SetBold(bold)
    prop.SetItalic(italic)
    prop.SetFontFamilyToArial()
    renderer = vtkTextRenderer()
    out = np.zeros((len(texts), 2))
    bbox = [0, 0, 0, 0]
    for k, text in enumerate(texts):
        if renderer.GetBoundingBox(prop, text, bbox, dpi):
            out[k] = (bbox[1] - bbox[0] + 1, bbox[3] - bbox[2] + 1)
    return out


def project_px(points: Any, matrix: Any, size_px: Sequence[float]) -> np.ndarray:
    """(n, 2) display pixels (origin bottom-left) of 3D points through a camera's 4x4
    composite projection matrix (world to normalised device coordinates, as VTK's
    ``GetCompositeProjectionTransformMatrix`` gives it); NaN for points behind the eye."""
    p = np.asarray(points, float).reshape(-1, 3)
    m = np.asarray(matrix, float).reshape(4, 4)
    h = np.hstack([p, np.ones((len(p), 1))]) @ m.T
    w = h[:, 3:4]
    with np.errstate(divide="ignore", invalid="ignore"):
        ndc = np.where(w > 1e-9, h[:, :2] / w, np.nan)
    return (ndc + 1.0) / 2.0 * np.asarray(size_px, float)[:2]
