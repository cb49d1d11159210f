#!/usr/bin/python3
"""
check_fixtures.py - proves the fixtures are self-consistent and that their metadata is
enough to rebuild the model: for every tests/fixtures/<name>.io.safetensors it reads
<name>.safetensors with read_safetensors, rebuilds VisionTransformer from the metadata alone,
loads the weights strictly, and

  1. recomputes everything in float64 and asserts it equals the stored values to float32
     rounding (logits, features, activations, loss, gradients, Adam/AdamW parameters);
  2. recomputes everything in float32 (what clvit does) and reports the largest deviation
     from the float64 reference, asserting the tolerances documented in the README.

Usage: /usr/bin/python3 tools/check_fixtures.py [--dir tests/fixtures] [names...]
Exit status 0 when every check passes.
"""

import argparse
import copy
import glob
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_safetensors import load_model  # noqa: E402
from make_fixtures import train_loss  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

# Documented tolerances for a float32 implementation: |got - ref| <= ATOL + RTOL * |ref|.
TOL = {
    "forward": (1e-4, 1e-4),  # logits, features, act.*, loss
    "grad": (1e-5, 1e-3),
    "optim": (1e-4, 1e-4),  # Adam/AdamW parameters after the steps
}

failures = []


def compare(tag, got, ref, atol, rtol, report=None, outliers=0, bound=0.0):
    """Asserts |got - ref| <= atol + rtol*|ref| everywhere except at most `outliers` elements,
    which must still be within `bound`."""
    got = got.detach().double()
    ref = ref.detach().double()
    if got.shape != ref.shape:
        failures.append(f"{tag}: shape {list(got.shape)} != {list(ref.shape)}")
        return
    d = (got - ref).abs()
    bad = d > atol + rtol * ref.abs()
    if report is not None:
        ratio = (d / (atol + rtol * ref.abs())).max().item() if d.numel() else 0.0
        cur = report.get(tag.split(":")[0], (0.0, 0.0, ""))
        if ratio >= cur[1]:
            report[tag.split(":")[0]] = (max(cur[0], d.max().item()), ratio, tag)
        else:
            report[tag.split(":")[0]] = (max(cur[0], d.max().item()), cur[1], cur[2])
    if outliers and 0 < int(bad.sum()) <= outliers and bool((d[bad] <= bound).all()):
        bad = torch.zeros_like(bad)
    if bad.any():
        i = int(bad.flatten().nonzero()[0])
        failures.append(f"{tag}: {int(bad.sum())} of {d.numel()} outside atol={atol} rtol={rtol}; "
                        f"first at {i}: got {got.flatten()[i].item():.9g} ref {ref.flatten()[i].item():.9g}")


def run(model, io, meta, dtype):
    """Recomputes every reference tensor of io with model in dtype; returns name -> tensor."""
    res = {}
    m = copy.deepcopy(model).to(dtype).eval()
    x = io["input"].to(dtype)
    labels = io["labels"]
    acts = {}
    hooks = [m.pos_drop.register_forward_hook(lambda _m, _i, o: acts.__setitem__("act.embed", o))]
    for i, blk in enumerate(m.blocks):
        hooks.append(blk.attn.register_forward_hook(
            lambda _m, _i, o, i=i: acts.__setitem__(f"act.blocks.{i}.attn", o)))
        hooks.append(blk.register_forward_hook(
            lambda _m, _i, o, i=i: acts.__setitem__(f"act.blocks.{i}", o)))
    hooks.append(m.norm.register_forward_hook(lambda _m, _i, o: acts.__setitem__("act.norm", o)))
    with torch.no_grad():
        res["logits"] = m(x)
        for h in hooks:
            h.remove()
        f = m.forward_features(x)
    if isinstance(f, tuple):
        res["features"], res["features_dist"] = f
    else:
        res["features"] = f
    res.update(acts)

    m.train()
    m.zero_grad()
    loss, out = train_loss(m, x, labels)
    loss.backward()
    res["loss"] = loss.reshape(1)
    if isinstance(out, tuple):
        res["logits_cls"], res["logits_dist"] = out
    for n, p in m.named_parameters():
        res[f"grad.{n}"] = p.grad

    for oname, cls in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        b1, b2 = (float(v) for v in meta[f"{oname}.betas"].split(","))
        mo = copy.deepcopy(model).to(dtype).train()
        opt = cls(mo.parameters(), lr=float(meta[f"{oname}.lr"]), betas=(b1, b2),
                  eps=float(meta[f"{oname}.eps"]), weight_decay=float(meta[f"{oname}.weight_decay"]))
        losses = []
        for _ in range(int(meta[f"{oname}.steps"])):
            opt.zero_grad()
            loss, _ = train_loss(mo, x, labels)
            losses.append(loss.item())
            loss.backward()
            opt.step()
        for n, p in mo.named_parameters():
            res[f"{oname}.{n}"] = p
        res[f"{oname}_losses"] = torch.tensor(losses, dtype=dtype)
    return res


