"""Proxy fidelity: does the short proxy rank architectures like longer training does?

Retrains a spread of a study's trials (front and off-front) for longer and reports the rank correlation
(Kendall tau with a bootstrap 95% interval, Spearman rho) between the proxy accuracy and the longer
training's accuracy, next to that of FLOPs and params alone. A proxy that ranks no better than FLOPs is
not worth its training time. The retraining and the longer training are refinement's
(``training.parallel.train_each``; ``RefineSettings.training``: all the data, 3x the proxy's images);
calibration differs in what it picks (a spread, not the front) and in storing nothing per run.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import optuna

from .data import load_dataset
from .ranks import rank_agreement, spearman_rho
from .record import Status, StudyMeta
from .study_records import Calibration
from .report import StudyResults, pareto_front, study_results
from .training import RefineSettings
from .training.proxy import train_final_only
from .training.parallel import side_by_side, train_each

__all__ = ["calibrate", "pick_spread"]


def pick_spread(results: StudyResults, count: int) -> list[int]:
    """Up to ``count`` trained trials: half from the strict front, the rest evenly across the others' accuracy ranks."""
    trained = sorted((t for t in results.trials if t.record.status == Status.TRAINED and not np.isnan(t.proxy_accuracy)),
                     key=lambda t: (t.proxy_accuracy, t.number))
    if len(trained) < 3:
        raise ValueError(f"calibrate: needs at least 3 trained trials, the study has {len(trained)}")
    numbers = [t.number for t in trained]
    front = [p.trial.number for p in pareto_front(results.trials, results.objectives, strict=True)
             if p.trial.number in numbers][: max(1, count // 2)]
    others = [number for number in numbers if number not in front]
    wanted = count - len(front)
    if wanted > 0 and others:
        step = max(1, len(others) / wanted)
        front += [others[min(len(others) - 1, int(i * step))] for i in range(min(wanted, len(others)))]
    return sorted(set(front))


def calibrate(study: optuna.Study, count: int = 6, epochs: int | None = None, threads: int | None = None,
              on_trial: Callable[[int, float, float], None] | None = None,
              trainer: Callable = train_final_only, processes: int | None = 1) -> Calibration:
    """Retrain ``count`` of the study's trials longer and correlate: on all the training data, for ``epochs``
    (default: refinement's, 3x the proxy's training images as whole epochs).

    ``processes`` trains that many side by side, as refinement does (None: ``side_by_side`` chooses).
    """
    meta = StudyMeta.from_study(study)
    if not meta.written:
        raise ValueError(f"calibrate: study {study.study_name!r} was not written by ulsam-nas search")
    definition = meta.definition
    proxy = dataclasses.replace(definition.proxy, threads=threads)
    results = study_results(study)
    chosen = pick_spread(results, count)
    by_number = {t.number: t for t in results.trials}
    data = load_dataset(definition.dataset, proxy.resolution, seed=0)  # all the training images, as refinement
    long = RefineSettings().training(proxy, len(data.train_labels))
    long = dataclasses.replace(long, epochs=epochs or long.epochs)
    accuracy: dict[int, float] = {}

    def keep(number: int, seed: int, result) -> None:
        accuracy[number] = result.accuracy
        if on_trial is not None:
            on_trial(number, by_number[number].proxy_accuracy, result.accuracy)

    jobs = [(number, by_number[number].record.arch_config(), definition.seed) for number in chosen]
    processes, threads_each = side_by_side(long.device, threads, len(jobs), processes)
    train_each(jobs, data, dataclasses.replace(long, threads=threads_each), keep, trainer, processes)
    chosen = [number for number in chosen if number in accuracy]  # a diverged run has nothing to compare
    long_accuracy = [accuracy[number] for number in chosen]
    proxy_accuracy = [by_number[number].proxy_accuracy for number in chosen]
    flops = [by_number[number].value("flops") for number in chosen]
    agreement = tuple(rank_agreement(long_accuracy, {"proxy accuracy": proxy_accuracy, "FLOPs alone": flops,
                                                     "params alone": [by_number[n].value("params") for n in chosen]}))
    report = Calibration(study.study_name, tuple(chosen), tuple(proxy_accuracy), tuple(long_accuracy), tuple(flops),
                         proxy.epochs, long.epochs, spearman_rho(proxy_accuracy, long_accuracy),
                         spearman_rho(flops, long_accuracy), agreement)
    StudyMeta.write_calibration(study, report)
    return report
