"""The safety kernels compiled ahead of time: found, built and kept per machine.

kernels.py takes its entry kernels from the extension module `_thighmap_kernels` when one
compiled from its very source (the stamp: its SHA-256) can be found, and then never
imports numba (about 0.6 s of a check's start: importing numba, loading its cache):

- the one-folder bundle carries it (packaging/compile_kernels.py, which calls
  :func:`compile_into`);
- any other installation (a checkout, an editable install, a wheel) builds it once, on the
  first check after installation or after kernels.py changed, into the user's cache
  folder (:func:`cache_root`: ``$XDG_CACHE_HOME/thighmap/kernels``, ``~/.cache/...``),
  one sub-folder per source stamp and numpy version (the KEEP most recent are kept), the
  file name carrying Python's own tag for extension modules. The command line says so
  on stderr, the window in its status bar (``COMPILING_MESSAGE``).

``THIGHMAP_KERNEL_CACHE=DIR`` moves that folder; ``THIGHMAP_KERNEL_CACHE=off`` turns it
off (the kernels are then compiled by numba at run time and kept in numba's cache, as
when no module can be built: no C compiler, no setuptools; the reason is kept in the
folder's ``FAILED`` file, and deleting the folder tries again).

The module is compiled with numba's ahead-of-time compiler (`numba.pycc`, pending
deprecation in numba but kept for this use) for a generic x86-64 processor (pycc's
default), each kernel with the options the JIT uses for it (`kernels._JIT`: numpy's
error model, the GIL released for the batch threads). tests/test_kernels.py holds its
reports to the numba kernels' byte for byte.

    python -m thighmap.safety.ahead_of_time OUTPUT_FOLDER

compiles the module into OUTPUT_FOLDER in this process.

Only the standard library is imported at the top: kernels.py imports this module on every
start.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

MODULE_NAME = "_thighmap_kernels"
ENV_CACHE = "THIGHMAP_KERNEL_CACHE"
FAILED_NAME = "FAILED"
KEEP = 6  # modules kept in the cache folder (one per version of kernels.py and numpy)
# what a first run says while it builds the module (about 10 s compiling with numba, whose
# cache it also fills, and 17 s compiling ahead of time, here)
COMPILING_MESSAGE = "compiling the safety kernels for this machine (first run only, about 30 s)…"


def cache_root() -> Path | None:
    """The folder that holds the modules built on this machine, or None when there is
    none (THIGHMAP_KERNEL_CACHE=off, or a frozen bundle, which carries its own)."""
    env = os.environ.get(ENV_CACHE, "").strip()
    if env:
        return None if env.lower() == "off" else Path(env)
    if getattr(sys, "frozen", False):
        return None
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "thighmap" / "kernels"


def cache_folder(digest: int) -> Path | None:
    """The folder of the module compiled from the kernels.py with this stamp, for this
    numpy (the module is built against numpy's C interface)."""
    root = cache_root()
    if root is None:
        return None
    import numpy as np

    return root / f"{digest:015x}-numpy{np.__version__}"


def module_file(folder: Path) -> Path:
    """The module's file in a folder, named with this Python's tag (cpython-311-x86_64-...)."""
    return folder / f"{MODULE_NAME}{importlib.machinery.EXTENSION_SUFFIXES[0]}"


def load_cached(digest: int) -> ModuleType | None:
    """The module built on this machine from the kernels.py with this stamp, or None (not
    built yet, no cache, or a file that does not load)."""
    folder = cache_folder(digest)
    if folder is None:
        return None
    path = module_file(folder)
    if not path.is_file():
        return None
    try:
        loader = importlib.machinery.ExtensionFileLoader(MODULE_NAME, str(path))
        spec = importlib.util.spec_from_file_location(MODULE_NAME, path, loader=loader)
        if spec is None:
            return None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except (ImportError, OSError):
        return None
    if getattr(module, "source_digest", lambda: None)() != digest:
        return None
    return module


def can_build(digest: int) -> bool:
    """Whether a first check should try to build the module: there is a cache folder and
    no earlier attempt for this stamp failed."""
    folder = cache_folder(digest)
    if folder is None or (folder / FAILED_NAME).exists():
        return False
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder.parent, os.W_OK)


def build_in_cache(digest: int) -> str | None:
    """Compile the module in a child process (numba's compiler patched as pycc needs is
    kept out of this one) into the cache folder for this stamp; None when it is there,
    else why not (also written to the folder's FAILED file, so that later runs do not try
    again). Only the most recent modules are kept (_prune)."""
    folder = cache_folder(digest)
    if folder is None:
        return "no cache folder"
    import thighmap

    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    except OSError as exc:
        return f"cannot write to {folder.parent}: {exc}"
    try:
        package_root = str(Path(thighmap.__file__).resolve().parents[1])
        env = dict(os.environ, **{ENV_CACHE: "off"})  # the child compiles with numba
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        child = subprocess.run(
            [sys.executable, "-m", "thighmap.safety.ahead_of_time", str(work)],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        built = sorted(work.glob(f"{MODULE_NAME}.*"))
        if child.returncode != 0 or not built:
            reason = (child.stderr.strip() or f"exit code {child.returncode}").splitlines()[-20:]
            if child.returncode > 0:  # failed, rather than interrupted: do not try at every start
                folder.mkdir(exist_ok=True)
                (folder / FAILED_NAME).write_text("\n".join(reason) + "\n", encoding="utf-8")
            return reason[-1] if reason else "no module built"
        folder.mkdir(exist_ok=True)
        os.replace(built[0], module_file(folder))  # atomic: a concurrent start sees all or nothing
    except OSError as exc:
        return f"cannot build in {folder.parent}: {exc}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _prune(folder.parent)
    return None


def _prune(root: Path) -> None:
    """Keep the KEEP most recently built modules (other versions of kernels.py: older
    installations, other checkouts) and remove the rest."""
    try:
        folders = [f for f in root.iterdir() if f.is_dir() and not f.name.startswith(".")]
        folders.sort(key=lambda f: f.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in folders[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


def compile_into(out_dir: Path) -> Path:
    """Compile the module into out_dir in this process (numba, a C compiler and setuptools
    needed); returns its path. Raises RuntimeError when it cannot."""
    import warnings

    from thighmap.safety import kernels

    if kernels._AHEAD_OF_TIME is not None:
        raise RuntimeError("another _thighmap_kernels is importable; run without it")
    out_dir.mkdir(parents=True, exist_ok=True)
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
            raise RuntimeError(f"{name} compiled for {len(signatures)} argument types")
        cc.export(name, signatures[0])(dispatcher.py_func)
    digest = kernels.source_digest()

    def source_digest() -> int:
        return digest

    cc.export("source_digest", "int64()")(source_digest)
    for old in out_dir.glob(f"{MODULE_NAME}.*"):
        old.unlink()
    cc.compile()
    return next(out_dir.glob(f"{MODULE_NAME}.*"))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m thighmap.safety.ahead_of_time OUTPUT_FOLDER", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        built = compile_into(Path(argv[0]).resolve())
    except RuntimeError as exc:
        print(f"compile_kernels: {exc}", file=sys.stderr)
        return 1
    from thighmap.safety import kernels

    seconds = time.perf_counter() - start
    print(f"compiled {len(kernels.ENTRY_KERNELS)} kernels into {built} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
