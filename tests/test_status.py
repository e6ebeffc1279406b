#!/usr/bin/python3
"""`ecore status` on a partial sweep, checked against numbers set by hand.

  test_status.py ECORE CONFIG MPIRUN [MPIRUN ARGS...]

1. A sweep of CONFIG (tiny.yaml, its base method run for 2 epochs) at 2 ranks, then made
   partial through h5py as an interrupted sweep with a failure leaves it: the rows of ft+EC
   seed 1, ga and ga+EC go, ft seed 1's row says it failed, EC's pretrained modules leave the
   cache; every remaining row gets a known wall_s and the original's training a known time.
   status must give the counts per kind, the failure with its reason, and the ETA worked out
   here by the documented rule (means per kind, epochs for kinds not measured, 2 groups).
2. What status says a resume runs is what `ecore sweep` then says it has to do, and the
   sweep's progress lines give the ETA status's rule gives; status keeps answering while that
   sweep writes the file, and after it says nothing is left.
3. A config that adds a seed counts the new runs; a config of another sweep, a file that is
   not a results file, and bad arguments exit 2. A file whose /config/expanded no longer gives
   its sweep is counted from /config/given; with neither, status says why for each (exit 2).
Exit 77 (skipped) when /usr/bin/python3 has no h5py.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
except ImportError:
    print("SKIPPED: /usr/bin/python3 has no h5py/numpy (apt-get install python3-h5py)")
    sys.exit(77)

ECORE, CONFIG, MPIRUN = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3:]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAILED:", what, flush=True)


def status(cwd, *args):
    return subprocess.run([ECORE, "status"] + list(args), cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def table(out):
    """{kind: (done, failed, to_do, measured, mean, left)} from status's table."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r"(\S+(?: \(\S+\))?)\s+(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)", line)
        if m and m.group(1) != "kind":
            rows[m.group(1)] = tuple(m.group(i) for i in range(2, 8))
    return rows


def make_partial(path, cache):
    """Drops rows, fails one, sets known wall times; returns the run ids by (method, ec, seed)."""
    with h5py.File(path, "r+") as f:
        runs = f["runs"][:]
        key = [(r["method"].decode(), int(r["ec"]), int(r["seed"])) for r in runs]
        drop = {("ft", 1, 1), ("ga", 0, 0), ("ga", 0, 1), ("ga", 1, 0), ("ga", 1, 1)}
        keep = np.array([k not in drop for k in key])
        wall = {"retrain": 10.0, "original": 1.0, "none": 3.0, "ft": 2.0, "ga": 99.0}  # ga: dropped
        for i, (m, ec, s) in enumerate(key):
            runs[i]["wall_s"] = 4.0 if (m, ec) == ("ft", 1) else wall[m]
            if (m, ec, s) == ("ft", 0, 1):
                runs[i]["status"] = b"failed: forced by test_status"
        new_index = np.cumsum(keep) - 1
        n = int(keep.sum())
        f["runs"].resize((n,))
        f["runs"][...] = runs[keep]
        for name in ["cka_original", "cka_retrain", "knn_forget_acc"]:
            a = f[name][:]
            f[name].resize((n, a.shape[1]))
            f[name][...] = a[keep]
        if "trace" in f:
            t = f["trace"][:]
            t = t[keep[t["row"]]]
            t["row"] = new_index[t["row"]]
            f["trace"].resize((len(t),))
            f["trace"][...] = t
        ids = {k: r["run_id"].decode() for k, r in zip(key, runs)}
    for name in os.listdir(cache):
        if name.startswith("ec_modules-"):
            os.remove(os.path.join(cache, name))
        elif name.startswith("original-") and name.endswith(".wall_s"):
            with open(os.path.join(cache, name), "w") as w:
                w.write("wall_s=20\n")
    return ids


