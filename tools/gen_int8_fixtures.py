"""Writes the int8 parity reference test/fixtures/int8/reference.safetensors (see the README.md there).

HINT: regenerate with   /usr/bin/python3 tools/gen_int8_fixtures.py   (from the repository root),
after `MOBILENETV2_WRITE_INT8_FIXTURE=1 node --test dist/test/int8.parity.test.js` has rewritten
tiny.int8.onnx and input.safetensors (only on purpose: when the quantizer changes what it emits).
Deterministic: --check compares against the committed file without writing.

An interpreter of our QDQ graphs written here from the ONNX operator definitions, independent of
ONNX Runtime and of our TypeScript: the graph is read with the `onnx` package and every node
computed in float64 (numpy; convolutions by torch.nn.functional.conv2d in float64):
  DequantizeLinear  x = (q - zero_point) * scale          (per tensor, or per channel on `axis`;
                    int8 or uint8 q: our weights are uint8 with zero point 128, or int8 with 0)
  QuantizeLinear    q = saturate(round_half_even(x / scale) + zero_point)
  Conv / Add / GlobalAveragePool / Flatten / Gemm / Softmax as ONNX defines them.
So every integer tensor is the exact answer of the QDQ graph's real-number semantics. ONNX Runtime
runs the same graph with integer kernels (QLinearConv: int32 accumulation, then a float32
requantization multiplier), which may land one integer step away where a value sits on a rounding
boundary; the test counts those.

Cross-check with torch's own fake-quantize op: each activation's QuantizeLinear is also computed as
torch.fake_quantize_per_tensor_affine (float32) on the float64 input; how many elements land on a
different integer is printed and stored in the metadata (torch_fake_quant_off_by_one).

It writes reference.safetensors:
  q.<name>        the integers (as float32) of every QuantizeLinear output, for the 2 photos
  logits, probabilities, embedding   the graph outputs (float64 computed, stored float32)
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_lite import load_safetensors, save_safetensors  # noqa: E402

HERE = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "int8")


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def per_axis(v, axis, ndim):
    """A per-channel parameter shaped to broadcast along `axis` of an ndim tensor."""
    if v.ndim == 0:
        return v
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def run(model, x):
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env[model.graph.input[0].name] = x.astype(np.float64)
    ints = {}
    torch_off = 0
    torch_total = 0
    for n in model.graph.node:
        i = [env[v] if v else None for v in n.input]
        op = n.op_type
        if op == "DequantizeLinear":
            q, s, z = i[0], i[1].astype(np.float64), (i[2] if len(i) > 2 and i[2] is not None else np.zeros_like(i[1], dtype=np.int64))
            axis = attr(n, "axis", 1) % q.ndim if q.ndim else 0
            y = (q.astype(np.float64) - per_axis(z.astype(np.float64), axis, q.ndim)) * per_axis(s, axis, q.ndim)
        elif op == "QuantizeLinear":
            xv, s, z = i[0], i[1].astype(np.float64), i[2]
            lo, hi = (0, 255) if z.dtype == np.uint8 else (-128, 127)
            q = np.clip(np.round(xv / s) + z.astype(np.float64), lo, hi)  # np.round: half to even
            y = q.astype(z.dtype)
            ints[n.output[0]] = q.astype(np.float32)
            # torch's fake quantize (float32) on the same input, scale and zero point
            fq = torch.fake_quantize_per_tensor_affine(torch.from_numpy(xv.astype(np.float32)), float(s), int(z), lo, hi).double().numpy()
            torch_q = np.round(fq / s) + float(z)
            torch_off += int(np.sum(torch_q != q))
            torch_total += q.size
        elif op == "Conv":
            xv, w, b = i[0], i[1], (i[2] if len(i) > 2 else None)
            t, l, bo, r = attr(n, "pads", [0, 0, 0, 0])
            xt = torch.nn.functional.pad(torch.from_numpy(xv), (l, r, t, bo))
            y = torch.nn.functional.conv2d(xt, torch.from_numpy(w.astype(np.float64)), None if b is None else torch.from_numpy(b.astype(np.float64)), stride=tuple(attr(n, "strides", [1, 1])), groups=attr(n, "group", 1)).numpy()
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "GlobalAveragePool":
            y = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            a = attr(n, "axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:a])), -1)
        elif op == "Gemm":
            w = i[1].T if attr(n, "transB", 0) else i[1]
            y = i[0].astype(np.float64) @ w.astype(np.float64) + (0 if len(i) < 3 else i[2].astype(np.float64))
        elif op == "Softmax":
            e = np.exp(i[0] - i[0].max(axis=attr(n, "axis", -1), keepdims=True))
            y = e / e.sum(axis=attr(n, "axis", -1), keepdims=True)
        elif op == "Identity":
            y = i[0]
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "Clip":
            y = np.clip(i[0], i[1] if len(i) > 1 and i[1] is not None else -np.inf, i[2] if len(i) > 2 and i[2] is not None else np.inf)
        else:
            raise SystemExit(f"gen_int8_fixtures: operator {op} is not interpreted here")
        env[n.output[0]] = y
    outs = {o.name: env[o.name] for o in model.graph.output}
    return ints, outs, torch_off, torch_total


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="compare with the committed reference instead of writing it")
    a = p.parse_args()
    torch.set_num_threads(1)
    model = onnx.load(os.path.join(HERE, "tiny.int8.onnx"))
    onnx.checker.check_model(model, full_check=True)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    storage = {}
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype != np.int32:
            z = inits[n.input[2]]
            key = f"{z.dtype} zero point {sorted(set(z.ravel().tolist()))}"
            storage[key] = storage.get(key, 0) + 1
    print(f"weight DequantizeLinear nodes by storage: {storage}")
    (inputs, _) = load_safetensors(os.path.join(HERE, "input.safetensors"))
    ints, outs, off, total = run(model, inputs["input"])
    tensors = {f"q.{k}": v for k, v in ints.items()}
    for k, v in outs.items():
        tensors[k] = v.astype(np.float32)
    meta = {
        "generator": "tools/gen_int8_fixtures.py",
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "quantize_nodes": str(len(ints)),
        "torch_fake_quant_off_by_one": json.dumps({"elements": off, "of": total}),
    }
    print(f"{len(ints)} QuantizeLinear outputs, {sum(v.size for v in ints.values())} integers; torch.fake_quantize_per_tensor_affine (float32) lands on another integer for {off} of {total}")
    path = os.path.join(HERE, "reference.safetensors")
    if a.check:
        (old, _) = load_safetensors(path)
        bad = [k for k in tensors if k not in old or not np.array_equal(old[k], tensors[k])]
        if bad:
            raise SystemExit(f"reference differs from the committed file: {bad[:5]}")
        print("reference.safetensors: identical")
        return
    save_safetensors(path, tensors, meta)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
