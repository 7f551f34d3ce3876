"""Derive the line of the rule `perforating_arteries_along_the_linea_aspera` (issue #11)
from the committed femur mesh, and print it as the JSON list that
assets/landmarks.json `rules.regional[...].line_mm` holds (run from the repository root):

    PYTHONPATH=src python tools/derive_linea_aspera.py

The line: the most posterior point (largest y, the frame's +y is posterior) of the
femur's axial section (trimesh `section` of assets/meshes/femur.ply by the plane z = const)
every 15 mm from z = 155 to z = 380 mm. The range is pretterklieber2020's: perforating
arteries pass to the back of the thigh anywhere from 14.0 to 36.5 cm below the anterior
superior iliac spine. With the spine taken 90 mm above the greater trochanter landmark
(z = 428.8 mm), 14.0 cm below it is z = 428.8 + 90 - 140 = 378.8 (rounded to 380) and
36.5 cm below it is z = 428.8 + 90 - 365 = 153.8 (rounded to 155).

Between z = 155 and 350 mm the most posterior point is the linea aspera. Above the shaft
it is not: at z = 365 mm it lies on the lesser trochanter and at z = 380 mm on the back of
the greater trochanter (the intertrochanteric crest), so the top of the line crosses the
back of the proximal femur, where the first perforating artery passes (printed below).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import trimesh

FEMUR = Path("assets/meshes/femur.ply")
Z_LEVELS_MM = np.arange(155.0, 380.0 + 1e-9, 15.0)


def most_posterior_points(mesh: trimesh.Trimesh, z_levels_mm: np.ndarray) -> np.ndarray:
    """(len(z_levels), 3): the point of largest y of the mesh's section at each level
    (of the largest closed piece of the section, should it have several)."""
    out = []
    for z in z_levels_mm:
        section = mesh.section(plane_origin=[0.0, 0.0, float(z)], plane_normal=[0.0, 0.0, 1.0])
        if section is None:
            raise SystemExit(f"{FEMUR}: no section at z = {z:g} mm")
        pieces = [np.asarray(p, float) for p in section.discrete]
        piece = max(pieces, key=_area_xy)
        out.append(piece[np.argmax(piece[:, 1])])
    return np.array(out)


def _area_xy(loop: np.ndarray) -> float:
    x, y = loop[:, 0], loop[:, 1]
    return abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))) / 2.0


def main() -> int:
    mesh = trimesh.load(FEMUR, force="mesh")
    points = most_posterior_points(mesh, Z_LEVELS_MM)
    for z, p in zip(Z_LEVELS_MM, points, strict=True):
        print(
            f"# z = {z:5.0f} mm: most posterior point ({p[0]:6.1f}, {p[1]:6.1f}, {p[2]:6.1f})",
            file=sys.stderr,
        )
    print(json.dumps([[round(float(c), 1) for c in p] for p in points]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
