#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed corpora, tests/fuzz/corpus/<name>/: a few small, valid
inputs per harness, in the layout each harness's header describes (some harnesses take a few
settings bytes before the file). Deterministic: running it again gives the same bytes.

    /usr/bin/python3 tests/fuzz/make_corpus.py      # needs Pillow only for the image seeds
"""
import gzip
import io
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def put(name, fname, data):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(data)
    return buf.getvalue()


# ---------------------------------------------------------------- safetensors

DT = {"F32": ("<f", 4), "F16": ("<e", 2), "F64": ("<d", 8), "I64": ("<q", 8),
      "I32": ("<i", 4), "U8": ("<B", 1)}


def safetensors(tensors, meta=None, pad_to=8):
    """tensors: list of (name, dtype, shape, values); BF16 values are raw uint16 bits."""
    header, blobs, off = {}, [], 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, values in tensors:
        if dtype == "BF16":
            raw = b"".join(struct.pack("<H", v) for v in values)
        else:
            fmt, _ = DT[dtype]
            raw = b"".join(struct.pack(fmt, v) for v in values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-len(text)) % pad_to)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def seeds_safetensors():
    put("safetensors", "f32_meta.safetensors", safetensors(
        [("w", "F32", [2, 3], [0.5, -1.0, 2.0, 3.5, 0.0, -0.25]), ("b", "F32", [3], [1, 2, 3])],
        {"format": "pt", "embed_dim": "3"}))
    put("safetensors", "dtypes.safetensors", safetensors([
        ("h", "F16", [4], [1.0, -2.0, 65504.0, 6e-8]),
        ("bf", "BF16", [2], [0x3F80, 0xC000]),
        ("d", "F64", [2], [1e-300, -3.25]),
        ("q", "I64", [2], [-5, 1 << 40]),
        ("i", "I32", [1, 2], [7, -9]),
        ("u", "U8", [3], [0, 128, 255])]))
    put("safetensors", "scalar_empty.safetensors", safetensors(
        [("scalar", "F32", [], [42.0]), ("empty", "F32", [0, 4], [])], {}))
    put("safetensors", "header_only.safetensors", safetensors([], {"note": "no tensors"}))


# ---------------------------------------------------------------- checkpoint metadata

def config_meta(**over):
    m = {"format": "pt", "img_size": "8", "patch_size": "4", "in_chans": "1",
         "num_classes": "3", "embed_dim": "8", "depth": "1", "num_heads": "2",
         "mlp_ratio": "2", "qkv_bias": "1", "qk_scale": "0", "representation_size": "0",
         "distilled": "0", "global_pool": "token", "pos_embed": "learned",
         "mean": "0.5,0.5,0.5", "std": "0.5,0.5,0.5", "crop_pct": "0.9"}
    m.update(over)
    return m


def seeds_checkpoint():
    train = {"clvit.step": "120", "clvit.optimizer": "adamw", "clvit.epoch": "2",
             "clvit.batch": "17", "clvit.data": "mnist:data/mnist", "train.epochs": "12",
             "train.batch": "32", "train.lr": "1.5e-3", "train.optimizer": "adamw",
             "train.weight_decay": "0.05", "train.warmup": "1", "train.seed": "0",
             "train.val_split": "0.1", "train.clip": "1.0", "train.rotate": "5",
             "train.shift": "1", "train.min_lr": "1e-5"}
    put("checkpoint", "train_meta.safetensors",
        safetensors([("optim.m.cls_token", "F32", [1, 1, 2], [0.0, 0.0])],
                    dict(config_meta(), **train)))
    put("checkpoint", "avg_sincos.safetensors",
        safetensors([], config_meta(global_pool="avg", pos_embed="sincos", qkv_bias="0",
                                    qk_scale="0.125", representation_size="6")))
    put("checkpoint", "distilled.safetensors",
        safetensors([], dict(config_meta(distilled="1", mean="0.485,0.456,0.406",
                                         std="0.229,0.224,0.225", in_chans="3"),
                             **{"clvit.step": "0"})))
    # no metadata: the architecture is inferred from the tensor shapes (timm names)
    D = 4
    put("checkpoint", "shapes_only.safetensors", safetensors([
        ("cls_token", "F32", [1, 1, D], [0.0] * D),
        ("pos_embed", "F32", [1, 5, D], [0.0] * 5 * D),
        ("patch_embed.proj.weight", "F32", [D, 1, 2, 2], [0.0] * D * 4),
        ("blocks.0.norm1.weight", "F32", [D], [1.0] * D),
        ("blocks.0.mlp.fc1.weight", "F32", [2 * D, D], [0.0] * 2 * D * D),
        ("blocks.0.attn.qkv.bias", "F32", [3 * D], [0.0] * 3 * D),
        ("head.weight", "F32", [3, D], [0.0] * 3 * D)]))


# ---------------------------------------------------------------- .npy

def npy(descr, shape, values, version=(1, 0), shape_text=None):
    if shape_text is None:
        shape_text = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)
    pre = 10 if version[0] == 1 else 12
    total = (pre + len(d) + 1 + 63) // 64 * 64
    d = d + " " * (total - pre - len(d) - 1) + "\n"
    head = b"\x93NUMPY" + bytes(version)
    head += struct.pack("<H" if version[0] == 1 else "<I", len(d))
    fmt = "<f" if descr == "<f4" else "<d"
    return head + d.encode("latin-1") + b"".join(struct.pack(fmt, v) for v in values)


def seeds_npy():
    put("npy", "f4_2x3.npy", npy("<f4", [2, 3], [1, 2, 3, 4, 5, 6]))
    put("npy", "f4_vector.npy", npy("<f4", [4], [0.5, -0.5, 1e30, -1e-30]))
    put("npy", "f8_scalar.npy", npy("<f8", [], [3.25]))
    put("npy", "f4_v2_long.npy", npy("<f4", [1, 2], [7, 8], version=(2, 0), shape_text="(1L, 2L)"))
    put("npy", "f8_empty.npy", npy("<f8", [0, 3], []))


# ---------------------------------------------------------------- IDX

def idx_images(count, rows, cols):
    return struct.pack(">IIII", 0x803, count, rows, cols) + bytes(
        (i * 37) % 256 for i in range(count * rows * cols))


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


def idx_input(flags, images, labels):
    return bytes([flags]) + struct.pack("<H", len(images)) + images + labels


def seeds_idx():
    img, lab = idx_images(2, 3, 3), idx_labels([3, 9])
    put("idx", "plain.bin", idx_input(0, img, lab))
    put("idx", "gzip_both.bin", idx_input(3, img, lab))
    put("idx", "no_labels.bin", idx_input(4, idx_images(1, 2, 5), b""))
    put("idx", "spec_dotted_gz.bin", idx_input(8 | 16 | 1, img, lab))
    put("idx", "spec_plain.bin", idx_input(8, img, lab))
    # gzip data of the input's own, passed through as is
    put("idx", "raw_gzip.bin", idx_input(0, gz(img), gz(lab)))
    put("idx", "empty_set.bin", idx_input(0, idx_images(0, 28, 28), idx_labels([])))


# ---------------------------------------------------------------- Kaggle CSV

def csv_rows(labelled, rows):
    head = (["label"] if labelled else []) + ["pixel%d" % i for i in range(784)]
    lines = [",".join(head)]
    for r, label in enumerate(rows):
        px = ["0"] * 784
        for k in range(0, 784, 97):
            px[k] = str((k + 50 * r) % 256)
        lines.append(",".join(([str(label)] if labelled else []) + px))
    return "\n".join(lines) + "\n"


def seeds_csv():
    train = csv_rows(True, [1, 7])
    put("csv", "train.csv", b"\x00" + train.encode())
    put("csv", "test.csv", b"\x00" + csv_rows(False, [0]).encode())
    put("csv", "train_gzip.csv", b"\x01" + train.encode())
    put("csv", "bom_crlf_blank.csv",
        b"\x00\xef\xbb\xbf" + csv_rows(True, [4]).replace("\n", "\r\n").encode() + b"\r\n\r\n")
    put("csv", "raw_gzip.csv", b"\x00" + gz(csv_rows(True, [2]).encode()))


# ---------------------------------------------------------------- images

def seeds_image():
    try:
        from PIL import Image
    except ImportError:
        print("make_corpus: Pillow missing, image seeds skipped", file=sys.stderr)
        return

    def img(mode, w, h):
        im = Image.new(mode, (w, h))
        px = im.load()
        for y in range(h):
            for x in range(w):
                v = (x * 53 + y * 91) % 256
                px[x, y] = {"L": v, "LA": (v, 255 - v), "RGB": (v, 255 - v, (v * 3) % 256),
                            "RGBA": (v, 255 - v, 40, 200), "P": v % 4,
                            "I;16": v * 257}[mode]
        return im

    def save(im, fmt, **kw):
        buf = io.BytesIO()
        im.save(buf, format=fmt, **kw)
        return buf.getvalue()

    # settings bytes: img_size selector, channels/raw flags, crop_pct * 128
    put("image", "grey.png", bytes([27, 0, 115]) + save(img("L", 5, 3), "PNG"))
    put("image", "rgb.png", bytes([15, 1, 128]) + save(img("RGB", 4, 6), "PNG"))
    put("image", "rgba.png", bytes([7, 3, 100]) + save(img("RGBA", 3, 2), "PNG"))
    put("image", "grey_alpha.png", bytes([9, 1, 0]) + save(img("LA", 6, 4), "PNG"))
    pal = img("P", 4, 4)
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 12))
    put("image", "palette.png", bytes([11, 1, 128]) + save(pal, "PNG"))
    put("image", "grey16.png", bytes([3, 0, 128]) + save(img("I;16", 3, 3), "PNG"))
    put("image", "interlaced.png", bytes([8, 1, 128]) + save(img("RGB", 9, 7), "PNG", interlace=1))
    put("image", "rgb.jpg", bytes([15, 1, 115]) + save(img("RGB", 16, 9), "JPEG", quality=80))
    put("image", "grey.jpg", bytes([27, 0, 128]) + save(img("L", 8, 8), "JPEG", quality=90))
    put("image", "progressive.jpg",
        bytes([255, 1, 115]) + save(img("RGB", 12, 12), "JPEG", quality=70, progressive=True))
    put("image", "rgb.bmp", bytes([4, 1, 128]) + save(img("RGB", 3, 2), "BMP"))
    put("image", "rgb.ppm", bytes([5, 3, 128]) + save(img("RGB", 2, 3), "PPM"))
    put("image", "rgb.gif", bytes([6, 1, 128]) + save(img("P", 4, 3), "GIF"))
    put("image", "rgb.tga", bytes([6, 1, 128]) + save(img("RGB", 3, 3), "TGA"))


# ---------------------------------------------------------------- text files

def seeds_text():
    put("gemm_tuning", "builtin_pocl.txt", (
        "# CLBlast parameters\n"
        "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=32\n"
        "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=8 MDIMA=4 MDIMC=4 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=0 "
        "SB=0 STRM=0 STRN=0 VWM=16 VWN=2\n"
        "XgemmDirect KWID=2 MDIMAD=4 MDIMCD=4 NDIMBD=4 NDIMCD=4 PADA=0 PADB=0 VWMD=4 VWND=4 "
        "WGD=32\n").encode())
    put("gemm_tuning", "comments_blank.txt",
        b"\n  # only a comment\n\tGemmRoutine\tXGEMM_MIN_INDIRECT_SIZE=16   # trailing\n\n")
    put("gemm_tuning", "reject.txt", b"Copy COPY_DIMX=8 COPY_DIMY=8\nreject A=1\nXgemm KWG=16\n")

    put("gemm_plan", "plan.txt", (
        "# clvit GEMM plan 2\n"
        "0 1 544 192 64 1 pack_vn_6x32_wg4x4 41.5 quick\n"
        "0 0 544 64 256 1 vn_6x32 30.2 quick\n"
        "1 0 64 64 544 1 dot_4x4x16 12.0 deep\n"
        "# a comment line\n"
        "0 1 32 10 64 1 clblast 8.5 deep\n").encode())
    put("gemm_plan", "gpu.txt", (
        "# clvit GEMM plan 2\n"
        "0 0 197 2304 768 8 local_16x16_4x4 120.0 quick\n"
        "0 0 197 2304 768 8 local_8x8_4x4 110.0 deep\n").encode())
    put("gemm_plan", "empty.txt", b"# clvit GEMM plan 2\n")

    put("cli", "train_like.bin", bytes([0x14]) + b"\0".join([
        b"a.png", b"--model", b"m.safetensors", b"--topk=3", b"--verbose", b"--lr", b"1.5e-3",
        b"--", b"--not-an-option.png"]))
    put("cli", "sizes.bin", bytes([0x00]) + b"\0".join([
        b"--max-alloc", b"64M", b"-q", b"--max-alloc=1g", b"--topk", b"-5"]))
    put("cli", "help.bin", bytes([0x01]) + b"\0".join([b"x", b"--help"]))
    put("cli", "errors.bin", bytes([0x16]) + b"\0".join([b"--verbose=1", b"--bogus", b"--model"]))


def fnv1a(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def seeds_program_cache():
    payload = b"\x7fELF fake driver binary for the program cache\x00\x01\x02"
    put("program_cache", "blob.bin",
        b"CLVITBIN" + struct.pack("<QQ", len(payload), fnv1a(payload)) + payload)
    put("program_cache", "empty_blob.bin", b"CLVITBIN" + struct.pack("<QQ", 0, fnv1a(b"")))
    put("program_cache", "version_12.txt", b"OpenCL C 1.2 pocl")
    put("program_cache", "version_30.txt", b"OpenCL C 3.0 ")
    put("program_cache", "version_11.txt", b"OpenCL C 1.1")


def main():
    seeds_safetensors()
    seeds_checkpoint()
    seeds_npy()
    seeds_idx()
    seeds_csv()
    seeds_image()
    seeds_text()
    seeds_program_cache()


if __name__ == "__main__":
    main()
