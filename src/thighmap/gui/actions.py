"""Every command of the window, declared once as data.

:data:`ACTIONS` is the one table (id, text, shortcut, handler, menu, toolbar, context
menus, tip); :func:`build_actions` makes the QActions from it and the menus, the
toolbar, the context menus and Help > Keyboard shortcuts are all built from those.
A handler names the object that does the work: a method of one of the window's parts
("files.save", "presenter.start", "view.set_visible", "context.hide") or of the window
itself, or a function of a module of this package given the window ("dialogs:show_about").
It is called with ``arg`` when one is given (before the checked state of a checkable
action); a context action acts on what was right-clicked (gui/context.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMenu,
    QMenuBar,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

MENUS = (
    ("file", "&File"),
    ("edit", "&Edit"),
    ("view", "&View"),
    ("maps", "&Maps"),
    ("demo", "&Demonstration"),
    ("help", "&Help"),
)
# what a context menu is about: a structure, a needle, a trigger point (in the view or the
# Layers tree), a danger zone or an overlay of the Layers tree
CONTEXT_KINDS = ("structure", "needle", "trigger_point", "zone", "overlay")
_PICKABLE = ("structure", "trigger_point", "zone")


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    handler: str
    shortcut: str = ""  # a key sequence ("Ctrl+Shift+R") or a standard key ("std:Save")
    menu: str | None = None  # one of MENUS, or None (context menus only)
    toolbar: bool = False
    context: tuple[str, ...] = ()  # the CONTEXT_KINDS whose context menu offers it
    tip: str = ""
    checkable: bool = False
    checked: bool = False
    icon_text: str = ""
    separator_before: bool = False
    arg: str | None = None


ACTIONS: tuple[ActionSpec, ...] = (
    # ---------------------------------------------------------------- File
    ActionSpec("new", "&New plan", "files.new_plan", "std:New", "file"),
    ActionSpec("open", "&Open…", "files.open_dialog", "std:Open", "file"),
    ActionSpec("save", "&Save", "files.save", "std:Save", "file"),
    ActionSpec("save_as", "Save &as…", "files.save_as", "std:SaveAs", "file"),
    ActionSpec(
        "export_png",
        "&Export view as PNG…",
        "files.export_png_dialog",
        "Ctrl+E",
        "file",
        separator_before=True,
    ),
    ActionSpec(
        "export_report", "Export &report (PDF)…", "files.export_report_dialog", "Ctrl+Shift+E", "file"
    ),
    ActionSpec("quit", "&Quit", "close", "std:Quit", "file", separator_before=True),
    # ---------------------------------------------------------------- Edit
    ActionSpec("undo", "&Undo", "undo.undo", "std:Undo", "edit"),
    ActionSpec("redo", "&Redo", "undo.redo", "std:Redo", "edit"),
    ActionSpec("patient", "&Patient profile…", "edit_patient", "Ctrl+Shift+P", "edit", separator_before=True),
    ActionSpec("contraindications", "&Contraindication checklist…", "edit_contraindications", "", "edit"),
    ActionSpec(
        "left_thigh",
        "&Left thigh",
        "set_left_thigh",
        "Ctrl+Shift+L",
        "edit",
        tip="Plan for the left thigh: the atlas and every needle mirrored",
        checkable=True,
    ),
    ActionSpec(
        "duplicate_needle",
        "D&uplicate needle",
        "duplicate_selected",
        "Ctrl+Shift+U",
        "edit",
        context=("needle",),
        tip="A copy of the selected needle, to vary it",
    ),
    ActionSpec(
        "delete_needle", "&Delete needle", "remove_selected", "std:Delete", "edit", context=("needle",)
    ),
    # ---------------------------------------------------------------- View
    ActionSpec(
        "cam_posterior",
        "Posterior",
        "scene.camera",
        "P",
        "view",
        True,
        tip="Posterior view",
        arg="posterior",
    ),
    ActionSpec(
        "cam_lateral", "Lateral", "scene.camera", "L", "view", True, tip="Lateral view", arg="lateral"
    ),
    ActionSpec("cam_medial", "Medial", "scene.camera", "M", "view", True, tip="Medial view", arg="medial"),
    ActionSpec(
        "cam_below",
        "From below",
        "scene.camera",
        "B",
        "view",
        True,
        tip="From below view",
        arg="axial_from_below",
    ),
    ActionSpec(
        "cam_above",
        "From above",
        "scene.camera",
        "T",
        "view",
        True,
        tip="From above view",
        arg="axial_from_above",
    ),
    ActionSpec(
        "cam_reset",
        "Reset",
        "scene.camera",
        "R",
        "view",
        True,
        tip="Reset to the posterior view",
        arg="posterior",
    ),
    ActionSpec(
        "labels",
        "Labels",
        "view.set_visible",
        "Ctrl+L",
        "view",
        True,
        tip="Structure labels",
        checkable=True,
        checked=True,
        separator_before=True,
        arg="labels",
    ),
    ActionSpec(
        "zones",
        "Danger zones",
        "scene.set_zones_shown",
        "Ctrl+D",
        "view",
        True,
        tip="Danger zones (structure + positional uncertainty), and the caution zones of the "
        "cutaneous nerves and superficial veins (amber)",
        checkable=True,
        checked=True,
    ),
    ActionSpec(
        "referral",
        "&Referral region",
        "referral.set_shown",
        "Ctrl+R",
        "view",
        tip="Shade the chosen trigger point's referral pattern on the skin",
        checkable=True,
        checked=True,
    ),
    ActionSpec(
        "measure",
        "&Measure distance",
        "measuring.set_active",
        "Shift+M",
        "view",
        True,
        tip="Click two points on any surface to measure the distance between them",
        checkable=True,
        icon_text="Measure",
        separator_before=True,
    ),
    ActionSpec(
        "place",
        "Place entry",
        "set_placing",
        "N",
        "edit",
        True,
        tip="Click on the skin to place a new needle",
        checkable=True,
        separator_before=True,
    ),
    # ---------------------------------------------------------------- Maps
    ActionSpec(
        "map_tp",
        "&Approach map to the chosen trigger point",
        "maps.show_approach_to_trigger_point",
        "A",
        "maps",
        True,
        tip="Colour the skin by how close the straight path to the trigger point chosen in the "
        "Needles panel comes to a danger zone",
        icon_text="Approach map",
        separator_before=True,
    ),
    ActionSpec(
        "map_tip",
        "Approach map to the selected needle's &tip",
        "maps.show_approach_to_needle_tip",
        "Shift+A",
        "maps",
        tip="Colour the skin by the clearance of straight paths to the selected needle's tip",
    ),
    ActionSpec(
        "map_depth",
        "&Depth map",
        "maps.show_depth_map",
        "D",
        "maps",
        True,
        tip="Colour the skin by the maximum safe depth of a needle along the inward normal",
        icon_text="Depth map",
    ),
    ActionSpec(
        "map_best",
        "Place a needle at the &best entry",
        "maps.place_needle_at_best_entry",
        "Ctrl+B",
        "maps",
        tip="A needle from the approach map's best entry to its target",
        separator_before=True,
    ),
    ActionSpec("map_clear", "&Clear map", "maps.clear_map", "X", "maps", tip="Show the skin again"),
    # ---------------------------------------------------------------- Demonstration
    ActionSpec(
        "record_step",
        "&Record step…",
        "steps:record_step_dialog",
        "Ctrl+Shift+R",
        "demo",
        tip="Add the current view, layers and needles as a step",
    ),
    ActionSpec(
        "steps",
        "&Steps…",
        "show_steps",
        "Ctrl+Shift+D",
        "demo",
        tip="List the steps to rename, reorder, edit, duplicate or delete them",
    ),
    ActionSpec("delete_last_step", "&Delete last step", "delete_last_step", "", "demo"),
    ActionSpec(
        "present",
        "&Present",
        "presenter.start",
        "F5",
        "demo",
        tip="Play the steps full screen (→ next, ← previous, Esc ends)",
        separator_before=True,
    ),
    ActionSpec("export_steps", "&Export steps (PNG + GIF)…", "steps:export_steps_dialog", "", "demo"),
    # ---------------------------------------------------------------- Help
    ActionSpec("shortcuts", "&Keyboard shortcuts", "actions:show_shortcuts", "F1", "help"),
    ActionSpec("about", "&About thighmap", "dialogs:show_about", "", "help"),
    # ---------------------------------------------------------------- context menus only
    ActionSpec(
        "ctx_card", "Show card", "context.card", context=("structure", "trigger_point", "zone", "needle")
    ),
    ActionSpec(
        "ctx_needle_here",
        "New needle from here",
        "context.new_needle",
        context=("trigger_point", "structure"),
        tip="A needle from this trigger point's technique, or straight in at this point of the skin",
    ),
    ActionSpec(
        "ctx_hide", "Hide", "context.hide", context=(*_PICKABLE, "needle", "overlay"), separator_before=True
    ),
    ActionSpec(
        "ctx_isolate",
        "Isolate",
        "context.isolate",
        context=("structure",),
        tip="Show only this structure and turn the view to it",
    ),
    ActionSpec("ctx_show_only", "Show only", "context.show_only", context=_PICKABLE),
    ActionSpec("ctx_show_all", "Show all", "context.show_all", context=("structure",)),
)

# keys that are not actions (they act on the view or a presentation)
OTHER_KEYS: tuple[tuple[str, str], ...] = (
    ("Esc", "Leave placement or measuring mode; drop the outline; end a presentation"),
    ("Shift+click", "Place a needle at the skin point under the cursor"),
    ("Ctrl+wheel", "Change the selected needle's depth by 0.5 mm per step"),
    ("Right-click", "Context menu of the structure, needle or trigger point under the cursor"),
    ("→ / Space / ←", "Next / previous step of a presentation"),
)


def key_sequence(shortcut: str) -> QKeySequence:
    if shortcut.startswith("std:"):
        return QKeySequence(getattr(QKeySequence.StandardKey, shortcut[4:]))
    return QKeySequence(shortcut)


def shortcut_text(spec: ActionSpec) -> str:
    return (
        key_sequence(spec.shortcut).toString(QKeySequence.SequenceFormat.NativeText) if spec.shortcut else ""
    )


def plain_text(text: str) -> str:
    return text.replace("&", "")


def resolve_handler(window: Any, handler: str) -> Callable[..., Any]:
    """The callable a spec's handler names: "dialogs:show_about" (a function of a module of
    this package, given the window), "files.save" (a method of a part of the window's) or
    "close" (of the window)."""
    module, sep, function = handler.partition(":")
    if sep:
        func = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        return lambda *args: func(window, *args)
    target: Any = window
    for name in handler.split("."):
        target = getattr(target, name)
    return target  # type: ignore[no-any-return]


def build_actions(window: Any, specs: Iterable[ActionSpec] = ACTIONS) -> dict[str, QAction]:
    """One QAction per spec, added to the window (so that its shortcut works wherever the
    focus is in the window) and connected to the handler the spec names."""
    out: dict[str, QAction] = {}
    for spec in specs:
        act = QAction(spec.text, window)
        act.setObjectName(f"action_{spec.id}")
        if spec.shortcut:
            act.setShortcut(key_sequence(spec.shortcut))
        if spec.tip:
            act.setStatusTip(spec.tip)
            act.setToolTip(f"{spec.tip} ({shortcut_text(spec)})" if spec.shortcut else spec.tip)
        if spec.icon_text:
            act.setIconText(spec.icon_text)
        if spec.checkable:
            act.setCheckable(True)
            act.setChecked(spec.checked)
        handler = resolve_handler(window, spec.handler)
        # checkable: triggered (by the user), not toggled: setChecked from the model does not call back
        if spec.checkable and spec.arg is not None:
            act.triggered.connect(lambda checked, h=handler, a=spec.arg: h(a, checked))
        elif spec.checkable:
            act.triggered.connect(handler)
        elif spec.arg is not None:
            act.triggered.connect(lambda _c=False, h=handler, a=spec.arg: h(a))
        else:
            act.triggered.connect(lambda _c=False, h=handler: h())
        window.addAction(act)
        out[spec.id] = act
    return out


def build_menus(
    menubar: QMenuBar, actions: dict[str, QAction], specs: Iterable[ActionSpec] = ACTIONS
) -> dict[str, QMenu]:
    menus = {key: menubar.addMenu(title) for key, title in MENUS}
    for spec in specs:
        if spec.menu is None:
            continue
        menu = menus[spec.menu]
        if spec.separator_before and menu.actions():
            menu.addSeparator()
        menu.addAction(actions[spec.id])
    return menus


def build_toolbar(
    toolbar: QToolBar, actions: dict[str, QAction], specs: Iterable[ActionSpec] = ACTIONS
) -> None:
    for spec in specs:
        if not spec.toolbar:
            continue
        if spec.separator_before and toolbar.actions():
            toolbar.addSeparator()
        toolbar.addAction(actions[spec.id])


def build_context_menu(
    parent: QWidget, kind: str, actions: dict[str, QAction], specs: Iterable[ActionSpec] = ACTIONS
) -> QMenu:
    """The context menu of a structure, needle, trigger point, zone or overlay."""
    menu = QMenu(parent)
    for spec in specs:
        if kind not in spec.context:
            continue
        if spec.separator_before and menu.actions():
            menu.addSeparator()
        menu.addAction(actions[spec.id])
    return menu


def shortcut_rows(specs: Iterable[ActionSpec] = ACTIONS) -> list[tuple[str, str, str]]:
    """(keys, what it does, menu) for every action with a shortcut, then the other keys."""
    titles = dict(MENUS)
    rows = [
        (shortcut_text(s), plain_text(s.text).rstrip("…"), plain_text(titles.get(s.menu or "", "Toolbar")))
        for s in specs
        if s.shortcut
    ]
    rows += [(keys, text, "3D view") for keys, text in OTHER_KEYS]
    return rows


def show_shortcuts(parent: QWidget) -> ShortcutsDialog:
    """Help > Keyboard shortcuts, beside the window (not modal)."""
    dlg = ShortcutsDialog(parent)
    dlg.setModal(False)
    dlg.show()
    return dlg


class ShortcutsDialog(QDialog):
    """Help > Keyboard shortcuts: every shortcut of the action table, and the view's keys."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows()
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Keys", "Does", "Where"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.resizeColumnToContents(0)
        self.table.resizeColumnToContents(2)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(buttons)
        self.resize(560, 520)


__all__ = [
    "ACTIONS",
    "MENUS",
    "OTHER_KEYS",
    "ActionSpec",
    "ShortcutsDialog",
    "build_actions",
    "build_context_menu",
    "build_menus",
    "build_toolbar",
    "key_sequence",
    "resolve_handler",
    "shortcut_rows",
    "show_shortcuts",
]
