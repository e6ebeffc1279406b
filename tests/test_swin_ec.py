"""EC on swin_t, end to end: a tiny sweep on the CIFAR-10 sample (seconds).

swin_t at width 12, patch 4, window 4 (8x8 tokens, then 4x4, 2x2 and 1x1 padded to one window)
trained 2 epochs on 1000 images, then EC alone (its modules pretrained 1 epoch) forgets class 1.
Checked: the sweep succeeds; the rows' per-point metrics are at stage1..stage4; EC moved the
representations (CKA of θ_u to θ_o below 0.99 at every point, θ_o's own is 1); the unlearned
model's forget accuracy is below the original's.

usage: test_swin_ec.py ECORE SHARED_DATA; exit 77 (skipped) without the CIFAR-10 sample.
"""
import csv
import io
import os
import subprocess
import sys
import tempfile

ECORE, SHARED = sys.argv[1], os.path.abspath(sys.argv[2])
SAMPLE = os.path.join(SHARED, "cifar-10-sample")
CONFIG = """data: {name: cifar10, root: %s, train_files: [data_batch_1.first4000.bin],
       test_files: [test_batch.first1000.bin], allow_reduced: true, max_train: 1000,
       max_test: 500}
model: {arch: swin_t, width: 12, patch: 4, window: 4}
train: {epochs: 2, batch_size: 64, lr: 0.05}
forget: {classes: [1]}
unlearn: {method: none}
ec: {enabled: true, pretrain: {epochs: 1}}
sweep: {seeds: [0]}
output: {file: swin_ec.h5, cache_dir: cache}
"""
POINTS = ["stage1", "stage2", "stage3", "stage4"]


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def main():
    if not os.path.exists(os.path.join(SAMPLE, "data_batch_1.first4000.bin")):
        print(f"SKIPPED: no CIFAR-10 sample in {SAMPLE}")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "c.yaml"), "w") as f:
            f.write(CONFIG % SAMPLE)
        r = subprocess.run([ECORE, "sweep", "c.yaml", "--quiet"], cwd=tmp, capture_output=True,
                           text=True)
        check(r.returncode == 0, f"sweep exit {r.returncode}:\n{r.stdout}{r.stderr}")
        r = subprocess.run([ECORE, "export", "swin_ec.h5", "--format", "csv"], cwd=tmp,
                           capture_output=True, text=True)
        check(r.returncode == 0, f"export: {r.stderr}")
    rows = {row["method"] + ("+ec" if row["ec"] == "1" else ""): row
            for row in csv.DictReader(io.StringIO(r.stdout))}
    check(set(rows) == {"original", "retrain", "none+ec"}, f"rows: {sorted(rows)}")
    ec, orig = rows["none+ec"], rows["original"]
    check(ec["status"] == "ok" and ec["model.arch"] == "swin_t", f"EC row: {ec['status']}")
    for p in POINTS:
        cka = float(ec[f"cka_original.{p}"])
        print(f"{p}: CKA(θ_u, θ_o) {cka:.3f}, original {float(orig[f'cka_original.{p}']):.3f}")
        check(abs(float(orig[f"cka_original.{p}"]) - 1) < 1e-6, f"θ_o's CKA to itself at {p}")
        check(cka < 0.99, f"EC left {p} unchanged (CKA {cka})")
    fa_u, fa_o = float(ec["forget_acc"]), float(orig["forget_acc"])
    print(f"forget_acc: original {fa_o:.3f}, EC {fa_u:.3f}")
    check(fa_u < fa_o, "EC did not lower the forget accuracy")
    print("test_swin_ec: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
