#!/usr/bin/env python3
"""
test_python.py - python/clvit.py (ctypes over libclvit.so) against the parity fixtures of
tests/fixtures (tools/make_fixtures.py: <name>.safetensors weights, <name>.io.safetensors
with the input batch and PyTorch's float64 logits and features), read here with NumPy alone.

  - Model(path)(input) matches the fixture's logits with test_model.c's bound,
    max |logit - ref| <= 1e-4 * max |ref|, on every fixture; a single (C, H, W) image too;
  - features() match the fixture's features, and head(features) gives the logits (distilled:
    the mean of both heads on [class | distillation] features);
  - Model.load_image on a PNG written here (zlib + NumPy) equals the crop and normalisation
    computed here; predict() on it equals the softmax top-k of Model(load_image);
  - errors: a missing or truncated file, a device that does not exist, a wrong shape or
    dtype, a closed model: clvit.Error (with clvit_last_error()'s text) or ValueError;
  - devices() agrees with `clvit devices` (when CLVIT_CLI names the program), close() gives
    the device memory back, the library's version is clvit.h's;
  - the README's Python example runs as written; the module installed by cmake --install
    finds the installed library and the ImageNet-1k names;
  - parity with PyTorch itself (tools/vit_ref.py rebuilt from the weights, float64) on a
    fresh random batch, where torch is importable; skipped, saying so, where it is not (the
    fixture comparison above runs everywhere).

Run: CLVIT_LIBRARY=build/libclvit.so python3 tests/test_python.py   (ctest: test_python)
"""

import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

import numpy as np

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "python"))
import clvit  # noqa: E402

FIXTURES = os.path.join(SRC, "tests", "fixtures")
NAMES = ["tiny_qkvbias", "tiny_noqkvbias_repr", "tiny_distilled", "tiny_heads5",
         "tiny_gap_sincos", "mnist_small"]
_DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    """name -> array, and the metadata, with NumPy only."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    meta = head.pop("__metadata__", {})
    out = {}
    for k, v in head.items():
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(data[b:e], dtype=_DT[v["dtype"]]).reshape(v["shape"])
    return out, meta


def fixture(name):
    w, meta = read_safetensors(os.path.join(FIXTURES, name + ".safetensors"))
    io, _ = read_safetensors(os.path.join(FIXTURES, name + ".io.safetensors"))
    return os.path.join(FIXTURES, name + ".safetensors"), w, meta, io


def assert_close_to_ref(tc, what, got, ref, rel=1e-4):
    """test_model.c's bound: max |got - ref| <= rel * max |ref|; prints the figures."""
    tc.assertEqual(got.shape, ref.shape, what)
    maxref = float(np.abs(ref).max())
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    maxdiff = float(diff.max()) if diff.size else 0.0
    print(f"  {what:<40} max|ref| {maxref:.4f} max|diff| {maxdiff:.3g} "
          f"(limit {rel * maxref:.3g})")
    if not maxdiff <= rel * maxref:  # NaN fails too
        bad = np.argwhere(~(diff <= rel * maxref))[:5]
        rows = ", ".join(f"{tuple(i)}: got {got[tuple(i)]:.7g} ref {ref[tuple(i)]:.7g}"
                         for i in bad)
        tc.fail(f"{what}: max|diff| {maxdiff:.3g} > {rel * maxref:.3g}; first: {rows}")


