"""A full disk while writing the cache, a checkpoint, a latency table and the journal: one line, no half file.

Each write goes to a small tmpfs (mounted here; it needs root) that fills up in the middle of it. Then the
case checks: what the tool said (one line), that no partial or temporary file is left where it could be
read later, and that once there is room (the tmpfs remounted larger, or a filler file removed) the same
command goes on with nothing lost.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import yaml
from typer.testing import CliRunner

from ulsam_nas.cli import app
from ulsam_nas.data import load_dataset
from ulsam_nas.latency import LatencySettings, LatencyTable, make_table
from ulsam_nas.space import load_space
from ulsam_nas.training.checkpoint import load_checkpoint

from .checks import tally
from .files import CONFIG, make_image_folder, warnings_caught
from .processes import PROXY, SPACE

runner = CliRunner()


@dataclass(frozen=True)
class DiskResult:
    write: str
    said: str  # the line the tool printed
    one_line: bool
    leftovers: tuple[str, ...]  # partial or temporary files left behind
    recovered: bool  # with room again, the same command went on and nothing was lost

    @property
    def ok(self) -> bool:
        return self.one_line and not self.leftovers and self.recovered

    def describe(self) -> str:
        left = ", ".join(self.leftovers) or "none"
        return (f"  {self.write}: said \"{self.said}\"; one line {'yes' if self.one_line else 'NO'}; partial files "
                f"left {left}; after room was made: {'went on, nothing lost' if self.recovered else 'FAILED'}")


@contextlib.contextmanager
def tmpfs(folder: Path, size: int) -> Iterator[Path]:
    folder.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True, capture_output=True,
                   text=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def grow(folder: Path, size: str = "64m") -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


def temporary_files(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial"))))


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def cache(folder: Path) -> DiskResult:
    images = make_image_folder(folder / "images")
    spec = f"imagefolder:{images}"
    with tmpfs(folder / "disk", 8 * 1024) as disk, warnings_caught() as warned:  # the decoded folder takes 14 KiB
        data = load_dataset(spec, 16, cache_dir=disk)
        lines = error_lines(warned.getvalue())
        left = temporary_files(disk) + tuple(p.name for p in disk.glob("*.tensors"))
        grow(disk)
        load_dataset(spec, 16, cache_dir=disk)
        again = load_dataset(spec, 16, cache_dir=disk)
        recovered = torch.equal(again.train_images, data.train_images) and len(list(disk.glob("*.tensors"))) == 1
    return DiskResult("decoded-image cache", lines[0] if lines else "", len(lines) == 1 and "cannot write" in lines[0],
                      left, recovered)


def checkpoint(folder: Path) -> DiskResult:
    CONFIG.save(folder / "c.yaml")
    with tmpfs(folder / "disk", 4 * 1024 * 1024) as disk:  # last.pt (3.3 MiB) fits, best.pt then does not
        command = ["train", str(folder / "c.yaml"), "--out", str(disk / "run"), "--epochs", "2", "--resolution", "32",
                   "--batch-size", "32", "--train-subset", "64", "--threads", "1"]
        result = runner.invoke(app, command)
        lines = error_lines(result.output)
        left = temporary_files(disk)
        grow(disk)
        resumed = runner.invoke(app, [*command, "--resume"])
        recovered = resumed.exit_code == 0 and load_checkpoint(disk / "run" / "last.pt")["epoch"] == 2
    one = result.exit_code == 2 and len(lines) == 1 and "No space left on device" in lines[0]
    return DiskResult("checkpoint (train)", lines[-1] if lines else "", one, left, recovered)


def table(folder: Path) -> DiskResult:
    (folder / "space.yaml").write_text(SPACE)
    made = make_table(load_space(folder / "space.yaml"), LatencySettings(seconds=0.2), calibration_configs=1)
    size = len(made.to_csv().encode())
    with tmpfs(folder / "disk", size + 4096) as disk:  # one table fits, a second beside it (the temporary copy) not
        made.save(disk / "t.csv")
        made.meta["checked"] = "x" * 8192  # a bigger table, as --check rewrites it
        try:
            made.save(disk / "t.csv")
            said = ""
        except ValueError as error:
            said = str(error)
        left = temporary_files(disk)
        kept = "checked" not in LatencyTable.load(disk / "t.csv").meta
        grow(disk)
        made.save(disk / "t.csv")
        recovered = kept and LatencyTable.load(disk / "t.csv").meta["checked"] == made.meta["checked"]
    return DiskResult("latency table", said, bool(said) and "\n" not in said and "No space left" in said, left, recovered)


def journal(folder: Path) -> DiskResult:
    (folder / "space.yaml").write_text(SPACE)
    with tmpfs(folder / "disk", 1024 * 1024) as disk:
        storage, trials = f"journal:{disk / 'study.journal'}", 8
        study_file = folder / "study.yaml"
        study_file.write_text(yaml.safe_dump({"space": str(folder / "space.yaml"), "storage": storage, "study": "d",
                                              "trials": trials, "sampler": "random", "refine": 0, "proxy": PROXY,
                                              "evaluator": "proxy"}))
        command = [sys.executable, "-m", "ulsam_nas", "search", "--config", str(study_file), "--quiet",
                   "--cache-dir", str(folder / "cache")]
        (disk / "filler").write_bytes(b"\0" * (1024 * 1024 - 24 * 1024))  # room for a few records only
        full = subprocess.run(command, capture_output=True, text=True, timeout=900)
        lines = error_lines(full.stderr)
        journal_bytes = (disk / "study.journal").read_bytes()
        torn = bool(journal_bytes) and not journal_bytes.endswith(b"\n")
        (disk / "filler").unlink()
        rerun = subprocess.run(command, capture_output=True, text=True, timeout=900)
        result = tally(storage, "d", trials)
    errors = [line for line in lines if line.startswith("error:")]
    return DiskResult("journal (search)", errors[-1] if errors else (lines[-1] if lines else ""),
                      full.returncode != 0 and len(errors) == 1 and "No space left on device" in errors[0],
                      ("torn last record",) if torn else (), rerun.returncode == 0 and result.ok)


def run(folder: Path, on_case=None) -> list[DiskResult]:
    results = []
    for case in (cache, checkpoint, table, journal):
        where = folder / f"{case.__name__}-{uuid.uuid4().hex[:6]}"
        where.mkdir(parents=True)
        results.append(case(where))
        if on_case is not None:
            on_case(results[-1])
    return results
