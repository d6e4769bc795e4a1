"""Evaluating one candidate: config -> costs -> budgets -> reuse -> evaluator -> a trial record.

A candidate over any budget is costed but never trained; a network evaluated before takes over that
result; otherwise the study's evaluator scores it (:class:`ProxyEvaluator`: proxy training, stopping early
when clearly dominated). The evaluator is the one seam between the search and how candidates are scored;
it and the cost measurement are injectable (tests and benchmarks pass their own).
"""

from __future__ import annotations

import time
from typing import Callable

import optuna

from ..config import ArchConfig
from ..costs import CostReport, measure_costs
from ..data import ImageData
from ..latency.meter import LatencyMeter
from ..latency.settings import Latency
from ..metrics import METRICS
from ..record import Status, TrialRecord, TrialWriter
from ..space import SearchSpace
from ..training.loop import TrainingDiverged
from ..training.proxy import ProxyResult, train_proxy
from ..training.settings import ProxySettings
from .ledger import Ledger
from .settings import SearchSettings
from .stopping import StoppingRule
from .storage import trial_state

__all__ = ["Evaluator", "Objective", "ProxyEvaluator", "Trainer"]

# (config, data, proxy settings, seed, on_epoch) -> result; train_proxy's signature.
Trainer = Callable[..., ProxyResult]
# (config, seed, on_epoch) -> result: how the search scores a candidate (``ProxyEvaluator``, ...).
Evaluator = Callable[..., ProxyResult]


class ProxyEvaluator:
    """Scores a candidate by proxy training on the study's data (the default evaluator)."""

    def __init__(self, data: ImageData, proxy: ProxySettings, trainer: Trainer = train_proxy) -> None:
        self.data, self.proxy, self.trainer = data, proxy, trainer

    def __call__(self, config: ArchConfig, seed: int = 0,
                 on_epoch: Callable[[int, float], bool] | None = None) -> ProxyResult:
        return self.trainer(config, self.data, self.proxy, seed=seed, on_epoch=on_epoch)


def stored_costs(record: TrialRecord, resolution: int) -> CostReport:
    """A finished trial's stored costs as the report they were measured as (budgets check these)."""
    latency = None
    if record.latency_ms is not None:
        latency = Latency(record.latency_ms, record.latency_sigma_ms or 0.0, "", None, "", "stored",
                          iqr_ms=record.latency_iqr_ms or 0.0)
    return CostReport(flops=int(record.flops), params=int(record.params), resolution=resolution, latency=latency)


