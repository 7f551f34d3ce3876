"""Smooth curves, profiles and cross-section frames shared by the mesh generator and
the safety engine.

Both sides must see the *same* sampled centreline and radius of every nerve and
vessel: the mesh generator puts a ring of vertices around each sample, and the safety
engine measures against the chain of capsules joining consecutive samples. Keeping
the sampling here, in one place, is what makes the drawn tube and the checked tube
agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FloatArray = np.ndarray


def _centripetal_catmull_rom(points: FloatArray, samples_per_span: int) -> FloatArray:
    """Dense points on a centripetal Catmull-Rom spline through `points` (K,3).

    Centripetal parametrisation never overshoots into loops or cusps, which keeps a
    nerve from bulging through a neighbouring muscle between its control points.
    """
    pts = np.asarray(points, dtype=float)
    if len(pts) < 2:
        raise ValueError("a centreline needs at least two control points")
    # Phantom end points continue the first and last spans in a straight line.
    ext = np.vstack([2 * pts[0] - pts[1], pts, 2 * pts[-1] - pts[-2]])
    out = []
    u = np.linspace(0.0, 1.0, samples_per_span, endpoint=False)[:, None]
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        t0 = 0.0
        t1 = t0 + max(np.linalg.norm(p1 - p0) ** 0.5, 1e-9)
        t2 = t1 + max(np.linalg.norm(p2 - p1) ** 0.5, 1e-9)
        t3 = t2 + max(np.linalg.norm(p3 - p2) ** 0.5, 1e-9)
        t = t1 + u * (t2 - t1)
        a1 = (t1 - t) / (t1 - t0) * p0 + (t - t0) / (t1 - t0) * p1
        a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
        a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
        b1 = (t2 - t) / (t2 - t0) * a1 + (t - t0) / (t2 - t0) * a2
        b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
        out.append((t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2)
    out.append(pts[-1][None, :])
    return np.vstack(out)


def resample_by_arc_length(dense: FloatArray, spacing_mm: float) -> tuple[FloatArray, FloatArray]:
    """Resample a dense polyline at (nearly) equal arc-length steps.

    Returns (points (N,3), s (N,) normalised arc length in [0, 1]).
    """
    seg = np.linalg.norm(np.diff(dense, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = float(cum[-1])
    n = max(int(np.ceil(total / spacing_mm)), 1) + 1
    target = np.linspace(0.0, total, n)
    pts = np.column_stack([np.interp(target, cum, dense[:, k]) for k in range(3)])
    return pts, target / total if total > 0 else np.zeros(n)


def smooth_centreline(control_points_mm: FloatArray, spacing_mm: float) -> tuple[FloatArray, FloatArray]:
    """Smooth curve through the control points, sampled every `spacing_mm`."""
    dense = _centripetal_catmull_rom(np.asarray(control_points_mm, float), 64)
    return resample_by_arc_length(dense, spacing_mm)


def interpolate_profile(stations: FloatArray, values: FloatArray, s: FloatArray) -> FloatArray:
    """Shape-preserving (PCHIP) interpolation of a profile given at stations in [0, 1].

    `values` may be (K,) or (K, M); PCHIP never overshoots the given values, so a
    radius never exceeds the largest radius written in the atlas.
    """
    stations = np.asarray(stations, float)
    values = np.asarray(values, float)
    if len(stations) == 1:
        return np.broadcast_to(values[0], (len(s), *values.shape[1:])).copy()
    return _pchip(stations, values, np.clip(np.asarray(s, float), 0, 1))


def _pchip_end_slope(h0: FloatArray, h1: FloatArray, m0: FloatArray, m1: FloatArray) -> FloatArray:
    """One-sided three-point slope at an end, kept shape-preserving (Moler, Numerical
    Computing with MATLAB, ch. 3.6, pchiptx.m)."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    wrong_sign = np.sign(d) != np.sign(m0)
    overshoot = (np.sign(m0) != np.sign(m1)) & (np.abs(d) > 3.0 * np.abs(m0)) & ~wrong_sign
    d[wrong_sign] = 0.0
    d[overshoot] = 3.0 * m0[overshoot]
    return d


