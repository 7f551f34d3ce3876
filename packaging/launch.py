"""Entry point of the bundled application (PyInstaller runs this file)."""

import os

# The safety kernels' machine code is compiled once, when the bundle is built, and kept in
# numba's cache inside the bundle. numba keys that cache on the CPU it compiled for; a
# generic x86-64 target makes the cache valid on every machine the bundle is copied to, so
# no start compiles anything (set NUMBA_CPU_NAME to override).
os.environ.setdefault("NUMBA_CPU_NAME", "generic")

from thighmap.cli import main

raise SystemExit(main())
