#!/bin/sh
# test_bench.sh ECORE MPIRUN...: `ecore bench` data-parallel on 2 ranks. The profile names every
# part of a step; the BN messages are one per BN layer and direction (none with --bn-local);
# the gradient sum runs in several buckets by default and in one message with --bucket-mb 0,
# with the same training (the final loss is printed to 4 digits and must agree). --convs lists
# every convolution.
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
# --convs: one row per distinct convolution and pass, the counts adding up to resnet18's 20
# convolutions; the stem's input needs no gradient, so it has no data row
out=$(OPENBLAS_NUM_THREADS=1 "$ECORE" bench --arch resnet18 --width 16 --batch 4 --steps 1 \
        --warmup 0 --convs) || fail "bench --convs exited $?: $out"
convs=$(echo "$out" | awk '$5 == "forward" { n += $4 } END { print n + 0 }')
[ "$convs" = 20 ] || fail "--convs: forward rows count $convs convolutions, not 20: $out"
[ "$(echo "$out" | grep -c '^  conv1 .* data ')" = 0 ] || fail "--convs: a data row for conv1"
[ "$(echo "$out" | grep -c '^  layer1.0.conv1 .* \(forward\|data\|weight\) ')" = 3 ] ||
  fail "--convs: layer1.0.conv1 lacks a pass: $out"
# Winograd runs on ecore's AVX-512 kernel; built without AVX-512, every convolution is im2col
kernel=$(echo "$out" | sed -n 's/^conv_kernel=//p')
case $kernel in
  ecore_avx512) echo "$out" | grep -q ' winograd[24] ' || fail "--convs: no Winograd row: $out" ;;
  openblas_sgemm) echo "$out" | grep -q ' winograd[24] ' && fail "--convs: Winograd without AVX-512" ;;
  *) fail "--convs: kernel '$kernel' not named: $out" ;;
esac
for key in conv_ms_per_step conv_product_gflop_per_step conv_kernel_peak_gflops \
           conv_ms_at_kernel_peak; do
  echo "$out" | grep -q "^$key=[0-9]*\.[0-9]*$" || fail "--convs: no $key: $out"
done
out=$("$ECORE" bench --convs --profile 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "takes none of" || fail "--convs --profile: $out"
echo "bench: all cases pass"
