"""ImageNet in ecore: scripts/pack_imagenet.py, and torchvision's ResNet-18 (ImageNet stem)
converted with scripts/torch_to_ecore.py and run by ecore on the packed images.

1. A tiny ImageFolder tree (train/ and val/, three wnids; PNGs of several sizes, portrait and
   landscape, grey, RGBA) is packed at 224 with --classes listing the wnids out of sorted order.
   Its labels follow the list, and its pixels equal torchvision's Resize(256) + CenterCrop(224)
   of each file, exactly. `ecore plan` accepts it as an hdf5 data set. The packer refuses a
   missing class folder, a repeated wnid and a damaged image, writing nothing.
2. torchvision.models.resnet18(weights=None), its BN running statistics perturbed so that BN is
   not the identity in eval mode, and its fc set to a random projection of the standardised
   features of the packed images (an untrained network gives every image nearly the same
   features, hence the same class; this spreads them over the 1000 classes), is saved as a
   plain state_dict and converted with ImageNet's normalisation: the converter recognises the
   7x7 stem and records it.
3. The packed images, labelled with PyTorch's own eval-mode prediction, are evaluated by
   `ecore eval` with the converted file: every image must be classified as PyTorch did
   (accuracies 1.0), so ecore's reader, stem and network agree with PyTorch on each image's top
   class (the number of distinct classes and the smallest top-1 margin are printed).
4. `ecore plan` with the file as model.original refuses model.stem cifar, naming both stems,
   and accepts model.stem imagenet; the converter refuses a 5x5 conv1.

usage: test_imagenet.py ECORE REPO; exit 77 (skipped) without torch, torchvision or h5py.
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
    from PIL import Image
    from torchvision import transforms
except ImportError:
    print("SKIPPED: /usr/bin/python3 has no torch/torchvision/h5py/numpy/PIL")
    sys.exit(77)

ECORE, REPO = sys.argv[1], os.path.abspath(sys.argv[2])
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # torchvision's ImageNet Normalize
WNIDS = ["n01530575", "n01514859", "n01531178"]  # packed in this order: labels 0, 1, 2
SIZES = [(300, 260), (180, 400), (256, 256), (500, 240), (224, 224), (640, 480)]


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


def script(name, *args, expect=0):
    return run(sys.executable, os.path.join(REPO, "scripts", name), *args, expect=expect)


def make_tree(root, g):
    """train/<wnid>/ and val/<wnid>/ with PNGs: [(path, split, wnid)] in packing order."""
    files = []
    for split, per_class in (("train", 6), ("val", 2)):
        for w in WNIDS:
            os.makedirs(os.path.join(root, split, w))
            for i in range(per_class):
                wd, ht = SIZES[(i + len(files)) % len(SIZES)]
                low = g.integers(0, 256, (ht // 16 + 1, wd // 16 + 1, 3), dtype=np.uint8)
                im = Image.fromarray(low).resize((wd, ht), Image.BICUBIC)  # smooth, not noise
                mode = ("RGB", "L", "RGBA")[i % 3]
                path = os.path.join(root, split, w, f"{w}_{i}.png")
                im.convert(mode).save(path)
                files.append((path, split, w))
    return files


def check_pack(tmp, packed):
    """Packs the tree; labels and pixels as torchvision's transform; refusals."""
    root = os.path.join(tmp, "tree")
    files = make_tree(root, np.random.default_rng(3))
    classes = os.path.join(tmp, "classes.txt")
    with open(classes, "w") as f:
        f.write("# three bird classes, not in sorted order\n" + "\n".join(WNIDS) + "\n")
    script("pack_imagenet.py", root, packed, "--classes", classes, "--chunk", "4")
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    with h5py.File(packed, "r") as f:
        check(int(f.attrs["num_classes"]) == 3, "num_classes attribute")
        check([w.decode() for w in f["classes"][()]] == WNIDS, "/classes in --classes order")
        for group, split in (("train", "train"), ("test", "val")):
            want = [(p, WNIDS.index(w)) for p, s, w in files if s == split]
            x, y = f[group + "/images"], f[group + "/labels"][()]
            check(x.shape == (len(want), 3, 224, 224), f"{group} shape {x.shape}")
            check(list(y) == [lab for _, lab in want], f"{group} labels follow --classes")
            for i, (p, _) in enumerate(want):
                with Image.open(p) as im:
                    ref = np.asarray(tf(im.convert("RGB"))).transpose(2, 0, 1)
                check(np.array_equal(x[i], ref), f"{group} image {i} ({p}) differs from "
                      "torchvision's Resize(256) + CenterCrop(224)")
    print(f"packed: {len(files)} images equal torchvision's transform")
    # refusals: nothing written
    bad = os.path.join(tmp, "bad.h5")
    for lines, words in ((WNIDS + ["n09999999"], "no folder for 1 class(es): n09999999"),
                         (WNIDS + [WNIDS[0]], "n01530575 is listed twice")):
        with open(classes, "w") as f:
            f.write("\n".join(lines) + "\n")
        out = script("pack_imagenet.py", root, bad, "--classes", classes, expect=2)
        check(words in out and not os.path.exists(bad) and not os.path.exists(bad + ".tmp"),
              f"refused ({words}), nothing written: {out}")
    with open(os.path.join(root, "val", WNIDS[1], "zz_broken.png"), "wb") as f:
        f.write(b"\x89PNG not really")
    out = script("pack_imagenet.py", root, bad, expect=2)
    check("zz_broken.png: cannot be read" in out and not os.path.exists(bad),
          f"a damaged image is refused, nothing written: {out}")


