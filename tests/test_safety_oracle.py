"""The engine against an independent brute-force oracle.

The oracle knows nothing of capsules: it samples the needle's axis densely, measures
each sample's signed distance to the committed triangle surface with VTK
(vtkImplicitPolyDataDistance, negative inside), refines around the smallest values,
and subtracts half the gauge. The engine must agree within 0.05 mm (plus, for a flat
band, how far its chains may reach beyond it: CapsuleChains.overreach_mm) and must never call
"safe" a needle the oracle puts in a caution or danger zone. Hypothesis draws batches
of needles: random insertions from the skin, and needles built to graze, touch or
just miss a nerve or vessel at the thresholds that decide the status. A caution
structure (added to a copy of the atlas) is held to the same oracle, and its zone and
margin must make a caution, never a danger.
"""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from thighmap.safety.engine import SafetyModel

BATCH = 200
EXAMPLES = 50  # 50 x 200 = 10,000 needles
TOLERANCE_MM = 0.05
COARSE_MM = 1.0
FINEST_MM = 0.004
KEEP_PER_NEEDLE = 6
# Points whose distance to a surface provably exceeds this are not asked of VTK: no
# zone or caution margin of the atlas reaches that far (checked in the fixture).
RELEVANT_MM = 26.0


@pytest.fixture(scope="module")
def model(atlas):
    return SafetyModel.for_atlas(atlas)


class _Surface:
    """One danger structure's committed triangles: VTK's signed distance (the oracle)
    and a cheap lower bound that spares VTK the points that are far away."""

    def __init__(self, mesh) -> None:
        faces = np.hstack([np.full((len(mesh.faces), 1), 3), mesh.faces]).ravel()
        self.poly = pv.PolyData(mesh.vertices, faces)
        self.vertices = cKDTree(mesh.vertices)
        tri = mesh.vertices[mesh.faces]
        edges = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2)
        # every point of a triangle lies within its longest edge of one of its corners
        self.slack = float(edges.max())

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (negative inside) where it may be below RELEVANT_MM, +inf
        where the nearest vertex proves it is not."""
        out = np.full(len(points), np.inf)
        if len(points) == 0:
            return out
        d_vertex, _ = self.vertices.query(points)
        ask = d_vertex - self.slack <= RELEVANT_MM
        if ask.any():
            cloud = pv.PolyData(points[ask])
            out[ask] = np.asarray(cloud.compute_implicit_distance(self.poly)["implicit_distance"])
        return out


@pytest.fixture(scope="module")
def surfaces(atlas):
    reach = max(
        float(st.safety.uncertainty_at(np.linspace(0, 1, 201), atlas.fitted).max())
        + st.safety.caution_margin_mm
        for st in atlas.danger_structures()
    )
    assert reach + 1.0 < RELEVANT_MM - 1.0, "RELEVANT_MM must exceed every zone + margin"
    return {st.id: _Surface(atlas.mesh(st.id)) for st in atlas.danger_structures()}


def _oracle_clearance(surface, entry, direction, depth, half_gauge):
    """Smallest signed distance from the needle to the surface, by sampling its axis.

    The distance is 1-Lipschitz along the axis, so a sample at distance d covering
    +-r of the axis proves nothing there is nearer than d - r. Sampling starts every
    COARSE_MM; every sample whose bound could still beat the needle's best is split
    in two, until the samples cover +-FINEST_MM (at most KEEP_PER_NEEDLE refined per
    needle and level). Returns the clearance (+inf where nothing comes within
    RELEVANT_MM) and every sample taken, for the status comparison."""
    n = len(entry)
    counts = np.ceil(depth / COARSE_MM).astype(int) + 1
    owner = np.repeat(np.arange(n), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    t = np.minimum(local * COARSE_MM, depth[owner])
    d = surface.distance(entry[owner] + direction[owner] * t[:, None])
    all_t, all_owner, all_d = [t], [owner], [d]
    best = np.full(n, np.inf)
    np.minimum.at(best, owner, d)
    cover = COARSE_MM / 2
    while cover > FINEST_MM:
        promising = np.flatnonzero(np.isfinite(d) & (d - cover < best[owner]))
        order = promising[np.lexsort((d[promising] - cover, owner[promising]))]
        rank = np.arange(len(order)) - np.searchsorted(owner[order], owner[order])
        order = order[rank < KEEP_PER_NEEDLE]
        cover /= 2
        t = np.clip(
            np.concatenate([t[order] - cover, t[order] + cover]), 0.0, depth[np.tile(owner[order], 2)]
        )
        owner = np.tile(owner[order], 2)
        d = surface.distance(entry[owner] + direction[owner] * t[:, None])
        np.minimum.at(best, owner, d)
        all_t.append(t)
        all_owner.append(owner)
        all_d.append(d)
    t = np.concatenate(all_t)
    owner = np.concatenate(all_owner)
    d = np.concatenate(all_d)
    pts = entry[owner] + direction[owner] * t[:, None]
    return best - half_gauge, (owner, pts, d)


def _uncertainty_near(atlas, sid, points):
    """The structure's uncertainty at the centreline sample nearest each point."""
    tube = atlas.tube(sid)
    seg = np.linalg.norm(np.diff(tube.centres_mm, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)]) / seg.sum()
    _, nearest = cKDTree(tube.centres_mm).query(points)
    return atlas.structures[sid].safety.uncertainty_at(s[nearest], atlas.fitted)


