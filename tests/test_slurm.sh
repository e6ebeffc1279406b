#!/bin/bash
# test_slurm.sh: the slurm/ scripts on a real one-node Slurm cluster (slurm/local-cluster.sh),
# checked through h5py.
#
#   test_slurm.sh ECORE CONFIG MNIST_DIR MPIRUN [MPIRUN ARGS...]
#
# 0. bad input: a config error or an impossible request submits nothing (exit 2, exit 1);
# 1. reference: the sweep of CONFIG (a small MNIST sweep) under `MPIRUN -np 2`;
# 2. array path: `ecore-submit --mode array --shards 2` (job array, merge job afterok on the
#    array, report job afterok on the merge) ends with one merged file equal, row for row, to
#    the reference, and a report;
# 3. single-MPI-job path: `ecore-submit --mode mpi -n 2 --launcher srun` runs one sweep of
#    2 ranks under srun --mpi=pmix (the file says MPI world size 2), equal to the reference;
# 4. requeue: a slower sweep requeued part-way with `scontrol requeue` ends with every run
#    exactly once, and the runs finished before the requeue are not rerun;
# 5. warning signal: a longer sweep submitted with --time=1 and a 25 s --signal margin gets
#    SIGUSR1 from Slurm before its time limit, the sweep exits 4 after the runs in flight,
#    the job requeues itself and resumes until every run is done, each exactly once.
# 4 and 5 run side by side (1 task each). The cluster is taken down on every exit (trap),
# and by its watcher if this script is killed outright.
# Exit 77 (skipped) without munged/slurmctld/slurmd/sbatch, h5py, or the MNIST files.
set -euo pipefail

