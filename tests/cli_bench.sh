#!/usr/bin/env bash
# cli_bench.sh - the bench tool end to end on the default OpenCL device (PoCL in CI):
# a --quick run writes JSON that parses and holds every field; --compare of the file with
# itself gives ratios of 1.00; --plot writes an SVG (from the run and from the file); CSV and
# Markdown come out of a real run and of the saved file; bad options exit 2 with a message;
# the gemm section puts OpenBLAS next to clvit on every row when clvit-bench links OpenBLAS
# (and says there is no baseline when it does not); the PyTorch baseline writes the same
# schema (when torch is installed; else it must say so and exit 1).
#
# Usage (CMake runs it): bash tests/cli_bench.sh path/to/clvit SOURCE_DIR
# The bench binary is built next to clvit, as clvit-bench.
set -u

CLVIT=${1:?usage: cli_bench.sh path/to/clvit SOURCE_DIR}
SRC=${2:?usage: cli_bench.sh path/to/clvit SOURCE_DIR}
BENCH="$(cd "$(dirname "$CLVIT")" && pwd)/clvit-bench"
PY=python3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { echo "ok   - $1"; }
fail() {
    echo "FAIL - $1"
    failures=$((failures + 1))
}
# expect RC DESCRIPTION -- command...: runs the command, output in $tmp/out and $tmp/err
expect() {
    local want=$1 what=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then
        pass "$what (exit $rc)"
    else
        fail "$what: exit $rc, expected $want"
        sed 's/^/    | /' "$tmp/err" | tail -20
    fi
}

if [ ! -x "$BENCH" ]; then
    echo "FAIL - $BENCH is not built"
    exit 1
fi

# ---------------------------------------------------------------- the quick run, as JSON
start=$(date +%s)
expect 0 "clvit-bench --quick --format json --output a.json --plot run.svg" -- \
    "$BENCH" --quick --format json --output "$tmp/a.json" --plot "$tmp/run.svg"
cp "$tmp/out" "$tmp/quick_table.txt"
elapsed=$(($(date +%s) - start))
echo "     (quick run took ${elapsed} s)"
if grep -q "== infer" "$tmp/quick_table.txt" && grep -q "== train" "$tmp/quick_table.txt" &&
    grep -q "== profile" "$tmp/quick_table.txt"; then
    pass "the terminal table has the infer, train and profile sections"
else
    fail "terminal table incomplete"
    head -40 "$tmp/quick_table.txt"
fi

if "$PY" - "$tmp/a.json" "$SRC/include/clvit.h" >"$tmp/check.txt" 2>&1 <<'EOF'
import json, math, re, sys
doc = json.load(open(sys.argv[1]))
header = open(sys.argv[2]).read()
version = ".".join(re.search(r"#define CLVIT_VERSION_%s (\d+)" % p, header).group(1)
                   for p in ("MAJOR", "MINOR", "PATCH"))
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)
for k in ("schema", "tool", "clvit_version", "timestamp", "host", "settings", "env",
          "inventory", "devices", "rows"):
    need(k in doc, f"top-level field {k} missing")
need(doc.get("schema") == "clvit-bench/1", "schema is not clvit-bench/1")
need(doc.get("clvit_version") == version, f"clvit_version {doc.get('clvit_version')} != {version}")
need(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc.get("timestamp", "")), "bad timestamp")
settings = ("quick", "reps", "warmup", "max_time_s", "min_time_s", "models", "batches",
            "gemm_sizes", "gemm_batch", "profile_batch", "startup_reps", "startup_cold",
            "mem_bytes", "seed", "device", "all_devices", "sections", "threads")
for k in settings:
    need(k in doc["settings"], f"settings.{k} missing")
need(doc["settings"].get("quick") is True, "settings.quick is not true")
need(doc["settings"].get("models") == ["vit_mnist"], "quick models are not [vit_mnist]")
devfields = ("index", "spec", "platform", "platform_version", "name", "vendor", "type",
             "driver_version", "device_version", "opencl_c_version", "compute_units",
             "clock_mhz", "global_mem_bytes", "local_mem_bytes", "max_alloc_bytes",
             "max_work_group_size", "fp16", "fp64")
