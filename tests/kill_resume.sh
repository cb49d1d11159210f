#!/usr/bin/env bash
# Checkpoints survive kill -9 and --resume continues exactly (issue #11, crash-safe training).
#
# A tiny model (vit_mnist_tiny, dropout, drop-path and augmentation on, so every random stream
# is resumed) trains on synthetic IDX data with --save-every 1, so that a checkpoint is being
# written most of the time. The run is killed with SIGKILL after seeded random delays, at
# least KILLS (30) times; after each kill the checkpoint on disk must load (`clvit info`, then
# the next run's --resume reads every weight and optimizer moment) and never go back in
# steps. The kills are counted by phase: before the first checkpoint, during start-up (no
# progress), during training, and during a checkpoint write (a PATH.tmp with data left
# behind; one at least, so the kills go on until one has, up to 2 x KILLS). About 2 minutes
# on a 2-core PoCL CPU; timings are printed. A chain of runs that reaches the end
# must give the reference's final checkpoint bit for bit: the same bytes, so the same
# parameters, Adam moments, step and position; tolerance 0, which holds because PoCL runs
# the in-order queue deterministically and CLVIT_GEMM_TUNE=0 gives every process the same
# GEMM kernels (timing could otherwise pick another candidate, with other rounding, in a
# process killed before the plan cache was written). The reference is run twice, with and
# without mid-epoch saves, and must agree with itself the same way. When a chain finishes
# before the kills are done, a new chain starts from scratch.
# KILLS, KR_IMAGES (1000) and KR_WRITE_KILLS (1) make it shorter where each step is slow:
# scripts/test.sh on rusticl, where a step takes about 0.9 s and a checkpoint write of this
# model a few milliseconds, so a kill rarely lands in one (that is the host's atomic writer,
# whose kills PoCL's run requires).
# Usage: kill_resume.sh CLVIT_BINARY SOURCE_DIR [SEED]
set -uo pipefail
CLVIT=$1
SRC=$2
SEED=${3:-11}
KILLS=${KILLS:-30}
KR_IMAGES=${KR_IMAGES:-1000} # training images (3 epochs of batch 8)
KR_WRITE_KILLS=${KR_WRITE_KILLS:-1} # kills that must land during a checkpoint write
HELP="python3 $SRC/tests/cli_helpers.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export CLVIT_GEMM_TUNE=0
fail=0
bad() { echo "FAILED: $1"; fail=$((fail + 1)); }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b - a}'; }
t_all=$(now)

$HELP idx "$T/data" "$KR_IMAGES"
TRAIN=("$CLVIT" train --data "mnist:$T/data" --preset vit_mnist_tiny --epochs 3 --batch 8
  --drop 0.1 --drop-path 0.1 --no-test)

# the references: one run, twice (mid-epoch saves must not change anything either)
t0=$(now)
if ! "${TRAIN[@]}" --save "$T/ref.safetensors" >"$T/ref.out" 2>&1; then
  bad "reference run"
  tail -5 "$T/ref.out"
  exit 1
fi
t_ref=$(since "$t0")
steps=$(grep -o 'training done: [0-9]*' "$T/ref.out" | awk '{print $3}')
t0=$(now)
"${TRAIN[@]}" --save "$T/ref2.safetensors" --save-every 1 >"$T/ref2.out" 2>&1 || bad "second reference run"
t_ref2=$(since "$t0")
if cmp -s "$T/ref.safetensors" "$T/ref2.safetensors"; then
  echo "ok: two uninterrupted runs give the same checkpoint bytes ($steps steps; ${t_ref} s, ${t_ref2} s with --save-every 1)"
else
  bad "two uninterrupted runs differ"
  $HELP st-diff "$T/ref.safetensors" "$T/ref2.safetensors" | tail -8
fi
# startup: until the first step is done (a one-step run)
t0=$(now)
"${TRAIN[@]}" --max-steps 1 >/dev/null 2>&1
t_start=$(since "$t0")