def write_png(path, pix):
    """pix: (H, W, 3) uint8 -> an RGB PNG, filter 0 on every row."""
    h, w, _ = pix.shape

    def chunk(tag, body):
        return (struct.pack(">I", len(body)) + tag + body +
                struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + pix[y].tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class TestFixtures(unittest.TestCase):
    def test_logits_match_pytorch_fixtures(self):
        for name in NAMES:
            path, _, _, io = fixture(name)
            with clvit.Model(path) as m:
                got = m(io["input"])
                self.assertEqual(got.dtype, np.float32)
                assert_close_to_ref(self, f"{name} logits", got, io["logits"])
                one = m(io["input"][1])  # a single (C, H, W) image
                self.assertEqual(one.shape, (m.config["num_classes"],))
                assert_close_to_ref(self, f"{name} logits, image 1 alone", one, io["logits"][1])

    def test_features_then_head_give_logits(self):
        for name in NAMES:
            path, w, meta, io = fixture(name)
            with clvit.Model(path) as m:
                f = m.features(io["input"]).astype(np.float64)
                logits = m(io["input"])
                wh, bh = w["head.weight"].astype(np.float64), w["head.bias"].astype(np.float64)
                if meta.get("distilled") == "1":
                    D = m.config["embed_dim"]
                    self.assertEqual(m.feature_dim, 2 * D)
                    assert_close_to_ref(self, f"{name} features (class)", f[:, :D],
                                        io["features"])
                    assert_close_to_ref(self, f"{name} features (dist)", f[:, D:],
                                        io["features_dist"])
                    wd = w["head_dist.weight"].astype(np.float64)
                    bd = w["head_dist.bias"].astype(np.float64)
                    head = (f[:, :D] @ wh.T + bh + f[:, D:] @ wd.T + bd) / 2
                else:
                    self.assertEqual(m.feature_dim, f.shape[1])
                    assert_close_to_ref(self, f"{name} features", f, io["features"])
                    head = f @ wh.T + bh
                assert_close_to_ref(self, f"{name} head(features) vs logits", head, logits)

    def test_config_matches_metadata(self):
        for name in NAMES:
            path, _, meta, _ = fixture(name)
            with clvit.Model(path) as m:
                c = m.config
                for k in ("img_size", "patch_size", "in_chans", "num_classes", "embed_dim",
                          "depth", "num_heads", "representation_size"):
                    self.assertEqual(c[k], int(meta[k]), f"{name} {k}")
                self.assertAlmostEqual(c["mlp_ratio"], float(meta["mlp_ratio"]), places=6)
                self.assertAlmostEqual(c["qk_scale"], float(meta["qk_scale"]), places=6)
                self.assertEqual(c["qkv_bias"], meta["qkv_bias"] == "1")
                self.assertEqual(c["distilled"], meta["distilled"] == "1")
                self.assertEqual(c["pool"], meta["global_pool"])
                self.assertEqual(c["pos_embed"], meta["pos_embed"])
                self.assertEqual(c["mean"], tuple(float(v) for v in meta["mean"].split(",")))

    def test_float64_input_is_converted(self):
        path, _, _, io = fixture("tiny_qkvbias")
        with clvit.Model(path) as m:
            a = m(io["input"])
            b = m(io["input"].astype(np.float64))
            c = m(np.asfortranarray(io["input"]))  # not C-contiguous
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
            self.assertEqual(m(io["input"][:0]).shape, (0, m.config["num_classes"]))


class TestImagesAndPredict(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="clvit_test_python_")
        rng = np.random.default_rng(12)
        # tiny_qkvbias: img_size 16, crop_pct 0.9 -> shorter side floor(16 / 0.9) = 17: a 17 x 20
        # picture is not resampled, only cropped (rows from round(4 / 2) = 2, columns from
        # round(1 / 2) = 0, Python's and torchvision's rounding)
        cls.pix = rng.integers(0, 256, size=(20, 17, 3), dtype=np.uint8)
        cls.png = os.path.join(cls.tmp.name, "a.png")
        write_png(cls.png, cls.pix)
        cls.png2 = os.path.join(cls.tmp.name, "b.png")
        write_png(cls.png2, rng.integers(0, 256, size=(33, 40, 3), dtype=np.uint8))
        cls.path = fixture("tiny_qkvbias")[0]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_load_image_crops_and_normalises(self):
        with clvit.Model(self.path) as m:
            c = m.config
            self.assertEqual(int(16 / np.float32(c["crop_pct"])), 17)
            got = m.load_image(self.png)
            self.assertEqual(got.shape, (3, 16, 16))
            crop = self.pix[2:18, 0:16].astype(np.float64) / 255.0
            mean, std = np.array(c["mean"]), np.array(c["std"])
            want = ((crop - mean) / std).transpose(2, 0, 1)
            err = float(np.abs(got - want).max())
            self.assertLessEqual(err, 1e-6, f"load_image vs crop: max|diff| {err:.3g}")

    def test_load_image_with_a_config(self):
        # crop 1.0 on a picture of the model's size: no resampling, only normalisation; the
        # distinct mean and std per channel also check the clvit_config mirrored in Python
        with clvit.Model(self.path) as m:
            c = dict(m.config)
        c.update(img_size=17, crop_pct=1.0, mean=(0.1, 0.5, 0.9), std=(0.2, 0.3, 0.4))
        got = clvit.load_image(self.png, c)
        top = int(round((20 - 17) / 2.0))  # torchvision's CenterCrop: round half to even, 2
        crop = self.pix[top:top + 17, 0:17].astype(np.float64) / 255.0
        want = ((crop - np.array(c["mean"])) / np.array(c["std"])).transpose(2, 0, 1)
        err = float(np.abs(got - want).max())
        self.assertLessEqual(err, 1e-6, f"clvit.load_image vs crop: max|diff| {err:.3g}")
        c["in_chans"] = 2
        with self.assertRaises(clvit.Error) as e:
            clvit.load_image(self.png, c)
        self.assertEqual(e.exception.status, -2000)  # CLVIT_ERR_INVALID_ARG

    def test_predict_is_softmax_top_k(self):
        with clvit.Model(self.path) as m:
            K = m.config["num_classes"]
            x = np.stack([m.load_image(self.png), m.load_image(self.png2)])
            logits = m(x).astype(np.float64)
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            res = clvit.predict([self.png, self.png2], model=m, top_k=3)
            self.assertEqual(len(res), 2)
            for i, tops in enumerate(res):
                self.assertEqual(len(tops), 3)
                want = np.argsort(-p[i], kind="stable")[:3]
                self.assertEqual([t.index for t in tops], [int(j) for j in want])
                for t in tops:
                    self.assertAlmostEqual(t.probability, p[i, t.index], delta=1e-6)
                    self.assertIsNone(t.label)  # 7 classes: no names unless given
            # one batch per image, a weights path instead of a Model, labels given, top_k > K
            names = [f"class{k}" for k in range(K)]
        res2 = clvit.predict([self.png, self.png2], model=self.path, top_k=50, labels=names,
                             batch=1)
        for i in range(2):
            self.assertEqual(len(res2[i]), K)
            self.assertEqual([t.index for t in res2[i][:3]], [t.index for t in res[i]])
            self.assertEqual(res2[i][0].label, f"class{res2[i][0].index}")
            self.assertAlmostEqual(sum(t.probability for t in res2[i]), 1.0, delta=1e-9)
        self.assertEqual(len(clvit.predict(self.png, model=self.path)), 1)  # one path alone

    def test_imagenet_labels(self):
        names = clvit.imagenet1k_labels()
        self.assertEqual(len(names), 1000)
        self.assertEqual(names[0], "tench")
        self.assertTrue(all(names), "an empty class name")

    def test_image_errors(self):
        with clvit.Model(self.path) as m:
            missing = os.path.join(self.tmp.name, "missing.png")
            with self.assertRaises(clvit.Error) as e:
                m.load_image(missing)
            self.assertIn(missing, str(e.exception))
            self.assertEqual(e.exception.status, -2001)  # CLVIT_ERR_IO
            junk = os.path.join(self.tmp.name, "junk.png")
            with open(junk, "wb") as f:
                f.write(b"not an image")
            with self.assertRaises(clvit.Error) as e:
                clvit.predict([self.png, junk], model=m)
            self.assertIn(junk, str(e.exception))
            with self.assertRaises(ValueError):
                clvit.predict([self.png], model=m, top_k=0)
            with self.assertRaises(ValueError):
                clvit.predict([self.png], model=m, labels=["only one"])


class TestErrors(unittest.TestCase):
    def test_missing_and_truncated_files(self):
        missing = os.path.join(FIXTURES, "no_such_model.safetensors")
        with self.assertRaises(clvit.Error) as e:
            clvit.Model(missing)
        msg = str(e.exception)
        print(f"  missing file: {msg}")
        self.assertIn(missing, msg)
        self.assertIn("No such file", msg)
        self.assertEqual(e.exception.status, -2001)
        self.assertEqual(e.exception.status_name, "I/O error")
        with tempfile.TemporaryDirectory() as d:
            cut = os.path.join(d, "cut.safetensors")
            with open(fixture("tiny_qkvbias")[0], "rb") as f:
                data = f.read()
            with open(cut, "wb") as f:
                f.write(data[: len(data) // 2])
            with self.assertRaises(clvit.Error) as e:
                clvit.Model(cut)
            print(f"  truncated file: {e.exception}")
            self.assertIn(cut, str(e.exception))

    def test_no_such_device(self):
        with self.assertRaises(clvit.Error) as e:
            clvit.Model(fixture("tiny_qkvbias")[0], device="no-such-device-xyz")
        print(f"  bad device: {e.exception}")
        self.assertEqual(e.exception.status, -2008)  # CLVIT_ERR_NO_DEVICE
        self.assertIn("no-such-device-xyz", str(e.exception))
        if not any(d.is_gpu for d in clvit.devices()):  # "gpu" is strict: an error, no fallback
            with self.assertRaises(clvit.Error) as e:
                clvit.Model(fixture("tiny_qkvbias")[0], device="gpu")
            self.assertIn("no GPU", str(e.exception))

    def test_wrong_arrays(self):
        path, _, _, io = fixture("tiny_qkvbias")  # (B, 3, 16, 16)
        with clvit.Model(path) as m:
            for bad in (np.zeros((2, 3, 16, 15), np.float32), np.zeros((2, 1, 16, 16), np.float32),
                        np.zeros((3, 16), np.float32), np.zeros((1, 2, 3, 16, 16), np.float32)):
                with self.assertRaises(ValueError) as e:
                    m(bad)
                self.assertIn(str(tuple(bad.shape)), str(e.exception))
                self.assertIn("(B, 3, 16, 16)", str(e.exception))
                with self.assertRaises(ValueError):
                    m.features(bad)
            with self.assertRaises(ValueError) as e:
                m(np.zeros((1, 3, 16, 16), np.uint8))
            self.assertIn("uint8", str(e.exception))
        with self.assertRaises(ValueError):  # closed
            m(io["input"])

    @staticmethod
    def settled(want_buffers):
        """device_memory_in_use() once at most want_buffers remain, waiting up to 2 s for the
        driver to destroy released buffers (rusticl does so in its own threads), as
        test_runtime.c's settled_buffers."""
        for _ in range(200):
            now = clvit.device_memory_in_use()
            if now[0] <= want_buffers:
                break
            time.sleep(0.01)
        return now

    def test_close_frees_device_memory(self):
        before = self.settled(0)  # what earlier tests' closed models left, if anything
        m = clvit.Model(fixture("tiny_qkvbias")[0])
        m(fixture("tiny_qkvbias")[3]["input"])
        held = clvit.device_memory_in_use()
        self.assertGreater(held[1], before[1])
        m.close()
        m.close()  # twice is fine
        self.assertTrue(m.closed)
        self.assertEqual(self.settled(before[0]), before)


class TestLibrary(unittest.TestCase):
    def test_version_is_the_headers(self):
        with open(os.path.join(SRC, "include", "clvit.h")) as f:
            h = f.read()
        v = [re.search(rf"#define CLVIT_VERSION_{p} (\d+)", h).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
        self.assertEqual(clvit.ABI_MAJOR, int(v[0]), "python/clvit.py mirrors another clvit.h")
        self.assertEqual(clvit.version(), ".".join(v))
        print(f"  library {clvit.library_path()} version {clvit.version()}")

    def test_library_search_order(self):
        env = os.environ.pop("CLVIT_LIBRARY", None)
        try:
            c = clvit._candidates()
            self.assertEqual(c[0][0], "build tree")
            self.assertEqual(os.path.normpath(c[0][1]),
                             os.path.join(SRC, "build", "libclvit.so"))
            os.environ["CLVIT_LIBRARY"] = "/x/libclvit.so"
            self.assertEqual(clvit._candidates(), [("CLVIT_LIBRARY", "/x/libclvit.so")])
        finally:
            os.environ.pop("CLVIT_LIBRARY", None)
            if env is not None:
                os.environ["CLVIT_LIBRARY"] = env
        # a fresh process with a wrong CLVIT_LIBRARY: clvit.Error naming it, no fallback
        r = subprocess.run([sys.executable, "-c", "import clvit; clvit.devices()"],
                           env=dict(os.environ, CLVIT_LIBRARY="/nonexistent/libclvit.so",
                                    PYTHONPATH=os.path.join(SRC, "python")),
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("clvit.Error", r.stderr)
        self.assertIn("/nonexistent/libclvit.so", r.stderr)

    def test_devices(self):
        ds = clvit.devices()
        self.assertGreaterEqual(len(ds), 1)
        self.assertEqual(sum(d.default for d in ds), 1)
        for d in ds:
            self.assertTrue(d.name)
            self.assertGreater(d.compute_units, 0)
            self.assertGreater(d.global_mem_bytes, 0)
            self.assertTrue(d.opencl_c_version.startswith("OpenCL C"), d.opencl_c_version)
        with clvit.Model(fixture("tiny_qkvbias")[0], device=ds[-1].spec) as m:
            self.assertEqual(m.device.name, ds[-1].name)
        with clvit.Model(fixture("tiny_qkvbias")[0]) as m:  # no device: the one marked default
            self.assertEqual(m.device.spec, [d.spec for d in ds if d.default][0])
        cli = os.environ.get("CLVIT_CLI")
        if cli:  # the same list as the CLI's
            out = subprocess.run([cli, "devices"], capture_output=True, text=True,
                                 check=True).stdout
            for d in ds:
                line = re.search(rf"device {d.platform_index}:{d.device_index}  (.*)", out)
                self.assertIsNotNone(line, out)
                self.assertEqual(re.sub(r"  \(default.*\)$", "", line.group(1)), d.name)
                self.assertEqual("  (default" in line.group(1), d.default)
                figures = re.search(r"(\d+) compute units @ (\d+) MHz", out[line.end():])
                self.assertEqual((int(figures.group(1)), int(figures.group(2))),
                                 (d.compute_units, d.clock_mhz))


class TestReadme(unittest.TestCase):
    def test_readme_example_runs(self):
        """The README's Python example as written, on a fixture named as the example's
        weights and two PNGs named as its images (the decoder goes by content)."""
        with open(os.path.join(SRC, "README.md"), encoding="utf-8") as f:
            blocks = re.findall(r"^```python\n(.*?)^```$", f.read(), re.S | re.M)
        self.assertEqual(len(blocks), 1, "one ```python block in README.md")
        rng = np.random.default_rng(3)
        with tempfile.TemporaryDirectory(prefix="clvit_readme_") as d:
            os.symlink(fixture("tiny_qkvbias")[0], os.path.join(d, "deit_tiny.safetensors"))
            for name in ("cat.jpg", "dog.png"):
                write_png(os.path.join(d, name), rng.integers(0, 256, (24, 30, 3), np.uint8))
            r = subprocess.run([sys.executable, "-c", blocks[0]], cwd=d, capture_output=True,
                               text=True, env=dict(os.environ,
                                                   PYTHONPATH=os.path.join(SRC, "python")))
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        print("  README example printed:\n    " + "\n    ".join(lines))
        self.assertEqual(len(lines), 4)
        self.assertTrue(lines[0].startswith("[Device("), lines[0])
        self.assertTrue(lines[1].startswith("7 "), lines[1])
        for line in lines[2:]:
            self.assertEqual(line.count("None)"), 3, line)  # 7 classes: no names


class TestInstalled(unittest.TestCase):
    def test_installed_module_finds_its_library_and_names(self):
        build = os.environ.get("CLVIT_BUILD_DIR")
        if not build:
            self.skipTest("CLVIT_BUILD_DIR is not set (ctest sets it): no build tree to install")
        with tempfile.TemporaryDirectory(prefix="clvit_py_install_") as prefix:
            subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                           check=True, capture_output=True)
            moddir = os.path.join(prefix, "share", "clvit", "python")
            env = {k: v for k, v in os.environ.items() if k != "CLVIT_LIBRARY"}
            env["PYTHONPATH"] = moddir
            code = ("import clvit, sys\n"
                    "print(clvit.__file__); print(clvit.library_path())\n"
                    "print(len(clvit.imagenet1k_labels()))\n"
                    f"m = clvit.Model({fixture('tiny_qkvbias')[0]!r})\n"
                    "print(m.config['num_classes'])\n")
            r = subprocess.run([sys.executable, "-c", code], env=env, cwd=prefix,
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            mod, lib, n, k = r.stdout.split("\n")[:4]
            print(f"  installed: {mod} loads {lib}")
            self.assertEqual(os.path.dirname(mod), moddir)
            self.assertTrue(lib.startswith(prefix + os.sep), lib)
            self.assertEqual((n, k), ("1000", "7"))


def _torch():
    try:
        import torch
        return torch
    except ImportError:
        return None


class TestTorchParity(unittest.TestCase):
    def test_fresh_batch_against_pytorch(self):
        torch = _torch()
        if torch is None:
            self.skipTest(f"torch is not importable by {sys.executable}; the fixtures' PyTorch "
                          f"logits were compared above (Debian python3-torch runs this one)")
        sys.path.insert(0, os.path.join(SRC, "tools"))
        from export_safetensors import load_model
        rng = np.random.default_rng(7)
        for name in NAMES:
            path = fixture(name)[0]
            ref_model, _ = load_model(path)
            ref_model = ref_model.double().eval()
            with clvit.Model(path) as m:
                c = m.config
                x = rng.standard_normal((5, c["in_chans"], c["img_size"], c["img_size"]),
                                        dtype=np.float32)
                with torch.no_grad():
                    ref = ref_model(torch.from_numpy(x).double()).numpy()
                assert_close_to_ref(self, f"{name} vs torch, fresh batch of 5", m(x), ref)


if __name__ == "__main__":
    unittest.main(verbosity=2)
