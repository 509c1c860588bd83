"""Writes the PyTorch training references in test/fixtures/train/ (see the README.md there).

HINT: regenerate with   /usr/bin/python3 tools/gen_train_fixtures.py   (from the repository root).
Output is deterministic (one thread, float64 compute; two runs give identical bytes: pass
--check to verify that against the committed files without writing). Rerun only on purpose.

Model: tools/seed_model.py MobileNetV2(num_classes=10, alpha=0.25, last_channel='seed',
dropout=0.2) with every float tensor parity-filled (tools/parity_fill.py, so the running stats
are random and BatchNorm matters), in train mode; dropout is replaced by an explicit mask input
(entries 0 or 1.25) so that our graph can take the same mask. Input: parity input
`input_train_329` (4, 3, 64, 64), the step-0 input with the widest ReLU6 kink margin among
input_train, input_train_1 .. input_train_399 (`--scan 400` reprints that search; `input_train`
itself puts two ReLU6 inputs on the wrong side of a kink in torch's float32 run, which moves
every gradient below features.16 by up to 19%). Labels [3, 7, 0, 7].

The references are computed in float64 from the float32 weights, inputs and masks (exactly
representable), then stored as float32: that is the exact answer for those float32 inputs,
rounded once, and is closer to any correct float32 implementation than torch's own float32
run. The same steps are also run in torch float32 and the distance between the two is printed
(and written to the README) as the noise floor the TypeScript tests must allow.

It writes:
  inputs.safetensors          input (4,3,64,64) F32, labels (4,) I64, mask_0..mask_2 (4,320) F32
  step0.safetensors           one training step, cross entropy: loss, logits, grad.<param>, after.<buffer>
  step0_ls0.1.safetensors     the same with label_smoothing 0.1 (no logits: they equal step0's)
  opt_<name>.safetensors      3 optimizer steps (masks 0, 1, 2): loss_0..loss_2, param.<param>, after.<buffer>
                              for sgd, sgd_plain, rmsprop_torch, rmsprop_tf, adamw
  freeze_sgd.safetensors      only classifier.1.* trained, backbone in eval mode: loss_0..2, logits_0,
                              grad.classifier.1.*, param.classifier.1.*
  head_<name>.safetensors     the same frozen-backbone run for each optimizer above (its hyperparameters):
                              the tight check of the update equations (torch float32 within 2e-6)
  partial_0_13.safetensors    step 0 with features.0-13 frozen in eval mode (--freeze features.0-13), the
                              rest in train mode: loss, logits, grad.<trainable param>, after.<buffer>
Each file's metadata records how far torch's own float32 run lands from it (torch_f32_max_rel):
the full-network 3-step trajectories (opt_*) are chaotic in float32; see the README.
"""

import argparse
import json
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in tools/

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity_fill import parity_input, parity_state_dict, parity_uniform  # noqa: E402
from safetensors_lite import load_safetensors, save_safetensors  # noqa: E402
from seed_model import MobileNetV2  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "train")

MODEL = {"num_classes": 10, "alpha": 0.25, "last_channel": "seed", "dropout": 0.2, "round_nearest": 8}
INPUT_SHAPE = (4, 3, 64, 64)
LABELS = [3, 7, 0, 7]
DROP_P = 0.2
STEPS = 3
# Parity-fill key of the input batch; see "Choice of the input" in test/fixtures/train/README.md.
INPUT_KEY = "train_329"

# name -> (torch.optim class or our RMSpropTF, hyperparameters). Weight decay (where set) applies
# to EVERY parameter, BN weights and biases included, as torch.optim does with one param group.
OPTIMIZERS = {
    "sgd": ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "nesterov": True}),
    "sgd_plain": ("SGD", {"lr": 0.1}),
    "rmsprop_torch": ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-3, "momentum": 0.9, "weight_decay": 1e-5}),
    "rmsprop_tf": ("RMSpropTF", {"lr": 0.01, "alpha": 0.9, "eps": 1.0, "momentum": 0.9, "weight_decay": 4e-5}),
    "adamw": ("AdamW", {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.05}),
}
FREEZE_SGD = {"lr": 0.1, "momentum": 0.9}

VERSIONS = f"torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {np.__version__}"
HINT = "regenerate with: /usr/bin/python3 tools/gen_train_fixtures.py (deterministic; only on purpose)"
META = {"generator": "tools/gen_train_fixtures.py", "versions": VERSIONS, "hint": HINT,
        "model": json.dumps(MODEL), "compute_dtype": "float64 (stored float32)"}


