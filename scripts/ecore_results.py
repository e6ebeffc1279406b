"""Read an ecore results file (HDF5) into pandas: one row per run, typed, strings as str.

    import sys; sys.path.insert(0, "scripts")
    import ecore_results
    df = ecore_results.load("quickstart.h5")          # one row per run
    tr = ecore_results.load_trace("quickstart.h5")    # the training trace, joined on run_id

load() gives the columns of `ecore export` that the file holds: run_id, method, ec, seed,
status, the grid axes with their types, the scalar metrics, every other field of /runs, and the
per-point metrics as "cka_original.layer1", ... Runs are the latest row of each run_id, sorted
by run_id. `method` stands for unlearn.method and `ec` for ec.enabled, so those axes are
dropped. A run's other resolved settings (unlearn.lr, ...) are not in the file: they are
recomputed by ecore from the config the file stores; load(path, ecore="build/harness/ecore")
adds them from `ecore export`. See docs/results.md.

Needs h5py, numpy and pandas only (Debian: python3-h5py python3-pandas).
"""
import json
import subprocess
import time

import h5py
import numpy as np
import pandas as pd

CURVES = ["cka_original", "cka_retrain", "knn_forget_acc"]
DUPLICATED = {"unlearn.method", "ec.enabled"}  # said by `method` and `ec`


def _read(path, take):
    """take(f) on the file opened for SWMR reading. HDF5 holds a shared lock on the file while
    it is open, so no append is half done meanwhile; during an append (a few milliseconds) the
    open fails on the writer's lock, and is tried again."""
    for attempt in range(200):
        try:
            with h5py.File(path, "r", swmr=True) as f:
                return take(f)
        except BlockingIOError:
            time.sleep(0.05)
    with h5py.File(path, "r", swmr=True) as f:
        return take(f)


def _text(values):
    """Texts as str: ecore writes fixed-length strings (h5py gives bytes); files written before
    2026-12 hold variable-length ones (str)."""
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _parse(text, kind):
    """An axis value's text as its type; "" (the key does not apply to the run) is None."""
    if text == "":
        return None
    if kind == "bool":
        return {"true": True, "false": False}[text]
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    return text


def _infer(texts):
    """The type of an axis in a file from before axis_types: the narrowest that reads all."""
    for kind in ("bool", "int", "float"):
        try:
            for t in texts:
                _parse(t, kind)
            return kind
        except (KeyError, ValueError):
            pass
    return "string"


def _series(values, kind):
    """Python values (None where missing) as a column: nullable bool and int, float with NaN."""
    if kind == "bool":
        return pd.array(values, dtype="boolean")
    if kind == "int":
        return pd.array(values, dtype="Int64")
    if kind == "float":
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(values, dtype=object)


def _kind_of(values):
    """The type of a column of JSON values (None ignored)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float"
    return "string"


def _latest(run_ids):
    """Indices of the latest row of each run_id, sorted by run_id (as ecore does)."""
    last = {}
    for i, r in enumerate(run_ids):
        last[r] = i
    return [last[r] for r in sorted(last, key=lambda s: s.encode("utf-8"))]


def load(path, ecore=None):
    """The runs of a results file as a DataFrame, one row per run (see the module's doc).

    ecore: path of the ecore binary; when given, the run's other settings are added (the
    columns of `ecore export`, in its order).
    """
    def take(f):
        runs = f["runs"][:]
        axes = _text(f.attrs.get("axes", []))
        types = _text(f.attrs["axis_types"]) if "axis_types" in f.attrs else None
        # the first len(runs) rows: a writer killed mid-append may have left one more
        curves = [(c, _text(f[c].attrs["points"]), f[c][:len(runs)]) for c in CURVES]
        return runs, axes, types, curves

    runs, axes, types, curves = _read(path, take)
    rows = _latest(_text(runs["run_id"]))
    cols = {}
    for name in runs.dtype.names:
        if name in DUPLICATED and name in axes:
            continue
        v = runs[name][rows]
        if name in axes:
            texts = _text(v)
            kind = types[axes.index(name)] if types else _infer([t for t in texts if t])
            cols[name] = _series([_parse(t, kind) for t in texts], kind)
        elif v.dtype.kind == "S":
            cols[name] = np.array(_text(v), dtype=object)
        else:
            cols[name] = v
    for name, points, values in curves:
        for j, p in enumerate(points):
            cols[f"{name}.{p}"] = values[rows, j]
    df = pd.DataFrame(cols)
    if ecore is None:
        return df
    return _with_settings(df, path, ecore)


def _with_settings(df, path, ecore):
    out = subprocess.run([ecore, "export", path, "--format", "jsonl"], capture_output=True,
                         text=True, check=True).stdout
    records = [json.loads(line) for line in out.splitlines()]
    order = list(records[0]) if records else list(df.columns)
    extra = {}
    for key in order:
        if key not in df.columns:
            values = [r[key] for r in records]
            extra[key] = _series(values, _kind_of(values))
    settings = pd.DataFrame(extra)
    settings["run_id"] = [r["run_id"] for r in records]
    df = df.merge(settings, on="run_id", how="left", validate="one_to_one")
    return df[order + [c for c in df.columns if c not in order]]


def load_trace(path):
    """The training trace of each run's latest row, one row per (run, phase, epoch, point),
    strings as str, joined to load()'s rows on run_id (empty when the file has no /trace)."""
    rows, trace = _read(path, lambda f: (_latest(_text(f["runs"]["run_id"])),
                                         f["trace"][:] if "trace" in f else None))
    if trace is None or len(trace) == 0:
        return pd.DataFrame(columns=["run_id", "phase", "epoch", "point", "loss", "forget_acc",
                                     "cu", "ce", "cos_fr", "spread", "weight"])
    keep = np.isin(trace["row"], rows)
    cols = {}
    for name in trace.dtype.names:
        if name == "row":
            continue
        v = trace[name][keep]
        cols[name] = np.array(_text(v), dtype=object) if v.dtype.kind == "S" else v
    return pd.DataFrame(cols)
