#!/usr/bin/env bash
# End-to-end tests of the clvit command: help and usage errors, devices, info, forward parity
# through .npy files, predict on a PNG, train/save/resume/eval/submission on synthetic IDX and
# CSV data, Ctrl-C saving a checkpoint, crash safety (unwritable --save path, a save over a
# file-size limit, a NaN loss), and one clear error line on malformed input.
# Usage: cli_clvit.sh CLVIT_BINARY SOURCE_DIR
set -uo pipefail
CLVIT=$1
SRC=$2
FIX=$SRC/tests/fixtures
HELP="python3 $SRC/tests/cli_helpers.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAILED: $1"; fail=$((fail + 1)); }
# expect CODE DESCRIPTION -- command...: checks the exit code; output in $T/out
expect() {
  local code=$1 what=$2
  shift 3
  "$@" >"$T/out" 2>&1
  local got=$?
  if [[ $got == "$code" ]]; then ok "$what"; else
    bad "$what (exit $got, wanted $code)"
    tail -5 "$T/out"
  fi
}
has() { # has PATTERN DESCRIPTION: the last output contains PATTERN
  if grep -q -- "$1" "$T/out"; then ok "$2"; else
    bad "$2 (no '$1' in output)"
    tail -5 "$T/out"
  fi
}
one_line() { # the last (error) output is exactly one line
  if [[ $(wc -l <"$T/out") == 1 ]]; then ok "$1: one line"; else
    bad "$1: $(wc -l <"$T/out") lines"
    cat "$T/out"
  fi
}

# help and usage
expect 0 "clvit --help" -- "$CLVIT" --help
for c in devices info predict forward train eval; do
  expect 0 "clvit $c --help" -- "$CLVIT" $c --help
  has "usage: clvit $c" "$c help shows usage"
done
expect 2 "no command" -- "$CLVIT"
expect 2 "unknown command" -- "$CLVIT" frobnicate
has "unknown command 'frobnicate'" "unknown command is named"
expect 2 "unknown option" -- "$CLVIT" info --bogus
has "unknown option '--bogus'" "unknown option is named"
one_line "unknown option"
expect 2 "bad number" -- "$CLVIT" train --data mnist:x --epochs zero
has "\-\-epochs: 'zero' is not an integer" "bad number names the option"
expect 2 "missing value" -- "$CLVIT" predict --topk
expect 2 "train without --data" -- "$CLVIT" train
expect 2 "predict without images" -- "$CLVIT" predict --preset vit_mnist

# devices and info
expect 0 "devices" -- "$CLVIT" devices
has "device 0:0" "devices lists 0:0"
has "compute units" "devices shows compute units"
has "(default" "devices marks the default device"
if [[ $(grep -c "  (default" "$T/out") == 1 ]]; then ok "devices marks one default"; else bad "devices marks one default"; fi
expect 0 "devices --help" -- "$CLVIT" devices --help
has "discrete GPU, else an integrated" "devices --help states the default rule"
expect 0 "devices with emulated limits" -- env CLVIT_MAX_ALLOC=64M CLVIT_MAX_WORK_GROUP=64 "$CLVIT" devices
has "max allocation 64.0 MiB" "devices shows the emulated max allocation"
has "emulated limits: .*CLVIT_MAX_ALLOC.*max work-group 64 (CLVIT_MAX_WORK_GROUP)" "devices says the limits are emulated"
expect 1 "devices with a bad CLVIT_MAX_ALLOC" -- env CLVIT_MAX_ALLOC=64Q "$CLVIT" devices
has "CLVIT_MAX_ALLOC='64Q'" "bad CLVIT_MAX_ALLOC is named"
one_line "bad CLVIT_MAX_ALLOC"
expect 1 "devices with a bad CLVIT_MAX_WORK_GROUP" -- env CLVIT_MAX_WORK_GROUP=0 "$CLVIT" devices
has "CLVIT_MAX_WORK_GROUP='0'" "bad CLVIT_MAX_WORK_GROUP is named"
expect 1 "unknown device" -- "$CLVIT" forward --preset vit_mnist --device no-such-device --input x --output y
expect 0 "info --list" -- "$CLVIT" info --list
has "vit_base_patch16_224 " "presets include ViT-B/16"
has "deit_tiny_distilled_patch16_224" "presets include distilled DeiT"
expect 0 "info on a preset" -- "$CLVIT" info vit_base_patch16_224
has "86567656" "ViT-B/16 has timm's 86,567,656 parameters"
expect 0 "info on a file" -- "$CLVIT" info "$FIX/tiny_distilled.safetensors"
has "distillation" "info reads the distilled architecture from metadata"
expect 1 "info on a preset that does not exist" -- "$CLVIT" info --preset vit_tiny_nonexistent
one_line "unknown preset"