class MaskDropout(nn.Module):
    """Dropout with the mask given from outside: y = x * mask, mask entries 0 or 1/(1-p)."""

    def __init__(self):
        super().__init__()
        self.mask = None

    def forward(self, x):
        return x * self.mask  # (N, C) * (N, C)


class RMSpropTF(torch.optim.Optimizer):
    """RMSprop on TensorFlow's convention (TF-slim / the MobileNetV2 paper's recipe).

    Per parameter p with gradient g, state sq (starts at ONES) and buf (starts at zeros):
        g   = g + weight_decay * p
        sq  = alpha * sq + (1 - alpha) * g^2
        buf = momentum * buf + lr * g / sqrt(sq + eps)      # eps inside the sqrt, lr inside the buffer
        p   = p - buf
    """

    def __init__(self, params, lr, alpha=0.9, eps=1.0, momentum=0.9, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "momentum": momentum,
                                  "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            momentum, wd = group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["sq"] = torch.ones_like(p)
                    state["buf"] = torch.zeros_like(p)
                g = p.grad + wd * p
                sq, buf = state["sq"], state["buf"]
                sq.mul_(alpha).add_((1 - alpha) * g * g)
                buf.mul_(momentum).add_(lr * g / torch.sqrt(sq + eps))
                p.sub_(buf)


def rel(path):
    return os.path.relpath(path, ROOT)


def make_masks():
    width = MobileNetV2(**MODEL).last_channel  # 320 for alpha 0.25 'seed'
    masks = []
    for k in range(STEPS):
        u = parity_uniform(f"input_mask_{k}", INPUT_SHAPE[0] * width).reshape(INPUT_SHAPE[0], width)
        # keep where u >= p; kept entries scaled by 1/(1-p) = 1.25 (exact in float32)
        masks.append(np.where(u >= DROP_P, np.float32(1.0 / (1.0 - DROP_P)), np.float32(0.0)).astype(np.float32))
    return masks  # each (4, 320)


def make_inputs(input_key=INPUT_KEY):
    x = parity_input(input_key, INPUT_SHAPE)  # (4, 3, 64, 64), uniform in [-1, 1)
    return x, np.array(LABELS, dtype=np.int64), make_masks()


def build_model(dtype, probes=None):
    """The parity-filled model in train mode; with `probes` (a list), each forward appends
    {ReLU6 module name: its input in float64} so that kink margins can be measured."""
    torch.manual_seed(0)
    model = MobileNetV2(**MODEL)
    model.load_state_dict(parity_state_dict(model.state_dict()), strict=True)
    model.classifier[0] = MaskDropout()
    if probes is not None:
        def record(name):
            def hook(module, args):
                if name == first:
                    probes.append({})
                probes[-1][name] = args[0].detach().to(torch.float64).clone()
            return hook
        names = [n for n, m in model.named_modules() if isinstance(m, nn.ReLU6)]
        first = names[0]
        for n, m in model.named_modules():
            if isinstance(m, nn.ReLU6):
                m.register_forward_pre_hook(record(n))
    return model.to(dtype).train()


def param_keys(model):
    return [k for k, _ in model.named_parameters()]


def buffer_keys(model):
    return [k for k, _ in model.named_buffers()]


def forward_loss(model, x, labels, mask, ls):
    model.classifier[0].mask = mask
    logits = model(x)  # (4, 3, 64, 64) -> (4, 10)
    return logits, F.cross_entropy(logits, labels, label_smoothing=ls)


def to_np(t):
    t = t.detach()
    return t.numpy().astype(np.int64) if t.dtype == torch.int64 else t.to(torch.float32).numpy()


def tensors(dtype, x, labels, masks):
    return (torch.from_numpy(x).to(dtype), torch.from_numpy(labels),
            [torch.from_numpy(m).to(dtype) for m in masks])


def run_step0(dtype, ls, inputs, probes=None):
    x, labels, masks = tensors(dtype, *inputs)
    model = build_model(dtype, probes)
    logits, loss = forward_loss(model, x, labels, masks[0], ls)
    loss.backward()
    out = {"loss": to_np(loss).reshape(()), "logits": to_np(logits)}
    for k, p in model.named_parameters():
        out[f"grad.{k}"] = to_np(p.grad)
    for k, b in model.named_buffers():
        out[f"after.{k}"] = to_np(b)
    return out


def make_optimizer(kind, params, hp):
    if kind == "RMSpropTF":
        return RMSpropTF(params, **hp)
    return getattr(torch.optim, kind)(params, **hp)


def run_optimizer(dtype, name, inputs, probes=None):
    kind, hp = OPTIMIZERS[name]
    x, labels, masks = tensors(dtype, *inputs)
    model = build_model(dtype, probes)
    opt = make_optimizer(kind, model.parameters(), hp)
    out = {}
    for k in range(STEPS):
        opt.zero_grad(set_to_none=True)
        _, loss = forward_loss(model, x, labels, masks[k], 0.0)
        loss.backward()
        opt.step()
        out[f"loss_{k}"] = to_np(loss).reshape(())
    for k, p in model.named_parameters():
        out[f"param.{k}"] = to_np(p)
    for k, b in model.named_buffers():
        out[f"after.{k}"] = to_np(b)
    return out


def run_freeze(dtype, kind, hp, inputs, probes=None):
    x, labels, masks = tensors(dtype, *inputs)
    model = build_model(dtype, probes)
    model.features.eval()  # frozen BN: running stats used, not updated
    for p in model.features.parameters():
        p.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("features.")}
    head = [p for k, p in model.named_parameters() if k.startswith("classifier.1.")]
    opt = make_optimizer(kind, head, hp)
    out = {}
    for k in range(STEPS):
        opt.zero_grad(set_to_none=True)
        logits, loss = forward_loss(model, x, labels, masks[k], 0.0)
        loss.backward()
        if k == 0:
            out["logits_0"] = to_np(logits)
            for key, p in model.named_parameters():
                if key.startswith("classifier.1."):
                    out[f"grad.{key}"] = to_np(p.grad)
        opt.step()
        out[f"loss_{k}"] = to_np(loss).reshape(())
    for key, v in model.state_dict().items():
        if key.startswith("features.") and not torch.equal(v, before[key]):
            raise AssertionError(f"freeze: backbone tensor {key} changed")
        if key.startswith("features.") and key.endswith("num_batches_tracked") and int(v) != 0:
            raise AssertionError(f"freeze: {key} counted a batch")
    for key, p in model.named_parameters():
        if key.startswith("classifier.1."):
            out[f"param.{key}"] = to_np(p)
    return out


