"""The 3D view: atlas actors, labels, danger zones, trigger points and needles.

Atlas actors are built once per atlas (start, patient change); an edit of a needle
only replaces the needle actors. Rendering is coalesced: callers ask for a render
and one frame is drawn when control returns to the event loop (software OpenGL
takes a good fraction of a second per frame, so never draw twice for one edit).
Everything is drawn through :func:`thighmap.viz.scene.to_display` (mirrored in x);
picks come back through ``from_display``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyvista as pv
from PySide6.QtCore import QObject, QTimer
from vtkmodules.vtkRenderingCore import vtkCellPicker, vtkRenderer

from thighmap.anatomy.atlas import Atlas
from thighmap.planning import Needle, Plan
from thighmap.viz import render, scene

BACKGROUND = ("#1c2027", "#39404d")
LABEL_STRUCTURE_KINDS = ("muscle", "bone", "nerve", "artery", "vein")
NEEDLE_RADIUS_MM = 1.0  # drawn radius (a 0.25 mm needle would be invisible)
HANDLE_GREY = "#b8bcc4"
LEADER_GREY = "#d0d4da"
SOLID_OPACITY = 0.5  # layers at least this opaque are picked before translucent ones
FOCUS_COLOUR = "#ffffff"

# Layer groups of the layers panel: group name -> structure kinds.
GROUPS: dict[str, tuple[str, ...]] = {
    "Skin and fat": ("skin", "fat", "fascia"),
    "Muscles": ("muscle", "tendon"),
    "Bone": ("bone",),
    "Nerves": ("nerve",),
    "Vessels": ("artery", "vein"),
}


@dataclass
class PickResult:
    kind: str  # "structure", "trigger_point", "needle", "danger_zone"
    ident: str
    point_mm: np.ndarray  # in the atlas/plan frame


def _hex_to_rgb(colour: str) -> tuple[float, float, float]:
    c = colour.lstrip("#")
    return (int(c[0:2], 16) / 255.0, int(c[2:4], 16) / 255.0, int(c[4:6], 16) / 255.0)


def _actor(data: Any, colour: str, opacity: float = 1.0, line_width: float | None = None) -> Any:
    """A plain actor for the overlay layer (pyvista's add_mesh only targets its renderer)."""
    if (
        line_width is None
        and isinstance(data, pv.PolyData)
        and data.n_cells
        and data.n_lines == 0
        and "Normals" not in data.point_data
    ):
        try:
            data = data.triangulate().compute_normals(cell_normals=False)
        except RuntimeError:  # degenerate tiny shapes: flat shading is fine
            pass
    actor = pv.Actor(mapper=pv.DataSetMapper(data))
    prop = actor.prop
    prop.color = colour
    prop.opacity = opacity
    if line_width is not None:
        prop.line_width = line_width
        prop.render_lines_as_tubes = True
    else:
        prop.interpolation = "gouraud"
        prop.specular = 0.4
        prop.specular_power = 25
    return actor


def _lighter(colour: str, amount: float = 0.45) -> tuple[float, float, float]:
    r, g, b = _hex_to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def label_anchor(atlas: Atlas, sid: str) -> np.ndarray:
    """A point on the structure to hang its label from (atlas frame).

    Tubes: the middle of the centreline. Other structures: the most posterior vertex
    near the middle of the structure's length, which is visible from behind.
    """
    st = atlas.structures[sid]
    if st.is_tube:
        c = atlas.tube(sid).centres_mm
        return np.asarray(c[len(c) // 2], float)
    v = atlas.mesh(sid).vertices
    zmid = float(np.median(v[:, 2]))
    band = v[np.abs(v[:, 2] - zmid) < 15.0]
    if len(band) == 0:
        band = v
    return np.asarray(band[np.argmax(band[:, 1])], float)


def layout_columns(
    anchors: np.ndarray,
    right: np.ndarray,
    up: np.ndarray,
    centre: np.ndarray,
    half_width: float,
    spacing: float,
) -> np.ndarray:
    """Label positions (display frame) in two columns left and right of the model.

    Each label goes to the side its anchor is on, at the anchor's height, then labels in
    a column are pushed apart to at least ``spacing`` (mm) so that they never overlap and
    their leader lines do not cross much.
    """
    out = np.empty_like(anchors)
    rel = anchors - centre
    side = np.where(rel @ right >= 0.0, 1.0, -1.0)
    height = rel @ up
    for s in (-1.0, 1.0):
        idx = np.nonzero(side == s)[0]
        if len(idx) == 0:
            continue
        order = idx[np.argsort(height[idx])]
        h = height[order].copy()
        for _ in range(50):  # relax: push neighbours apart, keep the column centred
            moved = False
            for k in range(1, len(h)):
                gap = h[k] - h[k - 1]
                if gap < spacing:
                    push = (spacing - gap) / 2.0
                    h[k - 1] -= push
                    h[k] += push
                    moved = True
            if not moved:
                break
        for k, i in enumerate(order):
            depth = rel[i] - (rel[i] @ right) * right - (rel[i] @ up) * up
            out[i] = centre + depth + s * (half_width + 25.0) * right + h[k] * up
    return out


class Scene3D(QObject):
    """Owns every actor of the 3D view."""

    def __init__(self, plotter: Any) -> None:
        super().__init__()
        self.pl = plotter
        self.atlas: Atlas | None = None
        self.atlas_actors: dict[str, Any] = {}
        self.zone_actors: dict[str, Any] = {}
        self.tp_actors: dict[str, list[Any]] = {}
        self.needle_names: set[str] = set()
        self.hidden: set[str] = set()
        self.hidden_zones: set[str] = set()  # danger zones switched off one by one
        self.hidden_tps: set[str] = set()  # trigger points switched off one by one
        self.opacity: dict[str, float] = {}
        self.show_labels = True
        self.show_landmarks = False
        self.show_zones = True
        self.show_trigger_points = True
        self.show_tp_labels = False
        self.show_needles = True
        self.side = "right"
        self.zone_source: Callable[[str], Any] | None = None
        self._highlighted: tuple[str, tuple[float, float, float], float, float] | None = None
        self._handle: Any = None
        self._handle_callback: Callable[[np.ndarray], None] | None = None
        self._handle_guard = False
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self.render_now)
        self.frames = 0
        self.last_frame_s = 0.0
        self.pl.suppress_rendering = True
        self.pl.set_background(BACKGROUND[0], top=BACKGROUND[1])
        self._picker = vtkCellPicker()
        self._picker.SetTolerance(0.0005)
        # Needles, their feedback and trigger-point markers are drawn in an overlay layer
        # that shares the camera: a needle inside a muscle must never be hidden by it.
        self.overlay = vtkRenderer()
        self.overlay.SetLayer(1)
        self.overlay.InteractiveOff()
        self.overlay.SetActiveCamera(self.pl.renderer.GetActiveCamera())
        self.pl.ren_win.SetNumberOfLayers(2)
        self.pl.ren_win.AddRenderer(self.overlay)
        self.needle_actors: dict[str, Any] = {}
        self.map_actor: Any = None  # the coloured skin of a skin map, when one is shown
        self.focused: str | None = None  # the outlined structure (hover or click)
        self.focus_actor: Any = None

    # ------------------------------------------------------------------ rendering
    def request_render(self) -> None:
        self._render_timer.start()

    def render_now(self) -> None:
        import time

        self._render_timer.stop()
        t0 = time.perf_counter()
        self.overlay.SetActiveCamera(self.pl.renderer.GetActiveCamera())
        self.pl.suppress_rendering = False
        try:
            self.pl.render()
        finally:
            self.pl.suppress_rendering = True
        self.last_frame_s = time.perf_counter() - t0
        self.frames += 1

    # ------------------------------------------------------------------ atlas
    def set_atlas(self, atlas: Atlas, zone_source: Callable[[str], Any] | None, side: str = "right") -> None:
        """(Re)build the anatomy: structures, zones, trigger points, labels, decorations."""
        self.set_focus(None)
        for actor in [*self.atlas_actors.values(), *self.zone_actors.values()]:
            self.pl.remove_actor(actor, render=False)
        for actors in self.tp_actors.values():
            for actor in actors:
                self.pl.remove_actor(actor, render=False)
        self._highlighted = None
        self.atlas = atlas
        self.side = side
        self.zone_source = zone_source
        self.atlas_actors = render.add_atlas(self.pl, atlas, hidden=self.hidden, opacity=self.opacity)
        for actor in self.atlas_actors.values():
            actor.prop.ambient = 0.12
        self.zone_actors = {}
        if self.show_zones:
            self._build_zones()
        self._build_trigger_points()
        self._build_decorations()
        self.relayout_labels()
        self.request_render()

    def _build_zones(self) -> None:
        if self.atlas is None or self.zone_source is None:
            return
        for st in self.atlas.danger_structures():
            if st.id in self.zone_actors:
                continue
            mesh = self.zone_source(st.id)
            if mesh is None:
                continue
            poly = scene.surface_to_polydata(mesh)
            actor = self.pl.add_mesh(
                poly,
                color=scene.structure_colour(st.kind, st.id),
                opacity=self.opacity.get(f"zone:{st.id}", scene.ZONE_OPACITY),
                smooth_shading=True,
                name=f"zone:{st.id}",
                pickable=False,
                render=False,
            )
            actor.SetVisibility(
                self.show_zones and st.id not in self.hidden and st.id not in self.hidden_zones
            )
            self.zone_actors[st.id] = actor

    def _build_trigger_points(self) -> None:
        for actors in self.tp_actors.values():
            self.overlay.RemoveActor(actors[0])
        self.tp_actors = {}
        if self.atlas is None:
            return
        for tp in self.atlas.trigger_points.values():
            colour = scene.TRIGGER_POINT_COLOURS.get(tp.muscle, "#ffffff")
            centre = scene.to_display(tp.position_mm)
            core = _actor(
                pv.Sphere(radius=2.5, center=centre, theta_resolution=16, phi_resolution=12), colour
            )
            self.overlay.AddActor(core)
            spread = self.pl.add_mesh(
                pv.Sphere(radius=tp.spread_mm, center=centre, theta_resolution=20, phi_resolution=14),
                color=colour,
                opacity=self.opacity.get(f"tp:{tp.id}", scene.SPREAD_OPACITY),
                smooth_shading=True,
                name=f"tpspread:{tp.id}",
                pickable=False,
                render=False,
            )
            self.tp_actors[tp.id] = [core, spread]
            for a in (core, spread):
                a.SetVisibility(self.show_trigger_points and tp.id not in self.hidden_tps)

    def _build_decorations(self) -> None:
        assert self.atlas is not None
        self.pl.add_orientation_widget(
            scene.orientation_cube(self.side), interactive=False, viewport=(0.0, 0.0, 0.16, 0.2)
        )

    def _scale_bar(self, centre: np.ndarray, right: np.ndarray, up: np.ndarray, below: float) -> None:
        """A 100 mm bar in the focal plane, along the screen's horizontal, under the model."""
        base = centre + up * (below - 22.0)
        parts = [pv.Line(base - 50.0 * right, base + 50.0 * right)]
        for k in range(0, 101, 10):
            half = 5.0 if k % 50 == 0 else 2.5
            p = base + (k - 50.0) * right
            parts.append(pv.Line(p - half * up, p + half * up))
        self.pl.add_mesh(
            pv.merge(parts), color="white", line_width=2, name="scalebar", pickable=False, render=False
        )
        self.pl.add_point_labels(
            np.array([base - 14.0 * up]),
            ["100 mm"],
            font_size=12,
            text_color="white",
            shape=None,
            show_points=False,
            name="scalelabel",
            always_visible=True,
            render=False,
        )

    # ------------------------------------------------------------------ labels
    def relayout_labels(self) -> None:
        """Place structure, landmark and trigger-point labels in two columns beside the
        model as seen from the current camera, with leader lines; redraw the scale bar."""
        for name in ("labels", "labels_lm", "labels_tp", "leaders"):
            self.pl.remove_actor(name, render=False)
        if self.atlas is None:
            return
        cam = self.pl.camera
        view = np.array(cam.focal_point) - np.array(cam.position)
        view /= np.linalg.norm(view)
        up = np.array(cam.up, float)
        up = up - (up @ view) * view
        up /= np.linalg.norm(up)
        right = np.cross(view, up)
        skin_d = scene.to_display(np.asarray(self.atlas.mesh("skin").vertices))
        centre = skin_d.mean(axis=0)
        rel = skin_d - centre
        half_width = float(np.abs(rel @ right).max())
        self._scale_bar(centre, right, up, float((rel @ up).min()))
        groups: list[tuple[str, str, np.ndarray]] = []
        if self.show_labels:
            for sid, st in self.atlas.structures.items():
                if st.kind not in LABEL_STRUCTURE_KINDS or sid in self.hidden:
                    continue
                if st.kind == "muscle" and st.role != "target":
                    continue
                groups.append(("labels", st.name, scene.to_display(label_anchor(self.atlas, sid))))
        if self.show_landmarks:
            for lid, lm in self.atlas.landmarks.items():
                groups.append(("labels_lm", lid.replace("_", " "), scene.to_display(lm.position_mm)))
        if self.show_trigger_points and self.show_tp_labels:
            for tp in self.atlas.trigger_points.values():
                if tp.id not in self.hidden_tps:
                    groups.append(("labels_tp", tp.name, scene.to_display(tp.position_mm)))
        if not groups:
            self.request_render()
            return
        anchors = np.array([g[2] for g in groups])
        spacing = max(0.042 * float(np.ptp(rel @ up)), 12.0)
        placed = layout_columns(anchors, right, up, centre, half_width, spacing)
        n = len(anchors)
        cells = np.hstack([[2, i, i + n] for i in range(n)])
        leaders = pv.PolyData(np.vstack([anchors, placed]), lines=cells)
        self.pl.add_mesh(
            leaders,
            color=LEADER_GREY,
            line_width=1,
            name="leaders",
            pickable=False,
            render=False,
            opacity=0.8,
        )
        styles = {
            "labels": ("#f4f4f4", "#2c3440"),
            "labels_lm": ("#ffe9a8", "#3b3420"),
            "labels_tp": ("#ffffff", "#40305a"),
        }
        for name, (fg, bg) in styles.items():
            idx = [i for i, g in enumerate(groups) if g[0] == name]
            if not idx:
                continue
            self.pl.add_point_labels(
                placed[idx],
                [groups[i][1] for i in idx],
                font_size=11,
                text_color=fg,
                shape="rounded_rect",
                shape_color=bg,
                shape_opacity=0.8,
                show_points=False,
                name=name,
                always_visible=True,
                render=False,
                bold=False,
                italic=name != "labels",
            )
        self.request_render()

    # ------------------------------------------------------------------ visibility
    def set_structure_visible(self, sid: str, visible: bool) -> None:
        if visible:
            self.hidden.discard(sid)
        else:
            self.hidden.add(sid)
        if sid in self.atlas_actors:
            self.atlas_actors[sid].SetVisibility(visible)
        if sid in self.zone_actors:
            self.zone_actors[sid].SetVisibility(visible and self.show_zones and sid not in self.hidden_zones)
        self.request_render()

    def set_structure_opacity(self, sid: str, value: float) -> None:
        """Opacity of a structure, or of a danger zone ("zone:<id>") or a trigger point's
        spread ("tp:<id>")."""
        self.opacity[sid] = value
        kind, _, ident = sid.partition(":")
        if sid in self.atlas_actors:
            self.atlas_actors[sid].prop.opacity = value
        elif kind == "zone" and ident in self.zone_actors:
            self.zone_actors[ident].prop.opacity = value
        elif kind == "tp" and ident in self.tp_actors:
            self.tp_actors[ident][1].prop.opacity = value
        self.request_render()

    def set_zone_visible(self, sid: str, visible: bool) -> None:
        """One danger structure's zone on or off (the master switch stays show_zones)."""
        if visible:
            self.hidden_zones.discard(sid)
            self._build_zones()  # zones are built when first needed
        else:
            self.hidden_zones.add(sid)
        if sid in self.zone_actors:
            self.zone_actors[sid].SetVisibility(visible and self.show_zones and sid not in self.hidden)
        self.request_render()

    def set_trigger_point_visible(self, tid: str, visible: bool) -> None:
        if visible:
            self.hidden_tps.discard(tid)
        else:
            self.hidden_tps.add(tid)
        for a in self.tp_actors.get(tid, []):
            a.SetVisibility(visible and self.show_trigger_points)
        self.relayout_labels()

    def set_zones_visible(self, visible: bool) -> None:
        self.show_zones = visible
        if visible:
            self._build_zones()
        for sid, actor in self.zone_actors.items():
            actor.SetVisibility(visible and sid not in self.hidden and sid not in self.hidden_zones)
        self.request_render()

    def set_trigger_points_visible(self, visible: bool) -> None:
        self.show_trigger_points = visible
        for tid, actors in self.tp_actors.items():
            for a in actors:
                a.SetVisibility(visible and tid not in self.hidden_tps)
        self.relayout_labels()

    def set_needles_visible(self, visible: bool) -> None:
        self.show_needles = visible
        for actor in self.needle_actors.values():
            actor.SetVisibility(visible)
        for name in self.needle_names:
            actor = self.pl.actors.get(name)
            if actor is not None:
                actor.SetVisibility(visible)
        self.request_render()

    def set_labels(self, structures: bool, landmarks: bool) -> None:
        self.show_labels = structures
        self.show_landmarks = landmarks
        self.relayout_labels()

    # ------------------------------------------------------------------ camera
    def camera(self, preset: str) -> None:
        if self.atlas is None:
            return
        if self.side == "left":  # the presets name the thigh's sides; a left thigh is mirrored
            preset = {"lateral": "medial", "medial": "lateral"}.get(preset, preset)
        render.set_camera(self.pl, preset, self.atlas, zoom=1.2 if preset.startswith("axial") else 1.1)
        self.relayout_labels()
        self.request_render()

    # ------------------------------------------------------------------ needles
    def _add(
        self,
        name: str,
        data: Any,
        color: str,
        opacity: float = 1.0,
        line_width: float | None = None,
        **_kw: Any,
    ) -> None:
        actor = _actor(data, color, opacity, line_width)
        actor.SetVisibility(self.show_needles)
        self.overlay.AddActor(actor)
        self.needle_actors[name] = actor

    def _add_label(self, name: str, point: np.ndarray, text: str, colour: str, justify: str = "left") -> None:
        actor = self.pl.add_point_labels(
            np.asarray([point]),
            [text],
            justification_horizontal=justify,  # type: ignore[arg-type]
            font_size=12,
            text_color="white",
            shape="rounded_rect",
            shape_color=colour,
            shape_opacity=0.85,
            show_points=False,
            name=name,
            always_visible=True,
            render=False,
            bold=True,
        )
        actor.SetVisibility(self.show_needles)
        self.needle_names.add(name)

    def clear_needles(self) -> None:
        for actor in self.needle_actors.values():
            self.overlay.RemoveActor(actor)
        self.needle_actors.clear()
        for name in list(self.needle_names):
            self.pl.remove_actor(name, render=False)
        self.needle_names.clear()
        self._restore_highlight()

    def update_needles(
        self,
        plan: Plan,
        reports: dict[str, Any],
        selected: str | None,
        status_colours: dict[str, str] | None = None,
    ) -> None:
        """Redraw every needle from the core's reports (cheap: a few small actors)."""
        colours = status_colours or scene.STATUS_COLOURS
        self.clear_needles()
        for needle in plan.needles:
            report = reports.get(needle.id)
            status = getattr(report, "status", None)
            colour = colours.get(status, "#cccccc") if status else "#cccccc"
            self._draw_needle(needle, colour, needle.id == selected)
        sel = next((n for n in plan.needles if n.id == selected), None)
        if sel is not None and reports.get(sel.id) is not None:
            self._draw_feedback(sel, reports[sel.id], colours)
        self._update_handle(sel)
        self.request_render()

    def _draw_needle(self, n: Needle, colour: str, selected: bool) -> None:
        entry = scene.to_display(n.entry_mm)
        direction = scene.to_display(n.direction)
        tip = entry + direction * n.depth_mm
        r = NEEDLE_RADIUS_MM * (1.35 if selected else 1.0)
        self._add(
            f"needle:{n.id}",
            pv.Tube(pointa=entry, pointb=tip, radius=r, n_sides=12)
            if n.depth_mm > 0
            else pv.Sphere(r, entry),
            color=colour,
            smooth_shading=True,
            pickable=True,
            specular=0.5,
        )
        outside = max(n.needle_length_mm - n.depth_mm, 0.0)
        hub = entry - direction * outside
        if outside > 0.1:
            self._add(
                f"shaft:{n.id}",
                pv.Tube(pointa=hub, pointb=entry, radius=r * 0.8, n_sides=10),
                color=HANDLE_GREY,
                smooth_shading=True,
                pickable=False,
                specular=0.6,
            )
        handle = pv.Cylinder(
            center=hub - direction * 12.0,
            direction=direction,
            radius=2.2,
            height=24.0,
            resolution=16,
        )
        self._add(
            f"handle:{n.id}",
            handle,
            color="#4a7bd0" if selected else "#7d8796",
            smooth_shading=True,
            pickable=False,
        )
        self._add(
            f"tip:{n.id}",
            pv.Sphere(radius=r * 1.6, center=tip),
            color=colour,
            smooth_shading=True,
            pickable=False,
        )
        self._add_label(f"nlabel:{n.id}", entry - direction * 6.0, n.id, "#4a7bd0" if selected else "#5a6270")

    def _draw_feedback(self, n: Needle, report: Any, colours: dict[str, str]) -> None:
        nd = report.nearest_danger
        status_colour = colours.get(report.status, "#cccccc")
        if nd is not None:
            a = scene.to_display(np.asarray(nd.point_on_needle_mm, float))
            b = scene.to_display(np.asarray(nd.point_on_structure_mm, float))
            self._add(
                "fb:closest",
                pv.Sphere(radius=1.8, center=b),
                color=status_colour,
                smooth_shading=True,
                pickable=False,
            )
            self._add(
                "fb:line",
                pv.Line(a, b),
                color=status_colour,
                line_width=4,
                pickable=False,
                render_lines_as_tubes=True,
            )
            self._add_label("fb:distance", (a + b) / 2.0, f"{nd.clearance_mm:.1f} mm", status_colour)
            if report.status in ("caution", "danger"):
                self._highlight(nd.structure)
        msd = float(report.max_safe_depth_mm)
        if np.isfinite(msd) and msd < n.needle_length_mm:
            entry = scene.to_display(n.entry_mm)
            d = scene.to_display(n.direction)
            p = entry + d * msd
            ring = pv.Disc(center=p, inner=NEEDLE_RADIUS_MM * 1.6, outer=4.0, normal=d, c_res=24)
            self._add(
                "fb:maxsafe",
                ring,
                color=scene.STATUS_COLOURS["caution"],
                pickable=False,
                opacity=0.95,
            )
            self._add_label("nlabel:" + n.id, entry - d * 6.0, f"{n.id} · max safe {msd:.1f} mm", "#4a7bd0")

    def _highlight(self, sid: str) -> None:
        actor = self.atlas_actors.get(sid)
        if actor is None:
            return
        prop = actor.prop
        self._highlighted = (sid, tuple(prop.color), prop.ambient, prop.opacity)
        prop.color = _lighter(
            scene.structure_colour(self.atlas.structures[sid].kind, sid) if self.atlas else "#ffffff",
            0.35,
        )
        prop.ambient = 0.55
        prop.opacity = 1.0
        actor.SetVisibility(True)

    def _restore_highlight(self) -> None:
        if self._highlighted is None:
            return
        sid, colour, ambient, opacity = self._highlighted
        actor = self.atlas_actors.get(sid)
        if actor is not None:
            actor.prop.color = colour
            actor.prop.ambient = ambient
            actor.prop.opacity = opacity
            actor.SetVisibility(sid not in self.hidden)
        self._highlighted = None

    # ------------------------------------------------------------------ focus (hover, click)
    def set_focus(self, sid: str | None) -> None:
        """Outline one structure (the one under the mouse, or the one clicked)."""
        if sid == self.focused:
            return
        if self.focus_actor is not None:
            self.pl.remove_actor(self.focus_actor, render=False)
            self.focus_actor = None
        self.focused = None
        if sid is not None and self.atlas is not None and sid in self.atlas_actors:
            if self.atlas_actors[sid].GetVisibility() or sid == "skin":
                poly = scene.surface_to_polydata(self.atlas.mesh(sid))
                self.focus_actor = self.pl.add_silhouette(poly, color=FOCUS_COLOUR, line_width=3.0)
                self.focused = sid
        self.request_render()

    # ------------------------------------------------------------------ tip handle
    def set_handle_callback(self, callback: Callable[[np.ndarray], None]) -> None:
        self._handle_callback = callback

    def _on_handle(self, centre: Iterable[float]) -> None:
        if self._handle_guard or self._handle_callback is None:
            return
        self._handle_callback(scene.from_display(np.asarray(list(centre), float)))

    def _update_handle(self, needle: Needle | None) -> None:
        if needle is None or not self.show_needles:
            if self._handle is not None:
                self._handle.Off()
            return
        tip = scene.to_display(needle.tip_mm)
        if self._handle is None:
            self._handle = self.pl.add_sphere_widget(
                self._on_handle,
                center=tuple(tip),
                radius=3.2,
                color="#4ad0ff",
                selected_color="#ffffff",
                interaction_event="always",
                test_callback=False,
            )
        self._handle_guard = True
        try:
            self._handle.SetCenter(*tip)
            self._handle.On()
        finally:
            self._handle_guard = False

    # ------------------------------------------------------------------ skin maps
    def show_map(self, draw: Callable[[Any], None]) -> None:
        """Replace the skin by a coloured skin map; `draw(plotter)` adds the map's actors
        (viz.maps names them "map-*")."""
        self.clear_map(render=False)
        draw(self.pl)
        self.map_actor = self.pl.actors.get("map-skin")
        skin = self.atlas_actors.get("skin")
        if skin is not None:
            skin.SetVisibility(False)
        self.request_render()

    def clear_map(self, render: bool = True) -> None:
        for name in [n for n in self.pl.actors if str(n).startswith("map-")]:
            self.pl.remove_actor(name, render=False)
        self.pl.remove_legend(render=False)
        for title in list(self.pl.scalar_bars.keys()):
            self.pl.remove_scalar_bar(title, render=False)
        self.map_actor = None
        skin = self.atlas_actors.get("skin")
        if skin is not None:
            skin.SetVisibility("skin" not in self.hidden)
        if render:
            self.request_render()

    # ------------------------------------------------------------------ picking
    def pick(self, x: int, y: int, skin_only: bool = False) -> PickResult | None:
        """What is under the display position (x, y in VTK pixels, origin bottom-left)."""
        picker = self._picker
        picker.InitializePickList()
        if not skin_only and self.show_needles:
            # needles first: thin and deliberate, they win over what they pass through
            needles = [
                (a, ("needle", name.split(":", 1)[1]))
                for name, a in self.needle_actors.items()
                if name.startswith(("needle:", "handle:")) and a.GetVisibility()
            ]
            for a, _hit in needles:
                picker.AddPickList(a)
            picker.PickFromListOn()
            if needles and picker.Pick(x, y, 0, self.overlay):
                hit = self._identify(picker.GetActor(), needles)
                if hit is not None:
                    return hit
            picker.InitializePickList()
        if not skin_only and self.show_trigger_points and self.tp_actors:
            # trigger points are drawn on top (overlay layer): they win
            for actors in self.tp_actors.values():
                if actors[0].GetVisibility():
                    picker.AddPickList(actors[0])
            picker.PickFromListOn()
            if picker.Pick(x, y, 0, self.overlay):
                hit = self._identify(
                    picker.GetActor(), [(a[0], ("trigger_point", tid)) for tid, a in self.tp_actors.items()]
                )
                if hit is not None:
                    return hit
            picker.InitializePickList()
        candidates: list[tuple[Any, tuple[str, str]]] = []
        map_skin = [(self.map_actor, ("structure", "skin"))] if self.map_actor is not None else []
        if skin_only:
            actor = self.atlas_actors.get("skin")
            if actor is None:
                return None
            candidates += [(actor, ("structure", "skin")), *map_skin]
            for a, _hit in candidates:
                picker.AddPickList(a)
            picker.PickFromListOn()
        else:
            candidates += [(a, ("structure", sid)) for sid, a in self.atlas_actors.items()]
            candidates += map_skin
            # look through the translucent layers (skin and fat by default) first: a click
            # on a muscle seen through the skin means the muscle
            solid = [a for a, _hit in candidates if a.GetVisibility() and a.prop.opacity >= SOLID_OPACITY]
            for a in solid:
                picker.AddPickList(a)
            picker.PickFromListOn()
            if solid and picker.Pick(x, y, 0, self.pl.renderer):
                return self._identify(picker.GetActor(), candidates)
            picker.InitializePickList()
            picker.PickFromListOff()
        if not picker.Pick(x, y, 0, self.pl.renderer):
            return None
        return self._identify(picker.GetActor(), candidates)

    def _identify(self, actor: Any, candidates: list[tuple[Any, tuple[str, str]]]) -> PickResult | None:
        if actor is None:
            return None
        # compare the C++ objects: Python wrappers of the same actor may differ
        address = actor.GetAddressAsString("vtkActor")
        hit = next((h for a, h in candidates if a.GetAddressAsString("vtkActor") == address), None)
        if hit is None:
            return None
        point = scene.from_display(np.array(self._picker.GetPickPosition(), float))
        return PickResult(hit[0], hit[1], point)

    def close(self) -> None:
        self._render_timer.stop()
