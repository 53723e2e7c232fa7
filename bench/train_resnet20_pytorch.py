"""PyTorch peer for `pimq train`: the same ResNet-20 (1x1-conv shortcuts), data, batch,
augmentation, optimizer and threads, timed over one epoch of Fashion-MNIST training.

Prints one JSON object: images/s of the timed epoch (data preparation included, as in pimq).
Used by bench/train-vs-pytorch.sh; needs Debian's python3-torch and numpy.
"""
import argparse, gzip, json, struct, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet20(nn.Module):
    def __init__(self, channels=1, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, cin = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(3):
                layers.append(Block(cin, width, stride if b == 0 else 1)); cin = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--images", type=int, default=60000, help="training images in the timed epoch")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = read_idx(f"{a.data}/train-images-idx3-ubyte.gz")[: a.images]
    y = torch.from_numpy(read_idx(f"{a.data}/train-labels-idx1-ubyte.gz")[: a.images].astype(np.int64))
    model = ResNet20()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    rng = np.random.default_rng(0)
    pad, mean, std = 2, 0.2860, 0.3530
    start = time.perf_counter(); seen = 0
    order = rng.permutation(len(x))
    for i in range(len(x) // a.batch_size):
        idx = order[i * a.batch_size:(i + 1) * a.batch_size]
        # Same work as pimq's loader: normalise, random crop with black padding (pixel 0, normalised), random flip.
        imgs = (x[idx].astype(np.float32) / 255.0 - mean) / std
        padded = np.pad(imgs, ((0, 0), (pad, pad), (pad, pad)), constant_values=(0.0 - mean) / std)
        batch = np.empty_like(imgs)
        for k in range(len(idx)):
            dy, dx = rng.integers(0, 2 * pad + 1, 2)
            crop = padded[k, dy:dy + 28, dx:dx + 28]
            batch[k] = crop[:, ::-1] if rng.random() < 0.5 else crop
        xb = torch.from_numpy(batch).unsqueeze(1)
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), y[idx])
        loss.backward()
        opt.step()
        seen += len(idx)
    seconds = time.perf_counter() - start
    print(json.dumps({"engine": "pytorch", "version": torch.__version__, "threads": a.threads,
                      "batch_size": a.batch_size, "images": seen, "seconds": seconds,
                      "images_per_second": seen / seconds}))


if __name__ == "__main__":
    main()