PARTIAL = 13  # features.0-13 frozen (--freeze features.0-13)


def run_partial(dtype, inputs, probes=None):
    """Step 0 with the stem and blocks 0..PARTIAL frozen in eval mode, the rest trained."""
    x, labels, masks = tensors(dtype, *inputs)
    model = build_model(dtype, probes)
    frozen = [f"features.{i}." for i in range(PARTIAL + 1)]
    for i in range(PARTIAL + 1):
        model.features[i].eval()
        for p in model.features[i].parameters():
            p.requires_grad_(False)
    logits, loss = forward_loss(model, x, labels, masks[0], 0.0)
    loss.backward()
    out = {"loss": to_np(loss).reshape(()), "logits": to_np(logits)}
    for k, p in model.named_parameters():
        if not any(k.startswith(f) for f in frozen):
            out[f"grad.{k}"] = to_np(p.grad)
    for k, b in model.named_buffers():
        out[f"after.{k}"] = to_np(b)
    return out


def max_rel(a, b, skip=()):
    """max over tensors of max|a - b| / max|b| (each tensor judged on its own scale)."""
    worst, where = 0.0, ""
    for k in b:
        if k in skip:
            continue
        ref = b[k].astype(np.float64)
        scale = float(np.abs(ref).max())
        d = float(np.abs(a[k].astype(np.float64) - ref).max())
        r = d / scale if scale > 0 else (0.0 if d == 0 else math.inf)
        if r > worst:
            worst, where = r, k
    return worst, where


def kink_report(p64, p32):
    """ReLU6 kinks (0 and 6) across all forwards of a run: (flips, min margin ratio, where).

    flips: elements whose ReLU6 gradient mask differs between the float64 and float32 runs.
    ratio: min over layers of (distance of the nearest float64 pre-activation to a kink) /
    (max |float32 - float64| of that layer's pre-activations). Below 1, a float32 run may take
    the other side of a kink, and a flipped element at 2x2 moves gradients by percents."""
    flips, ratio, where = 0, math.inf, ""
    for step, (a, b) in enumerate(zip(p64, p32)):
        for name, p in a.items():
            q = b[name]
            flips += int((((p > 0) & (p < 6)) != ((q > 0) & (q < 6))).sum())
            err = float((p - q).abs().max())
            margin = float(torch.minimum(p.abs(), (p - 6).abs()).min())
            r = margin / err if err > 0 else math.inf
            if r < ratio:
                ratio, where = r, f"step {step} {name}"
    return flips, ratio, where