need(len(doc["inventory"]) >= 1 and len(doc["devices"]) == 1, "inventory/devices sizes")
for d in doc["inventory"] + doc["devices"]:
    for k in devfields:
        need(k in d, f"device field {k} missing")
need(doc["devices"][0].get("peak_gflops", 0) > 0, "no SGEMM peak")
rowfields = ("section", "name", "model", "batch", "shape", "device", "unit", "higher_is_better",
             "runs", "median", "min", "max", "mean", "stddev", "spread_pct", "gflops",
             "frac_peak", "share_pct", "calls", "kind", "note", "openblas_median",
             "openblas_min", "openblas_max", "openblas_mean", "openblas_stddev",
             "openblas_spread_pct", "openblas_runs", "openblas_ratio")
rows = doc["rows"]
for r in rows:
    for k in rowfields:
        need(k in r, f"row {r.get('section')}/{r.get('name')}: field {k} missing")
    if r["runs"]:
        need(r["min"] <= r["median"] <= r["max"], f"{r['section']}/{r['name']}: min/median/max")
        need(r["median"] > 0 or r["section"] == "profile", f"{r['section']}/{r['name']}: median <= 0")
def find(section, name, model="", batch=None):
    return [r for r in rows if r["section"] == section and r["name"] == name
            and (not model or r["model"] == model) and (batch is None or r["batch"] == batch)]
for name in ("copy_kernel", "h2d", "d2h"):
    need(find("memory", name), f"memory/{name} missing")
need(len(find("gemm", "sgemm_square")) == 3, "3 square SGEMM sizes expected")
for name in ("patch_embed", "qkv", "attn_scores", "attn_values", "proj", "fc1", "fc2", "head"):
    need(find("gemm", name, "vit_mnist", 4), f"gemm/{name} of vit_mnist at batch 4 missing")
for name in ("build_cold", "build_warm", "first_forward_cold", "first_forward_warm"):
    need(find("startup", name, "vit_mnist"), f"startup/{name} missing")
for b in (1, 4):
    for name in ("latency", "throughput"):
        r = find("infer", name, "vit_mnist", b)
        need(len(r) == 1, f"infer/{name} batch {b} missing")
        if r:
            need(r[0]["runs"] >= 3, f"infer/{name} batch {b}: fewer than 3 runs")
            need(r[0]["gflops"] and r[0]["gflops"] > 0, f"infer/{name} batch {b}: no GFLOP/s")
    lat = find("infer", "latency", "vit_mnist", b)
    need(lat and lat[0]["note"].startswith("checked"), f"infer batch {b}: not checked")
for b in (1, 4):
    for name in ("step_latency", "throughput"):
        r = find("train", name, "vit_mnist", b)
        need(len(r) == 1, f"train/{name} batch {b} missing")
        if r:
            need(r[0]["runs"] >= 3, f"train/{name} batch {b}: fewer than 3 runs")
            need(r[0]["gflops"] and r[0]["gflops"] > 0, f"train/{name} batch {b}: no GFLOP/s")
    lat = find("train", "step_latency", "vit_mnist", b)
    need(lat and lat[0]["note"].startswith("checked"), f"train batch {b}: not checked")
for name in ("total:gemm", "total:own_kernels", "total:device_span", "total:wall",
             "kernel:fc1", "kernel:attention_fwd", "layer:attention", "layer:mlp"):
    need(find("profile", name, "vit_mnist", 4), f"profile/{name} missing")
g = find("profile", "total:gemm", "vit_mnist", 4)
need(g and g[0]["share_pct"] is not None and 0 < g[0]["share_pct"] <= 100, "GEMM share")
need(g and g[0]["frac_peak"] is not None and g[0]["frac_peak"] > 0, "GEMM fraction of peak")
if errors:
    print("\n".join(errors[:20]))
    sys.exit(1)
print(f"{len(rows)} rows, every field present")
EOF
then
    pass "JSON parses and holds every field ($(cat "$tmp/check.txt"))"
else
    fail "JSON check"
    sed 's/^/    | /' "$tmp/check.txt"
fi

