"""Writes the parity fixtures, the torchsummary goldens and the ImageNet class list.

HINT: regenerate with   /usr/bin/python3 tools/gen_fixtures.py   (from the repository root).
Output is deterministic; rerun only on purpose and review the diff. It writes:
  test/fixtures/parity/cases.json              per case: config, state-dict keys/dtypes/shapes, counts
  test/fixtures/parity/inputs.safetensors      parity-filled inputs input_64 (2,3,64,64), input_97 (1,3,97,97)
  test/fixtures/parity/logits/<case>.safetensors   eval-mode logits_64 (2,K), logits_97 (1,K)
  test/fixtures/parity/torchvision_a1.0_c1000.safetensors   torchvision mobilenet_v2() logits_64
  test/fixtures/parity/fill_samples.safetensors            a few parity-filled tensors by key
  test/fixtures/summary/*.txt + index.json     torchsummary printouts (+ our Multiply-adds line)
  src/data/imagenet-classes.json               the 1000 ImageNet class names in index order
Weights are never stored: every float tensor is set by the parity fill (tools/parity_fill.py),
which test/helpers/parity.ts reproduces bit for bit.
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in tools/

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity_fill import parity_fill, parity_input, parity_state_dict  # noqa: E402
from safetensors_lite import save_safetensors  # noqa: E402
from seed_model import MobileNetV2  # noqa: E402
from torchsummary_logic import summary_string  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARITY_DIR = os.path.join(ROOT, "test", "fixtures", "parity")
SUMMARY_DIR = os.path.join(ROOT, "test", "fixtures", "summary")
CLASSES_JSON = os.path.join(ROOT, "src", "data", "imagenet-classes.json")

ALPHAS = [0.25, 0.5, 0.75, 1.0, 1.4]
NUM_CLASSES = [1000, 10]
LAST_CHANNEL = ["seed", "paper"]
INPUTS = {"64": (2, 3, 64, 64), "97": (1, 3, 97, 97)}
VERSIONS = f"torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {np.__version__}"
HINT = "regenerate with: /usr/bin/python3 tools/gen_fixtures.py (deterministic; only on purpose)"
META = {"generator": "tools/gen_fixtures.py", "versions": VERSIONS, "hint": HINT}

# torchsummary goldens: (file stem, builder kind, alpha, num_classes, last_channel, input size)
SUMMARIES = [
    ("seed_a1.0_c1000_seed_224", "seed", 1.0, 1000, "seed", 224),  # the seed's __main__
    ("torchvision_a1.0_c1000_224", "torchvision", 1.0, 1000, "paper", 224),
    ("seed_a0.25_c1000_seed_224", "seed", 0.25, 1000, "seed", 224),
    ("seed_a0.5_c1000_paper_160", "seed", 0.5, 1000, "paper", 160),
    ("seed_a1.4_c10_seed_96", "seed", 1.4, 10, "seed", 96),
    ("seed_a0.75_c1000_seed_32", "seed", 0.75, 1000, "seed", 32),
]


def case_name(alpha, num_classes, last_channel):
    return f"a{alpha}_c{num_classes}_{last_channel}"


def rel(path):
    return os.path.relpath(path, ROOT)


def dtype_name(t):
    return {torch.float32: "F32", torch.int64: "I64"}[t.dtype]


def eval_logits(model, inputs):
    model.eval()
    with torch.no_grad():
        return {f"logits_{name}": model(torch.from_numpy(x)).numpy() for name, x in inputs.items()}


def check_against_torchvision(model, alpha, num_classes, inputs):
    """Paper mode must be torchvision's mobilenet_v2: same keys, shapes and logits."""
    tv = torchvision.models.mobilenet_v2(width_mult=alpha, num_classes=num_classes)
    ours_sd, tv_sd = model.state_dict(), tv.state_dict()
    ours_sig = [(k, tuple(v.shape), v.dtype) for k, v in ours_sd.items()]
    tv_sig = [(k, tuple(v.shape), v.dtype) for k, v in tv_sd.items()]
    if ours_sig != tv_sig:
        raise AssertionError(f"alpha={alpha} classes={num_classes}: paper-mode state dict differs from torchvision's")
    tv.load_state_dict(ours_sd, strict=True)
    ours, theirs = eval_logits(model, inputs), eval_logits(tv, inputs)
    diff = max(float(np.abs(ours[k] - theirs[k]).max()) for k in ours)
    if diff > 1e-6:
        raise AssertionError(f"alpha={alpha} classes={num_classes}: logits differ from torchvision's by {diff}")
    return diff


def json_case_block(case):
    """One case as JSON text, one state-dict entry a line (keeps cases.json small and diffable)."""
    head = {k: v for k, v in case.items() if k != "state_dict"}
    lines = ["  {"]
    for k, v in head.items():
        lines.append(f"    {json.dumps(k)}: {json.dumps(v)},")
    entries = [f"      {json.dumps(e, separators=(',', ':'))}" for e in case["state_dict"]]
    lines.append('    "state_dict": [\n' + ",\n".join(entries) + "\n    ]")
    lines.append("  }")
    return "\n".join(lines)


def write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {rel(path)} ({len(text.encode('utf-8'))} bytes)")


def write_st(path, tensors, metadata):
    save_safetensors(path, tensors, metadata)
    print(f"wrote {rel(path)} ({os.path.getsize(path)} bytes)")


