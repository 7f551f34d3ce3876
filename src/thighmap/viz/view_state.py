"""What the 3D view shows, as one Qt-free model that tells its views when it changes.

Every layer has a key, the same in the Layers tree, the 3D scene, the cross-section and
demonstration steps:

- a structure id (``"sciatic_nerve"``): the structure itself;
- ``"zone:<id>"``: a danger or caution structure's zone; ``"tp:<id>"``: one trigger point;
- ``"needles"``, ``"labels"`` (structure labels), ``"landmarks"``, ``"tp_labels"``,
  ``"zones"`` (every zone at once), ``"trigger_points"`` (every trigger point at once).

Setters emit only when something changes, so a view that writes back the value it was
just given (a check box that was ticked by the model) ends the exchange by itself: no
view needs to block its own signals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from psygnal import Signal

SWITCHES = {  # the layer keys that are one switch, with their default
    "needles": True,
    "labels": True,
    "landmarks": False,
    "tp_labels": False,
    "zones": True,
    "trigger_points": True,
}
SECTION_MODES = ("long", "across")
SECTION_FOLLOW = ("tip", "fixed")


@dataclass(frozen=True)
class SectionSettings:
    """The cross-section: which needle plane, the axial level (z, mm) and whether that
    level follows the selected needle's tip. (Whether it is on screen is its dock's.)"""

    mode: str = "long"
    follow: str = "tip"
    level_mm: float = 200.0


class ViewState:
    """Visibility, opacity, labels, zones, trigger points and cross-section of the view."""

    visibility_changed = Signal(str, bool)  # layer key, visible
    opacity_changed = Signal(str, float)  # layer key, opacity 0..1
    hidden_needles_changed = Signal(object)  # frozenset of needle ids hidden one by one
    section_changed = Signal(object)  # the new SectionSettings

    def __init__(self) -> None:
        self.hidden: set[str] = set()  # structures switched off
        self.hidden_zones: set[str] = set()  # danger and caution zones switched off one by one
        self.hidden_tps: set[str] = set()  # trigger points switched off one by one
        self.hidden_needles: frozenset[str] = frozenset()  # needles hidden by id (a step)
        self.switches: dict[str, bool] = dict(SWITCHES)
        self.opacity: dict[str, float] = {}  # only the layers whose opacity was changed
        self.section = SectionSettings()

    # ------------------------------------------------------------------ visibility
    def _set_of(self, key: str) -> tuple[set[str], str]:
        kind, sep, ident = key.partition(":")
        if sep and kind == "zone":
            return self.hidden_zones, ident
        if sep and kind == "tp":
            return self.hidden_tps, ident
        return self.hidden, key

    def is_visible(self, key: str) -> bool:
        if key in self.switches:
            return self.switches[key]
        hidden, ident = self._set_of(key)
        return ident not in hidden

    def set_visible(self, key: str, visible: bool) -> bool:
        """Switch a layer on or off; True when that changed anything."""
        visible = bool(visible)
        if self.is_visible(key) == visible:
            return False
        if key in self.switches:
            self.switches[key] = visible
        else:
            hidden, ident = self._set_of(key)
            if visible:
                hidden.discard(ident)
            else:
                hidden.add(ident)
        self.visibility_changed.emit(key, visible)
        return True

    def set_many(self, visible_by_key: dict[str, bool]) -> None:
        for key, visible in visible_by_key.items():
            self.set_visible(key, visible)

    def show_only(self, keys: Iterable[str], all_keys: Iterable[str]) -> None:
        """Of ``all_keys`` (say every structure) show ``keys`` and hide the rest."""
        keep = set(keys)
        self.set_many({k: k in keep for k in all_keys})

    def any_zone_visible(self, zone_ids: Iterable[str]) -> bool:
        ids = list(zone_ids)
        return not ids or any(z not in self.hidden_zones for z in ids)

    def set_hidden_needles(self, ids: Iterable[str]) -> None:
        new = frozenset(ids)
        if new != self.hidden_needles:
            self.hidden_needles = new
            self.hidden_needles_changed.emit(new)

    # ------------------------------------------------------------------ opacity
    def opacity_of(self, key: str, default: float = 1.0) -> float:
        return self.opacity.get(key, default)

    def set_opacity(self, key: str, value: float) -> bool:
        value = float(value)
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"opacity of {key!r} must be between 0 and 1, got {value!r}")
        if key in self.opacity and abs(self.opacity[key] - value) < 1e-9:
            return False
        self.opacity[key] = value
        self.opacity_changed.emit(key, value)
        return True

    # ------------------------------------------------------------------ labels
    @property
    def labels(self) -> dict[str, bool]:
        """The label switches as a demonstration step records them."""
        return {
            "structures": self.switches["labels"],
            "landmarks": self.switches["landmarks"],
            "trigger_points": self.switches["tp_labels"],
        }

    # ------------------------------------------------------------------ cross-section
    def set_section(
        self,
        *,
        mode: str | None = None,
        follow: str | None = None,
        level_mm: float | None = None,
    ) -> bool:
        s = self.section
        if mode is not None and mode not in SECTION_MODES:
            raise ValueError(f"section mode must be one of {SECTION_MODES}, got {mode!r}")
        if follow is not None and follow not in SECTION_FOLLOW:
            raise ValueError(f"section follow must be one of {SECTION_FOLLOW}, got {follow!r}")
        if level_mm is not None and not math.isfinite(float(level_mm)):
            raise ValueError(f"section level_mm must be a finite number, got {level_mm!r}")
        new = replace(
            s,
            mode=s.mode if mode is None else mode,
            follow=s.follow if follow is None else follow,
            level_mm=s.level_mm if level_mm is None else float(level_mm),
        )
        if new == s:
            return False
        self.section = new
        self.section_changed.emit(new)
        return True


__all__ = ["SECTION_FOLLOW", "SECTION_MODES", "SWITCHES", "SectionSettings", "ViewState"]
