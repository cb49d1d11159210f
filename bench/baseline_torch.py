#!/usr/bin/env python3
"""
baseline_torch.py - the PyTorch baseline for clvit-bench, on the CPU or (--device cuda) a
CUDA GPU.

Times the same presets and batch sizes as clvit-bench with PyTorch (the model is
tools/vit_ref.py, the reference clvit is checked against) and writes the same JSON schema
("clvit-bench/1", see bench/bench_json.c), so that

    clvit-bench --compare torch.json clvit.json

prints the speedup of clvit over PyTorch row by row, and `clvit-bench --plot` draws both.

Sections (same row names as clvit-bench where the quantity is the same):
  memory  copy_kernel: Tensor.copy_ of a large buffer (read + write), GB/s
  gemm    sgemm_square on the same sizes; the presets' GEMM shapes at --gemm-batch (the
          Linears as x @ W^T with W stored (out, in), attention as batched matmuls)
  infer   latency (ms) and throughput (img/s) per model and batch size, end to end from a
          host tensor to logits, under torch.inference_mode()
  profile kernel:<aten op> self CPU time of one forward (torch.profiler), total:gemm,
          total:own_kernels (here: every other op), total:wall
Before timing: logits finite, and one image alone gives its logits inside the batch
(|a - r| <= 1e-4 + 1e-4 |r|); matrix products against float64 on sampled entries.

Threads: torch.set_num_threads(--threads), default every CPU the process may use, which is
what PoCL uses too.
--device cuda runs on the first CUDA (or ROCm) GPU in full float32 (TF32 off, as clvit
computes), synchronising before each timer stops; the profile section is CPU only. Run with a Python that has torch (on Debian: /usr/bin/python3 with
python3-torch). Without torch it says so and exits 1.
"""
import os

# PyTorch's fastest setting on this machine, set before torch (and OpenBLAS) load: its own
# intra-op threads over single-threaded OpenBLAS calls (ViT-B/16 batch 1: 3.93 img/s against
# 1.71 with OpenBLAS's own threads as well). Set OPENBLAS_NUM_THREADS to choose otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import datetime
import json
import math
import os
import platform
import re
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

FULL_MODELS = "vit_mnist,deit_tiny_patch16_224,vit_base_patch16_224"
GEMM_OPS = ("aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm")


def clvit_version():
    try:
        with open(os.path.join(ROOT, "include", "clvit.h")) as f:
            text = f.read()
        # the version is written once, as three numbers in the header
        parts = [re.search(r"#define CLVIT_VERSION_%s (\d+)" % p, text)
                 for p in ("MAJOR", "MINOR", "PATCH")]
        return ".".join(m.group(1) for m in parts) if all(parts) else "unknown"
    except OSError:
        return "unknown"


