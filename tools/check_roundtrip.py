"""End-to-end round trip through our CLI, the way a PyTorch user would check it.

HINT: build first, then run from the repository root:
  npx tsc -p . && /usr/bin/python3 tools/check_roundtrip.py [--keep DIR] [--only NAME]

For each config in CONFIGS (alpha, num_classes, last_channel, input size):
 1. PyTorch: build tools/seed_model.py's MobileNetV2 (and torchvision's mobilenet_v2 in paper
    mode), parity-fill it (tools/parity_fill.py; random BN statistics: the default init gives
    logits of ~1e-10, which would prove nothing), give every num_batches_tracked its own value,
    torch.save the state dict in zip AND legacy format, save a seeded normal input.
 2. Our CLI: `run` with each .pth, with and without --no-fold-bn (config read off the weights for
    the zip file, passed as flags for the legacy one); `export` to .onnx, .safetensors and .pth
    (zip and legacy).
 3. Checks: our logits vs torch's eval-mode logits (max|diff| <= 1e-4); the exported files by
    tools/check_exports.py's logic (ONNX full check, strict loads into the seed model and
    torchvision's, logits of the re-loaded weights vs our logits); exported tensors equal the
    originals bit for bit (same keys, dtypes, shapes, bytes).
 4. Error path: a truncated .pth (each format) given to `run` exits 3 with one stderr line that
    names the file, and leaves no output file behind.
Prints one OK/FAIL line per check; exits 1 if any fails. Works in a temporary folder, removed
at the end (unless --keep).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

sys.dont_write_bytecode = True  # no __pycache__ in tools/
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import check_exports  # noqa: E402
from parity_fill import parity_state_dict  # noqa: E402
from safetensors_lite import load_safetensors, save_safetensors  # noqa: E402
from seed_model import MobileNetV2  # noqa: E402

CLI = [os.environ.get("NODE", "node"), os.path.join(ROOT, "dist", "src", "cli", "main.js")]
ATOL = 1e-4
EXIT_INPUT = 3  # src/cli/errors.ts EXIT.INPUT

# (name, alpha, num_classes, last_channel, batch, input size)
CONFIGS = [
    ("a0.35_c1000_paper_224", 0.35, 1000, "paper", 1, 224),  # last conv 1280 although alpha < 1
    ("a0.5_c10_seed_97", 0.5, 10, "seed", 2, 97),  # last conv 640; odd size
    ("a1.0_c1000_paper_64", 1.0, 1000, "paper", 2, 64),  # torchvision's default network
    ("a1.4_c10_paper_65", 1.4, 10, "paper", 2, 65),  # wider than 1; odd size
]


class Checks:
    def __init__(self):
        self.failures = 0
        self.count = 0

    def run(self, label, fn):
        """One line per check: OK with fn()'s summary, or FAIL with the first line of the error."""
        self.count += 1
        try:
            print(f"OK   {label}: {fn()}", flush=True)
            return True
        except Exception as e:
            self.failures += 1
            text = str(e).strip()
            msg = text.splitlines()[0] if text else ""
            print(f"FAIL {label}: {type(e).__name__}: {msg}", flush=True)
            return False


def cli(*args):
    """Run our CLI; returns the CompletedProcess (never raises on a non-zero exit)."""
    return subprocess.run(CLI + [str(a) for a in args], cwd=ROOT, capture_output=True, text=True)


def cli_ok(*args):
    p = cli(*args)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["(no stderr)"])[0]
        raise AssertionError(f"exit {p.returncode}: {last}")
    return p


def torch_side(d, name, alpha, k, lc, batch, size):
    """Write <name>_zip.pth, <name>_legacy.pth, <name>_in.safetensors; return (state_dict, x, {model: logits})."""
    models = {"seed": MobileNetV2(num_classes=k, alpha=alpha, last_channel=lc)}
    if lc == "paper":
        import torchvision

        models["torchvision"] = torchvision.models.mobilenet_v2(width_mult=alpha, num_classes=k)
    sd = parity_state_dict(models["seed"].state_dict())
    # A trained model's counters are not 0: give each its own value, so int64 survives the trip.
    for i, key in enumerate(kk for kk in sd if kk.endswith("num_batches_tracked")):
        sd[key] = torch.tensor(1000 + 7 * i, dtype=torch.int64)
    for m in models.values():
        m.load_state_dict(sd, strict=True)
        m.eval()

    # What a user saves: model.state_dict() (an OrderedDict with _metadata), both torch.save formats.
    user_sd = models.get("torchvision", models["seed"]).state_dict()
    torch.save(user_sd, os.path.join(d, f"{name}_zip.pth"))
    torch.save(user_sd, os.path.join(d, f"{name}_legacy.pth"), _use_new_zipfile_serialization=False)

    rng = np.random.default_rng(20240 + int(alpha * 100) + size)
    x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)  # (N, 3, H, W)
    save_safetensors(os.path.join(d, f"{name}_in.safetensors"), {"input": x})
    logits = {}
    with torch.no_grad():
        for mname, m in models.items():
            logits[mname] = m(torch.from_numpy(x)).numpy()  # (N, 3, H, W) -> (N, K)
    return {kk: v.clone() for kk, v in user_sd.items()}, x, logits


