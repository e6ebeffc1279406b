#!/bin/sh
# test_bench.sh ECORE MPIRUN...: `ecore bench` data-parallel on 2 ranks. The profile names every
# part of a step; the BN messages are one per BN layer and direction (none with --bn-local);
# the gradient sum runs in several buckets by default and in one message with --bucket-mb 0,
# with the same training (the final loss is printed to 4 digits and must agree).
set -u
ECORE=$1
shift
fail() { echo "FAIL: $*"; exit 1; }
bench() { OPENBLAS_NUM_THREADS=1 "$@" "$ECORE" bench --arch resnet18 --width 4 --batch 8 \
            --steps 2 --warmup 1 --bucket-mb 0.01 --profile; }

out=$(bench "$@" -np 2) || fail "bench exited $?: $out"
for row in "forward conv" "backward conv" "forward bn" "BN sync: waiting for the slowest" \
           "BN sync: allreduce" "grad sum: starting/testing buckets" \
           "grad sum: waiting for the slowest" "grad sum: after the backward" \
           "optimizer (SGD)" "other (loss, zeroing, layout)" "step"; do
  echo "$out" | grep -q "^  $row  *[0-9.-]* *[0-9.-]*$" || fail "no profile row '$row' in: $out"
done
layers=$(echo "$out" | sed -n 's/^bn_layers=//p')
[ "$layers" -gt 0 ] || fail "bn_layers=$layers"
echo "$out" | grep -q "BN allreduces per step $((2 * layers)), gradient messages per step" ||
  fail "expected $((2 * layers)) BN allreduces per step: $out"
msgs=$(echo "$out" | sed -n 's/.*gradient messages per step //p')
[ "$msgs" -gt 1 ] || fail "buckets of 0.01 MiB should take several messages, got $msgs"
loss=$(echo "$out" | sed -n 's/^final_loss=//p')

out=$(OPENBLAS_NUM_THREADS=1 "$@" -np 2 "$ECORE" bench --arch resnet18 --width 4 --batch 8 \
        --steps 2 --warmup 1 --bucket-mb 0 --profile) || fail "bench --bucket-mb 0 exited $?"
echo "$out" | grep -q "gradient messages per step 1$" || fail "--bucket-mb 0: one message: $out"
[ "$(echo "$out" | sed -n 's/^final_loss=//p')" = "$loss" ] ||
  fail "--bucket-mb 0 trained differently: loss $(echo "$out" | sed -n 's/^final_loss=//p') vs $loss"

out=$(OPENBLAS_NUM_THREADS=1 "$@" -np 2 "$ECORE" bench --arch resnet18 --width 4 --batch 8 \
        --steps 2 --warmup 1 --bn-local --profile) || fail "bench --bn-local exited $?"
echo "$out" | grep -q "^bn=local$" || fail "--bn-local not reported: $out"
echo "$out" | grep -q "BN allreduces per step 0," || fail "--bn-local sent BN messages: $out"
echo "bench: all cases pass"
