#!/usr/bin/python3
"""Extending a sweep: more seeds, grid values or cases into the same results file, and merges
of files of one sweep, with the real ecore binary, checked through h5py.

  test_extend.py ECORE TINY_CONFIG FIXTURE_V1

1. A finished sweep, its config given a seed and a grid value more, rerun into its file runs
   only the new runs (the progress lines and the rows say so); the old rows are unchanged; the
   config joins the file (/config/added_1), so export recomputes every run's settings and status
   counts every run; the same rerun again adds nothing.
2. A config that changes a shared setting, or varies a new key, is refused (exit 2) naming the
   key and both values, and the file is left as it was.
3. Files of one sweep with different seeds merge; files of different sweeps are refused naming
   the key (exit 2) and nothing is written.
4. FIXTURE_V1, a file written by ecore before sweep ids named what runs share (its id hashes
   its run ids), resumes, is extended, and merges with a file of today's ecore.
Exit 77 (skipped) when /usr/bin/python3 has no h5py.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import h5py
except ImportError:
    print("SKIPPED: /usr/bin/python3 has no h5py (apt-get install python3-h5py)")
    sys.exit(77)

ECORE, TINY, FIXTURE = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAILED:", what, flush=True)


def ecore(cwd, *args):
    return subprocess.run([ECORE] + list(args), cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def write(path, text, **subs):
    """text with each YAML line `key: old` of subs replaced by `key: new`."""
    for key, value in subs.items():
        text, n = re.subn(r"^(\s*%s:).*$" % re.escape(key), r"\g<1> " + value, text, flags=re.M)
        check(n == 1, f"{path}: no line '{key}:' to set")
    open(path, "w").write(text)
    return path


def rows(path):
    """{run_id: (method, seed, status, forget_acc, test_retain_acc)}, and the row count."""
    with h5py.File(path, "r", swmr=True) as f:
        runs = f["runs"][:]
    out = {r["run_id"].decode(): (r["method"].decode(), int(r["seed"]), r["status"].decode(),
                                  float(r["forget_acc"]), float(r["test_retain_acc"]))
           for r in runs}
    return out, len(runs)


def configs(path):
    with h5py.File(path, "r", swmr=True) as f:
        return [k for k in f["config"]]


def progress(out):
    """The items the sweep ran, from its progress lines: ['run f23d... ft seed 0', ...]."""
    return [re.sub(r"\s+(ok|FAILED).*$", "", line.split("] ", 1)[1]).strip()
            for line in out.splitlines() if re.match(r"\[\s*\d+/\d+\] ", line)]


def export(cwd, path):
    p = ecore(cwd, "export", path, "--format", "jsonl")
    check(p.returncode == 0 and "warning" not in p.stderr,
          f"export {path}: exit {p.returncode}, {p.stderr}")
    return [json.loads(line) for line in p.stdout.splitlines()]


def test_extend(d, a, b):
    """1 and 2 in directory d: a is the sweep, b the same with a seed and a grid value more."""
    p = ecore(d, "sweep", a)
    check(p.returncode == 0, f"sweep a: exit {p.returncode} {p.stderr}")
    before, n_before = rows(os.path.join(d, "tiny.h5"))
    check(n_before == 3, f"sweep a: 3 rows (original, retrain, ft), got {n_before}")
    p = ecore(d, "sweep", b)
    check(p.returncode == 0, f"sweep b: exit {p.returncode} {p.stderr}")
    # b: seeds 0 and 1, ft and ga: 4 runs; seed 1's original and retrain (and its row) are new;
    # ft seed 0 is done, and ga seed 0 takes seed 0's models from the cache (not trained again).
    check("4 runs, 10 items (6 to do)" in p.stdout, f"sweep b's header: {p.stdout[:300]}")
    ran = progress(p.stdout)
    check(len(ran) == 6 and sorted(x.split()[0] for x in ran) ==
          ["original", "original", "retrain", "run", "run", "run"] and
          not any("seed 0" in x and x.startswith(("original", "retrain")) for x in ran) and
          not any(" ft seed 0" in x for x in ran), f"sweep b ran only the new items: {ran}")
    after, n_after = rows(os.path.join(d, "tiny.h5"))
    check(n_after == 8 and len(after) == 8, f"sweep b: 8 rows, once each; got {n_after}")
    check(all(after[k] == v for k, v in before.items()), "the old rows changed")
    check(sorted((m, s) for m, s, *_ in after.values() if m in ("ft", "ga")) ==
          [("ft", 0), ("ft", 1), ("ga", 0), ("ga", 1)], f"runs of b: {sorted(after.values())}")
    check(configs(os.path.join(d, "tiny.h5")) == ["added_1", "expanded", "given"],
          f"b's config joins the file: {configs(os.path.join(d, 'tiny.h5'))}")
    recs = export(d, "tiny.h5")
    check(len(recs) == 8 and all("train.lr" in r for r in recs) and
          all("unlearn.lr" in r for r in recs if r["method"] in ("ft", "ga")),
          "export: every run's settings")
    s = ecore(d, "status", "tiny.h5")
    check(s.returncode == 0 and "4 runs" in s.stdout and "0 to do" in s.stdout and
          "configs added to it" in s.stdout, f"status of the extended file: {s.stdout}{s.stderr}")
    # The same rerun again: nothing to do, no config added twice.
    p = ecore(d, "sweep", b)
    check(p.returncode == 0 and "(0 to do)" in p.stdout and progress(p.stdout) == [],
          f"rerun of b: {p.stdout[:300]}")
    check(configs(os.path.join(d, "tiny.h5")) == ["added_1", "expanded", "given"],
          "rerun of b added a config")
    more = write(os.path.join(d, "more.yaml"), open(b).read(), seeds="[0, 1, 2]")
    s = ecore(d, "status", "tiny.h5", "more.yaml")
    check(s.returncode == 0 and "(adds 2 runs to it)" in s.stdout and "5 to do" in s.stdout,
          f"status with a config that adds a seed: {s.stdout}{s.stderr}")

    # 2: a shared setting changed, a new key varied: refused, the file untouched.
    bytes_before = open(os.path.join(d, "tiny.h5"), "rb").read()
    text = open(b).read()
    for name, sub, want in [
            ("classes.yaml", {"forget": "{classes: [2]}"},
             "forget.classes is [1] in tiny.h5 but [2] in classes.yaml"),
            ("axis.yaml", {"unlearn.method": "[ft, ga]\n    unlearn.lr: [0.01, 0.02]"},
             "classes.yaml varies unlearn.lr")]:
        write(os.path.join(d, name), text, **sub)
        p = ecore(d, "sweep", name)
        want = want.replace("classes.yaml", name)
        check(p.returncode == 2 and want in p.stderr,
              f"{name}: exit {p.returncode}, want '{want}' in: {p.stderr}")
        s = ecore(d, "status", "tiny.h5", name)
        check(s.returncode == 2 and want in s.stderr, f"status with {name}: {s.stderr}")
    check(open(os.path.join(d, "tiny.h5"), "rb").read() == bytes_before,
          "a refused config changed the file")
    return after


def test_merge(d, b):
    """3: shards of seeds 2 and 3 merge with the extended file; another sweep's file does not."""
    text = open(b).read()
    for seed in (2, 3):
        cfg = write(os.path.join(d, f"s{seed}.yaml"), text, seeds=f"[{seed}]")
        p = ecore(d, "sweep", cfg, "--out", f"s{seed}.h5", "--quiet")
        check(p.returncode == 0, f"sweep seed {seed}: {p.stderr}")
    p = ecore(d, "merge", "m.h5", "s2.h5", "s3.h5", "tiny.h5")
    check(p.returncode == 0 and "merged 16 runs from 3 files" in p.stdout,
          f"merge: exit {p.returncode} {p.stdout}{p.stderr}")
    merged, n = rows(os.path.join(d, "m.h5"))
    check(n == 16 and {s for _, s, *_ in merged.values()} == {0, 1, 2, 3}, f"merged seeds: {n}")
    recs = export(d, "m.h5")
    check(len(recs) == 16 and all("train.lr" in r for r in recs), "export of the merge")
    s = ecore(d, "status", "m.h5")
    check(s.returncode == 0 and "8 runs" in s.stdout and "0 to do" in s.stdout,
          f"status of the merge: {s.stdout}{s.stderr}")
    cfg = write(os.path.join(d, "other.yaml"), text, seeds="[2]", forget="{classes: [3]}")
    p = ecore(d, "sweep", cfg, "--out", "other.h5", "--quiet")
    p = ecore(d, "merge", "m2.h5", "s2.h5", "other.h5")
    check(p.returncode == 2 and "forget.classes is [1] in s2.h5 but [3] in other.h5" in p.stderr
          and not os.path.exists(os.path.join(d, "m2.h5")), f"merge of another sweep: {p.stderr}")


