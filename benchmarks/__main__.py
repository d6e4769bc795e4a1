"""Run every benchmark and print its figures and ratios: ``python -m benchmarks``.

The search-efficiency comparison (samplers x seeds at the default trial count)
takes about 50 minutes on 2 CPU cores, so it runs only with ``--samplers``
(or on its own: ``python -m benchmarks.samplers``).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys

import torch

from . import data_load, latency_spread, latency_table, proxy_throughput, search_overhead, ulsam_speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", action="store_true", help="also run the sampler comparison (long)")
    parser.add_argument("--trials", type=int, default=12, help="trials of the overhead search")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(ulsam_speed.report(ulsam_speed.run()), flush=True)
    for resolution in (48, 32):
        print(proxy_throughput.report(proxy_throughput.run(resolution=resolution)), flush=True)
    if torch.cuda.is_available():
        print(proxy_throughput.report(proxy_throughput.run(resolution=32, device="cuda")), flush=True)
    else:
        print("Proxy training on a GPU: not run (no GPU visible).")
    print(latency_spread.report(latency_spread.run()), flush=True)
    print(latency_table.report(latency_table.run()), flush=True)  # about 2.5 minutes on 2 cores
    print(search_overhead.report(search_overhead.run(args.trials)), flush=True)
    print(data_load.report(data_load.run()), flush=True)  # a generated folder; --data PATH on its own for real images
    if args.samplers:
        subprocess.run([sys.executable, "-m", "benchmarks.samplers"], check=True)
    else:
        print("Search efficiency: not run (about 50 minutes on 2 cores); `python -m benchmarks --samplers` runs it. "
              "Last figures: benchmarks/RESULTS.md.")


if __name__ == "__main__":
    main()
