"""Chaos runs that must lose nothing: ``python -m benchmarks.chaos`` (see benchmarks/chaos/__init__.py)."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import optuna

from . import disk, files, kill_loop, kills, restart

DEFAULT_POSTGRES = os.environ.get("ULSAM_NAS_TEST_POSTGRES", "postgresql://ulsam:ulsam@localhost/ulsam_test")
CASES = ("kills", "restart", "files", "disk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a PostgreSQL URL the runs may create studies in")
    parser.add_argument("--cluster", default="15/main",
                        help="VERSION/NAME of that server's cluster, for pg_ctlcluster restart/stop/start")
    parser.add_argument("--kill-loop", type=int, metavar="N", help="only the kill-then-rerun loop, N times, on PostgreSQL")
    parser.add_argument("--cases", default=",".join(CASES), help=f"which cases, comma-separated: {', '.join(CASES)}")
    parser.add_argument("--count", type=int, default=20, help="damaged copies of each file, per kind of damage")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # this process is ours: its own lines only
    load = os.getloadavg()[0]
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}; "
          f"load average {load:.1f} at the start", flush=True)
    started = time.monotonic()
    ok = True
    with tempfile.TemporaryDirectory(prefix="ulsam-chaos-") as folder:
        folder = Path(folder)
        if args.kill_loop:
            results = kill_loop.run(args.postgres, folder, args.kill_loop, args.seed,
                                    on_run=lambda i, r: print(kill_loop.describe_run(i, r), flush=True))
            print(kill_loop.report(results))
            raise SystemExit(0 if all(r.ok for r in results) else 1)
        cases = set(args.cases.split(","))
        if "kills" in cases:
            for name, storage in (("PostgreSQL", args.postgres), ("journal file", f"journal:{folder / 'k.journal'}")):
                result = kills.run(storage, folder / f"kills-{name[:4]}", f"3 workers on a {name}, 10 SIGKILLs",
                                   seed=args.seed)
                print(result.describe(), flush=True)
                ok &= result.ok
        if "restart" in cases:
            cluster = tuple(args.cluster.split("/"))
            for result in (restart.restarts(args.postgres, cluster, folder / "restart"),):
                print(result.describe(), flush=True)
                ok &= result.ok
            result, lines = restart.long_outage(args.postgres, cluster, folder / "outage")
            print(result.describe(), flush=True)
            for index, worker in enumerate(lines):
                print(f"    worker {index + 1} said: " + " | ".join(worker[-2:]), flush=True)
            ok &= result.ok
        if "files" in cases:
            print(f"corrupted files ({args.count} random cuts and {args.count} random bit flips of each):", flush=True)
            outcomes = files.run(folder / "files", args.count, args.seed,
                                 on_file=lambda name, o: print(files.describe(name, o), flush=True))
            ok &= not any(outcome == "WRONG" for counts in outcomes.values() for _, outcome in counts)
        if "disk" in cases:
            print("full disk (a small tmpfs):", flush=True)
            try:
                results = disk.run(folder / "disk", on_case=lambda r: print(r.describe(), flush=True))
                ok &= all(r.ok for r in results)
            except subprocess.CalledProcessError as error:
                print(f"  not run: cannot mount a tmpfs here ({error.stderr.strip() if error.stderr else error})")
    print(f"all cases {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s; "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
