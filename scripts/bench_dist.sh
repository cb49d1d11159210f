#!/usr/bin/env bash
# bench_dist.sh - the cost of data-parallel training over MPI ranks on this machine:
# clvit-dist-bench under mpirun for the gradient sizes of vit_mnist, DeiT-tiny and ViT-B/16
# (bucketed MPI_Allreduce of num_params floats, median of --reps after a barrier) and a
# clvit_dp_step per model (median of a few steps after a warm-up), the allreduce's share of the
# step. Prints a Markdown table (docs/distributed.md keeps the one measured here).
#   scripts/bench_dist.sh [BUILD_DIR] [NP]      env: REPS (10), STEPS (3), NO_STEP=1
set -euo pipefail
build=${1:-build}
np=${2:-2}
bench=$build/clvit-dist-bench
[[ -x $bench ]] || { echo "bench_dist: $bench not built (needs MPI: libopenmpi-dev)" >&2; exit 1; }
export CLVIT_GEMM_TUNE=${CLVIT_GEMM_TUNE:-0}
args=(--reps "${REPS:-10}" --steps "${STEPS:-3}")
[[ ${NO_STEP:-0} == 1 ]] && args+=(--no-step)
root=()
[[ $(id -u) -eq 0 ]] && root=(--allow-run-as-root)
echo "# $(date -u +%F) $(nproc) cores, np $np, $(mpirun --version | head -1)"
# per model: the batch per rank that keeps a step within minutes on 2 CPU cores
mpirun "${root[@]}" --oversubscribe -np "$np" "$bench" "${args[@]}" --batch-per-rank 32 vit_mnist
mpirun "${root[@]}" --oversubscribe -np "$np" "$bench" "${args[@]}" --batch-per-rank 2 \
  deit_tiny_patch16_224 | tail -n 1
mpirun "${root[@]}" --oversubscribe -np "$np" "$bench" "${args[@]}" --batch-per-rank 1 \
  vit_base_patch16_224 | tail -n 1
