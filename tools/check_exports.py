"""Check files exported by our CLI against PyTorch.

  /usr/bin/python3 tools/check_exports.py --alpha 1.0 --num-classes 1000 --last-channel seed \
      [--onnx F.onnx] [--pth F.pth] [--safetensors F.safetensors] \
      [--input IN.safetensors --logits OUT.safetensors]

- ONNX: onnx.checker.check_model(full_check=True) (structure plus strict shape inference).
- .pth: torch.load, then load_state_dict(strict=True) into tools/seed_model.py's MobileNetV2 of
  that config, and into torchvision's mobilenet_v2 too in paper mode.
- .safetensors: parsed by tools/safetensors_lite.py (no safetensors package), loaded the same way.
- --input/--logits: the torch model's eval-mode logits on the input (the only tensor in the file,
  or --input-key) must equal the logits file (the only tensor, or --logits-key) within --atol
  (default 1e-4), for every weights file given.
Prints one line per check and exits 1 if any fails (2 for bad arguments).
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from safetensors_lite import load_safetensors  # noqa: E402
from seed_model import LAST_CHANNEL_MODES, MobileNetV2  # noqa: E402


class CheckFailed(Exception):
    pass


def build_models(args):
    models = {"seed": MobileNetV2(num_classes=args.num_classes, alpha=args.alpha, last_channel=args.last_channel)}
    if args.last_channel == "paper":
        import torchvision

        models["torchvision"] = torchvision.models.mobilenet_v2(width_mult=args.alpha, num_classes=args.num_classes)
    return models


def check_onnx(path):
    import onnx

    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    graph = model.graph
    opsets = [f"{o.domain or 'ai.onnx'}:{o.version}" for o in model.opset_import]
    return (f"opset {opsets}, "
            f"{len(graph.node)} nodes, {len(graph.initializer)} initializers, "
            f"inputs {[i.name for i in graph.input]}, outputs {[o.name for o in graph.output]}")


def read_pth(path):
    obj = torch.load(path, map_location="cpu")
    if not isinstance(obj, dict):
        raise CheckFailed(f"{path}: expected a state dict (a dict of tensors), got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckFailed(f"{path}: not a plain state dict; non-tensor entries {bad[:5]}")
    return obj


def read_safetensors(path):
    arrays, _ = load_safetensors(path)
    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def load_strict(models, state_dict, path):
    """Load into every model strictly; also require float32 weights and int64 num_batches_tracked."""
    for name, model in models.items():
        expected = model.state_dict()
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
        wrong = [f"{k} {list(state_dict[k].shape)}/{state_dict[k].dtype} (want {list(v.shape)}/{v.dtype})"
                 for k, v in expected.items()
                 if k in state_dict and (state_dict[k].shape != v.shape or state_dict[k].dtype != v.dtype)]
        if missing or unexpected or wrong:
            problems = []
            for what, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape/dtype", wrong)):
                if items:
                    problems.append(f"{len(items)} {what} (first: {items[0]})")
            raise CheckFailed(f"{path} does not fit {name} of this config: " + "; ".join(problems))
        model.load_state_dict(state_dict, strict=True)  # the real check, now expected to pass
    return f"{len(state_dict)} tensors load strictly into {', '.join(models)}"


def only_tensor(path, key):
    arrays, _ = load_safetensors(path)
    if key is not None:
        if key not in arrays:
            raise CheckFailed(f"{path}: no tensor {key!r}; has {sorted(arrays)}")
        return arrays[key]
    if len(arrays) != 1:
        raise CheckFailed(f"{path}: holds {len(arrays)} tensors {sorted(arrays)}; name one with --input-key/--logits-key")
    return next(iter(arrays.values()))


def compare_logits(models, args, source):
    x = torch.from_numpy(only_tensor(args.input, args.input_key).astype(np.float32))
    want = only_tensor(args.logits, args.logits_key)
    parts = []
    for name, model in models.items():
        model.eval()
        with torch.no_grad():
            got = model(x).numpy()  # (N, 3, H, W) -> (N, num_classes)
        if got.shape != want.shape:
            raise CheckFailed(f"{args.logits}: shape {list(want.shape)}, {name} gives {list(got.shape)} on {args.input}")
        diff = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())
        parts.append(f"{name} max|diff| {diff:.3e}")
        if not diff <= args.atol:
            raise CheckFailed(f"{args.logits}: logits differ from {name} with weights of {source}: "
                              f"max|diff| {diff:.3e} > {args.atol:g}")
    return ", ".join(parts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--num-classes", type=int, required=True)
    p.add_argument("--last-channel", choices=LAST_CHANNEL_MODES, required=True)
    p.add_argument("--onnx")
    p.add_argument("--pth")
    p.add_argument("--safetensors")
    p.add_argument("--input")
    p.add_argument("--logits")
    p.add_argument("--input-key")
    p.add_argument("--logits-key")
    p.add_argument("--atol", type=float, default=1e-4)
    args = p.parse_args(argv)
    if (args.input is None) != (args.logits is None):
        p.error("--input and --logits go together")
    if args.input and not (args.pth or args.safetensors):
        p.error("--input/--logits need weights: give --pth and/or --safetensors")
    if not (args.onnx or args.pth or args.safetensors):
        p.error("nothing to check: give --onnx, --pth and/or --safetensors")

    failures = 0

    def run(label, fn):
        nonlocal failures
        try:
            print(f"OK   {label}: {fn()}")
        except Exception as e:  # every failure becomes one line; the exit code says it failed
            failures += 1
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"FAIL {label}: {type(e).__name__}: {msg}")

    if args.onnx:
        run(f"onnx {args.onnx}", lambda: check_onnx(args.onnx))
    for flag, reader in (("pth", read_pth), ("safetensors", read_safetensors)):
        path = getattr(args, flag)
        if not path:
            continue
        models = build_models(args)
        loaded = {}

        def load(path=path, reader=reader, models=models, loaded=loaded):
            sd = reader(path)
            msg = load_strict(models, sd, path)
            loaded["ok"] = True
            return msg

        run(f"{flag} {path}", load)
        if args.input and loaded.get("ok"):
            run(f"logits {args.logits} vs torch with {path}", lambda m=models, s=path: compare_logits(m, args, s))
    print("all checks passed" if failures == 0 else f"{failures} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