def int_list(s):
    try:
        v = [int(x) for x in s.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{s}' is not a comma-separated list of integers")
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError(f"'{s}': values must be >= 1")
    return v


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="PyTorch baseline for clvit-bench (same JSON schema), on the CPU or a "
                    "CUDA GPU.")
    p.add_argument("--quick", action="store_true", help="vit_mnist, batches 1,4, 3 runs")
    p.add_argument("--models", help=f"comma-separated presets (default {FULL_MODELS})")
    p.add_argument("--batch", type=int_list, help="batch sizes (default 1,8,32; --quick 1,4)")
    p.add_argument("--reps", type=int, help="timed runs (default 5; --quick 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    p.add_argument("--max-time", type=float, help="seconds per measurement before stopping "
                   "early, once 3 runs are done (default 20; --quick 2)")
    p.add_argument("--min-time", type=float, help="one timed run of a GEMM/copy lasts at "
                   "least this long (default 0.05; --quick 0.01)")
    p.add_argument("--sections", default="memory,gemm,infer,profile",
                   help="any of memory,gemm,infer,profile (default all)")
    p.add_argument("--gemm-sizes", type=int_list,
                   help="square sizes (default 128,256,512,768,1024; --quick 64,128,256)")
    p.add_argument("--gemm-batch", type=int, help="batch of the presets' GEMM shapes "
                   "(default the largest --batch)")
    p.add_argument("--profile-batch", type=int, help="batch of the profile (default the "
                   "largest --batch)")
    p.add_argument("--mem-mib", type=int, help="copy buffer size (default 64; --quick 16)")
    p.add_argument("--threads", type=int, help="torch threads (default: every usable CPU)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where PyTorch runs: cpu (default) or cuda, the first CUDA/ROCm GPU "
                   "(float32, TF32 off; the profile section is skipped there)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--output", "-o", help="JSON file (default stdout)")
    a = p.parse_args(argv)
    q = a.quick
    a.models = (a.models or ("vit_mnist" if q else FULL_MODELS)).split(",")
    a.batch = a.batch or ([1, 4] if q else [1, 8, 32])
    a.reps = a.reps or (3 if q else 5)
    a.max_time = a.max_time if a.max_time is not None else (2.0 if q else 20.0)
    a.min_time = a.min_time if a.min_time is not None else (0.01 if q else 0.05)
    a.gemm_sizes = a.gemm_sizes or ([64, 128, 256] if q else [128, 256, 512, 768, 1024])
    a.gemm_batch = a.gemm_batch or max(a.batch)
    a.profile_batch = a.profile_batch or max(a.batch)
    a.mem_mib = a.mem_mib or (16 if q else 64)
    a.threads = a.threads or len(os.sched_getaffinity(0))
    a.sections = [s for s in a.sections.split(",") if s]
    for s in a.sections:
        if s not in ("memory", "gemm", "infer", "profile"):
            p.error(f"--sections: unknown section '{s}'")
    if a.reps < 1 or a.warmup < 0:
        p.error("--reps must be >= 1 and --warmup >= 0")
    return a


# ---------------------------------------------------------------- statistics and rows

def stats(samples):
    v = sorted(samples)
    n = len(v)
    med = statistics.median(v)
    return {
        "runs": n,
        "median": med,
        "min": v[0],
        "max": v[-1],
        "mean": statistics.fmean(v),
        "stddev": statistics.stdev(v) if n > 1 else 0.0,
        "spread_pct": 100.0 * (v[-1] - v[0]) / abs(med) if med else None,
    }


def row(section, name, unit, higher, samples, model="", batch=0, shape="", **extra):
    r = {"section": section, "name": name, "model": model, "batch": batch, "shape": shape,
         "device": 0, "unit": unit, "higher_is_better": higher}
    r.update(stats(samples))
    r.update({"gflops": None, "frac_peak": None, "share_pct": None, "calls": 0, "kind": "",
              "note": ""})
    r.update(extra)
    return r


def log(msg):
    print(f"baseline_torch.py: {msg}", file=sys.stderr, flush=True)


# torch.cuda.synchronize with --device cuda: GPU work is queued, so a timer stops only once
# the device has finished what the timed call queued.
_device_sync = None


def sync():
    if _device_sync:
        _device_sync()


def time_runs(args, fn):
    """warm-up, then up to --reps timed calls (stopping after --max-time once 3 are done)."""
    for _ in range(args.warmup):
        fn()
    sync()
    out = []
    start = time.perf_counter()
    for r in range(args.reps):
        if r >= 3 and time.perf_counter() - start > args.max_time:
            break
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t0)
    return out


def iters_for(fn, min_time):
    fn()
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    t = time.perf_counter() - t0
    return max(1, min(10000, math.ceil(min_time / t))) if t > 0 else 1


# ---------------------------------------------------------------- models

PRESET_RE = re.compile(r'\{"(\w+)",\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),'
                       r'\s*(\d+),\s*([\d.]+)f?,\s*(\d+),\s*(\d+),\s*(\d+)\}')


def clvit_presets():
    """The preset table of lib/config.c, so both tools build the same architectures."""
    try:
        with open(os.path.join(ROOT, "lib", "config.c")) as f:
            text = f.read()
    except OSError:
        return {}
    out = {}
    for m in PRESET_RE.finditer(text):
        name, img, patch, in_c, classes, dim, depth, heads = m.group(1), *map(int, m.groups()[1:8])
        out[name] = dict(img_size=img, patch_size=patch, in_c=in_c, num_classes=classes,
                         embed_dim=dim, depth=depth, num_heads=heads,
                         mlp_ratio=float(m.group(9)), qkv_bias=True,
                         representation_size=int(m.group(10)) or None,
                         distilled=bool(int(m.group(11))))
    return out


