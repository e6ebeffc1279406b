#!/usr/bin/python3
"""`ecore export` and scripts/ecore_results.py on a real small sweep's file.

  test_export.py ECORE CONFIG

1. A sweep of CONFIG (tiny.yaml) with axes of every type (string, bool, float, int), and a
   superseded row added with h5py (a run rerun: its latest row, with a status that needs CSV
   quoting, must win).
2. `ecore export` as CSV and as JSON lines, and load(), agree value for value (floats exactly),
   on the latest row of each run_id; load(path, ecore=...) has export's columns in its order.
3. Types: axes and settings typed by their keys, method/ec not repeated as unlearn.method /
   ec.enabled, strings str, per-point columns; resolved settings (ft's usual unlearn.lr);
   models' rows without unlearning settings.
4. A file from before axis_types reads the same (types inferred); a file whose stored config
   makes another sweep exports without settings and warns; bad input exits 2 and changes
   nothing.
Exit 77 (skipped) when /usr/bin/python3 lacks h5py or pandas.
"""
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import pandas as pd
except ImportError:
    print("SKIPPED: /usr/bin/python3 has no h5py/numpy/pandas")
    sys.exit(77)

ECORE, CONFIG = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import ecore_results  # noqa: E402

failures = []
BAD_STATUS = 'failed: a, "quoted"\nreason'


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAILED:", what, flush=True)


def run(*args, rc=0):
    p = subprocess.run([ECORE, *args], capture_output=True, text=True, timeout=300)
    check(p.returncode == rc, f"ecore {' '.join(args)} exited {p.returncode}, not {rc}: {p.stderr}")
    return p


def missing(v):
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def same(a, b):
    if missing(a) or missing(b):
        return missing(a) and missing(b)
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return isinstance(a, (bool, np.bool_)) and isinstance(b, (bool, np.bool_)) and a == b
    return a == b and type(a) is not str or (isinstance(a, str) and a == b)


def add_superseded_row(path):
    """Appends to /runs (and the per-point datasets) a later row of the first ft run, failed."""
    with h5py.File(path, "r+") as f:
        runs = f["runs"]
        i = [k for k, m in enumerate(runs["method"]) if m == b"ft"][0]
        row = runs[i:i + 1].copy()
        row["status"] = BAD_STATUS.encode()
        row["forget_acc"] = 0.123456789
        n = runs.shape[0]
        runs.resize((n + 1,))
        runs[n] = row[0]
        for c in ecore_results.CURVES:
            d = f[c]
            d.resize((n + 1, d.shape[1]))
            d[n] = np.full(d.shape[1], np.nan)
        return row["run_id"][0].decode()


def compare(df, records, what):
    check(len(df) == len(records), f"{what}: {len(df)} rows, export {len(records)}")
    for col in df.columns:
        check(col in records[0], f"{what}: column {col} not in the export")
    for i, rec in enumerate(records):
        for col in df.columns:
            a, b = df[col].iloc[i], rec.get(col)
            if isinstance(a, np.generic):
                a = a.item()
            if not same(a, b):
                check(False, f"{what}: run {rec['run_id']} column {col}: {a!r} vs export {b!r}")
                return


