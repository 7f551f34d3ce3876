"""Shared fixtures: the bundled atlas with its committed meshes, loaded once."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_API", "pyside6")
# the suite tests numba's kernels (and their cache) unless a test builds the module compiled
# ahead of time itself: one built into the user's cache folder earlier is not used
os.environ.setdefault("THIGHMAP_KERNEL_CACHE", "off")


@pytest.fixture(scope="session")
def atlas():
    from thighmap.anatomy.atlas import load_atlas

    return load_atlas()
