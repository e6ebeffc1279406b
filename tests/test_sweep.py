#!/usr/bin/python3
"""End-to-end sweeps with the real ecore binary, checked through h5py.

  test_sweep.py ECORE CONFIG MPIRUN [MPIRUN ARGS...]

1. The same sweep at 1, 2 and 4 ranks (ranks_per_run 1), and as one process without mpirun,
   gives identical rows; with ranks_per_run 2 the same runs, statuses, and metrics within
   float tolerance.
2. A sweep killed with SIGKILL part-way, then rerun, ends with every run exactly once, and the
   runs finished before the kill are not rerun (their rows are unchanged).
3. Two shards merged with `ecore merge` equal the unsharded sweep, row for row.
4. The results file has the documented columns with the right types.
5. A sweep killed while training its original model resumes that training from the last
   epoch checkpoint (train.checkpoint_every) and ends with the rows of an uninterrupted sweep.
6. Bad input: a config error exits 2 and writes nothing; a results file of another sweep is
   refused (exit 2, naming the setting that differs) and left as it was.
7. Every row names how it was computed (version, commit, hosts, ranks, BLAS) and the original
   and retrained models it was measured against: their fingerprints equal the SHA-256 recipe
   of solver/fingerprint.c applied to the cached checkpoints, the original and retrain rows name
   the models the other rows of their seed name, and `ecore report` refuses a file in which a
   run names another model than the rest of its seed.
8. Every row carries only its own trace: with 2 groups, a group that ran an unlearning run
   and then evaluates a retrained or original model gives those rows no trace entries.
Exit 77 (skipped) when /usr/bin/python3 has no h5py.
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import h5py
    import numpy as np
except ImportError:
    print("SKIPPED: /usr/bin/python3 has no h5py/numpy (apt-get install python3-h5py)")
    sys.exit(77)

ECORE, CONFIG, MPIRUN = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3:]
SCALARS = ["forget_acc", "retain_acc", "test_retain_acc", "test_forget_acc", "mia_efficacy",
           "avg_gap"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAILED:", what, flush=True)


def sweep(cwd, np_, *extra, rpr=1, check_rc=True):
    """np_ 0: one process, without mpirun."""
    launch = MPIRUN + ["-np", str(np_)] if np_ else []
    cmd = launch + [ECORE, "sweep", CONFIG, "--quiet",
                    "--set", f"sweep.ranks_per_run={rpr}"] + list(extra)
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if check_rc and p.returncode != 0:
        print(p.stdout, p.stderr)
    if check_rc:
        check(p.returncode == 0, f"sweep {' '.join(extra)} at {np_} ranks exited {p.returncode}")
    return p


def rows(path):
    """The latest row of each run_id: {run_id: (status, scalars, cka_original row)}. Opened for
    SWMR reading, as a file being written, or whose writer was killed mid-append, must be."""
    with h5py.File(path, "r", swmr=True) as f:
        runs = f["runs"][:]
        cka = f["cka_original"][:len(runs)]
    out = {}
    for i, r in enumerate(runs):
        out[r["run_id"].decode()] = (r["status"].decode(), tuple(float(r[k]) for k in SCALARS),
                                     tuple(float(x) for x in cka[i]))
    return out, len(runs)


def fingerprint(ckpt):
    """The fingerprint of a checkpoint, as solver/fingerprint.c defines it."""
    h = hashlib.sha256()
    with h5py.File(ckpt, "r") as f:
        for k in sorted(f["params"]):
            h.update(k.encode() + b"\0" + f["params"][k][()].astype("<f4").tobytes())
    return h.hexdigest()[:16]


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def report_rc(path):
    p = subprocess.run([ECORE, "report", path], capture_output=True, text=True)
    return p.returncode, p.stderr


def same(a, b, tol):
    if a.keys() != b.keys():
        return False
    for k in a:
        if a[k][0] != b[k][0]:
            return False
        for x, y in zip(a[k][1] + a[k][2], b[k][1] + b[k][2]):
            if np.isnan(x) != np.isnan(y) or (not np.isnan(x) and abs(x - y) > tol):
                return False
    return True


def kill_sweep(p, cwd):
    """SIGKILLs the mpirun process group and any ecore rank left running in cwd (a rank that
    outlived its launcher would go on writing the results file beside the rerun)."""
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    real = os.path.realpath(cwd)
    deadline = time.time() + 30
    while time.time() < deadline:
        left = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.path.realpath(f"/proc/{pid}/cwd") == real:
                    left.append(int(pid))
            except OSError:
                continue
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)


def test_ranks(tmp):
    results = {}
    for np_, rpr in ((1, 1), (0, 1), (2, 1), (4, 1), (4, 2)):
        d = os.path.join(tmp, f"ranks{np_}_{rpr}")
        os.makedirs(d)
        sweep(d, np_, rpr=rpr)
        results[(np_, rpr)], n = rows(os.path.join(d, "tiny.h5"))
        check(n == len(results[(np_, rpr)]), f"{np_} ranks: duplicated rows")
    ref = results[(1, 1)]
    check(len(ref) == 14, f"expected 10 runs + an original and a retrain row per seed, got {len(ref)} rows")
    check(all(v[0] == "ok" for v in ref.values()), "some runs failed at 1 rank")
    check(same(results[(0, 1)], ref, 0), "one process without mpirun differs from 1 rank")
    check(same(results[(2, 1)], ref, 0), "2 ranks (1 per run) differ from 1 rank")
    check(same(results[(4, 1)], ref, 0), "4 ranks (1 per run) differ from 1 rank")
    # Two ranks per run: the same training up to float rounding; accuracies may flip a sample.
    check(same(results[(4, 2)], ref, 0.05), "4 ranks (2 per run) differ from 1 rank")
    return ref


def test_kill_and_resume(tmp):
    d = os.path.join(tmp, "kill")
    os.makedirs(d)
    path = os.path.join(d, "tiny.h5")
    # Slower runs, so that the kill lands in the middle.
    slow = ["--set", "train.epochs=6", "--set", "unlearn.epochs=3"]
    cmd = MPIRUN + ["-np", "2", ECORE, "sweep", CONFIG, "--quiet"] + slow
    p = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.time() + 300
    before = {}
    while time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
        if os.path.exists(path):
            try:
                before, _ = rows(path)
            except (OSError, KeyError):
                continue  # being replaced right now
            if len(before) >= 4:
                break
    kill_sweep(p, d)
    check(p.returncode != 0, "the sweep ended before it could be killed: make it slower")
    before, _ = rows(path)  # readable after the kill
    print(f"killed with {len(before)} rows in the file", flush=True)
    check(len(before) >= 4, "too few rows before the kill")
    q = sweep(d, 2, *slow)
    after, n = rows(path)
    check(n == len(after), f"rows duplicated after resume: {n} rows for {len(after)} runs")
    check(len(after) == 14, f"resumed sweep has {len(after)} rows, expected 14")
    check(all(v[0] == "ok" for v in after.values()), "failed runs after resume")
    for k, v in before.items():
        if v[0] == "ok":
            check(after[k] == v, f"run {k} finished before the kill was changed by the rerun")
    return q


def test_shards(tmp, ref):
    d = os.path.join(tmp, "shards")
    os.makedirs(d)
    for i in range(2):
        # Separate caches: each shard trains what it needs itself.
        sweep(d, 1, "--shard", f"{i}/2", "--out", f"shard{i}.h5", "--set",
              f"output.cache_dir=cache{i}")
    m = subprocess.run([ECORE, "merge", "merged.h5", "shard0.h5", "shard1.h5"], cwd=d,
                       capture_output=True, text=True)
    check(m.returncode == 0, f"merge failed: {m.stderr}")
    merged, n = rows(os.path.join(d, "merged.h5"))
    check(same(merged, ref, 0), "shards merged differ from the unsharded sweep")
    # Each shard trained the models it needed in its own cache, to the same bits: the merged
    # file names one original and one retrained model per seed, and reports.
    rc, err = report_rc(os.path.join(d, "merged.h5"))
    check(rc == 0, f"report of the merged shards exited {rc}: {err}")
    a, _ = rows(os.path.join(d, "shard0.h5"))
    b, _ = rows(os.path.join(d, "shard1.h5"))
    check(a.keys().isdisjoint(b.keys()), "shards share rows")


def test_columns(path):
    with h5py.File(path, "r") as f:
        runs = f["runs"]
        names = runs.dtype.names
        for col in ["run_id", "method", "ec", "seed", "status", "forget_acc", "retain_acc",
                    "test_retain_acc", "test_forget_acc", "mia_efficacy", "avg_gap", "wall_s",
                    "unlearn.method", "ec.enabled"]:
            check(col in names, f"/runs has no column {col}")
        check(runs.dtype["ec"].kind == "i" and runs.dtype["seed"].kind == "i", "ec/seed not ints")
        check(runs.dtype["forget_acc"].kind == "f", "forget_acc not float")
        check(runs.dtype["method"].kind == "S", "method not a string")
        r = runs[:]
        for col in ["forget_acc", "retain_acc", "test_retain_acc"]:
            check(np.all((r[col] >= 0) & (r[col] <= 1)), f"{col} outside [0, 1]")
        methods = set(x.decode() for x in r["method"])
        check({"original", "retrain", "none", "ft", "ga"} <= methods, f"methods: {methods}")
        for ds in ["cka_original", "cka_retrain", "knn_forget_acc"]:
            check(f[ds].shape == (len(r), 4), f"{ds} shape {f[ds].shape}")
            check(list(x.decode() if isinstance(x, bytes) else x for x in f[ds].attrs["points"])
                  == ["layer1", "layer2", "layer3", "layer4"], f"{ds} points")
        orig = r["method"] == b"original"
        check(np.allclose(f["cka_original"][:][orig], 1.0, atol=1e-6),
              "CKA of the original with itself is not 1")
        # The training trace: every unlearning run has one entry per epoch for the whole model,
        # EC runs one more per epoch and supervision point; `row` points at the run's row.
        t = f["trace"][:]
        t = t[t["row"] >= 0]  # filler entries (row -1) of appends in place
        check(np.all(r["run_id"][t["row"]] == t["run_id"]), "/trace rows do not align with /runs")
        runs_ec = set(r["run_id"][(r["ec"] == 1) & (r["status"] == b"ok")])
        ec_points = t[np.isin(t["run_id"], list(runs_ec)) & (t["point"] != b"")]
        check(len(runs_ec) > 0 and set(ec_points["run_id"]) == runs_ec,
              "EC runs without per-point trace entries")
        check(set(ec_points["point"]) == {b"layer1", b"layer2", b"layer3", b"layer4"},
              f"trace points {set(ec_points['point'])}")
        check(np.all((ec_points["spread"] >= 0) & (ec_points["spread"] <= 1)), "spread outside [0,1]")
        check(np.all(np.abs(ec_points["cos_fr"]) <= 1 + 1e-9), "cos_fr outside [-1,1]")
        model_rows = t[t["point"] == b""]
        check(np.all(np.isfinite(model_rows["loss"])), "trace loss not finite")
        check(not np.any(np.isin(t["run_id"], r["run_id"][np.isin(r["method"], [b"original", b"retrain"])])),
              "original/retrain rows have unlearning trace entries")
        check("given" in f["config"] and "expanded" in f["config"], "/config incomplete")
        for a in ["sweep_id", "ecore_version", "git_commit", "created", "mpi_world_size", "hosts",
                  "compute"]:
            check(a in f.attrs, f"root attribute {a} missing")
        compute = f.attrs["compute"]
        compute = compute.decode() if isinstance(compute, bytes) else compute
        check("rank(s) per run" in compute and "OPENBLAS_CORETYPE" in compute,
              f"compute attribute: {compute}")
        # Which axes the retrained reference depends on, for the report: neither
        # unlearn.method nor ec.enabled changes the retrained model.
        check("reference_axes" in f.attrs and len(f.attrs["reference_axes"]) == 0,
              f"reference_axes {f.attrs.get('reference_axes')}")
        test_provenance(f, r, os.path.join(os.path.dirname(path), "cache"), ranks=1)


def test_provenance(f, r, cache, ranks):
    """Rows of a finished sweep: how they were computed, and which models (checked against the
    cached checkpoints, with hashlib)."""
    for col, kind in [("ecore_version", "S"), ("git_commit", "S"), ("hosts", "S"), ("ranks", "i"),
                      ("blas", "S"), ("blas_kernel", "S"), ("blas_threads", "i"),
                      ("original_fingerprint", "S"), ("retrain_fingerprint", "S")]:
        check(col in r.dtype.names and r.dtype[col].kind == kind, f"/runs column {col} ({kind})")
    hosts = set(text(f.attrs["hosts"]).split(","))
    compute = text(f.attrs["compute"])
    for row in r:
        rid = row["run_id"].decode()
        check(row["ecore_version"].decode() == text(f.attrs["ecore_version"]), f"{rid}: version")
        check(row["git_commit"].decode() == text(f.attrs["git_commit"]), f"{rid}: git_commit")
        check(set(row["hosts"].decode().split(",")) <= hosts, f"{rid}: hosts {row['hosts']}")
        check(row["ranks"] == ranks, f"{rid}: ranks {row['ranks']}, not {ranks}")
        check(row["blas_threads"] >= 1, f"{rid}: blas_threads {row['blas_threads']}")
        kernel = row["blas_kernel"].decode()
        check(bool(kernel) and f"kernel {kernel};" in compute, f"{rid}: kernel {kernel} ({compute})")
        check(row["blas"].decode() in compute, f"{rid}: blas {row['blas']}")
        for col in ["original_fingerprint", "retrain_fingerprint"]:
            check(re.fullmatch(r"[0-9a-f]{16}", row[col].decode()) is not None, f"{rid}: {col}")
    # The original and retrain rows name their own models, those of the cache, and every row
    # of their seed (the tiny sweep has no reference axes) names the same ones.
    originals = {fingerprint(os.path.join(cache, c)) for c in os.listdir(cache)
                 if re.fullmatch(r"original-[0-9a-f]+\.h5", c)}
    for method, col in [("original", "original_fingerprint"), ("retrain", "retrain_fingerprint")]:
        own = r[r["method"] == method.encode()]
        check(len(own) == 2, f"{len(own)} {method} rows")
        for row in own:
            rid = row["run_id"].decode()  # original-<retrain job id> or retrain-<its id>
            want = row[col].decode()
            if method == "retrain":
                ckpt = os.path.join(cache, f"{rid}.h5")
                check(fingerprint(ckpt) == want, f"{rid}: {col} {want} is not its checkpoint's")
            else:
                check(want in originals, f"{rid}: {col} {want} is no cached original's {originals}")
            names = set(x.decode() for x in r[r["seed"] == row["seed"]][col])
            check(names == {want}, f"seed {row['seed']}: rows name {names}, the {method} row {want}")


def test_mixed_models(tmp, ref_file):
    """A file in which one run was measured against another retrained model than the rest of
    its seed: `ecore report` refuses it (exit 2), naming the run and both fingerprints."""
    path = os.path.join(tmp, "mixed.h5")
    shutil.copy(ref_file, path)
    with h5py.File(path, "r+") as f:
        r = f["runs"][:]
        i = int(np.flatnonzero(r["method"] == b"ft")[0])
        old = r["retrain_fingerprint"][i].decode()
        r["retrain_fingerprint"][i] = b"0123456789abcdef"
        f["runs"][:] = r
        rid = r["run_id"][i].decode()
    rc, err = report_rc(path)
    check(rc == 2 and rid in err and old in err and "0123456789abcdef" in err,
          f"report of a file mixing retrained models: exit {rc}: {err}")
    rc, err = report_rc(ref_file)
    check(rc == 0, f"report of the sweep's file exited {rc}: {err}")


def test_resume_training(tmp):
    long_train = ["--set", "train.epochs=60", "--set", "data.synthetic.train_per_class=80"]
    ref_dir = os.path.join(tmp, "train_ref")
    os.makedirs(ref_dir)
    sweep(ref_dir, 1, *long_train)
    ref, _ = rows(os.path.join(ref_dir, "tiny.h5"))
    d = os.path.join(tmp, "train_kill")
    os.makedirs(d)
    cmd = MPIRUN + ["-np", "1", ECORE, "sweep", CONFIG, "--quiet"] + long_train
    p = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    cache = os.path.join(d, "cache")
    deadline = time.time() + 120
    partial = []
    while time.time() < deadline and p.poll() is None and not partial:
        time.sleep(0.02)
        if os.path.isdir(cache):
            partial = [f for f in os.listdir(cache) if f.endswith(".partial.h5")]
    time.sleep(0.05)  # an epoch or so more; longer, and the training may end before the kill
    kill_sweep(p, d)
    check(bool(partial), "no partial checkpoint appeared while training")
    q = subprocess.run(MPIRUN + ["-np", "1", ECORE, "sweep", CONFIG] + long_train, cwd=d,
                       capture_output=True, text=True, timeout=600)
    check(q.returncode == 0, f"resumed sweep exited {q.returncode}: {q.stderr}")
    check("resuming after epoch" in q.stdout, "the rerun did not resume the training")
    after, _ = rows(os.path.join(d, "tiny.h5"))
    ok = same(after, ref, 0)
    if not ok:
        for k in sorted(set(after) | set(ref)):
            if after.get(k) != ref.get(k):
                print("differs:", k, after.get(k), ref.get(k))
    check(ok, "resumed training gives other rows than an uninterrupted one")
    left = [f for f in os.listdir(cache) if f.endswith(".partial.h5")]
    check(not left, f"partial checkpoints left behind: {left}")


def test_trace_per_item(tmp):
    """Two originals, one fast and one slow (train.epochs 1 and 150), EC alone on each, on 2
    groups. One group trains the slow original; the other does the fast one's whole chain (its
    EC modules, retraining, original row and run) and waits. When the slow training ends, its
    group takes the EC pretraining (the first item then ready, and slow here), so the waiting
    group, which ran the EC run last, takes the retraining and then the original row: rows
    that must carry no trace entries, not that run's."""
    d = os.path.join(tmp, "trace")
    os.makedirs(d)
    sweep(d, 2, "--set", "sweep.grid={train.epochs: [1, 150]}", "--set", "sweep.seeds=[0]",
          "--set", "ec.pretrain.epochs=60", "--set", "data.synthetic.train_per_class=100")
    with h5py.File(os.path.join(d, "tiny.h5"), "r") as f:
        r, t = f["runs"][:], f["trace"][:]
    n_entries = {m: int(np.isin(t["row"], np.flatnonzero(r["method"] == m)).sum())
                 for m in (b"original", b"retrain", b"none")}
    check(len(r) == 6 and n_entries[b"none"] > 0, f"trace sweep: {len(r)} rows, {n_entries}")
    check(n_entries[b"original"] == 0 and n_entries[b"retrain"] == 0,
          f"original/retrain rows carry an unlearning run's trace: {n_entries}")