def compare(ours_path, torch_logits):
    arrays, _ = load_safetensors(ours_path)
    if "logits" not in arrays:
        raise AssertionError(f"{ours_path}: no tensor 'logits' (has {sorted(arrays)})")
    got = arrays["logits"]
    parts = []
    worst = 0.0
    for mname, want in torch_logits.items():
        if got.dtype != np.float32 or got.shape != want.shape:
            raise AssertionError(f"logits {got.dtype} {list(got.shape)}, torch {want.dtype} {list(want.shape)}")
        diff = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())
        worst = max(worst, diff)
        parts.append(f"vs {mname} max|diff| {diff:.2e}")
    ref = next(iter(torch_logits.values()))
    scale = f"(logits max|x| {float(np.abs(ref).max()):.3g}, std {float(ref.std()):.3g})"
    if not worst <= ATOL:
        raise AssertionError(f"{', '.join(parts)} > {ATOL:g} {scale}")
    return worst, f"{', '.join(parts)} {scale}"


def bit_equal(path, reader, original):
    got = reader(path)
    missing = [k for k in original if k not in got]
    extra = [k for k in got if k not in original]
    if missing or extra:
        raise AssertionError(f"{len(missing)} missing (first {missing[:1]}), {len(extra)} unexpected (first {extra[:1]})")
    for k, want in original.items():
        g = got[k]
        if g.dtype != want.dtype or tuple(g.shape) != tuple(want.shape):
            raise AssertionError(f"{k}: {g.dtype} {list(g.shape)}, want {want.dtype} {list(want.shape)}")
        if g.contiguous().numpy().tobytes() != want.contiguous().numpy().tobytes():
            raise AssertionError(f"{k}: bytes differ (max|diff| {float((g.double() - want.double()).abs().max()):.3e})")
    order = "same key order" if list(got) == list(original) else "other key order"
    return f"{len(original)} tensors bit-identical ({order})"


def check_config(checks, d, cfg, figures):
    name, alpha, k, lc, batch, size = cfg
    t0 = time.time()
    original, _, torch_logits = torch_side(d, name, alpha, k, lc, batch, size)
    p = lambda suffix: os.path.join(d, f"{name}_{suffix}")  # noqa: E731
    inp = p("in.safetensors")
    flags = ["--alpha", alpha, "--num-classes", k, "--last-channel", lc]
    scale = float(np.abs(next(iter(torch_logits.values()))).max())
    figures[name] = {"scale": scale}

    # 2-3a. run with each .pth, BN folded and not; the legacy file also with explicit flags.
    for fmt, extra in (("zip", []), ("legacy", flags)):
        for fold in (True, False):
            tag = f"{fmt}{'' if fold else '_nofold'}"
            out = p(f"out_{tag}.safetensors")

            def go(fmt=fmt, extra=extra, fold=fold, out=out, tag=tag):
                cli_ok("run", "--weights", p(f"{fmt}.pth"), "--input", inp, "--output", out,
                       *extra, *([] if fold else ["--no-fold-bn"]))
                worst, msg = compare(out, torch_logits)
                figures[name][tag] = worst
                return msg

            how = "config from weights" if not extra else "config flags"
            checks.run(f"{name} run {fmt}.pth ({how}{', --no-fold-bn' if not fold else ''})", go)

    # 2. export everything from the zip .pth; the legacy .pth export from the legacy input.
    ex = {"onnx": p("exp.onnx"), "safetensors": p("exp.safetensors"), "pth": p("exp_zip.pth"),
          "pth_legacy": p("exp_legacy.pth")}
    exported = checks.run(f"{name} export (onnx at {size}, safetensors, pth zip)", lambda: cli_ok(
        "export", "--weights", p("zip.pth"), "--onnx", ex["onnx"], "--input-size", size,
        "--safetensors", ex["safetensors"], "--pth", ex["pth"]).stderr.strip().replace("\n", "; "))
    exported_legacy = checks.run(f"{name} export (pth legacy, config flags)", lambda: cli_ok(
        "export", "--weights", p("legacy.pth"), *flags, "--pth", ex["pth_legacy"],
        "--pth-format", "legacy").stderr.strip().replace("\n", "; "))

    # 3b. the exported files, by check_exports.py's logic.
    args = SimpleNamespace(alpha=alpha, num_classes=k, last_channel=lc, input=inp, input_key="input",
                           logits=p("out_zip.safetensors"), logits_key="logits", atol=ATOL)
    if exported:
        checks.run(f"{name} exported onnx full check", lambda: check_exports.check_onnx(ex["onnx"]))
    files = []
    if exported:
        files += [(ex["safetensors"], check_exports.read_safetensors), (ex["pth"], check_exports.read_pth)]
    if exported_legacy:
        files += [(ex["pth_legacy"], check_exports.read_pth)]
    for path, reader in files:
        short = os.path.basename(path)
        models = check_exports.build_models(args)
        loaded = checks.run(f"{name} {short} strict load",
                            lambda path=path, reader=reader, models=models:
                            check_exports.load_strict(models, reader(path), path))
        if loaded and os.path.exists(args.logits):
            checks.run(f"{name} {short} re-loaded in torch vs our logits",
                       lambda models=models, path=path: check_exports.compare_logits(models, args, path))
        checks.run(f"{name} {short} vs original state dict",
                   lambda path=path, reader=reader: bit_equal(path, reader, original))
    figures[name]["seconds"] = time.time() - t0


