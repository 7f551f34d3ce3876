"""Cutting the atlas by a plane (viz.section_cut): VTK's cutter and stripper called
directly give the loops PyVista's slice and strip give (the cross-section's geometry is
unchanged by the faster call), for every structure, at levels taken from the atlas."""

from __future__ import annotations

import numpy as np
import pytest

from thighmap.viz.section_cut import atlas_polydata, cut_loops


def pyvista_loops(poly, origin, normal, e1, e2) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """The reference: PyVista's slice, joined by its strip, as the panel cut before."""
    cut = poly.slice(normal=tuple(normal), origin=tuple(origin))
    if cut.n_points == 0:
        return []
    cut = cut.strip(join=True)
    pts = np.asarray(cut.points) - origin
    uv = np.column_stack([pts @ e1, pts @ e2])
    lines, out, i = np.asarray(cut.lines), [], 0
    while i < len(lines):
        n = int(lines[i])
        if n >= 3:
            out.append(uv[lines[i + 1 : i + 1 + n]])
        i += n + 1
    return out


def canonical(loop: np.ndarray) -> np.ndarray:
    """A closed loop from its smallest point, in the direction of its smaller neighbour
    (the same loop whatever point it starts from and whichever way it runs)."""
    q = np.asarray(loop, float)
    if len(q) > 1 and np.array_equal(q[0], q[-1]):
        q = q[:-1]
    start = int(np.lexsort((q[:, 1], q[:, 0]))[0])
    q = np.roll(q, -start, axis=0)
    if len(q) > 2 and tuple(q[-1]) < tuple(q[1]):
        q = np.vstack([q[:1], q[:0:-1]])
    return q


@pytest.mark.parametrize("fraction", [0.15, 0.5, 0.85])
def test_the_cut_is_the_one_pyvista_makes(atlas, fraction: float) -> None:
    skin = atlas.mesh("skin").vertices
    z = float(skin[:, 2].min() + fraction * np.ptp(skin[:, 2]))
    tilt = np.array([0.2, -0.3, 1.0]) / np.linalg.norm([0.2, -0.3, 1.0])  # an oblique plane too
    e1 = np.cross([0.0, 1.0, 0.0], tilt)
    e1 /= np.linalg.norm(e1)
    planes = [
        (
            np.array([0.0, 0.0, z]),
            np.array([0.0, 0.0, 1.0]),
            np.array([1.0, 0.0, 0.0]),
            np.array([0.0, 1.0, 0.0]),
        ),
        (np.array([5.0, 60.0, z]), tilt, e1, np.cross(tilt, e1)),
    ]
    cut_any = 0
    for sid in atlas.structures:
        poly = atlas_polydata(atlas, sid)
        for origin, normal, u, v in planes:
            got = sorted(
                (canonical(q) for q in cut_loops(poly, origin, normal, u, v)), key=lambda q: tuple(q[0])
            )
            ref = sorted(
                (canonical(q) for q in pyvista_loops(poly, origin, normal, u, v)), key=lambda q: tuple(q[0])
            )
            assert len(got) == len(ref), sid
            for a, b in zip(got, ref, strict=True):
                assert a.shape == b.shape and np.allclose(a, b, atol=1e-9), sid
            cut_any += len(got)
    assert cut_any  # the planes cut the atlas
