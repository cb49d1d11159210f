#!/usr/bin/python3
"""
export_safetensors.py - exports a PyTorch/timm ViT (or DeiT) to the safetensors file clvit
loads: every tensor of the state dict as F32 under its timm name, and the architecture in
the header's __metadata__.

Usage:
  export_safetensors.py --out model.safetensors --checkpoint state_dict.pth [options]
  export_safetensors.py --out model.safetensors --factory vit_base_patch16_224
                        [--num-classes N] [--random] [--seed S] [options]

  --checkpoint FILE  a torch.save'd state dict, or a dict holding it under 'model' or
                     'state_dict'; 'module.' / 'model.' prefixes are stripped. The
                     architecture is inferred from the tensor shapes (num_heads from
                     --num-heads, else --arch, else embed_dim // 64); the weights are loaded
                     strictly into tools/vit_ref.py's VisionTransformer to prove they fit.
  --factory NAME     a factory function of tools/vit_ref.py, weights from the seed's init
                     (deterministic: torch.manual_seed(--seed)).
  --random           with --factory: then overwrite every parameter with random values
                     (weights/biases/tokens 0.1*randn, LayerNorm weights 1+0.1*randn) so that
                     no term is zero, as tools/make_fixtures.py does.
  --arch NAME        preset name written as clvit.arch; with --checkpoint the inferred
                     architecture must match it (num_classes excepted). When not given, it
                     is set automatically if the architecture equals a known preset.
  --num-heads H      override the number of heads.
  --img-size, --global-pool token|avg, --pos-embed learned|sincos, --qk-scale,
  --mean, --std      settings that cannot be inferred from shapes.

Metadata written (all values strings):
  format=pt, clvit.arch (only when the architecture is a known preset), img_size,
  patch_size, in_chans, num_classes, embed_dim, depth, num_heads, mlp_ratio,
  qkv_bias (1/0), qk_scale (0 = head_dim^-0.5), representation_size (0 = none; always 0
  for distilled models, where the seed ignores it), distilled (1/0),
  global_pool (token/avg), pos_embed (learned/sincos), mean, std ("r,g,b").
"""

import argparse
import inspect
import math
import os
import re
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vit_ref  # noqa: E402
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

# The VisionTransformer keyword arguments that define the architecture.
ARCH_KEYS = [
    "img_size", "patch_size", "in_c", "num_classes", "embed_dim", "depth", "num_heads",
    "mlp_ratio", "qkv_bias", "qk_scale", "representation_size", "distilled",
    "global_pool", "pos_embed_type",
]


def normalize_args(args):
    """Canonical form of an architecture dict (VisionTransformer kwarg names)."""
    sig = inspect.signature(vit_ref.VisionTransformer.__init__).parameters
    a = {k: args.get(k, sig[k].default) for k in ARCH_KEYS}
    a["mlp_ratio"] = float(a["mlp_ratio"])
    a["qkv_bias"] = bool(a["qkv_bias"])
    a["qk_scale"] = float(a["qk_scale"] or 0.0)
    a["distilled"] = bool(a["distilled"])
    a["representation_size"] = 0 if a["distilled"] else int(a["representation_size"] or 0)
    a["global_pool"] = bool(a["global_pool"])
    for k in ("img_size", "patch_size", "in_c", "num_classes", "embed_dim", "depth", "num_heads"):
        a[k] = int(a[k])
    return a


def factory_args(name, **overrides):
    """The architecture a factory function of vit_ref builds, without building it."""
    if name not in vit_ref.FACTORIES:
        raise SystemExit(f"unknown factory {name!r}; known: {', '.join(vit_ref.FACTORIES)}")
    captured = {}

    class _Recorder:
        def __init__(self, **kwargs):
            captured.update(kwargs)

    orig = vit_ref.VisionTransformer
    vit_ref.VisionTransformer = _Recorder
    try:
        getattr(vit_ref, name)(**overrides)
    finally:
        vit_ref.VisionTransformer = orig
    return normalize_args(captured)


def match_preset(args):
    """Name of the first factory whose architecture equals args (num_classes excepted)."""
    a = dict(normalize_args(args))
    a.pop("num_classes")
    for name in vit_ref.FACTORIES:
        f = factory_args(name)
        f.pop("num_classes")
        if f == a:
            return name
    return None


def default_norm(arch):
    if arch and arch.startswith("deit"):
        return IMAGENET_MEAN, IMAGENET_STD
    return HALF, HALF


def _fmt(x):
    return repr(float(x))


