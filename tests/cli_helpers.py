#!/usr/bin/env python3
"""Standard-library helpers for tests/cli_clvit.sh (no numpy, no torch):
  idx DIR N [--gz]         synthetic MNIST-layout IDX files (train N, t10k N/2): class k is a
                           bright block at its own place plus noise, so a model can learn it
  csv DIR N                Kaggle layout train.csv (label + 784 pixels) and test.csv
  png PATH W H             an RGB gradient PNG
  npy-from FIXTURE OUT     the 'input' tensor of a fixture io file as float32 .npy
  check-logits NPY FIXTURE max |diff| <= 1e-4 * max |ref| against the fixture's 'logits'
  strip-meta IN OUT        a copy of a safetensors file without its __metadata__
  tiny-model PATH K WIN    a random ViT (16x16 RGB, patch 8, dim 8, 1 block) with K classes
                           whose head bias makes class WIN the top-1 for any image
  check-predict FMT FILE N TOPK [TOP1]
                           parses `clvit predict --format FMT` output (json: json.load, csv:
                           the csv module, text): N images with TOPK classes each, indices
                           and probabilities in range and descending, every top-1 label
                           TOP1 when given; prints the image paths in order
  meta FILE KEY            prints a __metadata__ value of a safetensors file (exit 1 if absent)
  st-diff A B              compares two safetensors files tensor by tensor (the same names,
                           shapes and values, bit for bit; metadata too); prints the tensors
                           that differ with their max |a - b|; exit 1 if any differ
  finite FILE              exit 1 (naming the tensor) if a F32 tensor holds a NaN or Inf
  st-close A B START LR K  data-parallel vs one-device checkpoints (docs/distributed.md): the
                           same tensors, step and position (metadata); every parameter within
                           2 LR K of B's, and the RMS difference at most 0.1% of B's RMS change
                           since START (a checkpoint of the same run K or fewer steps before);
                           the Adam moments (optim.*) are not compared
"""
import csv, json, os, random, struct, sys, zlib, gzip


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


