"""Compile the safety engine's entry kernels ahead of time, for the one-folder bundle.

    python packaging/compile_kernels.py OUTPUT_FOLDER

writes the extension module `_thighmap_kernels` (one compiled function per entry kernel of
thighmap.safety.kernels, with the argument types the engine calls it with, plus
`source_digest()`, the stamp of the kernels' source it was built from). The bundle carries
this module instead of numba and LLVM (about 170 MB): thighmap.safety.kernels takes its
entry kernels from it when the stamp matches its own source, and never imports numba.

It uses numba's ahead-of-time compiler (`numba.pycc`, pending deprecation in numba but
kept for this use; a C compiler is needed, as for any extension module). The code is
compiled for a generic x86-64 processor (pycc's default), so the bundle runs on any
machine of that family, as the cached JIT kernels it replaces did with
NUMBA_CPU_NAME=generic. Each kernel is compiled with the options the JIT uses for it
(`kernels._JIT`: numpy's error model, the GIL released for the batch threads).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

MODULE_NAME = "_thighmap_kernels"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out_dir = Path(argv[0]).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    from thighmap.safety import kernels

    if kernels._AHEAD_OF_TIME is not None:
        print("compile_kernels: another _thighmap_kernels is importable; run without it", file=sys.stderr)
        return 2
    kernels.warm_up()  # compiles each entry kernel for the types the engine passes
    warnings.simplefilter("ignore")  # pycc's pending-deprecation notice
    from numba.core.compiler import Flags
    from numba.pycc import CC
    from numba.pycc import compiler as pycc_compiler

    class KernelFlags(Flags):
        """pycc compiles with numba's default flags; the kernels need those of their JIT."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.error_model = kernels._JIT["error_model"]
            self.release_gil = kernels._JIT["nogil"]

    pycc_compiler.Flags = KernelFlags
    cc = CC(MODULE_NAME)
    cc.output_dir = str(out_dir)
    for name in kernels.ENTRY_KERNELS:
        dispatcher = getattr(kernels, name)
        signatures = dispatcher.nopython_signatures
        if len(signatures) != 1:
            print(f"compile_kernels: {name} compiled for {len(signatures)} argument types", file=sys.stderr)
            return 1
        cc.export(name, signatures[0])(dispatcher.py_func)
    digest = kernels.source_digest()

    def source_digest() -> int:
        return digest

    cc.export("source_digest", "int64()")(source_digest)
    for old in out_dir.glob(f"{MODULE_NAME}.*"):
        old.unlink()
    start = time.perf_counter()
    cc.compile()
    built = next(out_dir.glob(f"{MODULE_NAME}.*"))
    seconds = time.perf_counter() - start
    print(f"compiled {len(kernels.ENTRY_KERNELS)} kernels into {built} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
