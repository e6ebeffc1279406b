"""Every configs/*.yaml passes `ecore plan`, each on data of its shape.

Synthetic data as it is; MNIST and the CIFAR-10 sample from ../shared/data as the configs name
it (a config whose data is absent is skipped, saying so); CIFAR-100 with a small stand-in
(--set data.root, data.allow_reduced); the ImageNet subsets (hdf5 file NAME.h5) packed by
scripts/pack_imagenet.py from a tiny image folder with one image per class and split, with
the classes of configs/NAME.txt, at 224x224. A config on any other data fails the test, so that
a new config is covered here. With WordNet installed, the ImageNet class lists are rewritten by
scripts/imagenet_class_lists.py and compared with configs/.

usage: test_configs_plan.py ECORE REPO; exit 77 (skipped) without PyYAML, h5py or torchvision.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import yaml
    from PIL import Image
    import h5py  # noqa: F401 (pack_imagenet.py's)
    import torchvision  # noqa: F401 (pack_imagenet.py's)
except ImportError:
    print("SKIPPED: /usr/bin/python3 has no PyYAML/numpy/PIL/h5py/torchvision")
    sys.exit(77)

ECORE, REPO = sys.argv[1], os.path.abspath(sys.argv[2])
failures = []


def cifar100(tmp):
    """train.bin and test.bin of 100 records (coarse, fine label, 3072 pixels), one per class."""
    root = os.path.join(tmp, "cifar100")
    os.makedirs(root, exist_ok=True)
    rec = np.zeros((100, 3074), np.uint8)
    rec[:, 1] = np.arange(100)
    for name in ("train.bin", "test.bin"):
        rec.tofile(os.path.join(root, name))
    return ["--set", f"data.root={root}", "--set", "data.allow_reduced=true"]


def imagenet(tmp, files):
    """The packed subsets the config names, each from configs/<name>.txt."""
    root = os.path.join(tmp, "packed")
    os.makedirs(root, exist_ok=True)
    for f in files:
        classes = os.path.join(REPO, "configs", os.path.splitext(f)[0] + ".txt")
        if not os.path.exists(classes):
            return None
        out = os.path.join(root, f)
        if os.path.exists(out):
            continue
        tree = os.path.join(tmp, "tree_" + f)
        with open(classes) as fh:
            wnids = [w for w in (ln.split("#", 1)[0].strip() for ln in fh) if w]
        g = np.random.default_rng(0)
        for split in ("train", "val"):
            for w in wnids:
                os.makedirs(os.path.join(tree, split, w))
                Image.fromarray(g.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(
                    os.path.join(tree, split, w, "a.png"))
        p = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "pack_imagenet.py"),
                            tree, out, "--classes", classes], capture_output=True, text=True)
        if p.returncode != 0:
            failures.append(f"pack_imagenet.py {classes}: {p.stderr}")
            return None
    return ["--set", f"data.root={root}"]


def class_lists(tmp):
    """configs/imagenet_*100.txt are what scripts/imagenet_class_lists.py writes (with WordNet)."""
    if not os.path.exists("/usr/share/wordnet/data.noun"):
        print("class lists: not rewritten, WordNet (wordnet-base) is absent")
        return
    out = os.path.join(tmp, "lists")
    os.makedirs(out)
    subprocess.run([sys.executable, os.path.join(REPO, "scripts", "imagenet_class_lists.py"),
                    "--out", out], check=True, capture_output=True)
    for name in ("imagenet_random100.txt", "imagenet_birdlike100.txt"):
        with open(os.path.join(out, name)) as a, open(os.path.join(REPO, "configs", name)) as b:
            if a.read() != b.read():
                failures.append(f"configs/{name} differs from scripts/imagenet_class_lists.py's")
    print("class lists: configs/imagenet_*100.txt rewritten from WordNet, the same")


def main():
    tmp = tempfile.mkdtemp(prefix="ecore_configs_")
    try:
        class_lists(tmp)
        configs = sorted(glob.glob(os.path.join(REPO, "configs", "*.yaml")))
        for path in configs:
            rel = os.path.relpath(path, REPO)
            with open(path) as f:
                data = (yaml.safe_load(f) or {}).get("data", {})
            name = data.get("name", "synthetic")
            if name == "synthetic":
                extra = []
            elif name in ("mnist", "fashion-mnist", "cifar10"):
                if not os.path.isdir(os.path.join(REPO, data.get("root", ""))):
                    print(f"{rel}: SKIPPED, its data ({data.get('root')}) is absent")
                    continue
                extra = []
            elif name == "cifar100":
                extra = cifar100(tmp)
            elif name == "hdf5":
                extra = imagenet(tmp, data.get("train_files", []))
            else:
                extra = None
            if extra is None:
                failures.append(f"{rel}: no stand-in for its data ({name}, "
                                f"{data.get('train_files')}): add one to {__file__}")
                continue
            p = subprocess.run([ECORE, "plan", path, *extra], cwd=REPO, capture_output=True,
                               text=True)
            m = re.search(r"^(\d+) runs$", p.stdout, re.M)
            if p.returncode != 0 or not m:
                failures.append(f"{rel}: ecore plan exit {p.returncode}: {p.stderr.strip()}")
            else:
                print(f"{rel}: plans, {m.group(1)} runs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