def metadata_from_args(args, arch=None, mean=None, std=None):
    a = normalize_args(args)
    dm, ds = default_norm(arch)
    mean = dm if mean is None else mean
    std = ds if std is None else std
    meta = {"format": "pt"}
    if arch:
        meta["clvit.arch"] = arch
    meta.update({
        "img_size": str(a["img_size"]),
        "patch_size": str(a["patch_size"]),
        "in_chans": str(a["in_c"]),
        "num_classes": str(a["num_classes"]),
        "embed_dim": str(a["embed_dim"]),
        "depth": str(a["depth"]),
        "num_heads": str(a["num_heads"]),
        "mlp_ratio": _fmt(a["mlp_ratio"]),
        "qkv_bias": "1" if a["qkv_bias"] else "0",
        "qk_scale": "0" if a["qk_scale"] == 0 else _fmt(a["qk_scale"]),
        "representation_size": str(a["representation_size"]),
        "distilled": "1" if a["distilled"] else "0",
        "global_pool": "avg" if a["global_pool"] else "token",
        "pos_embed": a["pos_embed_type"],
        "mean": ",".join(_fmt(v) for v in mean),
        "std": ",".join(_fmt(v) for v in std),
    })
    return meta


def args_from_metadata(meta):
    """VisionTransformer kwargs from clvit metadata."""
    qs = float(meta.get("qk_scale", "0"))
    rs = int(meta.get("representation_size", "0"))
    return dict(
        img_size=int(meta["img_size"]),
        patch_size=int(meta["patch_size"]),
        in_c=int(meta["in_chans"]),
        num_classes=int(meta["num_classes"]),
        embed_dim=int(meta["embed_dim"]),
        depth=int(meta["depth"]),
        num_heads=int(meta["num_heads"]),
        mlp_ratio=float(meta["mlp_ratio"]),
        qkv_bias=meta["qkv_bias"] == "1",
        qk_scale=qs if qs != 0 else None,
        representation_size=rs if rs > 0 else None,
        distilled=meta.get("distilled", "0") == "1",
        global_pool=meta.get("global_pool", "token") == "avg",
        pos_embed_type=meta.get("pos_embed", "learned"),
    )


def build_from_metadata(meta):
    return vit_ref.VisionTransformer(**args_from_metadata(meta))


def load_model(path):
    """Model + metadata from a clvit safetensors file (strict load)."""
    tensors, meta = read_safetensors(path)
    model = build_from_metadata(meta)
    model.load_state_dict({k: v.clone() for k, v in tensors.items()}, strict=True)
    return model, meta


def randomize_parameters(model, scale=0.1):
    """Overwrites every parameter in place: LayerNorm weights 1 + scale*randn, everything
    else scale*randn (uses the global torch RNG, in named_parameters order)."""
    ln_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.LayerNorm)}
    with torch.no_grad():
        for _, p in model.named_parameters():
            r = torch.randn(p.shape, dtype=torch.float32) * scale
            if id(p) in ln_weights:
                r += 1.0
            p.copy_(r)


def clean_state_dict(obj):
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state", "module"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise SystemExit("checkpoint is not a state dict")
    sd = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            continue
        while True:
            k2 = re.sub(r"^(module|model)\.", "", k)
            if k2 == k:
                break
            k = k2
        sd[k] = v
    return sd


