#!/usr/bin/python3
"""
make_fixtures.py - writes the parity fixtures tests/fixtures/<name>.safetensors (weights +
clvit metadata) and tests/fixtures/<name>.io.safetensors (inputs and float64 reference
results: logits, features, activations, loss, gradients, Adam/AdamW parameters).

Run from anywhere:  /usr/bin/python3 tools/make_fixtures.py [--out DIR]
Deterministic: each config seeds torch.manual_seed with its own fixed seed; running twice
gives byte-identical files (on the same torch build). See tests/fixtures/README.md.
"""

import argparse
import copy
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vit_ref  # noqa: E402
from export_safetensors import HALF, export, randomize_parameters  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402

BATCH = 3
OPTIMIZERS = {
    # name: (class, lr, betas, eps, weight_decay, steps)
    "adam": (torch.optim.Adam, 1e-2, (0.9, 0.999), 1e-8, 0.01, 3),
    "adamw": (torch.optim.AdamW, 1e-2, (0.9, 0.999), 1e-8, 0.05, 3),
}

# name: (seed, VisionTransformer kwargs). Dropout / drop-path rates are all 0 (defaults).
CONFIGS = {
    "tiny_qkvbias": (101, dict(
        img_size=16, patch_size=4, in_c=3, num_classes=7, embed_dim=24, depth=2,
        num_heads=3, mlp_ratio=4.0, qkv_bias=True)),
    "tiny_noqkvbias_repr": (102, dict(
        img_size=12, patch_size=4, in_c=1, num_classes=6, embed_dim=24, depth=2,
        num_heads=2, mlp_ratio=2.0, qkv_bias=False, qk_scale=0.3, representation_size=20)),
    "tiny_distilled": (103, dict(
        img_size=16, patch_size=4, in_c=3, num_classes=5, embed_dim=24, depth=2,
        num_heads=4, mlp_ratio=4.0, qkv_bias=True, distilled=True)),
    "tiny_heads5": (104, dict(
        img_size=12, patch_size=3, in_c=3, num_classes=4, embed_dim=40, depth=2,
        num_heads=5, mlp_ratio=3.0, qkv_bias=True)),
    "tiny_gap_sincos": (105, dict(
        img_size=16, patch_size=4, in_c=3, num_classes=3, embed_dim=24, depth=2,
        num_heads=3, mlp_ratio=4.0, qkv_bias=True, global_pool=True,
        pos_embed_type="sincos")),
    "mnist_small": (106, dict(
        img_size=28, patch_size=7, in_c=1, num_classes=10, embed_dim=32, depth=2,
        num_heads=4, mlp_ratio=4.0, qkv_bias=True)),
}


def train_loss(model, x, labels):
    """Mean cross-entropy of the train-mode forward; distilled models: mean of both heads."""
    out = model(x)
    if isinstance(out, tuple):
        return (F.cross_entropy(out[0], labels) + F.cross_entropy(out[1], labels)) / 2, out
    return F.cross_entropy(out, labels), out


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def make_one(name, seed, kw, outdir):
    torch.manual_seed(seed)
    model = vit_ref.VisionTransformer(**kw)
    randomize_parameters(model)
    model.eval()
    export(model, os.path.join(outdir, f"{name}.safetensors"), arch=None, mean=HALF, std=HALF)

    g = torch.Generator().manual_seed(seed * 1000 + 1)
    x = torch.randn(BATCH, kw["in_c"], kw["img_size"], kw["img_size"], generator=g)
    labels = torch.randint(0, kw["num_classes"], (BATCH,), generator=g, dtype=torch.int64)
    xd = x.double()

    io = {"input": x, "labels": labels}
    meta = {
        "fixture": name,
        "weights": f"{name}.safetensors",
        "batch": str(BATCH),
        "reference_dtype": "float64",
        "loss": "cross_entropy_mean",
    }

    # ---- inference (eval mode), float64, with intermediate activations
    md = copy.deepcopy(model).double().eval()
    acts = {}

    def hook(key):
        def fn(_m, _inp, out):
            acts[key] = out

        return fn

    hooks = [md.pos_drop.register_forward_hook(hook("act.embed"))]
    for i, blk in enumerate(md.blocks):
        hooks.append(blk.attn.register_forward_hook(hook(f"act.blocks.{i}.attn")))
        hooks.append(blk.register_forward_hook(hook(f"act.blocks.{i}")))
    hooks.append(md.norm.register_forward_hook(hook("act.norm")))
    with torch.no_grad():
        logits = md(xd)
        for h in hooks:
            h.remove()
        feats = md.forward_features(xd)
    io["logits"] = f32(logits)
    if isinstance(feats, tuple):
        io["features"] = f32(feats[0])
        io["features_dist"] = f32(feats[1])
    else:
        io["features"] = f32(feats)
    order = ["act.embed"]
    for i in range(len(md.blocks)):
        order += [f"act.blocks.{i}.attn", f"act.blocks.{i}"]
    order.append("act.norm")
    for k in order:
        io[k] = f32(acts[k])

    # ---- training: loss and gradients (train mode, dropout 0), float64
    md.train()
    md.zero_grad()
    loss, out = train_loss(md, xd, labels)
    loss.backward()
    io["loss"] = f32(loss.reshape(1))
    if isinstance(out, tuple):
        io["logits_cls"] = f32(out[0])
        io["logits_dist"] = f32(out[1])
        meta["distilled_loss"] = "mean_of_heads"
    for pname, p in md.named_parameters():
        io[f"grad.{pname}"] = f32(p.grad)

    # ---- optimisers: N steps on the same batch, recomputing the loss each step
    for oname, (cls, lr, betas, eps, wd, steps) in OPTIMIZERS.items():
        mo = copy.deepcopy(model).double().train()
        opt = cls(mo.parameters(), lr=lr, betas=betas, eps=eps, weight_decay=wd)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss, _ = train_loss(mo, xd, labels)
            losses.append(loss.item())
            loss.backward()
            opt.step()
        for pname, p in mo.named_parameters():
            io[f"{oname}.{pname}"] = f32(p)
        io[f"{oname}_losses"] = torch.tensor(losses, dtype=torch.float32)
        meta.update({
            f"{oname}.lr": repr(lr),
            f"{oname}.betas": f"{betas[0]!r},{betas[1]!r}",
            f"{oname}.eps": repr(eps),
            f"{oname}.weight_decay": repr(wd),
            f"{oname}.weight_decay_mode": "l2" if oname == "adam" else "decoupled",
            f"{oname}.amsgrad": "0",
            f"{oname}.steps": str(steps),
            f"{oname}.params": "all",
        })
    write_safetensors(os.path.join(outdir, f"{name}.io.safetensors"), io, meta)
    return io


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures"))
    ap.add_argument("names", nargs="*", help="configs to make (default: all)")
    o = ap.parse_args()
    os.makedirs(o.out, exist_ok=True)
    torch.set_num_threads(1)  # deterministic reductions
    for name in o.names or CONFIGS:
        seed, kw = CONFIGS[name]
        io = make_one(name, seed, kw, o.out)
        sizes = [os.path.getsize(os.path.join(o.out, f"{name}{s}.safetensors")) for s in ("", ".io")]
        print(f"{name}: loss {io['loss'].item():.6f}, {len(io)} io tensors, "
              f"{sizes[0]} + {sizes[1]} bytes")


if __name__ == "__main__":
    main()