def check_truncated(checks, d):
    """A truncated .pth must give exit 3, one stderr line naming the file, and no output."""
    name = CONFIGS[1][0]
    inp = os.path.join(d, f"{name}_in.safetensors")
    for fmt in ("zip", "legacy"):
        src = os.path.join(d, f"{name}_{fmt}.pth")
        with open(src, "rb") as f:
            raw = f.read()
        # Cut in the header, in the middle of the tensor data, and just the last byte.
        for keep in (64, len(raw) * 2 // 3, len(raw) - 1):
            bad = os.path.join(d, f"truncated_{fmt}_{keep}.pth")
            with open(bad, "wb") as f:
                f.write(raw[:keep])
            out = os.path.join(d, f"truncated_{fmt}_{keep}_out.safetensors")

            def go(bad=bad, out=out, keep=keep, n=len(raw)):
                r = cli("run", "--weights", bad, "--input", inp, "--output", out)
                lines = r.stderr.splitlines()
                problems = []
                if r.returncode != EXIT_INPUT:
                    problems.append(f"exit {r.returncode}, want {EXIT_INPUT}")
                if len(lines) != 1:
                    problems.append(f"{len(lines)} stderr lines, want 1")
                if not lines or bad not in lines[0]:
                    problems.append("stderr does not name the file")
                # writeFileAtomic's temporary file is .<name>.<hex>.tmp
                base = os.path.basename(out)
                left = [f for f in os.listdir(d) if f.startswith(base) or f.startswith(f".{base}")]
                if left:
                    problems.append(f"left behind {left}")
                if problems:
                    raise AssertionError(f"{'; '.join(problems)}; stderr: {r.stderr.strip()[:300]!r}")
                return f"exit 3, {lines[0]!r}"

            checks.run(f"truncated {fmt}.pth ({keep} of {len(raw)} bytes) given to run", go)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files (default: a temporary folder)")
    ap.add_argument("--only", metavar="NAME", help=f"one config: {', '.join(c[0] for c in CONFIGS)}")
    a = ap.parse_args(argv)
    if not os.path.exists(CLI[1]):
        print(f"FAIL {CLI[1]} does not exist: build first (npx tsc -p .)")
        return 1
    configs = [c for c in CONFIGS if a.only in (None, c[0])]
    if not configs:
        ap.error(f"--only: no config {a.only!r}")
    torch.manual_seed(0)
    d = a.keep or tempfile.mkdtemp(prefix="mnv2-roundtrip-")
    os.makedirs(d, exist_ok=True)
    checks = Checks()
    figures = {}
    t0 = time.time()
    try:
        for cfg in configs:
            check_config(checks, d, cfg, figures)
        if any(c[0] == CONFIGS[1][0] for c in configs):
            check_truncated(checks, d)
    finally:
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)
    print("max|ours - torch| per config (logits' max|x|): " + "; ".join(
        f"{n} " + " ".join(f"{t} {v:.2e}" for t, v in f.items() if t not in ("scale", "seconds"))
        + f" ({f['scale']:.3g})" for n, f in figures.items()))
    verdict = "all checks passed" if checks.failures == 0 else f"{checks.failures} check(s) failed"
    print(f"{verdict} ({checks.count} checks, {time.time() - t0:.0f}s)")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
