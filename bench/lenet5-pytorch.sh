#!/usr/bin/env bash
# Issue 21's acceptance check: a LeNet-5 trained and exported by PyTorch (Debian's python3-torch,
# torch.onnx.export) simulated by `pimq simulate --hw isaac` at W8A8 lands within 0.5 points of
# PyTorch's own W8A8 fake-quantized accuracy (the same scheme, bench/lenet5_pytorch.py) on the
# Fashion-MNIST test split, with the normalisation given as --mean 0.2860 --std 0.3530.
# Prints one JSON object; progress on stderr.
# Usage: bench/lenet5-pytorch.sh [EPOCHS] [THREADS]
# PIMQ=path/to/pimq.dll runs that build (dotnet PIMQ) instead of ./pimq, which rebuilds artifacts/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -n "${PIMQ:-}" ]]; then pimq=(dotnet "$PIMQ"); else pimq=("$root/pimq"); fi
epochs="${1:-4}"
threads="${2:-$(nproc)}"
train=/usr/share/datasets/fashion-mnist
# Debian's interpreter, where python3-torch installs (a pyenv python3 earlier on PATH would miss it).
python=/usr/bin/python3
if ! "$python" -c 'import torch, onnx, numpy' 2>/dev/null || [[ ! -f "$train/train-images-idx3-ubyte.gz" ]]; then
  echo "installing python3-torch, python3-onnx and dataset-fashion-mnist (Debian)..." >&2
  # A fresh machine's package lists may predate them: refresh once and retry.
  apt-get install -y -q python3-torch python3-onnx dataset-fashion-mnist >&2 \
    || { apt-get update -q >&2 && apt-get install -y -q python3-torch python3-onnx dataset-fashion-mnist >&2; }
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mean=0.2860 std=0.3530
echo "training LeNet-5 with PyTorch ($epochs epochs, $threads threads)..." >&2
py=$(cd "$root" && "$python" bench/lenet5_pytorch.py --train "$train" --data data/fashion-mnist \
      --epochs "$epochs" --threads "$threads" --output "$work/lenet5.onnx")
echo "pimq eval..." >&2
ev=$("${pimq[@]}" eval "$work/lenet5.onnx" --mean "$mean" --std "$std" --threads "$threads" --json)
echo "pimq simulate --hw isaac --wbits 8 --abits 8..." >&2
sim=$("${pimq[@]}" simulate "$work/lenet5.onnx" --hw isaac --wbits 8 --abits 8 --mean "$mean" --std "$std" \
       --threads "$threads" --json)
"$python" - "$py" "$ev" "$sim" <<'PY'
import json, sys, os, platform
py, ev, sim = (json.loads(a) for a in sys.argv[1:4])
points = 100 * (sim["simulated_accuracy"] - py["w8a8_accuracy"])
print(json.dumps({"torch_version": py["torch_version"], "onnx_opset": py["onnx_opset"], "epochs": py["epochs"],
                  "pytorch_fp32_accuracy": py["fp32_accuracy"], "pytorch_w8a8_accuracy": py["w8a8_accuracy"],
                  "pimq_eval_accuracy": ev["accuracy"],
                  "pimq_ideal_integer_accuracy": sim["ideal_integer_accuracy"],
                  "pimq_isaac_simulated_accuracy": sim["simulated_accuracy"],
                  "simulated_minus_pytorch_w8a8_points": round(points, 4),
                  "within_0_5_points": abs(points) <= 0.5,
                  "preprocessing": sim["preprocessing"],
                  "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}"}, indent=1))
PY
