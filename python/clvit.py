"""
clvit.py - Python bindings for clvit (Vision Transformers on any OpenCL device), with ctypes
over the shared library libclvit.so: NumPy arrays in and out, no compiler needed.

    import clvit
    print(clvit.devices())
    with clvit.Model("deit_tiny.safetensors") as model:       # default device: GPU, else CPU
        logits = model(images)          # (B, C, H, W) float32 -> (B, num_classes)
        feats = model.features(images)  # (B, feature_dim), the input of the classifier head
    for tops in clvit.predict(["cat.jpg"], model="deit_tiny.safetensors", top_k=5):
        print(tops)                     # [Top(index, probability, label), ...]

Layout, as everywhere in clvit (include/clvit.h): row-major, batch-first; images are NCHW
float32, already normalised (Model.load_image does the model's preprocessing from a file,
clvit.load_image(path, config) any configuration's).

Which library: $CLVIT_LIBRARY (a path), else the build tree beside this file
(../build/libclvit.so, the source tree's default build folder), else the installed one
(<prefix>/share/clvit/python/clvit.py looks in <prefix>/lib*), else the system's
(ctypes.util.find_library("clvit"): ldconfig's cache, LD_LIBRARY_PATH). Its clvit_version()
must have the major version this module mirrors (the structures below are clvit.h's).

Devices: device=None (the default) is clvit's own rule, as the CLI without --device:
$CLVIT_DEVICE, else a discrete GPU, an integrated GPU, another accelerator, else a CPU. So
the default already takes a GPU when there is one and falls back to the CPU. An explicit
"gpu" (or "cpu", "P:D", a name substring) is strict: it raises clvit.Error when nothing
matches rather than running elsewhere without a word.

Errors from the library raise clvit.Error (status, status name and clvit_last_error()'s
text); arrays of the wrong shape or type raise ValueError before the library is called.
A Model (its context and model) is used by one thread at a time; it holds a lock, so
sharing one between threads is safe but serialised. ctypes releases the GIL during calls.
"""

import ctypes
import ctypes.util
import dataclasses
import glob
import os
import threading
from collections import namedtuple

import numpy as np

__all__ = ["Error", "Device", "Top", "devices", "Model", "predict", "library_path", "version",
           "imagenet1k_labels", "device_memory_in_use", "load_image"]

# The major version of clvit.h whose structures and signatures are mirrored here; the shared
# library's major changes exactly when those do (its SOVERSION).
ABI_MAJOR = 1

_HERE = os.path.dirname(os.path.abspath(__file__))


class Error(RuntimeError):
    """A clvit call failed. status: the clvit_status (negative: OpenCL's codes pass through,
    -2099..-2000: clvit's own); status_name: clvit_status_string(status)."""

    def __init__(self, message, status=None, status_name=None):
        super().__init__(message)
        self.status = status
        self.status_name = status_name


# ------------------------------------------------------------------ structures of clvit.h

_NAME = ctypes.c_char * 128


class _DeviceInfo(ctypes.Structure):
    _fields_ = [
        ("platform_index", ctypes.c_int), ("device_index", ctypes.c_int),
        ("platform_name", _NAME), ("platform_version", _NAME),
        ("name", _NAME), ("vendor", _NAME), ("driver_version", _NAME),
        ("device_version", _NAME), ("opencl_c_version", _NAME),
        ("is_gpu", ctypes.c_int), ("is_cpu", ctypes.c_int),
        ("host_unified_memory", ctypes.c_int),
        ("compute_units", ctypes.c_uint), ("clock_mhz", ctypes.c_uint),
        ("global_mem_bytes", ctypes.c_uint64), ("local_mem_bytes", ctypes.c_uint64),
        ("max_alloc_bytes", ctypes.c_uint64),
        ("max_work_group_size", ctypes.c_size_t),
        ("fp16", ctypes.c_int), ("fp64", ctypes.c_int),
        ("limits_emulated", ctypes.c_int),
    ]