# ---------------------------------------------------------------- --compare with itself
expect 0 "--compare a.json a.json" -- "$BENCH" --compare "$tmp/a.json" "$tmp/a.json" --format csv
cp "$tmp/out" "$tmp/compare.csv"
if "$PY" - "$tmp/compare.csv" "$tmp/a.json" >"$tmp/check.txt" 2>&1 <<'EOF'
import csv, json, sys
lines = open(sys.argv[1]).read().splitlines()
table = [l for l in lines if l and not l.startswith(("A:", "B:", "   ["))]
rows = list(csv.DictReader([l for l in table if not l[0].isdigit()]))
want = [r for r in json.load(open(sys.argv[2]))["rows"] if r["median"]]
bad = [r for r in rows if r["speedup"] != "1.00"]
if not rows or bad or len(rows) < len(want):
    print(f"{len(rows)} rows compared (want {len(want)}), {len(bad)} ratios not 1.00: {bad[:3]}")
    sys.exit(1)
print(f"{len(rows)} rows, every ratio 1.00")
EOF
then
    pass "compare ratios ($(cat "$tmp/check.txt"))"
else
    fail "compare ratios"
    sed 's/^/    | /' "$tmp/check.txt"
fi
expect 0 "--compare as an aligned table" -- "$BENCH" --compare "$tmp/a.json" "$tmp/a.json"
grep -q "speedup" "$tmp/out" || fail "compare table has no speedup column"

# ---------------------------------------------------------------- --plot
expect 0 "--plot b.svg a.json (from the file)" -- "$BENCH" --plot "$tmp/b.svg" "$tmp/a.json"
for svg in run.svg b.svg; do
    if "$PY" - "$tmp/$svg" >"$tmp/check.txt" 2>&1 <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
lines = root.findall(f".//{ns}polyline")
points = root.findall(f".//{ns}circle")
texts = "".join(t.text or "" for t in root.iter(ns + "text"))
assert lines and len(points) >= 2, "no data drawn"
assert "vit_mnist" in texts and "batch size" in texts, "labels missing"
print(f"{len(lines)} lines, {len(points)} points")
EOF
    then
        pass "$svg is a valid SVG with the data ($(cat "$tmp/check.txt"))"
    else
        fail "$svg"
        sed 's/^/    | /' "$tmp/check.txt"
    fi
done

# ---------------------------------------------------------------- CSV and Markdown
expect 0 "a real run to CSV (--sections memory,infer)" -- \
    "$BENCH" --quick --sections memory,infer --batch 2 --format csv --output "$tmp/c.csv"
expect 0 "a real run to Markdown (--sections gemm)" -- \
    "$BENCH" --quick --sections gemm --gemm-sizes 32,64 --format md --output "$tmp/d.md"
expect 0 "saved results printed as CSV" -- "$BENCH" --format csv "$tmp/a.json"
cp "$tmp/out" "$tmp/a.csv"
expect 0 "saved results printed as Markdown" -- "$BENCH" --format md --output "$tmp/a.md" \
    "$tmp/a.json"
if "$PY" - "$tmp/c.csv" "$tmp/a.csv" >"$tmp/check.txt" 2>&1 <<'EOF'
import csv, sys
for path, sections in ((sys.argv[1], {"memory", "infer"}), (sys.argv[2], {"memory", "gemm", "startup", "infer", "train", "profile"})):
    rows = list(csv.DictReader(open(path)))
    assert rows, f"{path}: no rows"
    for k in ("device_name", "section", "name", "model", "batch", "unit", "median", "min", "max", "spread_pct", "runs"):
        assert k in rows[0], f"{path}: column {k} missing"
    got = {r["section"] for r in rows}
    assert got == sections, f"{path}: sections {got}"
    assert all(float(r["median"]) > 0 for r in rows if r["section"] == "infer"), "infer medians"
print("ok")
EOF
then
    pass "CSV files parse with every column"
else
    fail "CSV"
    sed 's/^/    | /' "$tmp/check.txt"
fi
if grep -q '^| sgemm_square' "$tmp/d.md" && grep -q -- '| ---' "$tmp/d.md" &&
    grep -q '^| latency' "$tmp/a.md" && grep -q '^### profile' "$tmp/a.md"; then
    pass "Markdown tables"
else
    fail "Markdown tables"
    head -30 "$tmp/d.md" "$tmp/a.md"
fi

