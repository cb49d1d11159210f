#!/usr/bin/env bash
# Data-parallel `clvit train` end to end, on synthetic MNIST-layout data (tests/cli_helpers.py
# idx, as cli_clvit.sh), vit_mnist_tiny with dropout, attention dropout and drop-path on, so the
# masks by global sample index are exercised. Reference: one device, one process, the same
# global batch. "Close" is docs/distributed.md's tolerance (cli_helpers.py st-close): every
# parameter within 2 lr K of the reference's, RMS difference at most 0.1% of the RMS change.
#   in one process: --device A,A (PoCL twice) and PoCL + rusticl llvmpipe, 20 steps, close; a
#     1-step-different learning rate is NOT close (the check can fail); one line for a global
#     batch smaller than the device count; srun's tasks without PMI (SLURM_STEP_NUM_TASKS set,
#     no MPI launcher) are refused with one line unless CLVIT_MPI=0
#   with MPI (MPIRUN given): np 2, 20 steps, close, rank 0 alone prints; a NaN loss (--lr 1e30):
#     one "diverged" line from rank 0, exit 1; resume np 2 -> np 1 and
#     np 1 -> np 2 (close at step 20), then on to the end of the run; Ctrl-C on one rank stops
#     all after the same step with its checkpoint; a rank failing on its own (CLVIT_FAULT on
#     rank 1 only) and a SIGKILLed rank stop the job with a non-zero exit and one message, and
#     the last checkpoint loads
# Usage: cli_dist.sh CLVIT_BINARY SOURCE_DIR [MPIRUN]
set -uo pipefail
CLVIT=$1
SRC=$2
MPIRUN=${3:-}
HELP="python3 $SRC/tests/cli_helpers.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export CLVIT_GEMM_TUNE=0 # kernels by rule: runs, devices and ranks comparable
pass=0
fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAILED: $1"; fail=$((fail + 1)); }
check() { # DESCRIPTION STATUS [FILE to show on failure]
  if [[ $2 == 0 ]]; then ok "$1"; else
    bad "$1 (status $2)"
    [[ -n ${3:-} ]] && tail -15 "$3"
  fi
}
mpi() { # NP, then clvit's arguments
  local np=$1
  shift
  timeout 300 "$MPIRUN" --allow-run-as-root --oversubscribe -np "$np" "$CLVIT" "$@"
}

$HELP idx "$T/mnist" 400
LR=3e-3
TRAIN=(train --data "mnist:$T/mnist" --preset vit_mnist_tiny --epochs 2 --batch 16 --lr $LR
  --drop 0.1 --attn-drop 0.1 --drop-path 0.1 --no-test)
close() { # DESCRIPTION CHECKPOINT: within tolerance of the one-device run at step 20
  $HELP st-close "$2" "$T/one.safetensors" "$T/start.safetensors" $LR 20 >"$T/cmp" 2>&1
  local rc=$?
  cat "$T/cmp"
  check "$1" $rc
}

# the devices: PoCL's first (else the first listed) and rusticl's llvmpipe
devs=$(RUSTICL_ENABLE=llvmpipe "$CLVIT" devices 2>/dev/null)
pocl=$(awk '/^platform/ {p = /Portable Computing/} p && /^  device / {print $2; exit}' <<<"$devs")
[[ -z $pocl ]] && pocl=$(awk '/^  device / {print $2; exit}' <<<"$devs")
llvmpipe=$(awk '/^  device .*llvmpipe/ {print $2; exit}' <<<"$devs")
echo "devices: PoCL (or first) ${pocl:-none}, llvmpipe ${llvmpipe:-none}"

# the reference: one device, 20 steps; the start of the RMS change: its step-1 checkpoint
"$CLVIT" "${TRAIN[@]}" --device "$pocl" --max-steps 1 --save "$T/start.safetensors" >"$T/out" 2>&1
check "one device, 1 step" $? "$T/out"
"$CLVIT" "${TRAIN[@]}" --device "$pocl" --max-steps 20 --save "$T/one.safetensors" >"$T/out" 2>&1
check "one device, 20 steps" $? "$T/out"
"$CLVIT" "${TRAIN[@]}" --device "$pocl" --max-steps 20 --lr 2.9e-3 --save "$T/lr.safetensors" \
  >"$T/out" 2>&1
if $HELP st-close "$T/lr.safetensors" "$T/one.safetensors" "$T/start.safetensors" $LR 20; then
  bad "a 3% different learning rate passes the tolerance: the check cannot fail"
else ok "a 3% different learning rate is out of tolerance"; fi

# several devices in one process
"$CLVIT" "${TRAIN[@]}" --device "$pocl,$pocl" --max-steps 20 --save "$T/two.safetensors" \
  >"$T/out" 2>&1
