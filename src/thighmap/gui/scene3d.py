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
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer, Signal
from vtkmodules.vtkRenderingCore import vtkActor2D, vtkCellPicker, vtkPolyDataMapper2D, vtkRenderer

from thighmap.anatomy.atlas import Atlas
from thighmap.planning import Needle, Plan
from thighmap.planning.document import PlanDocument
from thighmap.viz import glyphs, render, scene
from thighmap.viz import labels as label_layout
from thighmap.viz.view_state import ViewState

from .section_plane import SectionPlane

BACKGROUND = ("#1c2027", "#39404d")
LABEL_STRUCTURE_KINDS = ("muscle", "bone", "nerve", "artery", "vein")
NEEDLE_RADIUS_MM = 1.0  # drawn radius (a 0.25 mm needle would be invisible)
HANDLE_GREY = "#b8bcc4"
LEADER_GREY = "#d0d4da"
LABEL_FONT_PT = 11  # structures, landmarks, trigger points
NEEDLE_LABEL_FONT_PT = 12
LABEL_PAD_PX = (4.0, 2.0)  # inside a label's box, left/right and top/bottom
LABEL_BOX_OPACITY = 0.82
LABEL_THROTTLE_S = 0.1  # while the camera moves, labels are laid out at most this often
ORIENTATION_VIEWPORT = (0.0, 0.0, 0.16, 0.2)  # the orientation cube, fraction of the view
# label styles: text colour, box colour, priority (higher is kept longer), italic
LABEL_STYLES: dict[str, tuple[str, str, float, bool]] = {
    "danger": ("#f4f4f4", "#2c3440", 3.0, False),  # nerves and vessels
    "caution": ("#ffd98a", "#2c3440", 2.8, False),  # cutaneous nerves, superficial veins (amber)
    "target": ("#f4f4f4", "#2c3440", 2.5, False),  # the hamstrings and adductor magnus
    "structure": ("#f4f4f4", "#2c3440", 2.0, False),  # bone
    "trigger_point": ("#ffffff", "#40305a", 1.2, True),
    "landmark": ("#ffe9a8", "#3b3420", 1.0, True),
}
NEEDLE_PRIORITY = 10.0
SOLID_OPACITY = 0.5  # layers at least this opaque are picked before translucent ones
FOCUS_COLOUR = "#ffffff"

