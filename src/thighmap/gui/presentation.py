"""Presenting a demonstration full screen: the steps one after another, layers at once
and the camera gliding (arrows, Space, Esc), then the window as it was."""

from __future__ import annotations

import textwrap
import time
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QToolBar

from thighmap.planning import demo

from .steps import apply_step, camera_of, capture_step

CAMERA_MOVE_S = 0.7  # a presentation's camera glides to the next step in this time
CAMERA_TICK_MS = 30


class Presenter(QObject):
    """The presentation of a window's steps (``win``: the MainWindow)."""

    def __init__(self, win: Any) -> None:
        super().__init__(win)
        self.win = win
        self.presenting: int | None = None  # index of the step on show, None when not presenting
        self._before_presenting: tuple[Any, Any] | None = None  # (dock layout, view) to go back to
        self._move_timer = QTimer(self)
        self._move_timer.setInterval(CAMERA_TICK_MS)
        self._move_timer.timeout.connect(self._camera_tick)
        self._move: tuple[demo.Camera, demo.Camera, float] | None = None

    def start(self) -> None:
        if not self.win.steps():
            self.win.error("Present", "Record a step first (Demonstration > Record step).")
            return
        self._before_presenting = (self.win.saveState(), capture_step(self.win, "before"))
        for bar in (self.win.menuBar(), self.win.statusBar()):
            bar.hide()
        for widget in [*self.win.docks.values(), *self.win.findChildren(QToolBar)]:
            widget.hide()
        self.win.showFullScreen()
        self.presenting = -1
        self.show_step(0)

    def stop(self) -> None:
        if self.presenting is None:
            return
        self.presenting = None
        self._move_timer.stop()
        for name in ("demo-title", "demo-text", "demo-count"):
            self.win.pl.remove_actor(name, render=False)
        assert self._before_presenting is not None
        state, before = self._before_presenting
        self._before_presenting = None
        self.win.showNormal()
        self.win.menuBar().show()
        self.win.statusBar().show()
        for tb in self.win.findChildren(QToolBar):
            tb.show()
        apply_step(self.win, before)
        self.win.restoreState(state)
        self.win.scene.request_render()

    def show_step(self, index: int) -> None:
        """Go to step `index` of the presentation: layers at once, camera smoothly."""
        steps = self.win.steps()
        if self.presenting is None or not steps:
            return
        index = max(0, min(index, len(steps) - 1))
        if index == self.presenting:
            return
        step = steps[index]
        self.presenting = index
        apply_step(self.win, step, camera=False)  # gui/steps.py; the camera glides below
        self.win.pl.add_text(
            step.title, position="upper_left", font_size=18, color="white", name="demo-title"
        )
        lines = textwrap.wrap(step.text, 36)  # a column left of the thigh
        height = int(self.win.pl.window_size[1])
        self.win.pl.add_text(  # under the title, left-aligned
            "\n".join(lines),
            position=(14, max(height - 70 - 22 * len(lines), 10)),
            font_size=12,
            color="#e8eaee",
            name="demo-text",
        )
        self.win.pl.add_text(
            f"{index + 1} / {len(steps)}",
            position="upper_right",
            font_size=11,
            color="#aab0ba",
            name="demo-count",
        )
        self._move = (camera_of(self.win.pl), step.camera, time.perf_counter())
        self._move_timer.start()

    def _camera_tick(self) -> None:
        if self._move is None:
            self._move_timer.stop()
            return
        start, end, t0 = self._move
        t = (time.perf_counter() - t0) / CAMERA_MOVE_S
        self._set_camera(demo.interpolate_camera(start, end, min(t, 1.0)))
        self.win.scene.render_now()
        if t >= 1.0:
            self._move = None
            self._move_timer.stop()
            self.win.scene.relayout_labels()

    def _set_camera(self, cam: demo.Camera) -> None:
        self.win.pl.camera.position = cam.position
        self.win.pl.camera.focal_point = cam.focal_point
        self.win.pl.camera.up = cam.up
        self.win.pl.camera.view_angle = cam.view_angle
        self.win.pl.reset_camera_clipping_range()

    def key(self, key: int) -> bool:
        """Keys of the presentation; True when the key was used."""
        if self.presenting is None:
            return False
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Space, Qt.Key.Key_PageDown, Qt.Key.Key_Down):
            self.show_step(self.presenting + 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Backspace, Qt.Key.Key_PageUp, Qt.Key.Key_Up):
            self.show_step(self.presenting - 1)
        elif key == Qt.Key.Key_Escape:
            self.stop()
        else:
            return False
        return True

    def layout_before(self) -> Any:
        """The window's dock layout from before the presentation (None when not presenting)."""
        return None if self._before_presenting is None else self._before_presenting[0]
