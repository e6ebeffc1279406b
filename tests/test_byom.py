"""Bring your own model: PyTorch-trained models converted and unlearned by a sweep.

1. A cnn4 (width 8) is trained in PyTorch for two epochs on 3000 MNIST images (the first of
   ../shared/data/mnist; class-structured random images when it is absent), saved as the UUEF
   code saves it: {'state_dict': ...} with DataParallel's 'module.' and a normalisation layer;
   a retrained model (class 0 left out) is saved as a plain state_dict. Both are converted with
   scripts/torch_to_ecore.py; the converter refuses what it cannot represent.
2. `ecore plan` accepts them through model.original and model.retrained and refuses, exit 2
   naming the file, a missing file, a non-checkpoint, another architecture, width, class count,
   image shape and normalisation. Run ids and the sweep id follow the files' content: the same
   model under another path keeps them, one changed weight changes them.
3. A sweep (ft, one epoch) uses the files and trains nothing: its original and retrain rows
   equal `ecore eval` of the files and PyTorch's own accuracies on the same images; the
   unlearned model it saves, evaluated by `ecore eval`, gives the run's row.

usage: test_byom.py ECORE REPO SHARED_DATA; exit 77 (skipped) without torch or h5py.
"""
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("SKIPPED: /usr/bin/python3 has no torch/h5py/numpy")
    sys.exit(77)

ECORE, REPO, SHARED = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
sys.path.insert(0, os.path.join(REPO, "tests"))
from torch_models import build  # noqa: E402

MEAN, STD = 0.1307, 0.3081
N_TRAIN, N_TEST = 3000, 1000


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def images():
    """uint8 [N,1,28,28] and labels: MNIST's first images, or class-structured random ones."""
    m = os.path.join(SHARED, "mnist")
    if os.path.exists(os.path.join(m, "train-images-idx3-ubyte.gz")):
        print("data: the first MNIST images of", m)
        xs = idx(os.path.join(m, "train-images-idx3-ubyte.gz"))[:N_TRAIN]
        ys = idx(os.path.join(m, "train-labels-idx1-ubyte.gz"))[:N_TRAIN]
        xt = idx(os.path.join(m, "t10k-images-idx3-ubyte.gz"))[:N_TEST]
        yt = idx(os.path.join(m, "t10k-labels-idx1-ubyte.gz"))[:N_TEST]
        return xs[:, None], ys.astype(np.int64), xt[:, None], yt.astype(np.int64)
    print("data: synthetic (no MNIST in", m + ")")
    r = np.random.default_rng(0)
    protos = r.uniform(0, 255, (10, 1, 28, 28))

    def make(n):
        y = np.arange(n) % 10
        x = protos[y] * 0.3 + r.uniform(0, 255 * 0.7, (n, 1, 28, 28))
        return x.astype(np.uint8), y.astype(np.int64)

    xs, ys = make(N_TRAIN)
    xt, yt = make(N_TEST)
    return xs, ys, xt, yt


class Normalize(nn.Module):  # UUEF's NormalizeByChannelMeanStd
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x):
        return (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]


class Wrapped(nn.Module):  # a network with its normalisation inside, as UUEF's models are
    def __init__(self):
        super().__init__()
        self.normalize = Normalize([MEAN], [STD])
        self.net = build("cnn4", 1, 10, 8)

    def forward(self, x):
        return self.net(self.normalize(x), [])


def train(model, x, y, seed):
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(2):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    model.eval()
    return model


def acc(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).double().mean().item()


def run(*args, expect=0):
    p = subprocess.run(list(args), capture_output=True, text=True)
    if p.returncode != expect:
        print(" ".join(args), "\n", p.stdout, p.stderr)
    check(p.returncode == expect, f"{args[0]} {args[1]}: exit {p.returncode}, expected {expect}")
    return p.stdout + p.stderr


def convert(src, out, *extra, expect=0):
    return run(sys.executable, os.path.join(REPO, "scripts", "torch_to_ecore.py"), src, out,
               "--input-shape", "1,28,28", *extra, expect=expect)


def plan(cfg, *sets, expect=0):
    args = [ECORE, "plan", cfg]
    for s in sets:
        args += ["--set", s]
    return run(*args, expect=expect)


def plan_ids(cfg, *sets):
    out = plan(cfg, *sets)
    return re.search(r"^sweep (\w+)", out, re.M).group(1), re.findall(r"^run (\w+)", out, re.M)


def metrics(text):
    return {k: float(v) for k, v in re.findall(r"^(\w+)=(-?[0-9.e+-]+|nan)$", text, re.M)}


