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
                     A torchvision VisionTransformer state dict (vit_b_16 ... vit_h_14:
                     conv_proj, class_token, encoder.*, heads.*) keeps torchvision's names,
                     which clvit maps on load; num_heads from --num-heads, else --arch
                     vit_b_16|vit_b_32|vit_l_16|vit_l_32|vit_h_14, else ViT-B/L/H's for
                     widths 768/1024/1280 (else embed_dim // 64; not written then, so clvit
                     says on load that it assumes it). Checked by a strict load into
                     torchvision's own VisionTransformer when torchvision is installed.
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
  --crop-pct F       torchvision only: the crop as a fraction of the resized image
                     (default 0.875: torchvision's resize 256, crop 224).

Metadata written (all values strings):
  format=pt, clvit.arch (only when the architecture is a known preset), img_size,
  patch_size, in_chans, num_classes, embed_dim, depth, num_heads, mlp_ratio,
  qkv_bias (1/0), qk_scale (0 = head_dim^-0.5), representation_size (0 = none; always 0
  for distilled models, where the seed ignores it), distilled (1/0),
  global_pool (token/avg), pos_embed (learned/sincos), mean, std ("r,g,b"); for torchvision
  state dicts also crop_pct, and mean/std default to ImageNet's.
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


# torchvision's ViT builders: patch, layers, heads, hidden_dim, mlp_dim
TV_ARCHS = {
    "vit_b_16": (16, 12, 12, 768, 3072),
    "vit_b_32": (32, 12, 12, 768, 3072),
    "vit_l_16": (16, 24, 16, 1024, 4096),
    "vit_l_32": (32, 24, 16, 1024, 4096),
    "vit_h_14": (14, 32, 16, 1280, 5120),
}
# the head counts of ViT-B/L/H by width (torchvision and timm agree; clvit's loader too)
KNOWN_HEADS = {768: 12, 1024: 16, 1280: 16}
TV_LAYER = re.compile(r"encoder\.layers\.encoder_layer_(\d+)\.")


def is_torchvision(sd):
    return "conv_proj.weight" in sd or "class_token" in sd


def torchvision_args(sd, num_heads=None, arch=None):
    """torchvision VisionTransformer kwargs from a state dict's shapes, and whether the head
    count was assumed."""
    if "conv_proj.weight" not in sd:
        raise SystemExit("no conv_proj.weight: a torchvision ViT with a convolutional stem is not "
                         "supported")
    hidden, in_c, ph, pw = sd["conv_proj.weight"].shape
    if ph != pw:
        raise SystemExit(f"non-square patches {ph}x{pw} are not supported")
    layers = 1 + max(int(m.group(1)) for m in (TV_LAYER.match(k) for k in sd) if m)
    n = sd["encoder.pos_embedding"].shape[1] - 1
    g = int(round(math.sqrt(n)))
    if g * g != n:
        raise SystemExit(f"encoder.pos_embedding has {n} patch rows: not a square grid")
    mlp = "encoder.layers.encoder_layer_0.mlp."
    fc1 = sd.get(mlp + "0.weight", sd.get(mlp + "linear_1.weight"))
    if fc1 is None:
        raise SystemExit(f"no {mlp}0.weight: not a torchvision ViT state dict")
    rep = sd["heads.pre_logits.weight"].shape[0] if "heads.pre_logits.weight" in sd else None
    a = dict(image_size=g * ph, patch_size=ph, in_chans=in_c, num_layers=layers,
             num_heads=num_heads, hidden_dim=hidden, mlp_dim=fc1.shape[0],
             num_classes=sd["heads.head.weight"].shape[0], representation_size=rep)
    if arch:
        if arch not in TV_ARCHS:
            raise SystemExit(f"--arch {arch}: not one of torchvision's {', '.join(TV_ARCHS)}")
        p, n_layers, heads, hd, md = TV_ARCHS[arch]
        if (p, n_layers, hd, md) != (ph, layers, hidden, a["mlp_dim"]):
            raise SystemExit(f"checkpoint does not match --arch {arch}: patch {ph}, {layers} layers, "
                             f"width {hidden}, mlp {a['mlp_dim']}")
        a["num_heads"] = a["num_heads"] or heads
    assumed = not a["num_heads"]
    if assumed:
        a["num_heads"] = KNOWN_HEADS.get(hidden, max(1, hidden // 64))
    if hidden % a["num_heads"]:
        raise SystemExit(f"width {hidden} is not divisible by {a['num_heads']} heads")
    return a, assumed


def check_torchvision(sd, a):
    """Loads the state dict strictly into torchvision's VisionTransformer, when installed."""
    try:
        from torchvision.models.vision_transformer import VisionTransformer as TVViT
    except ImportError:
        print("note: torchvision is not installed; names and shapes not checked against it",
              file=sys.stderr)
        return
    kw = {k: v for k, v in a.items() if k != "in_chans"}
    model = TVViT(**kw)
    legacy = {k.replace(".mlp.linear_1.", ".mlp.0.").replace(".mlp.linear_2.", ".mlp.3."): v
              for k, v in sd.items()}
    try:
        model.load_state_dict(legacy, strict=True)
    except RuntimeError as e:
        raise SystemExit(f"state dict does not fit torchvision's VisionTransformer({kw}): {e}")


def export_torchvision(sd, out, num_heads=None, arch=None, mean=None, std=None, crop_pct=None):
    """Writes a torchvision ViT state dict under its own names, with clvit's metadata."""
    a, assumed = torchvision_args(sd, num_heads, arch)
    check_torchvision(sd, a)
    mean = IMAGENET_MEAN if mean is None else mean
    std = IMAGENET_STD if std is None else std
    meta = {
        "format": "pt",
        "img_size": str(a["image_size"]),
        "patch_size": str(a["patch_size"]),
        "in_chans": str(a["in_chans"]),
        "num_classes": str(a["num_classes"]),
        "embed_dim": str(a["hidden_dim"]),
        "depth": str(a["num_layers"]),
        "mlp_ratio": _fmt(a["mlp_dim"] / a["hidden_dim"]),
        "qkv_bias": "1" if "encoder.layers.encoder_layer_0.self_attention.in_proj_bias" in sd else "0",
        "qk_scale": "0",
        "representation_size": str(a["representation_size"] or 0),
        "distilled": "0",
        "global_pool": "token",
        "pos_embed": "learned",
        "mean": ",".join(_fmt(v) for v in mean),
        "std": ",".join(_fmt(v) for v in std),
        "crop_pct": _fmt(0.875 if crop_pct is None else crop_pct),
    }
    if assumed:
        h = a["num_heads"]
        print(f"note: no --num-heads or --arch; assuming {h} head{'s' if h != 1 else ''}, not "
              "written, so clvit assumes it on load too (give --heads there)", file=sys.stderr)
    else:
        meta["num_heads"] = str(a["num_heads"])
    write_safetensors(out, {k: v.detach().float().contiguous() for k, v in sd.items()}, meta)
    return meta, sum(v.numel() for v in sd.values())


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
    ap.add_argument("--crop-pct", type=float)
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
        if is_torchvision(sd):
            meta, n = export_torchvision(sd, o.out, num_heads=o.num_heads, arch=o.arch,
                                         mean=o.mean, std=o.std, crop_pct=o.crop_pct)
            print(f"wrote {o.out} (torchvision names): {n} values, "
                  + ", ".join(f"{k}={v}" for k, v in meta.items()))
            return
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
