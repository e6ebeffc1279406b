"""torchvision's swin_t converted by scripts/torch_to_ecore.py gives PyTorch's logits in ecore.

1. torchvision's SwinTransformer with swin_t's structure (depths 2-2-6-2, heads 3-6-12-24,
   stochastic depth 0.2 as swin_t has it: off in eval mode) at small knobs: 32x32 input, patch
   2, window 4, width 12, 10 classes; its init (trunc_normal .02) then perturbed so every
   tensor matters. Saved as a checkpoint dict {'model': state_dict} with DataParallel's
   'module.' prefix, its relative_position_index buffers included.
2. Converted (--no-normalize); ecore builds the model from the checkpoint alone (width, patch,
   window read from the shapes) and its eval-mode logits on 8 images equal PyTorch's within
   1e-4 of their largest magnitude (tests/ckpt_logits.c).
3. Refused, exit 2, nothing written: a relative_position_index that is not the window's, a
   width that is not a multiple of 3.
4. `ecore plan` takes the file as model.original with model.arch swin_t, model.width 12,
   model.patch 2, model.window 4, and refuses model.window 7, naming model.window.

usage: test_swin_convert.py ECORE CKPT_LOGITS REPO; exit 77 (skipped) without torch/torchvision.
"""
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import torch
    from torchvision.models.swin_transformer import SwinTransformer
except ImportError:
    print("SKIPPED: /usr/bin/python3 has no torch/torchvision/h5py")
    sys.exit(77)

ECORE, LOGITS, REPO = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
CONVERT = os.path.join(REPO, "scripts", "torch_to_ecore.py")


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def swin(width, seed):
    torch.manual_seed(seed)
    net = SwinTransformer(patch_size=[2, 2], embed_dim=width, depths=[2, 2, 6, 2],
                          num_heads=[3, 6, 12, 24], window_size=[4, 4],
                          stochastic_depth_prob=0.2, num_classes=10)
    with torch.no_grad():
        for n, p in net.named_parameters():
            p.add_(0.3 * torch.randn(p.shape) / (p.shape[-1] ** 0.5 if p.dim() > 1 else 1))
    return net.eval()


def convert(src, out, expect=0):
    r = subprocess.run([sys.executable, CONVERT, src, out, "--input-shape", "3,32,32",
                        "--no-normalize"], capture_output=True, text=True)
    check(r.returncode == expect, f"torch_to_ecore exit {r.returncode}, expected {expect}:\n"
          f"{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


def plan(tmp, model, *sets):
    cfg = os.path.join(tmp, "c.yaml")
    with open(cfg, "w") as f:
        f.write("data: {name: synthetic, normalize: false, synthetic: {channels: 3, size: 32}}\n"
                "model: {arch: swin_t, width: 12, patch: 2, window: 4, original: %s}\n"
                "unlearn: {method: ft}\n" % model)
    args = [ECORE, "plan", cfg] + [x for s in sets for x in ("--set", s)]
    return subprocess.run(args, capture_output=True, text=True, cwd=tmp)


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        net = swin(12, 1)
        sd = {"module." + k: v for k, v in net.state_dict().items()}
        src, out = os.path.join(tmp, "swin.pt"), os.path.join(tmp, "swin.h5")
        torch.save({"model": sd}, src)
        print(convert(src, out).strip())

        x = torch.rand(8, 3, 32, 32)
        with torch.no_grad():
            want = net.double()(x.double()).float().numpy()
        inputs = os.path.join(tmp, "inputs.h5")
        with h5py.File(inputs, "w") as f:
            f["input"] = x.numpy()
        r = subprocess.run([LOGITS, out, inputs], capture_output=True, text=True)
        check(r.returncode == 0, f"ckpt_logits: {r.stderr}")
        with h5py.File(inputs, "r") as f:
            got = f["ecore_logits"][()]
        err = abs(got - want).max() / abs(want).max()
        print(f"logits: relative error {err:.2e} (max |logit| {abs(want).max():.3f})")
        check(err < 1e-4, f"ecore's logits differ from PyTorch's: {err:.3g}")

        bad = dict(sd)
        key = "module.features.1.1.attn.relative_position_index"
        bad[key] = bad[key].flip(0)
        torch.save(bad, src)
        msg = convert(src, os.path.join(tmp, "bad.h5"), expect=2)
        check("relative_position_index differs" in msg, f"refusal names the index: {msg}")
        torch.save(swin(10, 2).state_dict(), src)
        msg = convert(src, os.path.join(tmp, "bad.h5"), expect=2)
        check("multiple of 3" in msg, f"refusal says why: {msg}")
        check(not os.path.exists(os.path.join(tmp, "bad.h5")), "nothing written when refused")

        r = plan(tmp, out)
        check(r.returncode == 0, f"ecore plan refused the converted swin_t:\n{r.stderr}")
        r = plan(tmp, out, "model.window=7")
        check(r.returncode == 2 and "model.window" in r.stderr,
              f"ecore plan with model.window 7: exit {r.returncode}\n{r.stderr}")
        print(r.stderr.strip())
    print("test_swin_convert: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