def make_model(torch, vit_ref, name):
    presets = clvit_presets()
    if name in presets:
        return vit_ref.VisionTransformer(**presets[name])
    if name == "vit_mnist":  # clvit's preset: 28x28 grey, 7x7 patches, 16 tokens + class
        return vit_ref.VisionTransformer(img_size=28, patch_size=7, in_c=1, num_classes=10,
                                         embed_dim=64, depth=6, num_heads=4, mlp_ratio=2.0,
                                         qkv_bias=True)
    fn = getattr(vit_ref, name, None)
    if fn is None or not callable(fn) or name.startswith("_"):
        raise SystemExit(f"baseline_torch.py: unknown preset '{name}'")
    return fn()


def model_dims(m):
    a = m.arch_args
    p, s = a["patch_size"], a["img_size"]
    P = (s // p) ** 2
    T = 2 if a.get("distilled") else 1
    D, H = a["embed_dim"], a["num_heads"]
    return dict(C=a["in_c"], S=s, p=p, P=P, T=T, N=P + T, D=D, H=H, hd=D // H,
                Hd=int(D * a["mlp_ratio"]), K=a["num_classes"],
                R=0 if a.get("distilled") else (a.get("representation_size") or 0))


# ---------------------------------------------------------------- sections

def bench_memory(torch, args, rows):
    n = (args.mem_mib << 20) // 4
    src = torch.arange(n, dtype=torch.float32, device=args.device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    if not torch.equal(dst, src):
        raise SystemExit("baseline_torch.py: check FAILED: copy")
    it = iters_for(lambda: dst.copy_(src), args.min_time)

    def run():
        for _ in range(it):
            dst.copy_(src)

    t = time_runs(args, run)
    gbs = [2.0 * n * 4 / (x / it) / 1e9 for x in t]
    rows.append(row("memory", "copy_kernel", "GB/s", True, gbs, shape=f"{args.mem_mib}MiB",
                    note="Tensor.copy_, read+write"))


def gemm_measure(torch, args, rows, label, m, n, k, batch, trans_b, alpha=1.0, model="",
                 model_batch=0):
    g = torch.Generator().manual_seed(args.seed + m * 7 + n * 13 + k)
    A = (torch.rand(batch, m, k, generator=g) * 2 - 1).to(args.device)
    B = ((torch.rand(batch, n, k, generator=g) if trans_b else torch.rand(batch, k, n, generator=g)) * 2 - 1).to(args.device)
    if batch == 1:
        A2, B2 = A[0], B[0]
        fn = (lambda: torch.mm(A2, B2.t())) if trans_b else (lambda: torch.mm(A2, B2))
    else:
        fn = (lambda: torch.bmm(A, B.transpose(1, 2))) if trans_b else (lambda: torch.bmm(A, B))
    if alpha != 1.0:
        base = fn
        fn = lambda: base().mul_(alpha)  # noqa: E731 - as attention scales its scores
    C = fn()
    C = C.reshape(batch, m, n)
    Bt = B.transpose(1, 2) if trans_b else B
    for bi, i, j in ((0, 0, 0), (batch - 1, m - 1, n - 1), (batch // 2, m // 2, n // 3)):
        ref = alpha * float((A[bi, i, :].double() * Bt[bi, :, j].double()).sum())
        mag = abs(alpha) * float((A[bi, i, :].double() * Bt[bi, :, j].double()).abs().sum())
        if not abs(float(C[bi, i, j]) - ref) <= 1e-5 + 1e-4 * mag:
            raise SystemExit(f"baseline_torch.py: check FAILED: GEMM {label} {m}x{n}x{k}")
    it = iters_for(fn, args.min_time)

    def run():
        for _ in range(it):
            fn()

    t = time_runs(args, run)
    flops = 2.0 * m * n * k * batch
    rates = [flops / (x / it) / 1e9 for x in t]
    shape = f"{m}x{n}x{k}" + (f" x{batch}" if batch > 1 else "")
    note = ("B^T " if trans_b else "") + ("batched (bmm)" if batch > 1 else "")
    r = row("gemm", label, "GFLOP/s", True, rates, model=model, batch=model_batch, shape=shape,
            note=note)
    rows.append(r)
    return r["median"]


def preset_shapes(d, b):
    N, D = d["N"], d["D"]
    s = [("patch_embed", b * d["P"], D, d["C"] * d["p"] ** 2, 1, True, 1.0),
         ("qkv", b * N, 3 * D, D, 1, True, 1.0),
         ("attn_scores", N, N, d["hd"], b * d["H"], True, d["hd"] ** -0.5),
         ("attn_values", N, d["hd"], N, b * d["H"], False, 1.0),
         ("proj", b * N, D, D, 1, True, 1.0),
         ("fc1", b * N, d["Hd"], D, 1, True, 1.0),
         ("fc2", b * N, D, d["Hd"], 1, True, 1.0)]
    if d["R"]:
        s.append(("pre_logits", b, d["R"], D, 1, True, 1.0))
    s.append(("head", b, d["K"], d["R"] or D, 1, True, 1.0))
    return s


def bench_gemm(torch, vit_ref, args, rows, peak):
    for n in args.gemm_sizes:
        log(f"gemm: square {n}")
        peak[0] = max(peak[0] or 0.0, gemm_measure(torch, args, rows, "sgemm_square", n, n, n,
                                                   1, False))
    for r in rows:
        if r["name"] == "sgemm_square":
            r["frac_peak"] = r["median"] / peak[0]
    for name in args.models:
        d = model_dims(make_model(torch, vit_ref, name))
        log(f"gemm: shapes of {name} at batch {args.gemm_batch}")
        for label, m, n, k, batch, tb, alpha in preset_shapes(d, args.gemm_batch):
            before = len(rows)
            gemm_measure(torch, args, rows, label, m, n, k, batch, tb, alpha, name,
                         args.gemm_batch)
            if peak[0]:
                rows[before]["frac_peak"] = rows[before]["median"] / peak[0]


def forward_flops(d, depth):
    """FLOPs per image, multiply-add = 2, counted as clvit_config_flops does."""
    N, D, Hd, P, H, hd = d["N"], d["D"], d["Hd"], d["P"], d["H"], d["hd"]
    block = 2 * N * D * 3 * D + 2 * H * N * N * hd * 2 + 2 * N * D * D + 2 * N * D * Hd * 2
    head = 2 * (d["R"] or D) * d["K"] + 2 * D * d["R"] + (2 * D * d["K"] if d["T"] == 2 else 0)
    return 2 * P * d["C"] * d["p"] ** 2 * D + depth * block + head


def check_model(torch, model, x, logits):
    if not torch.isfinite(logits).all():
        return False, "check FAILED: non-finite logits"
    b = x.shape[0]
    worst = 0.0
    for i in sorted({0, b - 1}):
        one = model(x[i:i + 1])[0]
        ref = logits[i]
        diff = (one - ref).abs()
        worst = max(worst, float(diff.max()))
        if not bool((diff <= 1e-4 + 1e-4 * ref.abs()).all()):
            return False, f"check FAILED: image {i} alone differs by {float(diff.max()):.2e}"
    return True, f"checked: finite, alone = in batch (max diff {worst:.1e})"


def make_images(torch, d, b, seed):
    g = torch.Generator().manual_seed(seed + b)
    return torch.rand(b, d["C"], d["S"], d["S"], generator=g) * 2 - 1


def bench_infer(torch, vit_ref, args, rows, peak):
    failures = 0
    for name in args.models:
        torch.manual_seed(args.seed)
        model = make_model(torch, vit_ref, name).eval().to(args.device)
        d = model_dims(model)
        flops = forward_flops(d, model.arch_args["depth"])
        for b in args.batch:
            log(f"infer: {name} batch {b}")
            x = make_images(torch, d, b, args.seed).to(args.device)
            with torch.inference_mode():
                ok, note = check_model(torch, model, x, model(x))
                if not ok:
                    log(f"{name} batch {b}: {note}")
                    failures += 1
                    continue
                t = time_runs(args, lambda: model(x))
            lat = row("infer", "latency", "ms", False, [s * 1e3 for s in t], model=name,
                      batch=b, note=note)
            thr = row("infer", "throughput", "img/s", True, [b / s for s in t], model=name,
                      batch=b, note="end to end: forward from a host tensor")
            lat["gflops"] = flops * b / (lat["median"] * 1e-3) / 1e9
            thr["gflops"] = flops * thr["median"] / 1e9
            for r in (lat, thr):
                r["frac_peak"] = r["gflops"] / peak[0] if peak[0] else None
            rows += [lat, thr]
    return failures


def bench_profile(torch, vit_ref, args, rows, peak):
    from torch.profiler import ProfilerActivity, profile

    b = args.profile_batch
    for name in args.models:
        torch.manual_seed(args.seed)
        model = make_model(torch, vit_ref, name).eval()
        d = model_dims(model)
        x = make_images(torch, d, b, args.seed)
        log(f"profile: {name} batch {b}")
        runs = max(3, min(args.reps, 7))
        per_op, walls = {}, []
        with torch.inference_mode():
            model(x)
            for r in range(runs):
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    t0 = time.perf_counter()
                    model(x)
                    walls.append((time.perf_counter() - t0) * 1e3)
                for ev in prof.key_averages():
                    if ev.self_cpu_time_total <= 0:
                        continue
                    e = per_op.setdefault(ev.key, {"ms": [0.0] * runs, "calls": ev.count})
                    e["ms"][r] += ev.self_cpu_time_total / 1e3
        tot_gemm = [sum(e["ms"][r] for k, e in per_op.items() if k in GEMM_OPS)
                    for r in range(runs)]
        tot_other = [sum(e["ms"][r] for k, e in per_op.items() if k not in GEMM_OPS)
                     for r in range(runs)]
        span = statistics.median([g + o for g, o in zip(tot_gemm, tot_other)])
        ops = sorted(per_op.items(), key=lambda kv: -statistics.median(kv[1]["ms"]))
        for k, e in ops:
            r = row("profile", f"kernel:{k}", "ms", False, e["ms"], model=name, batch=b,
                    calls=e["calls"], kind="gemm" if k in GEMM_OPS else "kernel")
            r["share_pct"] = 100.0 * r["median"] / span if span else None
            rows.append(r)
        for label, v, kind in (("total:own_kernels", tot_other, "total"),
                               ("total:gemm", tot_gemm, "total")):
            r = row("profile", label, "ms", False, v, model=name, batch=b, kind=kind,
                    note="self CPU time (torch.profiler)")
            r["share_pct"] = 100.0 * r["median"] / span if span else None
            rows.append(r)
        w = row("profile", "total:wall", "ms", False, walls, model=name, batch=b, kind="total",
                note="profiled forward")
        w["gflops"] = forward_flops(d, model.arch_args["depth"]) * b / (w["median"] * 1e-3) / 1e9
        w["frac_peak"] = w["gflops"] / peak[0] if peak[0] else None
        rows.append(w)


# ---------------------------------------------------------------- the file

def cpu_info():
    name, vendor, mhz = platform.processor() or "CPU", "", 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k == "model name" and name in ("CPU", ""):
                    name = v
                elif k == "model name" and name == platform.processor():
                    name = v
                elif k == "vendor_id" and not vendor:
                    vendor = v
                elif k == "cpu MHz" and not mhz:
                    mhz = int(float(v))
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return name, vendor, mhz, mem


def blas_info(torch):
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    return f"BLAS {m.group(1) if m else '?'}, {torch.__config__.parallel_info().splitlines()[-1].strip()}"


def cuda_info(torch):
    """name, vendor, compute units, memory and driver line of the first CUDA/ROCm GPU."""
    p = torch.cuda.get_device_properties(0)
    hip = getattr(torch.version, "hip", None)
    runtime = f"HIP {hip}" if hip else f"CUDA {torch.version.cuda}"
    return (p.name, "AMD" if hip else "NVIDIA", p.multi_processor_count, p.total_memory,
            f"torch {torch.__version__}, {runtime}")


def main(argv):
    global _device_sync
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        print("baseline_torch.py: PyTorch is not installed for this Python "
              f"({sys.executable}); nothing measured. Install it (Debian: python3-torch, run "
              "with /usr/bin/python3; or pip install torch).", file=sys.stderr)
        return 1
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import vit_ref

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    name, vendor, mhz, mem = cpu_info()
    tool = f"PyTorch {torch.__version__} ({args.threads} thread{'s' if args.threads > 1 else ''})"
    if args.device == "cuda":
        if not torch.cuda.is_available():
            print(f"baseline_torch.py: --device cuda, but this PyTorch ({torch.__version__}) "
                  "sees no CUDA device; nothing measured.", file=sys.stderr)
            return 1
        # float32 as clvit computes it: no TF32 in matrix products or convolutions
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        _device_sync = torch.cuda.synchronize
        name, vendor, units, mem, driver = cuda_info(torch)
        mhz = 0
        tool = f"PyTorch {torch.__version__} (CUDA)"
    log(f"{tool} on {name}")
    if os.getloadavg()[0] > 0.5 * os.cpu_count():
        log(f"the machine is busy (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} "
            "CPUs): expect noisy results")
    rows, failures, peak = [], 0, [None]
    t_start = time.perf_counter()
    if "memory" in args.sections:
        bench_memory(torch, args, rows)
    if "gemm" in args.sections:
        bench_gemm(torch, vit_ref, args, rows, peak)
    elif "infer" in args.sections or "profile" in args.sections:
        n = 256 if args.quick else 512
        peak[0] = gemm_measure(torch, args, rows, "sgemm_square", n, n, n, 1, False)
    if "infer" in args.sections:
        failures += bench_infer(torch, vit_ref, args, rows, peak)
    if "profile" in args.sections and args.device != "cpu":
        log("profile: CPU only (self CPU time per op), skipped on --device cuda")
    elif "profile" in args.sections:
        bench_profile(torch, vit_ref, args, rows, peak)
    log(f"done in {time.perf_counter() - t_start:.1f} s")

    dev = {
        "index": 0, "spec": "cpu", "platform": "PyTorch", "platform_version": torch.__version__,
        "name": name, "vendor": vendor, "type": "CPU",
        "driver_version": f"torch {torch.__version__}", "device_version": blas_info(torch),
        "opencl_c_version": "", "compute_units": args.threads, "clock_mhz": mhz,
        "global_mem_bytes": mem, "local_mem_bytes": 0, "max_alloc_bytes": mem,
        "max_work_group_size": 0, "fp16": False, "fp64": True, "tool": tool,
        "peak_gflops": peak[0],
    }
    if args.device == "cuda":
        dev.update({"spec": "cuda", "type": "GPU", "driver_version": driver,
                    "device_version": "float32, TF32 off", "compute_units": units})
    u = os.uname()
    doc = {
        "schema": "clvit-bench/1",
        "tool": "baseline_torch.py",
        "clvit_version": clvit_version(),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": {"hostname": socket.gethostname(), "os": u.sysname, "release": u.release,
                 "machine": u.machine, "cpus": os.cpu_count(),
                 "loadavg_1min_at_end": os.getloadavg()[0],
                 "loadavg_15min_at_end": os.getloadavg()[2]},
        "settings": {
            "quick": args.quick, "reps": args.reps, "warmup": args.warmup,
            "max_time_s": args.max_time, "min_time_s": args.min_time, "models": args.models,
            "batches": args.batch, "gemm_sizes": args.gemm_sizes, "gemm_batch": args.gemm_batch,
            "profile_batch": args.profile_batch, "startup_reps": 0, "startup_cold": None,
            "mem_bytes": args.mem_mib << 20, "seed": args.seed, "device": args.device,
            "all_devices": False, "sections": ",".join(args.sections), "threads": args.threads,
        },
        "env": {k: os.environ.get(k) for k in (
            "OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")},
        "inventory": [dev],
        "devices": [dev],
        "rows": rows,
    }
    text = json.dumps(doc, indent=2) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        log(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
