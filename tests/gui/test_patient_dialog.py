"""The patient dialog starts from the reference adult and shows its values beside each
field; opened through the window's own menu action."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from thighmap.anatomy.reference import PROFILE_TO_REFERENCE, reference_profile
from thighmap.gui.dialogs import PatientDialog

pytestmark = pytest.mark.gui


def test_reference_profile_maps_the_atlas_names(session) -> None:  # type: ignore[no-untyped-def]
    ref = session.reference_atlas.reference_adult
    values = reference_profile(ref)
    assert set(values) == set(PROFILE_TO_REFERENCE)
    assert values["subcutaneous_fat_mm"] == ref["posterior_subcutaneous_fat_mm"]
    assert reference_profile({"posterior_subcutaneous_fat_mm": "12"}) == {}  # text is not a value


def test_the_patient_dialog_starts_from_the_reference_adult(window, qtbot, session) -> None:  # type: ignore[no-untyped-def]
    ref = session.reference_atlas.reference_adult
    seen: dict[str, object] = {}

    def inspect_and_edit() -> None:
        dlg = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, PatientDialog) and w.isVisible()
        )
        seen["values"] = {k: s.value() for k, s in dlg.spin.items()}
        seen["labels"] = {k: lab.text() for k, lab in dlg.reference_labels.items()}
        seen["enabled"] = [s.isEnabled() for s in dlg.spin.values()]
        # the user ticks the fat box, types 30 mm, then goes back to the reference adult
        qtbot.mouseClick(dlg.use["subcutaneous_fat_mm"], Qt.MouseButton.LeftButton)
        spin = dlg.spin["subcutaneous_fat_mm"]
        spin.selectAll()
        qtbot.keyClicks(spin, "30")
        seen["typed"] = spin.value()
        dlg.sex.setCurrentIndex(dlg.sex.findData("female"))
        seen["female_label"] = dlg.reference_labels["subcutaneous_fat_mm"].text()
        buttons = dlg.findChild(QDialogButtonBox)
        qtbot.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Reset), Qt.MouseButton.LeftButton)
        seen["after_reset"] = (spin.value(), dlg.use["subcutaneous_fat_mm"].isChecked())
        dlg.reject()

    QTimer.singleShot(300, inspect_and_edit)
    window.edit_patient()
    assert seen, "the patient dialog did not open"
    assert seen["values"] == {
        "thigh_length_mm": ref["thigh_length_mm"],
        "mid_thigh_circumference_mm": ref["mid_thigh_circumference_mm"],
        "subcutaneous_fat_mm": ref["posterior_subcutaneous_fat_mm"],  # 12 mm, not the middle of the range
    }
    assert seen["enabled"] == [False, False, False]  # unticked: the reference adult is used
    labels = seen["labels"]
    assert labels["subcutaneous_fat_mm"] == f"reference adult: {ref['posterior_subcutaneous_fat_mm']:g} mm"
    assert labels["thigh_length_mm"] == f"reference adult: {ref['thigh_length_mm']:g} mm"
    assert labels["sex"] == f"reference adult: {ref['sex']}"
    assert seen["typed"] == 30.0
    female_fat = session.reference_atlas.fitting.female_default_posterior_fat_mm
    assert f"for a woman: {female_fat:g} mm" in str(seen["female_label"])
    assert seen["after_reset"] == (ref["posterior_subcutaneous_fat_mm"], False)
    assert window.plan.patient is None  # cancelled: nothing changed