def read_meta(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        return json.loads(f.read(n)).get('__metadata__', {})


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


def write_safetensors(path, tensors, meta):
    header, blobs, off = {'__metadata__': meta}, [], 0
    for name, (shape, vals) in tensors.items():
        raw = struct.pack('<%df' % len(vals), *vals)
        header[name] = {'dtype': 'F32', 'shape': shape, 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def tiny_model(path, K, win):
    rnd = random.Random(K)
    S, p, C, D, Hd = 16, 8, 3, 8, 16
    N = (S // p) ** 2 + 1
    def t(*shape, fill=None):
        n = 1
        for d in shape:
            n *= d
        return (list(shape), [fill if fill is not None else rnd.gauss(0, 0.2) for _ in range(n)])
    w = {'cls_token': t(1, 1, D), 'pos_embed': t(1, N, D), 'patch_embed.proj.weight': t(D, C, p, p),
         'patch_embed.proj.bias': t(D)}
    for n_, shape in [('norm1.weight', (D,)), ('norm1.bias', (D,)), ('attn.qkv.weight', (3 * D, D)),
                      ('attn.qkv.bias', (3 * D,)), ('attn.proj.weight', (D, D)), ('attn.proj.bias', (D,)),
                      ('norm2.weight', (D,)), ('norm2.bias', (D,)), ('mlp.fc1.weight', (Hd, D)),
                      ('mlp.fc1.bias', (Hd,)), ('mlp.fc2.weight', (D, Hd)), ('mlp.fc2.bias', (D,))]:
        w['blocks.0.' + n_] = t(*shape, fill=1.0 if n_.endswith('norm1.weight') or n_.endswith('norm2.weight') else None)
    w['norm.weight'] = t(D, fill=1.0)
    w['norm.bias'] = t(D, fill=0.0)
    w['head.weight'] = t(K, D)
    bias = [rnd.gauss(0, 0.1) for _ in range(K)]
    bias[win] = 10.0
    w['head.bias'] = ([K], bias)
    meta = {'format': 'pt', 'img_size': str(S), 'patch_size': str(p), 'in_chans': str(C),
            'num_classes': str(K), 'embed_dim': str(D), 'depth': '1', 'num_heads': '2',
            'mlp_ratio': '2', 'qkv_bias': '1', 'qk_scale': '0', 'representation_size': '0',
            'distilled': '0', 'global_pool': 'token', 'pos_embed': 'learned',
            'mean': '0.485,0.456,0.406', 'std': '0.229,0.224,0.225', 'crop_pct': '0.875'}
    write_safetensors(path, w, meta)


def check_predict(fmt, path, n, topk, top1):
    """Returns [(image, [(index, label, prob), ...]), ...] parsed from clvit predict's output."""
    recs = []
    with open(path, newline='') as f:
        if fmt == 'json':
            for r in json.load(f):
                recs.append((r['image'], [(c['index'], c['label'], c['prob']) for c in r['top']]))
        elif fmt == 'csv':
            rows = list(csv.DictReader(f))
            for row in rows:
                if row['rank'] == '1':
                    recs.append((row['image'], []))
                assert recs and recs[-1][0] == row['image'], row
                assert int(row['rank']) == len(recs[-1][1]) + 1, row
                recs[-1][1].append((int(row['index']), row['label'] or None, float(row['prob'])))
        else:
            for line in f:
                if line.startswith('  '):
                    parts = line.split(None, 2)
                    label = parts[2].strip() if len(parts) > 2 else ''
                    recs[-1][1].append((int(parts[1]), label or None, float(parts[0])))
                else:
                    recs.append((line.rstrip('\n'), []))
    assert len(recs) == n, 'expected %d images, got %d' % (n, len(recs))
    for image, top in recs:
        assert len(top) == topk, (image, top)
        probs = [c[2] for c in top]
        assert all(0.0 < q <= 1.0 for q in probs) and probs == sorted(probs, reverse=True), top
        assert len(set(c[0] for c in top)) == topk, top
        if top1 is not None:
            assert top[0][1] == top1, 'top-1 of %s is %r, expected %r' % (image, top[0][1], top1)
        print(image)


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
    elif cmd == 'tiny-model':
        tiny_model(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == 'check-predict':
        check_predict(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                      sys.argv[6] if len(sys.argv) > 6 else None)
    elif cmd == 'meta':
        with open(sys.argv[2], 'rb') as f:
            n = struct.unpack('<Q', f.read(8))[0]
            meta = json.loads(f.read(n)).get('__metadata__', {})
        if sys.argv[3] not in meta:
            sys.exit('%s: no %s in the metadata' % (sys.argv[2], sys.argv[3]))
        print(meta[sys.argv[3]])
    elif cmd == 'st-diff':
        a, b = read_safetensors(sys.argv[2]), read_safetensors(sys.argv[3])
        bad = 0
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                print('%s: only in %s' % (k, sys.argv[2] if k in a else sys.argv[3]))
                bad += 1
                continue
            (sa, va), (sb, vb) = a[k], b[k]
            if sa != sb:
                print('%s: shape %s vs %s' % (k, sa, sb))
                bad += 1
                continue
            differ = sum(1 for x, y in zip(va, vb) if struct.pack('<f', x) != struct.pack('<f', y))
            if differ:
                print('%s: %d of %d values differ, max |a - b| %.3g' %
                      (k, differ, len(va), max(abs(x - y) for x, y in zip(va, vb))))
                bad += 1
        for path in sys.argv[2:4]:
            with open(path, 'rb') as f:
                n = struct.unpack('<Q', f.read(8))[0]
                print('%s metadata: %s' % (path, json.loads(f.read(n)).get('__metadata__')))
        print('%d tensors differ' % bad)
        sys.exit(1 if bad else 0)
    elif cmd == 'st-close':
        a, b, s0 = (read_safetensors(p) for p in sys.argv[2:5])
        lr, k = float(sys.argv[5]), int(sys.argv[6])
        bound = 2.0 * lr * k
        bad, d2, c2, n, dmax = 0, 0.0, 0.0, 0, 0.0
        for name in sorted(set(a) | set(b)):
            if name not in a or name not in b or a[name][0] != b[name][0]:
                print('%s: missing or of another shape' % name)
                bad += 1
                continue
            if name.startswith('optim.'):
                if not all(isinstance(v, float) for v in a[name][1]) and a[name] != b[name]:
                    print('%s: %s vs %s' % (name, a[name][1], b[name][1]))  # the step count
                    bad += 1
                continue
            va, vb, v0 = a[name][1], b[name][1], s0[name][1]
            for x, y, z in zip(va, vb, v0):
                d2 += (x - y) ** 2
                c2 += (y - z) ** 2
                dmax = max(dmax, abs(x - y))
            n += len(va)
        for key in ('clvit.step', 'clvit.epoch', 'clvit.batch'):
            ma = read_meta(sys.argv[2]).get(key)
            mb = read_meta(sys.argv[3]).get(key)
            if ma != mb:
                print('%s: %s vs %s' % (key, ma, mb))
                bad += 1
        rd, rc = (d2 / max(n, 1)) ** 0.5, (c2 / max(n, 1)) ** 0.5
        ok = not bad and n > 0 and rc > 0 and dmax <= bound and rd <= 1e-3 * rc
        print('%d parameters: max |a - b| %.3g (bound 2 lr K = %.3g), rms %.3g = %.2g of the rms '
              'change %.3g (bound 1e-3): %s' % (n, dmax, bound, rd, rd / rc if rc else 0.0, rc,
                                                'ok' if ok else 'MISMATCH'))
        sys.exit(0 if ok else 1)
    elif cmd == 'finite':
        for k, (shape, vals) in read_safetensors(sys.argv[2]).items():
            for i, v in enumerate(vals):
                if v != v or v in (float('inf'), float('-inf')):
                    sys.exit('%s: %s[%d] is %r' % (sys.argv[2], k, i, v))
    else:
        sys.exit('unknown helper command ' + cmd)


if __name__ == '__main__':
    main()
