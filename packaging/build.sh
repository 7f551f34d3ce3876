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
cp packaging/thighmap.desktop dist/thighmap/
echo "built dist/thighmap in $(( $(date +%s) - start )) s, $(du -sh dist/thighmap | cut -f1)"
dist/thighmap/thighmap --self-test
