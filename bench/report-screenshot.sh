#!/usr/bin/env bash
# Opens a pimq compare/demo report.html in headless Chromium and saves a PNG screenshot of the page's top.
# Needs Debian's `chromium` package: when no chromium is on the PATH, the script installs it with
#   apt-get install -y chromium      (as root; otherwise it stops and says to run that).
# Usage: bench/report-screenshot.sh RUN_FOLDER|report.html [OUT.png] [WIDTHxHEIGHT]
#   OUT.png defaults to screenshot.png beside the report; the window defaults to 1280x1600.
# Example: ./pimq demo -o runs/demo && bench/report-screenshot.sh runs/demo docs/report-screenshot.png
set -euo pipefail
target="${1:?usage: bench/report-screenshot.sh RUN_FOLDER|report.html [OUT.png] [WIDTHxHEIGHT]}"
if [[ -d "$target" ]]; then target="$target/report.html"; fi
[[ -f "$target" ]] || { echo "report-screenshot: no report at $target" >&2; exit 1; }
report="$(cd "$(dirname "$target")" && pwd)/$(basename "$target")"
out="${2:-$(dirname "$report")/screenshot.png}"
size="${3:-1280x1600}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$browser" ]]; then
  if [[ "$(id -u)" -ne 0 ]]; then echo "report-screenshot: chromium is not installed; run: sudo apt-get install -y chromium" >&2; exit 1; fi
  echo "report-screenshot: installing Debian's chromium (apt-get install -y chromium)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2
  browser="$(command -v chromium)"
fi
profile="$(mktemp -d)"; trap 'rm -rf "$profile"' EXIT
# --no-sandbox: containers run as root, where Chromium's sandbox refuses to start; the page is a local file PimQuant wrote.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --window-size="${size/x/,}" --screenshot="$(realpath -m "$out")" "file://$report" >&2 2>/dev/null
[[ -s "$out" ]] || { echo "report-screenshot: chromium wrote no screenshot" >&2; exit 1; }
echo "$out"
