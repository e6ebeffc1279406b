"""make_corpus.py: writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<harness>/).

    /usr/bin/python3 tests/fuzz/make_corpus.py build/harness/ecore

Seeds are small and made here (no copy of a real data set): the repository's configs, tiny idx,
CIFAR and HDF5 data files, and the checkpoint and results file of a one-run sweep of
tests/configs/tiny.yaml (made with the ecore binary given). Each file is an input in the format
its harness's top comment gives. Inputs libFuzzer found (`-merge=1`) sit beside them, named by
their SHA-1; this script only writes the seed_* files.
"""
import glob
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def put(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)


def config_seeds():
    paths = sorted(glob.glob(os.path.join(REPO, "configs", "*.yaml")))
    paths += sorted(glob.glob(os.path.join(REPO, "tests", "configs", "*.yaml")))
    for p in paths:
        with open(p, "rb") as f:
            put("config", os.path.basename(p), f.read())
    with open(os.path.join(REPO, "configs", "quickstart.yaml"), "rb") as f:
        quick = f.read()
    # The YAML text, NUL, then --set arguments each ended by NUL (fuzz_config.c).
    sets = [b"forget.classes=[3,8]", b"sweep.grid.unlearn.method=[ft,rl]", b"ec.temperature=0.5"]
    put("config", "quickstart_sets", quick + b"\0" + b"\0".join(sets) + b"\0")
    put("config", "bad_set", quick + b"\0ec.temprature=1\0")
    put("config", "flow", b"data: {name: synthetic}\nsweep: {seeds: [0, 1], "
        b"cases: [{unlearn.method: ft}, {unlearn.method: ga, ec.enabled: true}]}\n")


def idx(magic, dims, body):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + body


def idx_input(max_train, images, labels):
    # 1 byte max_train, u32 LE length of the images file, images, labels (fuzz_idx.c).
    return bytes([max_train]) + struct.pack("<I", len(images)) + images + labels


def idx_seeds():
    rng = np.random.default_rng(0)
    img = idx(0x803, [3, 4, 5], rng.integers(0, 256, 60, dtype=np.uint8).tobytes())
    lab = idx(0x801, [3], bytes([0, 9, 4]))
    put("idx", "raw", idx_input(0, img, lab))
    put("idx", "prefix", idx_input(2, img, lab))
    put("idx", "gzip", idx_input(0, gzip.compress(img, mtime=0), gzip.compress(lab, mtime=0)))
    # A truncated MNIST header: 60000 images of 28x28 declared, no pixels.
    put("idx", "mnist_header", idx_input(0, idx(0x803, [60000, 28, 28], b""),
                                         idx(0x801, [60000], b"")))


def cifar_seeds():
    rng = np.random.default_rng(1)
    pix = lambda: rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
    # 1 byte: bit 0 cifar100, bits 1..7 max_train; then the file (fuzz_cifar.c).
    put("cifar", "cifar10", bytes([0]) + bytes([3]) + pix() + bytes([7]) + pix())
    put("cifar", "cifar100", bytes([1]) + bytes([4, 41]) + pix() + bytes([19, 99]) + pix())
    put("cifar", "cifar10_prefix", bytes([2]) + bytes([3]) + pix() + bytes([7]) + pix())
    put("cifar", "cut", bytes([0]) + bytes([3]) + pix()[:100])


def hdf5_bytes(write):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "f.h5")
        with h5py.File(p, "w", libver="latest") as f:
            write(f)
        with open(p, "rb") as f:
            return f.read()


def hdf5_seeds():
    rng = np.random.default_rng(2)

    def data4(f):
        f.create_dataset("train/images", data=rng.integers(0, 256, (4, 1, 3, 3), dtype=np.uint8))
        f.create_dataset("train/labels", data=np.array([0, 1, 2, 1], dtype=np.int64))
        f.create_dataset("test/images", data=rng.integers(0, 256, (2, 1, 3, 3), dtype=np.uint8))
        f.create_dataset("test/labels", data=np.array([2, 0], dtype=np.int32))
        f.attrs["num_classes"] = 3

    def data3(f):  # [N, H, W] images, uint8 labels, no num_classes
        f.create_dataset("train/images", data=rng.integers(0, 256, (3, 2, 2), dtype=np.uint8))
        f.create_dataset("train/labels", data=np.array([0, 1, 1], dtype=np.uint8))
        f.create_dataset("test/images", data=rng.integers(0, 256, (1, 2, 2), dtype=np.uint8))
        f.create_dataset("test/labels", data=np.array([1], dtype=np.uint8))

    # 1 byte max_train, then the file (fuzz_hdf5.c).
    put("hdf5", "nchw", bytes([0]) + hdf5_bytes(data4))
    put("hdf5", "nhw_prefix", bytes([2]) + hdf5_bytes(data3))


def sweep_seeds(ecore):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(REPO, "tests", "configs", "tiny.yaml")) as f:
            text = f.read()
        with open(os.path.join(d, "tiny.yaml"), "w") as f:
            f.write(text)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        subprocess.run([ecore, "sweep", "tiny.yaml", "--quiet", "--set", "sweep.seeds=[0]",
                        "--set", "sweep.grid.unlearn.method=[ft]",
                        "--set", "sweep.grid.ec.enabled=[false]"],
                       cwd=d, env=env, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(d, "tiny.h5"), "rb") as f:
            put("results", "tiny", f.read())
        ckpt = sorted(glob.glob(os.path.join(d, "cache", "original-*.h5")))[0]
        with open(ckpt, "rb") as f:
            put("ckpt", "cnn4_w4", f.read())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py ECORE_BINARY")
    for h in ("config", "idx", "cifar", "hdf5", "ckpt", "results"):
        for p in glob.glob(os.path.join(HERE, "corpus", h, "seed_*")):
            os.remove(p)
    config_seeds()
    idx_seeds()
    cifar_seeds()
    hdf5_seeds()
    sweep_seeds(os.path.abspath(sys.argv[1]))


if __name__ == "__main__":
    main()
