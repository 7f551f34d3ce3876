"""Giving a plan another patient: the one function the window (and any other caller)
uses to move a plan's needles with the anatomy when its patient profile changes.

The rules are in :mod:`thighmap.planning.refit`; this module supplies the two fits (the
same fitted atlases :func:`engine.model_for_patient` gives the check, the maps and the
report) and the point map between them (:class:`thighmap.anatomy.fitting.FitMap`).
"""

from __future__ import annotations

import numpy as np

from thighmap.anatomy.atlas import Atlas
from thighmap.anatomy.fitting import FitMap, same_fit
from thighmap.planning import PatientProfile, Plan
from thighmap.planning.refit import CarriedPlan, carry_plan
from thighmap.safety.engine import PlanningAtlas, SafetyModel, model_for_patient, model_for_plan


class CarryingAtlas(PlanningAtlas):
    """The new fit as :func:`planning.refit.carry_plan` needs it (atlas frame)."""

    def skin_entry_on_line(self, point_mm: np.ndarray, direction: np.ndarray) -> np.ndarray | None:
        return skin_entry_on_line(self.model, point_mm, direction)


def skin_entry_on_line(model: SafetyModel, point_mm: np.ndarray, direction: np.ndarray) -> np.ndarray | None:
    """Where the line through ``point_mm`` along ``direction`` first enters the skin from
    outside (the outer skin surface), in the atlas frame; ``None`` if it never does."""
    p = np.asarray(point_mm, float).reshape(3)
    d = np.asarray(direction, float).reshape(3)
    d = d / np.linalg.norm(d)
    spans = model.tissues.intervals(p, d, 400.0, behind=True)
    skin = [iv for iv in spans if iv.structure == "skin"]
    if not skin:
        return None
    return p + d * float(skin[0].enter_mm)


def carry_plan_to_patient(
    plan: Plan, patient: PatientProfile | None, base: Atlas | None = None
) -> CarriedPlan:
    """``plan`` with ``patient`` as its patient, every needle moved with the fit.

    Raises ``ValueError`` (from the fit) when the atlas cannot be fitted to ``patient``."""
    old = model_for_plan(plan, base)
    new = model_for_patient(patient, base, "right")
    if same_fit(old.atlas, new.atlas):  # e.g. only the sex changed, with the fat given
        return CarriedPlan(plan.with_changes(patient=patient), [])
    fit_map = FitMap(old.atlas, new.atlas)
    return carry_plan(plan, patient, fit_map, CarryingAtlas(new), CarryingAtlas(old))
