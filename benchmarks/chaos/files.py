"""Every file the tool reads back, truncated and with flipped bytes: detected, one line, rebuilt or refused.

Each file is made by the tool itself, damaged (cut at a random byte, or one random bit flipped), and read
back the way the tool reads it: the decoded-image cache by ``load_dataset`` (a cache: rebuilt), the latency
table by ``ulsam-nas cost --latency-table``, the journal by ``ulsam-nas show``, ``last.pt`` by
``ulsam-nas train --resume``, ``best.pt`` by ``load_trained`` (what ``--export`` reads), the study YAML by
``SearchSettings.load`` (what ``search --config`` reads). Each reading is classed as:

* ``same``: read as made (the damage hit padding or a comment);
* ``rebuilt``: one warning line, then rebuilt (a cache) or a torn last record dropped (the journal);
* ``refused``: one ``error:`` line, exit 2 (data);
* ``other valid``: read as other valid content (only a hand-written study file can be: it has no checksum);
* ``shorter``: a journal cut exactly at the end of a record reads as the study was at that record: nothing
  in the file can tell (a length kept elsewhere could);
* ``WRONG``: anything else: a traceback, several lines, or other numbers read silently. Must be 0.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import random
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from ulsam_nas import ArchConfig
from ulsam_nas.cli import app
from ulsam_nas.data import load_dataset
from ulsam_nas.latency import LatencySettings, make_table
from ulsam_nas.resources import resolve_bundled
from ulsam_nas.search import SearchSettings, run_search
from ulsam_nas.space import load_space
from ulsam_nas.training import ProxySettings, TrainSettings, load_trained, train
from ulsam_nas.training.checkpoint import DIGEST_KEY, content_digest

from .processes import SPACE

OUTCOMES = ("same", "rebuilt", "refused", "other valid", "shorter", "WRONG")
TRAIN = TrainSettings(epochs=2, resolution=32, batch_size=32, train_subset=64, threads=1)
CONFIG = ArchConfig(num_classes=10, width=0.35, drop=[15, 16])
runner = CliRunner()


def damaged_copies(data: bytes, count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """``count`` random cuts and ``count`` random single-bit flips of ``data``."""
    copies = [("truncated", data[:rng.randrange(1, len(data))]) for _ in range(count)]
    for _ in range(count):
        flipped = bytearray(data)
        flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        copies.append(("flipped", bytes(flipped)))
    return copies


def one_error_line(output: str, start: str) -> bool:
    lines = [line for line in output.splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith(start) and "Traceback" not in output


@contextlib.contextmanager
def warnings_caught():
    """The ulsam_nas warning lines logged inside the block."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("ulsam_nas")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


# --- one maker and one reader per file -------------------------------------------------------------------------

