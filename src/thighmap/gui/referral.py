"""A trigger point's referral pattern shaded on the skin (View > Referral region).

Choosing a trigger point (a click on it in the view, its card, the Needles panel's list)
shades its ``referral_region`` on the skin (weights from anatomy.referral); the toggle
hides and shows it. A new atlas (patient, side) shades the same trigger point on the new
skin. A trigger point the atlas gives no region says so in the status bar and its card.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

from thighmap.anatomy.referral import region_weights_on_atlas


class ReferralView(QObject):
    """The referral region on show in a window (``win``: the MainWindow)."""

    def __init__(self, win: Any) -> None:
        super().__init__(win)
        self.win = win
        self.trigger_point: str | None = None  # the chosen trigger point
        self.weights: Any = None  # the region's weight per skin vertex, as drawn
        win.scene.atlas_changed.connect(self.draw)
        combo = win.needles.tp_combo  # a trigger point chosen in the Needles panel's list
        combo.activated.connect(lambda index: self.show_for(combo.itemData(index) or None))

    @property
    def shown(self) -> bool:
        act = getattr(self.win, "actions_by_id", {}).get("referral")
        return bool(act is None or act.isChecked())

    def set_shown(self, on: bool) -> None:
        self.win.actions_by_id["referral"].setChecked(on)
        self.draw()
        if on and self.trigger_point is None:
            self.win.statusBar().showMessage(
                "Choose a trigger point (click it in the view) to shade its referral region", 4000
            )

    def show_for(self, tp_id: str | None) -> None:
        """Shade this trigger point's referral region (None: no trigger point chosen)."""
        self.trigger_point = tp_id
        self.draw()

    @property
    def shown_for(self) -> str | None:
        """The trigger point whose region is shaded now (None: no region on the skin)."""
        return self.trigger_point if self.weights is not None else None

    def restore(self, tp_id: str | None) -> None:
        """Show exactly this trigger point's region, as a demonstration step recorded it
        (None: no region; the toggle is left as it is)."""
        if tp_id is not None:
            self.win.actions_by_id["referral"].setChecked(True)
        self.show_for(tp_id)

    def draw(self) -> None:
        scene = self.win.scene
        self.weights = None
        atlas = scene.atlas
        tp = (
            atlas.trigger_points.get(self.trigger_point) if atlas is not None and self.trigger_point else None
        )
        if tp is None or not self.shown:
            scene.clear_referral()
            return
        if tp.referral_region is None:
            scene.clear_referral()
            self.win.statusBar().showMessage(
                f"No referral region for {tp.short_name} in this atlas: none is drawn", 5000
            )
            return
        self.weights = region_weights_on_atlas(tp.referral_region, atlas, scene.side)
        scene.show_referral(self.weights)
