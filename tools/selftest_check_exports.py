"""Self-test of tools/check_exports.py on files PyTorch itself writes (our CLI's are not ready yet).

  /usr/bin/python3 tools/selftest_check_exports.py

Writes, into a temporary folder, a parity-filled model's state dict with torch.save, the same as
safetensors, torch.onnx.export's ONNX, an input and its logits; then asserts that check_exports
passes on them and fails (exit 1) on wrong logits, a wrong config, a truncated .pth and .onnx.
"""

import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from parity_fill import parity_input, parity_state_dict  # noqa: E402
from safetensors_lite import save_safetensors  # noqa: E402
from seed_model import MobileNetV2  # noqa: E402


def write_case(d, alpha, k, lc):
    m = MobileNetV2(k, alpha, last_channel=lc).eval()
    m.load_state_dict(parity_state_dict(m.state_dict()))
    tag = os.path.join(d, f"a{alpha}_c{k}_{lc}")
    torch.save(m.state_dict(), tag + ".pth")
    save_safetensors(tag + ".safetensors", {key: v.numpy() for key, v in m.state_dict().items()})
    x = parity_input("64", (2, 3, 64, 64))
    with torch.no_grad():
        y = m(torch.from_numpy(x)).numpy()
    save_safetensors(tag + "_in.safetensors", {"input": x})
    save_safetensors(tag + "_out.safetensors", {"logits": y})
    save_safetensors(tag + "_outbad.safetensors", {"logits": y + 3e-4})
    torch.onnx.export(m, torch.from_numpy(x), tag + ".onnx", input_names=["input"], output_names=["logits"],
                      opset_version=13)
    return tag


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as d:

        def expect(rc, *args):
            nonlocal failures
            cmd = [sys.executable, os.path.join(HERE, "check_exports.py"), *args]
            got = subprocess.run(cmd, capture_output=True, text=True)
            ok = got.returncode == rc
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} exit {got.returncode} (want {rc}): {' '.join(a.replace(d + '/', '') for a in args)}")
            if not ok:
                print(got.stdout + got.stderr)

        for lc in ("seed", "paper"):
            t = write_case(d, 0.5, 10, lc)
            cfg = ["--alpha", "0.5", "--num-classes", "10", "--last-channel", lc]
            expect(0, *cfg, "--onnx", t + ".onnx", "--pth", t + ".pth", "--safetensors", t + ".safetensors",
                   "--input", t + "_in.safetensors", "--logits", t + "_out.safetensors")
            expect(1, *cfg, "--pth", t + ".pth", "--input", t + "_in.safetensors", "--logits", t + "_outbad.safetensors")
        seed = os.path.join(d, "a0.5_c10_seed")
        expect(1, "--alpha", "0.5", "--num-classes", "10", "--last-channel", "paper", "--pth", seed + ".pth")
        expect(1, "--alpha", "0.5", "--num-classes", "1000", "--last-channel", "seed", "--safetensors", seed + ".safetensors")
        for ext in (".pth", ".onnx", ".safetensors"):
            raw = open(seed + ext, "rb").read()
            with open(seed + "_trunc" + ext, "wb") as f:
                f.write(raw[: len(raw) // 2])
            flag = {".pth": "--pth", ".onnx": "--onnx", ".safetensors": "--safetensors"}[ext]
            expect(1, "--alpha", "0.5", "--num-classes", "10", "--last-channel", "seed", flag, seed + "_trunc" + ext)
        expect(2, "--alpha", "0.5", "--num-classes", "10", "--last-channel", "seed")
    print("self-test passed" if failures == 0 else f"self-test: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