class Objective:
    """Scores claimed trials of one study; writes each trial's record as it goes."""

    def __init__(self, settings: SearchSettings, space: SearchSpace, data: ImageData,
                 trainer: Trainer = train_proxy, measure: Callable[..., CostReport] = measure_costs,
                 evaluator: Evaluator | None = None) -> None:
        self.settings, self.space, self.data = settings, space, data
        self.evaluator = evaluator or ProxyEvaluator(data, settings.proxy, trainer)
        self._measure = measure
        self.resolution = settings.deployment_resolution(space)
        # Every candidate is timed against the space's widest vanilla network (or predicted from a table).
        self.latency = LatencyMeter(settings.latency, self.resolution, space.vanilla(data.num_classes)) \
            if settings.needs_latency else None
        if self.latency is not None and self.latency.table is not None:
            self.latency.table.check_space(space)
        # Short proxies are noisy in their first epochs (warm-up): judge only from 60% of the run on.
        first_epoch = max(2, round(0.6 * settings.proxy.epochs))
        self.rule = StoppingRule(first_epoch=first_epoch) if settings.early_stopping else None

    def measure(self, config: ArchConfig) -> CostReport:
        return self._measure(config, self.resolution, latency=self.latency or False)

    def over_budget(self, costs: CostReport) -> list[str]:
        """One reason per budget the costs exceed."""
        return [budget.describe_excess(costs) for budget in self.settings.budgets if budget.violation(costs) > 0]

    def values(self, accuracy: float, costs: CostReport) -> list[float]:
        return [accuracy if name == "accuracy" else float(getattr(costs, METRICS[name].column))
                for name in self.settings.objectives]

    def claim(self, trial: optuna.Trial, worker: dict) -> tuple[ArchConfig, int | None]:
        """Under the study lock: draw the config and note a running trial of the same config to wait for."""
        config = self.space.suggest(trial, self.data.num_classes)
        TrialWriter(trial).claimed(config, worker)
        return config, self._twin(trial, config.to_json())

    @staticmethod
    def _twin(trial: optuna.Trial, key: str) -> int | None:
        """Under the study lock: another running trial that trains this config (not one waiting for it), noted as
        the one this trial waits for. Waiters wait only for trainers, so no two wait for each other."""
        running = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        twin = next((t.number for t in running if t.number != trial.number and TrialRecord.from_trial(t).config_key == key
                     and TrialRecord.from_trial(t).waiting_for is None), None)
        TrialWriter(trial).waiting(twin)
        return twin

    def __call__(self, trial: optuna.Trial, config: ArchConfig, ledger: Ledger, twin: int | None = None,
                 locked: Callable[[Callable[[], object]], object] = lambda job: job(),
                 sweep: Callable[[], object] | None = None) -> list[float]:
        """Evaluate a claimed trial; returns the objective values (raises TrialPruned when stopped early).

        ``locked(job)`` runs ``job`` under the study lock; ``sweep`` (the study's orphan sweep) runs under it
        while waiting for a twin, whose worker may be dead.
        """
        started = time.perf_counter()
        key = config.to_json()
        while twin is not None:  # another worker trains this config right now: wait for its result, don't train it twice
            waited = 0
            while trial_state(trial.study, twin) == optuna.trial.TrialState.RUNNING:
                time.sleep(1.0)
                waited += 1
                if sweep is not None and waited % 5 == 0:
                    locked(sweep)
            # Ended without a result (its worker died): wait for another trainer of it, or become the one.
            ledger.refresh(trial.study)
            twin = None if ledger.evaluated_before(key) else locked(lambda: self._twin(trial, key))
        # Trials are told outside the lock: one of this config told between the claim's snapshot of the study and
        # its search for a twin is in neither. It is finished by now, so read the finished trials again.
        ledger.refresh(trial.study)
        source = ledger.evaluated_before(key)
        costs = stored_costs(source, self.resolution) if source else self.measure(config)
        writer = TrialWriter(trial)
        writer.costed(costs, time.perf_counter() - started)
        for budget in self.settings.budgets:
            trial.set_constraint(str(budget), budget.violation(costs))  # <= 0: feasible; samplers read these

        over = self.over_budget(costs)
        if over:  # never trained; the sampler sees it as infeasible
            return self._finished(writer, Status.INFEASIBLE, "; ".join(over), self.values(0.0, costs))
        if not self.settings.trains:
            return self._finished(writer, Status.TRAINED, "accuracy is not an objective: not trained",
                                  self.values(0.0, costs))
        if source is not None:
            return self._reuse(writer, source, costs)
        return self._train(writer, config, costs, ledger)

    def _reuse(self, writer: TrialWriter, source: TrialRecord, costs: CostReport) -> list[float]:
        writer.reused(source)
        if source.status == Status.STOPPED_EARLY:
            writer.finished(Status.STOPPED_EARLY, f"same config as trial {source.number}, which stopped early")
            raise optuna.TrialPruned()
        if source.status == Status.INFEASIBLE:  # budgets are the same within a study
            return self._finished(writer, Status.INFEASIBLE, source.reason, self.values(0.0, costs))
        return self._finished(writer, Status.REUSED, f"same config as trial {source.number}: result reused, not retrained",
                              self.values(source.accuracy, costs))

    def _train(self, writer: TrialWriter, config: ArchConfig, costs: CostReport, ledger: Ledger) -> list[float]:
        curve: list[float] = []
        stop_reason: list[str] = []
        own_costs = tuple(float(getattr(costs, METRICS[o].column)) for o in self.settings.cost_objectives)

        def on_epoch(epoch: int, accuracy: float) -> bool:
            curve.append(accuracy)
            writer.epoch(curve)
            if self.rule is None:
                return False
            reason = self.rule.check(epoch, accuracy, own_costs, ledger.peers)
            if reason:
                stop_reason.append(reason)
            return reason is not None

        try:
            result = self.evaluator(config, seed=self.settings.seed, on_epoch=on_epoch)
        except TrainingDiverged as error:
            writer.finished(Status.FAILED, str(error))
            raise
        writer.trained(result.accuracy, result.curve, result.images_per_second)
        if result.stopped_early:
            writer.finished(Status.STOPPED_EARLY, stop_reason[0], result.seconds)
            raise optuna.TrialPruned()
        return self._finished(writer, Status.TRAINED, "", self.values(result.accuracy, costs), result.seconds)

    @staticmethod
    def _finished(writer: TrialWriter, status: Status, reason: str, values: list[float],
                  train_seconds: float = 0.0) -> list[float]:
        """Store the record's end with the values about to be told, and return them."""
        writer.finished(status, reason, train_seconds, values)
        return values
