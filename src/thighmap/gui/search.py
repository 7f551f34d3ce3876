"""The Layers panel's search box: filters the tree with anatomy.search (names, synonyms,
abbreviations, groups), says "no match" when nothing answers, and on Enter selects the
best structure, shows its card and outline; Isolate shows only what was found (all four
heads for "hamstrings"), Fly to frames the best match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTreeWidgetItem, QVBoxLayout, QWidget

from thighmap.anatomy.search import SearchHit, normalise, search_structures

from .panels import ROLE_KIND, ROLE_SID, LayersPanel

NO_MATCH_COLOUR = "#b3261e"


class StructureSearch(QObject):
    """Drives a LayersPanel's search box; `atlas` gives the atlas on show (or None)."""

    chosen = Signal(str)  # Enter: the best structure (show its card and outline)
    fly_to = Signal(str)  # move the camera to frame it

    def __init__(self, layers: LayersPanel, atlas: Callable[[], Any]) -> None:
        super().__init__(layers)
        self.layers = layers
        self._atlas = atlas
        self.hits: list[SearchHit] = []
        self.best: str | None = None
        # this search replaces the panel's own name-only filter
        layers.search.textChanged.disconnect(layers._filter)
        layers.search.setPlaceholderText("Search: name, synonym or group (e.g. hamstrings, peroneal, SM)")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.isolate_button = QPushButton("Isolate")
        self.isolate_button.setToolTip("Show only the structures found (Show all brings the others back)")
        self.fly_button = QPushButton("Fly to")
        self.fly_button.setToolTip("Turn the view to frame the best match")
        self.bar = QWidget()
        column = QVBoxLayout(self.bar)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.status)
        row = QHBoxLayout()
        row.addWidget(self.isolate_button)
        row.addWidget(self.fly_button)
        column.addLayout(row)
        self.bar.hide()
        layout = layers.layout()
        layout.insertWidget(layout.indexOf(layers.search) + 1, self.bar)
        layers.search.textChanged.connect(self.run)
        layers.search.returnPressed.connect(self.choose_best)
        self.isolate_button.clicked.connect(self.isolate)
        self.fly_button.clicked.connect(self._fly)

    # --------------------------------------------------------------- filtering
    def run(self, text: str) -> None:
        atlas = self._atlas()
        query = normalise(text)
        self.hits = search_structures(atlas.structures.values(), text) if atlas is not None and query else []
        self.best = self.hits[0].structure_id if self.hits else None
        found = {h.structure_id for h in self.hits}
        tps = getattr(atlas, "trigger_points", {}) if atlas is not None else {}
        shown = 0
        root = self.layers.tree.invisibleRootItem()
        for i in range(root.childCount()):
            group = root.child(i)
            any_visible = False
            for k in range(group.childCount()):
                item = group.child(k)
                match = not query or self._matches(item, query, found, tps)
                item.setHidden(not match)
                any_visible |= match
                shown += match
            group.setHidden(not any_visible)
            if query and any_visible:
                group.setExpanded(True)
        self._show_status(query, shown)

    @staticmethod
    def _matches(item: QTreeWidgetItem, query: str, found: set[str], tps: Any) -> bool:
        key = str(item.data(0, ROLE_SID))
        kind = item.data(0, ROLE_KIND)
        if kind == "zone":
            return key.removeprefix("zone:") in found
        if kind == "trigger_point":
            tp = tps.get(key.removeprefix("tp:"))
            return query in normalise(item.text(0)) or (tp is not None and tp.muscle in found)
        if kind == "special":
            return query in normalise(item.text(0))
        return key in found

    def _show_status(self, query: str, shown: int) -> None:
        self.bar.setVisible(bool(query))
        has_best = self.best is not None
        self.isolate_button.setVisible(has_best)
        self.fly_button.setVisible(has_best)
        if not query:
            return
        if not has_best and shown == 0:
            self.status.setText("No match")
            self.status.setStyleSheet(f"color: {NO_MATCH_COLOUR}; font-weight: bold")
            return
        self.status.setStyleSheet("")
        if has_best:
            hit = self.hits[0]
            via = "" if hit.source in ("name", "id") else f" — {hit.source} “{hit.matched}”"
            more = f" (+{len(self.hits) - 1} more)" if len(self.hits) > 1 else ""
            self.status.setText(f"Enter: {hit.name}{via}{more}")
            self.status.setToolTip("Enter selects it and shows its card")
        else:
            self.status.setText(f"{shown} layer(s)")

    # --------------------------------------------------------------- choosing
    def _fly(self) -> None:
        if self.best is not None:
            self.fly_to.emit(self.best)

    def isolate(self) -> None:
        """Show only the structures found, through the panel's boxes (as Show only does)."""
        atlas = self._atlas()
        found = {h.structure_id for h in self.hits}
        if atlas is None or not found:
            return
        for sid in atlas.structures:
            self.layers.set_checked(sid, sid in found)

    def choose_best(self) -> None:
        if self.best is None:
            self.run(self.layers.search.text())
        if self.best is None:
            return
        self.layers.select(self.best)
        self.chosen.emit(self.best)