class _Config(ctypes.Structure):
    _fields_ = [
        ("img_size", ctypes.c_int), ("patch_size", ctypes.c_int), ("in_chans", ctypes.c_int),
        ("num_classes", ctypes.c_int),
        ("embed_dim", ctypes.c_int), ("depth", ctypes.c_int), ("num_heads", ctypes.c_int),
        ("mlp_ratio", ctypes.c_float),
        ("qkv_bias", ctypes.c_int),
        ("qk_scale", ctypes.c_float),
        ("representation_size", ctypes.c_int),
        ("distilled", ctypes.c_int),
        ("pool", ctypes.c_int),       # clvit_pool: 0 token, 1 avg
        ("pos_embed", ctypes.c_int),  # clvit_pos_embed: 0 learned, 1 sincos
        ("drop_rate", ctypes.c_float), ("attn_drop_rate", ctypes.c_float),
        ("drop_path_rate", ctypes.c_float),
        ("mean", ctypes.c_float * 3), ("std", ctypes.c_float * 3),
        ("crop_pct", ctypes.c_float),
    ]


@dataclasses.dataclass(frozen=True)
class Device:
    """One OpenCL device, as clvit_list_devices reports it. spec ("P:D") selects it:
    Model(path, device=d.spec)."""
    platform_index: int
    device_index: int
    platform_name: str
    platform_version: str
    name: str
    vendor: str
    driver_version: str
    device_version: str
    opencl_c_version: str
    is_gpu: bool
    is_cpu: bool
    host_unified_memory: bool
    compute_units: int
    clock_mhz: int
    global_mem_bytes: int
    local_mem_bytes: int
    max_alloc_bytes: int
    max_work_group_size: int
    fp16: bool
    fp64: bool
    limits_emulated: int
    default: bool = False  # the one Model(path) picks: $CLVIT_DEVICE's, else the rule's

    @property
    def spec(self):
        return f"{self.platform_index}:{self.device_index}"


def _device(info, default=False):
    kw = {}
    for f in dataclasses.fields(Device):
        if f.name == "default":
            continue
        v = getattr(info, f.name)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif f.type is bool or f.type == "bool":
            v = bool(v)
        kw[f.name] = v
    return Device(default=default, **kw)


# ------------------------------------------------------------------ the library

def _candidates():
    """(origin, path or name) in the order the library is looked for."""
    env = os.environ.get("CLVIT_LIBRARY")
    if env:
        return [("CLVIT_LIBRARY", env)]  # named explicitly: nothing else is tried
    out = [("build tree", os.path.join(_HERE, os.pardir, "build", "libclvit.so"))]
    # installed as <prefix>/share/clvit/python/clvit.py: the library is in <prefix>/lib*
    prefix = os.path.normpath(os.path.join(_HERE, os.pardir, os.pardir, os.pardir))
    for pattern in ("lib*/libclvit.so.%d" % ABI_MAJOR, "lib/*/libclvit.so.%d" % ABI_MAJOR):
        out += [("install prefix", p) for p in sorted(glob.glob(os.path.join(prefix, pattern)))]
    found = ctypes.util.find_library("clvit")
    if found:
        out.append(("system", found))
    return out


_lib = None
_lib_path = None
_lib_lock = threading.Lock()


