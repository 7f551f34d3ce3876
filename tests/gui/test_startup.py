"""Start-up of the window: the safety kernels load after the first frame, and on a first
run the status bar says they are compiling until they are ready."""

from __future__ import annotations

import threading

import pytest


@pytest.mark.parametrize("cold", [True, False])
def test_the_status_bar_says_while_the_kernels_compile(window, qtbot, monkeypatch, cold: bool) -> None:  # type: ignore[no-untyped-def]
    from thighmap.gui import app
    from thighmap.safety import kernels

    release = threading.Event()
    started = threading.Event()

    def slow_compile() -> None:  # stands in for the compilers (about 30 s on a first run)
        started.set()
        release.wait(30)

    first = kernels.COMPILING_MESSAGE if cold else None
    monkeypatch.setattr(kernels, "first_run_message", lambda: first)
    monkeypatch.setattr(kernels, "prepare", slow_compile)
    monkeypatch.setattr(kernels, "warm_up", slow_compile)
    app._warm_kernels(window)
    assert started.wait(10)
    message = window.statusBar().currentMessage()
    if cold:
        assert message.startswith("Compiling the safety kernels for this machine (first run only")
    else:
        assert "Compiling" not in message
    release.set()
    if cold:
        qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "Safety kernels ready", timeout=5000)