def rows(path):
    with h5py.File(path, "r") as f:
        r = f["runs"][:]
        cka = f["cka_original"][:]
    out = {}
    for i, row in enumerate(r):
        m = row["method"].decode()
        out[m] = {k: float(row[k]) for k in ("forget_acc", "retain_acc", "test_retain_acc",
                                              "test_forget_acc", "mia_efficacy", "avg_gap")}
        out[m]["status"] = row["status"].decode()
        out[m]["run_id"] = row["run_id"].decode()
        out[m]["cka_original_layer4"] = float(cka[i][3])
    return out


def near(a, b, tol, what):
    check(abs(a - b) <= tol, f"{what}: {a} vs {b} (tolerance {tol})")


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="ecore_byom_")
    try:
        xs, ys, xt, yt = images()
        with h5py.File(os.path.join(tmp, "data.h5"), "w") as f:
            for g, x, y in (("train", xs, ys), ("test", xt, yt)):
                f[g + "/images"] = x
                f[g + "/labels"] = y
        tx, ty = torch.tensor(xs, dtype=torch.float32) / 255, torch.tensor(ys)
        vx, vy = torch.tensor(xt, dtype=torch.float32) / 255, torch.tensor(yt)

        # 1. models trained in PyTorch, saved as UUEF does, converted
        orig = train(Wrapped(), tx, ty, 0)
        keep = ty != 0
        rt = train(Wrapped(), tx[keep], ty[keep], 1)
        torch.save({"state_dict": nn.DataParallel(orig).state_dict(), "epoch": 2},
                   os.path.join(tmp, "orig.pt"))
        torch.save(rt.net.state_dict(), os.path.join(tmp, "rt.pt"))  # no normalisation layer
        o_h5, r_h5 = os.path.join(tmp, "orig.h5"), os.path.join(tmp, "rt.h5")
        convert(os.path.join(tmp, "orig.pt"), o_h5)
        out = convert(os.path.join(tmp, "rt.pt"), r_h5, expect=2)
        check("no normalisation layer" in out, "converter: a missing normalisation is refused")
        convert(os.path.join(tmp, "rt.pt"), r_h5, "--mean", str(MEAN), "--std", str(STD),
                "--role", "retrain")
        out = convert(os.path.join(tmp, "orig.pt"), os.path.join(tmp, "x.h5"), "--arch",
                      "resnet18", expect=2)
        check("resnet18" in out and not os.path.exists(
            os.path.join(tmp, "x.h5")), "converter: a wrong architecture is refused, no file")
        with h5py.File(o_h5, "r") as f:
            check(f.attrs["arch"] == "cnn4" and list(f.attrs["input_shape"]) == [1, 28, 28],
                  "converted attributes")
            near(float(f.attrs["mean"][0]), MEAN, 1e-7, "mean from the normalisation layer")

        # 2. the config, and what plan accepts and refuses
        cfg = os.path.join(tmp, "byom.yaml")
        with open(cfg, "w") as f:
            f.write(f"""data:
  name: hdf5
  root: {tmp}
  train_files: [data.h5]
  mean: [{MEAN}]
  std: [{STD}]
model:
  arch: cnn4
  width: 8
  original: {o_h5}
  retrained: {r_h5}
forget:
  classes: [0]
unlearn:
  method: ft
  epochs: 1
ec:
  enabled: false
eval:
  knn_probe_size: 1000
  mia_samples: 1000
output:
  cache_dir: {tmp}/cache
  save_models: true
  models_dir: {tmp}/models
""")
        sweep_id, ids = plan_ids(cfg)
        check(len(ids) == 1, f"one run, got {ids}")
        syn = ["data.name=synthetic", "data.synthetic.size=28"]
        for sets, words in (
            (["model.original=" + tmp + "/none.h5"], "none.h5' does not exist"),
            (["model.original=" + tmp + "/orig.pt"], "orig.pt' is not a usable ecore checkpoint"),
            (["model.arch=resnet18"], "orig.h5' holds a cnn4, but model.arch is resnet18"),
            (["model.width=16"], "orig.h5' holds a cnn4 of width 8, not of model.width 16"),
            (["data.mean=[0.5]"], "orig.h5' expects images normalised with mean [0.1307]"),
            (syn + ["data.synthetic.classes=2"], "orig.h5' has 10 classes, but synthetic has 2"),
            (["data.name=synthetic"], "orig.h5' takes 1x28x28 images, but synthetic images are"),
        ):
            out = plan(cfg, *sets, expect=2)
            check(words in out, f"plan {sets}: expected '{words}', got: {out}")
            check(re.search(r"byom\.yaml:\d+:\d+|--set model\.original", out) is not None,
                  f"plan {sets}: the message points at the value: {out}")
        out = plan(cfg, "model.retrained=" + tmp + "/missing.h5", expect=2)
        check("missing.h5' does not exist" in out, f"model.retrained checked: {out}")
        # train keys do not apply when both models are given: not part of ids
        check(plan_ids(cfg, "train.epochs=3")[1] == ids, "train keys change ids of given models")
        # ids follow the content: another path keeps them, a changed weight changes them
        shutil.copy(o_h5, os.path.join(tmp, "copy.h5"))
        check(plan_ids(cfg, "model.original=" + tmp + "/copy.h5") == (sweep_id, ids),
              "the same model under another path has other ids")
        with h5py.File(os.path.join(tmp, "copy.h5"), "r+") as f:
            f["params/fc.bias"][0] += 1e-3
        sid2, ids2 = plan_ids(cfg, "model.original=" + tmp + "/copy.h5")
        check(sid2 != sweep_id and ids2 != ids, "a changed weight keeps the ids")
        shutil.copy(r_h5, os.path.join(tmp, "copy_rt.h5"))
        with h5py.File(os.path.join(tmp, "copy_rt.h5"), "r+") as f:
            f["params/fc.bias"][0] += 1e-3
        check(plan_ids(cfg, "model.retrained=" + tmp + "/copy_rt.h5")[1] != ids,
              "a changed retrained model keeps the run ids")

        # 3. the sweep uses the files
        res = os.path.join(tmp, "byom.h5")
        out = run(ECORE, "sweep", cfg, "--out", res, "--quiet")
        r = rows(res)
        check(set(r) == {"original", "retrain", "ft"}, f"rows: {sorted(r)}")
        for m in r:
            check(r[m]["status"] == "ok", f"{m}: {r[m]['status']}")
        cache = os.path.join(tmp, "cache")
        for kind, given in (("original", o_h5), ("retrain", r_h5)):  # the files, not trained
            names = [c for c in os.listdir(cache) if c.startswith(kind) and c.endswith(".h5")]
            check(len(names) == 1, f"one cached {kind}: {names}")
            with h5py.File(os.path.join(cache, names[0]), "r") as f, h5py.File(given, "r") as g:
                check(all((f["params"][k][()] == g["params"][k][()]).all() for k in g["params"]),
                      f"the cached {kind} is not the given file")
        # PyTorch's own accuracies on the same images
        fx, rx = tx[ty == 0], tx[ty != 0]
        for m, model in (("original", orig), ("retrain", rt)):
            want = {"forget_acc": acc(model, fx, ty[ty == 0]),
                    "retain_acc": acc(model, rx, ty[ty != 0]),
                    "test_forget_acc": acc(model, vx[vy == 0], vy[vy == 0]),
                    "test_retain_acc": acc(model, vx[vy != 0], vy[vy != 0])}
            for k, v in want.items():  # float rounding may flip one near-tied image
                near(r[m][k], v, 1.01 / 900, f"{m} {k}: ecore vs PyTorch")
            print(f"{m}: ecore {[round(r[m][k], 4) for k in want]} "
                  f"PyTorch {[round(v, 4) for v in want.values()]}")
        # ecore eval of the same files
        common = ["--data", "hdf5", "--root", tmp, "--file", "data.h5", "--forget-classes", "0",
                  "--set", f"data.mean=[{MEAN}]", "--set", f"data.std=[{STD}]",
                  "--probe-size", "1000", "--set", "eval.mia_samples=1000"]
        e_o = metrics(run(ECORE, "eval", o_h5, "--original", o_h5, "--retrain", r_h5, *common))
        e_r = metrics(run(ECORE, "eval", r_h5, "--original", o_h5, "--retrain", r_h5, *common))
        ft = os.path.join(tmp, "models", r["ft"]["run_id"] + ".h5")
        e_u = metrics(run(ECORE, "eval", ft, "--original", o_h5, "--retrain", r_h5, *common))
        for m, e in (("original", e_o), ("retrain", e_r), ("ft", e_u)):
            for k in ("forget_acc", "retain_acc", "test_retain_acc", "test_forget_acc",
                      "mia_efficacy", "avg_gap", "cka_original_layer4"):
                near(r[m][k], e[k], 1e-6, f"{m} {k}: sweep row vs ecore eval")
        with h5py.File(ft, "r") as f, h5py.File(o_h5, "r") as g:
            check(any((f["params"][k][()] != g["params"][k][()]).any() for k in g["params"]),
                  "ft changed nothing")
        print("ok:", {m: round(r[m]["forget_acc"], 4) for m in r})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
