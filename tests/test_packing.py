"""The packed label volume (anatomy/packing.py) on a small synthetic limb: a round
thigh segment with a bone, a nerve in a fat sleeve and three muscles, two of them sized
to a volume. Measured on the volume and on the extracted surfaces, never on the recipes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thighmap.anatomy import packing, shapes
from thighmap.anatomy.meshgen import tube_mesh
from thighmap.anatomy.voxels import inside_grid

LIMB = {
    "z_range_mm": [-10, 100],
    "skin_thickness_mm": 2.0,
    "squareness": 2.0,
    "sections": [
        {
            "z_mm": z,
            "centre_mm": [0, 0],
            "half_extent_mm": {"medial": 45, "lateral": 45, "anterior": 45, "posterior": 45},
            "fat_mm": {"medial": 5, "lateral": 5, "anterior": 5, "posterior": 5},
        }
        for z in (-10, 45, 100)
    ],
}


def _muscle(x: float, y: float, half: float) -> dict:
    return {
        "centreline_mm": [[x, y, -5], [x, y, 95]],
        "sections": [
            {"at": 0.0, "half_width_mm": half, "half_depth_mm": half},
            {"at": 1.0, "half_width_mm": half, "half_depth_mm": half},
        ],
        "squareness": 2.0,
    }


def _tube(x: float, y: float, radius: float):
    samples = shapes.sample_tube(
        np.array([[x, y, -20.0], [x, y, 120.0]]), np.array([0.0, 1.0]), np.array([radius, radius]), 2.0
    )
    return tube_mesh(samples)


VOLUMES_MM3 = {"a": 80_000.0, "b": 50_000.0}


@pytest.fixture(scope="module")
def built():
    members = [
        packing.member_from_recipe("a", _muscle(-15, 10, 12)),
        packing.member_from_recipe("b", _muscle(15, 10, 12)),
        packing.member_from_recipe("c", _muscle(0, -22, 12)),
    ]
    exact = {"bone": _tube(0, -5, 8.0), "nerve": _tube(0, 25, 3.0)}
    spec = packing.PackingSpec(
        (1.5, 1.5, 3.0), members, VOLUMES_MM3, ["bone", "nerve"], [("fat", "nerve", 2.0)]
    )
    volume = packing.build_volume(LIMB, spec, exact)
    surfaces = packing.surfaces_from_volume(volume, ["fat", "a", "b", "c"])
    return spec, exact, volume, surfaces


def test_every_voxel_inside_the_fascia_belongs_to_a_structure(built):
    _, _, volume, _ = built
    xs, ys, zs = (volume.axis(k) for k in range(3))
    inside = packing.domain_mask(LIMB, xs, ys, zs)
    assert inside.sum() > 10_000
    assert np.all(volume.labels[inside] > 0)


def test_members_get_their_volumes(built):
    spec, _, volume, _ = built
    voxel = float(np.prod(volume.spacing_mm))
    for sid, want in spec.volumes_mm3.items():
        got = np.count_nonzero(volume.labels == volume.label_of(sid)) * voxel
        assert abs(got - want) <= 0.03 * want, (sid, got, want)


def test_each_member_is_one_piece_round_its_own_path(built):
    from scipy import ndimage

    spec, _, volume, _ = built
    for m in spec.members:
        mask = volume.labels == volume.label_of(m.id)
        assert ndimage.label(mask)[1] == 1, m.id
        z = 45.0
        seed = m.at(z)[0]
        i, j, k = (round((v - volume.origin_mm[n]) / volume.spacing_mm[n]) for n, v in enumerate((*seed, z)))
        assert volume.labels[i, j, k] == volume.label_of(m.id), m.id


def test_the_sleeve_surrounds_its_nerve(built):
    _, _, volume, _ = built
    nerve = volume.labels == volume.label_of("nerve")
    from scipy import ndimage

    ring = ndimage.binary_dilation(nerve, iterations=1) & ~nerve
    inner = ring[:, :, 5:-5]  # away from the cut ends
    labels = volume.labels[:, :, 5:-5][inner]
    assert np.mean(labels == volume.label_of("fat")) > 0.95


def test_surfaces_are_closed_and_outward(built):
    _, _, _, surfaces = built
    for sid, mesh in surfaces.items():
        f = mesh.faces
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        _, counts = np.unique(edges, axis=0, return_counts=True)
        assert np.all(counts == 2), sid
        assert mesh.signed_volume_mm3() > 0, sid


def test_surfaces_leave_no_gap_inside_the_fascia(built):
    """Points scattered inside the fascia (away from the cut ends) each lie inside a
    muscle, the sleeve, the bone or the nerve: neighbours meet without gaps."""
    _, exact, _, surfaces = built
    rng = np.random.default_rng(7)
    xs = np.sort(rng.uniform(-40, 40, 60))
    ys = np.sort(rng.uniform(-40, 40, 60))
    zs = np.sort(rng.uniform(5, 85, 12))
    inside = packing.domain_mask(LIMB, xs, ys, zs)
    covered = np.zeros_like(inside)
    for mesh in [*surfaces.values(), *exact.values()]:
        covered |= inside_grid(mesh, xs, ys, zs)
    missed = inside & ~covered
    print(f"{missed.sum()} of {inside.sum()} points inside the fascia in no structure")
    assert missed.sum() <= 0.002 * inside.sum()


def test_the_volume_is_built_the_same_every_time(built):
    spec, exact, volume, _ = built
    again = packing.build_volume(LIMB, spec, exact)
    assert np.array_equal(again.labels, volume.labels)


@settings(max_examples=25, deadline=None)
@given(
    seeds=st.lists(st.tuples(st.floats(-35, 35), st.floats(-35, 35)), min_size=2, max_size=6, unique=True),
    raw=st.lists(st.floats(0.5, 4.0), min_size=6, max_size=6),
)
def test_share_level_gives_each_member_its_share_and_its_seed(seeds, raw):
    """On a disk of pixels: the solved diagram gives every member its target share within
    2 points and keeps the pixel at its own seed."""
    xs = np.arange(-50.0, 50.0, 1.5)
    gx, gy = np.meshgrid(xs, xs, indexing="ij")
    disk = gx**2 + gy**2 < 50.0**2
    pix = np.column_stack([gx[disk], gy[disk]])
    s = np.array(seeds)
    if len(s) > 1:
        gaps = np.linalg.norm(s[:, None] - s[None], axis=2) + np.eye(len(s)) * 1e9
        if gaps.min() < 6.0:
            return  # seeds closer than a few pixels cannot both keep their own
    share = np.array(raw[: len(s)])
    share /= share.sum()
    metric = np.tile(np.eye(2), (len(s), 1, 1))
    owner, _ = packing.share_level(pix, 2.25, s, metric, share, np.zeros(len(s)), 150)
    got = np.bincount(owner, minlength=len(s)) / len(owner)
    assert np.all(np.abs(got - share) <= 0.02), (got, share)
    for k, seed in enumerate(s):
        nearest = int(np.argmin(np.linalg.norm(pix - seed, axis=1)))
        assert owner[nearest] == k
