#!/usr/bin/env bash
# Times one epoch of ResNet-20 training on Fashion-MNIST with `pimq train` and with PyTorch on
# CPU (Debian's python3-torch): same model, batch, augmentation, optimizer and threads.
# Prints both images/s and their ratio (target: pimq / PyTorch >= 0.9).
# Usage: bench/train-vs-pytorch.sh [THREADS] [IMAGES]
# PIMQ=path/to/pimq.dll runs that build (dotnet PIMQ) instead of ./pimq, which rebuilds artifacts/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -n "${PIMQ:-}" ]]; then pimq=(dotnet "$PIMQ"); else pimq=("$root/pimq"); fi
threads="${1:-$(nproc)}"
images="${2:-60000}"
# Debian's interpreter, where python3-torch installs (a pyenv python3 earlier on PATH would miss it).
python=/usr/bin/python3
if ! "$python" -c 'import torch, numpy' 2>/dev/null; then
  echo "installing python3-torch (Debian) for the PyTorch peer..." >&2
  apt-get install -y -q python3-torch python3-numpy >&2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
py=$("$python" "$root/bench/train_resnet20_pytorch.py" --threads "$threads" --images "$images")
# pimq reports the training images/s of each epoch apart from the evaluation that follows it.
pq=$("${pimq[@]}" train --model resnet20 --dataset fashion-mnist --epochs 1 --threads "$threads" \
      --output "$work/r.onnx" --json)
"$python" - "$py" "$pq" "$threads" <<'PY'
import json, sys, platform, os
py, pq = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pims = pq["history"][0]["images_per_second"]
print(json.dumps({"threads": int(sys.argv[3]), "pytorch_version": py["version"],
                  "pytorch_images_per_second": py["images_per_second"],
                  "pimquant_images_per_second": pims,
                  "ratio": pims / py["images_per_second"],
                  "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}"}, indent=1))
PY