if (($# < 4)); then
  echo "usage: test_slurm.sh ECORE CONFIG MNIST_DIR MPIRUN [MPIRUN ARGS...]" >&2
  exit 2
fi
ECORE=$1 CONFIG=$2 MNIST=$3
shift 3
MPIRUN=("$@")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SLURM_DIR=$HERE/../slurm
PY=/usr/bin/python3
export PATH="$PATH:/usr/sbin"

skip() { echo "SKIPPED: $*"; exit 77; }
for p in munged slurmctld slurmd sbatch srun scontrol squeue; do
  command -v "$p" >/dev/null || skip "$p not installed (apt-get install slurmctld slurmd slurm-client munge)"
done
"$PY" -c 'import h5py, numpy' 2>/dev/null || skip "/usr/bin/python3 has no h5py/numpy (apt-get install python3-h5py)"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [[ -f $MNIST/$f.gz || -f $MNIST/$f ]] || skip "no MNIST in $MNIST ($f)"
done
ECORE=$(cd "$(dirname "$ECORE")" && pwd)/$(basename "$ECORE")
CONFIG=$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")
MNIST=$(cd "$MNIST" && pwd)

export OPENBLAS_NUM_THREADS=1
if [[ $(id -u) == 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
T0=$(date +%s)
TMP=$(mktemp -d /tmp/ecore_slurm_test.XXXXXX)
chmod 0755 "$TMP"  # munged wants the directories above its socket searchable by all
STATE=$TMP/cluster
failures=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -d $STATE ]]; then "$SLURM_DIR/local-cluster.sh" down "$STATE" || true; fi
  if [[ -n ${ECORE_SLURM_KEEP:-} ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  echo "slurm end-to-end: $(($(date +%s) - T0)) s in all"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM
# Should this script be killed before its trap runs, the cluster's watcher takes it down.
export ECORE_SLURM_WATCH_PID=$$

log() { echo "[$(($(date +%s) - T0))s] $*"; }
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}
check() {  # check WHAT COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else fail "$what"; fi
}

# The results files, read with h5py.
h5() {
  "$PY" - "$@" <<'PY'
import sys
import h5py
import numpy as np

SCALARS = ["forget_acc", "retain_acc", "test_retain_acc", "test_forget_acc", "mia_efficacy",
           "avg_gap"]


def rows(path):
    """Every row of /runs, as (run_id, status, scalars + CKA/k-NN rows)."""
    with h5py.File(path, "r") as f:
        runs = f["runs"][:]
        extra = [f[d][:] for d in ("cka_original", "cka_retrain", "knn_forget_acc")]
    out = []
    for i, r in enumerate(runs):
        vals = tuple(float(r[k]) for k in SCALARS) + tuple(float(x) for e in extra for x in e[i])
        out.append((r["run_id"].decode(), r["status"].decode(), vals))
    return out


def same_vals(a, b):
    return all((np.isnan(x) and np.isnan(y)) or x == y for x, y in zip(a, b)) and len(a) == len(b)


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "count":  # rows in the file so far, 0 while it does not exist or is being replaced
    try:
        print(len(rows(args[0])))
    except Exception:
        print(0)
elif cmd == "same":  # same runs, statuses and metrics, row for row, no duplicated run
    a, b = rows(args[0]), rows(args[1])
    da, db = {r[0]: r for r in a}, {r[0]: r for r in b}
    ok = len(da) == len(a) and len(db) == len(b) and da.keys() == db.keys()
    ok = ok and all(da[k][1] == db[k][1] and same_vals(da[k][2], db[k][2]) for k in da)
    if not ok:
        print(f"{args[0]}: {len(a)} rows, {len(da)} runs; {args[1]}: {len(b)} rows, {len(db)} runs")
        for k in sorted(set(da) | set(db)):
            if k not in da or k not in db or da[k][1:] != db[k][1:]:
                print("  differs:", k, da.get(k, (None, None))[1], db.get(k, (None, None))[1])
    sys.exit(0 if ok else 1)
elif cmd == "once":  # every run exactly once and ok: N rows, N distinct run ids
    a = rows(args[0])
    n = int(args[1])
    ids = [r[0] for r in a]
    bad = [r for r in a if r[1] != "ok"]
    dup = sorted(set(i for i in ids if ids.count(i) > 1))
    print(f"{args[0]}: {len(a)} rows, {len(set(ids))} runs, expected {n}; "
          f"duplicated: {dup}; not ok: {[(r[0], r[1]) for r in bad]}")
    sys.exit(0 if len(a) == n and len(set(ids)) == n and not bad else 1)
elif cmd == "kept":  # the ok rows of file 1 are in file 2 unchanged (not rerun)
    before = {r[0]: r for r in rows(args[0]) if r[1] == "ok"}
    after = {r[0]: r for r in rows(args[1])}
    changed = [k for k in before if k not in after or not same_vals(before[k][2], after[k][2])]
    print(f"{len(before)} runs finished before; changed or lost since: {changed}")
    sys.exit(0 if before and not changed else 1)
elif cmd == "attr":
    with h5py.File(args[0], "r") as f:
        v = f.attrs[args[1]]
        print(v.decode() if isinstance(v, bytes) else v)
PY
}

# rows_of SETS...: the rows a complete sweep writes: one per run, two per retrained model.
rows_of() {
  local plan
  plan=$(OPENBLAS_NUM_THREADS=1 "$ECORE" plan "$CONFIG" --set "data.root=$MNIST" "$@")
  echo $(($(grep -c '^run ' <<<"$plan") + 2 * $(grep -c '^job R[0-9]* retrain' <<<"$plan")))
}

# job_field JOB FIELD: JobState, Restarts, ExitCode... of a job (the first line for an array).
job_field() {
  timeout 20 scontrol show job -o "$1" 2>/dev/null | head -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# wait_job JOB SECONDS: until every job (or array task) of JOB has ended; 0 if all COMPLETED.
wait_job() {
  local job=$1 deadline=$(($(date +%s) + $2)) states
  while (($(date +%s) < deadline)); do
    states=$(timeout 20 scontrol show job -o "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | sort -u | tr '\n' ' ') || true
    if [[ -n $states && ! $states =~ (PENDING|RUNNING|REQUEUE|COMPLETING|CONFIGURING|SUSPENDED|RESIZING|SIGNALING|STAGE_OUT) ]]; then
      [[ $states == "JobState=COMPLETED " ]] && return 0
      echo "job $job ended: $states"
      return 1
    fi
    sleep 0.5
  done
  echo "job $job: timed out after $2 s ($states)"
  timeout 20 squeue || true
  timeout 20 scontrol cancel "$job" 2>/dev/null || timeout 20 scancel "$job" || true
  return 1
}

show_logs() {  # the logs of a failed step
  local f
  for f in "$@"; do
    [[ -f $f ]] || continue
    echo "--- $f"
    tail -n 40 "$f"
  done
}

# ecore-submit's key=value lines into variables (sweep_job, merge_job, report_job, results...)
submit() {
  local outf=$1
  shift
  if ! "$SLURM_DIR/ecore-submit" --ecore "$ECORE" "$CONFIG" --set "data.root=$MNIST" --quiet "$@" >"$outf"; then
    fail "ecore-submit $*"
    return 1
  fi
  cat "$outf"
}
val() { sed -n "s/^$2=//p" "$1"; }

# ---------------------------------------------------------------------------------------------
log "bringing up the cluster in $STATE"
"$SLURM_DIR/local-cluster.sh" up "$STATE" >/dev/null
# shellcheck disable=SC1091
. "$STATE/env.sh"
timeout 20 sinfo

log "0. bad input is refused at submission"
njobs() { timeout 20 squeue -h | wc -l; }
mkdir "$TMP/bad"
rc=0
(cd "$TMP/bad" && "$SLURM_DIR/ecore-submit" --ecore "$ECORE" "$CONFIG" --set ec.temprature=0.5 >out 2>err) || rc=$?
check "a config error: ecore-submit exits 2" test "$rc" = 2
check "a config error: the message points at the key" grep -q "did you mean" "$TMP/bad/err"
check "a config error: nothing submitted" test "$(njobs)" = 0
rc=0
(cd "$TMP/bad" && timeout 60 "$SLURM_DIR/ecore-submit" --ecore "$ECORE" "$CONFIG" --set "data.root=$MNIST" -n 64 >out 2>err) || rc=$?
check "an impossible request (64 tasks on a 2-CPU node) fails at submission" test "$rc" = 1
check "an impossible request: nothing pending" test "$(njobs)" = 0
rc=0
(cd "$TMP/bad" && "$SLURM_DIR/ecore-submit" --ecore "$ECORE" "$CONFIG" --mode array >out 2>err) || rc=$?
check "array mode without --shards: usage error (2)" test "$rc" = 2

log "1. reference: ${MPIRUN[*]} -np 2 ecore sweep"
mkdir "$TMP/ref"
(cd "$TMP/ref" && timeout 300 "${MPIRUN[@]}" -np 2 "$ECORE" sweep "$CONFIG" --set "data.root=$MNIST" --out ref.h5 --quiet) ||
  { fail "reference sweep"; exit 1; }
REF=$TMP/ref/ref.h5
NROWS=$(h5 count "$REF")
log "reference: $NROWS rows"
((NROWS > 0)) || { fail "reference has no rows"; exit 1; }
check "the reference has the rows its plan says" test "$NROWS" = "$(rows_of)"

log "2. array path: 2 shards, merge (afterok), report (afterok)"
mkdir "$TMP/array"
if (cd "$TMP/array" && submit ids -p local --mode array --shards 2 -n 1 --time=10); then
  ids=$TMP/array/ids
  if wait_job "$(val "$ids" report_job)" 180; then
    check "array: the merged file equals the mpirun sweep, row for row" h5 same "$(val "$ids" results)" "$REF"
    check "array: the report was written" grep -q "^$NROWS runs: $NROWS ok" "$(val "$ids" report)"
    check "array: both shard files were written" test -f "$TMP/array/slurm_mnist.shard-0-of-2.h5" -a -f "$TMP/array/slurm_mnist.shard-1-of-2.h5"
    check "array: merge job COMPLETED" test "$(job_field "$(val "$ids" merge_job)" JobState)" = COMPLETED
  else
    fail "array path did not complete"
    show_logs "$TMP"/array/slurm-logs/*
  fi
fi
log "array path done"

log "3. single MPI job: 2 tasks under srun --mpi=pmix"
mkdir "$TMP/mpi"
if (cd "$TMP/mpi" && submit ids --mode mpi -n 2 --launcher srun --no-report); then
  ids=$TMP/mpi/ids
  job=$(val "$ids" sweep_job)
  if wait_job "$job" 180; then
    check "mpi: the job ran srun --mpi=pmix" grep -q "srun --mpi=pmix" "$TMP/mpi/slurm-logs/ecore-slurm_mnist-$job.out"
    check "mpi: one MPI world of 2 ranks" test "$(h5 attr "$(val "$ids" results)" mpi_world_size)" = 2
    check "mpi: the results equal the mpirun sweep, row for row" h5 same "$(val "$ids" results)" "$REF"
  else
    fail "single MPI job did not complete"
    show_logs "$TMP"/mpi/slurm-logs/*
  fi
fi
log "single MPI job done"

log "4+5. requeue (scontrol requeue part-way) and warning signal (--time=1, 25 s margin), side by side"
SLOW=(--set train.epochs=6 --set unlearn.epochs=3)
mkdir "$TMP/requeue"
rq_ok=0
(cd "$TMP/requeue" && submit ids --mode mpi -n 1 --no-report "${SLOW[@]}") && rq_ok=1

# Slurm sends the warning signal once at most `margin + 30` s are left, checking every 30 s:
# with --time=1 and a 25 s margin, 5 to 35 s after each start, leaving at least 25 s for the
# runs in flight (each a few seconds). The first start must outlast 35 s: 4 seeds, about 45 s
# of work on one rank here; on a machine so fast that the sweep ends before the signal, try
# again with twice the seeds.
sig_seeds=4
submit_signal() {  # submit_signal ATTEMPT
  mkdir "$TMP/signal$1"
  (cd "$TMP/signal$1" && submit ids --mode mpi -n 1 --no-report --time=1 --signal-margin=25 \
    --set "sweep.seeds=[$(seq -s, 0 $((sig_seeds - 1)))]" --set train.epochs=16 --set unlearn.epochs=3)
}
sig_attempt=1
submit_signal $sig_attempt || true

if ((rq_ok)); then
  ids=$TMP/requeue/ids
  job=$(val "$ids" sweep_job)
  res=$(val "$ids" results)
  # Requeue once a few runs are in the file and more are to come.
  deadline=$(($(date +%s) + 120))
  while (($(date +%s) < deadline)) && (($(h5 count "$res") < 5)); do sleep 0.3; done
  cp "$res" "$TMP/requeue/before.h5" 2>/dev/null || true
  n_before=$(h5 count "$TMP/requeue/before.h5")
  log "requeue: scontrol requeue $job with $n_before of $NROWS rows written"
  check "requeue: part-way (some rows, not all)" test "$n_before" -gt 0 -a "$n_before" -lt "$NROWS"
  check "requeue: scontrol requeue accepted" timeout 20 scontrol requeue "$job"
  if wait_job "$job" 240; then
    check "requeue: the job ran again (Restarts >= 1)" test "$(job_field "$job" Restarts)" -ge 1
    check "requeue: every run exactly once" h5 once "$res" "$NROWS"
    check "requeue: the runs finished before the requeue were kept, not rerun" h5 kept "$TMP/requeue/before.h5" "$res"
    check "requeue: the second start resumed" grep -q "start 2" "$TMP/requeue/slurm-logs/ecore-slurm_mnist-$job.out"
  else
    fail "the requeued job did not complete"
  fi
  grep -E "^sweep.sbatch|JOB .* CANCELLED|items? done" "$TMP/requeue/slurm-logs/ecore-slurm_mnist-$job.out" || true
fi

while [[ -s $TMP/signal$sig_attempt/ids ]]; do
  ids=$TMP/signal$sig_attempt/ids
  job=$(val "$ids" sweep_job)
  [[ -n $job ]] || break
  res=$(val "$ids" results)
  out=$TMP/signal$sig_attempt/slurm-logs/ecore-slurm_mnist-$job.out
  if ! wait_job "$job" 300; then
    fail "the job with a time limit did not complete"
    show_logs "$out"
    break
  fi
  grep -E "^sweep.sbatch|JOB .* CANCELLED|items? done" "$out" || true
  if ! grep -q "SIGUSR1 at" "$out" && ((sig_attempt < 3)); then
    sig_attempt=$((sig_attempt + 1))
    sig_seeds=$((sig_seeds * 2))
    log "signal: the sweep ended before the warning signal: again with $sig_seeds seeds"
    submit_signal $sig_attempt || break
    continue
  fi
  check "signal: SIGUSR1 from Slurm before the time limit reached the job" grep -q "SIGUSR1 at" "$out"
  check "signal: the sweep stopped with exit code 4" grep -q "ecore sweep exited 4" "$out"
  check "signal: the job requeued itself and ran again" grep -q "requeued job $job" "$out"
  check "signal: the last start finished the sweep" grep -q "ecore sweep exited 0" "$out"
  check "signal: every run exactly once" h5 once "$res" "$(rows_of --set "sweep.seeds=[$(seq -s, 0 $((sig_seeds - 1)))]")"
  break
done
log "requeue and signal done"

if ((failures)); then
  echo "slurm end-to-end: $failures check(s) failed"
  exit 1
fi
echo "slurm end-to-end: all checks passed"
