"""Proxy fidelity: does the short proxy rank architectures like longer training does?

Retrains a spread of a study's trials (front and off-front) for longer and
reports the rank correlation (Kendall tau with a bootstrap 95% interval,
Spearman rho) between the proxy accuracy and the longer training's accuracy,
next to that of FLOPs and params alone. A proxy that ranks no better than
FLOPs is not worth its training time. The retraining and the rank statistics
are refinement's (``refine.retrain``, ``ranks.py``), and so is the longer
training (``RefineSettings.training``: all the data, 3x the proxy's images);
calibration differs in what it picks (a spread, not the front) and in storing
nothing per run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import optuna

from .config import ArchConfig
from .data import load_dataset
from .ranks import RankAgreement, beats, rank_agreement, spearman_rho
from .record import Status, StudyMeta
from .refine import RefineSettings, retrain
from .report import pareto_front, trials_frame
from .training import ProxySettings, train_proxy
from .training.parallel import side_by_side

__all__ = ["CalibrationReport", "calibrate", "pick_spread"]


@dataclass(frozen=True)
class CalibrationReport:
    study: str
    trials: list[int]
    proxy_accuracy: list[float]
    long_accuracy: list[float]
    flops: list[float]
    proxy_epochs: int
    long_epochs: int
    kendall_proxy: float
    spearman_proxy: float
    kendall_flops: float
    spearman_flops: float
    agreement: tuple[RankAgreement, ...] = ()  # proxy, FLOPs alone, params alone: tau with its 95% interval

    @property
    def proxy_beats_flops(self) -> bool:
        """FLOPs may predict in either direction; the proxy must agree with the longer run, and more strongly."""
        return beats(self.agreement[0], self.agreement[1]) if self.agreement else self.kendall_proxy > abs(self.kendall_flops)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"proxy_beats_flops": self.proxy_beats_flops}


def pick_spread(frame, objectives, count: int) -> list[int]:
    """Up to ``count`` trained trials: half from the front, the rest evenly across the others' accuracy ranks."""
    trained = frame[frame["status"] == Status.TRAINED.value].dropna(subset=["accuracy"]).sort_values("accuracy")
    if len(trained) < 3:
        raise ValueError(f"calibrate: needs at least 3 trained trials, the study has {len(trained)}")
    front = [t for t in pareto_front(frame, objectives, strict=True)["trial"] if t in set(trained["trial"])][: max(1, count // 2)]
    others = [t for t in trained["trial"] if t not in front]
    wanted = count - len(front)
    if wanted > 0 and others:
        step = max(1, len(others) / wanted)
        front += [others[min(len(others) - 1, int(i * step))] for i in range(min(wanted, len(others)))]
    return sorted(set(front))


def calibrate(study: optuna.Study, count: int = 6, epochs: int | None = None, threads: int | None = None,
              on_trial: Callable[[int, float, float], None] | None = None,
              trainer: Callable = train_proxy, processes: int | None = 1) -> CalibrationReport:
    """Retrain ``count`` of the study's trials longer and correlate: on all the training data, for ``epochs``
    (default: refinement's, 3x the proxy's training images as whole epochs).

    ``processes`` trains that many side by side, as refinement does (None: ``side_by_side`` chooses).
    """
    meta = StudyMeta.from_study(study)
    if not meta.written:
        raise ValueError(f"calibrate: study {study.study_name!r} was not written by ulsam-nas search")
    settings = meta.settings
    proxy = ProxySettings(**settings["proxy"], threads=threads)
    frame = trials_frame(study)
    chosen = pick_spread(frame, meta.objectives, count)
    data = load_dataset(settings["dataset"], proxy.resolution, seed=0)  # all the training images, as refinement
    long = RefineSettings().training(proxy, len(data.train_labels))
    long_epochs = epochs or long.epochs
    long = dataclasses.replace(long, epochs=long_epochs)
    rows = frame.set_index("trial").loc[chosen]
    results: dict[int, float] = {}

    def keep(number: int, seed: int, result) -> None:
        results[number] = result.accuracy
        if on_trial is not None:
            on_trial(number, float(rows.loc[number, "accuracy"]), result.accuracy)

    seed = settings.get("seed", 0)
    jobs = [(number, ArchConfig.from_json(rows.loc[number, "config"]), seed) for number in chosen]
    processes, threads_each = side_by_side(long.device, threads, len(jobs), processes)
    retrain(jobs, data, dataclasses.replace(long, threads=threads_each), keep, trainer, processes)
    chosen = [number for number in chosen if number in results]  # a diverged run has nothing to compare
    rows = rows.loc[chosen]
    long_accuracy = [results[number] for number in chosen]
    proxy_accuracy = rows["accuracy"].astype(float).tolist()
    flops = rows["flops"].astype(float).tolist()
    agreement = tuple(rank_agreement(long_accuracy, {"proxy accuracy": proxy_accuracy, "FLOPs alone": flops,
                                                     "params alone": rows["params"].astype(float).tolist()}))
    report = CalibrationReport(study.study_name, chosen, proxy_accuracy, long_accuracy, flops, proxy.epochs, long_epochs,
                               agreement[0].tau, spearman_rho(proxy_accuracy, long_accuracy),
                               agreement[1].tau, spearman_rho(flops, long_accuracy), agreement)
    StudyMeta.write_calibration(study, report.to_dict())
    return report
