"""Patient profile dialog, demonstration step dialog, About box, and the one way to show
a message holding text from a file (:func:`show_plain_error`: plain text, never HTML)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

import thighmap
from thighmap.anatomy.reference import reference_profile
from thighmap.planning import CONTRAINDICATION_LABELS, PATIENT_BOUNDS, SEXES, PatientProfile

LICENCES: tuple[tuple[str, str], ...] = (
    ("PySide6 (Qt for Python)", "LGPL-3.0"),
    ("VTK", "BSD-3-Clause"),
    ("PyVista", "MIT"),
    ("pyvistaqt", "MIT"),
    ("NumPy", "BSD-3-Clause"),
    ("SciPy", "BSD-3-Clause"),
    ("trimesh", "MIT"),
    ("Matplotlib (PDF reports)", "PSF-based Matplotlib licence"),
    ("imageio (animated GIF)", "BSD-2-Clause"),
    ("Pillow (images)", "MIT-CMU (HPND)"),
    ("PyInstaller bootloader (the bundled application only)", "GPL-2.0 with the bootloader exception"),
)

_LABELS = {
    "thigh_length_mm": "Thigh length",
    "mid_thigh_circumference_mm": "Mid-thigh circumference",
    "subcutaneous_fat_mm": "Posterior subcutaneous fat",
}
_HINTS = {
    "thigh_length_mm": "greater trochanter / gluteal fold to the knee joint line",
    "mid_thigh_circumference_mm": "tape measure around the thigh halfway down",
    "subcutaneous_fat_mm": "skin to fascia, posterior mid-thigh (ultrasound, or skinfold / 2)",
}


class PatientDialog(QDialog):
    """Edit the plan's patient profile; unchecked fields use the reference adult."""

    def __init__(
        self,
        patient: PatientProfile | None,
        reference: dict[str, object],
        parent: QWidget | None = None,
        female_fat_mm: float | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Patient profile")
        self._female_fat_mm = female_fat_mm  # the fat used for a woman whose fat is not given
        self._extra = dict(patient.extra) if patient is not None else {}
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel(
                "The atlas is fitted to these measurements before every check; the danger zones "
                "shrink to the spread that remains once the measurements are known.\n"
                "Leave a box unticked to use the reference adult's value."
            )
        )
        form = QFormLayout()
        self.use: dict[str, QCheckBox] = {}
        self.spin: dict[str, QDoubleSpinBox] = {}
        self.reference_values = reference_profile(reference)  # the atlas's reference adult
        self.reference_labels: dict[str, QLabel] = {}
        for key, (lo, hi) in PATIENT_BOUNDS.items():
            value = getattr(patient, key) if patient is not None else None
            ref = self.reference_values.get(key)
            box = QCheckBox()
            spin = QDoubleSpinBox(
                decimals=0 if key != "subcutaneous_fat_mm" else 1,
                minimum=lo,
                maximum=hi,
                suffix=" mm",
            )
            spin.setValue(
                float(value if value is not None else ref if isinstance(ref, int | float) else (lo + hi) / 2)
            )
            box.setChecked(value is not None)
            spin.setEnabled(value is not None)
            box.toggled.connect(spin.setEnabled)
            spin.setToolTip(_HINTS[key])
            row = QHBoxLayout()
            row.addWidget(box)
            row.addWidget(spin, 1)
            if ref is not None:
                self.reference_labels[key] = QLabel(f"reference adult: {ref:g} mm")
                row.addWidget(self.reference_labels[key])
            form.addRow(_LABELS[key], row)
            self.use[key] = box
            self.spin[key] = spin
        self.sex = QComboBox()
        for s in SEXES:
            self.sex.addItem(s, s)
        self.sex.setCurrentIndex(
            SEXES.index(patient.sex)
            if patient is not None and patient.sex in SEXES
            else SEXES.index("unspecified")
        )
        sex_row = QHBoxLayout()
        sex_row.addWidget(self.sex, 1)
        if isinstance(reference.get("sex"), str):
            self.reference_labels["sex"] = QLabel(f"reference adult: {reference['sex']}")
            sex_row.addWidget(self.reference_labels["sex"])
        form.addRow("Sex", sex_row)
        self.sex.currentIndexChanged.connect(self._show_fat_reference)
        self._show_fat_reference()
        lay.addLayout(form)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #d7263d")
        self.problem.setWordWrap(True)
        lay.addWidget(self.problem)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.Reset
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Reset).setText("Reference adult")
        buttons.button(QDialogButtonBox.StandardButton.Reset).clicked.connect(self._reset)
        lay.addWidget(buttons)
        self.result_profile: PatientProfile | None = patient

    def _show_fat_reference(self, _index: int = 0) -> None:
        label = self.reference_labels.get("subcutaneous_fat_mm")
        ref = self.reference_values.get("subcutaneous_fat_mm")
        if label is None or ref is None:
            return
        if self.sex.currentData() == "female" and self._female_fat_mm is not None:
            label.setText(f"reference adult: {ref:g} mm; unticked for a woman: {self._female_fat_mm:g} mm")
        else:
            label.setText(f"reference adult: {ref:g} mm")

    def _reset(self) -> None:
        for key, box in self.use.items():
            box.setChecked(False)
            if key in self.reference_values:
                self.spin[key].setValue(self.reference_values[key])
        self.sex.setCurrentIndex(SEXES.index("unspecified"))

    def profile(self) -> PatientProfile | None:
        values = {k: (self.spin[k].value() if self.use[k].isChecked() else None) for k in self.use}
        sex = str(self.sex.currentData())
        if all(v is None for v in values.values()) and sex == "unspecified" and not self._extra:
            return None
        return PatientProfile(sex=sex, extra=self._extra, **values)

    def _accept(self) -> None:
        prof = self.profile()
        problems = prof.problems() if prof is not None else []
        if problems:
            self.problem.setText("\n".join(f"{_LABELS.get(f, f)}: {m}" for f, _v, m in problems))
            return
        self.result_profile = prof
        self.accept()