def kind(name):
    if name.startswith("grad."):
        return "grad"
    if name.startswith(("adam.", "adamw.")):
        return "optim"
    return "forward"


def check(path):
    name = os.path.basename(path)[: -len(".io.safetensors")]
    io, meta = read_safetensors(path)
    wpath = os.path.join(os.path.dirname(path), meta.get("weights", f"{name}.safetensors"))
    model, wmeta = load_model(wpath)
    # The sincos buffer is not stored: it must come from the metadata alone.
    assert ("pos_embed" in dict(model.named_parameters())) == (wmeta["pos_embed"] == "learned")
    n0 = len(failures)

    ref64 = run(model, io, meta, torch.float64)
    expected = {"input", "labels"} | set(ref64)
    missing = expected - set(io)
    extra = set(io) - expected
    if missing or extra:
        failures.append(f"{name}: io tensors missing {sorted(missing)}, unexpected {sorted(extra)}")
    for k, t in ref64.items():
        if k in io:
            # stored = float32(float64 reference): equal up to float32 rounding (+ the
            # run-to-run noise of float64 arithmetic, far smaller).
            compare(f"{name}:{k}", t, io[k], 1e-12, 2 ** -23)

    report = {}
    ref32 = run(model, io, meta, torch.float32)
    d = model.embed_dim
    for k, t in ref32.items():
        if k not in io:
            continue
        atol, rtol = TOL[kind(k)]
        ref = io[k]
        if kind(k) == "optim" and k.endswith(".attn.qkv.bias"):
            # Key-bias slice [D, 2D): its true gradient is exactly 0 (softmax is invariant to
            # adding q.b_k to a whole row), so the float32 gradient there is rounding noise,
            # which Adam's g / (sqrt(v) + eps) blows up to up to +-lr per step. Allowed:
            # steps * lr. (Plain Adam passes anyway: its L2 term dominates the noise.)
            o = k.split(".")[0]
            loose = float(meta[f"{o}.lr"]) * int(meta[f"{o}.steps"])
            compare(f"optim-keybias:{name}:{k}", t[d:2 * d], ref[d:2 * d], loose, 0, report)
            t = torch.cat([t[:d], t[2 * d:]])
            ref = torch.cat([ref[:d], ref[2 * d:]])
        if kind(k) == "optim":
            # Where g + wd*p nearly cancels (Adam's L2 term), the first step's
            # g / (|g| + eps) is ill-conditioned: allow max(1, 0.1%) outliers within steps*lr.
            o = k.split(".")[0]
            loose = float(meta[f"{o}.lr"]) * int(meta[f"{o}.steps"])
            compare(f"optim:{name}:{k}", t, ref, atol, rtol, report,
                    outliers=max(1, t.numel() // 1000), bound=loose)
        else:
            compare(f"{kind(k)}:{name}:{k}", t, ref, atol, rtol, report)
    ok = len(failures) == n0
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(io)} tensors; float32 vs float64 reference: "
          + "; ".join(f"{k} max|d|={v[0]:.2e} ({v[1]:.2f} of tol, {v[2].split(':')[-1]})"
                      for k, v in sorted(report.items())))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=os.path.join(here, "..", "tests", "fixtures"))
    ap.add_argument("names", nargs="*")
    o = ap.parse_args()
    torch.set_num_threads(1)
    paths = ([os.path.join(o.dir, f"{n}.io.safetensors") for n in o.names] if o.names
             else sorted(glob.glob(os.path.join(o.dir, "*.io.safetensors"))))
    if not paths:
        sys.exit(f"no *.io.safetensors in {o.dir}")
    for p in paths:
        check(p)
    for f in failures[:40]:
        print("  " + f)
    if len(failures) > 40:
        print(f"  ... and {len(failures) - 40} more")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
