#!/usr/bin/python3
"""Writes tests/fixtures/mia_svm.h5: membership-attack features and what scikit-learn's SVC,
with the settings of SalUn's attack (SVC(C=3, gamma='auto', kernel='rbf')), fits and predicts on
them; tests/test_mia_svm.c checks ecore's libsvm attack (solver/mia_svm.c) against it.

Run with Debian's python (python3-sklearn, python3-h5py):  /usr/bin/python3 tests/make_mia_svm_fixture.py
The fixture is committed, so the C test needs no Python; this script regenerates it.

Features are made as ecore's mia_features makes them, from random 10-class logits: column 0 the
softmax probability of the true label, column 1 the prediction entropy. Members' logits favour
their label more than non-members' (and some saturate to p_true = 1, as a trained network's
do), so the classes overlap the way real attack sets do.

Layout: members, nonmembers, targets float64 [n, 2]; per feature count d (1: SalUn's reported
"confidence" attack on column 0 alone; 2: both columns) a group /dim<d> with decision float64
[n_targets] (decision_function: > 0 is member), predict int32 [n_targets] (1 member, 0 not) and
the attributes n_support and efficacy (the fraction of targets predicted non-member).
"""
import os

import h5py
import numpy as np
import sklearn
from sklearn.svm import SVC


def features(rng, n, boost):
    """[n, 2] (p_true, entropy) of logits whose true label gets `boost` times a gamma draw."""
    z = rng.normal(size=(n, 10))
    y = rng.integers(0, 10, size=n)
    z[np.arange(n), y] += boost * rng.gamma(2.0, 1.0, size=n)
    z -= z.max(1, keepdims=True)
    t = np.exp(z)
    p = t / t.sum(1, keepdims=True)
    ent = np.log(t.sum(1)) - (z * t).sum(1) / t.sum(1)
    return np.stack([p[np.arange(n), y], ent], 1)


def main():
    rng = np.random.default_rng(13)
    members = features(rng, 300, 4.0)
    nonmembers = features(rng, 300, 1.5)
    # A trained network's members saturate: p_true exactly 1, entropy exactly 0.
    members[:40] = [1.0, 0.0]
    targets = np.concatenate([features(rng, 200, 4.0), features(rng, 200, 1.5)])
    targets[:10] = [1.0, 0.0]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "mia_svm.h5")
    with h5py.File(out, "w") as f:
        f.attrs["sklearn"] = sklearn.__version__
        f["members"], f["nonmembers"], f["targets"] = members, nonmembers, targets
        for d in (1, 2):
            # As SalUn's SVC_fit_predict: members labelled 1 first, then non-members 0.
            X = np.concatenate([members[:, :d], nonmembers[:, :d]])
            Y = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
            clf = SVC(C=3, gamma="auto", kernel="rbf").fit(X, Y)
            pred = clf.predict(targets[:, :d])
            g = f.create_group(f"dim{d}")
            g["decision"] = clf.decision_function(targets[:, :d])
            g["predict"] = pred.astype(np.int32)
            g.attrs["n_support"] = int(clf.n_support_.sum())
            g.attrs["efficacy"] = 1 - pred.mean()
            print(f"dim {d}: {int(clf.n_support_.sum())} support vectors, efficacy {1 - pred.mean():.4f}")
    print("wrote", out)


if __name__ == "__main__":
    main()
