#!/usr/bin/env bash
# Sets up everything thighmap needs on a Debian-like machine, idempotently:
#   - the X server and Qt's xcb libraries (only when missing and we are root),
#   - a virtual environment in .venv with thighmap installed (editable) plus test tools.
# Used by scripts/run.sh and scripts/test.sh; safe to run again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

system_packages=(xvfb xauth libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0
  libxcb-cursor0 libegl1 libgl1 libdbus-1-3 libfontconfig1 poppler-utils)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${system_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "thighmap setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "thighmap setup: these system packages are missing and I am not root, please install them:" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
  fi
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "thighmap setup: creating .venv"
  "$python" -m venv .venv
fi
stamp=.venv/.thighmap-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "thighmap setup: installing thighmap and its dependencies into .venv (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi
