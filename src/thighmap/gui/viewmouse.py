"""The mouse over the 3D view: a click picks (a card, a needle, an entry on the skin in
placement mode or with Shift, a point in measuring mode), a resting mouse outlines and
names what is under it (over a skin map: the map's value there), a right click opens its
context menu, Ctrl + wheel changes the selected needle's depth."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer
from PySide6.QtWidgets import QToolTip

HOVER_DELAY_MS = 120  # the mouse rests this long before what is under it is outlined
CLICK_SLOP_PX = 4  # a press and release this close are a click, not a drag


class ViewMouse(QObject):
    """Mouse and keys over a window's 3D view (``win``: the MainWindow)."""

    def __init__(self, win: Any) -> None:
        super().__init__(win)
        self.win = win
        self.pl = win.pl
        self._press_pos: tuple[int, int] | None = None
        self._right_pos: tuple[int, int] | None = None
        self._hover_pos: tuple[int, int] | None = None
        self._hover_timer = QTimer(self)
        self._hover_timer.setSingleShot(True)
        self._hover_timer.setInterval(HOVER_DELAY_MS)
        self._hover_timer.timeout.connect(self._hover)
        iren = self.pl.iren
        iren.add_observer("LeftButtonPressEvent", self._on_press)
        iren.add_observer("LeftButtonReleaseEvent", self._on_release)
        iren.add_observer("RightButtonPressEvent", self._on_right_press)
        iren.add_observer("RightButtonReleaseEvent", self._on_right_release)
        iren.add_observer("EndInteractionEvent", self._after_camera_move)
        iren.add_observer("MouseMoveEvent", self._on_move)
        self.pl.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and event.modifiers() & Qt.KeyboardModifier.ControlModifier:  # type: ignore[attr-defined]
            steps = event.angleDelta().y() / 120.0  # type: ignore[attr-defined]
            self.win.nudge_depth(0.5 * steps)
            return True
        # the 3D view takes every key for itself: the presentation's keys and Esc must
        # still reach the window
        if event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if self.win.presenter.key(key):
                return True
            if key == Qt.Key.Key_Escape:
                self.win.cancel()
                return True
        return False

    def _on_right_press(self, *_args: Any) -> None:
        self._right_pos = self.pl.iren.interactor.GetEventPosition()

    def _on_right_release(self, *_args: Any) -> None:
        """A right click (not a drag, which zooms) opens the context menu of what is under it."""
        if self._right_pos is None:
            return
        x, y = self.pl.iren.interactor.GetEventPosition()
        x0, y0 = self._right_pos
        self._right_pos = None
        if abs(x - x0) + abs(y - y0) <= CLICK_SLOP_PX:
            menu = self.win.context.at(x, y)
            if menu is not None:
                menu.popup(self.pl.mapToGlobal(self._widget_pos(x, y)))

    def _after_camera_move(self, *_args: Any) -> None:
        self.win.scene.relayout_labels()

    def _on_press(self, *_args: Any) -> None:
        self._press_pos = self.pl.iren.interactor.GetEventPosition()

    def _on_release(self, *_args: Any) -> None:
        if self._press_pos is None:
            return
        x, y = self.pl.iren.interactor.GetEventPosition()
        x0, y0 = self._press_pos
        self._press_pos = None
        if abs(x - x0) + abs(y - y0) > CLICK_SLOP_PX:
            self.win.scene.relayout_labels()  # a drag (rotation), not a click
            return
        if self.win.measuring.active:
            self.win.measuring.pick(x, y)
            return
        shift = bool(self.pl.iren.interactor.GetShiftKey())
        if self.win.act_place.isChecked() or shift:
            hit = self.win.scene.pick(x, y, skin_only=True)
            if hit is not None:
                self.win.handle_skin_pick(hit.point_mm)
            else:
                self.win.statusBar().showMessage("No skin under the cursor", 3000)
            return
        hit = self.win.scene.pick(x, y)
        if hit is None:
            return
        self.win.show_info(hit.kind, hit.ident)

    def _on_move(self, *_args: Any) -> None:
        if self._press_pos is not None:  # dragging the camera or the handle
            return
        self._hover_pos = self.pl.iren.interactor.GetEventPosition()
        self._hover_timer.start()

    def hover_at(self, x: int, y: int) -> None:
        """The mouse resting at display position (x, y), VTK pixels (as after a move there)."""
        self._hover_pos = (x, y)
        self._hover()

    def _widget_pos(self, x: float, y: float) -> QPoint:
        """A VTK display position as a position in the view widget."""
        ratio = self.pl.devicePixelRatioF()
        return QPoint(round(x / ratio), round((self.pl.height() * ratio - 1 - y) / ratio))

    def _read_map(self) -> bool:
        """Over a skin map: its value under the mouse in the status bar and a small tooltip."""
        assert self._hover_pos is not None
        hit = self.win.scene.pick(*self._hover_pos, skin_only=True)
        reading = self.win.maps.reading_at(hit.point_mm) if hit is not None else None
        if reading is None:
            QToolTip.hideText()
            return False
        self.win.statusBar().showMessage(reading.text, 4000)
        layer = self.win.maps.layer
        QToolTip.showText(
            self.pl.mapToGlobal(self._widget_pos(*self._hover_pos)),
            f"{reading.value:.1f} {layer.unit} ({layer.quantity})",
            self.pl,
        )
        return True

    def _hover(self) -> None:
        """Outline what is under the resting mouse and name it in the status bar."""
        if self._hover_pos is None or self.win.scene.atlas is None:
            return
        label = self.win.scene.label_at(*self._hover_pos)
        if label is not None:  # a label's full name: the view shows short ones
            sid = label.name.split(":", 1)[1] if label.kind == "structure" else None
            self.win.scene.set_focus(sid or self.win._clicked_focus)
            self.win.statusBar().showMessage(label.full_text, 3000)
            return
        if self.win.maps.layer is not None and self._read_map():
            return
        hit = self.win.scene.pick(*self._hover_pos)
        atlas = self.win.scene.atlas
        if hit is not None and hit.kind == "structure":
            st = atlas.structures[hit.ident]
            self.win.scene.set_focus(hit.ident)
            self.win.statusBar().showMessage(f"{st.name}: {st.kind}, {st.role} (click for its card)", 3000)
            return
        self.win.scene.set_focus(self.win._clicked_focus)
        if hit is not None and hit.kind == "trigger_point":
            self.win.statusBar().showMessage(f"Trigger point: {atlas.trigger_points[hit.ident].name}", 3000)
        elif hit is not None and hit.kind == "needle":
            report = self.win.doc.reports.get(hit.ident)
            status = f": {report.status}" if report is not None else ""
            self.win.statusBar().showMessage(f"Needle {hit.ident}{status} (click to select)", 3000)
