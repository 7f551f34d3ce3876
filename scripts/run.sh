#!/usr/bin/env bash
# Quick start, command 1: set up (first time only) and open thighmap on the bundled atlas.
# Extra arguments go to the program, e.g. `bash scripts/run.sh my.thighplan.json`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/bootstrap.sh"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  out="$here/out/atlas.png"
  mkdir -p "$here/out"
  echo "No display found: rendering the atlas off screen instead of opening the window."
  "$here/.venv/bin/thighmap" render -o "$out"
  echo "To see the window on this machine, run it under a virtual X server: xvfb-run -a bash scripts/run.sh"
  exit 0
fi
exec "$here/.venv/bin/thighmap" "$@"
