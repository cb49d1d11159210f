#!/usr/bin/env python3
"""Standard-library helpers for tests/cli_clvit.sh (no numpy, no torch):
  idx DIR N [--gz]         synthetic MNIST-layout IDX files (train N, t10k N/2): class k is a
                           bright block at its own place plus noise, so a model can learn it
  csv DIR N                Kaggle layout train.csv (label + 784 pixels) and test.csv
  png PATH W H             an RGB gradient PNG
  npy-from FIXTURE OUT     the 'input' tensor of a fixture io file as float32 .npy
  check-logits NPY FIXTURE max |diff| <= 1e-4 * max |ref| against the fixture's 'logits'
  strip-meta IN OUT        a copy of a safetensors file without its __metadata__
"""
import json, os, random, struct, sys, zlib, gzip


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        b, e = v['data_offsets']
        raw = data[b:e]
        if v['dtype'] == 'F32':
            vals = list(struct.unpack('<%df' % (len(raw) // 4), raw))
        elif v['dtype'] == 'I64':
            vals = list(struct.unpack('<%dq' % (len(raw) // 8), raw))
        else:
            continue
        out[k] = (v['shape'], vals)
    return out


def read_npy(path):
    with open(path, 'rb') as f:
        raw = f.read()
    assert raw[:6] == b'\x93NUMPY', 'not an npy file'
    hlen = struct.unpack('<H', raw[8:10])[0]
    header = raw[10:10 + hlen].decode()
    shape = eval(header[header.index('(') : header.index(')') + 1])
    body = raw[10 + hlen:]
    return shape, list(struct.unpack('<%df' % (len(body) // 4), body))


def write_npy(path, shape, vals):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ''.join('%d, ' % s for s in shape)
    header += ' ' * (63 - (10 + len(header)) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header.encode())
        f.write(struct.pack('<%df' % len(vals), *vals))


def synthetic_images(n, seed):
    rnd = random.Random(seed)
    images, labels = [], []
    for i in range(n):
        k = i % 10
        img = [rnd.randrange(0, 60) for _ in range(784)]
        r0, c0 = 3 + (k // 5) * 12, 1 + (k % 5) * 5
        for r in range(r0, r0 + 8):
            for c in range(c0, c0 + 5):
                img[r * 28 + c] = 255
        images.append(img)
        labels.append(k)
    return images, labels


def write_idx(d, prefix, images, labels, gz):
    op = gzip.open if gz else open
    ext = '.gz' if gz else ''
    with op(os.path.join(d, prefix + '-images-idx3-ubyte' + ext), 'wb') as f:
        f.write(struct.pack('>IIII', 0x803, len(images), 28, 28))
        for img in images:
            f.write(bytes(img))
    with op(os.path.join(d, prefix + '-labels-idx1-ubyte' + ext), 'wb') as f:
        f.write(struct.pack('>II', 0x801, len(labels)))
        f.write(bytes(labels))


def png(path, w, h):
    rows = b''.join(b'\x00' + bytes(v for x in range(w) for v in (x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), 128)) for y in range(h))
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))


def main():
    cmd = sys.argv[1]
    if cmd == 'idx':
        d, n, gz = sys.argv[2], int(sys.argv[3]), '--gz' in sys.argv
        os.makedirs(d, exist_ok=True)
        write_idx(d, 'train', *synthetic_images(n, 1), gz)
        write_idx(d, 't10k', *synthetic_images(n // 2, 2), False)
    elif cmd == 'csv':
        d, n = sys.argv[2], int(sys.argv[3])
        os.makedirs(d, exist_ok=True)
        images, labels = synthetic_images(n, 3)
        with open(os.path.join(d, 'train.csv'), 'w') as f:
            f.write('label,' + ','.join('pixel%d' % i for i in range(784)) + '\n')
            for img, l in zip(images, labels):
                f.write('%d,%s\n' % (l, ','.join(map(str, img))))
        with open(os.path.join(d, 'test.csv'), 'w') as f:
            f.write(','.join('pixel%d' % i for i in range(784)) + '\n')
            for img in images[: n // 2]:
                f.write(','.join(map(str, img)) + '\n')
    elif cmd == 'png':
        png(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == 'npy-from':
        shape, vals = read_safetensors(sys.argv[2])['input']
        write_npy(sys.argv[3], shape, vals)
    elif cmd == 'check-logits':
        shape, got = read_npy(sys.argv[2])
        rshape, ref = read_safetensors(sys.argv[3])['logits']
        assert list(shape) == list(rshape), (shape, rshape)
        maxref = max(abs(v) for v in ref)
        maxdiff = max(abs(a - b) for a, b in zip(got, ref))
        print('logits max |diff| %.3g (limit %.3g)' % (maxdiff, 1e-4 * maxref))
        sys.exit(0 if maxdiff <= 1e-4 * maxref else 1)
    elif cmd == 'strip-meta':
        with open(sys.argv[2], 'rb') as f:
            n = struct.unpack('<Q', f.read(8))[0]
            header = json.loads(f.read(n))
            data = f.read()
        header.pop('__metadata__', None)
        text = json.dumps(header).encode()
        text += b' ' * (-len(text) % 8)
        with open(sys.argv[3], 'wb') as f:
            f.write(struct.pack('<Q', len(text)) + text + data)
    else:
        sys.exit('unknown helper command ' + cmd)


if __name__ == '__main__':
    main()
