#!/usr/bin/python3
"""Write the .pth fixtures of test/fixtures/pth/ with the real torch.save, and check our writer.

    /usr/bin/python3 tools/gen_pth_fixtures.py            # regenerate test/fixtures/pth/ (on purpose only)
    /usr/bin/python3 tools/gen_pth_fixtures.py --verify-writer
        # build first (npx tsc -p .); writes a torchvision mobilenet_v2 state_dict with OUR
        # writePth (zip and legacy) from node into a temp dir, then torch.load()s both files,
        # compares every tensor exactly and runs mobilenet_v2().load_state_dict(strict=True).

Files written (all small, all from torch 1.13 as Debian ships it):
  state_dict_zip.pth      torch.save(sd, f)                                   (zip format)
  state_dict_legacy.pth   torch.save(sd, f, _use_new_zipfile_serialization=False)
  checkpoint_p4.pth       torch.save({'epoch':.., 'state_dict': sd, ...}, f, pickle_protocol=4)
  expected.safetensors    every tensor of sd, contiguous, as float32 / int64 (a tiny writer below)
  forbidden_global.pth    a zip whose data.pkl names os.system (built by hand, never run)
  forbidden_global.pkl    the same reference as a bare protocol-2 pickle
"""
import collections
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, 'test', 'fixtures', 'pth')


def make_state_dict():
    g = torch.Generator().manual_seed(0)
    sd = collections.OrderedDict()
    sd['conv.weight'] = torch.randn(4, 3, 3, 3, generator=g)
    sd['bn.running_mean'] = torch.randn(4, generator=g)
    sd['bn.num_batches_tracked'] = torch.tensor(7, dtype=torch.int64)  # int64 scalar, shape []
    sd['ints'] = torch.tensor([-(2 ** 62) - 3, 2 ** 53 + 1, -1], dtype=torch.int64)
    # float16: subnormal, max, -0, inf, and an ordinary value
    sd['half'] = torch.tensor([6e-8, 65504.0, -0.0, float('inf'), 0.333], dtype=torch.float16)
    sd['bf16'] = torch.randn(2, 3, generator=g).to(torch.bfloat16)
    sd['double'] = torch.tensor([1 / 3, -2.5e-40, 1e300, 0.1], dtype=torch.float64)  # rounds to float32
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 - 1
    sd['base'] = base
    sd['row1'] = base[1]  # a view with storage offset 4
    sd['transposed'] = base.t()  # non-contiguous (stride (1, 4))
    sd['strided'] = base[:, ::2]  # non-contiguous with a step
    shared = torch.randn(5, generator=g)
    sd['shared_a'] = shared  # two keys, one tensor (one storage)
    sd['shared_b'] = shared
    sd['param'] = torch.nn.Parameter(torch.randn(2, 2, generator=g))  # pickled via _rebuild_parameter
    sd['scalar'] = torch.tensor(3.5)
    sd['empty'] = torch.zeros(0, 3)
    sd._metadata = collections.OrderedDict([('', {'version': 1}), ('bn', {'version': 2})])
    return sd


SAFE_DTYPES = {torch.float32: 'F32', torch.int64: 'I64'}


