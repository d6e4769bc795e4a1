"""Proxy fidelity: does the short proxy rank architectures like longer training does?

Retrains a spread of a study's trials (front and off-front) for longer and
reports the rank correlation (Kendall tau, Spearman rho) between the proxy
accuracy and the longer training's accuracy, next to that of FLOPs alone. A
proxy that ranks no better than FLOPs is not worth its training time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import optuna

from .config import ArchConfig
from .data import load_dataset
from .record import Status, StudyMeta
from .report import pareto_front, trials_frame
from .training import ProxySettings, train_proxy

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

    @property
    def proxy_beats_flops(self) -> bool:
        """FLOPs may predict in either direction; the proxy must agree with the longer run, and more strongly."""
        return self.kendall_proxy > abs(self.kendall_flops)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"proxy_beats_flops": self.proxy_beats_flops}


def pick_spread(frame, objectives, count: int) -> list[int]:
    """Up to ``count`` trained trials: half from the front, the rest evenly across the others' accuracy ranks."""
    trained = frame[frame["status"] == Status.TRAINED.value].dropna(subset=["accuracy"]).sort_values("accuracy")
    if len(trained) < 3:
        raise ValueError(f"calibrate: needs at least 3 trained trials, the study has {len(trained)}")
    front = [t for t in pareto_front(frame, objectives)["trial"] if t in set(trained["trial"])][: max(1, count // 2)]
    others = [t for t in trained["trial"] if t not in front]
    wanted = count - len(front)
    if wanted > 0 and others:
        step = max(1, len(others) / wanted)
        front += [others[min(len(others) - 1, int(i * step))] for i in range(min(wanted, len(others)))]
    return sorted(set(front))


def calibrate(study: optuna.Study, count: int = 6, epochs: int | None = None, threads: int | None = None,
              on_trial: Callable[[int, float, float], None] | None = None) -> CalibrationReport:
    """Retrain ``count`` of the study's trials for ``epochs`` (default 3x the proxy's) and correlate."""
    from scipy import stats

    meta = StudyMeta.from_study(study)
    if not meta.written:
        raise ValueError(f"calibrate: study {study.study_name!r} was not written by ulsam-nas search")
    settings = meta.settings
    proxy = ProxySettings(**settings["proxy"], threads=threads)
    long_epochs = epochs or 3 * proxy.epochs
    long = dataclasses.replace(proxy, epochs=long_epochs)
    frame = trials_frame(study)
    chosen = pick_spread(frame, meta.objectives, count)
    data = load_dataset(settings["dataset"], proxy.resolution, train_subset=proxy.train_subset, seed=0)
    rows = frame.set_index("trial").loc[chosen]
    long_accuracy = []
    for number, row in rows.iterrows():
        config = ArchConfig.from_json(row["config"])
        result = train_proxy(config, data, long, seed=settings.get("seed", 0))
        long_accuracy.append(result.accuracy)
        if on_trial is not None:
            on_trial(int(number), float(row["accuracy"]), result.accuracy)
    proxy_accuracy = rows["accuracy"].astype(float).tolist()
    flops = rows["flops"].astype(float).tolist()

    def correlations(predictor: list[float]) -> tuple[float, float]:
        tau = stats.kendalltau(predictor, long_accuracy).statistic
        rho = stats.spearmanr(predictor, long_accuracy).statistic
        return (0.0 if tau != tau else float(tau)), (0.0 if rho != rho else float(rho))  # NaN when all tie

    (kendall_proxy, spearman_proxy), (kendall_flops, spearman_flops) = correlations(proxy_accuracy), correlations(flops)
    report = CalibrationReport(study.study_name, chosen, proxy_accuracy, long_accuracy, flops, proxy.epochs, long_epochs,
                               kendall_proxy, spearman_proxy, kendall_flops, spearman_flops)
    StudyMeta.write_calibration(study, report.to_dict())
    return report
