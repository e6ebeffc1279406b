#!/bin/sh
# test_cli.sh ECORE: the one argument parser, as every command uses it: each case runs a
# command line and checks its exit code and the first line of its stderr exactly.
ecore=$1
fails=0
check() {  # EXPECTED_EXIT EXPECTED_MESSAGE ARGS...
  want_rc=$1 want_msg=$2
  shift 2
  msg=$("$ecore" "$@" 2>&1 >/dev/null | head -n 1)
  "$ecore" "$@" >/dev/null 2>&1
  rc=$?
  if [ "$rc" != "$want_rc" ] || [ "$msg" != "$want_msg" ]; then
    printf 'FAIL: ecore %s\n  want exit %s: %s\n  got  exit %s: %s\n' "$*" "$want_rc" "$want_msg" "$rc" "$msg"
    fails=$((fails + 1))
  fi
}
see() { printf "%s (see 'ecore %s --help')" "$2" "$1"; }

# A mistyped option gets the nearest one; the --name=value form and short aliases work.
check 2 "$(see sweep "ecore sweep: unknown option '--otu'; did you mean '--out'?")" sweep --otu x.h5 c.yaml
check 2 "$(see bench "ecore bench: unknown option '--sise'; did you mean '--size'?")" bench --sise 3x3
check 2 "$(see eval "ecore eval: unknown option '--no-gapp'; did you mean '--no-gap'?")" eval --no-gapp m.h5
check 2 "$(see report "ecore report: unknown option '--plot'; did you mean '--plots'?")" report --plot=d f.h5
# Values: missing, given to a switch, out of range, malformed.
check 2 "$(see plan "ecore plan: --set needs a value (KEY=VALUE)")" plan c.yaml --set
check 2 "$(see report "ecore report: --claims takes no value")" report --claims=1 f.h5
check 2 "$(see bench "ecore bench: --batch 0: expected a whole number in [1, 1073741824]")" bench --batch=0
check 2 "$(see bench "ecore bench: --size 3x: expected HxW, e.g. 32x32")" bench --size 3x
check 2 "$(see bench "ecore bench: --bucket-mb -1: expected a size in MiB, 0 or more")" bench --bucket-mb -1
check 2 "$(see bench "ecore bench: --stem imagenet is the resnets'; --arch is cnn4")" bench --arch cnn4 --stem imagenet
check 2 "$(see sweep "ecore sweep: --shard 2/2: expected I/N with 0 <= I < N")" sweep c.yaml --shard 2/2
check 2 "$(see report "ecore report: --format xx: expected one of md, csv")" report --format=xx f.h5
check 2 "$(see export "ecore export: --format xml: expected one of csv, jsonl")" export --format xml f.h5
# Positional arguments: too few, too many; after "--" an argument that looks like an option
# is positional.
check 2 "$(see sweep "ecore sweep: missing CONFIG")" sweep -q
check 2 "$(see merge "ecore merge: missing OUT.h5 and at least one IN.h5")" merge out.h5
check 2 "$(see eval "ecore eval: unexpected argument 'n.h5' (one MODEL.h5 only)")" eval m.h5 n.h5
check 2 "$(see bench "ecore bench: unexpected argument 'x'")" bench x
check 2 "--nothere.yaml: cannot read the config: No such file or directory" plan -- --nothere.yaml
check 2 "--nothere.yaml: cannot read the config: No such file or directory" plan --set=sweep.seeds=[1] -- --nothere.yaml
# --help wins wherever it stands, and exits 0 with the usage on stdout.
check 0 "" sweep --bogus --help
[ "$fails" = 0 ] && echo "all cases pass"
exit "$fails"