# forward parity through .npy
for f in tiny_qkvbias tiny_distilled tiny_gap_sincos; do
  $HELP npy-from "$FIX/$f.io.safetensors" "$T/$f.npy"
  expect 0 "forward $f" -- "$CLVIT" forward --model "$FIX/$f.safetensors" --input "$T/$f.npy" --output "$T/$f.out.npy"
  expect 0 "forward $f matches PyTorch" -- $HELP check-logits "$T/$f.out.npy" "$FIX/$f.io.safetensors"
done
expect 1 "forward with the wrong input shape" -- "$CLVIT" forward --model "$FIX/tiny_heads5.safetensors" --input "$T/tiny_qkvbias.npy" --output "$T/x.npy"
has "expected shape" "wrong shape is explained"
head -c 100 "$T/tiny_qkvbias.npy" >"$T/trunc.npy"
expect 1 "forward on a truncated .npy" -- "$CLVIT" forward --model "$FIX/tiny_qkvbias.safetensors" --input "$T/trunc.npy" --output "$T/x.npy"
one_line "truncated npy"
head -c 5000 "$FIX/tiny_qkvbias.safetensors" >"$T/trunc.safetensors"
expect 1 "forward on truncated weights" -- "$CLVIT" forward --model "$T/trunc.safetensors" --input "$T/tiny_qkvbias.npy" --output "$T/x.npy"
one_line "truncated safetensors"
# without metadata: the architecture is inferred from shapes (heads given), or a preset is used
$HELP strip-meta "$FIX/tiny_qkvbias.safetensors" "$T/nometa.safetensors"
expect 0 "forward with an inferred architecture" -- "$CLVIT" forward --model "$T/nometa.safetensors" --heads 3 --input "$T/tiny_qkvbias.npy" --output "$T/nometa.npy"
expect 0 "inferred architecture matches PyTorch" -- $HELP check-logits "$T/nometa.npy" "$FIX/tiny_qkvbias.io.safetensors"
expect 1 "weights for the wrong preset" -- "$CLVIT" forward --model "$T/nometa.safetensors" --preset deit_tiny_patch16_224 --input "$T/tiny_qkvbias.npy" --output "$T/x.npy"
has "blocks.0.attn.qkv.weight has shape (72, 24), expected (576, 192)" "wrong-shape tensors are named with the expected shape"
has "missing blocks.2.norm1.weight, expected shape (192)" "missing tensors are named"

# predict on an image
$HELP png "$T/img.png" 40 30
expect 0 "predict a PNG" -- "$CLVIT" predict --model "$FIX/tiny_qkvbias.safetensors" --topk 3 "$T/img.png"
if [[ $(grep -c '^ ' "$T/out") == 3 ]]; then ok "predict prints top-3"; else bad "predict top-3"; cat "$T/out"; fi
printf 'not an image' >"$T/bad.png"
expect 1 "predict on a broken image" -- "$CLVIT" predict --model "$FIX/tiny_qkvbias.safetensors" "$T/bad.png"
one_line "broken image"

