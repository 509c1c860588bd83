"""The "parity fill": deterministic values for every float tensor of a state dict.

Python (this file) and TypeScript (test/helpers/parity.ts) compute the same float32
values from a tensor's key and shape, so fixtures store logits, never weights.

  seed  = FNV-1a 32-bit of the UTF-8 key
  h(i)  = murmur3 fmix32 of (seed + i * 0x9E3779B9) mod 2^32, i = flat C-order index
  u     = (h(i) >> 8) / 2^24, in [0, 1)
  value by key suffix / rank, computed in float64 and rounded to float32 once:
    running_mean, 1-D bias: (2u - 1) * 0.1     running_var, 1-D weight: 0.5 + u
    4-D weight: (2u - 1) * sqrt(3 / (shape[1] * shape[2] * shape[3]))
    2-D weight: (2u - 1) * sqrt(3 / shape[1])   input_<name>: 2u - 1
    num_batches_tracked: untouched (int64)
The conv/linear rule is uniform with variance 1 / fan_in, so activations keep their scale.
"""

import math

import numpy as np

M32 = np.uint64(0xFFFFFFFF)


def fnv1a32(key):
    h = 2166136261
    for b in key.encode("utf-8"):
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def parity_uniform(key, n):
    """u in [0, 1) for elements 0..n-1 of `key` (float64, exact multiples of 2^-24)."""
    # Every product below stays under 2^64, so uint64 arithmetic then a 32-bit mask is exact.
    i = np.arange(n, dtype=np.uint64)
    x = (np.uint64(fnv1a32(key)) + i * np.uint64(0x9E3779B9)) & M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & M32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & M32
    x ^= x >> np.uint64(16)
    return (x >> np.uint64(8)).astype(np.float64) / 16777216.0


def parity_fill(key, shape):
    """The float32 array (C order) that the parity fill gives tensor `key` of `shape`."""
    shape = tuple(int(d) for d in shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    u = parity_uniform(key, n)
    leaf = key.rsplit(".", 1)[-1]
    if key.startswith("input_"):
        v = 2 * u - 1
    elif leaf == "running_mean":
        v = (2 * u - 1) * 0.1
    elif leaf == "running_var":
        v = 0.5 + u
    elif leaf == "weight" and len(shape) == 1:
        v = 0.5 + u
    elif leaf == "bias" and len(shape) == 1:
        v = (2 * u - 1) * 0.1
    elif leaf == "weight" and len(shape) == 4:
        v = (2 * u - 1) * math.sqrt(3 / (shape[1] * shape[2] * shape[3]))
    elif leaf == "weight" and len(shape) == 2:
        v = (2 * u - 1) * math.sqrt(3 / shape[1])
    else:
        raise ValueError(f"parity_fill: no rule for key {key!r} with shape {list(shape)}")
    return v.astype(np.float32).reshape(shape)


def parity_state_dict(state_dict):
    """A copy of a torch state dict with every float tensor parity-filled (int64 copied)."""
    import torch

    out = {}
    for key, t in state_dict.items():
        if t.dtype == torch.float32:
            out[key] = torch.from_numpy(parity_fill(key, t.shape))
        elif key.endswith("num_batches_tracked"):
            out[key] = t.clone()
        else:
            raise ValueError(f"parity_state_dict: unexpected dtype {t.dtype} for {key!r}")
    return out


def parity_input(name, shape):
    return parity_fill(f"input_{name}", shape)
