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
else
  echo "strip (binutils) is not installed: the bundle keeps its symbol tables (about 130 MB more)"
fi
cp packaging/thighmap.desktop dist/thighmap/
echo "size by component (MB):"
du -sm dist/thighmap/_internal/* dist/thighmap/thighmap | sort -rn | head -12
echo "built dist/thighmap in $(( $(date +%s) - start )) s, $(du -sh dist/thighmap | cut -f1)"
dist/thighmap/thighmap --self-test