def infer_args(sd, num_heads=None, img_size=None, global_pool=False, pos_embed_type=None,
               qk_scale=None):
    """Architecture from the shapes of a timm-style ViT state dict."""
    if "fc_norm.weight" in sd:
        raise SystemExit("checkpoint has fc_norm (timm global-pool variant: norm after pooling); "
                         "the reference model applies the final norm before pooling")
    if "patch_embed.proj.weight" not in sd:
        raise SystemExit("no patch_embed.proj.weight: not a ViT state dict")
    w = sd["patch_embed.proj.weight"]
    embed_dim, in_c, ph, pw = w.shape
    if ph != pw:
        raise SystemExit(f"non-square patches {ph}x{pw} are not supported")
    depth = 1 + max(int(m.group(1)) for m in (re.match(r"blocks\.(\d+)\.", k) for k in sd) if m)
    distilled = "dist_token" in sd
    num_tokens = 2 if distilled else 1
    if pos_embed_type is None:
        pos_embed_type = "learned" if "pos_embed" in sd else "sincos"
    if "pos_embed" in sd:
        n = sd["pos_embed"].shape[1] - num_tokens
        g = int(round(math.sqrt(n)))
        if g * g != n:
            raise SystemExit(f"pos_embed has {n} patch rows: not a square grid")
        if img_size is not None and img_size != g * ph:
            raise SystemExit(f"--img-size {img_size} does not match pos_embed ({g}x{g} patches of {ph})")
        img_size = g * ph
    elif img_size is None:
        img_size = 224
        print("warning: no pos_embed in the checkpoint; assuming img_size 224", file=sys.stderr)
    hidden = sd["blocks.0.mlp.fc1.weight"].shape[0]
    rep = sd["pre_logits.fc.weight"].shape[0] if "pre_logits.fc.weight" in sd else None
    num_classes = sd["head.weight"].shape[0] if "head.weight" in sd else 0
    return normalize_args(dict(
        img_size=img_size,
        patch_size=ph,
        in_c=in_c,
        num_classes=num_classes,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads or max(1, embed_dim // 64),
        mlp_ratio=hidden / embed_dim,
        qkv_bias="blocks.0.attn.qkv.bias" in sd,
        qk_scale=qk_scale,
        representation_size=rep,
        distilled=distilled,
        global_pool=global_pool,
        pos_embed_type=pos_embed_type,
    ))


def export(model, out, arch=None, mean=None, std=None):
    meta = metadata_from_args(model.arch_args, arch=arch, mean=mean, std=std)
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    write_safetensors(out, tensors, meta)
    return meta


def _floats3(s):
    v = [float(x) for x in s.split(",")]
    if len(v) != 3:
        raise argparse.ArgumentTypeError("expected 3 comma-separated floats")
    return tuple(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint")
    src.add_argument("--factory", choices=vit_ref.FACTORIES)
    ap.add_argument("--num-classes", type=int)
    ap.add_argument("--random", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch")
    ap.add_argument("--num-heads", type=int)
    ap.add_argument("--img-size", type=int)
    ap.add_argument("--global-pool", choices=["token", "avg"])
    ap.add_argument("--pos-embed", choices=["learned", "sincos"])
    ap.add_argument("--qk-scale", type=float)
    ap.add_argument("--mean", type=_floats3)
    ap.add_argument("--std", type=_floats3)
    o = ap.parse_args(argv)

    overrides = {}
    if o.num_heads:
        overrides["num_heads"] = o.num_heads
    if o.global_pool:
        overrides["global_pool"] = o.global_pool == "avg"
    if o.pos_embed:
        overrides["pos_embed_type"] = o.pos_embed
    if o.qk_scale:
        overrides["qk_scale"] = o.qk_scale

    if o.factory:
        if o.arch and o.arch != o.factory:
            raise SystemExit("--arch and --factory disagree")
        if o.img_size:
            overrides["img_size"] = o.img_size
        if o.num_classes is not None:
            overrides["num_classes"] = o.num_classes
        torch.manual_seed(o.seed)
        args = factory_args(o.factory, **overrides)
        model = vit_ref.VisionTransformer(**args)
        if o.random:
            randomize_parameters(model)
    else:
        if o.random:
            raise SystemExit("--random goes with --factory")
        sd = clean_state_dict(torch.load(o.checkpoint, map_location="cpu"))
        heads = o.num_heads
        if heads is None and o.arch:
            heads = factory_args(o.arch)["num_heads"]
        args = infer_args(sd, num_heads=heads, img_size=o.img_size,
                          global_pool=o.global_pool == "avg", pos_embed_type=o.pos_embed,
                          qk_scale=o.qk_scale)
        if o.num_classes is not None and o.num_classes != args["num_classes"]:
            raise SystemExit(f"--num-classes {o.num_classes} but the head has {args['num_classes']}")
        if o.arch:
            want = factory_args(o.arch, **overrides)
            got = dict(args)
            want.pop("num_classes")
            got.pop("num_classes")
            diff = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
            if diff:
                raise SystemExit(f"checkpoint does not match --arch {o.arch}: "
                                 + ", ".join(f"{k}={g!r} (preset {w!r})" for k, (g, w) in diff.items()))
        model = vit_ref.VisionTransformer(**args)
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise SystemExit(f"state dict does not fit the inferred architecture: missing {missing}, "
                             f"unexpected {unexpected}")
    args = normalize_args(model.arch_args)
    arch = o.arch or o.factory
    if arch:
        f = factory_args(arch)
        f.pop("num_classes")
        a = dict(args)
        a.pop("num_classes")
        if a != f:  # an override changed the architecture: no longer that preset
            print(f"note: architecture differs from preset {arch}; clvit.arch not written",
                  file=sys.stderr)
            arch = None
    else:
        arch = match_preset(args)
    meta = export(model.eval(), o.out, arch=arch, mean=o.mean, std=o.std)
    n = sum(p.numel() for p in model.state_dict().values())
    print(f"wrote {o.out}: {n} values, " + ", ".join(f"{k}={v}" for k, v in meta.items()))


if __name__ == "__main__":
    main()
