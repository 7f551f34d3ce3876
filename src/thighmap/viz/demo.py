"""A plan's demonstration steps rendered off screen: a PNG per step and an animated GIF
with smooth camera moves between the steps (no Qt)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyvista as pv

from thighmap.anatomy.mirror import MirroredAtlas
from thighmap.planning import Plan
from thighmap.planning.demo import Camera, DemoStep, interpolate_camera, steps_of
from thighmap.safety.engine import SafetyModel
from thighmap.viz import scene
from thighmap.viz.needles import needle_actors_for_report
from thighmap.viz.render import add_atlas, write_image

MOVE_FRAMES = 12  # frames of a camera move between two steps in the GIF
HOLD_FRAMES = 14  # frames a step is held still in the GIF
FRAME_S = 0.08


class DemoRenderer:
    """One off-screen plotter holding the plan's scene; shows any step or camera."""

    def __init__(self, plan: Plan, model: SafetyModel, size: tuple[int, int] = (960, 720)) -> None:
        atlas = MirroredAtlas(model.atlas) if plan.side == "left" else model.atlas
        self.atlas = atlas
        self.pl = pv.Plotter(off_screen=True, window_size=list(size))
        self.pl.set_background("#20242b", top="#3a4150")
        self.pl.enable_lightkit()
        self.structures = add_atlas(self.pl, atlas)
        self.default_opacity = {sid: a.prop.opacity for sid, a in self.structures.items()}
        self.zones = {
            st.id: self.pl.add_mesh(
                scene.surface_to_polydata(model.danger_zone_mesh(st.id)),
                color=scene.structure_colour(st.kind, st.id),
                opacity=scene.ZONE_OPACITY,
                smooth_shading=True,
            )
            for st in atlas.danger_structures()
        }
        reports = model.check_plan(plan)
        self.needles: dict[str, list[pv.Actor]] = {}
        for nr in reports.needles:
            self.needles[nr.id] = [self.pl.add_mesh(data, **kw) for data, kw in needle_actors_for_report(nr)]
        self.pl.add_orientation_widget(
            scene.orientation_cube(plan.side), interactive=False, viewport=(0, 0, 0.14, 0.18)
        )

    def show(self, step: DemoStep, camera: Camera | None = None) -> None:
        for sid, actor in self.structures.items():
            actor.SetVisibility(sid not in step.hidden)
            actor.prop.opacity = step.opacity.get(sid, self.default_opacity[sid])
        for sid, actor in self.zones.items():
            actor.SetVisibility(step.danger_zones and sid not in step.hidden)
        for nid, actors in self.needles.items():
            for a in actors:
                a.SetVisibility(step.needles is None or nid in step.needles)
        self.pl.add_text(step.title, position="upper_left", font_size=16, color="white", name="title")
        body = "\n".join(textwrap.wrap(step.text, 70))
        self.pl.add_text(body, position="lower_right", font_size=11, color="#e8eaee", name="text")
        self.set_camera(camera or step.camera)

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


def frames(renderer: DemoRenderer, steps: list[DemoStep]) -> Iterator[np.ndarray]:
    """The GIF's frames: each step held, then the camera moved to the next."""
    for k, step in enumerate(steps):
        renderer.show(step)
        still = renderer.image()
        for _ in range(HOLD_FRAMES):
            yield still
        if k + 1 < len(steps):
            nxt = steps[k + 1]
            for f in range(1, MOVE_FRAMES + 1):
                renderer.set_camera(interpolate_camera(step.camera, nxt.camera, f / (MOVE_FRAMES + 1)))
                yield renderer.image()


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
            images = list(frames(renderer, steps))
            write_image(gif, np.stack(images), ".gif", duration=int(FRAME_S * 1000), loop=0)
        return written
    finally:
        renderer.close()
