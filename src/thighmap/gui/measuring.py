"""The measuring tool in the window: a mode in which two clicks on any visible surface
measure the straight distance between them (View > Measure distance).

The points and the distance are a Qt-free model (viz.measure); which structure a point
lies on is found by viz.probe. The 3D view draws the points, the line and the distance
(in the one label layout); the Information panel shows the measurement's card. A third
click starts a new measurement; Esc or the action again leaves the mode (and drops the
measurement); a new atlas (patient, side) drops it too. A demonstration step records the
measurement on show and gives it back (gui/steps.py).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

from thighmap.viz import probe
from thighmap.viz.measure import Measurement, distance_text

PROMPT = "Measuring: click two points on any surface (a third starts again; Esc or Shift+M to stop)"


class MeasuringTool(QObject):
    """The measuring mode of a window (``win``: the MainWindow)."""

    def __init__(self, win: Any) -> None:
        super().__init__(win)
        self.win = win
        self.measurement = Measurement()
        self._message = ""  # the status message this tool showed last
        self.measurement.changed.connect(self._show)
        win.scene.atlas_changed.connect(self.measurement.clear)

    @property
    def active(self) -> bool:
        act = getattr(self.win, "actions_by_id", {}).get("measure")
        return bool(act is not None and act.isChecked())

    def set_active(self, on: bool) -> None:
        """Enter or leave measuring mode (the action's toggle; Esc leaves)."""
        self.win.actions_by_id["measure"].setChecked(on)
        if on:
            self.win.set_placing(False)  # one click mode at a time
            self._say(PROMPT)
        else:
            self.measurement.clear()
            bar = self.win.statusBar()
            if self._message and bar.full_message == self._message:
                bar.clearMessage()
            self._message = ""

    def show_points(self, points: list[tuple[Any, str | None]]) -> None:
        """Show a recorded measurement (a demonstration step's): in measuring mode with
        these points; none: out of measuring mode, as Esc would leave it."""
        if not points:
            self.set_active(False)
            return
        if not self.active:
            self.set_active(True)
        self.measurement.set_points(points)

    def _say(self, text: str) -> None:
        self._message = text
        self.win.statusBar().showMessage(text)

    def pick(self, x: int, y: int) -> bool:
        """A click at display position (x, y) in measuring mode: a point on the visible
        surface there. False when there is no surface under it."""
        scene = self.win.scene
        hit = scene.pick(x, y, surfaces_only=True)
        if hit is None or scene.atlas is None:
            self.win.statusBar().showMessage("No surface under the cursor to measure from", 3000)
            return False
        visible = [sid for sid in scene.atlas.structures if sid not in scene.hidden]
        on = probe.structure_at(scene.atlas, hit.point_mm, visible) or hit.ident
        self.measurement.add(hit.point_mm, on)
        return True

    def _name(self, sid: str | None) -> str:
        atlas = self.win.scene.atlas
        if sid is None or atlas is None or sid not in atlas.structures:
            return "a surface"
        return atlas.structures[sid].name

    def _show(self) -> None:
        points = self.measurement.points
        scene = self.win.scene
        names = [self._name(p.structure) for p in points]
        if not points:
            scene.clear_measurement()
            self.win.info.show_measurement([], None)
            return
        mm = self.measurement.distance_mm
        text = distance_text(mm) if mm is not None else ""
        scene.show_measurement(
            [p.point_mm for p in points], text, f"{text}: {names[0]} to {names[-1]}" if text else ""
        )
        self.win.info.show_measurement(names, mm)
        self.win.docks["Information"].raise_()
        if mm is None:
            self._say(f"First point on {names[0]}: click the second point")
        else:
            self._say(
                f"Distance {text} from {names[0]} to {names[1]} (click again to start a new measurement)"
            )
