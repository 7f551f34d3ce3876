"""A plan's demonstration steps rendered off screen: a PNG per step and an animated GIF
with smooth camera moves between the steps (no Qt).

A step shows its structures with their opacities, its danger zones (all, less those
switched off one by one), its trigger points, exactly the needles it names (needles and
trigger-point markers drawn in front of the anatomy, as in the window, so a needle inside
a muscle is seen), its measurement (points, line and distance, in front as in the window),
the referral region it shaded on the skin, its title and text. Each step is held for its
own duration_s in the GIF. Labels and the cross-section are not drawn here.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkRenderer

from thighmap.anatomy.mirror import atlas_on_side
from thighmap.anatomy.referral import region_weights_on_atlas
from thighmap.planning import Plan
from thighmap.planning.demo import Camera, DemoStep, interpolate_camera, steps_of
from thighmap.safety.engine import SafetyModel
from thighmap.viz import scene
from thighmap.viz.measure import distance_mm, distance_text
from thighmap.viz.needles import needle_actors_for_report
from thighmap.viz.render import add_atlas, write_image

MOVE_FRAMES = 12  # frames of a camera move between two steps in the GIF
FRAME_S = 0.08  # each frame of a camera move is shown this long


class DemoRenderer:
    """One off-screen plotter holding the plan's scene; shows any step or camera."""

    def __init__(self, plan: Plan, model: SafetyModel, size: tuple[int, int] = (960, 720)) -> None:
        atlas = atlas_on_side(model.atlas, plan.side)
        self.atlas = atlas
        self.side = plan.side
        self.extras: list[pv.Actor] = []  # a step's measurement and referral region
        self.pl = pv.Plotter(off_screen=True, window_size=list(size))
        self.pl.set_background("#20242b", top="#3a4150")
        self.pl.enable_lightkit()
        self.structures = add_atlas(self.pl, atlas)
        self.default_opacity = {sid: a.prop.opacity for sid, a in self.structures.items()}
        self.zones = {
            st.id: self.pl.add_mesh(
                scene.surface_to_polydata(model.danger_zone_mesh(st.id)),
                color=scene.zone_colour(st),
                opacity=scene.ZONE_OPACITY,
                smooth_shading=True,
            )
            for st in scene.zoned_structures(atlas)
        }
        reports = model.check_plan(plan)
        # needles in a layer of their own that shares the camera: never hidden by a muscle
        self.overlay = vtkRenderer()
        self.overlay.SetLayer(1)
        self.overlay.InteractiveOff()
        self.overlay.SetActiveCamera(self.pl.renderer.GetActiveCamera())
        self.pl.ren_win.SetNumberOfLayers(2)
        self.pl.ren_win.AddRenderer(self.overlay)
        self.needles: dict[str, list[pv.Actor]] = {}
        for nr in reports.needles:
            actors = []
            for data, kw in needle_actors_for_report(nr):
                actor = self.pl.add_mesh(data, **kw)
                self.pl.renderer.RemoveActor(actor)
                self.overlay.AddActor(actor)
                actors.append(actor)
            self.needles[nr.id] = actors
        # trigger points as in the window: a marker in front, its spread in the scene
        self.trigger_points: dict[str, tuple[pv.Actor, pv.Actor]] = {}
        for tp in atlas.trigger_points.values():
            colour = scene.TRIGGER_POINT_COLOURS.get(tp.muscle, "#ffffff")
            centre = scene.to_display(tp.position_mm)
            core = self.pl.add_mesh(pv.Sphere(radius=2.5, center=centre), color=colour, smooth_shading=True)
            self.pl.renderer.RemoveActor(core)
            self.overlay.AddActor(core)
            spread = self.pl.add_mesh(
                pv.Sphere(radius=tp.spread_mm, center=centre),
                color=colour,
                opacity=scene.SPREAD_OPACITY,
                smooth_shading=True,
            )
            self.trigger_points[tp.id] = (core, spread)
        self.pl.add_orientation_widget(
            scene.orientation_cube(plan.side), interactive=False, viewport=(0, 0, 0.14, 0.18)
        )

    def show(self, step: DemoStep, camera: Camera | None = None) -> None:
        for sid, actor in self.structures.items():
            actor.SetVisibility(sid not in step.hidden)
            actor.prop.opacity = step.opacity.get(sid, self.default_opacity[sid])
        for sid, actor in self.zones.items():
            actor.SetVisibility(step.danger_zones and sid not in step.hidden and sid not in step.hidden_zones)
            actor.prop.opacity = step.opacity.get(f"zone:{sid}", scene.ZONE_OPACITY)
        for nid, actors in self.needles.items():
            for a in actors:
                a.SetVisibility(step.shows_needle(nid))
        for tid, (core, spread) in self.trigger_points.items():
            shown = step.trigger_points is not False and tid not in step.hidden_trigger_points
            core.SetVisibility(shown)
            spread.SetVisibility(shown)
            spread.prop.opacity = step.opacity.get(f"tp:{tid}", scene.SPREAD_OPACITY)
        self._show_measurement_and_referral(step)
        self.pl.add_text(step.title, position="upper_left", font_size=16, color="white", name="title")
        body = "\n".join(textwrap.wrap(step.text, 70))
        self.pl.add_text(body, position="lower_right", font_size=11, color="#e8eaee", name="text")
        self.set_camera(camera or step.camera)

    def _show_measurement_and_referral(self, step: DemoStep) -> None:
        for actor in self.extras:
            self.pl.renderer.RemoveActor(actor)
            self.overlay.RemoveActor(actor)
        self.extras = []
        self.pl.remove_actor("measure-label", render=False)
        for shape in scene.measurement_shapes(p.point_mm for p in step.measurement):
            line = shape.n_lines > 0
            actor = self.pl.add_mesh(
                shape, color=scene.MEASURE_COLOUR, line_width=5 if line else None, smooth_shading=not line
            )
            self.pl.renderer.RemoveActor(actor)
            self.overlay.AddActor(actor)  # in front, as needles are
            self.extras.append(actor)
        if len(step.measurement) == 2:
            a, b = (np.asarray(p.point_mm, float) for p in step.measurement)
            self.pl.add_point_labels(
                scene.to_display(((a + b) / 2.0)[None, :]),
                [distance_text(distance_mm(a, b))],
                font_size=14,
                bold=True,
                text_color=scene.MEASURE_TEXT,
                shape_color=scene.MEASURE_COLOUR,
                show_points=False,
                always_visible=True,
                name="measure-label",
            )
        tp = self.atlas.trigger_points.get(step.referral) if step.referral else None
        if tp is not None and tp.referral_region is not None:
            weights = region_weights_on_atlas(tp.referral_region, self.atlas, self.side)
            part = scene.referral_shading(self.atlas.mesh("skin"), weights)
            if part is not None:
                actor = self.pl.add_mesh(part, scalars="referral", rgba=True, smooth_shading=True)
                actor.prop.ambient = 0.45
                self.extras.append(actor)

    def set_camera(self, camera: Camera) -> None:
        self.pl.camera.position = camera.position
        self.pl.camera.focal_point = camera.focal_point
        self.pl.camera.up = camera.up
        self.pl.camera.view_angle = camera.view_angle
        self.pl.reset_camera_clipping_range()

    def image(self) -> np.ndarray:
        self.pl.render()  # a screenshot alone returns the last frame drawn
        return np.asarray(self.pl.screenshot(return_img=True))

    def close(self) -> None:
        self.pl.close()