check "--device $pocl,$pocl: 20 steps" $? "$T/out"
grep -q "data parallel: 2 devices: " "$T/out"
check "the header names the 2 devices" $? "$T/out"
grep -q "global batch 16 in 2 shares of 8 images" "$T/out"
check "the header gives the shares of the global batch" $? "$T/out"
close "2 x PoCL matches one device" "$T/two.safetensors"
if [[ -n $llvmpipe ]]; then
  RUSTICL_ENABLE=llvmpipe "$CLVIT" "${TRAIN[@]}" --device "$pocl,$llvmpipe" --max-steps 20 \
    --save "$T/mix.safetensors" >"$T/out" 2>&1
  check "--device $pocl,$llvmpipe (PoCL + rusticl): 20 steps" $? "$T/out"
  close "PoCL + rusticl matches one device" "$T/mix.safetensors"
else
  echo "SKIP: PoCL + rusticl: no llvmpipe device (RUSTICL_ENABLE=llvmpipe, mesa-opencl-icd)"
fi
"$CLVIT" "${TRAIN[@]}" --device "$pocl,$pocl,$pocl" --batch 2 --max-steps 1 >"$T/out" 2>&1
rc=$?
[[ $rc == 1 ]] && grep -q "global batch 2 is smaller than the 3 devices" "$T/out" &&
  [[ $(wc -l <"$T/out") == 1 ]]
check "a global batch smaller than the device count: one line, exit 1 (got $rc)" $? "$T/out"
# srun with 2 tasks and no PMI (srun --mpi=none: the variable srun sets, no MPI launcher's):
# every task would train alone, so one line and exit 1; CLVIT_MPI=0 asks for exactly that
SLURM_STEP_NUM_TASKS=2 "$CLVIT" "${TRAIN[@]}" --device "$pocl" --max-steps 1 >"$T/out" 2>&1
rc=$?
[[ $rc == 1 ]] && grep -q "srun started 2 tasks, but they are not MPI ranks" "$T/out" &&
  [[ $(wc -l <"$T/out") == 1 ]]
check "srun's 2 tasks without PMI: one line, exit 1 (got $rc)" $? "$T/out"
SLURM_STEP_NUM_TASKS=2 CLVIT_MPI=0 "$CLVIT" "${TRAIN[@]}" --device "$pocl" --max-steps 1 \
  >"$T/out" 2>&1
check "srun's 2 tasks with CLVIT_MPI=0: independent runs" $? "$T/out"
"$CLVIT" train --help >"$T/out" 2>&1
grep -q -- "--device SPEC\[,SPEC...\]" "$T/out" && grep -q "mpirun -np 2 clvit train" "$T/out"
check "train --help documents device lists and mpirun" $? "$T/out"

if [[ -z $MPIRUN ]]; then
  echo "MPI: not built with MPI or no mpirun; the MPI part is skipped"
  echo "cli_dist: $pass passed, $fail failed"
  exit $((fail > 0))
fi

# np 2 against one process
mpi 2 "${TRAIN[@]}" --max-steps 20 --save "$T/np2.safetensors" >"$T/np2.out" 2>&1
check "mpirun -np 2: 20 steps" $? "$T/np2.out"
close "np 2 matches one process" "$T/np2.safetensors"
[[ $(grep -c "^clvit train: " "$T/np2.out") == 1 && $(grep -c "stopped after step 20" "$T/np2.out") == 1 ]]
check "np 2: rank 0 alone prints" $? "$T/np2.out"
grep -q "MPI: 2 ranks" "$T/np2.out"
check "np 2: the header says 2 ranks" $? "$T/np2.out"

# divergence: a NaN loss is agreed inside clvit_dp_step, so every rank stops at the same step
# and rank 0 alone says it: one line, exit 1, no MPI_Abort
mpi 2 train --data "mnist:$T/mnist" --preset vit_mnist_tiny --epochs 1 --batch 16 --lr 1e30 \
  --no-test --max-steps 10 >"$T/out" 2>&1
rc=$?
[[ $rc == 1 && $(grep -c "diverged" "$T/out") == 1 ]] &&
  grep -q "^clvit train: rank 0: training diverged at step 2 .*loss is nan" "$T/out" &&
  ! grep -q "MPI_ABORT" "$T/out"
check "np 2, --lr 1e30: exit 1 (got $rc), one 'diverged' line, from rank 0" $? "$T/out"

# resume with another rank count: np 2 -> np 1 and np 1 -> np 2, 10 + 10 steps, close at 20
mpi 2 "${TRAIN[@]}" --max-steps 10 --save "$T/r21.safetensors" >"$T/out" 2>&1
check "np 2: 10 steps" $? "$T/out"
"$CLVIT" train --data "mnist:$T/mnist" --no-test --resume "$T/r21.safetensors" --max-steps 10 \
  --save "$T/r21.safetensors" >"$T/out" 2>&1
