#!/usr/bin/env python3
"""
make_hf_fixtures.py - Hugging Face-named copies of the timm parity fixtures, with the
config.json and preprocessor_config.json a user downloads from the Hub next to them
(tests/fixtures/hf/<name>/, read by tests/test_checkpoints.c). Standard library only: the
tensors are renamed, and the qkv weight and bias split into query, key and value (rows
[0, D), [D, 2D), [2D, 3D)); no value changes.

Run from anywhere:  python3 tools/make_hf_fixtures.py [--fixtures tests/fixtures]

  hf/vit           ViTForImageClassification from tiny_qkvbias (reference: its logits)
  hf/deit_teacher  DeiTForImageClassificationWithTeacher from tiny_distilled (its logits,
                   the mean of the two heads)
  hf/deit          DeiTForImageClassification from tiny_distilled without head_dist (its
                   logits_cls: the class-token head alone)

The names and config keys follow transformers' ViT and DeiT models as documented; these
files were not produced or checked by transformers itself (it is not installed here).
"""

import argparse
import json
import os
import struct

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def read_st(path):
    """(header dict name -> {dtype, shape, bytes}, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = {"dtype": info["dtype"], "shape": info["shape"], "bytes": data[b:e]}
    return out, meta


def write_st(path, tensors, meta):
    header = {"__metadata__": meta}
    blobs, off = [], 0
    for name, t in tensors.items():
        header[name] = {"dtype": t["dtype"], "shape": t["shape"],
                        "data_offsets": [off, off + len(t["bytes"])]}
        blobs.append(t["bytes"])
        off += len(t["bytes"])
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


def split3(t):
    """The three row blocks of a (3D, ...) or (3D,) F32 tensor."""
    assert t["dtype"] == "F32" and t["shape"][0] % 3 == 0
    d = t["shape"][0] // 3
    step = len(t["bytes"]) // 3
    return [{"dtype": "F32", "shape": [d] + t["shape"][1:], "bytes": t["bytes"][i * step:(i + 1) * step]}
            for i in range(3)]


def hf_tensors(src, prefix, depth):
    """transformers' state-dict order: embeddings, layers, final norm, classifier(s)."""
    out = {f"{prefix}.embeddings.cls_token": src["cls_token"]}
    if "dist_token" in src:
        out[f"{prefix}.embeddings.distillation_token"] = src["dist_token"]
    out[f"{prefix}.embeddings.position_embeddings"] = src["pos_embed"]
    for p in ("weight", "bias"):
        out[f"{prefix}.embeddings.patch_embeddings.projection.{p}"] = src[f"patch_embed.proj.{p}"]
    for i in range(depth):
        b, L = f"blocks.{i}.", f"{prefix}.encoder.layer.{i}."
        qw, kw, vw = split3(src[b + "attn.qkv.weight"])
        qb, kb, vb = split3(src[b + "attn.qkv.bias"])
        for part, w, bias in (("query", qw, qb), ("key", kw, kb), ("value", vw, vb)):
            out[f"{L}attention.attention.{part}.weight"] = w
            out[f"{L}attention.attention.{part}.bias"] = bias
        for p in ("weight", "bias"):
            out[f"{L}attention.output.dense.{p}"] = src[b + f"attn.proj.{p}"]
            out[f"{L}intermediate.dense.{p}"] = src[b + f"mlp.fc1.{p}"]
            out[f"{L}output.dense.{p}"] = src[b + f"mlp.fc2.{p}"]
            out[f"{L}layernorm_before.{p}"] = src[b + f"norm1.{p}"]
            out[f"{L}layernorm_after.{p}"] = src[b + f"norm2.{p}"]
    for p in ("weight", "bias"):
        out[f"{prefix}.layernorm.{p}"] = src[f"norm.{p}"]
    return out


