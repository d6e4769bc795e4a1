"""The search: an Optuna study over a search space, under hard budgets.

Each trial maps to an architecture config (``space.py``), is costed first
(``costs.py``), is never trained when over a budget or when the same config
was evaluated before, and is otherwise scored by proxy training
(``proxy.py``), stopping early when clearly dominated (``stopping.py``).
Everything a trial learns is stored in its user attributes, so the storage
alone describes the results.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
import yaml

from .baselines import baselines_for
from .budgets import Budget, parse_budget
from .config import ArchConfig
from .costs import CostReport, measure_costs
from .data import DEFAULT_DATASET, ImageData, load_dataset
from .proxy import ProxySettings, TrainingDiverged, train_proxy
from .report import OBJECTIVES, hypervolume, pareto_front, trials_frame
from .space import SearchSpace, load_space
from .stopping import EarlierTrial, StoppingRule
from .storage import Heartbeat, StudyLock, make_storage, sweep_orphans, worker_id

__all__ = ["SAMPLERS", "SearchOutcome", "SearchSettings", "TrialEvent", "open_study", "run_search"]


DEFAULT_STORAGE = "sqlite:///ulsam-nas.db"
DEFAULT_SAMPLER = "tpe"
SAMPLERS = ("nsga2", "tpe", "random")
_COUNTED_STATUSES = {"trained", "reused", "infeasible", "stopped_early", "failed"}


def parse_duration(text: str | float | int | None) -> float | None:
    """'90s', '30m', '2h', '1.5h' or plain seconds."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = str(text).strip().lower()
    try:
        seconds = float(value[:-1]) * units[value[-1]] if value and value[-1] in units else float(value)
    except ValueError:
        raise ValueError(f"timeout: cannot read {text!r}; use e.g. 90s, 30m, 2h") from None
    if not seconds > 0:
        raise ValueError(f"timeout: must be positive, got {text!r}")
    return seconds


@dataclass(frozen=True)
class SearchSettings:
    """A whole search: what `studies/*.yaml` files hold and `ulsam-nas search` flags override."""

    space: str = "mobilenet_v2"
    dataset: str = DEFAULT_DATASET
    data_dir: str | None = None
    download: bool = False
    budgets: tuple[str, ...] = ()
    objectives: tuple[str, ...] = ("accuracy", "flops")
    sampler: str = DEFAULT_SAMPLER
    seed: int = 0
    trials: int = 60
    timeout: float | None = None
    resolution: int | None = None  # deployment resolution; None: the space's
    proxy: ProxySettings = field(default_factory=ProxySettings)
    early_stopping: bool = True
    latency_device: str = "cpu"
    latency_threads: int = 1
    storage: str | None = None
    study: str | None = None
    heartbeat_seconds: int = 10  # database storages: a worker silent for 3x this is failed and its trial retried

    def __post_init__(self) -> None:
        object.__setattr__(self, "budgets", tuple(str(b) for b in self.budgets))
        object.__setattr__(self, "objectives", tuple(self.objectives))
        self.parsed_budgets()  # fail early on malformed budgets
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown or not self.objectives:
            raise ValueError(f"objective: unknown objective {', '.join(unknown) or '(none)'}; valid: {', '.join(OBJECTIVES)}")
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objective: listed twice: {', '.join(self.objectives)}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler: unknown sampler {self.sampler!r}; valid: {', '.join(SAMPLERS)}")
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise ValueError(f"trials: must be a positive integer, got {self.trials!r}")
        object.__setattr__(self, "timeout", parse_duration(self.timeout))

    def parsed_budgets(self) -> list[Budget]:
        return [parse_budget(text) for text in self.budgets]

    @property
    def needs_latency(self) -> bool:
        return "latency" in self.objectives or any(b.metric == "latency" for b in self.parsed_budgets())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchSettings":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"study: unknown key(s) {', '.join(sorted(unknown))}; valid keys: {', '.join(sorted(names))}")
        values = dict(data)
        if isinstance(values.get("proxy"), dict):
            proxy_names = {f.name for f in dataclasses.fields(ProxySettings)}
            bad = set(values["proxy"]) - proxy_names
            if bad:
                raise ValueError(f"study proxy: unknown key(s) {', '.join(sorted(bad))}; valid: {', '.join(sorted(proxy_names))}")
            values["proxy"] = ProxySettings(**values["proxy"])
        for key in ("budgets", "objectives"):
            if isinstance(values.get(key), str):
                values[key] = [values[key]]
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> "SearchSettings":
        from ._resources import resolve_bundled

        path = resolve_bundled("studies", path, "study")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise ValueError(f"study {path}: not valid YAML: {getattr(error, 'problem', error)}") from None
        if not isinstance(data, dict):
            raise ValueError(f"study {path}: must be a mapping of settings")
        data.setdefault("study", path.stem)
        return cls.from_dict(data)

    def with_overrides(self, **overrides: Any) -> "SearchSettings":
        """A copy with the given non-None values replaced (proxy fields may be given as proxy_<name>)."""
        proxy = {k[len("proxy_"):]: v for k, v in overrides.items() if k.startswith("proxy_") and v is not None}
        top = {k: v for k, v in overrides.items() if not k.startswith("proxy_") and v is not None}
        if proxy:
            top["proxy"] = dataclasses.replace(self.proxy, **proxy)
        return dataclasses.replace(self, **top)

    def defining(self, space: SearchSpace, num_classes: int) -> dict[str, Any]:
        """What makes results comparable: a resumed study must match this exactly."""
        return {
            "space": dataclasses.asdict(space) | {"widths": list(space.widths), "drop": list(space.drop),
                                                  "ulsam_after": list(space.ulsam_after), "subspaces": list(space.subspaces)},
            "dataset": self.dataset, "num_classes": num_classes, "budgets": list(self.budgets),
            "objectives": list(self.objectives), "resolution": self.resolution or space.resolution,
            "proxy": {k: v for k, v in dataclasses.asdict(self.proxy).items() if k not in ("threads", "device")},
            "seed": self.seed, "early_stopping": self.early_stopping,
        }

    def default_study_name(self, space: SearchSpace) -> str:
        dataset = Path(self.dataset.split(":", 1)[1]).name if self.dataset.startswith("imagefolder:") else self.dataset
        parts = [space.name, dataset, *self.budgets]
        if tuple(self.objectives) != ("accuracy", "flops"):
            parts.append("-".join(self.objectives))
        return "_".join(parts)