# ---------------------------------------------------------------- OpenBLAS next to clvit
# Whether clvit-bench should have OpenBLAS is decided here, not by asking the bench: the
# binary links libopenblas, or pkg-config finds it and the build did not turn it off.
BUILD_DIR=$(dirname "$BENCH")
want_blas=0
if ldd "$BENCH" 2>/dev/null | grep -q libopenblas; then
    want_blas=1
elif pkg-config --exists openblas 2>/dev/null &&
    ! grep -q '^CLVIT_BENCH_OPENBLAS:BOOL=OFF' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
    want_blas=1
fi
expect 0 "--quick --sections gemm --gemm-sizes 64 (OpenBLAS expected: $want_blas)" -- \
    "$BENCH" --quick --sections gemm --gemm-sizes 64 --output "$tmp/blas.json"
cp "$tmp/out" "$tmp/blas_table.txt"
cp "$tmp/err" "$tmp/blas_err.txt"
expect 0 "those results as CSV" -- "$BENCH" --format csv "$tmp/blas.json"
cp "$tmp/out" "$tmp/blas.csv"
expect 0 "those results as Markdown" -- "$BENCH" --format md "$tmp/blas.json"
cp "$tmp/out" "$tmp/blas.md"
expect 0 "--compare of those results with themselves" -- "$BENCH" --compare "$tmp/blas.json" \
    "$tmp/blas.json"
cp "$tmp/out" "$tmp/blas_compare.txt"
if "$PY" - "$want_blas" "$tmp/blas.json" "$tmp/blas_table.txt" "$tmp/blas_err.txt" \
    "$tmp/blas.csv" "$tmp/blas.md" "$tmp/blas_compare.txt" >"$tmp/check.txt" 2>&1 <<'EOF'
import csv, json, math, sys
want = sys.argv[1] == "1"
doc = json.load(open(sys.argv[2]))
table, err, md, cmp = (open(p).read() for p in (sys.argv[3], sys.argv[4], sys.argv[6], sys.argv[7]))
csv_rows = list(csv.DictReader(open(sys.argv[5])))
gemm = [r for r in doc["rows"] if r["section"] == "gemm"]
assert len(gemm) >= 9, f"{len(gemm)} gemm rows"
dev = doc["devices"][0]
if not want:
    assert "no OpenBLAS baseline" in table and "built without OpenBLAS" in err, "no word of it"
    assert all(r["openblas_median"] is None for r in gemm), "OpenBLAS figures without OpenBLAS"
    assert dev["openblas_threads"] is None, dev["openblas_threads"]
    print("built without OpenBLAS, and says so")
    sys.exit(0)
for r in gemm:
    what = f"{r['name']} {r['shape']}"
    assert r["openblas_runs"] == r["runs"] >= 3, f"{what}: runs {r['openblas_runs']} / {r['runs']}"
    assert 0 < r["openblas_min"] <= r["openblas_median"] <= r["openblas_max"], f"{what}: min/median/max"
    q = r["median"] / r["openblas_median"]
    assert math.isclose(r["openblas_ratio"], q, rel_tol=1e-9), f"{what}: ratio {r['openblas_ratio']} != {q}"
threads = dev["openblas_threads"]
want_threads = dev["compute_units"] if dev["type"] == "CPU" else doc["host"]["cpus"]
assert threads == want_threads, f"OpenBLAS threads {threads}, expected {want_threads}"
assert dev["openblas_corename"] and dev["openblas_config"].startswith("OpenBLAS"), dev
assert f"core {dev['openblas_corename']}, {threads} threads" in table, "no OpenBLAS line in the table"
assert f"{threads} threads" in err and f"core {dev['openblas_corename']}" in err, "not on stderr"
head = [l for l in table.splitlines() if l.startswith("test ")]
assert head and "OpenBLAS median" in head[0] and "clvit/OpenBLAS" in head[0], "table columns"
sq = [l for l in table.splitlines() if l.startswith("sgemm_square ")]
want_ratio = "%.2f" % gemm[0]["openblas_ratio"]
assert sq and want_ratio in sq[0].split(), f"square row without its ratio {want_ratio}: {sq}"
assert "clvit/OpenBLAS (ratio" in table and "geomean" in table, "no summary"
g = [r for r in csv_rows if r["section"] == "gemm"]
assert len(g) == len(gemm) and all(float(r["openblas_ratio"]) > 0 for r in g), "CSV"
assert "| clvit/OpenBLAS |" in md, "Markdown"
assert "A clvit/OpenBLAS" in cmp and "B clvit/OpenBLAS" in cmp, "compare"
print(f"{len(gemm)} rows with OpenBLAS, core {dev['openblas_corename']}, {threads} threads, "
      f"clvit/OpenBLAS {min(r['openblas_ratio'] for r in gemm):.2f}.."
      f"{max(r['openblas_ratio'] for r in gemm):.2f}")
