"""torchvision's ResNet-18 (ImageNet stem) converted with scripts/torch_to_ecore.py, run by ecore.

1. torchvision.models.resnet18(weights=None), its BN running statistics perturbed so that BN is
   not the identity in eval mode, and its fc set to a random projection of the standardised
   features of the images below (an untrained network gives every image nearly the same
   features, hence the same class; this spreads them over the 1000 classes), is saved as a
   plain state_dict and converted at 64x64 with ImageNet's normalisation: the converter
   recognises the 7x7 stem and records it.
2. 48 training and 16 test images (random pixels) are labelled with PyTorch's own eval-mode
   prediction; `ecore eval` of the converted file must classify every one of them as PyTorch
   did (accuracies 1.0): ecore's logits agree with PyTorch's on each image's top class, over
   about 60 different classes (their count and the smallest top-1 margin are printed).
3. `ecore plan` with the file as model.original refuses model.stem cifar, naming both stems,
   and accepts model.stem imagenet; the converter refuses a 5x5 conv1.

usage: test_imagenet_stem.py ECORE REPO; exit 77 (skipped) without torch, torchvision or h5py.
"""
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
    import torchvision
except ImportError:
    print("SKIPPED: /usr/bin/python3 has no torch/torchvision/h5py/numpy")
    sys.exit(77)

ECORE, REPO = sys.argv[1], os.path.abspath(sys.argv[2])
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # torchvision's ImageNet Normalize
SIZE = 64


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def run(*args, expect=0):
    p = subprocess.run(list(args), capture_output=True, text=True)
    if p.returncode != expect:
        print(" ".join(args), "\n", p.stdout, p.stderr)
    check(p.returncode == expect, f"{os.path.basename(args[1])}: exit {p.returncode}, "
          f"expected {expect}")
    return p.stdout + p.stderr


def convert(src, out, expect=0):
    return run(sys.executable, os.path.join(REPO, "scripts", "torch_to_ecore.py"), src, out,
               "--input-shape", f"3,{SIZE},{SIZE}", "--mean", ",".join(map(str, MEAN)),
               "--std", ",".join(map(str, STD)), expect=expect)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="ecore_stem_")
    try:
        net = torchvision.models.resnet18(weights=None).eval()
        g = np.random.default_rng(1)
        x = g.integers(0, 256, (64, 3, SIZE, SIZE), dtype=np.uint8)
        t = (torch.tensor(x, dtype=torch.float32) / 255 - torch.tensor(MEAN)[:, None, None]) \
            / torch.tensor(STD)[:, None, None]
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
            fc, net.fc = net.fc, torch.nn.Identity()
            feat = net(t)  # [64, 512]
            w = torch.randn(1000, 512) / feat.std(0).clamp_min(1e-6)
            fc.weight.copy_(w)
            fc.bias.copy_(-w @ feat.mean(0))
            net.fc = fc
        pt, h5 = os.path.join(tmp, "resnet18.pt"), os.path.join(tmp, "resnet18.h5")
        torch.save(net.state_dict(), pt)
        out = convert(pt, h5)
        check("imagenet stem" in out, f"converter names the stem: {out}")
        with h5py.File(h5, "r") as f:
            check(f.attrs["stem"] == "imagenet" and int(f.attrs["num_classes"]) == 1000,
                  "converted attributes")

        # the images, labelled with PyTorch's prediction
        with torch.no_grad():
            logits = net(t)
        top2 = logits.topk(2, dim=1).values
        y = logits.argmax(1).numpy().astype(np.int32)
        check(len(set(y.tolist())) > 30, "PyTorch's predictions are spread over classes")
        print(f"PyTorch: {len(set(y.tolist()))} distinct top classes, smallest top-1 margin "
              f"{(top2[:, 0] - top2[:, 1]).min().item():.3g}")
        with h5py.File(os.path.join(tmp, "data.h5"), "w") as f:
            f.attrs["num_classes"] = np.int32(1000)
            f["train/images"], f["train/labels"] = x[:48], y[:48]
            f["test/images"], f["test/labels"] = x[48:], y[48:]

        text = run(ECORE, "eval", h5, "--data", "hdf5", "--root", tmp, "--file", "data.h5",
                   "--forget-classes", str(y[0]), "--no-gap", "--set", "eval.mia=false",
                   "--set", "eval.knn=false", "--set", "eval.cka=false")
        got = {k: v for k, v in re.findall(r"^(\w+)=(\S+)$", text, re.M)}
        for k in ("forget_acc", "retain_acc", "test_retain_acc"):
            check(k in got and got[k] != "nan" and float(got[k]) == 1.0,
                  f"ecore eval {k} = {got.get(k)}: ecore's top class differs from PyTorch's")
        print("ecore eval:", {k: got[k] for k in ("forget_acc", "retain_acc", "test_retain_acc")})

        # plan: the stem must match the config's
        cfg = os.path.join(tmp, "stem.yaml")
        with open(cfg, "w") as f:
            f.write(f"""data:
  name: hdf5
  root: {tmp}
  train_files: [data.h5]
  mean: {MEAN}
  std: {STD}
model:
  arch: resnet18
  stem: cifar
  original: {h5}
forget:
  classes: [{y[0]}]
unlearn:
  method: ft
""")
        out = run(ECORE, "plan", cfg, expect=2)
        check("holds a resnet18 with the imagenet stem, but model.stem is cifar" in out, out)
        run(ECORE, "plan", cfg, "--set", "model.stem=imagenet")

        # a stem ecore does not have
        sd = net.state_dict()
        sd["conv1.weight"] = torch.zeros(64, 3, 5, 5)
        torch.save(sd, pt)
        out = convert(pt, os.path.join(tmp, "x.h5"), expect=2)
        check("3x3" in out and "7x7" in out and not os.path.exists(os.path.join(tmp, "x.h5")),
              f"a 5x5 stem is refused, nothing written: {out}")
        print("ok")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
