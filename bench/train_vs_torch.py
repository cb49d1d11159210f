#!/usr/bin/env python3
"""Training throughput of clvit against PyTorch on the CPU, side by side in one run.

Both train the same model (default: the vit_mnist preset, i.e. the seed's VisionTransformer
with img 28, patch 7, 1 channel, 10 classes, dim 64, depth 6, 4 heads, mlp_ratio 2) on the
same MNIST images with the same batch size, AdamW and cross-entropy, end to end (batches
built on the host, forward, backward, optimizer step). PyTorch uses as many threads as the
OpenCL device has compute units (2 on PoCL here), over single-threaded OpenBLAS calls. Each
side runs in one process: one warm-up epoch, then --reps timed epochs; the median images/s is
reported, with min and max, and the ratio.

  /usr/bin/python3 bench/train_vs_torch.py --data data/mnist [--images 6400] [--batch 128]
        [--reps 3] [--clvit build/clvit] [--json out/train_vs_torch.json]
"""
import argparse, json, os, re, statistics, struct, subprocess, sys, time

# PyTorch's fastest setting here, set before torch (and OpenBLAS) load: its own intra-op
# threads over single-threaded OpenBLAS calls. With OpenBLAS's pthreads as well, both pools
# spin on the same 2 cores (measured on vit_mnist: 560 img/s against 1985). Set
# OPENBLAS_NUM_THREADS to choose otherwise.
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def read_idx(path, n):
    with open(path, 'rb') as f:
        raw = f.read()
    magic = struct.unpack('>I', raw[:4])[0]
    if magic == 0x803:
        count, rows, cols = struct.unpack('>III', raw[4:16])
        return raw[16:16 + n * rows * cols], rows, cols
    return raw[8:8 + n], 0, 0


def clvit_epochs(args, n):
    """Rates of epochs 2..n+1 of one `clvit train` process: the first epoch is the warm-up
    (program loading, first-use GEMM tuning), as PyTorch's is in its own process."""
    cmd = [args.clvit, 'train', '--data', 'mnist:' + args.data, '--epochs', str(n + 1), '--batch',
           str(args.batch), '--limit', str(args.images), '--val-split', '0', '--no-test',
           '--warmup', '0', '--rotate', '0', '--shift', '0', '--preset', args.preset,
           # the same recipe as the PyTorch side, whatever clvit's defaults are
           '--lr', '1e-3', '--weight-decay', '0.05', '--drop-path', '0.1', '--clip', '1.0',
           '--optimizer', 'adamw']
    if args.device:
        cmd += ['--device', args.device]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit('clvit failed: ' + out.stderr.strip())
    rates = [float(r) for r in re.findall(r'^epoch [0-9]+/[0-9]+ .*\(([0-9.]+) img/s\)',
                                          out.stdout, re.M)]
    if len(rates) != n + 1:
        sys.exit('clvit: expected %d epoch lines, got %d' % (n + 1, len(rates)))
    dev = re.search(r' on (.*) \((.*)\), CLBlast parameters: (.*)\n', out.stdout)
    return rates[1:], ('%s, CLBlast parameters: %s' % (dev.group(1), dev.group(3))
                       if dev else '?')


def torch_epochs(args, threads):
    import torch
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    from vit_ref import VisionTransformer
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfgs = {'vit_mnist': dict(embed_dim=64, depth=6, num_heads=4, mlp_ratio=2.0),
            'vit_mnist_tiny': dict(embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0)}
    model = VisionTransformer(img_size=28, patch_size=7, in_c=1, num_classes=10,
                              drop_path_ratio=0.1, **cfgs[args.preset])
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    lossf = torch.nn.CrossEntropyLoss()
    pixels, rows, cols = read_idx(os.path.join(args.data, 'train-images-idx3-ubyte'), args.images)
    labels, _, _ = read_idx(os.path.join(args.data, 'train-labels-idx1-ubyte'), args.images)
    x_all = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).reshape(-1, 1, rows, cols)
    y_all = torch.tensor(list(labels), dtype=torch.long)
    rates = []
    for rep in range(args.reps + 1):
        order = torch.randperm(len(y_all))
        t0 = time.perf_counter()
        for b in range(0, len(order), args.batch):
            idx = order[b:b + args.batch]
            x = (x_all[idx].float() / 255.0 - 0.5) / 0.5
            opt.zero_grad()
            loss = lossf(model(x), y_all[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        rate = len(order) / (time.perf_counter() - t0)
        if rep:  # the first epoch is the warm-up
            rates.append(rate)
    return rates, torch.__version__


def summary(rates):
    return {'median': statistics.median(rates), 'min': min(rates), 'max': max(rates),
            'runs': rates}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=os.path.join(ROOT, 'data', 'mnist'))
    ap.add_argument('--clvit', default=os.path.join(ROOT, 'build', 'clvit'))
    ap.add_argument('--preset', default='vit_mnist', choices=['vit_mnist', 'vit_mnist_tiny'])
    ap.add_argument('--images', type=int, default=6400)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (default: nproc)')
    ap.add_argument('--device', default=None)
    ap.add_argument('--json', default=None)
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit('PyTorch is not installed for this interpreter (use /usr/bin/python3)')
    threads = args.threads or os.cpu_count()
    c_rates, device = clvit_epochs(args, args.reps)
    t_rates, tv = torch_epochs(args, threads)
    c, t = summary(c_rates), summary(t_rates)
    ratio = c['median'] / t['median']
    print('training throughput, %s, batch %d, %d MNIST images per epoch, %d timed epochs each'
          % (args.preset, args.batch, args.images, args.reps))
    print('  %-44s %8.1f img/s (min %.1f, max %.1f)' % ('clvit on ' + device, c['median'], c['min'], c['max']))
    print('  %-44s %8.1f img/s (min %.1f, max %.1f)' % ('PyTorch %s CPU, %d threads' % (tv, threads), t['median'], t['min'], t['max']))
    print('  ratio clvit / PyTorch: %.2f' % ratio)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'preset': args.preset, 'batch': args.batch, 'images': args.images,
                       'reps': args.reps, 'clvit': dict(c, device=device),
                       'torch': dict(t, version=tv, threads=threads), 'ratio': ratio}, f, indent=1)


if __name__ == '__main__':
    main()