# training on synthetic IDX data (train .gz, test plain)
$HELP idx "$T/mnist" 400 --gz
TRAIN=("$CLVIT" train --data "mnist:$T/mnist" --preset vit_mnist_tiny --epochs 4 --batch 20 --lr 3e-3 --rotate 0 --shift 0)
expect 0 "train 4 epochs" -- "${TRAIN[@]}" --save "$T/ck.safetensors" --log "$T/log.csv"
has "epoch 4/4  train loss" "per-epoch summary"
has "test accuracy" "test accuracy at the end"
has "CLBlast parameters: " "train says where CLBlast's GEMM parameters came from"
has "parameters: 1 buffer" "train reports the buffer plan"
if [[ $(wc -l <"$T/log.csv") == 5 ]]; then ok "metrics CSV has 4 epochs"; else bad "metrics CSV"; cat "$T/log.csv"; fi
# the device memory columns: buffers and bytes held, the same after every epoch (no leak)
if python3 -c "
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
b = {(x['device_buffers'], x['device_bytes']) for x in r}
sys.exit(not (len(b) == 1 and int(r[0]['device_buffers']) > 0 and int(r[0]['device_bytes']) > 0))
" "$T/log.csv"; then ok "device memory in the CSV, flat over 4 epochs"; else bad "device memory columns"; cat "$T/log.csv"; fi
acc=$(grep -o 'test accuracy [0-9.]*' "$T/out" | awk '{print $3}')
if awk "BEGIN{exit !($acc > 0.5)}"; then ok "learns the synthetic set (test accuracy $acc)"; else bad "test accuracy $acc"; fi
expect 0 "eval the checkpoint" -- "$CLVIT" eval --model "$T/ck.safetensors" --data "mnist:$T/mnist"
has "confusion matrix" "eval prints the confusion matrix"
has "accuracy $acc" "eval reproduces the test accuracy"
expect 0 "predict works with a trained checkpoint" -- "$CLVIT" predict --model "$T/ck.safetensors" --topk 2 "$T/img.png"
if [[ $(grep -c '^ ' "$T/out") == 2 ]]; then ok "predict with the checkpoint prints top-2"; else bad "predict with the checkpoint"; cat "$T/out"; fi

# no validation set: the epoch line has no val figures; a small allocation limit splits
# the buffers, and the plan says so
CLVIT_MAX_ALLOC=256K expect 0 "train --val-split 0 under CLVIT_MAX_ALLOC=256K" -- "${TRAIN[@]}" --epochs 1 --val-split 0 --no-test
if grep -q "val loss" "$T/out"; then bad "--val-split 0 prints val figures"; else ok "--val-split 0 prints no val figures"; fi
has "activations: [0-9]* buffers" "the buffer plan shows split activations"

# stop after 2 steps, resume, and finish: same as the uninterrupted run
expect 0 "train --max-steps 5" -- "${TRAIN[@]}" --save "$T/part.safetensors" --max-steps 5 --no-test
has "stopped after step 5" "stops at step 5 and saves"
expect 0 "resume" -- "$CLVIT" train --data "mnist:$T/mnist" --resume "$T/part.safetensors" --save "$T/part.safetensors" --no-test
has "resuming at epoch 1, batch 5" "resume continues at the saved position"
"$CLVIT" eval --model "$T/part.safetensors" --data "mnist:$T/mnist" >"$T/out" 2>&1
has "accuracy $acc" "stop + resume ends with the same test accuracy as one run"

# Ctrl-C saves a checkpoint and exits cleanly
"${TRAIN[@]}" --epochs 50 --save "$T/int.safetensors" --no-test >"$T/out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "epoch 1/50  " "$T/out" && break; sleep 0.2; done
kill -INT $pid
wait $pid
code=$?
if [[ $code == 130 && -s "$T/int.safetensors" ]]; then ok "Ctrl-C saves and exits 130"; else bad "Ctrl-C (exit $code)"; tail -3 "$T/out"; fi
has "interrupted after step" "Ctrl-C is reported"
expect 0 "the interrupted checkpoint loads" -- "$CLVIT" eval --model "$T/int.safetensors" --data "mnist:$T/mnist"

