"""What a study stores: the one owner of Optuna's user attributes, as typed records.

A trial's results live in its user attributes so that the storage alone describes a study. This
module is the only place that names them: the search writes through :class:`TrialWriter`,
everything else reads a typed :class:`TrialRecord` (built like Optuna's ``FrozenTrial``) or a
:class:`StudyMeta`, whose parts are records too: the study's :class:`StudyDefinition`, its noise
(:class:`~ulsam_nas.noise.NoiseEstimate`), its :class:`Refinement` and :class:`RefinedRun`\\ s, its
:class:`Calibration`. Statuses are the :class:`Status` enum. Studies stored by earlier versions open:
their attributes are read into the same records. The study's parts are defined in ``study_records.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import TYPE_CHECKING, Any

from .config import ArchConfig
from .noise import NoiseEstimate
from .study_records import Calibration, Refinement, SkippedBaseline, StudyDefinition

if TYPE_CHECKING:  # annotations only: records are read without loading Optuna (``ulsam-nas --help``)
    import optuna

__all__ = ["COUNTED", "EVALUATED", "RefinedRun", "Status", "StudyMeta", "TrialRecord", "TrialWriter"]


class Status(str, Enum):
    """What happened to a trial. The first five are written by the search; the rest describe trials without one."""

    TRAINED = "trained"
    REUSED = "reused"  # same network as an earlier trial: its result, not retrained
    INFEASIBLE = "infeasible"  # over a budget: costed, never trained
    STOPPED_EARLY = "stopped_early"
    FAILED = "failed"  # training diverged
    RUNNING = "running"
    QUEUED = "queued"
    INTERRUPTED = "interrupted"  # cut off by a crash or Ctrl-C: not counted, redone

    def __str__(self) -> str:
        return self.value


COUNTED = frozenset({Status.TRAINED, Status.REUSED, Status.INFEASIBLE, Status.STOPPED_EARLY, Status.FAILED})
EVALUATED = frozenset({Status.TRAINED, Status.REUSED})  # have an accuracy that may be on the front

_LEGACY_KEYS = {"latency_uncertainty_ms": "latency_sigma_ms"}  # attribute names of earlier versions


@dataclass(frozen=True)
class TrialRecord:
    """Everything ulsam-nas knows about one trial."""

    number: int
    state: str  # Optuna's trial state name
    status: Status
    config: dict[str, Any] | None = None  # ArchConfig.to_dict() of the canonical network
    config_key: str = ""  # canonical JSON of the config: equal keys, equal networks
    summary: str = ""
    baseline: str = ""  # label of a hand-designed baseline
    worker: dict[str, Any] | None = None  # host and pid of the process that ran it
    flops: float | None = None  # multiply-accumulates at the deployment resolution
    params: float | None = None
    latency_ms: float | None = None
    latency_iqr_ms: float | None = None
    latency_sigma_ms: float | None = None  # one standard error (latency budgets allow for it)
    accuracy: float | None = None  # the evaluator's validation top-1 in [0, 1]
    proxy_curve: tuple[float, ...] = ()
    images_per_second: float | None = None
    train_seconds: float = 0.0
    cost_seconds: float | None = None
    reason: str = ""
    reused_from: int | None = None
    retry_of: int | None = None
    waiting_for: int | None = None  # while running: the trial of the same config it waits for (trained elsewhere)
    feasible: bool | None = None  # None: the study has no budgets
    wall_seconds: float = math.nan
    # The objective values told to Optuna; also stored with the status, so that a trial whose worker died
    # between storing its record and telling Optuna is finished with them instead of being trained again.
    values: tuple[float, ...] | None = None

    @property
    def counted(self) -> bool:
        """Counts towards the study's trial target."""
        return self.status in COUNTED and self.state != "RUNNING"

    @property
    def evaluated(self) -> bool:
        """Finished, within budget and with an accuracy: may be on the front (the one definition of it)."""
        return self.state == "COMPLETE" and self.status in EVALUATED and self.feasible is not False

    def arch_config(self) -> ArchConfig:
        if self.config is None:
            raise ValueError(f"trial: trial {self.number} has no architecture config (it never started)")
        return ArchConfig.from_dict(self.config)

    def value(self, column: str) -> float:
        """A metric column (``metrics.Metric.column``) as a float, NaN where not recorded."""
        value = getattr(self, column)
        return math.nan if value is None else float(value)

    @classmethod
    def from_trial(cls, trial: optuna.trial.FrozenTrial) -> "TrialRecord":
        attrs = {_LEGACY_KEYS.get(key, key): value for key, value in trial.user_attrs.items()}
        known = {f.name for f in fields(cls)}
        stored = {key: value for key, value in attrs.items() if key in known}
        fallback = {"RUNNING": Status.RUNNING, "WAITING": Status.QUEUED}.get(trial.state.name, Status.INTERRUPTED)
        wall = (trial.datetime_complete - trial.datetime_start).total_seconds() \
            if trial.datetime_complete and trial.datetime_start else math.nan
        constraints = trial.constraints
        return cls(**stored | {
            "number": trial.number, "state": trial.state.name,
            "status": Status(attrs["status"]) if "status" in attrs else fallback,
            "proxy_curve": tuple(attrs.get("proxy_curve", ())),
            "feasible": all(v <= 0 for v in constraints.values()) if constraints else None,
            "wall_seconds": wall,
            "values": tuple(trial.values) if trial.values else tuple(attrs["values"]) if attrs.get("values") else None,
        })

    @property
    def complete(self) -> bool:
        """Its status is stored: the record is whole, whatever Optuna's state says (see :class:`TrialWriter`)."""
        return self.status in COUNTED

    @staticmethod
    def enqueued_attrs(baseline: str | None = None, retry_of: int | None = None) -> dict[str, Any]:
        """User attributes of a queued trial: a baseline's label, or the trial it retries."""
        attrs: dict[str, Any] = {}
        if baseline is not None:
            attrs["baseline"] = baseline
        if retry_of is not None:
            attrs["retry_of"] = retry_of
        return attrs


