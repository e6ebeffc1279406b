#!/usr/bin/python3
"""Packs an ImageNet-style image folder into the HDF5 file ecore reads (data.name: hdf5).

  /usr/bin/python3 scripts/pack_imagenet.py ROOT OUT.h5 [--classes FILE] [--workers N]

ROOT holds train/ and val/, one folder per class named by its WordNet id (torchvision's
ImageFolder layout: train/n01440764/*.JPEG, val/n01440764/*.JPEG; ILSVRC's flat val/ must first
be sorted into folders, e.g. with its devkit's ground truth). --classes FILE lists the wnids to
pack, one per line ('#' starts a comment), in label order; without it every folder of train/,
sorted (ImageFolder's order: for the whole of ImageNet-1K, torchvision's class indices).

Every image is converted to RGB and transformed as torchvision's standard evaluation transform
does, Resize(256) (shorter side to 256, bilinear with PIL) then CenterCrop(224) (--resize,
--size to change them), and written as uint8:

  /train/images [N,3,224,224], /train/labels int32 [N]   from train/
  /test/images  [M,3,224,224], /test/labels  int32 [M]   from val/
  root attribute num_classes = the number of classes; /classes: the wnids in label order

Images are in class order, then file name order within a class (ImageFolder's). They are decoded
by --workers processes and written --chunk at a time, so the memory used does not grow with the
data set (ImageNet-100's 130,000 training images are 19.6 GB packed). The file is written as
OUT.h5.tmp and renamed when complete: an interrupted run leaves no partial OUT.h5.

Exit codes: 0 written, 2 refused (a missing folder, an unknown or repeated wnid, an empty class,
an unreadable image: the message names it).
"""
import argparse
import multiprocessing
import os
import sys

import h5py
import numpy as np
from PIL import Image
from torchvision import transforms

# torchvision's ImageFolder extensions (torchvision.datasets.folder.IMG_EXTENSIONS)
EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class Refused(Exception):
    pass


def read_classes(path):
    try:
        with open(path) as f:
            lines = [ln.split("#", 1)[0].strip() for ln in f]
    except OSError as e:
        raise Refused(f"--classes {path}: {e.strerror}")
    wnids = [w for w in lines if w]
    seen = set()
    for w in wnids:
        if w in seen:
            raise Refused(f"--classes {path}: {w} is listed twice")
        seen.add(w)
    if len(wnids) < 2:
        raise Refused(f"--classes {path}: {len(wnids)} class(es); ecore needs at least 2")
    return wnids


def list_split(root, split, wnids):
    """[(path, label)] of root/split/<wnid>/*, in class then file name order."""
    base = os.path.join(root, split)
    if not os.path.isdir(base):
        raise Refused(f"{base}: no such folder (expected {split}/ with one folder per wnid)")
    missing = [w for w in wnids if not os.path.isdir(os.path.join(base, w))]
    if missing:
        raise Refused(f"{base}: no folder for {len(missing)} class(es): " +
                      ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else ""))
    items = []
    for label, w in enumerate(wnids):
        d = os.path.join(base, w)
        files = sorted(f for f in os.listdir(d) if f.lower().endswith(EXTENSIONS))
        if not files:
            raise Refused(f"{d}: no images ({', '.join(EXTENSIONS)})")
        items += [(os.path.join(d, f), label) for f in files]
    return items


def make_transform(resize, size):
    return transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(size)])


def load(args):
    """One image, transformed: uint8 [3, size, size]; or the error message."""
    path, resize, size = args
    try:
        with Image.open(path) as im:
            x = make_transform(resize, size)(im.convert("RGB"))
    except Exception as e:  # PIL raises many kinds for a damaged file
        return f"{path}: cannot be read as an image: {e}"
    return np.asarray(x, dtype=np.uint8).transpose(2, 0, 1)


def write_split(f, group, items, a, pool):
    n = len(items)
    images = f.create_dataset(f"{group}/images", (n, 3, a.size, a.size), np.uint8,
                              chunks=(1, 3, a.size, a.size))
    f.create_dataset(f"{group}/labels", data=np.array([y for _, y in items], np.int32))
    for start in range(0, n, a.chunk):
        part = items[start:start + a.chunk]
        out = np.empty((len(part), 3, a.size, a.size), np.uint8)
        for i, x in enumerate(pool.imap(load, [(p, a.resize, a.size) for p, _ in part])):
            if isinstance(x, str):
                raise Refused(x)
            out[i] = x
        images[start:start + len(part)] = out
        print(f"{group}: {start + len(part)}/{n}", file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("root", help="the folder holding train/ and val/")
    p.add_argument("out", help="the HDF5 file to write")
    p.add_argument("--classes", help="the wnids to pack, one per line, in label order")
    p.add_argument("--resize", type=int, default=256, help="shorter side after resizing (256)")
    p.add_argument("--size", type=int, default=224, help="side of the centre crop (224)")
    p.add_argument("--chunk", type=int, default=512, help="images decoded per write (512)")
    p.add_argument("--workers", type=int, default=1, help="decoding processes (1)")
    a = p.parse_args()
    tmp = a.out + ".tmp"
    try:
        if a.size < 1 or a.resize < a.size or a.chunk < 1 or a.workers < 1:
            raise Refused(f"--size {a.size}, --resize {a.resize}, --chunk {a.chunk}, --workers "
                          f"{a.workers}: expected 1 <= size <= resize, chunk and workers >= 1")
        if a.classes:
            wnids = read_classes(a.classes)
        else:
            train = os.path.join(a.root, "train")
            if not os.path.isdir(train):
                raise Refused(f"{train}: no such folder")
            wnids = sorted(d for d in os.listdir(train) if os.path.isdir(os.path.join(train, d)))
        splits = [("train", list_split(a.root, "train", wnids)),
                  ("test", list_split(a.root, "val", wnids))]
        # libver v108: HDF5 1.8's format, whose structure is checksummed (docs/fuzzing.md)
        with (multiprocessing.Pool(a.workers) as pool,
              h5py.File(tmp, "w", libver=("v108", "latest")) as f):
            f.attrs["num_classes"] = np.int32(len(wnids))
            f.create_dataset("classes", data=np.array(wnids, dtype="S"))
            for group, items in splits:
                write_split(f, group, items, a, pool)
        os.replace(tmp, a.out)
    except Refused as e:
        print(f"pack_imagenet: {e}", file=sys.stderr)
        return 2
    finally:
        if os.path.exists(tmp):  # refused or interrupted: no partial file
            os.remove(tmp)
    print(f"{a.out}: {len(wnids)} classes, {len(splits[0][1])} training and "
          f"{len(splits[1][1])} test images of 3x{a.size}x{a.size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