def frames(renderer: DemoRenderer, steps: list[DemoStep]) -> Iterator[tuple[np.ndarray, float]]:
    """The GIF's frames and how long each is shown (s): each step held for its duration,
    then the camera moved to the next."""
    for k, step in enumerate(steps):
        renderer.show(step)
        yield renderer.image(), step.duration_s
        if k + 1 < len(steps):
            nxt = steps[k + 1]
            for f in range(1, MOVE_FRAMES + 1):
                renderer.set_camera(interpolate_camera(step.camera, nxt.camera, f / (MOVE_FRAMES + 1)))
                yield renderer.image(), FRAME_S


def export_demonstration(
    plan: Plan,
    model: SafetyModel,
    out_dir: str | Path,
    *,
    gif: str | Path | None = None,
    size: tuple[int, int] = (960, 720),
) -> list[Path]:
    """Write step-01.png, step-02.png, ... (and the GIF if asked); returns the PNGs."""
    steps = steps_of(plan)
    if not steps:
        raise ValueError("the plan has no demonstration steps to export")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    renderer = DemoRenderer(plan, model, size)
    try:
        written = []
        for k, step in enumerate(steps, start=1):
            renderer.show(step)
            renderer.pl.render()
            path = out / f"step-{k:02d}.png"
            write_image(path, np.asarray(renderer.pl.screenshot(return_img=True)))
            written.append(path)
        if gif is not None:
            shown = list(frames(renderer, steps))
            write_image(
                gif,
                np.stack([image for image, _ in shown]),
                ".gif",
                duration=[round(1000 * seconds) for _, seconds in shown],
                loop=0,
            )
        return written
    finally:
        renderer.close()