# the kills: a quarter after a delay in [0.3 s, startup), mostly before the first save; the
# rest in [0.8 startup, startup + 1.2 s), while steps and checkpoint writes alternate
RANDOM=$SEED
ck="$T/ck.safetensors"
tmp="$ck.tmp"
kills=0 early=0 in_write=0 in_train=0 chains=0 last_step=0 runs=0
start_ms=$(awk -v s="$t_start" 'BEGIN{printf "%d", s * 1000}')
t_kills=$(now)
# (until one kill has landed during a write too, at most twice as many kills)
while ((kills < KILLS || (in_write < KR_WRITE_KILLS && kills < 2 * KILLS))); do
  args=(--save "$ck" --save-every 1)
  [[ -e $ck ]] && args+=(--resume "$ck")
  tmp_before=$(stat -c '%i %y %s' "$tmp" 2>/dev/null)
  "${TRAIN[@]}" "${args[@]}" >"$T/run.out" 2>&1 &
  pid=$!
  runs=$((runs + 1))
  r=$((RANDOM * 32768 + RANDOM))
  if ((r % 4 == 0)); then
    delay_ms=$((300 + r / 4 % (start_ms > 300 ? start_ms - 300 : 1)))
  else
    delay_ms=$((start_ms * 8 / 10 + r / 4 % (start_ms * 2 / 10 + 1200)))
  fi
  sleep "$(awk -v m="$delay_ms" 'BEGIN{printf "%.3f", m / 1000}')"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  code=$?
  if [[ $code == 137 ]]; then # killed (128 + SIGKILL)
    kills=$((kills + 1))
    tmp_after=$(stat -c '%i %y %s' "$tmp" 2>/dev/null)
    if [[ -s $tmp && $tmp_after != "$tmp_before" ]]; then in_write=$((in_write + 1)); fi
    if [[ ! -e $ck ]]; then
      early=$((early + 1))
      continue
    fi
    if ! "$CLVIT" info "$ck" >"$T/info.out" 2>&1; then
      bad "kill $kills (after $delay_ms ms): the checkpoint does not load"
      cat "$T/info.out"
      break
    fi
    step=$($HELP meta "$ck" clvit.step)
    if ((step < last_step)); then bad "kill $kills: the checkpoint went back from step $last_step to $step"; fi
    ((step > last_step)) && in_train=$((in_train + 1))
    last_step=$step
  else # the run ended before the kill: it must have finished the chain
    if [[ $code != 0 ]]; then
      bad "run $runs exited $code before the kill (after $delay_ms ms)"
      tail -5 "$T/run.out"
      break
    fi
    chains=$((chains + 1))
    if cmp -s "$ck" "$T/ref.safetensors"; then
      echo "ok: chain $chains reached the end and equals the reference"
    else
      bad "chain $chains differs from the reference"
      $HELP st-diff "$ck" "$T/ref.safetensors" | tail -8
    fi
    rm -f "$ck"
    last_step=0
  fi
done
t_kills=$(since "$t_kills")
echo "kills: $kills in $runs runs ($t_kills s, delays 300..$((start_ms + 1200)) ms, startup ${t_start} s): $early with no checkpoint yet, $in_train with progress since the last kill, $((kills - early - in_train)) without (start-up), $in_write during a checkpoint write; $chains chains finished between kills"
((kills >= KILLS)) || bad "only $kills kills"
((in_write >= KR_WRITE_KILLS)) || bad "fewer than $KR_WRITE_KILLS kills landed during a checkpoint write"
((in_train >= 3)) || bad "fewer than 3 kills landed during training ($in_train)"

# resume until the end: the same bytes as the uninterrupted run
t0=$(now)
args=(--save "$ck")
[[ -e $ck ]] && args+=(--resume "$ck")
if "${TRAIN[@]}" "${args[@]}" >"$T/run.out" 2>&1; then
  if cmp -s "$ck" "$T/ref.safetensors"; then
    echo "ok: resumed from step $last_step to the end ($(since "$t0") s): the final checkpoint equals the uninterrupted run's, bit for bit"
  else
    bad "the resumed run ends with other parameters than the uninterrupted run"
    $HELP st-diff "$ck" "$T/ref.safetensors" | tail -8
  fi
else
  bad "the final resume failed"
  tail -5 "$T/run.out"
fi
echo "total $(since "$t_all") s"
if ((fail)); then
  echo "$fail failed"
  exit 1
fi
echo "all passed"