def write_safetensors(tensors, path):
    """A minimal safetensors writer (header padded with spaces to 8 bytes)."""
    header, blobs, offset = {}, [], 0
    for k, t in tensors.items():
        t = t.detach().contiguous()
        b = t.numpy().tobytes()
        header[k] = {'dtype': SAFE_DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def expected_values(sd):
    out = collections.OrderedDict()
    for k, v in sd.items():
        v = v.detach()
        out[k] = v if v.dtype == torch.int64 else v.to(torch.float32)
    return out


def forbidden_pickle():
    # PROTO 2, GLOBAL 'os system', 'echo hi', TUPLE1, REDUCE, STOP: written as bytes, never unpickled.
    arg = b'echo hi'
    return b'\x80\x02cos\nsystem\nq\x00X' + struct.pack('<I', len(arg)) + arg + b'q\x01\x85q\x02Rq\x03.'


def generate():
    os.makedirs(OUT, exist_ok=True)
    sd = make_state_dict()
    torch.save(sd, os.path.join(OUT, 'state_dict_zip.pth'))
    torch.save(sd, os.path.join(OUT, 'state_dict_legacy.pth'), _use_new_zipfile_serialization=False)
    ckpt = {'epoch': 3, 'arch': 'mobilenet_v2', 'best_acc1': 0.25, 'state_dict': sd, 'optimizer': {'lr': 0.1, 'momentum': 0.9}}
    torch.save(ckpt, os.path.join(OUT, 'checkpoint_p4.pth'), pickle_protocol=4)
    write_safetensors(expected_values(sd), os.path.join(OUT, 'expected.safetensors'))
    with open(os.path.join(OUT, 'forbidden_global.pkl'), 'wb') as f:
        f.write(forbidden_pickle())
    with zipfile.ZipFile(os.path.join(OUT, 'forbidden_global.pth'), 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', forbidden_pickle())
        z.writestr('archive/version', '3\n')
    # Self-check: torch reads back what it wrote, and the expectations match.
    for name in ('state_dict_zip.pth', 'state_dict_legacy.pth'):
        back = torch.load(os.path.join(OUT, name))
        assert list(back) == list(sd), name
        for k in sd:
            assert torch.equal(back[k], sd[k]), (name, k)
    for f in sorted(os.listdir(OUT)):
        print(f'{os.path.getsize(os.path.join(OUT, f)):8d}  test/fixtures/pth/{f}')


NODE_WRITER = r"""
import { readFileSync, writeFileSync } from 'node:fs';
const { readSafetensors } = await import(process.argv[1] + '/src/weights/safetensors.js');
const { writePth } = await import(process.argv[1] + '/src/weights/pth.js');
const dir = process.argv[2];
const { tensors } = readSafetensors(readFileSync(dir + '/ref.safetensors'), 'ref.safetensors');
writeFileSync(dir + '/ours_zip.pth', writePth(tensors, { format: 'zip' }));
writeFileSync(dir + '/ours_legacy.pth', writePth(tensors, { format: 'legacy' }));
console.log(`node wrote ${tensors.size} tensors`);
"""


def verify_writer():
    import torchvision
    dist = os.path.join(ROOT, 'dist')
    if not os.path.exists(os.path.join(dist, 'src', 'weights', 'pth.js')):
        sys.exit('build first: npx tsc -p .  (dist/src/weights/pth.js is missing)')
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2()
    for m in model.modules():  # non-trivial BN buffers, so that every key carries information
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.num_batches_tracked.fill_(12345)
    ref = model.state_dict()
    with tempfile.TemporaryDirectory() as d:
        write_safetensors(ref, os.path.join(d, 'ref.safetensors'))
        subprocess.run(['node', '--input-type=module', '-e', NODE_WRITER, dist, d], check=True)
        for name in ('ours_zip.pth', 'ours_legacy.pth'):
            path = os.path.join(d, name)
            if name == 'ours_zip.pth':
                with zipfile.ZipFile(path) as z:
                    assert z.testzip() is None, 'bad CRC'
                    bad = [i.filename for i in z.infolist() if i.compress_type != zipfile.ZIP_STORED]
                    assert not bad, bad
                    with open(path, 'rb') as f:
                        raw = f.read()
                    for i in z.infolist():  # data of every record starts on a 64-byte boundary
                        n, e = struct.unpack('<HH', raw[i.header_offset + 26:i.header_offset + 30])
                        assert (i.header_offset + 30 + n + e) % 64 == 0, i.filename
            back = torch.load(path)
            assert list(back) == list(ref), f'{name}: key order differs'
            for k in ref:
                assert back[k].dtype == ref[k].dtype and back[k].shape == ref[k].shape, (name, k)
                assert torch.equal(back[k], ref[k]), (name, k)
            fresh = torchvision.models.mobilenet_v2()
            fresh.load_state_dict(back, strict=True)
            x = torch.randn(1, 3, 64, 64)
            model.eval(), fresh.eval()
            assert torch.equal(model(x), fresh(x)), name
            print(f'{name}: {os.path.getsize(path)} bytes, torch.load OK, {len(back)} tensors equal, '
                  'load_state_dict(strict=True) OK, outputs equal')


if __name__ == '__main__':
    if '--verify-writer' in sys.argv[1:]:
        verify_writer()
    else:
        generate()