@dataclass(frozen=True)
class TrialEvent:
    """What the progress display hears after each trial."""

    number: int
    status: str
    summary: str
    accuracy: float | None
    flops: float | None
    params: float | None
    seconds: float
    reason: str
    finished: int  # trials counted towards the target so far
    target: int
    front_size: int
    best_feasible_accuracy: float | None


@dataclass
class SearchOutcome:
    study: optuna.Study
    storage: str
    study_name: str
    settings: SearchSettings
    space: SearchSpace
    trials_run: int  # by this call
    interrupted: bool = False

    def frame(self):
        return trials_frame(self.study)

    def front(self):
        return pareto_front(self.frame(), self.settings.objectives)

    @property
    def reference_point(self) -> dict[str, float]:
        return self.study.user_attrs["reference_point"]

    def hypervolume(self) -> float:
        return hypervolume(self.front(), self.settings.objectives, self.reference_point)


def _finished(study: optuna.Study) -> int:
    """Trials that count towards the target: evaluated, not cut off by a crash or Ctrl-C."""
    return _counts(study)[0]


def _make_sampler(name: str, seed: int, trials: int) -> optuna.samplers.BaseSampler:
    """Samplers read each trial's budget constraints (``Trial.set_constraint``) from the storage."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # multivariate TPE
    if name == "nsga2":
        # A population of a fifth of the trials gives several generations even in short searches.
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(6, min(50, trials // 5)))
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=max(5, min(20, trials // 5)))
    return optuna.samplers.RandomSampler(seed=seed)


def open_study(storage: str | None, study_name: str | None) -> optuna.Study:
    """An existing study; the most recent one in ``storage`` when no name is given."""
    storage = storage or DEFAULT_STORAGE
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///"):]).exists():
        raise ValueError(f"storage: {storage} does not exist; run `ulsam-nas search` first or pass --storage")
    backend = make_storage(storage)
    summaries = optuna.get_all_study_summaries(backend)
    if not summaries:
        raise ValueError(f"study: no studies in {storage}; run `ulsam-nas search` first")
    names = [s.study_name for s in summaries]
    if study_name is None:
        latest = max(summaries, key=lambda s: (s.datetime_start is not None, s.datetime_start or 0, s._study_id))
        study_name = latest.study_name
    elif study_name not in names:
        raise ValueError(f"study: no study {study_name!r} in {storage}; studies there: {', '.join(names)}")
    return optuna.load_study(study_name=study_name, storage=backend)


class _Objective:
    """Evaluates one trial: config -> costs -> budgets -> reuse -> proxy training."""

    def __init__(self, settings: SearchSettings, space: SearchSpace, data: ImageData) -> None:
        self.settings, self.space, self.data = settings, space, data
        self.budgets = settings.parsed_budgets()
        self.resolution = settings.resolution or space.resolution
        self.cost_objectives = [o for o in settings.objectives if o != "accuracy"]
        # Short proxies are noisy in their first epochs (warm-up): judge only from 60% of the run on.
        first_epoch = max(2, round(0.6 * settings.proxy.epochs))
        self.rule = StoppingRule(first_epoch=first_epoch) if settings.early_stopping else None

    def values(self, accuracy: float, costs: dict[str, float]) -> list[float]:
        return [accuracy if name == "accuracy" else costs[OBJECTIVES[name][0]] for name in self.settings.objectives]

    def measure(self, config: ArchConfig) -> dict[str, float]:
        report: CostReport = measure_costs(config, self.resolution, latency=self.settings.needs_latency,
                                           device=self.settings.latency_device, threads=self.settings.latency_threads)
        return {k: v for k, v in report.to_dict().items() if k in ("flops", "params", "latency_ms", "latency_iqr_ms")}

    def claim(self, trial: optuna.Trial) -> tuple[ArchConfig, int | None]:
        """Under the study lock: draw the config and note a running trial of the same config to wait for."""
        config = self.space.suggest(trial, self.data.num_classes)
        key = config.to_json()
        trial.set_user_attr("config", config.to_dict())
        trial.set_user_attr("config_key", key)
        trial.set_user_attr("summary", config.summary())
        trial.set_user_attr("worker", worker_id())
        running = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        twin = next((t.number for t in running if t.number != trial.number and t.user_attrs.get("config_key") == key), None)
        return config, twin

    def _wait_for(self, study: optuna.Study, number: int, poll_seconds: float = 1.0) -> None:
        """Another worker is training this config right now: wait for its result instead of training it twice."""
        while study._storage.get_trial(study._storage.get_trial_id_from_study_id_trial_number(
                study._study_id, number)).state == optuna.trial.TrialState.RUNNING:
            time.sleep(poll_seconds)

    def __call__(self, trial: optuna.Trial, config: ArchConfig, twin: int | None = None) -> list[float]:
        started = time.perf_counter()
        key = config.to_json()
        if twin is not None:
            self._wait_for(trial.study, twin)
        source = self._evaluated_before(trial.study, key, trial.number)
        costs = {k: source.user_attrs[k] for k in ("flops", "params", "latency_ms", "latency_iqr_ms")
                 if k in source.user_attrs} if source else self.measure(config)
        for name, value in costs.items():
            trial.set_user_attr(name, value)
        violations = [budget.violation(self._report(costs)) for budget in self.budgets]
        for budget, violation in zip(self.budgets, violations):
            trial.set_constraint(str(budget), violation)  # <= 0: feasible; samplers read these
        trial.set_user_attr("cost_seconds", time.perf_counter() - started)

        if any(v > 0 for v in violations):
            reasons = [b.describe_excess(self._report(costs)) for b, v in zip(self.budgets, violations) if v > 0]
            self._finish(trial, "infeasible", "; ".join(reasons), train_seconds=0.0)
            return self.values(0.0, costs)  # never trained; the sampler sees it as infeasible
        if "accuracy" not in self.settings.objectives:
            self._finish(trial, "trained", "accuracy is not an objective: not trained", train_seconds=0.0)
            return self.values(0.0, costs)
        if source is not None:
            return self._reuse(trial, source, costs)
        return self._train(trial, config, costs)

    @staticmethod
    def _report(costs: dict[str, float]) -> CostReport:
        return CostReport(flops=int(costs["flops"]), params=int(costs["params"]), resolution=0,
                          latency_ms=costs.get("latency_ms"))

    @staticmethod
    def _finish(trial: optuna.Trial, status: str, reason: str, train_seconds: float) -> None:
        trial.set_user_attr("train_seconds", train_seconds)
        trial.set_user_attr("reason", reason)
        trial.set_user_attr("status", status)  # last: a trial with a status has a complete record

    @staticmethod
    def _evaluated_before(study: optuna.Study, key: str, number: int) -> optuna.trial.FrozenTrial | None:
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        for other in study.get_trials(deepcopy=False, states=states):
            if other.number != number and other.user_attrs.get("config_key") == key and "status" in other.user_attrs:
                return other
        return None

    def _reuse(self, trial: optuna.Trial, source: optuna.trial.FrozenTrial, costs: dict[str, float]) -> list[float]:
        for name in ("accuracy", "proxy_curve"):
            if name in source.user_attrs:
                trial.set_user_attr(name, source.user_attrs[name])
        trial.set_user_attr("reused_from", source.number)
        if source.user_attrs.get("status") == "stopped_early":
            self._finish(trial, "stopped_early", f"same config as trial {source.number}, which stopped early", 0.0)
            raise optuna.TrialPruned()
        if source.user_attrs.get("status") == "infeasible":  # budgets are the same within a study
            self._finish(trial, "infeasible", source.user_attrs.get("reason", ""), 0.0)
            return self.values(0.0, costs)
        self._finish(trial, "reused", f"same config as trial {source.number}: result reused, not retrained", 0.0)
        return self.values(source.user_attrs["accuracy"], costs)

    def _earlier(self, study: optuna.Study) -> list[EarlierTrial]:
        earlier = []
        for other in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            attrs = other.user_attrs
            if attrs.get("status") == "trained" and "proxy_curve" in attrs:
                earlier.append(EarlierTrial(tuple(attrs[OBJECTIVES[o][0]] for o in self.cost_objectives),
                                            tuple(attrs["proxy_curve"])))
        return earlier

    def _train(self, trial: optuna.Trial, config: ArchConfig, costs: dict[str, float]) -> list[float]:
        curve: list[float] = []
        stop_reason: list[str] = []
        own_costs = tuple(costs[OBJECTIVES[o][0]] for o in self.cost_objectives)

        def on_epoch(epoch: int, accuracy: float) -> bool:
            curve.append(accuracy)
            trial.set_user_attr("proxy_curve", curve)
            if self.rule is None:
                return False
            reason = self.rule.check(epoch, accuracy, own_costs, self._earlier(trial.study))
            if reason:
                stop_reason.append(reason)
            return reason is not None

        try:
            result = train_proxy(config, self.data, self.settings.proxy, seed=self.settings.seed, on_epoch=on_epoch)
        except TrainingDiverged as error:
            self._finish(trial, "failed", str(error), train_seconds=0.0)
            raise
        trial.set_user_attr("proxy_curve", result.curve)
        trial.set_user_attr("accuracy", result.accuracy)
        trial.set_user_attr("images_per_second", result.images_per_second)
        if result.stopped_early:
            self._finish(trial, "stopped_early", stop_reason[0], result.seconds)
            raise optuna.TrialPruned()
        self._finish(trial, "trained", "", result.seconds)
        return self.values(result.accuracy, costs)


def _enqueue_baselines(study: optuna.Study, objective: _Objective) -> list[str]:
    """Queue the in-budget baselines the space can express; return notes on the others."""
    space, notes = objective.space, []
    width = 1.0 if 1.0 in space.widths else max(space.widths)
    for label, config in baselines_for(space.backbone, width, objective.data.num_classes).items():
        params = space.params_for(config)
        if params is None:
            notes.append(f"baseline {label!r} is outside space {space.name}: not evaluated")
            continue
        costs = objective.measure(config)
        over = [b.describe_excess(objective._report(costs)) for b in objective.budgets
                if b.violation(objective._report(costs)) > 0]
        if over:
            notes.append(f"baseline {label!r} is over budget ({'; '.join(over)}): not evaluated")
            continue
        study.enqueue_trial(params, user_attrs={"baseline": label})
    return notes


def run_search(
    settings: SearchSettings,
    on_start: Callable[[str, str, int, int, list[str]], None] | None = None,
    on_trial: Callable[[TrialEvent], None] | None = None,
) -> SearchOutcome:
    """Create or resume the study ``settings`` describe and run it up to ``settings.trials`` trials."""
    space = load_space(settings.space)
    resolution = settings.resolution or space.resolution
    if resolution < 32:
        raise ValueError(f"resolution: must be >= 32 pixels, got {resolution}")
    data = load_dataset(settings.dataset, settings.proxy.resolution, settings.data_dir, settings.download,
                        train_subset=settings.proxy.train_subset, seed=0)
    objective = _Objective(settings, space, data)
    _check_budget_reachable(space, objective)

    storage = settings.storage or DEFAULT_STORAGE
    name = settings.study or settings.default_study_name(space)
    directions = ["maximize" if OBJECTIVES[o][1] else "minimize" for o in settings.objectives]
    # Workers sharing a server or journal storage must not all draw the same candidates: mix in the process id.
    # A single worker on SQLite (the default) is repeatable from --seed.
    sampler_seed = settings.seed if storage.startswith("sqlite") else settings.seed + os.getpid()
    sampler = _make_sampler(settings.sampler, sampler_seed, settings.trials)
    backend = make_storage(storage, settings.heartbeat_seconds, 3 * settings.heartbeat_seconds)
    lock = StudyLock(storage, name)
    with lock.held():  # several workers may start at once: one creates the study and queues the baselines
        study = optuna.create_study(storage=backend, study_name=name, directions=directions, sampler=sampler,
                                    load_if_exists=True)
        notes = _prepare_study(study, settings, space, objective, data, directions, name)

    done_before = _finished(study)
    if on_start:
        on_start(name, storage, settings.trials, done_before, notes)

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if on_trial is None:
            return
        frame = trials_frame(study)
        front = pareto_front(frame, settings.objectives)
        attrs = trial.user_attrs
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() if trial.datetime_complete else 0.0
        on_trial(TrialEvent(
            number=trial.number, status=attrs.get("status", "interrupted"), summary=attrs.get("summary", ""),
            accuracy=attrs.get("accuracy"), flops=attrs.get("flops"), params=attrs.get("params"), seconds=seconds,
            reason=attrs.get("reason", ""), finished=_finished(study), target=settings.trials, front_size=len(front),
            best_feasible_accuracy=float(front["accuracy"].max()) if "accuracy" in settings.objectives and len(front) else None,
        ))

    interrupted = _run_trials(study, objective, lock, settings, after_trial)
    return SearchOutcome(study, storage, name, settings, space, _finished(study) - done_before, interrupted)


def _counts(study: optuna.Study) -> tuple[int, int]:
    """(finished, claimed): trials that count towards the target, and those plus the ones running now."""
    trials = study.get_trials(deepcopy=False)
    running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
    finished = sum(t.state != optuna.trial.TrialState.RUNNING and t.user_attrs.get("status") in _COUNTED_STATUSES
                   for t in trials)
    return finished, finished + running


def _run_trials(study: optuna.Study, objective: _Objective, lock: StudyLock, settings: SearchSettings,
                after_trial: Callable) -> bool:
    """Claim and evaluate trials until the study's total is reached; True if interrupted (Ctrl-C).

    Claiming (count, then ask) happens under the study lock, so several workers
    together finish exactly ``settings.trials`` trials.
    """
    started = time.monotonic()
    while settings.timeout is None or time.monotonic() - started < settings.timeout:
        with lock.held():
            sweep_orphans(study)
            finished, claimed = _counts(study)
            if claimed >= settings.trials:
                if finished >= settings.trials:
                    return False
                trial = None  # the rest are running elsewhere: see whether they finish or their worker dies
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "heartbeat is meant for optimize": ours runs below
                    trial = study.ask()
                config, twin = objective.claim(trial)
        if trial is None:
            time.sleep(min(settings.heartbeat_seconds, 5))
            continue
        state, values = optuna.trial.TrialState.COMPLETE, None
        try:
            with Heartbeat(study._storage, trial._trial_id):
                values = objective(trial, config, twin)
        except optuna.TrialPruned:
            state = optuna.trial.TrialState.PRUNED
        except TrainingDiverged:
            state = optuna.trial.TrialState.FAIL
        except KeyboardInterrupt:  # no status: the trial does not count and will be redone
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return True
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        frozen = study.tell(trial, values if state == optuna.trial.TrialState.COMPLETE else None, state=state)
        after_trial(study, frozen)
    return False


def _prepare_study(study, settings, space, objective, data, directions, name) -> list[str]:
    """Record what defines a new study and queue its baselines; check a resumed one matches."""
    defining = settings.defining(space, data.num_classes)
    if "settings" not in study.user_attrs:
        study.set_user_attr("settings", defining)
        study.set_user_attr("objectives", list(settings.objectives))
        study.set_user_attr("sampler", settings.sampler)
        study.set_user_attr("validation_images", len(data.val_labels))
        study.set_user_attr("reference_point", _reference_point(objective))
        notes = _enqueue_baselines(study, objective)
        study.set_user_attr("baseline_notes", notes)
        return notes
    _check_same_study(name, study.user_attrs["settings"], defining)
    if list(study.directions) != [optuna.study.StudyDirection[d.upper()] for d in directions]:
        raise ValueError(f"study {name!r} has other objectives; choose another --study name")
    return study.user_attrs.get("baseline_notes", [])


def _reference_point(objective: _Objective) -> dict[str, float]:
    """Fixed per study: the budget where there is one, else the cost of the space's vanilla network at its widest."""
    space = objective.space
    widest = ArchConfig(backbone=space.backbone, width=max(space.widths), num_classes=objective.data.num_classes)
    vanilla = objective.measure(widest)
    reference = {"accuracy": 0.0}
    for name in objective.cost_objectives:
        limits = [b.limit for b in objective.budgets if b.metric == name]
        reference[name] = float(min(limits)) if limits else float(vanilla[OBJECTIVES[name][0]])
    return reference


