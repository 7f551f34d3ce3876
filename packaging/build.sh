#!/usr/bin/env bash
# Build the one-folder Linux application in dist/thighmap/ and check it with its own
# self-test. Used by `make bundle`; sets up .venv first if needed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/bootstrap.sh
.venv/bin/python -m pip install -q "pyinstaller>=6.0"
start=$(date +%s)
.venv/bin/python -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/thighmap.spec
# Symbol tables are of no use at run time: strip them from VTK's, LLVM's and Python's own
# libraries (about a quarter of their size; see the note in thighmap.spec on why not every
# library). The self-test below loads all three.
if command -v strip >/dev/null 2>&1; then
  find dist/thighmap/_internal/vtkmodules dist/thighmap/_internal/llvmlite -name '*.so*' -type f \
    -exec strip --strip-unneeded {} +
  strip --strip-unneeded dist/thighmap/_internal/libpython3*.so*
  # and from the extension modules of wheels that auditwheel did not rewrite (no rpath to a
  # `.libs` folder) and of Python's own lib-dynload: about 23 MB, mostly fontTools',
  # kiwisolver's and numba's debugging symbols
  { find dist/thighmap/_internal/fontTools dist/thighmap/_internal/kiwisolver \
    dist/thighmap/_internal/matplotlib dist/thighmap/_internal/contourpy dist/thighmap/_internal/numba \
    dist/thighmap/_internal/rpds dist/thighmap/_internal/python3*/lib-dynload -name '*.so*' -type f \
    2>/dev/null || true; } | while read -r lib; do
    objdump -p "$lib" | grep -Eq '(RPATH|RUNPATH).*\.libs' || echo "$lib"
  done | xargs -r strip --strip-unneeded
else
  echo "strip (binutils) is not installed: the bundle keeps its symbol tables (about 150 MB more)"
fi
cp packaging/thighmap.desktop dist/thighmap/
echo "size by component (MB):"
du -sm dist/thighmap/_internal/* dist/thighmap/thighmap | sort -rn | head -12
echo "built dist/thighmap in $(( $(date +%s) - start )) s, $(du -sh dist/thighmap | cut -f1)"
dist/thighmap/thighmap --self-test