def gen_parity():
    os.makedirs(os.path.join(PARITY_DIR, "logits"), exist_ok=True)
    inputs = {name: parity_input(name, shape) for name, shape in INPUTS.items()}
    write_st(os.path.join(PARITY_DIR, "inputs.safetensors"), {f"input_{n}": x for n, x in inputs.items()}, META)

    cases = []
    for alpha in ALPHAS:
        for num_classes in NUM_CLASSES:
            for last_channel in LAST_CHANNEL:
                name = case_name(alpha, num_classes, last_channel)
                torch.manual_seed(0)
                model = MobileNetV2(num_classes=num_classes, alpha=alpha, last_channel=last_channel)
                sd = model.state_dict()
                model.load_state_dict(parity_state_dict(sd), strict=True)
                logits = eval_logits(model, inputs)
                note = ""
                if last_channel == "paper":
                    diff = check_against_torchvision(model, alpha, num_classes, inputs)
                    note = f" torchvision max|diff|={diff:.1e}"
                l64 = logits["logits_64"]
                print(
                    f"case {name}: last_channel={model.last_channel} logits_64 mean|x|={np.abs(l64).mean():.4f} "
                    f"max|x|={np.abs(l64).max():.4f} std={l64.std():.4f} "
                    f"row0-row1 max|diff|={np.abs(l64[0] - l64[1]).max():.4f}{note}"
                )
                write_st(
                    os.path.join(PARITY_DIR, "logits", f"{name}.safetensors"),
                    logits,
                    {**META, "case": name, "alpha": alpha, "num_classes": num_classes, "last_channel": last_channel},
                )
                cases.append({
                    "name": name,
                    "config": {"alpha": alpha, "num_classes": num_classes, "last_channel": last_channel,
                               "round_nearest": 8, "dropout": 0.2},
                    "last_channel_width": model.last_channel,
                    "params": sum(p.numel() for p in model.parameters()),
                    "buffers": sum(1 for _ in model.buffers()),
                    "buffer_numel": sum(b.numel() for b in model.buffers()),
                    "logits": f"logits/{name}.safetensors",
                    "state_dict": [[k, dtype_name(v), list(v.shape)] for k, v in sd.items()],
                })

    header = {
        "_comment": "Parity cases of tools/seed_model.py. Weights come from the parity fill (tools/parity_fill.py); "
                    "logits are eval-mode outputs for inputs.safetensors. state_dict entries are [key, dtype, shape].",
        "_versions": VERSIONS,
        "_hint": HINT,
        "inputs": {f"input_{n}": list(s) for n, s in INPUTS.items()},
    }
    text = "{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in header.items())
    text += '  "cases": [\n' + ",\n".join(json_case_block(c).replace("\n", "\n  ").join(["  ", ""]) for c in cases)
    text += "\n  ]\n}\n"
    json.loads(text)  # it must stay valid JSON
    write_text(os.path.join(PARITY_DIR, "cases.json"), text)

    # torchvision's own default model, parity-filled: must equal case a1.0_c1000_paper.
    tv = torchvision.models.mobilenet_v2()
    tv.load_state_dict(parity_state_dict(tv.state_dict()), strict=True)
    tv_logits = eval_logits(tv, {"64": inputs["64"]})
    write_st(os.path.join(PARITY_DIR, "torchvision_a1.0_c1000.safetensors"), tv_logits,
             {**META, "model": "torchvision.models.mobilenet_v2()"})

    # A few filled tensors by key, for the TypeScript fill test (one per rule, and a non-ASCII key).
    model = MobileNetV2(num_classes=10, alpha=1.0)
    sd = model.state_dict()
    keys = ["features.0.0.weight", "features.0.1.weight", "features.0.1.bias", "features.0.1.running_mean",
            "features.0.1.running_var", "features.1.conv.0.0.weight", "features.1.conv.1.weight",
            "classifier.1.weight", "classifier.1.bias"]
    samples = {k: parity_fill(k, sd[k].shape) for k in keys}
    samples["input_größe"] = parity_fill("input_größe", (5, 7))
    write_st(os.path.join(PARITY_DIR, "fill_samples.safetensors"), samples, {**META, "model": "a1.0_c10"})


def gen_summaries():
    os.makedirs(SUMMARY_DIR, exist_ok=True)
    index = {"_comment": "torchsummary printouts (tools/torchsummary_logic.py) plus our Multiply-adds line",
             "_versions": VERSIONS, "_hint": HINT, "goldens": []}
    for stem, kind, alpha, num_classes, last_channel, size in SUMMARIES:
        torch.manual_seed(0)
        if kind == "seed":
            model = MobileNetV2(num_classes=num_classes, alpha=alpha, last_channel=last_channel)
        else:
            model = torchvision.models.mobilenet_v2(width_mult=alpha, num_classes=num_classes)
        text, info = summary_string(model, (3, size, size), device="cpu")
        print(f"summary {stem}: {info['rows']} rows, params {info['total_params']:,}, "
              f"MACs {info['macs']:,}, fwd/bwd {info['forward_backward_mb']:.2f} MB")
        write_text(os.path.join(SUMMARY_DIR, f"{stem}.txt"), text)
        index["goldens"].append({
            "file": f"{stem}.txt", "model": kind, "alpha": alpha, "num_classes": num_classes,
            "last_channel": last_channel, "input_size": [3, size, size], "rows": info["rows"],
            "total_params": info["total_params"], "macs": info["macs"],
        })
    write_text(os.path.join(SUMMARY_DIR, "index.json"), json.dumps(index, indent=2) + "\n")


def gen_classes():
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    assert len(_IMAGENET_CATEGORIES) == 1000
    text = "[\n" + ",\n".join(f"  {json.dumps(c, ensure_ascii=False)}" for c in _IMAGENET_CATEGORIES) + "\n]\n"
    write_text(CLASSES_JSON, text)


def main():
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    print(f"# {VERSIONS}")
    gen_parity()
    gen_summaries()
    gen_classes()


if __name__ == "__main__":
    main()
