"""The thighmap desktop window (PySide6 + PyVista/VTK).

A thin view over the core: widgets send intentions (place an entry, change a depth,
fit to a patient) to :mod:`thighmap.planning` and :mod:`thighmap.safety`, and redraw
what the core answers. Nothing here decides whether a needle is safe.

Entry points: :func:`thighmap.gui.app.run` and :class:`thighmap.gui.app.MainWindow`.
"""