def grad_norm(d):
    return math.sqrt(sum(float((v.astype(np.float64) ** 2).sum()) for k, v in d.items() if k.startswith("grad.")))


def both(run, *args):
    """run(float64) as the reference, run(float32) for the noise floor, with kink probes."""
    p64, p32 = [], []
    ref = run(torch.float64, *args, probes=p64)
    f32 = run(torch.float32, *args, probes=p32)
    return ref, f32, kink_report(p64, p32)


def scan(count):
    """Kink margins of step 0 for input keys train, train_1, ..., train_<count-1>."""
    best = (-1.0, "")
    for n in range(count):
        key = "train" if n == 0 else f"train_{n}"
        _, _, (flips, ratio, where) = both(run_step0, 0.0, make_inputs(key))
        print(f"input_{key:<10} flips {flips}  min margin ratio {ratio:6.2f}  ({where})", flush=True)
        best = max(best, (ratio if flips == 0 else -1.0, key))
    print(f"best: input_{best[1]} (ratio {best[0]:.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    ap.add_argument("--scan", type=int, metavar="N", help="print step-0 kink margins of the first N input keys")
    args = ap.parse_args()

    torch.set_num_threads(1)  # fixed reduction order: identical bytes on every run
    torch.use_deterministic_algorithms(True)
    if args.scan:
        scan(args.scan)
        return
    inputs = make_inputs()
    x, labels, masks = inputs

    files = {}
    files["inputs.safetensors"] = (
        {"input": x, "labels": labels, **{f"mask_{k}": m for k, m in enumerate(masks)}},
        {"input_key": f"input_{INPUT_KEY}", "drop_p": str(DROP_P),
         "mask_rule": "u = parity_uniform('input_mask_<k>', 4*320) as (4, 320); mask = 1.25 where u >= 0.2 else 0"})
    rows = []  # (name, losses, size of the step, f32 noise (ratio, where), kinks)

    ref0, f32, kinks = both(run_step0, 0.0, inputs)
    scale = max(float(np.abs(v).max()) for k, v in ref0.items() if k.startswith("grad."))
    zero_grad = [k[5:] for k, v in ref0.items() if k.startswith("grad.") and float(np.abs(v).max()) < 1e-9 * scale]
    zg = json.dumps(zero_grad)
    skip_grad = {f"grad.{k}" for k in zero_grad}
    files["step0.safetensors"] = (ref0, {"label_smoothing": "0.0", "zero_grad_keys": zg})
    rows.append(("step0 ls0.0", [float(ref0["loss"])], f"|grad| {grad_norm(ref0):.6g}",
                 max_rel(f32, ref0, skip_grad), kinks))

    ref1, f32, kinks = both(run_step0, 0.1, inputs)
    if not np.array_equal(ref1["logits"], ref0["logits"]):
        raise AssertionError("label smoothing changed the logits")
    del ref1["logits"], f32["logits"]  # identical to step0's
    files["step0_ls0.1.safetensors"] = (ref1, {"label_smoothing": "0.1", "zero_grad_keys": zg})
    rows.append(("step0 ls0.1", [float(ref1["loss"])], f"|grad| {grad_norm(ref1):.6g}",
                 max_rel(f32, ref1, skip_grad), kinks))

    init = {f"param.{k}": v.detach().numpy() for k, v in build_model(torch.float32).named_parameters()}
    skip_param = {f"param.{k}" for k in zero_grad}
    for name, (kind, hp) in OPTIMIZERS.items():
        ref, f32, kinks = both(run_optimizer, name, inputs)
        change = max(float(np.abs(ref[k].astype(np.float64) - init[k]).max()) for k in init)
        hp_text = json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()})
        files[f"opt_{name}.safetensors"] = (ref, {"optimizer": kind, "hyperparameters": hp_text, "steps": str(STEPS),
                                                  "label_smoothing": "0.0", "masks": "mask_0, mask_1, mask_2",
                                                  "zero_grad_keys": zg})
        rows.append((f"opt {name}", [float(ref[f"loss_{k}"]) for k in range(STEPS)],
                     f"max|dp| {change:.6g}", max_rel(f32, ref, skip_param), kinks))

    heads = [("freeze_sgd", "SGD", FREEZE_SGD)] + [(f"head_{n}", kind, hp) for n, (kind, hp) in OPTIMIZERS.items()]
    for fname, kind, hp in heads:
        ref, f32, kinks = both(run_freeze, kind, hp, inputs)
        change = max(float(np.abs(ref[k].astype(np.float64) - init[k]).max()) for k in ref if k.startswith("param."))
        hp_text = json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()})
        files[f"{fname}.safetensors"] = (ref, {"optimizer": kind, "hyperparameters": hp_text, "steps": str(STEPS),
                                               "trainable": "classifier.1.*",
                                               "backbone": "eval mode, frozen: parameters and buffers unchanged"})
        rows.append((fname, [float(ref[f"loss_{k}"]) for k in range(STEPS)], f"max|dp| {change:.6g}",
                     max_rel(f32, ref), kinks))

    ref, f32, kinks = both(run_partial, inputs)
    pscale = max(float(np.abs(v).max()) for k, v in ref.items() if k.startswith("grad."))
    pzero = [k[5:] for k, v in ref.items() if k.startswith("grad.") and float(np.abs(v).max()) < 1e-9 * pscale]
    files["partial_0_13.safetensors"] = (ref, {"frozen": f"features.0-{PARTIAL} (eval mode, constants)",
                                               "label_smoothing": "0.0", "masks": "mask_0",
                                               "zero_grad_keys": json.dumps(pzero)})
    partial_row = ("partial_0_13", [float(ref["loss"])], f"|grad| {grad_norm(ref):.6g}",
                   max_rel(f32, ref, {f"grad.{k}" for k in pzero}), kinks)

    # What torch's own float32 run gives against each reference: the floor a float32 test can reach.
    noise = {"step0.safetensors": rows[0], "step0_ls0.1.safetensors": rows[1]}
    noise.update({f"opt_{n}.safetensors": r for n, r in zip(OPTIMIZERS, rows[2:2 + len(OPTIMIZERS)])})
    noise.update({f"{h[0]}.safetensors": r for h, r in zip(heads, rows[2 + len(OPTIMIZERS):])})
    rows.append(partial_row)
    noise["partial_0_13.safetensors"] = partial_row
    for fname, row in noise.items():
        files[fname][1]["torch_f32_max_rel"] = f"{row[3][0]:.2e} ({row[3][1]})"
        files[fname][1]["relu6_flips_f32"] = str(row[4][0])
        files[fname][1]["kink_margin_ratio"] = f"{row[4][1]:.2f}"

    os.makedirs(OUT_DIR, exist_ok=True)
    total, bad = 0, []
    for fname, (data, meta) in files.items():
        path = os.path.join(OUT_DIR, fname)
        if args.check:
            tmp = path + ".check"
            save_safetensors(tmp, data, {**META, **meta})
            with open(tmp, "rb") as a, open(path, "rb") as b:
                same = a.read() == b.read()
            os.remove(tmp)
            if not same:
                bad.append(fname)
        else:
            save_safetensors(path, data, {**META, **meta})
            load_safetensors(path)  # it must read back
        size = os.path.getsize(path)
        total += size
        print(f"{'checked' if args.check else 'wrote'} {rel(path)} ({len(data)} tensors, {size} bytes)")
    print(f"total {total} bytes")

    print(f"\n{'reference':<18} {'losses':<32} {'size of step':<20} {'f32 vs ref (worst tensor)':<52} kinks")
    for name, losses, what, (r, where), (flips, ratio, kwhere) in rows:
        print(f"{name:<18} {' '.join(f'{v:.6f}' for v in losses):<32} {what:<20} {f'{r:.1e} ({where})':<52} "
              f"flips {flips}, margin x{ratio:.2f} ({kwhere})")
    print(f"\nparameters with a mathematically zero gradient (|g| < 1e-9 * max|g| in float64), left out of the f32 "
          f"column: {len(zero_grad)}: {', '.join(zero_grad)}")
    if bad:
        sys.exit(f"--check: differs from the committed files: {', '.join(bad)}")


if __name__ == "__main__":
    main()
