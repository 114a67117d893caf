#!/usr/bin/env bash
# The drift report's HTML page in a real browser (Debian's chromium, headless; docs/drift.md, 'HTML
# view'): the page runs its own check (#selftest: no script error, the feature table sorts both
# ways, a feature's panel has its plots) and says the result in the DOM, which --dump-dom prints;
# the console must show no error; and a screenshot of the page is taken
# (<out>/drift_report.png: look at it; it is not committed).
#   check_html_report.sh FPOKIT_BINARY FIXTURES_DIR OUT_DIR
# Exits 77 (ctest: skipped, with this message) when no chromium is installed; .ci/run installs it.
set -euo pipefail
fpokit=$1 fixtures=$2 out=$3
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "skipped: no chromium to check the HTML page in (apt-get install chromium; .ci/run installs it)" >&2
  exit 77
fi
rm -rf "$out"
mkdir -p "$out"
d="$fixtures/drift"
common=(--sae "$d/sae" --data "$d/corpus.jsonl" --context-size 32 --tokens 1240 --bootstrap 0)
# Three pages: base vs the planted model (with the causal check); base vs a short DPO run that recorded a drift timeline
# (the page's timeline plots); and both at once.
"$fpokit" --quiet drift --base "$d/base" --aligned "$d/planted" "${common[@]}" --causal 2 \
  --causal-data "$d/prefs.jsonl" --out "$out/drift.h5" --html "$out/drift.html" >/dev/null
"$fpokit" --quiet train --method dpo --model "$d/base" --data "$d/prefs.jsonl" --learning-rate 1e-2 --max-steps 4 \
  --per-device-train-batch-size 4 --quiet --drift-every 2 --drift-sae "$d/sae" --drift-data "$d/corpus.jsonl" \
  --drift-context-size 32 --drift-tokens 1240 --out "$out/run" >/dev/null
"$fpokit" --quiet drift --base "$d/base" --aligned "$out/run" "${common[@]}" --out "$out/run.h5" \
  --html "$out/run.html" >/dev/null 2>&1
# And both aligned models in one report: the per-label layout, side-by-side columns.
"$fpokit" --quiet drift --base "$d/base" --aligned "$d/planted" --aligned "$out/run" "${common[@]}" \
  --out "$out/both.h5" --html "$out/both.html" >/dev/null 2>&1
# A fresh profile per run; no sandbox (CI runs as root); a virtual time budget lets the page's
# script finish before the DOM is dumped.
flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --no-default-browser-check
  --user-data-dir="$out/profile" --virtual-time-budget=10000 --enable-logging=stderr --v=0)
check_page() {
  local page=$1 min_plots=$2
  local dom result console="$out/$(basename "$page" .html).console.log"
  dom=$(timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$page#selftest" 2>"$console")
  result=$(grep -o '<div id="selftest">[^<]*' <<<"$dom" | sed 's/^<div id="selftest">//' || true)
  echo "$(basename "$page"): page self-check: ${result:-(none)}"
  if [[ $result != pass* ]]; then
    echo "FAILED: the page's self-check did not pass (console: $console)" >&2
    grep -i "console" "$console" >&2 || true
    exit 1
  fi
  local plots
  plots=$(sed -n 's/.* \([0-9]*\) plots$/\1/p' <<<"$result")
  if [ "${plots:-0}" -lt "$min_plots" ]; then
    echo "FAILED: $(basename "$page"): $plots plots in the feature panel, expected at least $min_plots" >&2
    exit 1
  fi
  if grep -E "CONSOLE.*(Uncaught|Error)" "$console" >&2; then
    echo "FAILED: the page logged errors to the console ($console)" >&2
    exit 1
  fi
}
check_page "$out/drift.html" 1
check_page "$out/run.html" 2   # the activation histogram and the feature's timeline
check_page "$out/both.html" 3  # a histogram per model, the run's timeline
timeout 120 "$browser" "${flags[@]}" --window-size=1400,2200 --screenshot="$out/drift_report.png" \
  "file://$out/run.html" 2>>"$out/run.console.log" >/dev/null
size=$(stat -c %s "$out/drift_report.png" 2>/dev/null || echo 0)
echo "screenshot: $out/drift_report.png ($size bytes)"
# A page with its tables and plots drawn compresses to far more than a blank one (~10 kB).
if [ "$size" -lt 40000 ]; then
  echo "FAILED: the screenshot is missing or nearly blank ($size bytes)" >&2
  exit 1
fi
