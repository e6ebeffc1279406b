"""A results file written by the C library, read back with h5py alone (as users do).

usage: test_results_h5py.py TEST_RESULTS ECORE
TEST_RESULTS --write-sample PATH writes the file; ECORE is the ecore binary, whose report
(CSV and SVG plots) is parsed too. Exit 77 (skipped) when h5py or numpy is missing.
"""
import csv
import io
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

try:
    import h5py
    import numpy as np
except ImportError as exc:
    print(f"SKIPPED: {sys.executable} lacks h5py/numpy ({exc}); "
          "install python3-h5py python3-numpy", file=sys.stderr)
    sys.exit(77)

failures = []


def variable_length_strings(f):
    """Names of the attributes and datasets of f stored as variable-length strings: none, since
    those live in HDF5's global heap, which has no checksum (docs/fuzzing.md)."""
    found = []

    def vlen(dtype):
        info = h5py.check_string_dtype(dtype)
        return info is not None and info.length is None

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and vlen(obj.dtype):
            found.append(name)
        for k in obj.attrs:
            if vlen(obj.attrs.get_id(k).dtype):
                found.append(f"{name or '/'}@{k}")

    visit("", f)
    f.visititems(visit)
    return found


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"check failed: {what}", file=sys.stderr)


PROVENANCE = {"ecore_version": "S32", "git_commit": "S64", "hosts": "S256", "ranks": "<i4",
              "blas": "S128", "blas_kernel": "S64", "blas_threads": "<i4",
              "original_fingerprint": "S17", "retrain_fingerprint": "S17"}
STRINGS = ["run_id", "method", "status", "ec.temperature", "forget.classes"]
INTS = ["ec", "seed"]
ACCURACIES = ["forget_acc", "retain_acc", "test_retain_acc", "test_forget_acc", "mia_efficacy"]
FLOATS = ACCURACIES + ["avg_gap", "wall_s"]
POINTS = ["layer1", "layer2", "layer3", "layer4"]
TRACE_FIELDS = ["row", "run_id", "phase", "epoch", "point", "loss", "forget_acc", "cu", "ce",
                "cos_fr", "spread", "weight"]
TRACE_STRINGS = {"run_id": "S128", "phase": "S32", "point": "S64"}


def trace_len(i):
    """Entries of row i in the sample (make_trace in test_results.c)."""
    return 3 * (i % 5)


