#!/usr/bin/env bash
# The speed comparison of the README, side by side on this machine, in one run: training
# throughput (bench/train_vs_torch.py), inference latency/throughput and the GEMMs against
# OpenBLAS (clvit-bench) next to PyTorch (bench/baseline_torch.py). Needs Debian's
# python3-torch; writes out/*.json and prints the tables.
#
# PyTorch gets its strongest setting here: OpenBLAS's own core detection (the environment's
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are dropped for these commands), torch's threads over
# single-threaded OpenBLAS calls (the two Python scripts set OPENBLAS_NUM_THREADS=1, measured
# fastest here). clvit-bench's own OpenBLAS column keeps OpenBLAS's threads (one per compute
# unit), since there OpenBLAS runs alone.
#
# Usage: scripts/bench_vs_torch.sh [MODELS] [BATCHES]
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS="${1:-vit_mnist,deit_tiny_patch16_224,vit_base_patch16_224}"
BATCHES="${2:-1,8,32}"
PY=/usr/bin/python3
mkdir -p out
run() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"; }
echo "== training throughput, vit_mnist batch 128"
run "$PY" bench/train_vs_torch.py --data data/mnist --images 6400 --reps 5 \
  --json out/train_vs_torch.json
echo "== inference and GEMM: clvit"
run ./build/clvit-bench --models "$MODELS" --batch "$BATCHES" --sections gemm,infer --reps 5 \
  --max-time 20 --output out/bench_clvit.json
echo "== inference: PyTorch"
run "$PY" bench/baseline_torch.py --models "$MODELS" --batch "$BATCHES" --sections infer \
  --reps 5 -o out/bench_torch.json
echo "== clvit against PyTorch"
./build/clvit-bench --compare out/bench_torch.json out/bench_clvit.json
