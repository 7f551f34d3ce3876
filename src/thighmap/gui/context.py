"""Context menus of the 3D view and the Layers tree: what was right-clicked (a structure,
a needle, a trigger point, a danger zone, an overlay) and the action table's entries for
that kind of thing (gui/actions.py), acting on it through the view state and the plan's
edits."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtWidgets import QMenu

from thighmap.planning import Needle

from . import actions


class ContextMenus(QObject):
    """The context menus of a window (``win``: the MainWindow)."""

    def __init__(self, win: Any) -> None:
        super().__init__(win)
        self.win = win
        # what the menu acts on: (kind, id, picked skin point in the plan frame or None)
        self.target: tuple[str, str, np.ndarray | None] | None = None

    def at(self, x: int, y: int) -> QMenu | None:
        """The context menu of what is at display pixel (x, y) of the 3D view, or None."""
        hit = self.win.scene.pick(x, y)
        if hit is None:
            return None
        point = None
        if hit.kind == "structure":
            skin = self.win.scene.pick(x, y, skin_only=True)
            point = None if skin is None else np.asarray(skin.point_mm, float)
        return self.menu(hit.kind, hit.ident, point)

    def menu(self, kind: str, ident: str, point_mm: np.ndarray | None = None) -> QMenu:
        """The menu of the action table's entries for this kind of thing, acting on it."""
        self.target = (kind, ident, point_mm)
        menu = actions.build_context_menu(self.win, kind, self.win.actions_by_id)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one menu per right click
        here = self.win.actions_by_id["ctx_needle_here"]
        here.setEnabled(kind == "trigger_point" or point_mm is not None)
        return menu

    def for_layer(self, key: str, kind: str, pos: QPoint) -> None:
        ident = key.partition(":")[2] if kind in ("zone", "trigger_point") else key
        self.menu(kind, ident).popup(pos)

    def _key(self) -> str | None:
        if self.target is None:
            return None
        kind, ident, _ = self.target
        return {"zone": f"zone:{ident}", "trigger_point": f"tp:{ident}"}.get(kind, ident)

    def hide(self) -> None:
        if self.target is None:
            return
        kind, ident, _ = self.target
        if kind == "needle":
            self.win.view.set_hidden_needles({*self.win.view.hidden_needles, ident})
        else:
            key = self._key()
            if key is not None:
                self.win.view.set_visible(key, False)

    def show_only(self) -> None:
        if self.target is None or self.win.scene.atlas is None:
            return
        kind, ident, _ = self.target
        atlas = self.win.scene.atlas
        if kind == "zone":
            self.win.view.show_only([f"zone:{ident}"], [f"zone:{s}" for s in self.win.scene.zone_ids()])
        elif kind == "trigger_point":
            self.win.view.set_visible("trigger_points", True)
            self.win.view.show_only([f"tp:{ident}"], [f"tp:{t}" for t in atlas.trigger_points])
        else:
            self.win.scene.show_only(ident)

    def isolate(self) -> None:
        """Only this structure, and the view turned to frame it."""
        if self.target is not None:
            self.win.scene.show_only(self.target[1])
            self.win.scene.fly_to(self.target[1])

    def show_all(self) -> None:
        self.win.scene.show_only("")

    def card(self) -> None:
        if self.target is not None:
            kind, ident, _ = self.target
            self.win.show_info("structure" if kind == "zone" else kind, ident)

    def new_needle(self) -> Needle | None:
        if self.target is None:
            return None
        kind, ident, point = self.target
        if kind == "trigger_point":
            return self.win.add_from_trigger_point(ident)
        if point is not None:
            return self.win.handle_skin_pick(point)
        return None