def make_image_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for label in range(3):
        for index in range(6):
            pixels = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
            (root / f"class_{label}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / f"class_{label}" / f"{index}.png")
    return root


def cache_case(folder: Path) -> tuple[Path, Callable[[], str]]:
    images, cache = make_image_folder(folder / "images"), folder / "cache"
    spec = f"imagefolder:{images}"
    load_dataset(spec, 16, cache_dir=cache)
    expected = load_dataset(spec, 16, cache=False)
    (entry,) = cache.glob("*.tensors")

    def read() -> str:
        with warnings_caught() as warned:
            data = load_dataset(spec, 16, cache_dir=cache)
        identical = all(torch.equal(getattr(data, name), getattr(expected, name)) for name in
                        ("train_images", "train_labels", "val_images", "val_labels")) and data.classes == expected.classes
        lines = warned.getvalue().strip().splitlines()
        if not identical:
            return "WRONG"
        return "same" if not lines else "rebuilt" if len(lines) == 1 and "decoding again" in lines[0] else "WRONG"

    return entry, read


def table_case(folder: Path) -> tuple[Path, Callable[[], str]]:
    (folder / "space.yaml").write_text(SPACE)
    table = make_table(load_space(folder / "space.yaml"), LatencySettings(seconds=0.2), calibration_configs=1)
    path = table.save(folder / "table.csv")
    CONFIG.save(folder / "c.yaml")
    command = ["cost", str(folder / "c.yaml"), "--latency-table", str(path), "--resolution", "64", "--json"]
    expected = json.loads(runner.invoke(app, command).output)["latency_ms"]

    def read() -> str:
        result = runner.invoke(app, command)
        if result.exit_code == 2 and one_error_line(result.output, f"error: latency table {path}: "):
            return "refused"
        if result.exit_code == 0 and json.loads(result.output)["latency_ms"] == expected:
            return "same"
        return "WRONG"

    return path, read


def journal_case(folder: Path) -> tuple[Path, Callable[[], str]]:
    (folder / "space.yaml").write_text(SPACE)
    storage = f"journal:{folder / 'study.journal'}"
    run_search(SearchSettings(space=str(folder / "space.yaml"), storage=storage, study="j", trials=4, sampler="random",
                              refine=0, evaluator="proxy", noise_seeds=0,
                              proxy=ProxySettings(epochs=1, resolution=16, train_subset=64,
                                                                           batch_size=32, threads=1)))
    command = ["show", "--storage", storage, "--study", "j"]
    expected = runner.invoke(app, command).output
    path = folder / "study.journal"
    whole = path.read_bytes()

    def read() -> str:
        damaged = path.read_bytes()
        result = runner.invoke(app, command)
        if result.exit_code == 2 and one_error_line(result.output, f"error: storage: journal {path} is damaged"):
            return "refused"
        if result.exit_code == 0 and result.output == expected:
            return "same"
        dropped = "ended in an incomplete record"
        if result.exit_code == 0 and result.output.count(dropped) == 1 and not damaged.endswith(b"\n") \
                and whole.startswith(damaged[:damaged.rfind(b"\n") + 1]):
            return "rebuilt"  # a torn last record dropped; everything before it read as written
        if result.exit_code == 0 and dropped not in result.output and damaged.endswith(b"\n") and whole.startswith(damaged):
            return "shorter"
        return "WRONG"

    return path, read


def checkpoint_cases(folder: Path) -> list[tuple[str, Path, Callable[[], str]]]:
    out = folder / "run"
    train(CONFIG, TRAIN, out)
    last, best = torch.load(out / "last.pt", weights_only=True), torch.load(out / "best.pt", weights_only=True)

    def unchanged(path: Path, original: dict) -> bool:
        now = torch.load(path, weights_only=True)  # the keys it was saved with (a renamed digest key aside)
        return all(key in now for key in original if key != DIGEST_KEY) and content_digest(
            {key: now[key] for key in original if key != DIGEST_KEY}) == content_digest(
            {key: value for key, value in original.items() if key != DIGEST_KEY})
    CONFIG.save(folder / "c.yaml")
    command = ["train", str(folder / "c.yaml"), "--resume", "--out", str(out), "--epochs", "2", "--resolution", "32",
               "--batch-size", "32", "--train-subset", "64", "--threads", "1"]

    def read_last() -> str:
        result = runner.invoke(app, command)  # two of two epochs done: resuming loads last.pt and trains nothing
        if result.exit_code == 2 and one_error_line(result.output, f"error: checkpoint {out / 'last.pt'}"):
            return "refused"
        if result.exit_code == 0 and unchanged(out / "last.pt", last):
            return "same"
        return "WRONG"

    def read_best() -> str:
        try:
            _, model = load_trained(out, "best")
        except ValueError as error:
            return "refused" if "\n" not in str(error) and str(error).startswith("checkpoint ") else "WRONG"
        same = content_digest(model.state_dict()) == content_digest(best["model"])
        return "same" if same else "WRONG"

    return [("last.pt (train --resume)", out / "last.pt", read_last), ("best.pt (load_trained)", out / "best.pt", read_best)]


def study_case(folder: Path) -> tuple[Path, Callable[[], str]]:
    path = folder / "quickstart.yaml"
    path.write_bytes(resolve_bundled("studies", "quickstart", "study").read_bytes())
    expected = SearchSettings.load(path)

    def read() -> str:
        try:
            loaded = SearchSettings.load(path)
        except ValueError as error:
            return "refused" if "\n" not in str(error) else "WRONG"
        except Exception:
            return "WRONG"
        return "same" if loaded == expected else "other valid"

    return path, read


def run(folder: Path, count: int = 20, seed: int = 0, on_file=None) -> dict[str, Counter]:
    """Outcomes per file (and damage kind): ``count`` cuts and ``count`` flips of each."""
    rng = random.Random(seed)
    cases = []
    for name, make in (("decoded-image cache", cache_case), ("latency table", table_case), ("journal", journal_case),
                       ("study YAML", study_case)):
        where = folder / uuid.uuid4().hex[:6]
        where.mkdir(parents=True)
        cases.append((name, *make(where)))
    where = folder / "checkpoints"
    where.mkdir(parents=True)
    cases += checkpoint_cases(where)
    results = {}
    for name, path, read in cases:
        good = path.read_bytes()
        outcomes = Counter()
        for damage, data in damaged_copies(good, count, rng):
            path.write_bytes(data)
            try:
                outcomes[(damage, read())] += 1
            except Exception:  # a traceback: the reader let an error through
                outcomes[(damage, "WRONG")] += 1
            path.write_bytes(good)
        results[name] = outcomes
        if on_file is not None:
            on_file(name, outcomes)
    return results


def describe(name: str, outcomes: Counter) -> str:
    parts = []
    for damage in ("truncated", "flipped"):
        counts = {outcome: outcomes[(damage, outcome)] for outcome in OUTCOMES if outcomes[(damage, outcome)]}
        parts.append(f"{damage}: " + ", ".join(f"{n} {outcome}" for outcome, n in counts.items()))
    return f"  {name}: " + "; ".join(parts)