def test_v1_file(d, tiny_text):
    """4: the fixture resumes with its own config, is extended, and merges."""
    shutil.copy(FIXTURE, os.path.join(d, "v1.h5"))
    with h5py.File(os.path.join(d, "v1.h5"), "r") as f:
        given, old_id = f["config/given"].asstr()[()], f.attrs["sweep_id"]
    before, _ = rows(os.path.join(d, "v1.h5"))
    a = os.path.join(d, "a.yaml")
    open(a, "w").write(given)
    p = ecore(d, "sweep", a, "--out", "v1.h5")
    check(p.returncode == 0 and f"sweep {old_id}: 1 runs, 4 items (0 to do)" in p.stdout,
          f"the v1 file resumes: {p.stdout[:300]}{p.stderr}")
    b = write(os.path.join(d, "b.yaml"), given, seeds="[0, 1]", **{"unlearn.method": "[ft, ga]"})
    p = ecore(d, "sweep", b, "--out", "v1.h5")
    # Without the cache, seed 0's models are trained again: ga seed 0 needs them (their rows,
    # already recorded, are kept). 8: O1, O2, R1, R2, R2's original row, ft 1, ga 0, ga 1.
    check(p.returncode == 0 and "(8 to do)" in p.stdout and len(progress(p.stdout)) == 8,
          f"the v1 file extended: {p.stdout[:400]}{p.stderr}")
    after, n = rows(os.path.join(d, "v1.h5"))
    check(n == 8 and all(after[k] == v for k, v in before.items()), "v1 file: rows after extending")
    with h5py.File(os.path.join(d, "v1.h5"), "r") as f:
        # the rewrite that stores the new config writes today's format: fixed-length text
        new_id = f.attrs["sweep_id"]
        check(isinstance(old_id, str) and new_id == old_id.encode(),
              f"v1 file: its sweep id changed ({old_id!r} -> {new_id!r})")
    check(len(export(d, "v1.h5")) == 8, "export of the extended v1 file")
    c = write(os.path.join(d, "c.yaml"), given, seeds="[2]")
    p = ecore(d, "sweep", c, "--out", "c.h5", "--quiet")
    shutil.copy(FIXTURE, os.path.join(d, "v1b.h5"))
    p = ecore(d, "merge", "m.h5", "v1b.h5", "c.h5")
    check(p.returncode == 0 and "merged 6 runs" in p.stdout, f"v1 file + new file: {p.stdout}"
          f"{p.stderr}")
    p = ecore(d, "merge", "m2.h5", "v1b.h5", "v1.h5")
    check(p.returncode == 0 and "merged 8 runs" in p.stdout, f"v1 + extended v1: {p.stderr}")
    bad = write(os.path.join(d, "bad.yaml"), given, **{"train": "{epochs: 3, batch_size: 32, lr: 0.05}"})
    p = ecore(d, "sweep", "bad.yaml", "--out", "v1b.h5")
    check(p.returncode == 2 and "train.epochs is 2 in v1b.h5 but 3 in bad.yaml" in p.stderr,
          f"v1 file, another sweep: {p.stderr}")


def main():
    tiny = open(TINY).read()
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "extend")
        os.makedirs(d)
        a = write(os.path.join(d, "a.yaml"), tiny, seeds="[0]", **{"unlearn.method": "[ft]",
                                                                   "ec.enabled": "[false]"})
        b = write(os.path.join(d, "b.yaml"), open(a).read(), seeds="[0, 1]",
                  **{"unlearn.method": "[ft, ga]"})
        test_extend(d, a, b)
        test_merge(d, b)
        v1 = os.path.join(tmp, "v1")
        os.makedirs(v1)
        test_v1_file(v1, tiny)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks pass")


main()
