"""PyTorch side of issue 21: trains LeNet-5 on Fashion-MNIST, measures its FP32 accuracy and PyTorch's
own W8A8 fake-quantized accuracy under PimQuant's `pimq simulate` scheme, and exports it with
torch.onnx.export for bench/lenet5-pytorch.sh to evaluate and simulate with pimq.

The model has the layer shapes of PimQuant's zoo lenet5 for 28x28 inputs (61,706 parameters):
conv 1->6 5x5 pad 2, ReLU, max pool 2; conv 6->16 5x5, ReLU, max pool 2; FC 400-120-84-10 with ReLU.
Inputs are pixels scaled to [0,1], then (x - 0.2860) / 0.3530.

W8A8 (docs/quantization.md §1, §3; docs/simulation.md step 1; configs/w8a8-per-channel.yaml), done with
our own round/clamp in float32 (torch.round rounds half to even, as PimQuant and ONNX QuantizeLinear):
- weights of every Conv/Gemm: signed 8-bit narrow range [-127, 127], symmetric, one scale per output
  channel, s = max|w| / 127;
- the input of every Conv/Gemm: 8-bit, one scale per tensor, symmetric, from the 99.99th and 0.01th
  percentiles (linear interpolation between order statistics at q*(n-1), over all values: every layer
  sees fewer than PimQuant's 2^21 sampled values) of that input over the 1,024 calibration images in
  FP32; signed [-128, 127] with s = max(-p0.01, p99.99) / 127 for the normalised image, unsigned
  [0, 255] with s = p99.99 / 255 after ReLU;
- biases as int32 levels round(b / (s_x * s_w)), as PimQuant's ideal integer model.
Calibration images: data/fashion-mnist/calibration-seed0-1024-images-idx3-ubyte.gz, the seed-0 choice
of 1,024 training images that `pimq simulate` calibrates on (the same images whether it reads them
from the training split or from this copy).

Prints one JSON object on stdout; progress on stderr.
"""
import argparse, gzip, json, struct, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def images(pixels):
    x = torch.from_numpy(pixels.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
    return (x - MEAN) / STD


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x, quant=None):
        # quant(layer, input) returns (input, weight, bias) as the layer computes with them; None: FP32.
        def layer(module, x, op):
            x, w, b = (x, module.weight, module.bias) if quant is None else quant(module, x)
            return op(x, w, b)
        x = F.max_pool2d(F.relu(layer(self.conv1, x, lambda x, w, b: F.conv2d(x, w, b, padding=2))), 2)
        x = F.max_pool2d(F.relu(layer(self.conv2, x, F.conv2d)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(layer(self.fc1, x, F.linear))
        x = F.relu(layer(self.fc2, x, F.linear))
        return layer(self.fc3, x, F.linear)


def percentile(values, q):
    """Linear interpolation between the order statistics at q*(n-1), as PimQuant's PercentileObserver."""
    s = values.flatten().sort().values
    position = (s.numel() - 1) * q
    below = int(np.floor(position))
    above = min(below + 1, s.numel() - 1)
    fraction = torch.tensor(position - below, dtype=torch.float32)
    return s[below] + fraction * (s[above] - s[below])


def fake_quant(x, scale, qmin, qmax):
    return torch.clamp(torch.round(x / scale), qmin, qmax) * scale


class W8A8:
    """Calibrates per-tensor activation scales on FP32 layer inputs, then fake-quantizes weights, inputs and biases."""

    def __init__(self, model, calibration):
        self.scales = {}
        inputs = {}

        def record(module, x):
            inputs.setdefault(module, []).append(x)
            return x, module.weight, module.bias
        with torch.no_grad():
            for batch in calibration.split(256):
                model(batch, quant=record)
        for module, xs in inputs.items():
            x = torch.cat([t.flatten() for t in xs])
            hi, lo = percentile(x, 0.9999), percentile(x, 1 - 0.9999)
            # PimQuant's "signed: auto" reads the graph: only conv1's input (the normalised image) is not after a ReLU.
            signed = module is model.conv1
            amax = torch.maximum(-lo, hi) if signed else torch.clamp(hi, min=0)
            self.scales[module] = (amax / (127 if signed else 255), (-128, 127) if signed else (0, 255))

    def __call__(self, module, x):
        sx, (qmin, qmax) = self.scales[module]
        w = module.weight
        sw = w.detach().abs().flatten(1).amax(1) / 127
        shape = (-1,) + (1,) * (w.dim() - 1)
        wq = fake_quant(w, sw.view(shape), -127, 127)
        acc = sx * sw
        bq = torch.round(module.bias / acc) * acc
        return fake_quant(x, sx, qmin, qmax), wq, bq


def accuracy(model, x, y, quant=None):
    with torch.no_grad():
        correct = sum(int((model(xb, quant=quant).argmax(1) == yb).sum()) for xb, yb in zip(x.split(500), y.split(500)))
    return correct / len(y)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--train", default="/usr/share/datasets/fashion-mnist", help="directory of the training split")
    p.add_argument("--data", default="data/fashion-mnist", help="directory of the test split and calibration images")
    p.add_argument("--output", required=True, help="ONNX file to export")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)

    xtrain = images(read_idx(f"{a.train}/train-images-idx3-ubyte.gz"))
    ytrain = torch.from_numpy(read_idx(f"{a.train}/train-labels-idx1-ubyte.gz").astype(np.int64))
    xtest = images(read_idx(f"{a.data}/t10k-images-idx3-ubyte.gz"))
    ytest = torch.from_numpy(read_idx(f"{a.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    calibration = images(read_idx(f"{a.data}/calibration-seed0-1024-images-idx3-ubyte.gz"))

    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(a.seed)
    start = time.perf_counter()
    for epoch in range(a.epochs):
        model.train()
        for idx in torch.randperm(len(xtrain), generator=order).split(128):
            opt.zero_grad()
            F.cross_entropy(model(xtrain[idx]), ytrain[idx]).backward()
            opt.step()
        model.eval()
        print(f"epoch {epoch + 1}/{a.epochs}: test accuracy {accuracy(model, xtest, ytest):.4f} "
              f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)

    fp32 = accuracy(model, xtest, ytest)
    w8a8 = accuracy(model, xtest, ytest, quant=W8A8(model, calibration))
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), a.output, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    import onnx
    exported = onnx.load(a.output)
    onnx.checker.check_model(exported)
    print(json.dumps({"torch_version": torch.__version__, "onnx_opset": exported.opset_import[0].version,
                      "epochs": a.epochs, "seed": a.seed, "train_seconds": time.perf_counter() - start,
                      "fp32_accuracy": fp32, "w8a8_accuracy": w8a8}))


if __name__ == "__main__":
    main()