def test_partial(tmp):
    cfg = os.path.join(tmp, "tiny2.yaml")
    text = open(CONFIG).read().replace("unlearn: {method: none, epochs: 1,",
                                       "unlearn: {method: none, epochs: 2,")
    check(text != open(CONFIG).read(), "the test config sets unlearn.epochs 2")
    open(cfg, "w").write(text)
    p = subprocess.run(MPIRUN + ["-np", "2", ECORE, "sweep", cfg, "--quiet"], cwd=tmp,
                       capture_output=True, text=True, timeout=600)
    check(p.returncode == 0, f"sweep exited {p.returncode}: {p.stderr}")
    path, cache = os.path.join(tmp, "tiny.h5"), os.path.join(tmp, "cache")
    ids = make_partial(path, cache)

    s = status(tmp, "tiny.h5")
    print(s.stdout, s.stderr)
    check(s.returncode == 0, f"status exited {s.returncode}")
    t = table(s.stdout)
    # Known walls: original training 20 s (2 epochs), retrain rows 10, original rows 1,
    # none+EC 3 (ec.epochs 1), ft 2 and ft+EC 4 (unlearn.epochs 2); ft seed 1 failed.
    expect = {
        "original (train)": ("2", "-", "0", "2", "20.00", "-"),
        # not measured (cache emptied): pretrain epochs 1 x 20 s / 2 training epochs, each
        "ec_modules (pretrain)": ("0", "-", "2", "0", "-", "20.00"),
        "retrain (train+eval)": ("2", "0", "0", "2", "10.00", "-"),
        "original (eval)": ("2", "0", "0", "2", "1.00", "-"),
        "none+EC": ("2", "0", "0", "2", "3.00", "-"),
        "ft": ("1", "1", "0", "1", "2.00", "2.00"),
        "ft+EC": ("1", "0", "1", "1", "4.00", "4.00"),
        # not measured: 2 epochs x (3+3+2+4 s)/(1+1+2+2 epochs) = 4 s, each of 2
        "ga": ("0", "0", "2", "0", "-", "8.00"),
        "ga+EC": ("0", "0", "2", "0", "-", "8.00"),
    }
    for k, v in expect.items():
        check(t.get(k) == v, f"status row {k}: {t.get(k)}, expected {v}")
    check("overall: 10 done, 1 failed, 7 to do: a resume runs 8 item(s)" in s.stdout,
          "overall counts")
    check(re.search(ids[("ft", 0, 1)] + r"  ft seed 1: failed: forced by test_status",
                    s.stdout) is not None, "the failure with its run id and reason")
    # 20 + 2 + 4 + 8 + 8 = 42 s of work over 2 groups (2 ranks, 1 per run)
    check("ETA ~21s (21.0 s): 42s (42.0 s) of work over 2 parallel group(s) (2 MPI rank(s) "
          "when the file was created / 1 per run)" in s.stdout, "the ETA and its basis")

    # A resume runs what status said; status answers while it writes the file.
    sw = subprocess.Popen(MPIRUN + ["-np", "2", ECORE, "sweep", cfg], cwd=tmp,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    polls = []
    while sw.poll() is None:
        polls.append(status(tmp, "tiny.h5").returncode)
    out = sw.communicate()[0]
    check(sw.returncode == 0, f"the resume exited {sw.returncode}: {out}")
    check(re.search(r"items \(8 to do\)", out) is not None, f"the resume's to-do: {out[:300]}")
    check(all(rc == 0 for rc in polls), f"status during the sweep exited {polls}")
    # The resume's progress lines estimate by the same rule. After the first item (an EC
    # pretraining, measured at its real, tiny time) 7 are left: the other pretraining (as the
    # first), ft 2 s, ft+EC 4 s, and ga, ga+EC 4 s each, borrowed (2 epochs x 2 s per epoch
    # of the measured runs): 22 s of work over 2 groups.
    lines = [line for line in out.splitlines() if line.startswith("[")]
    check(len(lines) == 8 and lines[0].startswith("[ 11/18] ec_modules")
          and lines[0].endswith(", ~11s left, 4 of 7 item(s) borrowed]"),
          f"the resume's first progress line: {lines[:1]}")
    check(len(lines) == 8 and re.search(r"\[[0-9]+s\]$", lines[-1]) is not None,
          f"the last progress line has no ETA: {lines[-1:]}")
    s = status(tmp, "tiny.h5", cfg)
    check(s.returncode == 0 and "nothing left to run" in s.stdout and
          "18 done, 0 failed, 0 to do" in s.stdout, f"after the resume: {s.stdout}")
    return cfg


def test_configs_and_errors(tmp, cfg):
    more = os.path.join(tmp, "more.yaml")
    open(more, "w").write(open(cfg).read().replace("seeds: [0, 1]", "seeds: [0, 1, 2]"))
    s = status(tmp, "tiny.h5", more)
    check(s.returncode == 0 and "(adds 5 runs to it)" in s.stdout and
          "18 done, 0 failed, 9 to do" in s.stdout, f"an extended config: {s.stdout}{s.stderr}")
    other = os.path.join(tmp, "other.yaml")
    open(other, "w").write(open(cfg).read().replace("classes: [1]", "classes: [2]"))
    s = status(tmp, "tiny.h5", other)
    check(s.returncode == 2 and "different sweeps: forget.classes is [1] in tiny.h5 but [2]"
          in s.stderr, f"another sweep: {s.stderr}")
    # The stored config: /config/given serves when /config/expanded gives another sweep; when
    # neither gives the file's sweep, status says why for each and exits 2.
    alt = os.path.join(tmp, "alt.h5")
    shutil.copy(os.path.join(tmp, "tiny.h5"), alt)
    with h5py.File(alt, "r+") as f:
        text = f["config/expanded"].asstr()[()]
        check("lr: 0.05" in text, "the stored expanded config has lr: 0.05")
        del f["config/expanded"]
        f["config"].create_dataset("expanded", data=text.replace("lr: 0.05", "lr: 0.07"),
                                    dtype=h5py.string_dtype())
    s = status(tmp, "alt.h5")
    check(s.returncode == 0 and "config: the file's /config/given" in s.stdout and
          "18 done, 0 failed, 0 to do" in s.stdout, f"expanded config changed: {s.stdout}{s.stderr}")
    with h5py.File(alt, "r+") as f:
        del f["config/given"]
        f["config"].create_dataset("given", data="bogus_key: 1\n", dtype=h5py.string_dtype())
    s = status(tmp, "alt.h5")
    check(s.returncode == 2 and "/config/expanded gives sweep" in s.stderr and
          "alt.h5:/config/given:1:1" in s.stderr and "bogus_key" in s.stderr and
          "give the sweep's config" in s.stderr, f"no stored config of the sweep: {s.stderr}")
    open(os.path.join(tmp, "junk.h5"), "w").write("not hdf5")
    s = status(tmp, "junk.h5")
    check(s.returncode == 2 and "not an HDF5 file" in s.stderr, f"junk file: {s.stderr}")
    for args, what in [((), "missing"), (("a", "b", "c"), "unexpected argument 'c'"),
                       (("--bogus",), "unknown option")]:
        s = status(tmp, *args)
        check(s.returncode == 2 and what in s.stderr, f"status {args}: {s.stderr}")
    s = status(tmp, "--help")
    check(s.returncode == 0 and "usage: ecore status" in s.stdout, "--help")


def main():
    tmp = tempfile.mkdtemp(prefix="ecore_status_")
    try:
        cfg = test_partial(tmp)
        test_configs_and_errors(tmp, cfg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("status: " + (f"{len(failures)} check(s) failed" if failures else "all checks passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
