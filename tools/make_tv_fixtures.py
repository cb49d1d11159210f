#!/usr/bin/python3
"""
make_tv_fixtures.py - torchvision parity fixtures: small random
torchvision.models.vision_transformer.VisionTransformer models, their weights under
torchvision's own state-dict names, an input batch and torchvision's logits
(tests/fixtures/torchvision/, read by tests/test_checkpoints.c).

Run from anywhere:  /usr/bin/python3 tools/make_tv_fixtures.py [--out DIR]
(/usr/bin/python3 is Debian's, with python3-torch and python3-torchvision.)

For each config <name>:
  <name>.safetensors     the state dict, every tensor F32 under torchvision's name.
                         "vit": written as it is, metadata {"format": "pt"} only, so clvit
                         infers the architecture from the shapes (the test gives heads=2).
                         "vit_repr": saved with torch.save as a .pth and converted by
                         tools/export_safetensors.py --checkpoint (names kept, clvit metadata
                         added, --num-heads 2).
  <name>.io.safetensors  input (B, 3, H, W) and logits (B, K) of torchvision's eval-mode
                         forward in float64 on the stored float32 weights, stored as F32.
Every parameter is random (LayerNorm weights 1 + 0.1 randn, all else 0.1 randn, the head
too, which torchvision initialises to zero). Deterministic: fixed seeds, one thread.
"""

import argparse
import copy
import os
import sys
import tempfile

import torch
import torchvision
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_safetensors  # noqa: E402
from export_safetensors import randomize_parameters  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402

BATCH = 2
BASE = dict(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
            num_classes=10)
# name: (seed, extra VisionTransformer kwargs, written through the exporter)
CONFIGS = {
    "vit": (201, dict(representation_size=None), False),
    "vit_repr": (202, dict(representation_size=24), True),
}


def make_one(name, seed, extra, via_exporter, outdir):
    torch.manual_seed(seed)
    kw = dict(BASE, **extra)
    model = VisionTransformer(**kw)
    randomize_parameters(model)
    model.eval()
    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    wpath = os.path.join(outdir, f"{name}.safetensors")
    if via_exporter:
        with tempfile.TemporaryDirectory() as tmp:
            pth = os.path.join(tmp, f"{name}.pth")
            torch.save(model.state_dict(), pth)
            export_safetensors.main(["--checkpoint", pth, "--out", wpath,
                                     "--num-heads", str(kw["num_heads"])])
    else:
        write_safetensors(wpath, sd, {"format": "pt"})

    g = torch.Generator().manual_seed(seed * 1000 + 1)
    x = torch.randn(BATCH, 3, kw["image_size"], kw["image_size"], generator=g)
    md = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        ref = md(x.double())
        f32 = model(x)  # torchvision in float32, for the record
    err = (f32.double() - ref).abs().max().item()
    io = {"input": x.contiguous(), "logits": ref.float().contiguous()}
    meta = {
        "fixture": name,
        "weights": f"{name}.safetensors",
        "batch": str(BATCH),
        "reference": f"torchvision {torchvision.__version__} VisionTransformer, eval",
        "reference_dtype": "float64",
        "config": ",".join(f"{k}={v}" for k, v in kw.items()),
    }
    write_safetensors(os.path.join(outdir, f"{name}.io.safetensors"), io, meta)
    return ref, err


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.normpath(
        os.path.join(here, "..", "tests", "fixtures", "torchvision")))
    o = ap.parse_args()
    os.makedirs(o.out, exist_ok=True)
    torch.set_num_threads(1)
    for name, (seed, extra, via) in CONFIGS.items():
        ref, err = make_one(name, seed, extra, via, o.out)
        sizes = [os.path.getsize(os.path.join(o.out, f"{name}{s}.safetensors")) for s in ("", ".io")]
        print(f"{name}: max|logit| {ref.abs().max().item():.4f}, torchvision float32 vs float64 "
              f"max|d| {err:.3g}, {sizes[0]} + {sizes[1]} bytes")


if __name__ == "__main__":
    main()
