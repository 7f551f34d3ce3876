"""A left thigh for drawing: the atlas mirrored in x (no Qt)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from thighmap import sides
from thighmap.anatomy.atlas import Atlas
from thighmap.anatomy.meshgen import SurfaceMesh


class MirroredAtlas:
    """Read-only view of an atlas mirrored in x, for drawing a left thigh.

    Only what the window draws or shows is provided: structures, landmarks, trigger
    points, meshes and tubes. Meshes keep outward orientation (faces reversed).
    """

    def __init__(self, base: Atlas) -> None:
        self.base = base
        self.structures = base.structures
        self.fitted = base.fitted
        self.reference_adult = base.reference_adult
        self.fitting = base.fitting
        self.landmarks = {
            k: replace(v, position_mm=sides.mirror_points(v.position_mm)) for k, v in base.landmarks.items()
        }
        self.trigger_points = {
            k: replace(v, position_mm=sides.mirror_points(v.position_mm))
            for k, v in base.trigger_points.items()
        }
        self._meshes: dict[str, SurfaceMesh] = {}
        self._tubes: dict[str, Any] = {}

    def danger_structures(self) -> list[Any]:
        return self.base.danger_structures()

    def caution_structures(self) -> list[Any]:
        return self.base.caution_structures()

    def guarded_structures(self) -> list[Any]:
        return self.base.guarded_structures()

    def mesh(self, sid: str) -> SurfaceMesh:
        if sid not in self._meshes:
            self._meshes[sid] = sides.mirror_mesh(self.base.mesh(sid))
        return self._meshes[sid]

    def tube(self, sid: str) -> Any:
        if sid not in self._tubes:
            t = self.base.tube(sid)
            self._tubes[sid] = replace(t, centres_mm=sides.mirror_points(t.centres_mm))
        return self._tubes[sid]

    def landmark(self, lid: str) -> np.ndarray:
        return self.landmarks[lid].position_mm


def atlas_on_side(atlas: Atlas, side: str) -> Atlas | MirroredAtlas:
    """The atlas as drawn for a plan on `side`: itself for a right thigh, mirrored for a left."""
    return MirroredAtlas(atlas) if sides.is_mirrored(side) else atlas
