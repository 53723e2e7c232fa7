#!/usr/bin/env bash
# PimQuant's FP32 inference against ONNX Runtime, same model, batch 256 and threads, in one
# process each (pimq bench infer), on the default resnet20 and on an untrained vgg8 (speed does
# not depend on the weights). Prints one JSON line per model.
# Usage: bench/infer-vs-onnxruntime.sh [THREADS]
# PIMQ=path/to/pimq.dll runs that build (dotnet PIMQ) instead of ./pimq, which rebuilds artifacts/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -n "${PIMQ:-}" ]]; then pimq=(dotnet "$PIMQ"); else pimq=("$root/pimq"); fi
threads="${1:-$(nproc)}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
"${pimq[@]}" zoo export vgg8 --dataset fashion-mnist -o "$work/vgg8.onnx" --json >/dev/null
for model in "$root/models/resnet20-fmnist.onnx" "$work/vgg8.onnx"; do
  "${pimq[@]}" bench infer "$model" --threads "$threads" --batch-size 256 --images 2560 --passes 3 --json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({k: d[k] for k in ("model","threads","batch_size","images","pimquant_images_per_second","onnxruntime_images_per_second","ratio","max_abs_logit_difference")}))'
done