class TrialWriter:
    """Writes a running trial's record into the storage, step by step, the status last.

    A trial whose status is stored has a complete record; one without was cut off.
    """

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def claimed(self, config: ArchConfig, worker: dict[str, Any]) -> None:
        for key, value in (("config", config.to_dict()), ("config_key", config.to_json()),
                           ("summary", config.summary()), ("worker", worker)):
            self.trial.set_user_attr(key, value)

    def waiting(self, twin: int | None) -> None:
        """Waiting for ``twin`` (same config, trained by another worker), or not (None)."""
        if twin is not None or "waiting_for" in self.trial.user_attrs:
            self.trial.set_user_attr("waiting_for", twin)

    def costed(self, costs, seconds: float) -> None:
        """Store a :class:`~ulsam_nas.costs.CostReport`'s figures."""
        values = {"flops": costs.flops, "params": costs.params}
        if costs.latency is not None:
            values |= {"latency_ms": costs.latency.ms, "latency_iqr_ms": costs.latency.iqr_ms,
                       "latency_sigma_ms": costs.latency.sigma_ms}
        for key, value in values.items():
            self.trial.set_user_attr(key, value)
        self.trial.set_user_attr("cost_seconds", seconds)

    def epoch(self, curve: list[float]) -> None:
        self.trial.set_user_attr("proxy_curve", list(curve))

    def trained(self, accuracy: float, curve: list[float], images_per_second: float) -> None:
        self.trial.set_user_attr("proxy_curve", list(curve))
        self.trial.set_user_attr("accuracy", accuracy)
        self.trial.set_user_attr("images_per_second", images_per_second)

    def reused(self, source: TrialRecord) -> None:
        if source.accuracy is not None:
            self.trial.set_user_attr("accuracy", source.accuracy)
        if source.proxy_curve:
            self.trial.set_user_attr("proxy_curve", list(source.proxy_curve))
        self.trial.set_user_attr("reused_from", source.number)

    def finished(self, status: Status, reason: str = "", train_seconds: float = 0.0,
                 values: list[float] | None = None) -> None:
        """The record's last writes; ``values``: the objective values about to be told (finished trials)."""
        self.trial.set_user_attr("train_seconds", train_seconds)
        self.trial.set_user_attr("reason", reason)
        if values is not None:
            self.trial.set_user_attr("values", list(values))
        self.trial.set_user_attr("status", status.value)  # last: a trial with a status has a complete record


_REFINED_PREFIX = "refined:"  # study attribute "refined:<trial>:<seed>": one refinement run


@dataclass(frozen=True)
class RefinedRun:
    """One higher-fidelity retraining of a trial (``refine.py``), stored as soon as it finishes."""

    trial: int
    seed: int
    accuracy: float  # validation top-1 in [0, 1]
    seconds: float = 0.0
    curve: tuple[float, ...] = ()  # validation top-1 by epoch evaluated: the last only, since refinement evaluates once

    @property
    def key(self) -> str:
        return f"{_REFINED_PREFIX}{self.trial}:{self.seed}"


