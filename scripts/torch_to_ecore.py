#!/usr/bin/python3
"""Converts a PyTorch checkpoint of one of ecore's architectures into an ecore checkpoint.

  /usr/bin/python3 scripts/torch_to_ecore.py MODEL.pt OUT.h5 --input-shape 3,32,32 [options]

MODEL.pt holds a state_dict, or a dict with one under 'state_dict', 'model' or
'model_state_dict' (or --key NAME), as torch.save writes them. Keys lose DataParallel's
'module.' prefixes, BatchNorm's num_batches_tracked counters are dropped, and a normalisation
layer inside the network (buffers '<name>.mean' and '<name>.std', one value per channel, as the
NormalizeByChannelMeanStd layer of the UUEF code base and of the EC authors' models has) becomes
the checkpoint's input normalisation: ecore normalises images with the same mean and std before
the first layer, which computes the same thing. A wrapper around the network ('model.',
'backbone.', or nn.Sequential(normalise, net)'s '1.') is removed when every key has it.

Without such a layer, give the normalisation the model was trained with (--mean, --std: the
values of its torchvision Normalize) or --no-normalize when it takes [0,1] pixels as they are.

The network must be one of ecore's: mlp, cnn4, resnet18, resnet50 (torchvision's key names; the
ResNets with the CIFAR stem, 3x3 conv and no max-pool, or torchvision's ImageNet stem, 7x7
stride-2 conv and max-pool: config key model.stem), swin_t (torchvision's swin_t, any embedding
width, patch and window; docs/swin.md); README "Models and data". The architecture is
recognised from the keys (or --arch), the stem from conv1's kernel, the width from the first
conv (swin_t: also the patch from its kernel and the window from the relative position bias
tables), the classes from fc (swin_t: head). Swin's relative_position_index buffers are checked
against the window's and not stored (ecore derives them). Every
key and shape is checked against ecore's network, built in PyTorch (tests/torch_models.py);
a checkpoint that cannot be represented exactly is refused with the keys at fault, and nothing
is written. The sweep keys model.original and model.retrained take the result
(docs/own-models.md); `ecore eval OUT.h5 ...` evaluates it.

Exit codes: 0 written, 2 refused (the message says why).
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from torch_models import MLP, Swin, build  # noqa: E402

WRAPPERS = ("state_dict", "model", "model_state_dict")
TOP = {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc",  # ecore's top-level names
       "features", "norm", "head"}


class Refused(Exception):
    pass


def load_state_dict(path, key):
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch older than 1.13
        obj = torch.load(path, map_location="cpu")
    except Exception as e:
        raise Refused(f"{path}: cannot be read by torch.load: {e}")
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise Refused(f"{path}: holds a {type(obj).__name__}, not a state_dict")
    names = [key] if key else [k for k in WRAPPERS if isinstance(obj.get(k), dict)][:1]
    for k in names:
        if k not in obj or not isinstance(obj[k], dict):
            raise Refused(f"{path}: no dict under '{k}' (keys: {', '.join(map(str, obj))})")
        obj = obj[k]
    sd = {str(k): v for k, v in obj.items() if torch.is_tensor(v)}
    if not sd:
        raise Refused(f"{path}: no tensors; give --key NAME of the dict holding the state_dict "
                      f"(keys: {', '.join(map(str, obj))})")
    return sd


def strip_prefix(sd, prefix):
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in sd.items()}


def clean(sd):
    """Drops 'module.' prefixes and BN counters; takes out a normalisation layer."""
    while any(k.startswith("module.") for k in sd):
        sd = strip_prefix(sd, "module.")
    sd = {k.replace(".module.", "."): v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    norm = None
    for k in list(sd):
        if not k.endswith(".mean") and k != "mean":
            continue
        base = k[: -len("mean")]
        if base + "std" in sd and sd[k].numel() == sd[base + "std"].numel() <= 4:
            if norm is not None:
                raise Refused(f"two normalisation layers ({norm[0]}mean and {k})")
            norm = (base, sd.pop(k).flatten().double().numpy(),
                    sd.pop(base + "std").flatten().double().numpy())
    heads = {k.split(".", 1)[0] for k in sd}
    if len(heads) == 1 and not heads & TOP and all("." in k for k in sd):
        sd = strip_prefix(sd, heads.pop() + ".")
    return sd, norm


def recognise(sd, arch):
    if arch:
        return arch
    if "features.1.0.attn.relative_position_bias_table" in sd:
        return "swin_t"
    if "layer1.conv.weight" in sd:
        return "cnn4"
    if "layer1.0.conv3.weight" in sd:
        return "resnet50"
    if "layer1.0.conv1.weight" in sd:
        return "resnet18"
    if "layer1.weight" in sd and sd["layer1.weight"].dim() == 2:
        return "mlp"
    raise Refused("not one of ecore's architectures (mlp, cnn4, resnet18, resnet50, swin_t): no "
                  "layer1.conv.weight, layer1.0.conv1.weight, layer1.weight or "
                  "features.1.0.attn.relative_position_bias_table among the keys "
                  f"({', '.join(list(sd)[:8])}, ...)")


def head(arch):
    return "head.weight" if arch == "swin_t" else "fc.weight"


def swin_twin(sd, shape):
    """torchvision's Swin with the checkpoint's width, patch, window and classes."""
    for key in ("features.0.0.weight", "features.1.0.attn.relative_position_bias_table",
                "head.weight"):
        if key not in sd:
            raise Refused(f"no {key}: not torchvision's swin_t")
    emb, rows = sd["features.0.0.weight"], sd["features.1.0.attn.relative_position_bias_table"]
    if emb.dim() != 4 or emb.shape[2] != emb.shape[3] or emb.shape[1] != shape[0]:
        raise Refused(f"features.0.0.weight is {list(emb.shape)}: expected [width, "
                      f"{shape[0]}, patch, patch] for --input-shape {shape}")
    if shape[0] != 3:
        raise Refused("torchvision's swin_t takes 3 channels")
    span = round(rows.shape[0] ** 0.5)
    if rows.dim() != 2 or span * span != rows.shape[0] or span % 2 == 0:
        raise Refused(f"features.1.0.attn.relative_position_bias_table is {list(rows.shape)}: "
                      "expected [(2 window - 1)^2, heads]")
    width, patch, window = emb.shape[0], emb.shape[2], (span + 1) // 2
    if width % 3:
        raise Refused(f"embedding width {width}: ecore's swin_t has heads 3, 6, 12, 24, so the "
                      "width is a multiple of 3")
    net = Swin(sd["head.weight"].shape[0], width, patch, window)
    for k, v in net.state_dict().items():  # derived from the window: must be torchvision's
        if k.endswith("relative_position_index") and k in sd and not torch.equal(sd[k], v):
            raise Refused(f"{k} differs from the index of a {window}x{window} window")
    return net, width


def twin(sd, arch, shape):
    """ecore's network in PyTorch, sized from the checkpoint: width, classes, channels, stem."""
    if arch == "swin_t":
        return (*swin_twin(sd, shape), "cifar")  # the stem is the resnets' alone
    if "fc.weight" not in sd:
        raise Refused("no fc.weight: ecore's networks end in a Linear layer called fc")
    k = sd["fc.weight"].shape[0]
    if arch == "mlp":
        return MLP(shape[0] * shape[1] * shape[2], k), 0, "cifar"
    first = "layer1.conv.weight" if arch == "cnn4" else "conv1.weight"
    if first not in sd or sd[first].dim() != 4:
        raise Refused(f"no 4-d {first} to read the {arch}'s width from")
    width, in_c = sd[first].shape[0], sd[first].shape[1]
    if in_c != shape[0]:
        raise Refused(f"{first} takes {in_c} channels, but --input-shape says {shape[0]}")
    stem = "cifar"
    if arch != "cnn4":
        kernel = tuple(sd[first].shape[2:])
        stems = {(3, 3): "cifar", (7, 7): "imagenet"}
        if kernel not in stems:
            raise Refused(f"conv1.weight is {list(sd[first].shape)}: ecore's ResNets have a 3x3 "
                          "stem (cifar) or torchvision's 7x7 one (imagenet), no other")
        stem = stems[kernel]
    return build(arch, in_c, k, width, stem=stem), width, stem


