#!/usr/bin/python3
"""Predicts the data-parallel step time of an ecore model at P ranks (docs/scaling.md).

It measures, with `ecore bench --profile` on one rank of this machine, the compute of a step at
every per-rank batch the prediction needs (global batch / P), then adds the communication a
step makes on an interconnect of the given latency and bandwidth:

  step(P) = compute(G/P) + BN sync + exposed gradient sum
  BN sync = 2 * bn_layers * (ceil(log2 P) * latency + message / bandwidth)
            (one allreduce per BN layer and direction; recursive doubling for small messages)
  gradient sum = buckets * 2(P-1) * latency + 2 (P-1)/P * 4 * params / bandwidth  (ring)
  exposed = max(the last bucket's share, gradient sum - backward compute)
            (buckets overlap the backward: dist_backward)

Ranks have their own cores (one rank per node, or per socket), unless --cores says how many
cores all the ranks share (compute then takes P/cores times as long: the validation on a small
machine). Waiting for a slower rank at each of the step's synchronisation points (noise,
imbalance) is --wait-us per point (0 by default; the profile's "waiting" rows measure it).

  /usr/bin/python3 scripts/dp_model.py --arch resnet18 --batch 64 --ranks 1,2,4,8,16,32,64 \\
      --net ib:2:10 --net eth:30:1.1
"""
import argparse
import math
import os
import re
import subprocess
import sys


def bench(ecore, arch, batch, steps, extra):
    """One-rank `ecore bench --profile`: the key=value lines and the profile rows (mean ms)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    cmd = [ecore, "bench", "--arch", arch, "--batch", str(batch), "--steps", str(steps),
           "--warmup", "2", "--profile"] + extra
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    keys, rows = {}, {}
    for line in out.splitlines():
        m = re.match(r"^(\w+)=(.*)$", line)
        if m:
            keys[m.group(1)] = m.group(2)
        m = re.match(r"^  (\S.*?)\s+(-?[\d.]+)\s+(-?[\d.]+)$", line)
        if m:
            rows[m.group(1)] = float(m.group(2))
    return keys, rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ecore", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                   "harness", "ecore"))
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--batch", type=int, default=64, help="global batch")
    p.add_argument("--ranks", default="1,2,4,8,16,32,64")
    p.add_argument("--net", action="append", metavar="NAME:LATENCY_US:GBS",
                   help="an interconnect: MPI latency per message (us) and bandwidth per rank "
                        "(GB/s); repeatable (default: ib:2:10 and eth:30:1.1)")
    p.add_argument("--bucket-mb", type=float, default=4.0)
    p.add_argument("--cores", type=int, default=0, help="cores the ranks share (0: their own)")
    p.add_argument("--wait-us", type=float, default=0.0,
                   help="waiting for the slowest rank per BN synchronisation point")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--bench-args", default="", help="more `ecore bench` flags (--width ...)")
    a = p.parse_args()
    ranks = [int(r) for r in a.ranks.split(",")]
    if any(r < 1 or a.batch % r for r in ranks):
        sys.exit(f"dp_model.py: every rank count must divide the global batch {a.batch}")
    nets = []
    for text in a.net or ["ib:2:10", "eth:30:1.1"]:
        try:
            name, lat, gbs = text.split(":")
            nets.append((name, float(lat) * 1e-6, float(gbs) * 1e9))
        except ValueError:
            sys.exit(f"dp_model.py: --net {text}: expected NAME:LATENCY_US:GBS, e.g. ib:2:10")
    # The compute of a step at each per-rank batch, measured once.
    measured = {r: bench(a.ecore, a.arch, a.batch // r, a.steps, a.bench_args.split())
                for r in ranks}
    for name, lat, bw in nets:
        print(f"# {a.arch}, global batch {a.batch}; {name}: latency {lat * 1e6:g} us, bandwidth "
              f"{bw / 1e9:g} GB/s; buckets of {a.bucket_mb} MiB; compute measured here with "
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
        print("ranks  per-rank  compute_ms  bn_sync_ms  grad_exposed_ms  step_ms  images_per_s  "
              "speedup  efficiency")
        base = None
        for r in ranks:
            keys, rows = measured[r]
            step, parts = step_time(keys, rows, r, lat, bw, a)
            ips = a.batch / step
            base = base or ips  # the first rank count is the reference (1 rank by default)
            speed = ips / base * ranks[0]
            print(f"{r:5d}  {a.batch // r:8d}  {1e3 * parts[0]:10.1f}  {1e3 * parts[1]:10.2f}  "
                  f"{1e3 * parts[2]:15.2f}  {1e3 * step:7.1f}  {ips:12.1f}  {speed:7.2f}  "
                  f"{speed / r:10.2f}")


def step_time(keys, rows, r, lat, bw, a):
    """The modelled step at r ranks from one rank's bench of the per-rank batch: the time and
    its parts (compute, BN sync, exposed gradient sum), in seconds."""
    share = max(1.0, r / a.cores) if a.cores else 1.0
    compute = float(keys["step_ms"]) * 1e-3 * share
    backward = sum(v for k, v in rows.items() if k.startswith("backward")) * 1e-3 * share
    params, layers = int(keys["params"]), int(keys["bn_layers"])
    msg = int(keys["bn_message_bytes"])
    buckets = max(1, math.ceil(4 * params / (a.bucket_mb * 2**20)))
    bn = exposed = 0.0
    if r > 1:
        bn = 2 * layers * (math.ceil(math.log2(r)) * lat + msg / bw + a.wait_us * 1e-6)
        grad = buckets * 2 * (r - 1) * lat + 2 * (r - 1) / r * 4 * params / bw
        exposed = max(grad / buckets, grad - backward)
    return compute + bn + exposed, (compute, bn, exposed)

if __name__ == "__main__":
    main()
