#!/usr/bin/env bash
# Quick start, command 2: set up (first time only) and run the whole test suite,
# lint included. GUI tests get a virtual X server from pytest-xvfb.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/bootstrap.sh"
cd "$here"
.venv/bin/python -m ruff check src tests benchmarks
exec .venv/bin/python -m pytest "$@"