def fitted_resnet18(x):
    """torchvision's resnet18, BN statistics perturbed, fc spreading x over the classes."""
    net = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        fc, net.fc = net.fc, torch.nn.Identity()
        feat = net(x)  # [N, 512]
        w = torch.randn(1000, 512) / feat.std(0).clamp_min(1e-6)
        fc.weight.copy_(w)
        fc.bias.copy_(-w @ feat.mean(0))
        net.fc = fc
    return net


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="ecore_imagenet_")
    try:
        packed = os.path.join(tmp, "packed.h5")
        check_pack(tmp, packed)
        cfg = os.path.join(tmp, "data.yaml")
        with open(cfg, "w") as f:
            f.write(f"data:\n  name: hdf5\n  root: {tmp}\n  train_files: [packed.h5]\n"
                    f"model:\n  arch: resnet18\n  stem: imagenet\nforget:\n  classes: [1]\n")
        run(ECORE, "plan", cfg)

        with h5py.File(packed, "r") as f:
            x = np.concatenate([f["train/images"][()], f["test/images"][()]])
        n_train = len(x) - 6
        t = (torch.tensor(x, dtype=torch.float32) / 255 - torch.tensor(MEAN)[:, None, None]) \
            / torch.tensor(STD)[:, None, None]
        net = fitted_resnet18(t)
        pt, h5 = os.path.join(tmp, "resnet18.pt"), os.path.join(tmp, "resnet18.h5")
        torch.save(net.state_dict(), pt)
        out = script("torch_to_ecore.py", pt, h5, "--input-shape", "3,224,224",
                     "--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)))
        check("imagenet stem" in out, f"converter names the stem: {out}")
        with h5py.File(h5, "r") as f:
            check(f.attrs["stem"] == "imagenet" and int(f.attrs["num_classes"]) == 1000,
                  "converted attributes")

        # the packed images, labelled with PyTorch's prediction
        with torch.no_grad():
            logits = net(t)
        top2 = logits.topk(2, dim=1).values
        y = logits.argmax(1).numpy().astype(np.int32)
        check(len(set(y.tolist())) > len(y) // 2, "PyTorch's predictions are spread over classes")
        print(f"PyTorch: {len(set(y.tolist()))} distinct top classes over {len(y)} images, "
              f"smallest top-1 margin {(top2[:, 0] - top2[:, 1]).min().item():.3g}")
        with h5py.File(os.path.join(tmp, "relabelled.h5"), "w") as f:
            f.attrs["num_classes"] = np.int32(1000)
            f["train/images"], f["train/labels"] = x[:n_train], y[:n_train]
            f["test/images"], f["test/labels"] = x[n_train:], y[n_train:]
        text = run(ECORE, "eval", h5, "--data", "hdf5", "--root", tmp, "--file", "relabelled.h5",
                   "--forget-classes", str(y[0]), "--no-gap", "--set", "eval.mia=false",
                   "--set", "eval.knn=false", "--set", "eval.cka=false")
        got = dict(re.findall(r"^(\w+)=(\S+)$", text, re.M))
        for k in ("forget_acc", "retain_acc", "test_retain_acc"):
            check(k in got and got[k] != "nan" and float(got[k]) == 1.0,
                  f"ecore eval {k} = {got.get(k)}: ecore's top class differs from PyTorch's")
        print("ecore eval:", {k: got[k] for k in ("forget_acc", "retain_acc", "test_retain_acc")})

        # plan: the stem must match the config's
        sets = ["--set", f"model.original={h5}", "--set", f"data.mean={MEAN}", "--set",
                f"data.std={STD}", "--set", "data.train_files=[relabelled.h5]", "--set",
                f"forget.classes=[{y[0]}]"]
        out = run(ECORE, "plan", cfg, "--set", "model.stem=cifar", *sets, expect=2)
        check("holds a resnet18 with the imagenet stem, but model.stem is cifar" in out, out)
        run(ECORE, "plan", cfg, *sets)

        # a stem ecore does not have
        sd = net.state_dict()
        sd["conv1.weight"] = torch.zeros(64, 3, 5, 5)
        torch.save(sd, pt)
        out = script("torch_to_ecore.py", pt, os.path.join(tmp, "x.h5"), "--input-shape",
                     "3,224,224", "--no-normalize", expect=2)
        check("3x3" in out and "7x7" in out and not os.path.exists(os.path.join(tmp, "x.h5")),
              f"a 5x5 stem is refused, nothing written: {out}")
        print("ok")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