check "np 2 checkpoint resumed on one process" $? "$T/out"
close "np 2 -> np 1 at step 20 matches one process" "$T/r21.safetensors"
"$CLVIT" "${TRAIN[@]}" --device "$pocl" --max-steps 10 --save "$T/r12.safetensors" >"$T/out" 2>&1
check "one process: 10 steps" $? "$T/out"
mpi 2 train --data "mnist:$T/mnist" --no-test --resume "$T/r12.safetensors" --max-steps 10 \
  --save "$T/r12.safetensors" >"$T/out" 2>&1
check "one-process checkpoint resumed on np 2" $? "$T/out"
grep -q "resuming at epoch 1, batch 10" "$T/out"
check "np 2 resumes at the checkpoint's position" $? "$T/out"
close "np 1 -> np 2 at step 20 matches one process" "$T/r12.safetensors"
mpi 2 train --data "mnist:$T/mnist" --resume "$T/r12.safetensors" --save "$T/r12.safetensors" \
  >"$T/out" 2>&1
check "np 2 continues to the end (validation and test over the ranks)" $? "$T/out"
step=$($HELP meta "$T/r12.safetensors" clvit.step)
grep -q "training done" "$T/out" && grep -q "^test accuracy" "$T/out" && [[ $step == 46 ]]
check "finished: 2 epochs of 23 steps (checkpoint at step $step), test accuracy printed" $? "$T/out"

# Ctrl-C on one rank only: every rank stops after the same step, rank 0 saves, exit 130
LONG=(train --data "mnist:$T/mnist" --preset vit_mnist_tiny --epochs 50 --batch 16 --no-test
  --save-every 1)
rank_pid() { # RANK: the pid of that rank of the running job
  local pid
  for pid in $(pgrep -f -- "--data mnist:$T/mnist"); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
      echo "$pid"
      return
    fi
  done
}
wait_for() { # FILE: until it exists (60 s at most)
  for _ in $(seq 300); do
    [[ -f $1 ]] && return 0
    sleep 0.2
  done
  return 1
}
mpi 2 "${LONG[@]}" --save "$T/int.safetensors" >"$T/out" 2>&1 &
job=$!
wait_for "$T/int.safetensors" && sleep 1
kill -INT "$(rank_pid 1)"
wait $job
rc=$?
step=$($HELP meta "$T/int.safetensors" clvit.step)
[[ $rc == 130 ]] && grep -q "interrupted after step $step " "$T/out"
check "SIGINT to rank 1: all stop, exit 130 (got $rc), rank 0's checkpoint at the step it names ($step)" $? "$T/out"

# a rank failing on its own: CLVIT_FAULT for rank 1 only (an MPMD launch)
start=$SECONDS
timeout 300 "$MPIRUN" --allow-run-as-root --oversubscribe -np 1 "$CLVIT" "${LONG[@]}" \
  --save "$T/fault.safetensors" : -np 1 env CLVIT_FAULT=wait:30 "$CLVIT" "${LONG[@]}" \
  --save "$T/fault.safetensors" >"$T/out" 2>&1
rc=$?
took=$((SECONDS - start))
[[ $rc != 0 && $took -lt 60 && $(grep -c "^clvit train: rank" "$T/out") == 1 ]] &&
  grep -q "^clvit train: rank 1: .*CLVIT_FAULT=wait:30" "$T/out"
check "a failing rank stops the job: exit $rc after ${took}s, one line naming rank 1" $? "$T/out"
"$CLVIT" eval --model "$T/fault.safetensors" --data "mnist:$T/mnist" >"$T/eval" 2>&1
check "after the failure the last checkpoint loads (step $($HELP meta "$T/fault.safetensors" clvit.step))" $? "$T/eval"

# a rank killed by SIGKILL mid-run
mpi 2 "${LONG[@]}" --save "$T/kill.safetensors" >"$T/out" 2>&1 &
job=$!
wait_for "$T/kill.safetensors" && sleep 1
kill -9 "$(rank_pid 1)"
start=$SECONDS
wait $job
rc=$?
took=$((SECONDS - start))
[[ $rc != 0 && $took -lt 60 ]] && grep -q "rank 1 .*signal 9" "$T/out"
check "a SIGKILLed rank stops the job: exit $rc after ${took}s, mpirun names rank 1" $? "$T/out"
"$CLVIT" eval --model "$T/kill.safetensors" --data "mnist:$T/mnist" >"$T/eval" 2>&1
check "after the kill the last checkpoint loads (step $($HELP meta "$T/kill.safetensors" clvit.step))" $? "$T/eval"

echo "cli_dist: $pass passed, $fail failed"
exit $((fail > 0))