def check_trace(f, rows):
    tr = f["trace"]
    check(tr.ndim == 1 and tr.maxshape == (None,), "/trace is 1-D and extendable")
    check(tr.chunks is not None, "/trace is chunked")
    check(list(tr.dtype.names) == TRACE_FIELDS, f"/trace fields in order: {tr.dtype.names}")
    check(tr.dtype["row"] == np.int64, "/trace row is int64")
    check(tr.dtype["epoch"] == np.int32, "/trace epoch is int32")
    for name, kind in TRACE_STRINGS.items():
        check(tr.dtype[name] == np.dtype(kind), f"/trace {name} is {kind}: {tr.dtype[name]}")
    for name in TRACE_FIELDS[5:]:
        check(tr.dtype[name] == np.float64, f"/trace {name} is float64")
    t = tr[:]
    n = len(rows)
    want = [trace_len(i) for i in range(n)]
    check(len(t) == sum(want), f"/trace has {sum(want)} entries, got {len(t)}")
    if len(t) != sum(want):
        return
    # `row` indexes /runs: every entry carries its row's run_id; rows in order, entries together
    check(np.all((t["row"] >= 0) & (t["row"] < n)), "/trace row within /runs")
    check(np.all(t["run_id"] == rows["run_id"][t["row"]]), "/trace row aligns with /runs")
    check(np.all(np.diff(t["row"]) >= 0), "/trace entries grouped by row, in row order")
    check(list(np.bincount(t["row"], minlength=n)) == want, "/trace entries per row")
    whole = t["point"] == b""
    check(np.count_nonzero(whole) == len(t) // 3, "a third of the entries are the whole model's")
    check(np.all(np.isfinite(t["loss"][whole])) and np.all(np.isnan(t["cu"][whole])),
          "whole-model entries: loss set, point values NaN")
    check(np.all(np.isnan(t["loss"][~whole])) and np.all(np.isfinite(t["spread"][~whole])),
          "point entries: loss NaN, point values set")
    check(set(t["phase"]) == {b"ec", b"scrub-max"}, f"phases {set(t['phase'])}")
    e = t[(t["row"] == 2) & (t["epoch"] == 2) & (t["point"] == b"layer1")]
    check(len(e) == 1, "one entry for row 2, epoch 2, layer1")
    if len(e) == 1:
        check(e["phase"][0] == b"scrub-max" and abs(e["cu"][0] - 0.52) < 1e-12
              and e["ce"][0] == 0.5 and e["weight"][0] == 0.5 and abs(e["cos_fr"][0] + 0.2) < 1e-12,
              f"values of row 2, epoch 2, layer1: {e}")


def check_file(path):
    with h5py.File(path, "r") as f:
        runs = f["runs"]
        check(runs.ndim == 1 and runs.maxshape == (None,), "/runs is 1-D and extendable")
        check(runs.chunks is not None, "/runs is chunked")
        names = runs.dtype.names
        check(list(names[:5]) == ["run_id", "method", "ec", "seed", "status"],
              f"/runs starts with the documented columns: {names}")
        for name in STRINGS + INTS + FLOATS:
            check(name in names, f"/runs has field {name}")
        rows = runs[:]
        n = len(rows)
        check(n == 8, f"8 rows, got {n}")
        for name in STRINGS:
            check(runs.dtype[name].kind == "S", f"{name} is a byte string")
            text = [v.decode("utf-8") for v in rows[name]]
            check(all(isinstance(t, str) for t in text), f"{name} decodes")
        for name in INTS:
            check(runs.dtype[name].kind == "i", f"{name} is an integer")
        for name in FLOATS:
            check(runs.dtype[name] == np.float64, f"{name} is float64")
        check(rows["run_id"][0].decode() == "run00000", "first run_id")
        check(rows["method"][1].decode() == "rl", "method of row 1")
        check(rows["status"][5].decode() == "failed: loss is NaN", "failed status")
        check(rows["forget.classes"][0].decode() == "[0, 1]", "axis value text")
        check(set(rows["ec"]) == {0, 1}, "ec is 0/1")
        for name in ACCURACIES:
            v = rows[name]
            check(np.all((v >= 0) & (v <= 1)), f"{name} in [0,1]")
        check(np.all(np.isnan(rows["avg_gap"])), "avg_gap not computed: NaN")
        # The provenance, after the scalars (make_row in test_results.c).
        check(list(names[-len(PROVENANCE):]) == list(PROVENANCE), f"/runs ends with the provenance: {names}")
        for name, kind in PROVENANCE.items():
            check(runs.dtype[name] == np.dtype(kind), f"{name} is {kind}: {runs.dtype[name]}")
        check(rows["hosts"][3].decode() == "node3,node4" and rows["ranks"][3] == 4, "hosts, ranks of row 3")
        check(rows["blas_threads"][3] == -1 and rows["blas_kernel"][3] == b"Haswell", "BLAS of row 3")
        check(rows["git_commit"][1].decode() == "0" * 39 + "1-dirty", "git_commit of row 1")
        check(rows["original_fingerprint"][4].decode() == "00000000000000a1"
              and rows["retrain_fingerprint"][4].decode() == "00000000000000b1", "fingerprints of row 4")

        for name in ["cka_original", "cka_retrain", "knn_forget_acc"]:
            d = f[name]
            check(d.shape == (n, len(POINTS)), f"/{name} is [runs x points]: {d.shape}")
            check(d.dtype.kind == "f", f"/{name} is float")
            points = [p.decode() if isinstance(p, bytes) else p for p in d.attrs["points"]]
            check(points == POINTS, f"/{name} points: {points}")
            v = d[:]
            check(np.all((v >= 0) & (v <= 1)), f"/{name} in [0,1]")
        check(abs(f["cka_original"][3, 1] - (1.0 - 0.1 - 0.003)) < 1e-12, "rows aligned")

        check("config" in f and "given" in f["config"] and "expanded" in f["config"],
              "/config/given and /config/expanded")
        given = f["config/given"].asstr()[()]
        check("temperature: 0.7" in given and "τ" in given, "config text as given (UTF-8)")
        check("ec.temperature" in f["config/expanded"].asstr()[()], "expanded config")

        a = f.attrs
        for key in ["format", "schema_version", "sweep_id", "ecore_version", "git_commit",
                    "created", "mpi_world_size", "hosts", "axes"]:
            check(key in a, f"root attribute {key}")
        # Every text is a fixed-length string, which h5py reads as bytes (docs/results.md).
        check(a.get("format") == b"ecore-results", "format attribute")
        check(a.get("sweep_id") == b"a1b2c3d4e5f60718", "sweep_id attribute is bytes")
        check(int(a.get("mpi_world_size", -1)) == 2, "mpi_world_size")
        check(a.get("hosts", b"").decode() == "node1,node2", "hosts")
        check([x.decode() for x in a.get("axes", [])] == ["ec.temperature", "forget.classes"],
              "axes")
        check(not variable_length_strings(f), f"variable-length strings: {variable_length_strings(f)}")

        check("trace" in f, "/trace")
        if "trace" in f:
            check_trace(f, rows)

    try:  # the pandas route the docs suggest, where pandas is installed
        import pandas as pd
        with h5py.File(path, "r") as f:
            df = pd.DataFrame(f["runs"][:])
            trace = pd.DataFrame(f["trace"][:])
        check(len(df) == 8 and "ec.temperature" in df.columns, "pandas DataFrame")
        check(list(trace.columns) == TRACE_FIELDS, "pandas DataFrame of /trace")
        joined = trace.join(df[["method"]], on="row")  # `row` is the index of /runs
        check(list(joined["method"][joined["row"] == 1].unique()) == [b"rl"], "trace joins runs")
    except ImportError:
        pass


def check_report(ecore, path, tmp):
    res = subprocess.run([ecore, "report", path, "--format", "csv"], capture_output=True,
                         text=True)
    check(res.returncode == 0, f"report --format csv exits 0: {res.stderr}")
    table = list(csv.reader(io.StringIO(res.stdout)))
    header = table[0]
    check(header[:2] == ["method", "ec"] and "mean" in header and "gap" in header,
          f"CSV header {header}")
    check(all(len(r) == len(header) for r in table), "CSV rows as wide as the header")
    methods = {r[0] for r in table[1:]}
    check({"ft", "rl", "retrain", "original"} <= methods, f"methods in CSV: {methods}")

    plots = os.path.join(tmp, "plots")
    res = subprocess.run([ecore, "report", path, "--plots", plots], capture_output=True,
                         text=True)
    check(res.returncode == 0, f"report --plots exits 0: {res.stderr}")
    check("| method | ec |" in res.stdout, "Markdown table")
    for name in ["cka_original", "cka_retrain", "knn_forget_acc"]:
        root = ET.parse(os.path.join(plots, name + ".svg")).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        check(root.tag == ns + "svg", f"{name}.svg is SVG")
        lines = root.findall(f".//{ns}polyline")
        check(len(lines) >= 4, f"{name}.svg has a line per method and ec: {len(lines)}")
        for pl in lines:
            for xy in pl.get("points").split():
                x, y = map(float, xy.split(","))
                check(math.isfinite(x) and math.isfinite(y), "finite coordinates")
        texts = " ".join(t.text or "" for t in root.iter(ns + "text"))
        check("supervision point" in texts and "layer4" in texts, f"{name}.svg axis labels")


def main():
    writer, ecore = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sample.h5")
        subprocess.run([writer, "--write-sample", path], check=True)
        check_file(path)
        check_report(ecore, path, tmp)
    if failures:
        print(f"test_results_h5py: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("test_results_h5py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
