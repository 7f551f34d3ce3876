"""The axial cross-section's plane in the 3D view: the limb's outline at the section's
level (the outer loop of the skin's cut), filled translucent and outlined, so one sees
where the slice of the Cross-section panel lies.

It follows the view state's section level as it changes (the panel's slider, the box, the
needle's tip) and is shown while the Cross-section panel is (:meth:`SectionPlane.set_shown`).
Its two actors are made once and their points replaced at each level.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvista as pv

from thighmap.anatomy.atlas import Atlas
from thighmap.viz import scene, section_layout
from thighmap.viz.section_cut import atlas_polydata, cut_loops
from thighmap.viz.view_state import SectionSettings, ViewState

PLANE_COLOUR = "#7fd3ff"
PLANE_OPACITY = 0.35
OUTLINE_WIDTH = 2.5


class SectionPlane:
    """Owns the plane's actors in a :class:`~thighmap.gui.scene3d.Scene3D`."""

    def __init__(self, scene3d: Any, view: ViewState) -> None:
        self.scene = scene3d
        self.view = view
        self.shown = False
        self.level_mm: float | None = None  # the level drawn (None: nothing drawn)
        self._skin: pv.PolyData | None = None
        self.fill = pv.PolyData()
        self.outline = pv.PolyData()
        self.fill_actor = pv.Actor(mapper=pv.DataSetMapper(self.fill))
        self.fill_actor.prop.color = PLANE_COLOUR
        self.fill_actor.prop.opacity = PLANE_OPACITY
        self.outline_actor = pv.Actor(mapper=pv.DataSetMapper(self.outline))
        self.outline_actor.prop.color = PLANE_COLOUR
        self.outline_actor.prop.line_width = OUTLINE_WIDTH
        for actor in (self.fill_actor, self.outline_actor):
            actor.SetPickable(False)
            scene3d.pl.renderer.AddActor(actor)
        self.fill_actor.SetVisibility(False)
        self.outline_actor.SetVisibility(False)
        view.section_changed.connect(self._on_section)

    def set_atlas(self, atlas: Atlas) -> None:
        self._skin = atlas_polydata(atlas, "skin") if "skin" in atlas.structures else None
        self.level_mm = None
        self._update()

    def set_shown(self, shown: bool) -> None:
        """On while the Cross-section panel is on screen."""
        self.shown = bool(shown)
        self._update()

    def _on_section(self, _settings: SectionSettings) -> None:
        self._update()

    def _update(self) -> None:
        level = float(self.view.section.level_mm)
        if self.shown and self._skin is not None and level != self.level_mm:
            self._draw(level)
        on = self.shown and self.level_mm is not None and self.fill.n_points > 0
        self.fill_actor.SetVisibility(on)
        self.outline_actor.SetVisibility(on)
        self.scene.request_render()

    def _draw(self, level: float) -> None:
        """The limb's outline at ``level`` (atlas z, mm), as a filled polygon and a loop."""
        assert self._skin is not None
        e1, e2 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
        loops = cut_loops(self._skin, np.array([0.0, 0.0, level]), np.array([0.0, 0.0, 1.0]), e1, e2)
        loop = section_layout.outer_loop(loops)
        self.level_mm = level
        if loop is None:
            self.fill.copy_from(pv.PolyData())
            self.outline.copy_from(pv.PolyData())
            return
        if np.allclose(loop[0], loop[-1]):
            loop = loop[:-1]
        points = scene.to_display(np.column_stack([loop, np.full(len(loop), level)]))
        n = len(points)
        polygon = pv.PolyData(points, faces=np.hstack([[n], np.arange(n)])).triangulate()
        self.fill.copy_from(polygon)
        self.outline.copy_from(pv.PolyData(points, lines=np.hstack([[n + 1], np.arange(n), [0]])))


__all__ = ["SectionPlane"]