def main():
    tmp = tempfile.mkdtemp(prefix="ecore-export-")
    try:
        grid = ("sweep.grid={unlearn.method: [none, ft], ec.enabled: [false, true], "
                "ec.temperature: [0.5, 1], unlearn.epochs: [1, 2], ec.detach_retain: [true, false]}")
        p = subprocess.run([ECORE, "sweep", CONFIG, "--quiet", "--set", grid, "--set",
                            "sweep.seeds=[0]"], cwd=tmp, capture_output=True, text=True,
                           timeout=300)
        check(p.returncode == 0, f"sweep exited {p.returncode}: {p.stderr}")
        h5 = os.path.join(tmp, "tiny.h5")
        rerun_id = add_superseded_row(h5)

        jsonl = run("export", h5, "--format", "jsonl").stdout
        records = [json.loads(line) for line in jsonl.splitlines()]
        csv_path = os.path.join(tmp, "out.csv")
        run("export", h5, "--output", csv_path)
        # Text columns as text: a commit or hex id such as 38e0162 reads as a number otherwise.
        text = {k for r in records for k, v in r.items() if isinstance(v, str)}
        csv = pd.read_csv(csv_path, float_precision="round_trip", keep_default_na=False,
                          na_values=[""], dtype={k: str for k in text})
        df = ecore_results.load(h5)

        # 1-2: one line per run, the latest row, every format agreeing
        ids = [r["run_id"] for r in records]
        check(ids == sorted(ids) and len(set(ids)) == len(ids), "export: one line per run_id")
        rerun = [r for r in records if r["run_id"] == rerun_id][0]
        check(rerun["status"] == BAD_STATUS and rerun["forget_acc"] == 0.123456789,
              "export: the latest row of a rerun run wins")
        check(list(csv.columns) == list(records[0]), "CSV header = JSON lines keys, same order")
        compare(csv, records, "CSV")
        compare(df, records, "load()")
        full = ecore_results.load(h5, ecore=ECORE)
        check(list(full.columns) == list(records[0]), "load(ecore=) has export's columns in order")
        compare(full, records, "load(ecore=)")

        # 3: types, names, settings
        r0 = records[0]
        check("unlearn.method" not in r0 and "ec.enabled" not in r0, "duplicates not repeated")
        check(isinstance(df["run_id"].iloc[0], str) and isinstance(df["status"].iloc[0], str),
              "load: strings are str")
        check(df["ec.temperature"].dtype == np.float64, "float axis typed")
        check(str(df["unlearn.epochs"].dtype) == "Int64", "int axis typed (nullable)")
        check(str(df["ec.detach_retain"].dtype) == "boolean", "bool axis typed (nullable)")
        check(csv["unlearn.lr"].dtype == np.float64 and csv["train.epochs"].dtype == np.int64
              and csv["train.nesterov"].dtype == bool, "CSV: settings typed")
        check(all(f"{c}.layer{k}" in r0 for c in ecore_results.CURVES for k in (1, 2, 3, 4)),
              "per-point columns")
        ft = [r for r in records if r["method"] == "ft"]
        check(all(r["unlearn.lr"] == 0.01 for r in ft), "ft runs: resolved unlearn.lr (0.01)")
        models = [r for r in records if r["method"] in ("original", "retrain")]
        check(models and all(r["unlearn.lr"] is None and r["ec.temperature"] is None
                             and r["train.lr"] == 0.05 for r in models),
              "models' rows: their own settings only")
        check(all(isinstance(r["ec.detach_retain"], bool) for r in records
                  if r["method"] == "none"), "bool axis in JSON")

        # 4: a file from before axis_types; a file whose config makes another sweep
        old = os.path.join(tmp, "old.h5")
        shutil.copy(h5, old)
        with h5py.File(old, "r+") as f:
            del f.attrs["axis_types"]
        compare(ecore_results.load(old), records, "load() without axis_types")
        with h5py.File(old, "r+") as f:
            text = f["config/expanded"].asstr()[()].replace("lr: 0.05", "lr: 0.07")
            del f["config/expanded"]
            f["config"].create_dataset("expanded", data=text, dtype=h5py.string_dtype())
        p = run("export", old, "--format", "jsonl")
        check("warning" in p.stderr and "does not give the file's sweep" in p.stderr,
              f"a changed config warns: {p.stderr}")
        stale = [json.loads(line) for line in p.stdout.splitlines()]
        check(len(stale) == len(records) and "unlearn.lr" not in stale[0]
              and stale[0]["ec.temperature"] == records[0]["ec.temperature"],
              "a changed config: rows without settings, axes typed")

        # bad input
        before = open(h5, "rb").read()
        p = run("export", h5, "--output", h5, rc=2)
        check("results file itself" in p.stderr, f"--output FILE.h5 refused: {p.stderr}")
        check(open(h5, "rb").read() == before, "the results file is unchanged")
        run("export", h5, "--format", "xml", rc=2)
        run("export", csv_path, rc=2)
        run("export", os.path.join(tmp, "nope.h5"), rc=2)
        run("export", rc=2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("ok")


main()
