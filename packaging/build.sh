#!/usr/bin/env bash
# Build the one-folder Linux application in dist/thighmap/ and check it with its own
# self-test. Used by `make bundle`; sets up .venv first if needed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/bootstrap.sh
# PyInstaller, and setuptools for numba's ahead-of-time compiler (packaging/compile_kernels.py)
.venv/bin/python -m pip install -q "pyinstaller>=6.0" setuptools
start=$(date +%s)
# the safety kernels, compiled ahead of time: the bundle carries them instead of numba and LLVM
.venv/bin/python packaging/compile_kernels.py build/aot
.venv/bin/python -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/thighmap.spec
# Symbol tables are of no use at run time: strip them from every library where that leaves
# the library loadable (packaging/strip_libraries.py checks each stripped copy; the ones
# patchelf rewrote, numpy's OpenBLAS among them, are kept as they are). The self-test below
# and packaging/run_features.sh load them.
.venv/bin/python packaging/strip_libraries.py dist/thighmap
cp packaging/thighmap.desktop dist/thighmap/
echo "size by component (MB):"
du -sm dist/thighmap/_internal/* dist/thighmap/thighmap | sort -rn | sed -n 1,12p  # sed reads it all: no SIGPIPE under pipefail
echo "built dist/thighmap in $(( $(date +%s) - start )) s, $(du -sh dist/thighmap | cut -f1)"
dist/thighmap/thighmap --self-test