# crash safety (tests/kill_resume.sh has the kill -9 test): an unwritable --save path is
# reported before training; a save that fails stops the run with one line and leaves the last
# checkpoint as it was; a NaN loss stops the run, naming step, epoch and batch, saving nothing
# from that state
err_line() { # err_line DESCRIPTION: stderr ($T/err) is exactly one line
  if [[ $(wc -l <"$T/err") == 1 ]]; then ok "$1: one error line"; else
    bad "$1: $(wc -l <"$T/err") error lines"
    cat "$T/err"
  fi
}
mkdir -p "$T/adir"
for p in "$T/no/such/dir/ck.safetensors" "$T/adir" "/sys/ck.safetensors"; do
  "${TRAIN[@]}" --save "$p" >"$T/out" 2>"$T/err"
  code=$?
  if [[ $code == 1 ]] && ! grep -q "epoch 1/" "$T/out"; then ok "--save $p: exit 1 before training"; else
    bad "--save $p (exit $code)"
    tail -3 "$T/out" "$T/err"
  fi
  err_line "--save $p"
  grep -q "cannot write a checkpoint there" "$T/err" || bad "--save $p: no reason given"
done
if [[ $(id -u) != 0 ]]; then # root writes into a read-only directory; /sys above covers root
  mkdir -p "$T/ro" && chmod 555 "$T/ro"
  expect 1 "--save in a read-only directory" -- "${TRAIN[@]}" --save "$T/ro/ck.safetensors"
  has "Permission denied" "read-only directory: the reason is given"
fi
expect 2 "--save-every without --save" -- "${TRAIN[@]}" --save-every 2
# a file-size limit: SIGXFSZ is ignored, the write fails with EFBIG. vit_mnist's checkpoint
# (2.4 MB) is over the limit, PoCL's kernel files (< 1 MB) are not.
BIG=("$CLVIT" train --data "mnist:$T/mnist" --preset vit_mnist --epochs 1 --batch 20 --no-test)
expect 0 "first save (vit_mnist)" -- "${BIG[@]}" --save "$T/big.safetensors" --max-steps 2
cp "$T/big.safetensors" "$T/big.before"
(
  ulimit -f 1500
  exec "${BIG[@]}" --resume "$T/big.safetensors" --save "$T/big.safetensors" --save-every 1
) >"$T/out" 2>"$T/err"
code=$?
if [[ $code == 1 ]]; then ok "save over ulimit -f: exit 1"; else bad "save over ulimit -f: exit $code"; fi
err_line "save over ulimit -f"
if grep -q "checkpoint after step 3 not saved: .*File too large; .* is as it was, training stopped" "$T/err"; then
  ok "save over ulimit -f: the error names the step, the reason and what stays"
else
  bad "save over ulimit -f: message"
  cat "$T/err"
fi
if cmp -s "$T/big.safetensors" "$T/big.before"; then ok "the previous checkpoint is unchanged"; else bad "the previous checkpoint changed"; fi
if [[ -e $T/big.safetensors.tmp ]]; then bad "the temporary file stayed"; else ok "no temporary file stays"; fi
expect 0 "the previous checkpoint still loads" -- "$CLVIT" eval --model "$T/big.safetensors" --data "mnist:$T/mnist"
# NaN: an absurd learning rate after a good start. Step 5 (lr 1e30) still has a finite loss,
# and its update makes step 6's loss NaN; the next save was due at step 6, so the checkpoint
# of step 4 stays byte for byte
expect 0 "a good start, saved at step 4" -- "${TRAIN[@]}" --save "$T/nan.safetensors" --max-steps 4 --no-test
cp "$T/nan.safetensors" "$T/nan.before"
NAN=("${TRAIN[@]}" --resume "$T/nan.safetensors" --save "$T/nan.safetensors" --lr 1e30 --warmup 0 --no-test)
"${NAN[@]}" --save-every 2 >"$T/out" 2>"$T/err"
code=$?
if [[ $code == 1 ]]; then ok "NaN loss: exit 1"; else bad "NaN loss: exit $code"; fi
err_line "NaN loss"
if grep -q "training diverged at step 6 (epoch 1/4, batch 6/18): .*loss is nan at step 6; stopped, .*nan.safetensors (step 4) kept" "$T/err"; then
  ok "NaN loss: step, epoch, batch and the checkpoint kept are named"
