"""Distances of our training-step gradients from PyTorch's float64 ones at real shapes.

Reads DIR/model.safetensors (state dict + `__input`) and DIR/grads_<name>.safetensors written by
bench/train-precision.ts; runs tools/seed_model.py's MobileNetV2 (alpha 1.0, dropout 0, train mode,
targets i % 1000, cross entropy) in float64 and in float32 on the same weights and batch; prints,
for ours and for torch float32, the worst max|g - g64| over all gradients divided by the largest
gradient of all (the scale of all gradients: tensors whose gradient is ~0 make noise look large at
their own scale).

    /usr/bin/python3 tools/check_train_precision.py DIR
"""

import glob
import os
import sys

sys.dont_write_bytecode = True

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_lite import load_safetensors  # noqa: E402
from seed_model import MobileNetV2  # noqa: E402


def tensors(path):
    t = load_safetensors(path)
    return t[0] if isinstance(t, tuple) else t


def grads(dtype, sd, x):
    m = MobileNetV2(alpha=1.0, dropout=0.0).to(dtype)
    m.load_state_dict({k: torch.from_numpy(np.array(v)).to(dtype) for k, v in sd.items()})
    m.train()
    target = torch.tensor([i % 1000 for i in range(x.shape[0])])
    loss = torch.nn.functional.cross_entropy(m(x.to(dtype)), target)
    loss.backward()
    return loss.item(), {k: p.grad.double().numpy() for k, p in m.named_parameters()}


def worst(ours, ref, scale):
    w = (0.0, "")
    for k, r in ref.items():
        d = float(np.abs(np.asarray(ours[k], dtype=np.float64) - r).max()) / scale
        if d > w[0]:
            w = (d, k)
    return w


def main():
    d = sys.argv[1]
    torch.set_num_threads(os.cpu_count() or 1)
    sd = tensors(os.path.join(d, "model.safetensors"))
    x = torch.from_numpy(np.array(sd.pop("__input")))
    loss64, ref = grads(torch.float64, sd, x)
    scale = max(float(np.abs(g).max()) for g in ref.values())
    print(f"torch float64: loss {loss64:.9f}, largest gradient {scale:.4g}")
    loss32, g32 = grads(torch.float32, sd, x)
    e, k = worst(g32, ref, scale)
    print(f"torch float32: loss {loss32:.9f}, worst {e:.2e} of the largest ({k})")
    for f in sorted(glob.glob(os.path.join(d, "grads_*.safetensors"))):
        g = tensors(f)
        ours = {k: np.array(g["grad." + k]) for k in ref}
        e, k = worst(ours, ref, scale)
        name = os.path.basename(f)[len("grads_"):-len(".safetensors")]
        print(f"ours, {name}: loss {float(np.array(g['loss'])):.9f}, worst {e:.2e} of the largest ({k})")


if __name__ == "__main__":
    main()
