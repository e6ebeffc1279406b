#!/usr/bin/python3
"""Writes tests/fixtures/contrastive.h5: PyTorch references for EC's contrastive loss.

Run with Debian's python (it has torch and h5py):
    /usr/bin/python3 tests/make_contrastive_fixture.py
The fixture is committed, so tests/test_contrastive.c needs no PyTorch.

The loss (docs/methods.md, jobs/contrastive.h), written here independently with autograd, in float64:
    s_ij = <z_i, z_j>/tau, a_ij = s_ij - max_j s_ij (max detached)
    L_i = -mean_{p in P(i)} a_ip + log(sum_{n in N(i)} exp(a_in) + eps)   (log term 0 if N(i) empty)
    L = mean of L_i over anchors with P(i) non-empty
Each group /<case> holds za [na,D], ya [na], zc [nc,D], yc [nc] (absent when the anchors are
their own candidates), zo [na,D] (push_original cases only), loss (scalar), dza, dzc (gradients
of the loss; with self-candidates dza is the whole gradient), and attributes tau, eps,
pos_same_class, neg_all, exclude_self.
"""
import os

import h5py
import numpy as np
import torch


def loss_fn(za, ya, zc, yc, zo, tau, eps, pos_same, neg_all, exclude_self, pos_lse=0):
    na, nc = za.shape[0], zc.shape[0]
    S = za @ zc.T / tau
    valid = torch.ones(na, nc, dtype=torch.bool)
    if exclude_self:
        valid &= ~torch.eye(na, nc, dtype=torch.bool)
    m = S.masked_fill(~valid, -float("inf")).max(dim=1).values
    so = None
    if zo is not None:
        so = (za * zo).sum(dim=1) / tau
        m = torch.maximum(m, so)
    m = m.detach()
    same = ya[:, None] == yc[None, :]
    P = (same if pos_same else ~same) & valid
    N = valid if neg_all else (~P & valid)
    A = S - m[:, None]
    npos = P.sum(dim=1)
    sum_neg = (torch.exp(A) * N).sum(dim=1)
    has_neg = N.any(dim=1)
    if so is not None:
        sum_neg = sum_neg + torch.exp(so - m)
        has_neg = torch.ones_like(has_neg)
    lse = torch.where(has_neg, torch.log(sum_neg + eps), torch.zeros_like(sum_neg))
    if pos_lse:  # log-mean-exp over the positives (ec.pull nearest)
        pull = torch.logsumexp(A.masked_fill(~P, -float("inf")), dim=1)
        pull = torch.where(npos > 0, pull - torch.log(npos.clamp(min=1).double()),
                           torch.zeros_like(pull))
    else:
        pull = (A * P).sum(dim=1) / npos.clamp(min=1)
    per = -pull + lse
    ok = npos > 0
    return per[ok].mean() if ok.any() else za.sum() * 0


def unit_rows(g, n, d):
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    z = z / z.norm(dim=1, keepdim=True)
    return z.float().double()  # exactly representable in float32, as the C side reads it


def case(f, name, g, na, nc, D, ya, yc, tau, eps=1e-8, pos_same=0, neg_all=0, self_=0, push=0,
         pos_lse=0):
    za = unit_rows(g, na, D).requires_grad_(True)
    if self_:
        zc, yc = za, ya
    else:
        zc = unit_rows(g, nc, D).requires_grad_(True)
    zo = unit_rows(g, na, D) if push else None
    ya_t, yc_t = torch.tensor(ya), torch.tensor(yc)
    L = loss_fn(za, ya_t, zc, yc_t, zo, tau, eps, pos_same, neg_all, self_, pos_lse)
    L.backward()
    grp = f.create_group(name)
    grp["za"] = za.detach().numpy().astype(np.float32)
    grp["ya"] = np.array(ya, dtype=np.int32)
    grp["dza"] = za.grad.numpy().astype(np.float32)
    if not self_:
        grp["zc"] = zc.detach().numpy().astype(np.float32)
        grp["yc"] = np.array(yc, dtype=np.int32)
        grp["dzc"] = zc.grad.numpy().astype(np.float32)
    if push:
        grp["zo"] = zo.numpy().astype(np.float32)
    grp["loss"] = np.float64(L.item())
    for k, v in dict(tau=tau, eps=eps, pos_same_class=pos_same, neg_all=neg_all,
                     exclude_self=self_, pos_lse=pos_lse).items():
        grp.attrs[k] = v
    print(f"{name}: loss {L.item():.6f}")


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1234)
    rng = np.random.default_rng(5)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "contrastive.h5")
    D = 128
    with h5py.File(out, "w") as f:
        mixed_a, mixed_c = rng.integers(0, 4, 12).tolist(), rng.integers(0, 4, 20).tolist()
        case(f, "mixed", g, 12, 20, D, mixed_a, mixed_c, 0.7)
        # Class-wise forgetting: every anchor is of the forgotten class 3, no candidate is.
        case(f, "classwise", g, 10, 24, D, [3] * 10, rng.choice([0, 1, 2, 4, 5, 6], 24).tolist(),
             0.7)
        case(f, "tau_small", g, 12, 20, D, mixed_a, mixed_c, 0.05)
        case(f, "tau_large", g, 12, 20, D, mixed_a, mixed_c, 5.0)
        case(f, "classwise_tau_small", g, 8, 16, D, [0] * 8, rng.integers(1, 10, 16).tolist(),
             0.05)
        # Anchors of class 0 have no positive among candidates of class 0 only: left out.
        case(f, "empty_pos", g, 6, 9, D, [0, 1, 0, 2, 0, 1], [0] * 9, 0.7)
        case(f, "forget_only", g, 16, 16, D, rng.integers(0, 3, 16).tolist(), None, 0.7, self_=1)
        case(f, "push_original", g, 12, 20, D, mixed_a, mixed_c, 0.7, push=1)
        case(f, "push_original_classwise", g, 10, 24, D, [3] * 10,
             rng.choice([0, 1, 2, 4], 24).tolist(), 0.7, push=1)
        case(f, "supcon", g, 24, 24, D, rng.integers(0, 5, 24).tolist(), None, 0.1, eps=0.0,
             pos_same=1, neg_all=1, self_=1)
        # ec.pull nearest (added last, so that the cases above keep their random draws)
        case(f, "classwise_nearest", g, 10, 24, D, [3] * 10,
             rng.choice([0, 1, 2, 4, 5, 6], 24).tolist(), 0.7, pos_lse=1)
        case(f, "classwise_nearest_tau_small", g, 8, 16, D, [0] * 8,
             rng.integers(1, 10, 16).tolist(), 0.1, pos_lse=1)
        case(f, "mixed_nearest", g, 12, 20, D, mixed_a, mixed_c, 0.7, pos_lse=1)
        case(f, "push_original_nearest", g, 12, 20, D, mixed_a, mixed_c, 0.7, push=1, pos_lse=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