_ANSWERS = ("not asked", "no", "yes")


def _ok_cancel(dialog: QDialog) -> QDialogButtonBox:
    """OK and Cancel buttons that accept and reject the dialog."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class ContraindicationDialog(QDialog):
    """Record the contraindication checklist in the plan (it goes into the report)."""

    def __init__(self, recorded: dict[str, bool] | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Contraindication checklist")
        note = QLabel(
            "Ask before needling and record the answers; a “yes” is a reason to reconsider. "
            "The checklist is saved in the plan and printed in its report."
        )
        note.setWordWrap(True)
        form = QFormLayout()
        self.answers: dict[str, QComboBox] = {}
        for key, label in CONTRAINDICATION_LABELS.items():
            box = QComboBox()
            box.addItems(_ANSWERS)
            if recorded is not None and key in recorded:
                box.setCurrentIndex(2 if recorded[key] else 1)
            form.addRow(label, box)
            self.answers[key] = box
        buttons = _ok_cancel(self)
        lay = QVBoxLayout(self)
        lay.addWidget(note)
        lay.addLayout(form)
        lay.addWidget(buttons)

    def recorded(self) -> dict[str, bool] | None:
        """The answers given (None when none was asked)."""
        out = {k: box.currentIndex() == 2 for k, box in self.answers.items() if box.currentIndex() > 0}
        return out or None


class StepDialog(QDialog):
    """Title and short text of a demonstration step being recorded."""

    def __init__(self, number: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Record step {number}")
        self.title = QLineEdit(f"Step {number}")
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("What the audience should notice (shown in the presentation)")
        form = QFormLayout()
        form.addRow("Title", self.title)
        form.addRow("Text", self.text)
        note = QLabel("The step keeps the current view: camera, visible layers, opacities, needles.")
        note.setWordWrap(True)
        buttons = _ok_cancel(self)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(note)
        lay.addWidget(buttons)


def about_html() -> str:
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(lic)}</td></tr>" for n, lic in LICENCES)
    return (
        f"<h2>thighmap {html.escape(thighmap.__version__)}</h2>"
        "<p>A 3D atlas of the posterior thigh with dry-needling trigger points and an "
        "insertion checker.</p>"
        f"<p style='color:#d7263d'><b>{html.escape(thighmap.NOT_A_MEDICAL_DEVICE)}</b></p>"
        "<p>Built with:</p>"
        f"<table cellspacing='4'><tr><th align='left'>Library</th><th align='left'>Licence"
        f"</th></tr>{rows}</table>"
    )


def show_about(parent: QWidget) -> None:
    box = QMessageBox(parent)
    box.setWindowTitle("About thighmap")
    box.setTextFormat(box.textFormat().RichText)
    box.setText(about_html())
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.exec()


MAX_MESSAGE_CHARS = 4000  # what a message box shows of a long message (the log has it all)


def plain_message_text(text: str) -> str:
    """``text`` as a message box shows it: cut to :data:`MAX_MESSAGE_CHARS` with an
    ellipsis, unprintable characters (lone surrogates, controls other than line breaks)
    escaped."""
    from thighmap.planning.planfile import printable

    lines = text[: MAX_MESSAGE_CHARS + 1].split("\n")
    shown = "\n".join(printable(line, MAX_MESSAGE_CHARS) for line in lines)
    return shown if len(shown) <= MAX_MESSAGE_CHARS else shown[: MAX_MESSAGE_CHARS - 1] + "…"


def plain_message_box(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
    """A message box whose text is plain text: a needle id such as ``<img src=...>`` from
    a plan file is shown as written, never rendered as HTML."""
    box = QMessageBox(parent)
    box.setIcon(icon)
    box.setWindowTitle(plain_message_text(title)[:200])
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(plain_message_text(text))
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    return box


def show_plain_error(parent: QWidget | None, title: str, text: str) -> None:
    """Show an error (a refused plan, a failed save) as plain text and wait for OK."""
    plain_message_box(parent, QMessageBox.Icon.Critical, title, text).exec()