else
  bad "NaN loss: message"
  cat "$T/err"
fi
if cmp -s "$T/nan.safetensors" "$T/nan.before"; then ok "NaN loss: the last good checkpoint is unchanged"; else bad "NaN loss: the checkpoint changed"; fi
# saving every step: step 5's loss is finite, but the parameters its update left give NaN
# logits, which the check before the save sees: nothing is saved from step 5 either
"${NAN[@]}" --save-every 1 >"$T/out" 2>"$T/err"
code=$?
if [[ $code == 1 ]] && grep -q "diverged at step 5 (epoch 1/4, batch 5/18): the parameters it left give a logit of .*nan.safetensors (step 4) kept" "$T/err"; then
  ok "NaN with --save-every 1: stops at step 5, before its save"
else
  bad "NaN with --save-every 1 (exit $code)"
  cat "$T/err"
fi
err_line "NaN with --save-every 1"
if cmp -s "$T/nan.safetensors" "$T/nan.before"; then ok "NaN with --save-every 1: step 4's checkpoint is unchanged"; else bad "NaN with --save-every 1: the checkpoint changed"; fi
expect 0 "the checkpoint holds no NaN or Inf" -- $HELP finite "$T/nan.safetensors"

# a malformed CLBlast tuning file named by CLVIT_GEMM_TUNING: one clear error line
printf 'Xgemm KWG=sixteen\n' >"$T/tuning.txt"
expect 1 "CLVIT_GEMM_TUNING naming a malformed file" -- env CLVIT_GEMM_TUNING="$T/tuning.txt" \
    "$CLVIT" predict --model "$FIX/tiny_qkvbias.safetensors" "$T/img.png"
one_line "malformed tuning file"
has "tuning.txt line 1" "the error names the tuning file and line"

# Kaggle CSV: train, evaluate, submission
$HELP csv "$T/kaggle" 200
expect 0 "train on train.csv" -- "$CLVIT" train --data "csv:$T/kaggle/train.csv" --preset vit_mnist_tiny --epochs 1 --batch 50 --save "$T/kg.safetensors"
expect 0 "submission for test.csv" -- "$CLVIT" eval --model "$T/kg.safetensors" --data "csv:$T/kaggle/test.csv" --submission "$T/sub.csv"
if [[ $(head -1 "$T/sub.csv") == "ImageId,Label" && $(wc -l <"$T/sub.csv") == 101 ]]; then ok "submission file"; else bad "submission file"; head -3 "$T/sub.csv"; fi
expect 0 "fine-tune: --init with --reset-head" -- "$CLVIT" train --data "csv:$T/kaggle/train.csv" --init "$T/ck.safetensors" --reset-head --epochs 1 --batch 50 --save "$T/ft.safetensors"
expect 2 "--reset-head needs --init" -- "$CLVIT" train --data "csv:$T/kaggle/train.csv" --reset-head
expect 2 "unlabelled data needs --submission" -- "$CLVIT" eval --model "$T/kg.safetensors" --data "csv:$T/kaggle/test.csv"

# malformed data: one clear line naming the file and record
head -c 3000 "$T/mnist/t10k-images-idx3-ubyte" >"$T/mnist/train-images-idx3-ubyte"
rm "$T/mnist/train-images-idx3-ubyte.gz"
expect 1 "truncated IDX" -- "${TRAIN[@]}"
has "train-images-idx3-ubyte" "the truncated file is named"
one_line "truncated IDX"
sed -i '3s/,0,/,/' "$T/kaggle/train.csv"
expect 1 "CSV row with a missing column" -- "$CLVIT" train --data "csv:$T/kaggle/train.csv" --epochs 1
has "line 3" "the CSV line is named"
one_line "bad CSV"

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
