"""Off-screen rendering of the atlas (`thighmap render`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pyvista as pv

from thighmap.anatomy.atlas import Atlas
from thighmap.atomic import write_atomic
from thighmap.viz import scene


def add_atlas(
    plotter: pv.Plotter,
    atlas: Atlas,
    hidden: Iterable[str] = (),
    opacity: dict[str, float] | None = None,
) -> dict[str, pv.Actor]:
    """Add every structure in anatomical colours; returns actors by structure id."""
    hidden = set(hidden)
    opacity = opacity or {}
    actors = {}
    for sid, st in atlas.structures.items():
        mesh = atlas.mesh(sid)
        poly = scene.surface_to_polydata(mesh)
        op = opacity.get(sid, scene.DEFAULT_OPACITY.get(st.kind, 1.0))
        colours = scene.structure_colours(st, sid, mesh)
        if colours is not None:  # muscle bellies and their tendons
            poly.point_data["colour"] = colours
        actor = plotter.add_mesh(
            poly,
            scalars="colour" if colours is not None else None,
            rgb=colours is not None,
            color=scene.structure_colour(st.kind, sid, st.role),
            opacity=op,
            smooth_shading=True,
            specular=0.25 if st.kind in ("muscle", "bone", "nerve") else 0.1,
            specular_power=20,
            name=sid,
            pickable=True,
        )
        actor.SetVisibility(sid not in hidden)
        actors[sid] = actor
    return actors


def set_camera(plotter: pv.Plotter, preset: str, atlas: Atlas, zoom: float = 1.0) -> None:
    direction, up = scene.CAMERA_PRESETS[preset]
    bounds = np.array(scene.surface_to_polydata(atlas.mesh("skin")).bounds).reshape(3, 2)
    centre = bounds.mean(axis=1)
    size = float(np.linalg.norm(bounds[:, 1] - bounds[:, 0]))
    plotter.camera.focal_point = tuple(centre)
    plotter.camera.position = tuple(centre + np.array(direction) * size * 2.2)
    plotter.camera.up = up
    plotter.camera.view_angle = 30.0
    plotter.reset_camera_clipping_range()
    plotter.camera.zoom(zoom)


def render_atlas_png(
    atlas: Atlas,
    out: Path,
    *,
    view: str = "posterior",
    size: Sequence[int] = (900, 1200),
    hidden: Iterable[str] = (),
    opacity: dict[str, float] | None = None,
    extra: Iterable[tuple[pv.DataSet, dict]] = (),
    zoom: float = 1.0,
    decorate: Iterable[Callable[[pv.Plotter], None]] = (),
) -> Path:
    pl = pv.Plotter(off_screen=True, window_size=list(size))
    pl.set_background("#20242b", top="#3a4150")
    pl.enable_lightkit()
    add_atlas(pl, atlas, hidden=hidden, opacity=opacity)
    for data, kw in extra:
        pl.add_mesh(data, **kw)
    for draw in decorate:
        draw(pl)
    set_camera(pl, view, atlas, zoom)
    pl.add_orientation_widget(scene.orientation_cube(), interactive=False, viewport=(0.0, 0.0, 0.18, 0.16))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image = np.asarray(pl.screenshot(return_img=True))
    pl.close()
    write_image(out, image)
    return out


def write_image(path: str | Path, image: np.ndarray, extension: str | None = None, **options: object) -> Path:
    """Encode ``image`` (H x W x 3/4 uint8, or a stack of frames for a GIF) in the format
    of ``extension`` (default: ``path``'s, else PNG) and write it through
    :func:`thighmap.atomic.write_atomic`; ``options`` go to the encoder (GIF duration)."""
    import imageio.v3 as iio

    path = Path(path)
    data = iio.imwrite("<bytes>", image, extension=extension or path.suffix.lower() or ".png", **options)
    return write_atomic(path, data)
