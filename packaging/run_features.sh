#!/usr/bin/env bash
# Run every feature of a built bundle and print each one's exit status; with LDLOG=FOLDER,
# also record the shared libraries each run loads (LD_DEBUG=files), for
# packaging/loaded_libraries.py. Needs xvfb-run for the window; from the repository root:
#   bash packaging/run_features.sh dist/thighmap /tmp/features
#   LDLOG=/tmp/ld bash packaging/run_features.sh dist/thighmap /tmp/features
#   .venv/bin/python packaging/loaded_libraries.py dist/thighmap /tmp/ld
set -u
bundle="$1"; out="$2"
exe="$bundle/thighmap"
rm -rf "$out"; mkdir -p "$out"
export THIGHMAP_SETTINGS_DIR="$out/settings"
inputs="$out/inputs"
PYTHONPATH=src .venv/bin/python packaging/feature_inputs.py "$inputs" || exit 1
failed=0
run() {  # name, expected exit status, command...
  local name="$1" want="$2"; shift 2
  if [ -n "${LDLOG:-}" ]; then mkdir -p "$LDLOG"; export LD_DEBUG=files LD_DEBUG_OUTPUT="$LDLOG/$name"; fi
  "$@" >"$out/$name.out" 2>"$out/$name.err"; local rc=$?
  unset LD_DEBUG LD_DEBUG_OUTPUT
  [ "$rc" = "$want" ] || failed=1
  printf '%-18s exit %s (want %s)  %s\n' "$name" "$rc" "$want" "$(tail -n 1 "$out/$name.out" | cut -c1-70)"
}
run self-test 0 "$exe" --self-test
run check 0 "$exe" check --trigger-point bfl_nct_mid
run check-danger 2 "$exe" check examples/danger-sciatic.thighplan.json
run render 0 "$exe" render -o "$out/atlas.png"
run render-plan 0 "$exe" render examples/nct02516137-sites.thighplan.json -o "$out/plan.png"
run report 0 "$exe" report examples/nct02516137-sites.thighplan.json -o "$out/report.pdf"
run demo 0 "$exe" demo "$inputs/demo.thighplan.json" -o "$out/demo" --gif "$out/demo.gif"
for ext in stl ply glb vtp; do
  run "import-$ext" 0 "$exe" atlas import "$inputs/mapping-$ext.json" -o "$out/imported-$ext"
done
run check-imported 0 "$exe" --atlas "$out/imported-stl" check --trigger-point bfl_nct_mid
run export 0 "$exe" export examples/nct02516137-sites.thighplan.json -o "$out/export"
run atlas-info 0 "$exe" atlas info
run atlas-build 0 "$exe" atlas build --out "$out/rebuilt"
run schema 0 "$exe" schema
# the window: up for 15 s under a virtual X server, a screenshot (Pillow), closed with TERM (143)
run window 143 xvfb-run -a -s "-screen 0 1400x900x24" bash -c '
  "$0" & pid=$!; sleep 15
  kill -0 $pid || exit 1
  .venv/bin/python -c "import sys; from PIL import ImageGrab; ImageGrab.grab().save(sys.argv[1])" "$1"
  kill -TERM $pid; wait $pid' "$exe" "$out/window.png"
[ "$failed" = 0 ] && echo "every feature ran" || { echo "some features failed: see $out/*.err"; exit 1; }
