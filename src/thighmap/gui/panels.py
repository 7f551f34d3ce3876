"""Dock panels: layers, information card, needles, safety.

Panels emit intentions (signals); the main window turns them into undoable plan edits
and asks the core. Panels only display what they are given.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from thighmap.anatomy.atlas import Atlas
from thighmap.planning import GAUGE_PRESETS_MM, NEEDLE_LENGTH_PRESETS_MM, Needle
from thighmap.planning.document import PlanDocument
from thighmap.safety import wording
from thighmap.viz import scene
from thighmap.viz.view_state import ViewState

from .cards import CAUTION_BOX_BG, CAUTION_BOX_BORDER, CAUTION_BOX_FG, structure_card_html
from .scene3d import GROUPS

ROLE_SID = Qt.ItemDataRole.UserRole
ROLE_KIND = Qt.ItemDataRole.UserRole + 1

SPECIAL_LAYERS = {
    "needles": "Needles",
    "labels": "Structure labels",
    "landmarks": "Landmark labels",
    "tp_labels": "Trigger point labels",
}


CAUTION_GROUP = "Cutaneous nerves and superficial veins (caution)"
CAUTION_GROUP_TIP = (
    "Caution structures: touching one is not dangerous but can cause numbness, tingling or a "
    "bruise; a needle that comes within its margin is a caution, never a danger"
)
CAUTION_GROUP_TEXT = "#8a5a00"  # the group's name in a dark amber: 4.5:1 and more on a light tree
# zone groups of the Layers tree: label, role of the structures, tooltip
ZONE_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("Danger zones", "danger", "Each danger nerve and vessel grown by its positional uncertainty"),
    (
        "Caution zones",
        "caution",
        "Each cutaneous nerve and superficial vein grown by its positional uncertainty (amber): "
        "reaching it, or coming within its margin, is a caution",
    ),
)


def _swatch(colour: str) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(QColor(colour))
    return QIcon(pix)


def _esc(value: Any) -> str:
    return html.escape(str(value))


# ====================================================================== layers
class LayersPanel(QWidget):
    """The Layers tree: a view of the view state (viz.view_state.ViewState). Ticking a
    box or moving the opacity slider sets the view state; the view state's changes tick
    the boxes and move the slider (it emits only on a change, so nothing loops)."""

    show_only = Signal(str)
    item_selected = Signal(str)
    context_requested = Signal(str, str, QPoint)  # layer key, kind, global position

    def __init__(self, view: ViewState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view if view is not None else ViewState()
        self.search = QLineEdit(placeholderText="Search structures…")
        self.search.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("Opacity of the selected structure")
        self.only = QPushButton("Show only this")
        self.show_all = QPushButton("Show all")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.search)
        lay.addWidget(self.tree, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.opacity, 1)
        lay.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(self.only)
        row2.addWidget(self.show_all)
        lay.addLayout(row2)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._default_opacity: dict[str, float] = {}
        self._building = False
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.customContextMenuRequested.connect(self._on_context)
        self.search.textChanged.connect(self._filter)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.only.clicked.connect(self._on_only)
        self.show_all.clicked.connect(self._on_show_all)
        self.view.visibility_changed.connect(self._on_view_visibility)
        self.view.opacity_changed.connect(self._on_view_opacity)

    def _member(self, group: QTreeWidgetItem, key: str, label: str, kind: str) -> QTreeWidgetItem:
        it = QTreeWidgetItem(group, [label])
        it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        it.setCheckState(0, Qt.CheckState.Checked if self.view.is_visible(key) else Qt.CheckState.Unchecked)
        it.setData(0, ROLE_SID, key)
        it.setData(0, ROLE_KIND, kind)
        it.setToolTip(0, label)
        self._items[key] = it
        return it

    def populate(self, atlas: Atlas) -> None:
        """The tree of the atlas's layers, ticked as the view state says."""
        self._building = True
        self.tree.clear()
        self._items.clear()
        # caution structures (cutaneous nerves, superficial veins) have a group of their
        # own, after the kinds' groups, so that one box shows or hides them all
        groups = [(group, kinds, False) for group, kinds in GROUPS.items()]
        groups.insert(list(GROUPS).index("Vessels") + 1, (CAUTION_GROUP, (), True))
        for group, kinds, caution in groups:
            g = QTreeWidgetItem(self.tree, [group])
            g.setFlags(g.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsAutoTristate)
            for sid, st in atlas.structures.items():
                if (st.role == "caution") != caution or (not caution and st.kind not in kinds):
                    continue
                it = self._member(g, sid, st.name, st.kind)
                it.setIcon(0, _swatch(scene.colour_of(st)))
                it.setToolTip(0, f"{st.name} — {st.kind}, {st.role}")
                self._default_opacity[sid] = scene.DEFAULT_OPACITY.get(st.kind, 1.0)
            g.setExpanded(group in ("Nerves", "Vessels", "Muscles", CAUTION_GROUP))
            if caution:
                g.setIcon(0, _swatch(scene.CAUTION_COLOUR))
                g.setToolTip(0, CAUTION_GROUP_TIP)
                g.setForeground(0, QColor(CAUTION_GROUP_TEXT))
            if g.childCount() == 0:
                self.tree.invisibleRootItem().removeChild(g)
        for label, role, tip in ZONE_GROUPS:
            zones = QTreeWidgetItem(self.tree, [label])
            zones.setFlags(zones.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsAutoTristate)
            zones.setToolTip(0, tip)
            for st in scene.zoned_structures(atlas):
                if st.role != role:
                    continue
                it = self._member(zones, f"zone:{st.id}", f"{st.name} zone", "zone")
                it.setIcon(0, _swatch(scene.zone_colour(st)))
                self._default_opacity[f"zone:{st.id}"] = scene.ZONE_OPACITY
            if role == "caution":
                zones.setIcon(0, _swatch(scene.CAUTION_COLOUR))
            if zones.childCount() == 0:
                self.tree.invisibleRootItem().removeChild(zones)
        tps = QTreeWidgetItem(self.tree, ["Trigger points"])
        tps.setFlags(tps.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsAutoTristate)
        for tp in atlas.trigger_points.values():
            it = self._member(tps, f"tp:{tp.id}", tp.name, "trigger_point")
            it.setIcon(0, _swatch(scene.TRIGGER_POINT_COLOURS.get(tp.muscle, "#ffffff")))
            self._default_opacity[f"tp:{tp.id}"] = scene.SPREAD_OPACITY
        other = QTreeWidgetItem(self.tree, ["Overlays"])
        for key, label in SPECIAL_LAYERS.items():
            self._member(other, key, label, "special")
        other.setExpanded(True)
        self._building = False

    def opacity_of(self, key: str) -> float:
        return self.view.opacity_of(key, self._default_opacity.get(key, 1.0))

    # -------------------------------------------------------------- the view state speaks
    def _on_view_visibility(self, key: str, visible: bool) -> None:
        it = self._items.get(key)
        if it is not None:
            it.setCheckState(0, Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)

    def _on_view_opacity(self, key: str, value: float) -> None:
        if self._current_sid(("special",)) == key:
            self.opacity.setValue(round(100 * value))

    # -------------------------------------------------------------- the user speaks
    def _on_item_changed(self, item: QTreeWidgetItem, _col: int) -> None:
        if self._building:
            return
        sid = item.data(0, ROLE_SID)
        if sid:
            self.view.set_visible(str(sid), item.checkState(0) == Qt.CheckState.Checked)

    def _on_current(self, item: QTreeWidgetItem | None, _prev: QTreeWidgetItem | None) -> None:
        sid = item.data(0, ROLE_SID) if item is not None else None
        kind = item.data(0, ROLE_KIND) if item is not None else None
        is_structure = bool(sid) and kind not in ("special", "zone", "trigger_point")
        has_opacity = bool(sid) and kind != "special"
        self.opacity.setEnabled(has_opacity)
        self.only.setEnabled(is_structure)
        if has_opacity:
            self.opacity.setValue(round(100 * self.opacity_of(str(sid))))  # same value: no change
        if is_structure:
            self.item_selected.emit(str(sid))

    def _current_sid(self, kinds: tuple[str, ...] = ("special", "zone", "trigger_point")) -> str | None:
        """The selected structure's id (or, with fewer excluded kinds, layer key)."""
        item = self.tree.currentItem()
        if item is None or item.data(0, ROLE_KIND) in kinds:
            return None
        sid = item.data(0, ROLE_SID)
        return str(sid) if sid else None

    def _on_opacity(self, value: int) -> None:
        sid = self._current_sid(("special",))
        # the slider holds whole percent: a value it was given by the view state is no change
        if sid and round(100 * self.opacity_of(sid)) != value:
            self.view.set_opacity(sid, value / 100.0)

    def _on_only(self) -> None:
        sid = self._current_sid()
        if sid:
            self.show_only.emit(sid)

    def _on_show_all(self) -> None:
        self.show_only.emit("")

    def _on_context(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is None or not item.data(0, ROLE_SID):
            return
        kind = str(item.data(0, ROLE_KIND))
        kind = {"zone": "zone", "trigger_point": "trigger_point", "special": "overlay"}.get(kind, "structure")
        self.context_requested.emit(str(item.data(0, ROLE_SID)), kind, self.tree.viewport().mapToGlobal(pos))

    def set_checked(self, sid: str, checked: bool) -> None:
        """Tick or untick a layer's box, as a click would."""
        it = self._items.get(sid)
        if it is not None:
            it.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def set_opacity(self, key: str, value: float) -> None:
        """Set a layer's opacity (the slider follows when that layer is selected)."""
        self.view.set_opacity(key, value)

    def select(self, sid: str) -> None:
        it = self._items.get(sid)
        if it is not None:
            self.tree.setCurrentItem(it)

    def _filter(self, text: str) -> None:
        text = text.strip().lower()
        root = self.tree.invisibleRootItem()
        for i in range(root.childCount()):
            g = root.child(i)
            any_visible = False
            for k in range(g.childCount()):
                c = g.child(k)
                match = not text or text in c.text(0).lower() or text in str(c.data(0, ROLE_SID))
                c.setHidden(not match)
                any_visible |= match
            g.setHidden(not any_visible)
            if text and any_visible:
                g.setExpanded(True)


# ====================================================================== information card
class InfoPanel(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(False)
        self.setHtml(
            "<p style='color:#888'>Click a structure, a trigger point or a needle "
            "in the view (or a layer) to see what it is.</p>"
        )

    def show_structure(self, atlas: Atlas, sid: str) -> None:
        if sid in atlas.structures:
            self.setHtml(structure_card_html(atlas, sid))  # gui/cards.py: plain sentences

    def show_trigger_point(self, atlas: Atlas, tp_id: str) -> None:
        tp = atlas.trigger_points.get(tp_id)
        if tp is None:
            return
        colour = scene.TRIGGER_POINT_COLOURS.get(tp.muscle, "#fff")
        muscle = atlas.structures[tp.muscle].name if tp.muscle in atlas.structures else tp.muscle
        t = tp.technique
        self.setHtml(
            f"<h3><span style='color:{colour}'>●</span> {_esc(tp.name)}</h3>"
            f"<p><i>Trigger point</i> in the {_esc(muscle)} (spread ± {tp.spread_mm:.0f} mm)</p>"
            f"<p><b>Referral pattern:</b> {_esc(tp.referral)}</p>"
            f"<p><i>{_esc(referral_note(tp))}</i></p>"
            f"<p><b>Technique:</b> {_esc(t.text)}<br>depth {t.depth_range_mm[0]:.0f}–"
            f"{t.depth_range_mm[1]:.0f} mm, needle {t.gauge_mm:.2f} × "
            f"{t.needle_length_mm:.0f} mm</p>"
            f"<p><small><b>Source:</b> {_esc(tp.source)}<br><b>Technique source:</b> "
            f"{_esc(t.source)}"
            + (f"<br><b>Spread:</b> {_esc(tp.spread_source)}" if tp.spread_source else "")
            + (f"<br><b>Referral source:</b> {_esc(tp.referral_source)}" if tp.referral_source else "")
            + (
                f"<br><b>Referral region:</b> {_esc(tp.referral_region.reasoning)}"
                if tp.referral_region is not None
                else ""
            )
            + "</small></p>"
            "<p><i>Use “Needle from trigger point” to plan this insertion.</i></p>"
        )

    def show_measurement(self, names: list[str], distance_mm: float | None) -> None:
        """The measuring tool's card: the distance and the surfaces its points lie on."""
        if not names:
            self.setHtml("<p style='color:#888'>Measuring: click two points on any surface.</p>")
            return
        if distance_mm is None:
            self.setHtml(
                f"<h3>Measurement</h3><p>First point on the {_esc(names[0])}.</p>"
                "<p><i>Click the second point.</i></p>"
            )
            return
        self.setHtml(
            f"<h3>Measurement: {distance_mm:.1f} mm</h3>"
            f"<p>The straight distance from a point on the {_esc(names[0])} to a point on the "
            f"{_esc(names[1])}, through whatever lies between.</p>"
            "<p><i>Click again to start a new measurement; Esc ends measuring.</i></p>"
        )

    def show_needle(self, needle: Needle, report: Any | None) -> None:
        text = report.to_text() if report is not None else f"Needle {needle.id}"
        self.setHtml(f"<pre style='white-space:pre-wrap'>{_esc(text)}</pre>")


def referral_note(tp: Any) -> str:
    """What the view shows of a trigger point's referral (its card says it)."""
    region = tp.referral_region
    if region is None:
        return "This atlas gives no referral region for this trigger point: none is drawn on the skin."
    kinds = {z.kind for z in region.zones}
    shown = "strong zone darker, diffuse zone lighter" if kinds == {"strong", "diffuse"} else "shaded"
    off = f" Not drawn: {region.not_drawn}." if region.not_drawn else ""
    return f"Shaded on the skin in magenta ({shown}; View > Referral region).{off}"


# ====================================================================== needles
class NeedlePanel(QWidget):
    """Needle list and the editor of the selected needle.

    Emits intentions; :meth:`show_needle` refreshes the controls without emitting.
    """

    selected = Signal(str)
    add_from_trigger_point = Signal(str)
    place_entry = Signal(bool)  # placement mode on or off
    remove = Signal(str)
    depth_changed = Signal(float)
    angles_changed = Signal(float, float)
    length_changed = Signal(float)
    gauge_changed = Signal(float)
    target_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._guard = False
        self._listed: tuple[Any, ...] | None = None  # (ids, statuses, selected) the list shows
        self.list = QListWidget()
        self.list.setMaximumHeight(120)
        self.place = QPushButton("Place entry…")
        self.place.setCheckable(True)
        self.place.setToolTip("Then click on the skin in the 3D view (or Shift+click any time)")
        self.tp_combo = QComboBox()
        self.tp_add = QPushButton("Needle from trigger point")
        self.delete = QPushButton("Delete")
        top = QVBoxLayout(self)
        top.setContentsMargins(4, 4, 4, 4)
        top.addWidget(self.list)
        r1 = QHBoxLayout()
        r1.addWidget(self.place)
        r1.addWidget(self.delete)
        top.addLayout(r1)
        r2 = QHBoxLayout()
        r2.addWidget(self.tp_combo, 1)
        r2.addWidget(self.tp_add)
        top.addLayout(r2)

        self.box = QGroupBox("Selected needle")
        form = QFormLayout(self.box)
        self.entry = QLabel("–")
        self.entry.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tilt = QDoubleSpinBox(decimals=1, minimum=0.0, maximum=89.0, singleStep=1.0, suffix=" °")
        self.tilt.setToolTip("Angle between the needle and the inward skin normal (0 = straight in)")
        self.azimuth = QDoubleSpinBox(
            decimals=0, minimum=-1.0, maximum=360.0, singleStep=5.0, suffix=" °", wrapping=True
        )
        self.azimuth.setToolTip("Direction of the tilt: 0 proximal, 90 lateral, 180 distal, 270 medial")
        self.depth_slider = QSlider(Qt.Orientation.Horizontal)
        self.depth_slider.setRange(1, 1500)  # tenths of a millimetre
        self.depth = QDoubleSpinBox(decimals=1, minimum=0.1, maximum=150.0, singleStep=0.5, suffix=" mm")
        self.depth.setToolTip("Depth along the needle (mouse wheel: 0.5 mm steps)")
        # a typed value counts once it is complete (Enter or leaving the box): one edit, not
        # one per keystroke, and the box is not refilled under the user's fingers
        for box in (self.tilt, self.azimuth, self.depth):
            box.setKeyboardTracking(False)
        self.length = QComboBox()
        for v in NEEDLE_LENGTH_PRESETS_MM:
            self.length.addItem(f"{v:g} mm", v)
        self.gauge = QComboBox()
        for v in GAUGE_PRESETS_MM:
            self.gauge.addItem(f"{v:.2f} mm", v)
        self.target = QComboBox()
        depth_row = QHBoxLayout()
        depth_row.addWidget(self.depth_slider, 1)
        depth_row.addWidget(self.depth)
        angle_row = QHBoxLayout()
        angle_row.addWidget(QLabel("tilt"))
        angle_row.addWidget(self.tilt)
        angle_row.addWidget(QLabel("azimuth"))
        angle_row.addWidget(self.azimuth)
        form.addRow("Entry (mm)", self.entry)
        form.addRow("Angles", angle_row)
        form.addRow("Depth", depth_row)
        form.addRow("Needle length", self.length)
        form.addRow("Gauge", self.gauge)
        form.addRow("Target muscle", self.target)
        top.addWidget(self.box)
        top.addStretch(1)
        self.box.setEnabled(False)

        self.list.currentItemChanged.connect(self._on_list)
        self.place.toggled.connect(self.place_entry.emit)
        self.tp_add.clicked.connect(self._on_tp)
        self.delete.clicked.connect(self._on_delete)
        self.depth_slider.valueChanged.connect(lambda v: self._emit_depth(v / 10.0))
        self.depth.valueChanged.connect(self._emit_depth)
        self.tilt.valueChanged.connect(self._emit_angles)
        self.azimuth.valueChanged.connect(self._emit_angles)
        self.length.currentIndexChanged.connect(
            lambda _i: self._guard or self.length_changed.emit(float(self.length.currentData()))
        )
        self.gauge.currentIndexChanged.connect(
            lambda _i: self._guard or self.gauge_changed.emit(float(self.gauge.currentData()))
        )
        self.target.currentIndexChanged.connect(
            lambda _i: self._guard or self.target_changed.emit(str(self.target.currentData() or ""))
        )

    # -------------------------------------------------------------- filling
    def set_atlas(self, atlas: Atlas) -> None:
        self._guard = True
        self.tp_combo.clear()
        for tp in atlas.trigger_points.values():
            self.tp_combo.addItem(tp.name, tp.id)
        self.tp_combo.setEnabled(self.tp_combo.count() > 0)
        self.tp_add.setEnabled(self.tp_combo.count() > 0)
        self.target.clear()
        self.target.addItem("(none)", "")
        for sid, st in atlas.structures.items():
            if st.kind == "muscle":
                self.target.addItem(st.name, sid)
        self._guard = False

    def set_needles(self, ids: list[str], statuses: dict[str, str], selected: str | None) -> None:
        shown = (tuple(ids), tuple(statuses.get(nid, "") for nid in ids), selected)
        if shown == self._listed and self.list.count() == len(ids):
            return  # an edit that changed no id, status or selection (a depth, an angle)
        self._listed = shown
        self._guard = True
        self.list.clear()
        for nid in ids:
            status = statuses.get(nid, "")
            it = QListWidgetItem(f"{nid}    {status.upper()}")
            it.setData(ROLE_SID, nid)
            if status:
                it.setIcon(_swatch(scene.STATUS_COLOURS[status]))
            self.list.addItem(it)
            if nid == selected:
                self.list.setCurrentItem(it)
        self.delete.setEnabled(selected is not None)
        self._guard = False

    @staticmethod
    def _set_combo(combo: QComboBox, value: Any) -> None:
        idx = -1
        for i in range(combo.count()):
            data = combo.itemData(i)
            if isinstance(value, float) and isinstance(data, float):
                if math.isclose(data, value, abs_tol=1e-6):
                    idx = i
            elif data == value:
                idx = i
        if idx < 0 and isinstance(value, float):
            combo.addItem(f"{value:g} mm", value)
            idx = combo.count() - 1
        combo.setCurrentIndex(max(idx, 0))

    def show_needle(self, needle: Needle | None, angles: tuple[float, float] | None) -> None:
        self._guard = True
        try:
            self.box.setEnabled(needle is not None)
            if needle is None:
                self.entry.setText("–")
                return
            e = needle.entry_mm
            self.entry.setText(f"x {e[0]:.1f}, y {e[1]:.1f}, z {e[2]:.1f}")
            self.box.setTitle(f"Needle {needle.id}")
            self.depth.setMaximum(needle.needle_length_mm)
            self.depth_slider.setMaximum(round(needle.needle_length_mm * 10))
            self.depth.setValue(needle.depth_mm)
            self.depth_slider.setValue(round(needle.depth_mm * 10))
            self.tilt.setEnabled(angles is not None)
            self.azimuth.setEnabled(angles is not None)
            if angles is not None:
                self.tilt.setValue(min(angles[0], 89.0))
                self.azimuth.setValue(angles[1])
            self._set_combo(self.length, needle.needle_length_mm)
            self._set_combo(self.gauge, needle.gauge_mm)
            self._set_combo(self.target, needle.target or "")
        finally:
            self._guard = False

    def follow_document(
        self, doc: PlanDocument, angles_of: Callable[[Needle | None], tuple[float, float] | None]
    ) -> None:
        """Show the document's needles and its selected needle, whenever either changes."""

        def refresh(*_args: Any) -> None:
            statuses = {k: r.status for k, r in doc.reports.items()}
            self.set_needles([n.id for n in doc.plan.needles], statuses, doc.selected)
            needle = doc.selected_needle()
            self.show_needle(needle, angles_of(needle))

        doc.plan_changed.connect(refresh)
        doc.selection_changed.connect(refresh)

    # -------------------------------------------------------------- intentions
    def _on_list(self, item: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        if not self._guard and item is not None:
            self.selected.emit(str(item.data(ROLE_SID)))

    def _on_tp(self) -> None:
        tp = self.tp_combo.currentData()
        if tp:
            self.add_from_trigger_point.emit(str(tp))

    def _on_delete(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.remove.emit(str(item.data(ROLE_SID)))

    def _emit_depth(self, value: float) -> None:
        if not self._guard:
            self.depth_changed.emit(float(value))

    def _emit_angles(self, _value: float) -> None:
        if not self._guard:
            self.angles_changed.emit(self.tilt.value(), self.azimuth.value() % 360.0)


# ====================================================================== safety
class SafetyPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.badge = QLabel("NO NEEDLE")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setMinimumHeight(46)
        self.sentence = QLabel("Place a needle to check it.")
        self.sentence.setTextFormat(Qt.TextFormat.PlainText)  # may quote a needle id from a file
        self.sentence.setWordWrap(True)
        self.nearest = QLabel("–")
        self.nearest.setWordWrap(True)
        # the nearest cutaneous nerve or superficial vein (caution structures), in amber
        self.nearest_caution = QLabel("–")
        self.nearest_caution.setWordWrap(True)
        self.nearest_caution_title = QLabel("Nearest caution")
        for label in (self.nearest_caution, self.nearest_caution_title):
            label.setStyleSheet(f"color: {CAUTION_TEXT}")
        # wrapped lines keep their height: a short dock scrolls (app.py) instead of clipping them
        for label in (self.sentence, self.nearest, self.nearest_caution):
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.max_safe = QLabel("–")
        self.max_safe.setWordWrap(True)
        self.tip = QLabel("–")
        self.tip.setWordWrap(True)
        self.tissues = QTableWidget(0, 3)
        self.tissues.setHorizontalHeaderLabels(["Tissue", "from mm", "to mm"])
        self.tissues.verticalHeader().setVisible(False)
        self.tissues.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tissues.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tissues.setMaximumHeight(170)
        self.tissues.setMinimumHeight(60)
        self.findings = QTextBrowser()
        self.findings.setMaximumHeight(150)
        # every danger and caution structure's clearance, nearest first, with its role
        self.clearances = QTableWidget(0, 3)
        self.clearances.setHorizontalHeaderLabels(["Structure", "Role", "mm"])
        self.clearances.verticalHeader().setVisible(False)
        self.clearances.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.clearances.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.clearances.setMaximumHeight(170)
        self.clearances.setMinimumHeight(60)
        self.clearances.setToolTip(
            "Shortest distance between the needle and each danger and caution structure (negative inside it)"
        )
        self._roles: dict[str, str] = {}
        self._has_caution = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.badge)
        lay.addWidget(self.sentence)
        form = QFormLayout()
        form.addRow("Nearest danger", self.nearest)
        form.addRow(self.nearest_caution_title, self.nearest_caution)
        form.addRow("Max safe depth", self.max_safe)
        form.addRow("Tip in", self.tip)
        lay.addLayout(form)
        lay.addWidget(QLabel("Tissues along the needle"))
        lay.addWidget(self.tissues)
        lay.addWidget(QLabel("Findings"))
        lay.addWidget(self.findings)
        lay.addWidget(QLabel("Clearances"))
        lay.addWidget(self.clearances)
        self.status = ""
        self.show_report(None)

    def set_atlas(self, atlas: Any) -> None:
        """The atlas on show: the roles the clearance table names (danger, caution)."""
        self._roles = {sid: st.role for sid, st in atlas.structures.items()}
        self._has_caution = any(role == "caution" for role in self._roles.values())
        self.nearest_caution_title.setVisible(self._has_caution)
        self.nearest_caution.setVisible(self._has_caution)

    def follow_document(self, doc: PlanDocument) -> None:
        """Show the report of the document's selected needle, whenever it changes."""

        def refresh(*_args: Any) -> None:
            report = doc.selected_report()
            if doc.selected_needle() is None:
                self.show_report(None)
            elif report is None:
                self.show_report(None, doc.check_error or "Not checked.")
            else:
                self.show_report(report)

        doc.plan_changed.connect(refresh)
        doc.selection_changed.connect(refresh)

    def _set_badge(self, text: str, colour: str) -> None:
        self.badge.setText(text)
        style = (
            f"QLabel {{ background: {colour}; color: white; font-size: 20px; font-weight: bold;"
            " border-radius: 6px; padding: 6px; }"
        )
        if self.badge.styleSheet() != style:  # a new style sheet re-polishes the widget
            self.badge.setStyleSheet(style)

    def badge_colour(self) -> str:
        return str(self.badge.property("status_colour") or "")

    def show_report(self, report: Any | None, message: str | None = None) -> None:
        if report is None:
            self.status = ""
            self.badge.setProperty("status_colour", "#5a6270")
            self._set_badge("NO NEEDLE" if message is None else "NOT CHECKED", "#5a6270")
            self.sentence.setText(message or "Place a needle (click “Place entry…”) to check it.")
            for w in (self.nearest, self.nearest_caution, self.max_safe, self.tip):
                w.setText("–")
            self.tissues.setRowCount(0)
            self.clearances.setRowCount(0)
            self.findings.clear()
            return
        self.status = report.status
        colour = scene.STATUS_COLOURS.get(report.status, "#5a6270")
        self.badge.setProperty("status_colour", colour)
        self._set_badge(wording.status_word(report.status), colour)
        self.sentence.setText(report.key_sentence())
        self.nearest.setText(wording.nearest_danger_text(report))
        self.nearest_caution.setText(nearest_caution_text(report))
        # a report of a core that does not check caution structures says nothing of them
        checked = self._has_caution and hasattr(report, "nearest_caution")
        self.nearest_caution_title.setVisible(checked)
        self.nearest_caution.setVisible(checked)
        self.max_safe.setText(f"{wording.max_safe_text(report)}; planned {report.depth_mm:.1f} mm")
        self.tip.setText(wording.tip_text(report))
        self.tissues.setRowCount(len(report.tissues))
        for i, t in enumerate(report.tissues):
            for j, text in enumerate((report.name(t.structure), f"{t.enter_mm:.1f}", f"{t.exit_mm:.1f}")):
                cell = QTableWidgetItem(text)
                if j:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.tissues.setItem(i, j, cell)
        self.findings.setHtml(findings_html(report.findings))
        self._show_clearances(report)

    def _show_clearances(self, report: Any) -> None:
        clearances = sorted(getattr(report, "clearances_mm", {}).items(), key=lambda kv: kv[1])
        self.clearances.setRowCount(len(clearances))
        listed_caution = set(getattr(report, "caution_structures", ()))  # the core's own list
        for i, (sid, mm) in enumerate(clearances):
            role = self._roles.get(sid) or ("caution" if sid in listed_caution else "")
            cells = (report.name(sid), role, f"{mm:.1f}")
            for j, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if j == 2:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if j == 1 and role in ("danger", "caution"):
                    cell.setForeground(QColor(ROLE_TEXT[role]))
                self.clearances.setItem(i, j, cell)


CAUTION_TEXT = "#8a5a00"  # dark amber: 4.5:1 and more on a light panel (WCAG AA)
ROLE_TEXT = {"danger": "#b3261e", "caution": CAUTION_TEXT}


def nearest_caution_text(report: Any) -> str:
    """The nearest caution structure (a cutaneous nerve, a superficial vein): its name,
    clearance and where along the needle; "none" for a report without one."""
    nc = getattr(report, "nearest_caution", None)
    if nc is None:
        return "none near this trajectory"
    own = getattr(wording, "nearest_caution_text", None)
    if own is not None:  # the core's sentence, when it has one
        return str(own(report))
    return (
        f"{report.name(nc.structure)}: {nc.clearance_mm:.1f} mm "
        f"(caution zone {nc.zone_clearance_mm:+.1f} mm) at {nc.depth_on_needle_mm:.1f} mm along the needle"
    )


def findings_html(findings: list[Any]) -> str:
    """The findings list: each tagged in its severity's colour; a caution structure's
    finding (a cutaneous nerve or superficial vein reached) in an amber box of its own."""
    rows = []
    for f in findings:
        c = scene.STATUS_COLOURS.get(f.severity, "#9aa3ad")
        tag, message = wording.finding_parts(f)
        if f.rule == scene.CAUTION_RULE:
            rows.append(
                f"<table width='100%' cellpadding='4' cellspacing='0' bgcolor='{CAUTION_BOX_BG}' "
                f"style='border:1px solid {CAUTION_BOX_BORDER}'><tr><td style='color:{CAUTION_BOX_FG}'>"
                f"<b>{_esc(tag)} caution structure</b> {_esc(message)}</td></tr></table>"
            )
        else:
            rows.append(f"<p><b style='color:{c}'>{_esc(tag)}</b> {_esc(message)}</p>")
    return "".join(rows) or f"<p style='color:#888'>{_esc(wording.NO_FINDING)}</p>"
