"""Exports torchvision classification CNNs as a new user's torch.onnx.export writes them (issue 24): random weights,
random BatchNorm statistics, num_classes=10, 3x32x32 input, at opsets 11 and 17, with and without a dynamic batch
(dynamic_axes) and with and without constant folding. Also writes CIFAR-10 files of random images (cifar-random/,
64 records per batch file) so `pimq eval`, `simulate` and `bench infer` can run the files; accuracy means nothing.
PyTorch's logits of the first LOGIT_IMAGES test images, preprocessed as pimq preprocesses them without --mean/--std
(pixel/255, channel planes in the file's order), go to OUT_DIR/<model>.pytorch-logits.npy ([LOGIT_IMAGES, 10], float32),
for comparison with `pimq eval --logits` on the same images.

Usage: /usr/bin/python3 bench/torchvision_onnx.py OUT_DIR [MODEL ...]   (Debian's python3-torch 1.13, python3-torchvision)
Writes OUT_DIR/<model>-o<opset>-<batch|dyn>[-nofold].onnx; prints one JSON object listing the files (or the export error
of each one torch could not export) and each model's logits file on stdout.
"""
import json, os, sys

import numpy as np
import torch
import torchvision

# The first five are issue 24's acceptance models and the default; the rest are other torchvision families.
MODELS = ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "densenet121", "shufflenet_v2_x0_5", "mobilenet_v2", "mnasnet0_5",
          "squeezenet1_1", "regnet_y_400mf", "googlenet"]
# Test images whose PyTorch logits are written: bench/torchvision-onnx.sh evaluates this many at batch 1 and 8.
LOGIT_IMAGES = 16


def build(name, seed):
    torch.manual_seed(seed)
    kwargs = {"num_classes": 10}
    if name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=True)
    model = getattr(torchvision.models, name)(**kwargs)
    randomize_batch_norms(model, seed + 1)
    return model.eval()


def randomize_batch_norms(model, seed):
    """Trained-like BatchNorms: without random statistics a BatchNorm is the identity and proves little."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(n, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(n, generator=g))


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or MODELS[:5]
    os.makedirs(out, exist_ok=True)
    data = os.path.join(out, "cifar-random")
    os.makedirs(data, exist_ok=True)
    rng = np.random.default_rng(0)
    for split in ["test_batch"] + [f"data_batch_{k}" for k in range(1, 6)]:
        records = np.concatenate([rng.integers(0, 10, (64, 1)), rng.integers(0, 256, (64, 3072))], axis=1).astype(np.uint8)
        records.tofile(os.path.join(data, f"{split}.bin"))

    # A CIFAR-10 record is a label byte and 3x32x32 pixel bytes; pimq reads pixel/255 in double and rounds to float32.
    test = np.fromfile(os.path.join(data, "test_batch.bin"), dtype=np.uint8).reshape(-1, 3073)[:LOGIT_IMAGES, 1:]
    images = torch.from_numpy((test.astype(np.float64) / 255.0).astype(np.float32).reshape(-1, 3, 32, 32))

    results, logits = [], {}
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    for name in names:
        model = build(name, 1)
        logits[name] = os.path.join(out, f"{name}.pytorch-logits.npy")
        with torch.no_grad():
            np.save(logits[name], model(images).numpy().astype(np.float32))
        for opset in (11, 17):
            for dynamic in (False, True):
                for fold in (True, False):
                    path = os.path.join(out, f"{name}-o{opset}-{'dyn' if dynamic else 'batch'}{'' if fold else '-nofold'}.onnx")
                    try:
                        with torch.no_grad():
                            torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"], output_names=["logits"],
                                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None,
                                              do_constant_folding=fold)
                        results.append({"file": path})
                    except Exception as e:  # torch's exporter refuses some model/opset pairs; recorded, not fatal
                        results.append({"file": path, "export_error": str(e).splitlines()[0]})
                    print(f"{path}: {'exported' if 'export_error' not in results[-1] else results[-1]['export_error']}", file=sys.stderr)
    print(json.dumps({"data": data, "files": results, "logits": logits}))


if __name__ == "__main__":
    main()