# Layer groups of the layers panel: group name -> structure kinds.
GROUPS: dict[str, tuple[str, ...]] = {
    "Skin, fat and fascia": ("skin", "fat", "fascia"),
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
    actor.mapper.scalar_visibility = False  # one colour (pv.Line carries a "Distance" array)
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


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def _lighter(colour: str, amount: float = 0.45) -> tuple[float, float, float]:
    r, g, b = _hex_to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def tube12() -> pv.PolyData:
    return glyphs.unit_tube(12)  # a needle's inserted part


def tube10() -> pv.PolyData:
    return glyphs.unit_tube(10)  # the part outside the skin


def needle_handle() -> pv.PolyData:
    return pv.Cylinder(
        center=(0.0, 0.0, 0.0), direction=(0.0, 0.0, 1.0), radius=2.2, height=24.0, resolution=16
    )


def max_safe_ring() -> pv.PolyData:
    return pv.Disc(
        center=(0.0, 0.0, 0.0), inner=NEEDLE_RADIUS_MM * 1.6, outer=4.0, normal=(0.0, 0.0, 1.0), c_res=24
    )


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


@dataclass
class ScreenLabel:
    """One label of the 3D view: a short text in a box, joined to its anchor by a leader."""

    name: str  # actor name: "label:<structure>", "landmark:<id>", "tplabel:<id>", "nlabel:<needle>"
    kind: str  # "structure", "landmark", "trigger_point", "needle", "measure"
    point: np.ndarray  # the anchor, drawing frame
    text: str  # on the label
    full_text: str  # on hover
    fg: str
    bg: str
    priority: float
    keep: bool  # never dropped while the view has room (needles)
    size_px: np.ndarray  # the box, padding included
    actor: Any
    prefer_side: int = 0
    style: tuple[Any, ...] = ()  # kind, font size, bold, italic: a label of the same style is reused


class Scene3D(QObject):
    """Owns every actor of the 3D view."""

    atlas_changed = Signal()  # a new atlas is drawn (start, patient, side)

    def __init__(self, plotter: Any, view: ViewState | None = None) -> None:
        super().__init__()
        self.pl = plotter
        self.atlas: Atlas | None = None
        self.atlas_actors: dict[str, Any] = {}
        self.zone_actors: dict[str, Any] = {}
        self.tp_actors: dict[str, list[Any]] = {}
        self.needle_names: set[str] = set()
        # what is shown (visibility, opacity, labels): the view state, which this scene
        # follows through its signals (set_* below write to it; _on_* draw what it says)
        self.view = view if view is not None else ViewState()
        self.view.visibility_changed.connect(self._on_visibility)
        self.view.opacity_changed.connect(self._on_opacity)
        self.view.hidden_needles_changed.connect(self._on_hidden_needles)
        self._needles_selected: str | None = None
        self._selected_needle: Needle | None = None
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
        self.needle_pool = glyphs.GlyphPool(self.overlay)  # needles' shapes, moved at each edit
        self.measure_actors: list[Any] = []  # the measuring tool's points and line (overlay)
        self._measure_segments: list[tuple[np.ndarray, np.ndarray]] = []  # drawing frame
        self.referral_actor: Any = None  # the shaded referral region of a trigger point
        self.map_actor: Any = None  # the coloured skin of a skin map, when one is shown
        self.focused: str | None = None  # the outlined structure (hover or click)
        self.focus_actor: Any = None
        # labels: 2D boxes laid out in display pixels by viz.labels before every frame whose
        # labels changed, or whose camera moved (then at most every LABEL_THROTTLE_S)
        self.labels: dict[str, ScreenLabel] = {}
        self.label_rects: dict[str, np.ndarray] = {}  # placed boxes (x0, y0, x1, y1), display px
        self.labels_dropped: list[str] = []  # names of labels left out at the last layout
        self._needle_segments: list[tuple[np.ndarray, np.ndarray]] = []  # drawing frame
        self._scale_text_point: np.ndarray | None = None
        self._scale_corners: np.ndarray | None = None  # the bar's ends, drawing frame
        self._skin_points: np.ndarray | None = None
        self._labels_dirty = True
        self._placed_state: tuple[Any, ...] | None = None
        self._placed_at = -np.inf
        self._label_timer = QTimer(self)
        self._label_timer.setSingleShot(True)
        self._label_timer.timeout.connect(self._on_label_timer)
        self._leaders = pv.PolyData()
        self._boxes = pv.PolyData()
        self._leader_actor = self._add_2d(self._leaders, LEADER_GREY, 0.85)
        self._box_actor = self._add_2d(self._boxes)
        self.pl.renderer.AddObserver("StartEvent", self._on_render_start)
        self.section_plane = SectionPlane(self, self.view)  # the axial slice's plane

    # ------------------------------------------------------------------ rendering
    def request_render(self) -> None:
        self._render_timer.start()

    def render_now(self) -> None:
        """Draw a frame now. On screen the view is painted at once: one render, drawn into
        the window. (An explicit render, pyvista's, renders and then schedules a paint of
        the widget, which pyvistaqt's paintGL renders again: two renders a frame. And
        QWidget.repaint() only schedules the paint of an OpenGL widget: the window's paint
        request is sent here instead.)"""
        import time

        self._render_timer.stop()
        t0 = time.perf_counter()
        self.overlay.SetActiveCamera(self.pl.renderer.GetActiveCamera())
        if self.pl.isVisible():
            self.pl.update()
            QCoreApplication.sendPostedEvents(self.pl.window(), QEvent.Type.UpdateRequest)
        else:  # not on screen (yet): render into the render window
            self.pl.suppress_rendering = False
            try:
                self.pl.render()
            finally:
                self.pl.suppress_rendering = True
        self.last_frame_s = time.perf_counter() - t0
        self.frames += 1

    # ------------------------------------------------------------------ atlas
    def set_atlas(
        self,
        atlas: Atlas,
        zone_source: Callable[[str], Any] | None,
        side: str = "right",
        preset: str | None = None,
    ) -> None:
        """(Re)build the anatomy: structures, zones, trigger points, labels, decorations;
        seen from the camera preset `preset` when one is given (the labels are laid out
        once, for that view), else from where the camera is."""
        self.set_focus(None)
        for actor in [*self.atlas_actors.values(), *self.zone_actors.values()]:
            self.pl.remove_actor(actor, render=False)
        for actors in self.tp_actors.values():
            for actor in actors:
                self.pl.remove_actor(actor, render=False)
        self._highlighted = None
        self.atlas = atlas
        self._skin_points = None  # the model's extent on screen follows the new skin
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
        self.clear_referral()
        self.section_plane.set_atlas(atlas)
        if preset is not None:
            self.camera(preset)  # lays the labels out for it
        else:
            self.relayout_labels()
            self.request_render()
        self.atlas_changed.emit()

    def _build_zones(self) -> None:
        if self.atlas is None or self.zone_source is None:
            return
        for st in scene.zoned_structures(self.atlas):
            if st.id in self.zone_actors:
                continue
            mesh = self.zone_source(st.id)
            if mesh is None:
                continue
            poly = scene.surface_to_polydata(mesh)
            actor = self.pl.add_mesh(
                poly,
                color=scene.zone_colour(st),
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
            scene.orientation_cube(self.side), interactive=False, viewport=ORIENTATION_VIEWPORT
        )

    def _scale_bar(self, centre: np.ndarray, right: np.ndarray, up: np.ndarray, below: float) -> None:
        """A 100 mm bar in the focal plane, along the screen's horizontal, under the model;
        its "100 mm" is a 2D text placed under the bar at every layout."""
        base = centre + up * (below - 22.0)
        parts = [pv.Line(base - 50.0 * right, base + 50.0 * right)]
        for k in range(0, 101, 10):
            half = 5.0 if k % 50 == 0 else 2.5
            p = base + (k - 50.0) * right
            parts.append(pv.Line(p - half * up, p + half * up))
        self.pl.add_mesh(
            pv.merge(parts), color="white", line_width=2, name="scalebar", pickable=False, render=False
        )
        text = pv.Text("100 mm")
        prop = text.GetTextProperty()
        prop.SetFontSize(12)
        prop.SetFontFamilyToArial()
        prop.SetColor(1.0, 1.0, 1.0)
        prop.SetJustificationToCentered()
        prop.SetVerticalJustificationToTop()
        text.SetVisibility(False)
        self.pl.add_actor(text, name="scalelabel", reset_camera=False, pickable=False, render=False)
        self._scale_text_point = base - 7.0 * up
        self._scale_corners = np.array([base - 50.0 * right + 5.0 * up, base + 50.0 * right - 5.0 * up])

    # ------------------------------------------------------------------ labels
    def _add_2d(self, poly: pv.PolyData, colour: str | None = None, opacity: float = 1.0) -> Any:
        """A 2D actor drawing ``poly`` (points in display pixels) under the label texts."""
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(poly)
        if colour is None:  # per-cell RGBA (opacity in the colours)
            mapper.SetScalarModeToUseCellData()
            mapper.SetColorModeToDirectScalars()
        else:
            mapper.ScalarVisibilityOff()
        actor = vtkActor2D()
        actor.SetMapper(mapper)
        if colour is not None:
            actor.GetProperty().SetColor(*_hex_to_rgb(colour))
            actor.GetProperty().SetOpacity(opacity)
            actor.GetProperty().SetLineWidth(1.0)
            actor.GetProperty().SetPointSize(4.0)
        self.pl.renderer.AddViewProp(actor)
        return actor

    def _new_label(
        self,
        name: str,
        kind: str,
        point: np.ndarray,
        text: str,
        full_text: str,
        fg: str,
        bg: str,
        priority: float,
        *,
        keep: bool = False,
        bold: bool = False,
        italic: bool = False,
        font_pt: int = LABEL_FONT_PT,
        prefer_side: int = 0,
    ) -> None:
        style = (kind, font_pt, bold, italic)
        old = self.labels.get(name)
        if old is not None and old.style == style:
            # the same label again (a needle's, at every edit): move it, and measure and
            # set its text only when that changed
            if old.text != text:
                old.actor.SetInput(text)
                old.size_px = self._label_size(text, font_pt, bold, italic)
            if old.fg != fg:
                old.actor.GetTextProperty().SetColor(*_hex_to_rgb(fg))
            old.point, old.text, old.full_text, old.fg, old.bg = point, text, full_text, fg, bg
            old.priority, old.keep, old.prefer_side = priority, keep, prefer_side
            self._labels_dirty = True
            return
        self._remove_label(name)
        actor = pv.Text(text)
        prop = actor.GetTextProperty()
        prop.SetFontSize(font_pt)
        prop.SetFontFamilyToArial()
        prop.SetBold(bold)
        prop.SetItalic(italic)
        prop.SetColor(*_hex_to_rgb(fg))
        prop.SetJustificationToLeft()
        prop.SetVerticalJustificationToBottom()
        actor.SetVisibility(False)  # shown once placed
        self.pl.add_actor(actor, name=name, reset_camera=False, pickable=False, render=False)
        size = self._label_size(text, font_pt, bold, italic)
        self.labels[name] = ScreenLabel(
            name, kind, point, text, full_text, fg, bg, priority, keep, size, actor, prefer_side, style
        )
        self._labels_dirty = True

    def _label_size(self, text: str, font_pt: int, bold: bool, italic: bool) -> np.ndarray:
        """A label's box in pixels: its text as VTK draws it, and the padding."""
        dpi = int(self.pl.ren_win.GetDPI())
        text_px = label_layout.measure_text_px([text], font_pt, bold=bold, italic=italic, dpi=dpi)[0]
        return text_px + 2.0 * np.asarray(LABEL_PAD_PX)

    def _remove_label(self, name: str) -> None:
        if self.labels.pop(name, None) is not None or name in self.pl.actors:
            self.pl.remove_actor(name, render=False)
        self.label_rects.pop(name, None)
        self._labels_dirty = True

    def relayout_labels(self) -> None:
        """Rebuild the structure, landmark and trigger-point labels (short names; the full
        name is on hover) and the scale bar for the current camera; the layout of every
        label, needles' included, follows at the next frame."""
        for name in [n for n, lab in self.labels.items() if lab.kind not in ("needle", "measure")]:
            self._remove_label(name)
        self.pl.remove_actor("scalelabel", render=False)
        self._scale_text_point = None
        self._labels_dirty = True
        if self.atlas is None:
            return
        cam = self.pl.camera
        view = np.array(cam.focal_point) - np.array(cam.position)
        view /= np.linalg.norm(view)
        up = np.array(cam.up, float)
        up = up - (up @ view) * view
        up /= np.linalg.norm(up)
        right = np.cross(view, up)
        skin_d = self._skin_display()
        centre = skin_d.mean(axis=0)
        self._scale_bar(centre, right, up, float(((skin_d - centre) @ up).min()))
        if self.show_labels:
            for sid, st in self.atlas.structures.items():
                if st.kind not in LABEL_STRUCTURE_KINDS or sid in self.hidden:
                    continue
                if st.kind == "muscle" and st.role != "target":
                    continue
                style = st.role if st.role in ("danger", "caution", "target") else "structure"
                fg, bg, prio, italic = LABEL_STYLES[style]
                point = scene.to_display(label_anchor(self.atlas, sid))
                self._new_label(f"label:{sid}", "structure", point, st.short_name, st.name, fg, bg, prio)
        if self.show_landmarks:
            fg, bg, prio, italic = LABEL_STYLES["landmark"]
            for lid, lm in self.atlas.landmarks.items():
                point = scene.to_display(lm.position_mm)
                self._new_label(
                    f"landmark:{lid}", "landmark", point, lm.short_name, lm.name, fg, bg, prio, italic=italic
                )
        if self.show_trigger_points and self.show_tp_labels:
            _fg, bg, prio, italic = LABEL_STYLES["trigger_point"]
            for tp in self.atlas.trigger_points.values():
                if tp.id in self.hidden_tps:
                    continue
                fg = _hex(_lighter(scene.TRIGGER_POINT_COLOURS.get(tp.muscle, _fg), 0.4))  # legible on dark
                point = scene.to_display(tp.position_mm)
                full = f"Trigger point: {tp.name}"
                self._new_label(
                    f"tplabel:{tp.id}",
                    "trigger_point",
                    point,
                    tp.short_name,
                    full,
                    fg,
                    bg,
                    prio,
                    italic=italic,
                )
        self.request_render()

    def _skin_display(self) -> np.ndarray:
        """Up to 4000 skin vertices in the drawing frame (for the model's extent on screen)."""
        if self._skin_points is None:
            assert self.atlas is not None
            v = np.asarray(self.atlas.mesh("skin").vertices)
            step = max(1, len(v) // 4000)
            self._skin_points = scene.to_display(v[::step])
        return self._skin_points

    def _camera_state(self) -> tuple[Any, ...]:
        cam = self.pl.renderer.GetActiveCamera()
        return (
            cam.GetPosition(),
            cam.GetFocalPoint(),
            cam.GetViewUp(),
            cam.GetViewAngle(),
            cam.GetParallelScale(),
            cam.GetParallelProjection(),
            tuple(self.pl.renderer.GetSize()),
        )

    def _on_render_start(self, *_args: Any) -> None:
        """Before every frame: lay the labels out again when they changed (at once) or the
        camera moved (at most every LABEL_THROTTLE_S; a timer catches the last move).
        A frame requested before this one is drawn by it (say by a paint of the widget,
        as when the window is first shown): the request is dropped."""
        self._render_timer.stop()
        self.overlay.SetActiveCamera(self.pl.renderer.GetActiveCamera())
        if self._labels_dirty:
            self.place_labels()
            return
        if self._camera_state() == self._placed_state:
            return
        import time

        wait = LABEL_THROTTLE_S - (time.perf_counter() - self._placed_at)
        if wait <= 0:
            self.place_labels()
        elif not self._label_timer.isActive():
            self._label_timer.start(int(wait * 1000) + 1)

    def _on_label_timer(self) -> None:
        if self._camera_state() != self._placed_state or self._labels_dirty:
            self.place_labels()
            self.request_render()

    def place_labels(self) -> None:
        """Lay every label out for the current camera and view size (viz.labels) and move
        the label actors, boxes and leaders there; drops what does not fit."""
        import time

        self._placed_state = self._camera_state()
        self._placed_at = time.perf_counter()
        self._labels_dirty = False
        ren = self.pl.renderer
        width, height = (int(v) for v in ren.GetSize())
        shown = [lab for name, lab in self.labels.items() if lab.kind != "needle" or self._needle_shown(name)]
        for lab in self.labels.values():
            lab.actor.SetVisibility(False)
        self.label_rects = {}
        self.labels_dropped = []
        scale_text = self.pl.actors.get("scalelabel")
        if scale_text is not None:
            scale_text.SetVisibility(False)
        if width < 2 or height < 2 or self.atlas is None:
            self._set_label_geometry(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 4)), [])
            return
        cam = ren.GetActiveCamera()
        m = cam.GetCompositeProjectionTransformMatrix(width / height, -1.0, 1.0)
        matrix = np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])
        size = (width, height)
        viewport = (0.0, 0.0, float(width), float(height))
        ox0, oy0, ox1, oy1 = ORIENTATION_VIEWPORT
        blocked = [np.array([ox0 * width, oy0 * height, ox1 * width, oy1 * height])]
        if scale_text is not None and self._scale_text_point is not None:
            at = label_layout.project_px(self._scale_text_point, matrix, size)[0]
            tw, th = label_layout.measure_text_px(["100 mm"], 12, dpi=int(self.pl.ren_win.GetDPI()))[0]
            box = np.array([at[0] - tw / 2, at[1] - th, at[0] + tw / 2, at[1]])
            if (
                np.all(np.isfinite(box))
                and box[0] >= 0
                and box[1] >= 0
                and box[2] <= width
                and box[3] <= height
            ):
                scale_text.SetPosition(float(at[0]), float(at[1]))
                scale_text.SetVisibility(True)
                blocked.append(box)
        if self._scale_corners is not None:
            bar = label_layout.project_px(self._scale_corners, matrix, size)
            if np.isfinite(bar).all():
                blocked.append(np.array([*bar.min(axis=0), *bar.max(axis=0)]))
        skin = label_layout.project_px(self._skin_display(), matrix, size)
        skin = skin[np.isfinite(skin).all(axis=1)]
        avoid = (*skin.min(axis=0), *skin.max(axis=0)) if len(skin) else None
        segs = np.zeros((0, 2, 2))
        lines = [*(self._needle_segments if self.show_needles else []), *self._measure_segments]
        if lines:
            ends = np.array([p for seg in lines for p in seg])
            segs = label_layout.project_px(ends, matrix, size).reshape(-1, 2, 2)
        if not shown:
            self._set_label_geometry(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 4)), [])
            return
        anchors = label_layout.project_px(np.array([lab.point for lab in shown]), matrix, size)
        out = label_layout.layout_labels(
            anchors,
            np.array([lab.size_px for lab in shown]),
            viewport,
            np.array([lab.priority for lab in shown]),
            keep=np.array([lab.keep for lab in shown]),
            needles_px=segs,
            avoid_px=avoid,
            blocked_px=np.array(blocked),
            prefer_side=np.array([lab.prefer_side for lab in shown]),
            tangle_from=LABEL_STYLES["structure"][2],  # structures before landmarks and trigger points
        )
        pad = np.asarray(LABEL_PAD_PX)
        for k, lab in enumerate(shown):
            if not out.placed[k]:
                self.labels_dropped.append(lab.name)
                continue
            rect = out.rects_px[k]
            lab.actor.SetPosition(float(rect[0] + pad[0]), float(rect[1] + pad[1]))
            lab.actor.SetVisibility(True)
            self.label_rects[lab.name] = rect
        placed = np.flatnonzero(out.placed)
        self._set_label_geometry(
            anchors[placed], out.leader_end_px[placed], out.rects_px[placed], [shown[k] for k in placed]
        )

    def _set_label_geometry(
        self, anchors: np.ndarray, ends: np.ndarray, rects: np.ndarray, shown: list[ScreenLabel]
    ) -> None:
        """The leaders (anchor dot and line to the box) and the boxes, in display pixels."""
        far = np.linalg.norm(ends - anchors, axis=1) > 2.0 if len(anchors) else np.zeros(0, bool)
        a, e = anchors[far], ends[far]
        n = len(a)
        leaders = pv.PolyData()
        if n:
            leaders = pv.PolyData(
                np.hstack([np.vstack([a, e]), np.zeros((2 * n, 1))]),
                lines=np.hstack([[2, i, i + n] for i in range(n)]),
                verts=np.hstack([[1, i] for i in range(n)]),
            )
        self._leaders.copy_from(leaders)
        boxes = pv.PolyData()
        if len(rects):
            corners = np.stack(
                [rects[:, [0, 1]], rects[:, [2, 1]], rects[:, [2, 3]], rects[:, [0, 3]]], axis=1
            ).reshape(-1, 2)
            quads = np.hstack([[4, 4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3] for i in range(len(rects))])
            boxes = pv.PolyData(np.hstack([corners, np.zeros((len(corners), 1))]), faces=quads)
            rgba = np.array(
                [[*(np.array(_hex_to_rgb(lab.bg)) * 255), LABEL_BOX_OPACITY * 255] for lab in shown]
            )
            boxes.cell_data["rgba"] = rgba.astype(np.uint8)
        self._boxes.copy_from(boxes)
        self._boxes.Modified()
        self._leaders.Modified()

    def label_at(self, x: float, y: float) -> ScreenLabel | None:
        """The label whose box is under the display position (VTK pixels), if any."""
        for name, rect in self.label_rects.items():
            if rect[0] <= x <= rect[2] and rect[1] <= y <= rect[3]:
                return self.labels.get(name)
        return None

    # ------------------------------------------------------------------ visibility
    # read from the view state (one place); the scene draws what it says
    @property
    def hidden(self) -> set[str]:
        return self.view.hidden

    @property
    def hidden_zones(self) -> set[str]:
        return self.view.hidden_zones

    @property
    def hidden_tps(self) -> set[str]:
        return self.view.hidden_tps

    @property
    def hidden_needles(self) -> frozenset[str]:
        return self.view.hidden_needles

    @property
    def opacity(self) -> dict[str, float]:
        return self.view.opacity

    @property
    def show_labels(self) -> bool:
        return self.view.switches["labels"]

    @property
    def show_landmarks(self) -> bool:
        return self.view.switches["landmarks"]

    @property
    def show_tp_labels(self) -> bool:
        return self.view.switches["tp_labels"]

    @property
    def show_zones(self) -> bool:
        return self.view.switches["zones"]

    @property
    def show_trigger_points(self) -> bool:
        return self.view.switches["trigger_points"]

    @property
    def show_needles(self) -> bool:
        return self.view.switches["needles"]

    def zone_ids(self) -> list[str]:
        """The structures that have a zone: the danger structures of the atlas (their danger
        zones) and its caution structures (their caution zones, drawn in amber)."""
        return [st.id for st in scene.zoned_structures(self.atlas)] if self.atlas is not None else []

    def set_zones_shown(self, on: bool) -> None:
        """Every danger and caution zone on or off (View > Danger zones)."""
        self.view.set_many({f"zone:{sid}": on for sid in self.zone_ids()})

    def show_only(self, sid: str) -> None:
        """Only this structure (all of them for "")."""
        if self.atlas is not None:
            self.view.show_only(self.atlas.structures if not sid else [sid], self.atlas.structures)

    def set_structure_visible(self, sid: str, visible: bool) -> None:
        self.view.set_visible(sid, visible)

    def set_structure_opacity(self, sid: str, value: float) -> None:
        self.view.set_opacity(sid, value)

    def set_zone_visible(self, sid: str, visible: bool) -> None:
        self.view.set_visible(f"zone:{sid}", visible)

    def set_trigger_point_visible(self, tid: str, visible: bool) -> None:
        self.view.set_visible(f"tp:{tid}", visible)

    def set_zones_visible(self, visible: bool) -> None:
        self.view.set_visible("zones", visible)

    def set_trigger_points_visible(self, visible: bool) -> None:
        self.view.set_visible("trigger_points", visible)

    def set_needles_visible(self, visible: bool) -> None:
        self.view.set_visible("needles", visible)

    def set_hidden_needles(self, ids: set[str]) -> None:
        """Hide these needles (by id) while the others follow show_needles."""
        self.view.set_hidden_needles(ids)

    def set_labels(self, structures: bool, landmarks: bool) -> None:
        self.view.set_many({"labels": structures, "landmarks": landmarks})

    def _zone_shown(self, sid: str) -> bool:
        return self.show_zones and sid not in self.hidden and sid not in self.hidden_zones

    def _on_visibility(self, key: str, visible: bool) -> None:
        """The view state changed a layer: draw it so."""
        kind, sep, ident = key.partition(":")
        if sep and kind == "zone":
            if visible:
                self._build_zones()  # zones are built when first needed
            if ident in self.zone_actors:
                self.zone_actors[ident].SetVisibility(self._zone_shown(ident))
        elif (sep and kind == "tp") or key == "trigger_points":
            for tid, actors in self.tp_actors.items():
                for a in actors:
                    a.SetVisibility(self.show_trigger_points and tid not in self.hidden_tps)
            self.relayout_labels()
        elif key == "zones":
            if visible:
                self._build_zones()
            for sid, actor in self.zone_actors.items():
                actor.SetVisibility(self._zone_shown(sid))
        elif key == "needles":
            self._apply_needle_visibility()
            self._update_handle(self._selected_needle)
        elif key in ("labels", "landmarks", "tp_labels"):
            self.relayout_labels()
        else:
            if key in self.atlas_actors:
                self.atlas_actors[key].SetVisibility(visible)
            if key in self.zone_actors:
                self.zone_actors[key].SetVisibility(self._zone_shown(key))
            if not visible and key == self.focused:
                self.set_focus(None)  # no outline of a structure that is not shown
            self.relayout_labels()
        self.request_render()

    def _on_opacity(self, key: str, value: float) -> None:
        """Opacity of a structure, or of a danger zone ("zone:<id>") or a trigger point's
        spread ("tp:<id>")."""
        kind, _, ident = key.partition(":")
        if key in self.atlas_actors:
            self.atlas_actors[key].prop.opacity = value
        elif kind == "zone" and ident in self.zone_actors:
            self.zone_actors[ident].prop.opacity = value
        elif kind == "tp" and ident in self.tp_actors:
            self.tp_actors[ident][1].prop.opacity = value
        self.request_render()

    def _on_hidden_needles(self, _ids: frozenset[str]) -> None:
        self._apply_needle_visibility()
        self._update_handle(self._selected_needle)
        self.request_render()

    def _needle_shown(self, name: str) -> bool:
        """Whether a needle's actor or label ("needle:n1", "nlabel:n1", "fb:*" for the
        selected needle's feedback) is shown: needles on, and that needle not hidden."""
        nid = self._needles_selected if name.startswith("fb:") else name.partition(":")[2]
        return self.show_needles and nid not in self.hidden_needles

    def _apply_needle_visibility(self) -> None:
        for name, actor in self.needle_actors.items():
            actor.SetVisibility(self._needle_shown(name))
        self._labels_dirty = True  # needle labels come and go with the needles (place_labels)

    # ------------------------------------------------------------------ camera
    def camera(self, preset: str) -> None:
        if self.atlas is None:
            return
        if self.side == "left":  # the presets name the thigh's sides; a left thigh is mirrored
            preset = {"lateral": "medial", "medial": "lateral"}.get(preset, preset)
        render.set_camera(self.pl, preset, self.atlas, zoom=1.2 if preset.startswith("axial") else 1.1)
        self.relayout_labels()
        self.request_render()

    def fly_to(self, sid: str) -> None:
        """Frame a structure: look at its centre from the present direction, from just far
        enough for all of it to fit the view."""
        actor = self.atlas_actors.get(sid)
        if actor is None:
            return
        bounds = np.array(actor.GetBounds(), float).reshape(3, 2)
        centre = bounds.mean(axis=1)
        radius = 0.5 * float(np.linalg.norm(bounds[:, 1] - bounds[:, 0]))
        cam = self.pl.camera
        view = np.array(cam.position, float) - np.array(cam.focal_point, float)
        distance = 1.1 * radius / np.sin(np.radians(cam.view_angle) / 2.0)
        cam.focal_point = tuple(centre)
        cam.position = tuple(centre + view / np.linalg.norm(view) * distance)
        self.pl.reset_camera_clipping_range()
        self.relayout_labels()
        self.request_render()

    # ------------------------------------------------------------------ needles
    @property
    def needle_actors(self) -> dict[str, Any]:
        """The needles' actors by name ("needle:n1", "fb:line", ...)."""
        return self.needle_pool.actors

    def _add(
        self,
        name: str,
        shape: str,
        make: Callable[[], pv.PolyData],
        matrix: np.ndarray,
        color: str,
        opacity: float = 1.0,
        line_width: float | None = None,
    ) -> None:
        """Show a needle's piece: a unit shape (built once, see viz.glyphs) placed by ``matrix``."""
        self.needle_pool.put(name, shape, make, matrix, color, opacity, line_width, visible=self.show_needles)

    def _add_label(self, name: str, point: np.ndarray, text: str, colour: str, justify: str = "left") -> None:
        """A needle's label (``nlabel:<id>``, ``fb:distance``): kept in the layout whatever
        else is dropped; ``justify`` "left" prefers the box right of the anchor, "right" left."""
        self._new_label(
            name,
            "needle",
            np.asarray(point, float),
            text,
            text,
            "#ffffff",
            colour,
            NEEDLE_PRIORITY,
            keep=True,
            bold=True,
            font_pt=NEEDLE_LABEL_FONT_PT,
            prefer_side={"left": 1, "right": -1}.get(justify, 0),
        )
        self.needle_names.add(name)

    def follow_document(self, doc: PlanDocument) -> None:
        """Draw the document's needles, coloured by their reports, whenever the plan or the
        selection changes."""

        def redraw(*_args: Any) -> None:
            self.update_needles(doc.plan, doc.reports, doc.selected)

        doc.plan_changed.connect(redraw)
        doc.selection_changed.connect(redraw)

    def update_needles(
        self,
        plan: Plan,
        reports: dict[str, Any],
        selected: str | None,
        status_colours: dict[str, str] | None = None,
    ) -> None:
        """Redraw every needle from the core's reports (cheap: a few small actors)."""
        colours = status_colours or scene.STATUS_COLOURS
        # the actors and labels of the last redraw are moved, not rebuilt (viz.glyphs);
        # those not drawn again are removed at the end
        self.needle_pool.begin()
        labels_before = set(self.needle_names)
        self.needle_names = set()
        self._needle_segments.clear()
        self._restore_highlight()
        for needle in plan.needles:
            report = reports.get(needle.id)
            status = getattr(report, "status", None)
            colour = colours.get(status, "#cccccc") if status else "#cccccc"
            self._draw_needle(needle, colour, needle.id == selected)
        sel = next((n for n in plan.needles if n.id == selected), None)
        if sel is not None and reports.get(sel.id) is not None:
            self._draw_feedback(sel, reports[sel.id], colours)
        self.needle_pool.end()
        for name in labels_before - self.needle_names:
            self._remove_label(name)
        self._needles_selected = selected
        self._selected_needle = sel
        if self.hidden_needles:
            self._apply_needle_visibility()
        self._update_handle(sel)
        self.request_render()

    def _draw_needle(self, n: Needle, colour: str, selected: bool) -> None:
        entry = scene.to_display(n.entry_mm)
        direction = scene.to_display(n.direction)
        tip = entry + direction * n.depth_mm
        r = NEEDLE_RADIUS_MM * (1.35 if selected else 1.0)
        if n.depth_mm > 0:
            self._add(f"needle:{n.id}", "tube12", tube12, glyphs.segment_placement(entry, tip, r), colour)
        else:
            self._add(
                f"needle:{n.id}", "sphere", glyphs.unit_sphere, glyphs.placement(entry, scale=r), colour
            )
        outside = max(n.needle_length_mm - n.depth_mm, 0.0)
        hub = entry - direction * outside
        self._needle_segments.append((hub - direction * 24.0, tip))  # handle to tip
        if outside > 0.1:
            self._add(
                f"shaft:{n.id}", "tube10", tube10, glyphs.segment_placement(hub, entry, r * 0.8), HANDLE_GREY
            )
        self._add(
            f"handle:{n.id}",
            "handle",
            needle_handle,
            glyphs.placement(hub - direction * 12.0, direction),
            "#4a7bd0" if selected else "#7d8796",
        )
        self._add(f"tip:{n.id}", "sphere", glyphs.unit_sphere, glyphs.placement(tip, scale=r * 1.6), colour)
        self._add_label(f"nlabel:{n.id}", entry - direction * 6.0, n.id, "#4a7bd0" if selected else "#5a6270")

    def _draw_feedback(self, n: Needle, report: Any, colours: dict[str, str]) -> None:
        nd = report.nearest_danger
        status_colour = colours.get(report.status, "#cccccc")
        if nd is not None:
            a = scene.to_display(np.asarray(nd.point_on_needle_mm, float))
            b = scene.to_display(np.asarray(nd.point_on_structure_mm, float))
            self._needle_segments.append((a, b))  # the clearance line
            self._add(
                "fb:closest", "sphere", glyphs.unit_sphere, glyphs.placement(b, scale=1.8), status_colour
            )
            self._add(
                "fb:line",
                "line",
                glyphs.unit_line,
                glyphs.segment_placement(a, b),
                status_colour,
                line_width=4,
            )
            self._add_label("fb:distance", (a + b) / 2.0, f"{nd.clearance_mm:.1f} mm", status_colour)
            if report.status in ("caution", "danger"):
                self._highlight(nd.structure)
        self._draw_caution_feedback(report)
        msd = float(report.max_safe_depth_mm)
        if np.isfinite(msd) and msd < n.needle_length_mm:
            entry = scene.to_display(n.entry_mm)
            d = scene.to_display(n.direction)
            p = entry + d * msd
            self._add(
                "fb:maxsafe",
                "maxsafe",
                max_safe_ring,
                glyphs.placement(p, d),
                scene.STATUS_COLOURS["caution"],
                opacity=0.95,
            )
            self._add_label("nlabel:" + n.id, entry - d * 6.0, f"{n.id} · max safe {msd:.1f} mm", "#4a7bd0")

    def _draw_caution_feedback(self, report: Any) -> None:
        """The nearest caution structure (a cutaneous nerve, a superficial vein) joined
        to the needle by an amber line, when a caution finding names it; it is lit instead
        of the nearest danger structure unless a finding names that one too."""
        nc = scene.caution_reached(report)
        if nc is None:
            return
        amber = scene.CAUTION_COLOUR
        a = scene.to_display(np.asarray(nc.point_on_needle_mm, float))
        b = scene.to_display(np.asarray(nc.point_on_structure_mm, float))
        self._needle_segments.append((a, b))
        self._add("fb:caution_closest", "sphere", glyphs.unit_sphere, glyphs.placement(b, scale=1.8), amber)
        self._add(
            "fb:caution_line", "line", glyphs.unit_line, glyphs.segment_placement(a, b), amber, line_width=4
        )
        self._add_label(
            "fb:caution_distance", (a + b) / 2.0, f"{nc.clearance_mm:.1f} mm", amber, justify="right"
        )
        named = {f.structure for f in report.findings}
        if self._highlighted is not None and self._highlighted[0] not in named:
            self._restore_highlight()
        if self._highlighted is None:
            self._highlight(nc.structure)

    def _highlight(self, sid: str) -> None:
        actor = self.atlas_actors.get(sid)
        if actor is None:
            return
        prop = actor.prop
        self._highlighted = (sid, tuple(prop.color), prop.ambient, prop.opacity)
        prop.color = _lighter(scene.colour_of(self.atlas.structures[sid]) if self.atlas else "#ffffff", 0.35)
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
        if needle is None or not self.show_needles or needle.id in self.hidden_needles:
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

    def display_point(self, point_mm: np.ndarray) -> tuple[int, int]:
        """Where a plan-frame point appears in the view (VTK display pixels, origin bottom-left)."""
        ren = self.pl.renderer
        ren.SetWorldPoint(*scene.to_display(np.asarray(point_mm, float)), 1.0)
        ren.WorldToDisplay()
        x, y, _ = ren.GetDisplayPoint()
        return round(x), round(y)

    # ------------------------------------------------------------------ measuring tool
    def show_measurement(self, points_mm: list[np.ndarray], text: str = "", full_text: str = "") -> None:
        """The measuring tool's picked points (plan frame) and, for two, the line between them
        with its distance in a label of the one layout (kept, like a needle's)."""
        self.clear_measurement(render=False)
        pts = [scene.to_display(np.asarray(p, float)) for p in points_mm]
        for shape in scene.measurement_shapes(points_mm):
            line = shape.n_lines > 0
            self.measure_actors.append(_actor(shape, scene.MEASURE_COLOUR, line_width=5 if line else None))
        if len(pts) == 2:
            self._measure_segments = [(pts[0], pts[1])]
            self._new_label(
                "measure:distance",
                "measure",
                (pts[0] + pts[1]) / 2.0,
                text,
                full_text or text,
                scene.MEASURE_TEXT,
                scene.MEASURE_COLOUR,
                NEEDLE_PRIORITY,
                keep=True,
                bold=True,
                font_pt=NEEDLE_LABEL_FONT_PT,
            )
        for actor in self.measure_actors:
            self.overlay.AddActor(actor)
        self.request_render()

    def clear_measurement(self, render: bool = True) -> None:
        for actor in self.measure_actors:
            self.overlay.RemoveActor(actor)
        self.measure_actors = []
        self._measure_segments = []
        self._remove_label("measure:distance")
        if render:
            self.request_render()

    # ------------------------------------------------------------------ referral region
    def show_referral(self, weights: np.ndarray) -> None:
        """Shade the skin by a trigger point's referral weights (one per skin vertex, 0..1)."""
        self.clear_referral(render=False)
        if self.atlas is None:
            return
        part = scene.referral_shading(self.atlas.mesh("skin"), weights)
        if part is None:
            return
        self.referral_actor = self.pl.add_mesh(
            part,
            scalars="referral",
            rgba=True,
            smooth_shading=True,
            name="referral",
            pickable=False,
            reset_camera=False,
            render=False,
        )
        self.referral_actor.prop.ambient = 0.45  # read as a colour, less shaded by the light
        self.request_render()

    def clear_referral(self, render: bool = True) -> None:
        if self.referral_actor is not None:
            self.pl.remove_actor(self.referral_actor, render=False)
            self.referral_actor = None
        if render:
            self.request_render()

    # ------------------------------------------------------------------ picking
    def pick(self, x: int, y: int, skin_only: bool = False, surfaces_only: bool = False) -> PickResult | None:
        """What is under the display position (x, y in VTK pixels, origin bottom-left);
        with ``surfaces_only`` a structure's surface (needles and trigger points are
        looked through), with ``skin_only`` the skin's."""
        picker = self._picker
        picker.InitializePickList()
        if not skin_only and not surfaces_only and self.show_needles:
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
        if not skin_only and not surfaces_only and self.show_trigger_points and self.tp_actors:
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
        self._label_timer.stop()