def _pchip(x: FloatArray, y: FloatArray, at: FloatArray) -> FloatArray:
    """Piecewise cubic Hermite interpolation with the PCHIP slopes (Fritsch and Carlson
    1980, as in scipy.interpolate.PchipInterpolator, extrapolating from the end pieces).

    Written with numpy alone so that loading an atlas does not import scipy; every
    operation is the one scipy performs, in the same order, so the values are the same
    to the last bit (tests/test_shapes.py compares them)."""
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
        raise ValueError("a profile must contain only finite values")
    h = np.diff(x)
    if np.any(h <= 0):
        raise ValueError("the stations of a profile must be strictly increasing")
    flat = y.ndim == 1
    yy = y.reshape(len(x), -1)
    hk = h[:, None]
    mk = (yy[1:] - yy[:-1]) / hk
    if len(x) == 2:
        dk = np.zeros_like(yy)
        dk[0] = mk
        dk[1] = mk
    else:
        smk = np.sign(mk)
        flat_or_turn = (smk[1:] != smk[:-1]) | (mk[1:] == 0) | (mk[:-1] == 0)
        w1 = 2 * hk[1:] + hk[:-1]
        w2 = hk[1:] + 2 * hk[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            whmean = (w1 / mk[:-1] + w2 / mk[1:]) / (w1 + w2)
        dk = np.zeros_like(yy)
        inner = dk[1:-1]
        inner[~flat_or_turn] = 1.0 / whmean[~flat_or_turn]
        dk[0] = _pchip_end_slope(hk[0], hk[1], mk[0], mk[1])
        dk[-1] = _pchip_end_slope(hk[-1], hk[-2], mk[-1], mk[-2])
    # the cubic of each piece in powers of (at - x[i]), as scipy's CubicHermiteSpline
    slope = np.diff(yy, axis=0) / hk
    t = (dk[:-1] + dk[1:] - 2 * slope) / hk
    c0, c1, c2, c3 = t / hk, (slope - dk[:-1]) / hk - t, dk[:-1], yy[:-1]
    # the piece holding each point: x[i] <= at < x[i + 1], the last one closed, the end
    # pieces extended beyond the stations
    i = np.clip(np.searchsorted(x, at, side="right") - 1, 0, len(x) - 2)
    s = (at - x[i])[:, None]
    s2 = s * s
    out = ((0.0 + c3[i]) + c2[i] * s) + c1[i] * s2 + c0[i] * (s2 * s)
    return out[:, 0] if flat else out.reshape(len(at), *y.shape[1:])


def tangents(points: FloatArray) -> FloatArray:
    """Unit tangents of a sampled curve (central differences, one-sided at the ends)."""
    t = np.gradient(points, axis=0)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def section_frames(tangent: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Cross-section axes (u, v) for each tangent.

    u is the anatomical lateral direction (+x) made perpendicular to the tangent, and
    v = tangent x u, which is close to posterior (+y) for a structure running along
    the thigh. Using anatomical axes (rather than a rotation-minimising frame) lets
    the atlas write cross-sections as medio-lateral and antero-posterior half-widths.
    Where the tangent is nearly lateral, the antero-posterior axis is used instead.
    """
    ref = np.tile(np.array([1.0, 0.0, 0.0]), (len(tangent), 1))
    nearly_lateral = np.abs(tangent[:, 0]) > 0.9
    ref[nearly_lateral] = np.array([0.0, -1.0, 0.0])
    u = ref - np.sum(ref * tangent, axis=1, keepdims=True) * tangent
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(tangent, u)
    return u, v


# How far a band's capsules may reach beyond the band in its own cross-section: the
# chains across the width are spaced so that sqrt(r^2 + (spacing/2)^2) - r stays within
# this (r = half the thickness). A round tube has one chain and reaches nothing beyond.
BAND_OVERREACH_MM = 0.15


@dataclass(frozen=True)
class TubeSamples:
    """A nerve or vessel as sampled along its centreline.

    Every section is a stadium: the points within `radii_mm` of a straight segment that
    runs `flat_half_width_mm` either side of the centre along the section's lateral axis
    (u of section_frames, which follows the centreline). A round tube has no flat part
    (radius r: a circle); a flat band of width w and thickness t has r = t/2 and a flat
    half-width (w - t)/2, its broad faces toward posterior and anterior (along v).

    `centres_mm` (N,3), `radii_mm` (N,) and `flat_half_width_mm` (N,) describe the drawn
    mesh ring by ring. The safety engine measures against `n_chains` parallel chains of
    capsules across the width (one for a round tube); chain j joins the points
    `chain_offsets_mm[j]` along u from consecutive centres, and each capsule has radius
    max(r'_i, r'_i+1) with r' = sqrt(r^2 + (d/2)^2) for the spacing d between chains. Their
    union contains the drawn mesh (each mesh quad lies within r' of one chain: the mesh
    puts its vertices on the flat faces at the chains and halfway between them) and
    reaches beyond it by at most `max_overreach_mm`.
    """

    centres_mm: FloatArray
    radii_mm: FloatArray
    flat_half_width_mm: FloatArray | None = None

    @property
    def is_band(self) -> bool:
        return self.flat_half_width_mm is not None and bool(np.any(self.flat_half_width_mm > 0))

    @property
    def flat_half_widths(self) -> FloatArray:
        """The flat half-width at each sample (zeros for a round tube)."""
        if self.flat_half_width_mm is None:
            return np.zeros(len(self.radii_mm))
        return np.asarray(self.flat_half_width_mm, float)

    @property
    def lateral_axes(self) -> FloatArray:
        """u of every section (the direction across a band's width), unit (N,3)."""
        u, _ = section_frames(tangents(self.centres_mm))
        return u

    @property
    def n_chains(self) -> int:
        """Chains across the width: the fewest whose spacing keeps every section's
        capsules within BAND_OVERREACH_MM of the band (1 for a round tube)."""
        if not self.is_band:
            return 1
        r = self.radii_mm
        # spacing/2 may be at most sqrt((r + e)^2 - r^2) in each section
        half_gap = np.sqrt((r + BAND_OVERREACH_MM) ** 2 - r**2)
        return 1 + max(int(np.ceil(float(np.max(self.flat_half_widths / half_gap)) - 1e-9)), 1)

    @property
    def chain_fractions(self) -> FloatArray:
        """(K,) place of each chain across the flat part, from -1 (one edge) to 1."""
        k = self.n_chains
        return np.zeros(1) if k == 1 else np.linspace(-1.0, 1.0, k)

    @property
    def chain_offsets_mm(self) -> FloatArray:
        """(K, N) offset of each chain from the centre along u, sample by sample."""
        return self.chain_fractions[:, None] * self.flat_half_widths[None, :]

    @property
    def chain_radii_mm(self) -> FloatArray:
        """(N,) the radius r' of every chain at each sample: its disks of radius r' at
        the chains' points cover the section's stadium."""
        k = self.n_chains
        if k == 1:
            return np.asarray(self.radii_mm, float)
        half_gap = self.flat_half_widths / (k - 1)
        return np.sqrt(self.radii_mm**2 + half_gap**2)

    def _chain_points(self) -> FloatArray:
        """(K, N, 3) the chains' points."""
        if self.n_chains == 1:
            return self.centres_mm[None]
        u = self.lateral_axes
        return self.centres_mm[None] + self.chain_offsets_mm[:, :, None] * u[None]

    @property
    def capsule_starts_mm(self) -> FloatArray:
        """(K (N-1), 3) capsule axis starts, chain by chain."""
        return self._chain_points()[:, :-1].reshape(-1, 3)

    @property
    def capsule_ends_mm(self) -> FloatArray:
        return self._chain_points()[:, 1:].reshape(-1, 3)

    @property
    def capsule_radii_mm(self) -> FloatArray:
        rc = self.chain_radii_mm
        return np.tile(np.maximum(rc[:-1], rc[1:]), self.n_chains)

    @property
    def capsule_chain(self) -> FloatArray:
        """(K (N-1),) the chain each capsule belongs to."""
        return np.repeat(np.arange(self.n_chains), len(self.centres_mm) - 1)

    @property
    def capsule_samples(self) -> FloatArray:
        """(K (N-1),) the sample at each capsule's start (i; it joins i and i + 1)."""
        return np.tile(np.arange(len(self.centres_mm) - 1), self.n_chains)

    @property
    def max_radius_step_mm(self) -> float:
        return float(np.max(np.abs(np.diff(self.radii_mm)), initial=0.0))

    @property
    def max_overreach_mm(self) -> float:
        """How far the capsules may reach beyond the drawn surface, at most: in a section
        the disks of radius r' reach r' - r beyond the stadium; between two samples a
        capsule keeps the larger r' of its ends while the surface takes the smaller r, and
        where the surface narrows it slants (its normal tilts by the slope of r and of the
        flat half-width), so it lies only r cos(slope) from a capsule's end. Valid while
        the centreline bends gently (its radius of curvature well above the half-width)."""
        rc = self.chain_radii_mm
        r = np.asarray(self.radii_mm, float)
        if len(r) < 2:
            return float(np.max(rc - r, initial=0.0))
        # where the surface narrows, a capsule's round end at its narrower sample pokes out
        # along the slanted surface's normal: the surface lies r cos(slope) from that end
        h = self.flat_half_widths
        pts = self._chain_points()
        length = np.min(np.linalg.norm(np.diff(pts, axis=1), axis=2), axis=0)
        slant = np.abs(np.diff(r)) + np.abs(np.diff(h))
        cos_slope = length / np.sqrt(length**2 + slant**2)
        return float(np.max(np.maximum(rc[:-1], rc[1:]) - np.minimum(r[:-1], r[1:]) * cos_slope))

    @property
    def max_inside_shortfall_mm(self) -> float:
        """For a needle that enters a band: how much less than its true depth inside the
        band the chains may report, at most (0 for a round tube). A point between two
        chains, at lateral distance delta <= d/2 from the nearer one, is r' - sqrt(rho^2 +
        delta^2) inside that chain's capsule and r - rho inside the band (rho: its distance
        from the band's mid-plane), which is at most delta - (r' - r) more. Distances
        outside the band are never too large (max_overreach_mm bounds them the other way);
        the verdict of a needle that enters is danger either way."""
        k = self.n_chains
        if k == 1:
            return 0.0
        half_gap = self.flat_half_widths / (k - 1)
        return float(np.max(np.maximum(half_gap - (self.chain_radii_mm - self.radii_mm), 0.0)))

    def length_mm(self) -> float:
        return float(np.sum(np.linalg.norm(np.diff(self.centres_mm, axis=0), axis=1)))


def sample_tube(
    control_points_mm: FloatArray,
    radius_stations: FloatArray,
    radius_mm: FloatArray,
    spacing_mm: float,
) -> TubeSamples:
    """A round tube: the radius profile along the smooth centreline."""
    centres, s = smooth_centreline(control_points_mm, spacing_mm)
    radii = interpolate_profile(radius_stations, radius_mm, s)
    return TubeSamples(centres, np.asarray(radii, float))


# a flat part narrower than this is taken as none (the section is round there)
ROUND_WITHIN_MM = 1e-6


def sample_band(
    control_points_mm: FloatArray,
    stations: FloatArray,
    width_mm: FloatArray,
    thickness_mm: FloatArray,
    spacing_mm: float,
) -> TubeSamples:
    """A flat band: width and thickness profiles (PCHIP, as radii) along the smooth
    centreline; each section is the stadium of that width and thickness."""
    centres, s = smooth_centreline(control_points_mm, spacing_mm)
    prof = interpolate_profile(np.asarray(stations, float), np.column_stack([width_mm, thickness_mm]), s)
    width, thickness = prof[:, 0], prof[:, 1]
    flat = (width - thickness) / 2.0
    flat = np.where(flat > ROUND_WITHIN_MM, flat, 0.0)
    return TubeSamples(centres, thickness / 2.0, flat)