EOF
then
    pass "OpenBLAS in the gemm section ($(cat "$tmp/check.txt"))"
else
    fail "OpenBLAS in the gemm section"
    sed 's/^/    | /' "$tmp/check.txt"
    head -30 "$tmp/blas_table.txt"
fi

# ---------------------------------------------------------------- usage errors
expect_usage() {
    local what=$1 pattern=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -eq 2 ] && grep -q -- "$pattern" "$tmp/err"; then
        pass "$what: exit 2, '$(head -1 "$tmp/err")'"
    else
        fail "$what: exit $rc (want 2), stderr: $(head -2 "$tmp/err")"
    fi
}
expect_usage "unknown flag" "unknown option '--bogus'" "$BENCH" --bogus
expect_usage "bad batch list" "out of range" "$BENCH" --batch 1,0
expect_usage "unknown model" "unknown preset 'nope'" "$BENCH" --models nope
expect_usage "bad format" "not table, json, csv or md" "$BENCH" --format xml
expect_usage "compare with one file" "two result files" "$BENCH" --compare "$tmp/a.json"
expect_usage "missing value" "needs a value" "$BENCH" --reps
expect_usage "unknown section" "unknown section 'nope'" "$BENCH" --sections nope
expect 0 "--help" -- "$BENCH" --help
grep -q -- "--all-devices" "$tmp/out" || fail "--help does not list --all-devices"
expect_usage "--tune-out alone" "go with --tune-gemm" "$BENCH" --tune-out "$tmp/x.txt"
expect_usage "tune as a section" "'tune' is run by --tune-gemm" "$BENCH" --sections tune
expect_usage "--tune-gemm with --sections" "drop --sections" "$BENCH" --tune-gemm --sections gemm
echo '{"not": "a result"}' >"$tmp/bad.json"
expect 1 "--compare on a file that is not a result" -- "$BENCH" --compare "$tmp/bad.json" \
    "$tmp/a.json"

# ---------------------------------------------------------------- --tune-gemm
# One sampled candidate keeps this short; the file must be written, parse back through
# CLVIT_GEMM_TUNING, and show up as the device's GEMM parameters in a later run's JSON.
expect 0 "--tune-gemm --quick --tune-candidates 1 --tune-direct 1 --tune-out FILE" -- \
    "$BENCH" --tune-gemm --quick --tune-candidates 1 --tune-direct 1 --tune-out "$tmp/tune.txt" \
    --format json --output "$tmp/tune.json"
expect 0 "a run with CLVIT_GEMM_TUNING=that file" -- env CLVIT_GEMM_TUNING="$tmp/tune.txt" \
    "$BENCH" --quick --sections gemm --gemm-sizes 64 --format json --output "$tmp/g.json"
if "$PY" - "$tmp/tune.txt" "$tmp/tune.json" "$tmp/g.json" >"$tmp/check.txt" 2>&1 <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
assert text.startswith("# clvit GEMM tuning"), "header"
assert "# device: " in text and "CLBlast database: " in text, "comments"
lines = [l for l in text.splitlines() if l and not l.startswith("#")]
for l in lines:
    assert l.split()[0] in ("GemmRoutine", "Xgemm", "XgemmDirect"), l
    assert all("=" in kv for kv in l.split()[1:]), l
t = json.load(open(sys.argv[2]))
assert t["devices"][0]["gemm_tuning"] == "CLBlast database", t["devices"][0]["gemm_tuning"]
rows = {r["name"]: r for r in t["rows"] if r["section"] == "tune"}
assert {"clblast_database", "tuned"} <= set(rows), sorted(rows)
assert all(r["median"] > 0 for r in rows.values()), "GFLOP/s"
assert rows["tuned"]["median"] >= rows["clblast_database"]["median"], "best is not worse"
g = json.load(open(sys.argv[3]))
assert g["devices"][0]["gemm_tuning"] == sys.argv[1], g["devices"][0]["gemm_tuning"]
print(f"ok: {len(lines)} override lines, tuned {rows['tuned']['median']:.1f} vs "
      f"database {rows['clblast_database']['median']:.1f} GFLOP/s")
