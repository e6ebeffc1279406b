#!/usr/bin/python3
"""Writes tests/fixtures/cka.h5: activations and their linear CKA computed with numpy in float64,
which tests/test_metrics.c compares ecore's CKA against (within 1e-5).

Run with Debian's python (it has numpy and h5py):  /usr/bin/python3 tests/make_cka_fixture.py
The fixture is committed, so the C test needs no Python; this script regenerates it.

Each case /<name> holds X float32 [n, p], Y float32 [n, q] and the attribute cka (float64),
computed from the float32 values cast to float64, in the feature form
    CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)    (Xc, Yc column-centred)
and checked here against the Gram form <HKH, HLH> / (||HKH|| ||HLH||), K = X X^T, L = Y Y^T.
The cases cover both of ecore's forms (p, q <= n and p > n), mixed shapes, and ReLU features
with large means (where centring before the product matters).
"""
import os

import h5py
import numpy as np


def cka_feature(x, y):
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def cka_gram(x, y):
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k = h @ (x @ x.T) @ h
    l = h @ (y @ y.T) @ h
    return np.sum(k * l) / (np.linalg.norm(k) * np.linalg.norm(l))


def relu_features(rng, n, p, base, offset):
    """Conv-like features: a shared low-rank signal plus noise, shifted, then ReLU."""
    z = rng.standard_normal((n, 16)) @ rng.standard_normal((16, p)) / 4
    return np.maximum(z + base + offset + 0.5 * rng.standard_normal((n, p)), 0)


def cases(rng):
    # feature form: p, q <= n
    x = rng.standard_normal((200, 20)) + 3
    y = np.tanh(x @ rng.standard_normal((20, 30))) + 0.3 * rng.standard_normal((200, 30))
    yield "feature", x, y
    # Gram form, unrelated-ish sides of different widths
    x = relu_features(rng, 64, 2048, 0.2, 0)
    y = np.maximum(x[:, :1536] @ rng.standard_normal((1536, 1536)) / 40, 0) + \
        0.5 * relu_features(rng, 64, 1536, 0, 0)
    yield "gram", x, y
    # mixed: p <= n < q
    x = rng.standard_normal((100, 50))
    y = np.maximum(x @ rng.standard_normal((50, 300)), 0)
    yield "mixed", x, y
    # ReLU features with large means compared with their spread: cancellation-prone
    s = relu_features(rng, 48, 1024, 0, 0)
    x = s + 20.0
    y = 0.7 * s + 0.3 * relu_features(rng, 48, 1024, 0, 5.0)
    yield "relu_offset", x, y


def main():
    rng = np.random.default_rng(20240601)
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(os.path.join(here, "fixtures"), exist_ok=True)
    path = os.path.join(here, "fixtures", "cka.h5")
    with h5py.File(path, "w") as f:
        f.attrs["about"] = "linear CKA reference: see tests/make_cka_fixture.py"
        for name, x, y in cases(rng):
            x = x.astype(np.float32)
            y = y.astype(np.float32)
            xd, yd = x.astype(np.float64), y.astype(np.float64)
            a, b = cka_feature(xd, yd), cka_gram(xd, yd)
            assert abs(a - b) < 1e-10, (name, a, b)
            g = f.create_group(name)
            g.create_dataset("X", data=x, compression="gzip", shuffle=True)
            g.create_dataset("Y", data=y, compression="gzip", shuffle=True)
            g.attrs["cka"] = a
            print(f"{name}: X {x.shape}, Y {y.shape}, cka {a:.10f}")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
