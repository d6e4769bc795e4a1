"""Independent trainings side by side, in spawned processes (refinement's runs, calibration's).

On a CPU, PyTorch's threads wait on each other at every operator: two single-threaded trainings at
once trained 1.42x the images per second of one training on both of the developers' 2 cores
(``python -m benchmarks.proxy_throughput --thread-split``). So runs that do not depend on each other
go one per core, single-threaded (:func:`side_by_side`). The images are put in shared memory once and
every process reads the same copy; each result comes back the moment its run finishes, so the
caller can store it at once (an interrupted batch of runs keeps what finished).
"""

from __future__ import annotations

import dataclasses
import os
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Iterable, Iterator

import torch
import torch.multiprocessing

from ..config import ArchConfig
from ..data import ImageData
from .loop import TrainingDiverged
from .proxy import ProxyResult
from .settings import ProxySettings

__all__ = ["MAX_PROCESSES", "Job", "Outcome", "side_by_side", "train_each", "train_jobs"]

MAX_PROCESSES = 8  # each process holds its own model, activations and a PyTorch runtime (about 0.5-1 GiB)

Job = tuple[int, ArchConfig, int]  # (trial number, config, seed)
Outcome = tuple[int, int, "ProxyResult | str"]  # (trial number, seed, result or why the training diverged)
Trainer = Callable[..., ProxyResult]  # trainer(config, data, settings, seed=seed), like train_proxy


def side_by_side(device: str, threads: int | None, runs: int, processes: int | None = None,
                 cores: int | None = None) -> tuple[int, int | None]:
    """(processes, CPU threads each) for ``runs`` independent trainings on ``device``.

    ``processes`` None chooses: on a CPU without a thread count, one single-threaded process per core (at
    most :data:`MAX_PROCESSES`, which then share the cores); with ``threads`` given, as many processes of
    that many threads as the cores hold; on a GPU one at a time (several trainings per GPU are the
    search's ``--workers``). Given processes share the cores unless ``threads`` says otherwise.
    """
    cores = cores or os.cpu_count() or 1
    if processes is None:
        on_cpu = torch.device(device).type == "cpu"
        processes = min(MAX_PROCESSES, cores // (threads or 1)) if on_cpu else 1
    processes = max(1, min(processes, runs))
    if processes == 1:
        return 1, threads
    return processes, threads or max(1, cores // processes)


def train_jobs(jobs: Iterable[Job], data: ImageData, settings: ProxySettings, trainer: Trainer,
               processes: int = 1) -> Iterator[Outcome]:
    """Train every (trial, config, seed) job with ``trainer``; yield each outcome as its run finishes.

    ``processes`` > 1 runs that many spawned processes at once (``trainer`` must then be picklable: a
    module-level function), in the order they finish; otherwise one after another, here.
    """
    jobs = list(jobs)
    if processes <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield train_job(trainer, data, settings, job)
        return
    # An executor, not multiprocessing.Pool: a worker that dies (killed, out of memory) fails the runs left
    # with BrokenProcessPool instead of leaving the caller waiting for them forever.
    pool = ProcessPoolExecutor(min(processes, len(jobs)), mp_context=torch.multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(_in_shared_memory(data), settings, trainer))
    finished = False
    try:
        for future in as_completed([pool.submit(_worker_job, job) for job in jobs]):
            yield future.result()
        finished = True
    finally:
        if not finished:  # Ctrl-C, an error, or the caller stopped: no run is left training
            for process in list((pool._processes or {}).values()):  # the executor has no terminate()
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def train_each(jobs: Iterable[Job], data: ImageData, settings: ProxySettings,
               on_result: Callable[[int, int, ProxyResult], None], trainer: Trainer, processes: int = 1) -> list[str]:
    """Train every job and hand each result to ``on_result`` as it finishes; returns a line per run whose training
    diverged (those are skipped). Refinement and calibration retrain through this."""
    failed = []
    for number, seed, result in train_jobs(jobs, data, settings, trainer, processes):
        if isinstance(result, str):
            failed.append(f"trial {number} seed {seed}: {result}")
        else:
            on_result(number, seed, result)
    return failed


def train_job(trainer: Trainer, data: ImageData, settings: ProxySettings, job: Job) -> Outcome:
    """One job's outcome: its result, or the reason its training diverged."""
    number, config, seed = job
    try:
        return number, seed, trainer(config, data, settings, seed=seed)
    except TrainingDiverged as error:
        return number, seed, str(error)


_WORKER: dict = {}  # a worker process's data, settings and trainer, set once when it starts


def _start_worker(data: ImageData, settings: ProxySettings, trainer: Trainer) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool, keeping what finished
    _WORKER.update(data=data, settings=settings, trainer=trainer)


def _worker_job(job: Job) -> Outcome:
    return train_job(_WORKER["trainer"], _WORKER["data"], _WORKER["settings"], job)


def _in_shared_memory(data: ImageData) -> ImageData:
    """``data`` with its tensors in shared memory, so that every worker maps one copy instead of receiving its own."""
    tensors = {field.name: getattr(data, field.name) for field in dataclasses.fields(data)
               if isinstance(getattr(data, field.name), torch.Tensor)}
    # A copy: tensors memory-mapped from the dataset cache cannot be moved to shared memory where they lie.
    return dataclasses.replace(data, **{name: tensor if tensor.is_shared() else tensor.clone().share_memory_()
                                        for name, tensor in tensors.items()})
