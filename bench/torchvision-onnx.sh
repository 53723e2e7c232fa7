#!/usr/bin/env bash
# Issue 24's import check: torchvision CNNs exported by Debian's torch (bench/torchvision_onnx.py: random weights and
# BatchNorm statistics, num_classes=10, 3x32x32, opsets 11 and 17, fixed and dynamic batch, with and without constant
# folding) through `pimq info`; `pimq eval --logits` at batch 1 and 8 on the first 16 test images of every file, against
# PyTorch's logits of the same images (written by the export script); `pimq bench infer` against ONNX Runtime (batch 1
# for every file, 8 for dynamic-batch files; ONNX Runtime holds fixed-batch files to batch 1); and `pimq simulate
# --hw isaac` at W8A8 (opset 17, fixed batch, 8 images). Images are random (accuracy means nothing); the logit
# differences and failures are the result: each comparison as max|difference| / max|logit| of the reference on the same
# images, against the issue's bar of 1e-4.
# Prints one JSON object; progress on stderr.
# Usage: bench/torchvision-onnx.sh [MODEL ...]   (default: the five of the issue's acceptance list)
# PIMQ=path/to/pimq.dll runs that build (dotnet PIMQ) instead of ./pimq, which rebuilds artifacts/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -n "${PIMQ:-}" ]]; then pimq=(dotnet "$PIMQ"); else pimq=("$root/pimq"); fi
# Debian's interpreter, where python3-torch installs (a pyenv python3 earlier on PATH would miss it).
python=/usr/bin/python3
if ! "$python" -c 'import torch, torchvision, onnx' 2>/dev/null; then
  echo "installing python3-torch, python3-torchvision and python3-onnx (Debian)..." >&2
  apt-get install -y -q python3-torch python3-torchvision python3-onnx >&2 \
    || { apt-get update -q >&2 && apt-get install -y -q python3-torch python3-torchvision python3-onnx >&2; }
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "exporting with torch.onnx.export..." >&2
"$python" "$root/bench/torchvision_onnx.py" "$work" "$@" > "$work/export.json"
data="$work/cifar-random"
results="$work/results.jsonl"
: > "$results"
# Each run's JSON (or its one-line error) is appended as {"file", "run", "result"}; piped, as a simulation's JSON
# (per-layer events) can exceed the length of one command-line argument.
record() {
  local file="$1" run="$2"; shift 2
  { "${pimq[@]}" "$@" --json 2>/dev/null || true; } | "$python" -c 'import json, sys
try: result = json.loads(sys.stdin.read())
except ValueError: result = {"ok": False, "error": "no JSON output"}
print(json.dumps({"file": sys.argv[1], "run": sys.argv[2], "result": result}))' "$(basename "$file")" "$run" >> "$results"
}
for f in "$work"/*.onnx; do
  echo "$(basename "$f")..." >&2
  record "$f" info info "$f"
  for b in 1 8; do
    record "$f" "eval-$b" eval "$f" --dataset cifar10 --data "$data" --batch-size "$b" --images 16 --logits "${f%.onnx}.eval-$b.csv"
  done
  record "$f" infer-1 bench infer "$f" --dataset cifar10 --data "$data" --batch-size 1 --images 8 --passes 1
  if [[ "$f" == *-dyn* ]]; then
    record "$f" infer-8 bench infer "$f" --dataset cifar10 --data "$data" --batch-size 8 --images 16 --passes 1
  fi
  if [[ "$f" == *-o17-batch.onnx ]]; then
    record "$f" simulate simulate "$f" --hw isaac --wbits 8 --abits 8 --dataset cifar10 --data "$data" --images 8 --batch-size 8 --calibration-images 64
  fi
done
"$python" - "$work/export.json" "$results" <<'PY'
import json, sys, os, re
import numpy as np
BAR = 1e-4
export = json.load(open(sys.argv[1]))
runs = [json.loads(line) for line in open(sys.argv[2])]
failures = [{"file": r["file"], "run": r["run"], "error": r["result"].get("error")} for r in runs if not r["result"].get("ok")]
work = os.path.dirname(sys.argv[1])
pytorch = {name: np.load(path) for name, path in export["logits"].items()}
comparisons = []
for r in runs:
    if not r["result"].get("ok") or not r["run"].startswith(("eval", "infer")):
        continue
    model = re.sub(r"-o\d+-(batch|dyn).*", "", r["file"])
    reference = pytorch[model]
    if r["run"].startswith("eval"):
        ours = np.loadtxt(os.path.join(work, r["file"][:-len(".onnx")] + f".{r['run']}.csv"), delimiter=",", ndmin=2)
        difference, scale, against = float(np.abs(ours - reference[:len(ours)]).max()), float(np.abs(reference[:len(ours)]).max()), "pytorch"
    else:
        # bench infer compares the two engines on its first batch: the first 1 or 8 test images.
        batch = r["result"]["batch_size"]
        difference, scale, against = r["result"]["max_abs_logit_difference"], float(np.abs(reference[:batch]).max()), "onnxruntime"
    comparisons.append({"file": r["file"], "run": r["run"], "against": against, "max_abs_difference": difference, "max_abs_logit": scale,
                        "relative": difference / scale, "within_bar": difference <= BAR * scale})
def largest(against):
    rows = [c for c in comparisons if c["against"] == against]
    return max(rows, key=lambda c: c["relative"]) if rows else None
cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown CPU")
print(json.dumps({"files": len(export["files"]),
                  "export_errors": [f for f in export["files"] if "export_error" in f],
                  "runs": len(runs), "failures": failures,
                  "bar": BAR, "all_within_bar": all(c["within_bar"] for c in comparisons) and not failures,
                  "largest_vs_pytorch": largest("pytorch"), "largest_vs_onnxruntime": largest("onnxruntime"),
                  "comparisons": comparisons,
                  "machine": f"{os.cpu_count()} cores, {cpu}"}, indent=1))
PY
