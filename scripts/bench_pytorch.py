#!/usr/bin/python3
"""Times PyTorch training steps of ecore's architectures, for `ecore bench` to be compared with.

Same step as ecore's: forward, mean cross-entropy, backward, SGD (momentum 0.9, wd 5e-4), on
synthetic input at a fixed batch. Prints key=value lines like `ecore bench`.

  /usr/bin/python3 scripts/bench_pytorch.py --arch cnn4 --batch 128 --threads 2
  /usr/bin/python3 scripts/bench_pytorch.py --arch swin_t --batch 32   (torchvision's, 224x224)

swin_t is torchvision's own SwinTransformer (stochastic depth off, as in ecore), at 224x224 by
default, like `ecore bench --arch swin_t`; --size, --patch and --window as there.
"""
import argparse
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from torch_models import build  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--arch", default="cnn4")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--width", type=int, default=0)
    p.add_argument("--patch", type=int, default=0, help="swin_t's patch size (default 4)")
    p.add_argument("--window", type=int, default=0, help="swin_t's window (default 7)")
    p.add_argument("--size", type=int, default=0, help="input height and width")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if (a.patch or a.window) and a.arch != "swin_t":
        p.error("--patch and --window are swin_t's")
    small = a.arch in ("cnn4", "mlp")
    c, hw = (1, 28) if small else (3, 224 if a.arch == "swin_t" else 32)
    hw = a.size or hw
    model = build(a.arch, c, 10, a.width, a.patch, a.window)
    x = torch.randn(a.batch, c, hw, hw)
    y = torch.randint(0, 10, (a.batch,))
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x, []), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    secs = time.perf_counter() - t0
    print(f"framework=pytorch-{torch.__version__}")
    print(f"arch={a.arch}\ninput={c}x{hw}x{hw}\nbatch={a.batch}\nsteps={a.steps}\nthreads={torch.get_num_threads()}")
    print(f"openblas_coretype={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    print(f"mkldnn={torch.backends.mkldnn.is_available()}")
    print(f"step_ms={1e3 * secs / a.steps:.2f}")
    print(f"images_per_s={a.batch * a.steps / secs:.1f}")
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    print(f"final_loss={loss:.4f}")


if __name__ == "__main__":
    main()
