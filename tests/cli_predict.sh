#!/usr/bin/env bash
# End-to-end tests of `clvit predict`: several images, a directory, list files (@LIST and
# --list), batches, the three output formats parsed back (json with json.load, csv with the
# csv module), the built-in ImageNet-1k names on a 1000-class model, indices and a note for an
# ImageNet-21k-sized model, --labels, and bad inputs giving one clear line and a non-zero exit.
# Usage: cli_predict.sh CLVIT_BINARY SOURCE_DIR
set -uo pipefail
CLVIT=$1
SRC=$2
HELP="python3 $SRC/tests/cli_helpers.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export CLVIT_GEMM_TUNE=0 # no tuning notes on stderr: the error checks count its lines
pass=0
fail=0

ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAILED: $1"; fail=$((fail + 1)); }
# expect CODE DESCRIPTION -- command...: checks the exit code; stdout in $T/out, stderr in $T/err
expect() {
  local code=$1 what=$2
  shift 3
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  if [[ $got == "$code" ]]; then ok "$what"; else
    bad "$what (exit $got, wanted $code)"
    tail -5 "$T/out" "$T/err"
  fi
}
err_has() { # err_has PATTERN DESCRIPTION: stderr contains PATTERN
  if grep -q -- "$1" "$T/err"; then ok "$2"; else
    bad "$2 (no '$1' on stderr)"
    cat "$T/err"
  fi
}
one_error_line() { # stderr is exactly one line and stdout is empty
  if [[ $(wc -l <"$T/err") == 1 && ! -s "$T/out" ]]; then ok "$1: one error line"; else
    bad "$1: stderr $(wc -l <"$T/err") lines, stdout $(wc -c <"$T/out") bytes"
    cat "$T/err"
  fi
}
# parsed FMT N TOPK [TOP1] -- EXPECTED PATHS...: parses $T/out, checks the images' order
parsed() {
  local fmt=$1 n=$2 k=$3 top1=()
  shift 3
  if [[ $1 != -- ]]; then top1=("$1"); shift; fi
  shift
  if ! $HELP check-predict "$fmt" "$T/out" "$n" "$k" "${top1[@]}" >"$T/paths" 2>"$T/perr"; then
    bad "$fmt output parses back ($(tail -1 "$T/perr"))"
    return
  fi
  if [[ $(cat "$T/paths") == $(printf '%s\n' "$@") ]]; then ok "$fmt output parses back: $n images, top-$k, in order"; else
    bad "$fmt output: images in the wrong order"
    diff <(printf '%s\n' "$@") "$T/paths"
  fi
}

M1K="$T/in1k.safetensors"
M21K="$T/in21k.safetensors"
$HELP tiny-model "$M1K" 1000 1     # class 1 of ImageNet-1k: goldfish
$HELP tiny-model "$M21K" 21843 777 # the in21k presets' class count
mkdir -p "$T/dir" "$T/empty"
$HELP png "$T/dir/b.png" 40 30
$HELP png "$T/dir/a.png" 17 23
$HELP png "$T/dir/c.PNG" 64 64
cp "$T/dir/a.png" "$T/dir/.hidden.png"
echo "not an image" >"$T/dir/notes.txt"
$HELP png "$T/x.png" 30 30
$HELP png "$T/y.png" 25 60

# several files, a directory (sorted, hidden and non-image files left out)
expect 0 "predict two files" -- "$CLVIT" predict --model "$M1K" --topk 3 "$T/x.png" "$T/y.png"
parsed text 2 3 goldfish -- "$T/x.png" "$T/y.png"
expect 0 "predict a directory" -- "$CLVIT" predict --model "$M1K" --topk 2 "$T/dir"
parsed text 3 2 goldfish -- "$T/dir/a.png" "$T/dir/b.png" "$T/dir/c.PNG"

# list files: @LIST and --list, comments and blank lines, a directory inside, with other args
printf '# images\n%s\n\n  %s  \n%s\n' "$T/y.png" "$T/x.png" "$T/dir" >"$T/list.txt"
expect 0 "predict @list" -- "$CLVIT" predict --model "$M1K" --topk 1 "@$T/list.txt"
parsed text 5 1 goldfish -- "$T/y.png" "$T/x.png" "$T/dir/a.png" "$T/dir/b.png" "$T/dir/c.PNG"
expect 0 "predict --list with files" -- "$CLVIT" predict --model "$M1K" --topk 1 --list "$T/list.txt" "$T/x.png"
parsed text 6 1 goldfish -- "$T/x.png" "$T/y.png" "$T/x.png" "$T/dir/a.png" "$T/dir/b.png" "$T/dir/c.PNG"