def ecore_keys(net):
    """The twin's state_dict as ecore stores it (BN's step counters and Swin's position indices,
    which ecore derives, are not kept)."""
    return {k: v for k, v in net.state_dict().items()
            if not k.endswith("num_batches_tracked") and not k.endswith("relative_position_index")}


def check_keys(sd, net, arch, width):
    want = ecore_keys(net)
    missing = [k for k in want if k not in sd]
    extra = [k for k in sd if k not in want and not k.endswith("relative_position_index")]
    wrong = [f"{k} {list(sd[k].shape)} (expected {list(want[k].shape)})"
             for k in want if k in sd and sd[k].shape != want[k].shape]
    if missing or extra or wrong:
        what = f"{arch}" + (f" of width {width}" if width else "")
        lines = [f"does not match ecore's {what}:"]
        for name, ks in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)):
            if ks:
                lines.append(f"  {name} ({len(ks)}): " + ", ".join(ks[:6]) +
                             (", ..." if len(ks) > 6 else ""))
        raise Refused("\n".join(lines))
    net.load_state_dict({**net.state_dict(), **{k: sd[k].float() for k in want}})  # strict


def normalisation(norm, a, c):
    given = a.mean is not None or a.std is not None
    if norm is not None:
        if given or a.no_normalize:
            raise Refused(f"the checkpoint has a normalisation layer ({norm[0]}mean, "
                          f"{norm[0]}std); drop --mean/--std/--no-normalize")
        mean, std = norm[1], norm[2]
        if mean.size == 1 and c > 1:
            mean, std = np.repeat(mean, c), np.repeat(std, c)
    elif a.no_normalize:
        if given:
            raise Refused("--no-normalize and --mean/--std exclude each other")
        mean, std = np.zeros(c), np.ones(c)
    elif a.mean is not None and a.std is not None:
        mean, std = np.array(a.mean), np.array(a.std)
    else:
        raise Refused("the checkpoint has no normalisation layer: give the --mean and --std the "
                      "model was trained with (its torchvision Normalize values), or "
                      "--no-normalize if it takes [0,1] pixels as they are")
    if mean.size != c or std.size != c:
        raise Refused(f"the normalisation has {mean.size} mean and {std.size} std values for "
                      f"{c}-channel images")
    if not (std > 0).all():
        raise Refused(f"the normalisation's std {std.tolist()} is not positive")
    return mean.astype(np.float32), std.astype(np.float32)