def config_json(meta, arch, model_type, hidden):
    k = int(meta["num_classes"])
    labels = {str(i): f"class_{i}" for i in range(k)}
    return {
        "architectures": [arch],
        "attention_probs_dropout_prob": 0.0,
        "encoder_stride": int(meta["patch_size"]),
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "hidden_size": int(meta["embed_dim"]),
        "id2label": labels,
        "image_size": int(meta["img_size"]),
        "initializer_range": 0.02,
        "intermediate_size": hidden,
        "label2id": {v: int(i) for i, v in labels.items()},
        "layer_norm_eps": 1e-12,
        "model_type": model_type,
        "num_attention_heads": int(meta["num_heads"]),
        "num_channels": int(meta["in_chans"]),
        "num_hidden_layers": int(meta["depth"]),
        "patch_size": int(meta["patch_size"]),
        "qkv_bias": meta["qkv_bias"] == "1",
        "torch_dtype": "float32",
    }


def write_dir(d, tensors, config, preprocessor):
    os.makedirs(d, exist_ok=True)
    write_st(os.path.join(d, "model.safetensors"), tensors, {"format": "pt"})
    for name, obj in (("config.json", config), ("preprocessor_config.json", preprocessor)):
        with open(os.path.join(d, name), "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")
    return sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default=os.path.normpath(os.path.join(here, "..", "tests", "fixtures")))
    o = ap.parse_args()
    out = os.path.join(o.fixtures, "hf")

    # ViT: tiny_qkvbias; the processor resizes straight to the model's size (crop_pct 1)
    src, meta = read_st(os.path.join(o.fixtures, "tiny_qkvbias.safetensors"))
    depth, hidden = int(meta["depth"]), src["blocks.0.mlp.fc1.weight"]["shape"][0]
    t = hf_tensors(src, "vit", depth)
    t["classifier.weight"], t["classifier.bias"] = src["head.weight"], src["head.bias"]
    s = int(meta["img_size"])
    pre = {"do_normalize": True, "do_rescale": True, "do_resize": True,
           "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "ViTImageProcessor",
           "image_std": [0.5, 0.5, 0.5], "resample": 2, "rescale_factor": 1 / 255,
           "size": {"height": s, "width": s}}
    n = write_dir(os.path.join(out, "vit"), t,
                  config_json(meta, "ViTForImageClassification", "vit", hidden), pre)
    print(f"hf/vit: {len(t)} tensors, {n} bytes")

    # DeiT, both heads: tiny_distilled; the older feature-extractor file (sizes as numbers)
    src, meta = read_st(os.path.join(o.fixtures, "tiny_distilled.safetensors"))
    depth, hidden = int(meta["depth"]), src["blocks.0.mlp.fc1.weight"]["shape"][0]
    s = int(meta["img_size"])
    base = hf_tensors(src, "deit", depth)
    t = dict(base)
    for p in ("weight", "bias"):
        t[f"cls_classifier.{p}"] = src[f"head.{p}"]
        t[f"distillation_classifier.{p}"] = src[f"head_dist.{p}"]
    pre = {"crop_size": s, "do_center_crop": True, "do_normalize": True, "do_resize": True,
           "feature_extractor_type": "DeiTFeatureExtractor", "image_mean": IMAGENET_MEAN,
           "image_std": IMAGENET_STD, "resample": 3, "size": s + 2}
    n = write_dir(os.path.join(out, "deit_teacher"), t,
                  config_json(meta, "DeiTForImageClassificationWithTeacher", "deit", hidden), pre)
    print(f"hf/deit_teacher: {len(t)} tensors, {n} bytes")

    # DeiT, class-token head only (no distillation_classifier); the newer processor file
    t = dict(base)
    t["classifier.weight"], t["classifier.bias"] = src["head.weight"], src["head.bias"]
    pre = {"crop_size": {"height": s, "width": s}, "do_center_crop": True, "do_normalize": True,
           "do_rescale": True, "do_resize": True, "image_mean": IMAGENET_MEAN,
           "image_processor_type": "DeiTImageProcessor", "image_std": IMAGENET_STD,
           "resample": 3, "rescale_factor": 1 / 255, "size": {"height": s + 2, "width": s + 2}}
    n = write_dir(os.path.join(out, "deit"), t,
                  config_json(meta, "DeiTForImageClassification", "deit", hidden), pre)
    print(f"hf/deit: {len(t)} tensors, {n} bytes")


if __name__ == "__main__":
    main()
