"""Shared fixtures: the bundled atlas with its committed meshes, loaded once."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_API", "pyside6")


@pytest.fixture(scope="session")
def atlas():
    from thighmap.anatomy.atlas import load_atlas

    return load_atlas()