def _check_same_study(name: str, stored: dict[str, Any], defining: dict[str, Any]) -> None:
    differing = [key for key in defining if stored.get(key) != defining[key]]
    if differing:
        details = "; ".join(f"{k}: stored {stored.get(k)!r}, now {defining[k]!r}" for k in differing[:2])
        raise ValueError(f"study {name!r} was created with other settings ({', '.join(differing)}); "
                         f"use --study NEW_NAME for a new study or the original settings to resume. {details}")


def _check_budget_reachable(space: SearchSpace, objective: _Objective) -> None:
    """Say so before training anything when not even the space's cheapest network fits the budgets."""
    budgets = [b for b in objective.budgets if b.metric in ("flops", "params")]
    if not budgets:
        return
    cheapest = space.config_from_params(
        {"width": min(space.widths)} | {f"drop_{b}": True for b in space.drop} | {f"ulsam_{b}": 0 for b in space.ulsam_after},
        objective.data.num_classes)
    report = measure_costs(cheapest, objective.resolution)
    over = [b.describe_excess(report) for b in budgets if b.violation(report) > 0]
    if over:
        raise ValueError(f"budget: nothing in space {space.name} can meet it: its cheapest network ({cheapest.summary()}) "
                         f"has {'; '.join(over)}")


def _worker(settings: SearchSettings) -> None:
    """One worker process of ``run_workers``: prints a line per trial."""
    import optuna as _optuna

    _optuna.logging.set_verbosity(_optuna.logging.ERROR)

    def line(event: TrialEvent) -> None:
        accuracy = "" if event.accuracy is None else f" acc {event.accuracy:.1%}"
        print(f"[{event.finished}/{event.target}] worker {os.getpid()} trial {event.number} {event.status}: "
              f"{event.summary}{accuracy}", flush=True)

    try:
        run_search(settings, on_trial=line)
    except KeyboardInterrupt:
        pass


def run_workers(settings: SearchSettings, workers: int) -> SearchOutcome:
    """Run ``workers`` worker processes on this machine on one study, the cores split between them."""
    import multiprocessing

    storage = settings.storage or DEFAULT_STORAGE
    if workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    if workers > 1 and storage.startswith("sqlite"):
        raise ValueError("workers: several processes must not write one SQLite file; use --storage journal:ulsam-nas.journal "
                         "or a postgresql:// URL")
    threads = max(1, (os.cpu_count() or 1) // workers)
    per_worker = settings.with_overrides(proxy_threads=settings.proxy.threads or threads)
    space = load_space(settings.space)
    name = settings.study or settings.default_study_name(space)
    per_worker = dataclasses.replace(per_worker, study=name, storage=storage)  # the study is created under its lock
    try:
        done_before = _finished(open_study(storage, name))
    except ValueError:  # a new study: the first worker creates it
        done_before = 0
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker, args=(per_worker,)) for _ in range(workers)]
    for process in processes:
        process.start()
    interrupted = False
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        interrupted = True
        for process in processes:
            process.join()
    study = open_study(storage, name)
    return SearchOutcome(study, storage, name, settings, space, _finished(study) - done_before, interrupted)