EOF
then
    pass "tuning file, tune rows and gemm_tuning in the JSON ($(cat "$tmp/check.txt"))"
else
    fail "tuning file"
    sed 's/^/    | /' "$tmp/check.txt" "$tmp/tune.txt"
fi
expect 1 "CLVIT_GEMM_TUNING naming a malformed file" -- env CLVIT_GEMM_TUNING="$tmp/bad.json" \
    "$BENCH" --quick --sections gemm --gemm-sizes 64
grep -q "line 1" "$tmp/err" || fail "the malformed tuning file's error names no line"

# ---------------------------------------------------------------- --tune (the GEMM plan)
# The deep search on a tiny model, narrowed to three candidates (one of them CLBlast) so that
# a cold run builds few programs: every shape of the forward and of a training step must end
# up in the device's plan file as a "deep" entry naming one of the three (beside "ln" lines: the
# LayerNorm fusion measured on the forward's residual Linears).
expect 0 "--tune --models vit_mnist_tiny --batch 1 --tune-batch 2" -- env \
    CLVIT_CACHE_DIR="$tmp/plan" CLVIT_GEMM_CANDIDATES=vn_6x32,dot_4x4x16,clblast \
    "$BENCH" --tune --models vit_mnist_tiny --batch 1 --tune-batch 2
grep -q "clvit: tuning GEMM qkv" "$tmp/err" || fail "--tune printed no tuning line for qkv"
plan=$(ls "$tmp"/plan/gemm-plan-*.txt 2>/dev/null | head -1)
if [ -n "$plan" ] && head -1 "$plan" | grep -q "^# clvit GEMM plan" &&
    [ "$(grep -vc '^#' "$plan")" -ge 10 ] &&
    ! grep -v '^#' "$plan" |
    grep -vqE ' (vn_6x32|dot_4x4x16|clblast) [0-9.]+ deep$|^ln [0-9]+ [0-9]+ [0-9]+ (fused|apart) [0-9.]+$'; then
    pass "--tune wrote $(grep -vc '^#' "$plan") deep plan entries"
else
    fail "--tune plan file"
    sed 's/^/    | /' "$plan" 2>/dev/null | head -20
fi
expect 2 "--tune with --sections" -- "$BENCH" --tune --sections gemm
grep -q "drop --sections" "$tmp/err" || fail "--tune with --sections gives no clear error"

# ---------------------------------------------------------------- the PyTorch baseline
TORCH_PY=""
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then
        TORCH_PY=$p
        break
    fi
done
if [ -n "$TORCH_PY" ]; then
    expect 0 "baseline_torch.py --quick (with $TORCH_PY)" -- "$TORCH_PY" \
        "$SRC/bench/baseline_torch.py" --quick --sections infer,gemm --gemm-sizes 64 \
        --output "$tmp/torch.json"
    expect 0 "--compare torch.json a.json" -- "$BENCH" --compare "$tmp/torch.json" "$tmp/a.json"
    if grep -q "^infer .*throughput .*vit_mnist .* 4 " "$tmp/out"; then
        pass "clvit and PyTorch rows match up"
    else
        fail "no matching infer rows between clvit and PyTorch"
        cat "$tmp/out"
    fi
    expect 0 "--plot of both files" -- "$BENCH" --plot "$tmp/both.svg" "$tmp/a.json" \
        "$tmp/torch.json"
else
    echo "skip - PyTorch is not installed: baseline_torch.py not run"
fi
if ! python3 -c 'import torch' 2>/dev/null; then
    expect 1 "baseline_torch.py without torch says so and exits 1" -- python3 \
        "$SRC/bench/baseline_torch.py" --quick
    grep -q "PyTorch is not installed" "$tmp/err" || fail "no message about missing PyTorch"
fi

if [ "$failures" -ne 0 ]; then
    echo "cli_bench: $failures FAILED"
    exit 1
fi
echo "cli_bench: all passed"
