"""Regenerates tests/PimQuant.Tests/Fixtures/pytorch-qdq-lenet5.onnx and pytorch-qdq-lenet5.logits.json: a QDQ
model as PyTorch's own quantization tooling writes it (issue 21 item 3), for QdqImport's test against PyTorch.

The network has the layer shapes of PimQuant's zoo lenet5 (conv 1->6 5x5 pad 2, ReLU, max pool 2; conv 6->16 5x5,
ReLU, max pool 2; FC 400-120-84-10 with ReLU), seeded and untrained: the fixture tests the file's form and the
arithmetic, not accuracy. Inputs are pixels scaled to [0,1] (no normalisation, PimQuant's default without metadata).

W8A8 by torch.ao.quantization's FX graph mode (prepare_qat_fx, which fuses conv+ReLU and linear+ReLU and puts a
FakeQuantize on every layer's input and output):
- weights: FakeQuantize with a per-channel MinMax observer, symmetric, int8 [-128, 127] (ONNX export accepts
  only the full int8 range), one scale per output channel (axis 0);
- activations: FakeQuantize with a per-tensor MinMax observer, affine, uint8 [0, 255];
- biases stay float32, as PyTorch's fake quantization leaves them.
The observers see the first 64 calibration images (data/fashion-mnist/calibration-seed0-1024-images-idx3-ubyte.gz),
then are frozen; torch.onnx.export (opset 13, per-channel QuantizeLinear/DequantizeLinear) writes the model.
The logits file holds PyTorch's fake-quantized logits of the first 8 test images, and conv1's int8 weights (as
torch.quantize_per_channel gives them, row-major 6x1x5x5) with their scales and zero points.

Usage: /usr/bin/python3 bench/qdq_fixture_pytorch.py   (Debian's python3-torch 1.13 and python3-onnx 1.12)
Prints one JSON object on stdout.
"""
import json, os

import numpy as np
import torch
import torch.nn.functional as F
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, QConfig
from torch.ao.quantization.qconfig_mapping import QConfigMapping
from torch.ao.quantization.quantize_fx import prepare_qat_fx

import lenet5_pytorch
from lenet5_pytorch import read_idx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "PimQuant.Tests", "Fixtures")
DATA = os.path.join(ROOT, "data", "fashion-mnist")


def images(pixels):
    return torch.from_numpy(pixels.astype(np.float32) / np.float32(255.0)).unsqueeze(1)


class LeNet5(lenet5_pytorch.LeNet5):
    """bench/lenet5_pytorch.py's layers with a plain forward, which FX graph mode traces."""

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def main():
    torch.manual_seed(0)
    model = LeNet5().train()
    # Averaging constant 1: each observer's range is that of the last batch, so one batch of 64 calibrates.
    qconfig = QConfig(
        activation=FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, averaging_constant=1.0,
                                          quant_min=0, quant_max=255, dtype=torch.quint8, qscheme=torch.per_tensor_affine),
        weight=FakeQuantize.with_args(observer=MovingAveragePerChannelMinMaxObserver, averaging_constant=1.0,
                                      quant_min=-128, quant_max=127, dtype=torch.qint8,
                                      qscheme=torch.per_channel_symmetric, ch_axis=0))
    example = torch.zeros(1, 1, 28, 28)
    prepared = prepare_qat_fx(model, QConfigMapping().set_global(qconfig), example_inputs=(example,))
    calibration = images(read_idx(os.path.join(DATA, "calibration-seed0-1024-images-idx3-ubyte.gz"))[:64])
    with torch.no_grad():
        prepared(calibration)
    prepared.apply(torch.ao.quantization.disable_observer)
    prepared.eval()

    test = images(read_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))[:8])
    with torch.no_grad():
        logits = prepared(test)

    # conv1's integer weights as PyTorch quantizes them, with its scales and zero points.
    fake = prepared.conv1.weight_fake_quant
    conv1_codes = torch.quantize_per_channel(prepared.conv1.weight.detach(), fake.scale, fake.zero_point, 0, torch.qint8).int_repr()

    os.makedirs(FIXTURES, exist_ok=True)
    onnx_path = os.path.join(FIXTURES, "pytorch-qdq-lenet5.onnx")
    torch.onnx.export(prepared, example, onnx_path, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    import onnx
    exported = onnx.load(onnx_path)
    onnx.checker.check_model(exported)
    with open(os.path.join(FIXTURES, "pytorch-qdq-lenet5.logits.json"), "w") as f:
        json.dump({"images": "the first 8 of data/fashion-mnist/t10k-images-idx3-ubyte.gz, pixels / 255",
                   "torch_version": torch.__version__,
                   "logits": [[float(v) for v in row] for row in logits],
                   "conv1": {"scales": [float(v) for v in fake.scale], "zero_points": [int(v) for v in fake.zero_point],
                             "codes": [int(v) for v in conv1_codes.flatten()]}}, f)
        f.write("\n")
    print(json.dumps({"torch_version": torch.__version__, "onnx_opset": exported.opset_import[0].version,
                      "onnx_bytes": os.path.getsize(onnx_path),
                      "ops": sorted({n.op_type for n in exported.graph.node})}))


if __name__ == "__main__":
    main()