def write(out, sd, net, arch, stem, shape, mean, std, role, run_id):
    tmp = out + ".tmp"
    # libver v108: HDF5 1.8's format, whose structure is checksummed (docs/fuzzing.md)
    with h5py.File(tmp, "w", libver=("v108", "latest")) as f:
        g = f.create_group("params")
        for k in ecore_keys(net):
            g.create_dataset(k, data=sd[k].detach().cpu().float().numpy())
        f.attrs["arch"] = arch
        f.attrs["stem"] = stem
        f.attrs["num_classes"] = np.int32(sd[head(arch)].shape[0])
        f.attrs["role"] = role
        f.attrs["run_id"] = run_id
        f.attrs["input_shape"] = np.array(shape, dtype=np.int32)
        f.attrs["mean"] = mean
        f.attrs["std"] = std
    os.replace(tmp, out)


def floats(text):
    return [float(x) for x in text.split(",")]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model", help="the PyTorch checkpoint (torch.save of a state_dict or a dict)")
    p.add_argument("out", help="the ecore checkpoint to write (HDF5)")
    p.add_argument("--input-shape", required=True, type=lambda t: [int(x) for x in t.split(",")],
                   help="C,H,W of the images the model takes, e.g. 1,28,28 or 3,32,32")
    p.add_argument("--arch", choices=["mlp", "cnn4", "resnet18", "resnet50", "swin_t"],
                   help="the architecture, instead of recognising it from the keys")
    p.add_argument("--key", help="the entry of the saved dict that holds the state_dict")
    p.add_argument("--mean", type=floats, help="per-channel mean, e.g. 0.4914,0.4822,0.4465")
    p.add_argument("--std", type=floats, help="per-channel std")
    p.add_argument("--no-normalize", action="store_true", help="the model takes [0,1] pixels")
    p.add_argument("--role", default="original", help="the role attribute (original, retrain)")
    p.add_argument("--run-id", default="", help="the run_id attribute")
    a = p.parse_args()
    try:
        if len(a.input_shape) != 3 or min(a.input_shape) < 1:
            raise Refused(f"--input-shape {a.input_shape}: expected C,H,W, each at least 1")
        sd, norm = clean(load_state_dict(a.model, a.key))
        arch = recognise(sd, a.arch)
        net, width, stem = twin(sd, arch, a.input_shape)
        check_keys(sd, net, arch, width)
        mean, std = normalisation(norm, a, a.input_shape[0])
        write(a.out, sd, net, arch, stem, a.input_shape, mean, std, a.role, a.run_id)
    except Refused as e:
        print(f"torch_to_ecore: {a.model}: {e}", file=sys.stderr)
        return 2
    print(f"{a.out}: {arch}" + (f" width {width}" if width else "") +
          (f", {stem} stem" if arch.startswith("resnet") else "") +
          f", {sd[head(arch)].shape[0]} classes, input {'x'.join(map(str, a.input_shape))}, "
          f"mean {mean.tolist()}, std {std.tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
