#!/usr/bin/python3
"""End to end: `ecore sweep` on MNIST with eval.mia_model: svm (SalUn's attack) gives a sensible
MIA efficacy: the original model, which trained on the forget set, has it low (its forget images
look like members); the retrained model, which never saw the forgotten digits, has it high.
Then the same sweep with the logistic attack (the models come from the cache) for comparison.

    test_mia_svm_mnist.py ECORE CONFIG MNIST_DIR       (exit 77, skipped, without MNIST)
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np


def efficacies(ecore, config, mnist, out, model):
    cmd = [ecore, "sweep", config, "--out", out, "--quiet", "--set", f"data.root={mnist}",
           "--set", f"eval.mia_model={model}"]
    subprocess.run(cmd, check=True)
    with h5py.File(out, "r") as f:
        rows = f["runs"][:]
    return {m.decode(): (e, w) for m, e, w in zip(rows["method"], rows["mia_efficacy"], rows["wall_s"])}


def main():
    ecore, config, mnist = sys.argv[1:4]
    if not os.path.isfile(os.path.join(mnist, "train-images-idx3-ubyte")) and not os.path.isfile(
            os.path.join(mnist, "train-images-idx3-ubyte.gz")):
        print(f"SKIPPED: no MNIST at {mnist}")
        return 77
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        svm = efficacies(ecore, config, mnist, os.path.join(tmp, "svm.h5"), "svm")
        lr = efficacies(ecore, config, mnist, os.path.join(tmp, "logistic.h5"), "logistic")
    for m in ("original", "retrain", "ft"):
        print(f"{m:9s} mia_efficacy svm {svm[m][0]:.4f}  logistic {lr[m][0]:.4f}")
    for name, ok in [("the original's SVM efficacy is low", svm["original"][0] < 0.2),
                     ("the retrained model's SVM efficacy is high", svm["retrain"][0] > 0.9),
                     ("the efficacies are in [0, 1]", all(0 <= v[0] <= 1 for v in svm.values()))]:
        if not ok:
            print("FAILED:", name)
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
