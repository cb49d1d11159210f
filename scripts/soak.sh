#!/usr/bin/env bash
# Soak test (issue #11; not in CI): trains vit_mnist_tiny on MNIST for STEPS optimisation steps
# (default 20,000) with a checkpoint after every epoch, and samples the process every
# INTERVAL seconds: host RSS and open file descriptors (/proc/PID), and the device memory
# clvit holds (the --log CSV's device_buffers and device_bytes, from
# clvit_device_memory_in_use). Leaks show as growth between the first sample after the first
# epoch (when every buffer, program and cache is made) and the last.
#   bash scripts/soak.sh [STEPS] [OUT_DIR]      # default 20000, out/soak
#   INTERVAL=10 DEVICE=cpu BATCH=64 bash scripts/soak.sh
# Writes OUT_DIR/samples.csv (time, RSS KiB, fds), OUT_DIR/metrics.csv (per epoch),
# OUT_DIR/train.log and OUT_DIR/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-20000}" out="${2:-out/soak}"
interval="${INTERVAL:-5}" batch="${BATCH:-64}"
[[ -x build/clvit ]] || bash scripts/build.sh
[[ -f data/mnist/train-images-idx3-ubyte || -f data/mnist/train-images-idx3-ubyte.gz ]] ||
  bash scripts/fetch_data.sh data mnist
mkdir -p "$out"
rm -f "$out/ckpt.safetensors" "$out/metrics.csv"
dev=()
[[ -n "${DEVICE:-}" ]] && dev=(--device "$DEVICE")
start=$(date +%s)
./build/clvit train --data mnist:data/mnist --preset vit_mnist_tiny --batch "$batch" \
  --epochs 1000 --max-steps "$steps" --save "$out/ckpt.safetensors" --log "$out/metrics.csv" \
  --no-test "${dev[@]}" >"$out/train.log" 2>&1 &
pid=$!
echo "seconds,rss_kib,fds" >"$out/samples.csv"
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
  [[ -n "$rss" ]] && echo "$(($(date +%s) - start)),$rss,$fds" >>"$out/samples.csv"
  sleep "$interval"
done
rc=0
wait "$pid" || rc=$?
{
  echo "soak: clvit train vit_mnist_tiny, batch $batch, $steps steps, exit $rc," \
    "$(($(date +%s) - start)) s"
  grep -E '^(clvit train:|  model)' "$out/train.log" || true
  python3 - "$out" <<'PY'
import csv, sys
out = sys.argv[1]
s = list(csv.DictReader(open(f"{out}/samples.csv")))
m = list(csv.DictReader(open(f"{out}/metrics.csv")))
if len(m) < 2 or len(s) < 2:
    sys.exit("soak: too short to compare (need two epochs and two samples)")
t1 = float(m[0]["epoch_seconds"])  # the first sample after the first epoch
warm = next((r for r in s if float(r["seconds"]) >= t1), s[-1])
last = s[-1]
print(f"host RSS:   {int(warm['rss_kib'])/1024:.1f} MiB after epoch 1 (t={warm['seconds']} s) -> "
      f"{int(last['rss_kib'])/1024:.1f} MiB at t={last['seconds']} s; "
      f"max {max(int(r['rss_kib']) for r in s)/1024:.1f} MiB")
print(f"open fds:   {warm['fds']} -> {last['fds']}; max {max(int(r['fds']) for r in s)}")
print(f"device:     {m[0]['device_buffers']} buffers, {int(m[0]['device_bytes'])/1048576:.2f} MiB "
      f"after epoch 1 -> {m[-1]['device_buffers']} buffers, "
      f"{int(m[-1]['device_bytes'])/1048576:.2f} MiB after epoch {m[-1]['epoch']} "
      f"(step {m[-1]['step']})")
print(f"loss:       train {float(m[0]['train_loss']):.4f} -> {float(m[-1]['train_loss']):.4f}, "
      f"val acc {m[0]['val_acc']} -> {m[-1]['val_acc']}")
PY
} | tee "$out/summary.txt"
exit "$rc"
