"""Cross-section panel: the slice through the needle and an axial slice, drawn like an
ultrasound/MRI image (structures filled in their colours on a dark background).

Slices are exact cuts of the atlas surfaces (VTK cutter), joined into closed loops and
filled even-odd, so a slice shows the same geometry the 3D view and the checks use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyvista as pv
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSplitter,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from thighmap.anatomy.atlas import Atlas
from thighmap.planning import Needle
from thighmap.planning.document import PlanDocument
from thighmap.viz import scene, section_layout
from thighmap.viz.section_cut import atlas_polydata, cut_loops
from thighmap.viz.view_state import SectionSettings, ViewState

DRAW_ORDER = ("skin", "fat", "fascia", "muscle", "tendon", "bone", "vein", "artery", "nerve")
IMAGE_BG = "#07080a"
SECTION_MARGIN_PX = 26.0  # around the section's picture
LABEL_SIDE_PX = 100.0  # at most this much room each side of the picture for labels with leaders
LABEL_FONT_PT = 8
LABEL_PAD_PX = (3.0, 1.0)  # inside a label's box, left/right and top/bottom
LABEL_BG = "#15181d"
LEADER_COLOUR = "#d0d4da"
# label priorities (higher is placed first and dropped last): by role, skin and fat last
LABEL_PRIORITY = {"danger": 3.0, "caution": 2.8, "target": 2.5, "context": 2.0}
LAYER_KINDS = ("skin", "fat", "fascia")


@dataclass
class Slice2D:
    """One cut: filled regions and optional overlays, in plane coordinates (mm)."""

    title: str
    regions: list[tuple[str, str, float, list[np.ndarray]]] = field(default_factory=list)
    outlines: list[tuple[str, list[np.ndarray]]] = field(default_factory=list)
    needle: tuple[np.ndarray, np.ndarray] | None = None  # entry, tip (2D)
    needle_colour: str = "#ffffff"
    max_safe: np.ndarray | None = None
    closest: tuple[np.ndarray, np.ndarray] | None = None
    # to the nearest caution structure, when a caution finding names it (drawn amber)
    caution_closest: tuple[np.ndarray, np.ndarray] | None = None
    edge_labels: tuple[str, str, str, str] = ("", "", "", "")  # top, bottom, left, right
    labels: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # id: short, full name, priority


class SectionView(QWidget):
    """Paints a :class:`Slice2D`, fitted to the widget, y axis downwards, each structure
    labelled with its short name (on it, or beside the section with a leader line:
    viz.section_layout). The mouse over a structure names it in full (tooltip, and
    ``hovered``); a click on it emits ``clicked`` with its id."""

    hovered = Signal(str)  # the structure id under the mouse ("" over none)
    clicked = Signal(str)  # a structure id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slice: Slice2D | None = None
        self.setMinimumSize(220, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        # the labels as last laid out: structure id -> box (x0, y0, x1, y1, widget pixels)
        self.label_rects: dict[str, np.ndarray] = {}
        self.label_leaders: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # id -> (anchor, box end)
        self._laid_out_for: tuple[Any, ...] | None = None
        self._transform_for: tuple[Any, ...] | None = None
        self._transform: tuple[float, float, float, float, float] | None = None
        self._hover_sid = ""

    def set_slice(self, s: Slice2D | None) -> None:
        self.slice = s
        self._laid_out_for = self._transform_for = None
        self.update()

    def _bounds(self) -> tuple[float, float, float, float] | None:
        s = self.slice
        if s is None:
            return None
        pts = [loop for _sid, _c, _a, loops in s.regions for loop in loops]
        if s.needle is not None:
            pts.append(np.vstack(s.needle))
        if not pts:
            return None
        allp = np.vstack(pts)
        lo, hi = allp.min(axis=0), allp.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    def transform(self) -> tuple[float, float, float, float, float] | None:
        """(scale px/mm, centre u, centre v, centre x px, centre y px) of the picture."""
        key = (id(self.slice), self.width(), self.height())
        if self._transform_for != key:
            self._transform_for, self._transform = key, self._fit()
        return self._transform

    def _fit(self) -> tuple[float, float, float, float, float] | None:
        b = self._bounds()
        if b is None:
            return None
        margin_x = max(SECTION_MARGIN_PX, min(LABEL_SIDE_PX, 0.18 * self.width()))
        w = self.width() - 2 * margin_x
        h = self.height() - 2 * SECTION_MARGIN_PX - 14
        k = min(w / max(b[2] - b[0], 1e-6), h / max(b[3] - b[1], 1e-6))
        k = max(k, 1e-6)
        return (
            k,
            (b[0] + b[2]) / 2.0,
            (b[1] + b[3]) / 2.0,
            self.width() / 2.0,
            14 + SECTION_MARGIN_PX + h / 2.0,
        )

    def to_px(self, uv: np.ndarray) -> np.ndarray:
        """Plane coordinates (mm, rows) -> widget pixels; the plane's second axis points up."""
        t = self.transform()
        assert t is not None
        k, cx, cy, ox, oy = t
        uv = np.asarray(uv, float).reshape(-1, 2)
        return np.column_stack([ox + (uv[:, 0] - cx) * k, oy - (uv[:, 1] - cy) * k])

    def to_plane(self, x: float, y: float) -> np.ndarray | None:
        t = self.transform()
        if t is None:
            return None
        k, cx, cy, ox, oy = t
        return np.array([cx + (x - ox) / k, cy - (y - oy) / k])

    # ------------------------------------------------------------------ labels
    def _label_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSize(LABEL_FONT_PT)
        return font

    def _edge_boxes(self) -> list[np.ndarray]:
        """The boxes of the title, the edge names and the scale bar: no label goes there."""
        s = self.slice
        w, h = float(self.width()), float(self.height())
        boxes = [np.array([0.0, 0.0, w, 30.0]), np.array([0.0, h - 30.0, w, h])]
        if s is not None:
            fm = QFontMetricsF(self._edge_font())
            _top, _bottom, left, right = s.edge_labels
            if left:
                lw, lh = fm.horizontalAdvance(left), fm.height()
                boxes.append(np.array([0.0, h / 2 - lh, 6.0 + lw, h / 2 + lh]))
            if right:
                rw, rh = fm.horizontalAdvance(right), fm.height()
                boxes.append(np.array([w - 6.0 - rw, h / 2 - rh, w, h / 2 + rh]))
        return boxes

    def _edge_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSize(9)
        return font

    def layout_labels(self) -> None:
        """Lay the labels out for the slice and the widget's size (once per change)."""
        key = (id(self.slice), self.width(), self.height())
        if self._laid_out_for == key:
            return
        self._laid_out_for = key
        self.label_rects, self.label_leaders = {}, {}
        s = self.slice
        if s is None or self.transform() is None or not s.regions:
            return
        fm = QFontMetricsF(self._label_font())
        sids = [sid for sid, _c, _a, _loops in s.regions]
        texts = [s.labels.get(sid, (sid, sid, 1.0))[0] for sid in sids]
        sizes = [
            (fm.horizontalAdvance(t) + 2 * LABEL_PAD_PX[0], fm.height() + 2 * LABEL_PAD_PX[1]) for t in texts
        ]
        prio = [s.labels.get(sid, (sid, sid, 1.0))[2] for sid in sids]
        regions = [[self.to_px(loop) for loop in loops] for _sid, _c, _a, loops in s.regions]
        needles = None
        if s.needle is not None:
            needles = self.to_px(np.vstack(s.needle)).reshape(1, 2, 2)
        out = section_layout.layout_section_labels(
            regions,
            sizes,
            prio,
            (0.0, 0.0, float(self.width()), float(self.height())),
            blocked_px=self._edge_boxes(),
            needles_px=needles,
        )
        for k, sid in enumerate(sids):
            if out.placed[k]:
                self.label_rects[sid] = out.rects_px[k]
                if not out.inside[k]:
                    self.label_leaders[sid] = (out.anchors_px[k], out.leader_end_px[k])

    def structure_at(self, x: float, y: float) -> str | None:
        """The structure under a widget position: its label, else the region on top."""
        self.layout_labels()
        for sid, r in self.label_rects.items():
            if r[0] <= x <= r[2] and r[1] <= y <= r[3]:
                return sid
        s = self.slice
        uv = self.to_plane(x, y)
        if s is None or uv is None:
            return None
        k = section_layout.region_at([loops for _sid, _c, _a, loops in s.regions], uv)
        return None if k is None else s.regions[k][0]

    def full_name(self, sid: str) -> str:
        s = self.slice
        return s.labels.get(sid, (sid, sid, 1.0))[1] if s is not None else sid

    def mouseMoveEvent(self, event: Any) -> None:
        pos = event.position()
        sid = self.structure_at(pos.x(), pos.y()) or ""
        if sid != self._hover_sid:
            self._hover_sid = sid
            self.setToolTip(self.full_name(sid) if sid else "")
            if sid:
                QToolTip.showText(event.globalPosition().toPoint(), self.full_name(sid), self)
            else:
                QToolTip.hideText()
            self.hovered.emit(sid)
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: Any) -> None:
        if self._hover_sid:
            self._hover_sid = ""
            self.setToolTip("")
            self.hovered.emit("")
        super().leaveEvent(event)

    def mouseReleaseEvent(self, event: Any) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            pos = event.position()
            sid = self.structure_at(pos.x(), pos.y())
            if sid:
                self.clicked.emit(sid)
        super().mouseReleaseEvent(event)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(IMAGE_BG))
        s = self.slice
        p.setFont(self._edge_font())
        if s is None or self.transform() is None:
            p.setPen(QColor("#888"))
            p.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter,
                s.title + "\n(nothing cut)" if s else "No slice",
            )
            p.end()
            return
        k = self.transform()[0]  # type: ignore[index]

        def tr(uv: np.ndarray) -> QPointF:
            x, y = self.to_px(uv)[0]
            return QPointF(float(x), float(y))

        def poly(loop: np.ndarray) -> QPolygonF:
            return QPolygonF([QPointF(float(x), float(y)) for x, y in self.to_px(loop)])

        for _sid, colour, alpha, loops in s.regions:
            path = QPainterPath()
            path.setFillRule(Qt.FillRule.OddEvenFill)
            for loop in loops:
                path.addPolygon(poly(loop))
                path.closeSubpath()
            c = QColor(colour)
            c.setAlphaF(alpha)
            p.fillPath(path, QBrush(c))
            p.setPen(QPen(QColor(colour).darker(160), 0.8))
            p.drawPath(path)
        for colour, loops in s.outlines:
            pen = QPen(QColor(colour), 1.2, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            for loop in loops:
                p.drawPolygon(poly(loop))
        if s.needle is not None:
            a, t = s.needle
            p.setPen(QPen(QColor("#111"), 4.5))
            p.drawLine(tr(a), tr(t))
            p.setPen(QPen(QColor(s.needle_colour), 2.5))
            p.drawLine(tr(a), tr(t))
            p.setBrush(QColor(s.needle_colour))
            p.drawEllipse(tr(t), 3.5, 3.5)
        if s.max_safe is not None:
            p.setPen(QPen(QColor(scene.STATUS_COLOURS["caution"]), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(tr(s.max_safe), 6, 6)
        if s.closest is not None:
            a, c2 = s.closest
            p.setPen(QPen(QColor("#ffffff"), 1.2, Qt.PenStyle.DotLine))
            p.drawLine(tr(a), tr(c2))
        if s.caution_closest is not None:
            a, c2 = s.caution_closest
            p.setPen(QPen(QColor(scene.CAUTION_COLOUR), 1.6, Qt.PenStyle.DotLine))
            p.drawLine(tr(a), tr(c2))
        self._paint_labels(p)
        # scale bar: 20 mm
        p.setFont(self._edge_font())
        bar = 20.0 * k
        p.setPen(QPen(QColor("#e0e0e0"), 2))
        y = self.height() - 10
        p.drawLine(QPointF(10, y), QPointF(10 + bar, y))
        p.drawText(QPointF(14 + bar, y + 4), "20 mm")
        p.setPen(QColor("#e8e8e8"))
        p.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignmentFlag.AlignCenter, s.title)
        top, bottom, left, right = s.edge_labels
        p.setPen(QColor("#9fb3c8"))
        p.drawText(QRectF(0, 16, self.width(), 14), Qt.AlignmentFlag.AlignCenter, top)
        p.drawText(QRectF(0, self.height() - 28, self.width(), 14), Qt.AlignmentFlag.AlignCenter, bottom)
        p.drawText(
            QRectF(4, 0, 80, self.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            left,
        )
        p.drawText(
            QRectF(self.width() - 84, 0, 80, self.height()),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            right,
        )
        p.end()

    def _paint_labels(self, p: QPainter) -> None:
        """Leader lines, then each label's box and short name (the hovered one lit)."""
        s = self.slice
        assert s is not None
        self.layout_labels()
        p.setPen(QPen(QColor(LEADER_COLOUR), 1.0))
        p.setBrush(QColor(LEADER_COLOUR))
        for anchor, end in self.label_leaders.values():
            p.drawLine(QPointF(*anchor), QPointF(*end))
            p.drawEllipse(QPointF(*anchor), 1.8, 1.8)
        p.setFont(self._label_font())
        for sid, r in self.label_rects.items():
            box = QRectF(float(r[0]), float(r[1]), float(r[2] - r[0]), float(r[3] - r[1]))
            lit = sid == self._hover_sid
            bg = QColor("#f4f4f4" if lit else LABEL_BG)
            bg.setAlphaF(0.92 if lit else 0.72)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(bg)
            p.drawRoundedRect(box, 2.0, 2.0)
            p.setPen(QColor("#111111" if lit else "#f4f4f4"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, s.labels.get(sid, (sid, sid, 1.0))[0])


class SectionPanel(QWidget):
    """Needle-plane slice and axial slice; recomputed lazily when visible. A structure's
    cuts are kept while its plane stays the same (a change of depth moves the needle,
    not the needle's plane)."""

    structure_hovered = Signal(str)  # the structure under the mouse in either slice ("" none)
    structure_clicked = Signal(str)
    hover_text = Signal(str)  # for the status bar: the hovered structure's full name ("" none)

    def __init__(self, view: ViewState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cuts: dict[tuple[Any, ...], Slice2D] = {}  # the regions of the last cuts, by plane
        # mode, axial level and whether it follows the tip live in the view state; these
        # controls set it and show it (it emits only on a change, so nothing loops)
        self.view = view if view is not None else ViewState()
        self.atlas: Atlas | None = None
        self._polys: dict[str, pv.PolyData] = {}
        self._zones: dict[str, pv.PolyData] = {}
        self.zone_source: Any = None
        self.needle: Needle | None = None
        self.report: Any = None
        self.side = "right"
        self.mode = QComboBox()
        self.mode.addItem("Plane of needle and long axis", "long")
        self.mode.addItem("Plane through needle, across the thigh", "across")
        self.level = QDoubleSpinBox(decimals=0, minimum=-100.0, maximum=600.0, singleStep=5.0, suffix=" mm")
        self.level.setToolTip("Height of the axial slice above the knee (z)")
        self.level_slider = QSlider(Qt.Orientation.Horizontal)
        self.level_slider.setRange(-100, 600)
        self.follow = QComboBox()
        self.follow.addItem("Axial level: at needle tip", "tip")
        self.follow.addItem("Axial level: fixed", "fixed")
        self.along = SectionView()
        self.axial = SectionView()
        controls = QHBoxLayout()
        controls.addWidget(self.mode)
        controls.addStretch(1)
        controls.addWidget(self.follow)
        controls.addWidget(QLabel("z"))
        controls.addWidget(self.level)
        controls.addWidget(self.level_slider, 1)
        for v in (self.along, self.axial):
            v.hovered.connect(self.structure_hovered)
            v.hovered.connect(lambda sid, v=v: self.hover_text.emit(self._hover_text(v, sid)))
            v.clicked.connect(self.structure_clicked)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.along)
        split.addWidget(self.axial)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(controls)
        lay.addWidget(split, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self.recompute)
        self._stale = True
        self.drawn_for: tuple[Any, Any] | None = None  # (atlas, needle) of the cuts on show
        self.mode.currentIndexChanged.connect(lambda _i: self.view.set_section(mode=self.mode.currentData()))
        self.follow.currentIndexChanged.connect(
            lambda _i: self.view.set_section(follow=self.follow.currentData())
        )
        self.level.valueChanged.connect(self._on_level)
        self.level_slider.valueChanged.connect(self._on_level)
        self._cutting = False
        self.view.section_changed.connect(self._on_section)
        self.view.visibility_changed.connect(self._on_visibility)
        self._on_section(self.view.section)

    @staticmethod
    def _hover_text(view: SectionView, sid: str) -> str:
        return f"{view.full_name(sid)} (click for its card)" if sid else ""

    def _on_visibility(self, key: str, _visible: bool) -> None:
        if ":" not in key and self.atlas is not None and key in self.atlas.structures:
            self.schedule()  # hidden structures are left out of the cut

    @property
    def hidden(self) -> set[str]:
        return self.view.hidden

    def _on_section(self, s: SectionSettings) -> None:
        """The view state changed: show it in the controls and cut again."""
        self.mode.setCurrentIndex(max(self.mode.findData(s.mode), 0))
        self.follow.setCurrentIndex(max(self.follow.findData(s.follow), 0))
        self.level.setValue(s.level_mm)
        self.level_slider.setValue(round(s.level_mm))
        if not self._cutting:  # the level recompute() takes from the tip is already cut
            self.schedule()

    # --------------------------------------------------------------- inputs
    def set_atlas(self, atlas: Atlas, zone_source: Any, side: str) -> None:
        self.atlas = atlas
        self.side = side
        self._polys = {sid: atlas_polydata(atlas, sid) for sid in atlas.structures}
        self._zones = {}
        self._cuts = {}
        self.zone_source = zone_source
        skin = atlas.mesh("skin").vertices
        lo, hi = float(skin[:, 2].min()), float(skin[:, 2].max())
        self.level.setRange(lo + 1, hi - 1)
        self.level_slider.setRange(round(lo + 1), round(hi - 1))
        if not lo < self.view.section.level_mm < hi:
            self.view.set_section(level_mm=(lo + hi) / 2.0)
        self.schedule()

    def follow_document(self, doc: PlanDocument) -> None:
        """Cut through the document's selected needle whenever the plan or the selection changes."""

        def update(*_args: Any) -> None:
            self.set_needle(doc.selected_needle(), doc.selected_report())

        doc.plan_changed.connect(update)
        doc.selection_changed.connect(update)

    def set_needle(self, needle: Needle | None, report: Any) -> None:
        self.needle = needle
        self.report = report
        self.schedule()

    def _on_level(self, value: float) -> None:
        """The box or the slider was moved: a level of one's own (no longer the tip's).
        The controls round the level; a value within their rounding of the view state's
        is the one it gave them, not a move."""
        if abs(float(value) - self.view.section.level_mm) >= 0.5:
            self.view.set_section(level_mm=float(value), follow="fixed")

    def schedule(self) -> None:
        """Recompute soon if the panel is on screen, else when it is next shown."""
        if self.isVisible():
            self._timer.start()
        else:
            self._stale = True

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._stale:
            self._timer.start()

    # --------------------------------------------------------------- slicing
    def _zone(self, sid: str) -> pv.PolyData | None:
        if sid not in self._zones and self.zone_source is not None:
            mesh = self.zone_source(sid)
            if mesh is None:
                return None
            cells = np.hstack([np.full((len(mesh.faces), 1), 3), mesh.faces]).astype(np.int64)
            self._zones[sid] = pv.PolyData(np.asarray(mesh.vertices, float), cells.ravel())
        return self._zones.get(sid)

    def _cut(
        self,
        title: str,
        origin: np.ndarray,
        normal: np.ndarray,
        e1: np.ndarray,
        e2: np.ndarray,
        edges: tuple[str, str, str, str],
    ) -> Slice2D:
        s = self._cut_regions(origin, normal, e1, e2)
        s = Slice2D(title, s.regions, s.outlines, edge_labels=edges, labels=s.labels)
        n = self.needle
        if n is not None:

            def to2(p: np.ndarray) -> np.ndarray:
                q = np.asarray(p, float) - origin
                return np.array([q @ e1, q @ e2])

            s.needle = (to2(n.entry_mm), to2(n.tip_mm))
            r = self.report
            if r is not None:
                s.needle_colour = scene.STATUS_COLOURS.get(r.status, "#ffffff")
                if np.isfinite(r.max_safe_depth_mm) and r.max_safe_depth_mm < n.needle_length_mm:
                    s.max_safe = to2(n.entry_mm + n.direction * r.max_safe_depth_mm)
                nd = r.nearest_danger
                if nd is not None:
                    s.closest = (to2(nd.point_on_needle_mm), to2(nd.point_on_structure_mm))
                nc = scene.caution_reached(r)
                if nc is not None:
                    s.caution_closest = (to2(nc.point_on_needle_mm), to2(nc.point_on_structure_mm))
        return s

    def _cut_regions(self, origin: np.ndarray, normal: np.ndarray, e1: np.ndarray, e2: np.ndarray) -> Slice2D:
        """The structures' and zones' cuts by a plane (regions, outlines and labels of a
        Slice2D), from the last cuts when the plane, the atlas and the hidden layers are
        the same."""
        assert self.atlas is not None
        key = (
            id(self.atlas),
            id(self.zone_source),
            *(tuple(np.round(np.asarray(v, float), 9)) for v in (origin, normal, e1, e2)),
            frozenset(self.hidden),
        )
        cached = self._cuts.get(key)
        if cached is not None:
            return cached
        s = Slice2D("")
        order = sorted(
            self.atlas.structures.values(),
            key=lambda st: DRAW_ORDER.index(st.kind) if st.kind in DRAW_ORDER else 99,
        )
        for st in order:
            if st.id in self.hidden:
                continue
            loops = cut_loops(self._polys[st.id], origin, normal, e1, e2)
            if loops:
                alpha = 0.55 if st.kind in ("skin", "fat") else 0.95
                s.regions.append((st.id, scene.colour_of(st), alpha, loops))
                prio = 1.0 if st.kind in LAYER_KINDS else LABEL_PRIORITY.get(st.role, 2.0)
                s.labels[st.id] = (st.short_name or st.name, st.name, prio)
        for st in scene.zoned_structures(self.atlas):  # danger zones, caution zones in amber
            zone = self._zone(st.id)
            if zone is not None:
                loops = cut_loops(zone, origin, normal, e1, e2)
                if loops:
                    s.outlines.append((_light(scene.zone_colour(st)), loops))
        if len(self._cuts) >= 4:  # the two slices' last planes are enough
            self._cuts.pop(next(iter(self._cuts)))
        self._cuts[key] = s
        return s

    def needle_plane(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(origin, normal, e1, e2) of the needle plane; e2 points out of the skin."""
        n = self.needle
        if n is None:
            return None
        d = np.asarray(n.direction, float)
        z = np.array([0.0, 0.0, 1.0])
        depth_axis = d - (d @ z) * z
        if np.linalg.norm(depth_axis) < 1e-6:
            depth_axis = np.array([0.0, -1.0, 0.0])
        depth_axis /= np.linalg.norm(depth_axis)
        if self.view.section.mode == "long":
            e1, e2 = z, -depth_axis  # proximal to the right, out of the skin upwards
        else:
            across = np.cross(z, depth_axis)
            e1, e2 = across / np.linalg.norm(across), -depth_axis
        normal = np.cross(e1, e2)
        return np.asarray(n.entry_mm, float), normal, e1, e2

    def recompute(self) -> None:
        if self.atlas is None:
            return
        self._timer.stop()
        self._stale = False
        if self.view.section.follow == "tip" and self.needle is not None:
            self._cutting = True
            try:
                self.view.set_section(level_mm=float(self.needle.tip_mm[2]))
            finally:
                self._cutting = False
        plane = self.needle_plane()
        if plane is None:
            self.along.set_slice(Slice2D("Needle plane: select a needle"))
        else:
            origin, normal, e1, e2 = plane
            if self.view.section.mode == "long":
                edges = ("posterior (skin)", "anterior", "distal", "proximal")
                title = "Needle plane (along the thigh)"
            else:
                lat, med = ("lateral", "medial")
                edges = (
                    "posterior (skin)",
                    "anterior",
                    med if self.side == "right" else lat,
                    lat if self.side == "right" else med,
                )
                title = "Needle plane (across the thigh)"
            self.along.set_slice(self._cut(title, origin, normal, e1, e2, edges))
        z = self.view.section.level_mm
        # viewed from the feet with posterior up: lateral of a right thigh on the right
        e1 = np.array([1.0, 0.0, 0.0]) if self.side == "right" else np.array([-1.0, 0.0, 0.0])
        e2 = np.array([0.0, 1.0, 0.0])
        axial = self._cut(
            f"Axial slice at z = {z:.0f} mm (seen from below)",
            np.array([0.0, 0.0, z]),
            np.array([0.0, 0.0, 1.0]),
            e1,
            e2,
            ("posterior (skin)", "anterior", "medial", "lateral"),
        )
        self.axial.set_slice(axial)
        self.drawn_for = (self.atlas, self.needle)


def _light(colour: str) -> str:
    c = QColor(colour).lighter(150)
    return c.name()