def test_bad_input(tmp, ref_file):
    d = os.path.join(tmp, "bad")
    os.makedirs(d)
    p = subprocess.run([ECORE, "sweep", CONFIG, "--set", "ec.temprature=0.5"], cwd=d,
                       capture_output=True, text=True)
    check(p.returncode == 2, f"unknown key: exit {p.returncode}")
    check("did you mean" in p.stderr, f"no suggestion: {p.stderr}")
    check(os.listdir(d) == [], f"a config error wrote files: {os.listdir(d)}")
    # A results file of another sweep (a shared setting differs) is refused, naming the
    # setting and both values, and left as it was.
    shutil.copy(ref_file, os.path.join(d, "tiny.h5"))
    before = open(os.path.join(d, "tiny.h5"), "rb").read()
    p = subprocess.run([ECORE, "sweep", CONFIG, "--set", "forget.classes=[2]"], cwd=d,
                       capture_output=True, text=True)
    check(p.returncode == 2 and "forget.classes is [1] in tiny.h5 but [2] in" in p.stderr,
          f"other sweep's file: exit {p.returncode} ({p.stderr})")
    check(open(os.path.join(d, "tiny.h5"), "rb").read() == before, "other sweep's file changed")


def test_rerun_without_cache(tmp, ref_file):
    """A finished sweep rerun without its cache does nothing: no model is trained again and no
    row (the retrained model's included) is appended twice. A partial one, its cache lost,
    trains only what its remaining runs need and records every run once."""
    d = os.path.join(tmp, "nocache")
    os.makedirs(d)
    path = os.path.join(d, "tiny.h5")
    shutil.copy(ref_file, path)
    before = open(path, "rb").read()
    sweep(d, 2, "--set", "output.cache_dir=fresh_cache")
    check(open(path, "rb").read() == before, "rerunning a finished sweep changed its file")
    check(not os.path.exists(os.path.join(d, "fresh_cache")), "models were trained again")
    # Killed halfway, cache deleted, resumed: 14 runs, each recorded once.
    d = os.path.join(tmp, "nocache_partial")
    os.makedirs(d)
    path = os.path.join(d, "tiny.h5")
    slow = ["--set", "train.epochs=6", "--set", "unlearn.epochs=3"]
    p = subprocess.Popen(MPIRUN + ["-np", "2", ECORE, "sweep", CONFIG, "--quiet"] + slow, cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
        try:
            if os.path.exists(path) and len(rows(path)[0]) >= 4:
                break
        except (OSError, KeyError):
            continue
    kill_sweep(p, d)
    old, _ = rows(path)
    shutil.rmtree(os.path.join(d, "cache"), ignore_errors=True)
    sweep(d, 2, *slow)
    new, n = rows(path)
    check(n == len(new) == 14, f"after the rerun without cache: {n} rows for {len(new)} runs")
    # The models trained again are the same bits: rows before and after name the same ones.
    rc, err = report_rc(path)
    check(rc == 0, f"report after the rerun without cache exited {rc}: {err}")
    check(all(new[k] == v for k, v in old.items() if v[0] == "ok"), "rows that were done changed")


def main():
    tmp = tempfile.mkdtemp(prefix="ecore_sweep_")
    try:
        ref = test_ranks(tmp)
        ref_file = os.path.join(tmp, "ranks1_1", "tiny.h5")
        test_columns(ref_file)
        with h5py.File(os.path.join(tmp, "ranks4_2", "tiny.h5"), "r") as f:
            test_provenance(f, f["runs"][:], os.path.join(tmp, "ranks4_2", "cache"), ranks=2)
        test_mixed_models(tmp, ref_file)
        test_shards(tmp, ref)
        test_kill_and_resume(tmp)
        test_resume_training(tmp)
        test_trace_per_item(tmp)
        test_bad_input(tmp, ref_file)
        test_rerun_without_cache(tmp, ref_file)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("sweep end-to-end: " + (f"{len(failures)} check(s) failed" if failures else "all checks passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
