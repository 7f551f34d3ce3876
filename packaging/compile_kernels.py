"""Compile the safety engine's entry kernels ahead of time, for the one-folder bundle.

    python packaging/compile_kernels.py OUTPUT_FOLDER

writes the extension module `_thighmap_kernels` (one compiled function per entry kernel of
thighmap.safety.kernels, with the argument types the engine calls it with, plus
`source_digest()`, the stamp of the kernels' source it was built from). The bundle carries
this module instead of numba and LLVM (about 170 MB): thighmap.safety.kernels takes its
entry kernels from it when the stamp matches its own source, and never imports numba.

The compiler itself is thighmap.safety.ahead_of_time (which other installations use to
build the same module once into the user's cache folder): numba's ahead-of-time compiler
(`numba.pycc`; a C compiler and setuptools are needed, as for any extension module), for
a generic x86-64 processor, so the bundle runs on any machine of that family, each kernel
with the options the JIT uses for it.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ["THIGHMAP_KERNEL_CACHE"] = "off"  # compile with numba, not from a module built before
    from thighmap.safety.ahead_of_time import main

    raise SystemExit(main(sys.argv[1:]))