def _random_skin_needles(model, rng, n):
    pts, normals = model.skin_points()
    idx = rng.choice(len(pts), n)
    d = normals[idx] + rng.normal(scale=0.45, size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return pts[idx], d, rng.uniform(3.0, 75.0, n)


def _grazing_needles(model, atlas, rng, n, chains=None):
    """Needles whose axis passes at a chosen distance from a tube's axis, near the
    thresholds: touching the surface, the danger zone, or the caution zone (of the
    danger structures' chains unless `chains` is given)."""
    chains = model.chains if chains is None else chains
    cap = rng.integers(0, len(chains.a), n)
    s = rng.uniform(0.0, 1.0, n)
    on_axis = chains.a[cap] + s[:, None] * (chains.b[cap] - chains.a[cap])
    tangent = chains.b[cap] - chains.a[cap]
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    rnd = rng.normal(size=(n, 3))
    normal = rnd - np.sum(rnd * tangent, axis=1, keepdims=True) * tangent
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    which = rng.integers(0, 3, n)
    threshold = np.choose(
        which,
        [
            np.zeros(n),
            chains.uncertainty[cap],
            chains.uncertainty[cap] + chains.caution_margin[chains.structure[cap]],
        ],
    )
    offset = threshold + rng.normal(scale=0.3, size=n)
    half_gauge = 0.125
    closest = on_axis + normal * (chains.radius[cap] + offset + half_gauge)[:, None]
    # direction perpendicular to the normal: from crossing the tube to running along it
    binormal = np.cross(tangent, normal)
    angle = rng.uniform(0, np.pi, n)
    along = rng.random(n) < 0.3  # nearly parallel to the tube: grazing along it
    angle[along] = rng.normal(scale=0.05, size=int(along.sum()))
    direction = np.cos(angle)[:, None] * tangent + np.sin(angle)[:, None] * binormal
    before = rng.uniform(5.0, 40.0, n)
    after = rng.uniform(0.0, 30.0, n)
    return closest - direction * before[:, None], direction, before + after


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["skin", "grazing", "grazing"]))
def test_engine_matches_oracle_and_is_never_less_safe(model, atlas, surfaces, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "skin":
        entry, direction, depth = _random_skin_needles(model, rng, BATCH)
    else:
        entry, direction, depth = _grazing_needles(model, atlas, rng, BATCH)
    gauge = np.full(BATCH, 0.25)
    result = model.chains.batch(entry, direction, depth, gauge)
    engine_status = np.where(result["min_zone"] < 0, 2, np.where(result["min_caution"] < 0, 1, 0))
    oracle_status = np.zeros(BATCH, int)
    # exact per-structure clearances from the single-needle path, for the comparison
    engine_all = np.array(
        [
            model.chains.needle_clearances(entry[i], entry[i] + direction[i] * depth[i], 0.25)["clearance"]
            for i in range(BATCH)
        ]
    )
    for k, sid in enumerate(model.chains.structure_ids):
        oracle, (owner, pts, d) = _oracle_clearance(surfaces[sid], entry, direction, depth, 0.125)
        engine = engine_all[:, k]
        near = oracle < RELEVANT_MM - 1.0
        diff = np.abs(engine[near] - oracle[near])
        # a flat band's chains may reach up to their stated bound beyond it, and for a needle
        # inside it may report up to their stated shortfall less depth (tubes.py)
        inside = oracle[near] < 0
        shortfall = float(model.chains.inside_shortfall_mm[k])
        tolerance = TOLERANCE_MM + np.where(inside, shortfall, float(model.chains.overreach_mm[k]))
        assert np.all(diff <= tolerance), (sid, float(np.max(diff - tolerance, initial=0.0)))
        # the engine's surface contains the triangles: outside it, it may only be nearer,
        # never farther (a needle inside is in its danger zone either way)
        assert np.all(engine <= oracle + 1e-6 + np.where(oracle < 0, shortfall, 0.0)), sid
        # the pruned batch never reports a structure nearer than it is
        assert np.all(result["clearance"][:, k] >= engine - 1e-9)
        # oracle status from every sample: zone = distance below the local uncertainty
        # (samples left at +inf are provably beyond every zone and margin)
        asked = np.isfinite(d)
        unc = _uncertainty_near(atlas, sid, pts[asked])
        margin = model.chains.caution_margin[k]
        clearance = d[asked] - 0.125
        danger = np.zeros(BATCH, bool)
        caution = np.zeros(BATCH, bool)
        np.logical_or.at(danger, owner[asked], clearance < unc)
        np.logical_or.at(caution, owner[asked], clearance < unc + margin)
        oracle_status = np.maximum(oracle_status, np.where(danger, 2, np.where(caution, 1, 0)))
    # the batch's nearest structure and clearance are exact
    assert np.allclose(result["nearest_clearance"], engine_all.min(axis=1), atol=1e-9)
    unsafe = oracle_status > engine_status
    assert not unsafe.any(), f"engine less cautious than the oracle for needles {np.flatnonzero(unsafe)[:5]}"


CAUTION_SID = "oracle_cutaneous_nerve"


@pytest.fixture(scope="module")
def caution_model(atlas, model):
    """The atlas plus a caution tube with bends, 6 mm under the skin of the mid-thigh."""
    from tests.caution_atlas import with_caution_tube

    q, inward = model.skin_surface_frame(np.array([0.0, 150.0, 220.0]))
    centre = q + 6.0 * inward
    course = [centre + np.array([6.0 * np.sin(k), 0.0, 25.0 * (k - 2)]) for k in range(5)]
    tube = with_caution_tube(
        atlas, CAUTION_SID, course, radius_mm=1.2, uncertainty_mm=1.5, caution_margin_mm=2.0
    )
    return SafetyModel.for_atlas(tube)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_a_caution_structure_matches_the_oracle_and_is_only_a_caution(model, caution_model, seed):
    rng = np.random.default_rng(seed)
    dangers = caution_model.dangers
    assert dangers.caution_chains is not None
    entry, direction, depth = _grazing_needles(
        caution_model, caution_model.atlas, rng, BATCH, chains=dangers.caution_chains
    )
    k = dangers.structure_ids.index(CAUTION_SID)
    engine = np.array(
        [
            dangers.needle_clearances(entry[i], entry[i] + direction[i] * depth[i], 0.25)["clearance"][k]
            for i in range(BATCH)
        ]
    )
    surface = _Surface(caution_model.atlas.mesh(CAUTION_SID))
    oracle, (owner, _, d) = _oracle_clearance(surface, entry, direction, depth, 0.125)
    near = oracle < RELEVANT_MM - 1.0
    assert np.all(np.abs(engine[near] - oracle[near]) <= TOLERANCE_MM)
    assert np.all(engine <= oracle + 1e-6)
    # the oracle's caution: a sample within the uncertainty and margin of the surface
    asked = np.isfinite(d)
    caution = np.zeros(BATCH, bool)
    np.logical_or.at(caution, owner[asked], d[asked] - 0.125 < 1.5 + 2.0)
    batch = caution_model.check_many(entry, direction, depth, 0.25)
    plain = model.chains.batch(entry, direction, depth, np.full(BATCH, 0.25))
    plain_status = np.where(plain["min_zone"] < 0, 2, np.where(plain["min_caution"] < 0, 1, 0))
    assert caution.any() and not caution.all(), "the needles should both meet and miss the margin"
    assert np.all(batch.status[caution] >= 1), "engine less cautious than the oracle"
    # a caution structure never makes a danger, nor takes one away
    assert np.array_equal(batch.status == 2, plain_status == 2)
