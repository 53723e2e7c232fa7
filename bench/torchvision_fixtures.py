"""Regenerates tests/PimQuant.Tests/Fixtures/torchvision-*.onnx and torchvision.logits.json (issue 24 item 4): the
torchvision CNN families that needed new operators, built from torchvision's own classes at tiny widths so the
files stay small, with random weights and random BatchNorm statistics, exported by torch.onnx.export as a user
would, one family per form:
- MobileNetV3 (squeeze-excite with HardSigmoid, HardSwish as HardSigmoid * x): opset 11, batch fixed at 1;
- EfficientNet (SiLU as Sigmoid * x, squeeze-excite with Sigmoid, stochastic depth): opset 17, dynamic batch;
- DenseNet (the all-zero Pad before every AvgPool2d): opset 11, batch fixed at 1;
- ShuffleNetV2 (channel split as Slice, channel-shuffle views, a ReduceMean head): opset 17, batch fixed at 1.
The logits file holds PyTorch's logits for 8 images whose pixels are ((i * 7919) % 1000) / 500 - 1 for flat index i
of the [8, 3, 32, 32] batch (float64, then float32), a formula the test computes the same way.

Usage: /usr/bin/python3 bench/torchvision_fixtures.py   (Debian's python3-torch 1.13 and python3-torchvision 0.14)
Prints one JSON object on stdout.
"""
import json, os

import numpy as np
import torch
import torchvision
from torchvision.models import densenet, efficientnet, mobilenetv3, shufflenetv2
from torchvision.models.efficientnet import MBConvConfig
from torchvision.models.mobilenetv3 import InvertedResidualConfig

from torchvision_onnx import randomize_batch_norms

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "PimQuant.Tests", "Fixtures")


def models():
    """(name, opset, dynamic batch, model), with torchvision's default initialisation."""
    torch.manual_seed(0)
    ir = InvertedResidualConfig
    yield "mobilenet_v3", 11, False, mobilenetv3.MobileNetV3(
        [ir(8, 3, 8, 8, True, "RE", 2, 1, 1.0), ir(8, 3, 24, 16, False, "RE", 2, 1, 1.0),
         ir(16, 5, 48, 16, True, "HS", 1, 1, 1.0), ir(16, 5, 48, 24, True, "HS", 2, 1, 1.0)], 64, num_classes=10)
    mb = MBConvConfig
    yield "efficientnet", 17, True, efficientnet.EfficientNet(
        [mb(1, 3, 1, 8, 8, 1, 1.0, 1.0), mb(6, 3, 2, 8, 12, 2, 1.0, 1.0), mb(6, 5, 2, 12, 16, 1, 1.0, 1.0)], 0.2,
        last_channel=64, num_classes=10)
    yield "densenet", 11, False, densenet.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2, num_classes=10)
    yield "shufflenet_v2", 17, False, shufflenetv2.ShuffleNetV2([2, 1, 1], [8, 16, 32, 64, 64], num_classes=10)


def main():
    index = np.arange(8 * 3 * 32 * 32, dtype=np.int64)
    images = torch.from_numpy((((index * 7919) % 1000) / 500.0 - 1.0).astype(np.float32).reshape(8, 3, 32, 32))
    logits = {}
    for seed, (name, opset, dynamic, model) in enumerate(models()):
        randomize_batch_norms(model, seed)
        # torchvision draws MobileNetV3's classifier from N(0, 0.01), which leaves logits near 1e-4; PyTorch's
        # default Linear initialisation gives logits of order 0.1-1, a stronger test of relative agreement.
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.reset_parameters()
        model.eval()
        file = f"torchvision-{name}-o{opset}-{'dyn' if dynamic else 'batch'}.onnx"
        with torch.no_grad():
            torch.onnx.export(model, images[:1], os.path.join(FIXTURES, file), opset_version=opset, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None)
            logits[file] = model(images).tolist()
    with open(os.path.join(FIXTURES, "torchvision.logits.json"), "w") as f:
        json.dump({"images": "8x3x32x32, pixel i = ((i * 7919) % 1000) / 500 - 1", "torch_version": torch.__version__,
                   "torchvision_version": torchvision.__version__, "logits": logits}, f)
    print(json.dumps({"files": sorted(logits), "logits": "torchvision.logits.json"}))


if __name__ == "__main__":
    main()