def _declare(lib):
    c_int, c_char_p, c_void_p, c_float_p = (ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p,
                                           ctypes.POINTER(ctypes.c_float))
    sigs = {
        "clvit_version": (c_char_p, []),
        "clvit_status_string": (c_char_p, [c_int]),
        "clvit_last_error": (c_char_p, []),
        "clvit_list_devices": (c_int, [ctypes.POINTER(ctypes.POINTER(_DeviceInfo)),
                                       ctypes.POINTER(c_int)]),
        "clvit_select_device": (c_int, [ctypes.POINTER(_DeviceInfo), c_int, c_char_p,
                                        ctypes.POINTER(c_int)]),
        "clvit_ctx_create": (c_int, [ctypes.POINTER(c_void_p), c_char_p]),
        "clvit_ctx_free": (None, [c_void_p]),
        "clvit_ctx_device": (ctypes.POINTER(_DeviceInfo), [c_void_p]),
        "clvit_model_load": (c_int, [c_void_p, c_char_p, c_char_p, c_int,
                                     ctypes.POINTER(c_void_p)]),
        "clvit_model_free": (None, [c_void_p]),
        "clvit_model_config": (ctypes.POINTER(_Config), [c_void_p]),
        "clvit_model_forward": (c_int, [c_void_p, c_float_p, c_int, c_float_p]),
        "clvit_model_feature_dim": (c_int, [c_void_p]),
        "clvit_model_features": (c_int, [c_void_p, c_float_p, c_int, c_float_p]),
        "clvit_load_image": (c_int, [ctypes.POINTER(_Config), c_char_p, c_float_p]),
        "clvit_device_memory_in_use": (None, [ctypes.POINTER(ctypes.c_uint64),
                                              ctypes.POINTER(ctypes.c_uint64)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    # clvit_list_devices hands back malloc'ed memory: free() it with the C library's free.
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.free.argtypes = [c_void_p]
    libc.free.restype = None
    return libc.free


def _load():
    """Loads and checks the library once; returns it."""
    global _lib, _lib_path, _free
    with _lib_lock:
        if _lib is not None:
            return _lib
        tried = []
        for origin, path in _candidates():
            if os.sep in path and not os.path.exists(path):
                tried.append(f"{origin}: {path} (absent)")
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                tried.append(f"{origin}: {path} ({e})")
                continue
            try:
                free = _declare(lib)
            except AttributeError as e:  # not clvit, or one without the calls used here
                tried.append(f"{origin}: {path} (lacks {e})")
                continue
            ver = lib.clvit_version().decode()
            major = int(ver.split(".")[0])
            if major != ABI_MAJOR:
                raise Error(f"clvit: {path} is version {ver}, this module needs {ABI_MAJOR}.x "
                            f"(set CLVIT_LIBRARY to a matching libclvit.so)")
            _lib, _lib_path, _free = lib, os.path.abspath(path) if os.sep in path else path, free
            return _lib
        raise Error("clvit: libclvit.so not found; tried " + "; ".join(tried) +
                    ". Build it (cmake -B build && cmake --build build, from the source tree) "
                    "or set CLVIT_LIBRARY to its path")


def library_path():
    """The path (or system name) of the libclvit loaded."""
    _load()
    return _lib_path


def version():
    """clvit_version() of the library loaded, "MAJOR.MINOR.PATCH"."""
    return _load().clvit_version().decode()


def device_memory_in_use():
    """(buffers, bytes) of device memory clvit holds in this process, over all contexts
    (clvit_device_memory_in_use); back to what it was once every Model is closed and the
    driver has destroyed the buffers (some drivers do so a moment later, in their threads)."""
    lib = _load()
    n, b = ctypes.c_uint64(), ctypes.c_uint64()
    lib.clvit_device_memory_in_use(ctypes.byref(n), ctypes.byref(b))
    return n.value, b.value


def _check(status, what):
    if status != 0:
        lib = _lib
        name = lib.clvit_status_string(status).decode("utf-8", "replace")
        detail = lib.clvit_last_error().decode("utf-8", "replace")
        raise Error(f"{what}: {detail or name} ({name}, status {status})", status, name)


# ------------------------------------------------------------------ devices

def devices():
    """Every OpenCL device of every platform, a list of Device. default=True marks the one
    Model(path) without a device gets, as `clvit devices` marks it: $CLVIT_DEVICE's, else
    the default rule's (none is marked when $CLVIT_DEVICE matches no device)."""
    lib = _load()
    infos = ctypes.POINTER(_DeviceInfo)()
    n = ctypes.c_int(0)
    _check(lib.clvit_list_devices(ctypes.byref(infos), ctypes.byref(n)), "clvit_list_devices")
    try:
        d = ctypes.c_int(-1)
        if lib.clvit_select_device(infos, n.value, None, ctypes.byref(d)) != 0:
            d.value = -1
        d = d.value
        return [_device(infos[i], default=(i == d)) for i in range(n.value)]
    finally:
        _free(infos)


# ------------------------------------------------------------------ models

_POOL = {0: "token", 1: "avg"}
_POS = {0: "learned", 1: "sincos"}


def _config_dict(c):
    return {
        "img_size": c.img_size, "patch_size": c.patch_size, "in_chans": c.in_chans,
        "num_classes": c.num_classes, "embed_dim": c.embed_dim, "depth": c.depth,
        "num_heads": c.num_heads, "mlp_ratio": c.mlp_ratio, "qkv_bias": bool(c.qkv_bias),
        "qk_scale": c.qk_scale, "representation_size": c.representation_size,
        "distilled": bool(c.distilled), "pool": _POOL.get(c.pool, c.pool),
        "pos_embed": _POS.get(c.pos_embed, c.pos_embed),
        "mean": tuple(c.mean), "std": tuple(c.std), "crop_pct": c.crop_pct,
    }


def _config_struct(d):
    """A clvit_config from a dict shaped as Model.config (absent keys: 0)."""
    c = _Config()
    inv_pool = {v: k for k, v in _POOL.items()}
    inv_pos = {v: k for k, v in _POS.items()}
    for name, _ in _Config._fields_:
        if name not in d:
            continue
        v = d[name]
        if name == "pool":
            v = inv_pool.get(v, v)
        elif name == "pos_embed":
            v = inv_pos.get(v, v)
        if name in ("mean", "std"):
            if len(v) != 3:
                raise ValueError(f"clvit: config {name} needs 3 values, got {v!r}")
            getattr(c, name)[:] = [float(x) for x in v]
        else:
            setattr(c, name, type(getattr(c, name))(v))
    return c


def load_image(path, config):
    """An image file (PNG, JPEG, BMP, GIF) with a configuration's evaluation preprocessing
    (clvit_load_image): the shorter side resized to floor(img_size / crop_pct) (bicubic, as
    Pillow), centre crop img_size x img_size, [0, 1], normalised with mean and std. config:
    a dict as Model.config (img_size, in_chans, crop_pct, mean, std are used). Returns a
    float32 (in_chans, img_size, img_size) array."""
    lib = _load()
    c = _config_struct(config)
    if c.img_size <= 0 or c.in_chans <= 0:
        raise ValueError(f"clvit.load_image: img_size and in_chans must be > 0, got "
                         f"{c.img_size} and {c.in_chans}")
    out = np.empty((c.in_chans, c.img_size, c.img_size), dtype=np.float32)
    _check(lib.clvit_load_image(ctypes.byref(c), _fspath(path), _float_ptr(out)),
           f"clvit.load_image: {os.fspath(path)}")
    return out


def _fspath(path):
    return os.fsencode(os.fspath(path))


def _float_ptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


class Model:
    """A model loaded from safetensors weights (timm, torchvision or Hugging Face names, as
    clvit_model_load) on its own clvit context.

    device: None = clvit's default rule ($CLVIT_DEVICE, else GPU before CPU); "gpu", "cpu",
    "P:D" or part of a device name = that device or clvit.Error. preset / heads: for files
    whose architecture is not in their metadata (clvit_model_load's preset and
    heads_override). Free with close() or a with block (also done when garbage-collected)."""

    def __init__(self, path, device=None, preset=None, heads=0):
        lib = _load()
        self._lib = lib
        self._ctx = ctypes.c_void_p()
        self._model = ctypes.c_void_p()
        self._lock = threading.Lock()
        self.path = os.fspath(path)
        if device is not None and not isinstance(device, str):
            device = device.spec if isinstance(device, Device) else str(device)
        spec = None if device is None else device.encode()
        st = lib.clvit_ctx_create(ctypes.byref(self._ctx), spec)
        if st != 0:
            hint = ""
            if device == "gpu":
                hint = " (device=None takes a GPU when there is one, else the CPU)"
            _check(st, f"clvit.Model: device {device!r}{hint}")
        try:
            _check(lib.clvit_model_load(self._ctx, _fspath(path),
                                        None if preset is None else preset.encode(), int(heads),
                                        ctypes.byref(self._model)),
                   f"clvit.Model: loading {self.path}")
        except BaseException:
            self.close()
            raise
        c = lib.clvit_model_config(self._model).contents
        self._cfg = _Config.from_buffer_copy(c)  # a copy: valid whatever the model does next
        self.config = _config_dict(self._cfg)
        self.feature_dim = int(lib.clvit_model_feature_dim(self._model))
        self.device = _device(lib.clvit_ctx_device(self._ctx).contents)

    # -- lifetime
    def close(self):
        """Frees the model, then its context. Safe to call twice."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if getattr(self, "_model", None):
                self._lib.clvit_model_free(self._model)
                self._model = ctypes.c_void_p()
            if getattr(self, "_ctx", None):
                self._lib.clvit_ctx_free(self._ctx)
                self._ctx = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def closed(self):
        return not self._model

    def __repr__(self):
        c = self.config if hasattr(self, "config") else {}
        state = "closed" if self.closed else getattr(self, "device", Device).name
        return (f"clvit.Model({self.path!r}, {c.get('img_size')}px, {c.get('num_classes')} "
                f"classes, {state})")

    # -- running
    def _images(self, images):
        """images as a C-contiguous float32 (B, C, H, W) array, and whether one image came."""
        a = np.asarray(images)
        if not (np.issubdtype(a.dtype, np.floating)):
            raise ValueError(f"clvit.Model: images must be a float array (normalised NCHW), "
                             f"got dtype {a.dtype}; Model.load_image reads a file with the "
                             f"model's preprocessing")
        single = a.ndim == 3
        if single:
            a = a[None]
        c = self.config
        want = (c["in_chans"], c["img_size"], c["img_size"])
        if a.ndim != 4 or tuple(a.shape[1:]) != want:
            raise ValueError(f"clvit.Model: images must be (B, {want[0]}, {want[1]}, {want[2]}) "
                             f"or ({want[0]}, {want[1]}, {want[2]}) for this model, got shape "
                             f"{tuple(np.shape(images))}")
        if a.shape[0] > 2**31 - 1:
            raise ValueError(f"clvit.Model: batch of {a.shape[0]} images is too large")
        return np.ascontiguousarray(a, dtype=np.float32), single

    def _run(self, fn, what, images, width):
        x, single = self._images(images)
        out = np.empty((x.shape[0], width), dtype=np.float32)
        if x.shape[0]:
            with self._lock:
                if not self._model:
                    raise ValueError(f"clvit.Model: {what} on a closed model")
                _check(fn(self._model, _float_ptr(x), int(x.shape[0]), _float_ptr(out)),
                       f"clvit.Model.{what}")
        return out[0] if single else out

    def __call__(self, images):
        """Logits: images (B, C, H, W) -> (B, num_classes) float32; one (C, H, W) image ->
        (num_classes,). Distilled models: the mean of both heads. Float arrays of another
        precision are converted to float32."""
        return self._run(self._lib.clvit_model_forward, "forward", images,
                         self.config["num_classes"])

    forward = __call__

    def features(self, images):
        """The input of the classifier head, (B, feature_dim) (clvit_model_features):
        pooled token after the final LayerNorm (and pre-logits when the model has one);
        distilled models: [class token | distillation token]."""
        return self._run(self._lib.clvit_model_features, "features", images, self.feature_dim)

    def load_image(self, path):
        """An image file (PNG, JPEG, BMP, GIF) with this model's evaluation preprocessing
        (clvit_load_image: resize to img_size / crop_pct, centre crop, normalise): a float32
        (C, H, W) array for __call__."""
        c = self.config
        out = np.empty((c["in_chans"], c["img_size"], c["img_size"]), dtype=np.float32)
        _check(self._lib.clvit_load_image(ctypes.byref(self._cfg), _fspath(path),
                                          _float_ptr(out)),
               f"clvit.Model.load_image: {os.fspath(path)}")
        return out


# ------------------------------------------------------------------ predict

Top = namedtuple("Top", "index probability label")
Top.__doc__ = "One of an image's top-k classes: index, softmax probability, name (or None)."

_IMAGENET1K = None


def imagenet1k_labels():
    """The 1000 ImageNet-1k class names in class order, as `clvit predict` prints them:
    apps/imagenet1k_classes.txt of the source tree this file is in, else the
    imagenet1k_classes.txt installed beside it (cmake --install puts both in
    <prefix>/share/clvit/python)."""
    global _IMAGENET1K
    if _IMAGENET1K is None:
        for p in (os.path.join(_HERE, os.pardir, "apps", "imagenet1k_classes.txt"),
                  os.path.join(_HERE, "imagenet1k_classes.txt")):
            if os.path.exists(p):
                _IMAGENET1K = _read_labels(p)
                break
        else:
            raise Error("clvit: imagenet1k_classes.txt not found beside the module or in "
                        "../apps; pass labels= to predict")
        if len(_IMAGENET1K) != 1000:
            raise Error(f"clvit: {p} holds {len(_IMAGENET1K)} names, not 1000")
    return _IMAGENET1K


def _read_labels(path):
    """One name per line; lines starting with '#' before the first name are comments."""
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not names and line.startswith("#"):
                continue
            names.append(line)
    while names and names[-1] == "":
        names.pop()
    return names


def _softmax(logits):
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def predict(paths, model, top_k=5, labels=None, batch=None, device=None):
    """Classifies image files: for each path, a list of top_k Top(index, probability,
    label), highest probability first (softmax of the logits; ties: lower index first).

    paths: a list of image file paths (one path alone is taken as a list of one).
    model: a Model, or a weights path (loaded on `device` and freed afterwards).
    labels: a list of names or a file with one per line; default: the ImageNet-1k names for
    1000-class models, else None (labels are None, as `clvit predict` prints indices).
    batch: images per forward pass (default 64 on a GPU, 4 per compute unit on a CPU, as
    `clvit predict`). An image that cannot be read raises clvit.Error naming it."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if isinstance(model, Model):
        return _predict(paths, model, top_k, labels, batch)
    with Model(model, device=device) as m:
        return _predict(paths, m, top_k, labels, batch)


def _predict(paths, model, top_k, labels, batch):
    K = model.config["num_classes"]
    if int(top_k) < 1:
        raise ValueError(f"clvit.predict: top_k must be >= 1, got {top_k}")
    top_k = min(int(top_k), K)
    if labels is None:
        labels = imagenet1k_labels() if K == 1000 else None
    elif isinstance(labels, (str, os.PathLike)):
        labels = _read_labels(labels)
    if labels is not None and len(labels) < K:
        raise ValueError(f"clvit.predict: {len(labels)} labels for a {K}-class model")
    if batch is None:
        d = model.device
        batch = 64 if d.is_gpu else max(1, 4 * d.compute_units)
    batch = max(1, int(batch))
    out = []
    for s in range(0, len(paths), batch):
        chunk = paths[s:s + batch]
        x = np.stack([model.load_image(p) for p in chunk])
        prob = _softmax(model(x))
        for p in prob:
            order = np.argsort(-p, kind="stable")[:top_k]
            out.append([Top(int(i), float(p[i]), labels[i] if labels is not None else None)
                        for i in order])
    return out