# the formats, parsed back; batches of 2 (three passes) give what one batch gives
for fmt in json csv text; do
  expect 0 "predict --format $fmt" -- "$CLVIT" predict --model "$M1K" --format $fmt --batch 2 "@$T/list.txt"
  parsed $fmt 5 5 goldfish -- "$T/y.png" "$T/x.png" "$T/dir/a.png" "$T/dir/b.png" "$T/dir/c.PNG"
  cp "$T/out" "$T/batch2.$fmt"
done
if python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$T/batch2.json"; then ok "json.load reads the json output"; else bad "json.load"; fi
expect 0 "predict --format json in one batch" -- "$CLVIT" predict --model "$M1K" --format json --batch 64 "@$T/list.txt"
if python3 - "$T/batch2.json" "$T/out" <<'PY'; then ok "--batch 2 and --batch 64 agree"; else bad "--batch 2 and --batch 64 differ"; fi
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert [r['image'] for r in a] == [r['image'] for r in b]
for x, y in zip(a, b):
    assert [c['index'] for c in x['top']] == [c['index'] for c in y['top']], (x, y)
    assert all(abs(c['prob'] - d['prob']) <= 1e-5 for c, d in zip(x['top'], y['top'])), (x, y)
PY
if grep -q '^"' "$T/batch2.csv" || head -1 "$T/batch2.csv" | grep -q '^image,rank,index,label,prob$'; then ok "csv header"; else bad "csv header"; head -2 "$T/batch2.csv"; fi

# names: a name with a comma is quoted in csv; --labels overrides the built-in names
printf 'zero\nthe one, with a comma\n' >"$T/labels.txt"
expect 0 "predict --labels (csv)" -- "$CLVIT" predict --model "$M1K" --format csv --topk 2 --labels "$T/labels.txt" "$T/x.png"
parsed csv 1 2 "the one, with a comma" -- "$T/x.png"
# an ImageNet-21k-sized model: indices, no names, and a note saying why
expect 0 "predict with 21843 classes" -- "$CLVIT" predict --model "$M21K" --format json --topk 2 "$T/x.png"
err_has "ImageNet-21k, printed as class indices" "21k: the note says indices are printed"
if python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r[0]["top"][0]["index"] == 777 and r[0]["top"][0]["label"] is None' "$T/out"; then ok "21k: index 777, label null"; else bad "21k json"; cat "$T/out"; fi

# bad inputs: one clear line, a non-zero exit, nothing on stdout
expect 1 "a missing image" -- "$CLVIT" predict --model "$M1K" "$T/x.png" "$T/nope.png"
err_has "cannot open .*nope.png" "the missing image is named"
one_error_line "a missing image"
expect 1 "a directory without images" -- "$CLVIT" predict --model "$M1K" "$T/empty"
err_has "no .png, .jpg, .jpeg, .bmp or .gif files in directory" "the empty directory is explained"
one_error_line "empty directory"
expect 1 "a missing list file" -- "$CLVIT" predict --model "$M1K" --list "$T/nolist.txt"
one_error_line "missing list file"
printf '%s\n%s\n' "$T/x.png" "$T/gone.png" >"$T/badlist.txt"
expect 1 "a list naming a missing file" -- "$CLVIT" predict --model "$M1K" "@$T/badlist.txt"
err_has "gone.png" "the missing listed file is named"
one_error_line "list naming a missing file"
printf '# nothing\n\n' >"$T/emptylist.txt"
expect 1 "an empty list" -- "$CLVIT" predict --model "$M1K" "@$T/emptylist.txt"
one_error_line "empty list"
expect 2 "an unknown format" -- "$CLVIT" predict --model "$M1K" --format xml "$T/x.png"
err_has "'xml' is not text, json or csv" "the bad format is named"
one_error_line "unknown format"
expect 2 "--batch 0" -- "$CLVIT" predict --model "$M1K" --batch 0 "$T/x.png"
one_error_line "--batch 0"
expect 2 "no images at all" -- "$CLVIT" predict --model "$M1K"
# a broken image among good ones: reported in one line, the others still classified
printf 'not an image' >"$T/broken.png"
expect 1 "a broken image among good ones" -- "$CLVIT" predict --model "$M1K" --format json "$T/x.png" "$T/broken.png" "$T/y.png"
if [[ $(wc -l <"$T/err") == 1 ]] && grep -q "broken.png" "$T/err"; then ok "the broken image is one line naming it"; else bad "broken image report"; cat "$T/err"; fi
parsed json 2 5 goldfish -- "$T/x.png" "$T/y.png"

echo "cli_predict: $pass passed, $fail failed"
[[ $fail == 0 ]]
