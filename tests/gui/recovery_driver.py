"""Run by test_recovery.py as a separate process: open a plan in the real window, type a
new depth for its first needle into the Needles panel, and keep running until killed.

Usage: python recovery_driver.py PLAN DEPTH_MM   (prints "edited" once the edit is made)
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from thighmap.gui.app import MainWindow


def main() -> int:
    plan_path, depth_mm = sys.argv[1], float(sys.argv[2])
    app = QApplication(sys.argv[:1])
    window = MainWindow(plan_path)
    window.show()

    def edit() -> None:
        window.needles.depth.setValue(depth_mm)  # as typed into the depth box
        print("edited", window.plan.needles[0].depth_mm, flush=True)

    QTimer.singleShot(300, edit)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
