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


@dataclass(frozen=True)
class TubeSamples:
    """A nerve or vessel as sampled along its centreline.

    `centres_mm` (N,3) and `radii_mm` (N,) are the ring centres and radii of the
    drawn mesh. The safety engine treats the tube as the union of capsules joining
    consecutive centres, each with radius max(r_i, r_i+1): it contains the drawn mesh
    and is larger than it by at most `max_radius_step_mm`.
    """

    centres_mm: FloatArray
    radii_mm: FloatArray

    @property
    def capsule_starts_mm(self) -> FloatArray:
        return self.centres_mm[:-1]

    @property
    def capsule_ends_mm(self) -> FloatArray:
        return self.centres_mm[1:]

    @property
    def capsule_radii_mm(self) -> FloatArray:
        return np.maximum(self.radii_mm[:-1], self.radii_mm[1:])

    @property
    def max_radius_step_mm(self) -> float:
        return float(np.max(np.abs(np.diff(self.radii_mm)), initial=0.0))

    def length_mm(self) -> float:
        return float(np.sum(np.linalg.norm(np.diff(self.centres_mm, axis=0), axis=1)))


def sample_tube(
    control_points_mm: FloatArray,
    radius_stations: FloatArray,
    radius_mm: FloatArray,
    spacing_mm: float,
) -> TubeSamples:
    centres, s = smooth_centreline(control_points_mm, spacing_mm)
    radii = interpolate_profile(radius_stations, radius_mm, s)
    return TubeSamples(centres, np.asarray(radii, float))