@dataclass(frozen=True)
class StudyMeta:
    """Study-level attributes: what defines the study and what was learnt about it as a whole."""

    definition: StudyDefinition | None = None  # None: not written by ulsam-nas search
    objectives: tuple[str, ...] = ("accuracy", "flops")
    sampler: str = ""
    validation_images: int | None = None
    reference_point: dict[str, float] = field(default_factory=dict)  # for the hypervolume
    skipped_baselines: tuple[SkippedBaseline, ...] = ()
    legacy_notes: tuple[str, ...] = ()  # notes an earlier version stored as text
    calibration: Calibration | None = None
    latency_reference_ms: float | None = None  # the reference network's latency: every candidate's scale
    noise: NoiseEstimate | None = None  # measured when the study was made
    refinement: Refinement | None = None  # fixed once used
    refined: tuple[RefinedRun, ...] = ()  # every finished refinement run, by trial then seed

    @property
    def written(self) -> bool:
        """Whether ulsam-nas search created this study (it always records its definition)."""
        return self.definition is not None

    @property
    def budgets(self) -> tuple[str, ...]:
        return self.definition.budgets if self.definition else ()

    @property
    def resolution(self) -> int | None:
        return self.definition.resolution if self.definition else None

    @property
    def noise_estimate(self) -> NoiseEstimate:
        """The stored noise; without one, an estimate that knows only the validation size."""
        return self.noise or NoiseEstimate.unmeasured(self.validation_images)

    @classmethod
    def from_study(cls, study: optuna.Study) -> "StudyMeta":
        attrs = study.user_attrs
        runs = [RefinedRun(value["trial"], value["seed"], value["accuracy"], value.get("seconds", 0.0),
                           tuple(value.get("curve", ())))
                for key, value in attrs.items() if key.startswith(_REFINED_PREFIX)]
        validation = attrs.get("validation_images")
        return cls(
            definition=StudyDefinition.from_dict(attrs["settings"]) if attrs.get("settings") else None,
            objectives=tuple(attrs.get("objectives", ("accuracy", "flops"))), sampler=attrs.get("sampler", ""),
            validation_images=validation, reference_point=dict(attrs.get("reference_point", {})),
            skipped_baselines=tuple(SkippedBaseline.from_dict(item) for item in attrs.get("skipped_baselines", ())),
            legacy_notes=tuple(attrs.get("baseline_notes", ())),
            calibration=Calibration.from_dict(attrs["calibration"]) if attrs.get("calibration") else None,
            latency_reference_ms=attrs.get("latency_reference_ms"),
            noise=NoiseEstimate.from_dict(attrs["noise"], validation) if attrs.get("noise") else None,
            refinement=Refinement.from_dict(attrs["refinement"]) if attrs.get("refinement") else None,
            refined=tuple(sorted(runs, key=lambda run: (run.trial, run.seed))))

    def write(self, study: optuna.Study) -> None:
        """Store a new study's attributes (refinement, calibration and runs are written by their own methods)."""
        values = {"objectives": list(self.objectives), "sampler": self.sampler,
                  "validation_images": self.validation_images, "reference_point": self.reference_point,
                  "skipped_baselines": [item.to_dict() for item in self.skipped_baselines],
                  "latency_reference_ms": self.latency_reference_ms,
                  "noise": self.noise.to_dict() if self.noise else None,
                  # last: it marks the study as written (``written``), so a worker killed halfway leaves none
                  "settings": self.definition.to_dict() if self.definition else None}
        for key, value in values.items():
            if value is not None:
                study.set_user_attr(key, value)

    @staticmethod
    def write_latency_reference(study: optuna.Study, milliseconds: float) -> None:
        study.set_user_attr("latency_reference_ms", milliseconds)

    @staticmethod
    def write_calibration(study: optuna.Study, calibration: Calibration) -> None:
        study.set_user_attr("calibration", calibration.to_dict())

    @staticmethod
    def write_refinement(study: optuna.Study, refinement: Refinement) -> None:
        study.set_user_attr("refinement", refinement.to_dict())

    @staticmethod
    def write_refined_run(study: optuna.Study, run: RefinedRun) -> None:
        """One run, under its own key: a crash loses at most the run in progress."""
        study.set_user_attr(run.key, asdict(run) | {"curve": list(run.curve)})

