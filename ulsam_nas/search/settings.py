"""What defines a search: the settings record, the study-file format, and what makes a study resumable.

``studies/*.yaml`` files hold a :class:`SearchSettings` as YAML; ``ulsam-nas search`` flags override any of
its values. Defaults live here and only here. Torch-free: the command line reads it without PyTorch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..budgets import Budget, parse_budget
from ..data.registry import DEFAULT_DATASET, check_cache_settings
from ..latency.settings import LatencySettings
from ..metrics import DEFAULT_OBJECTIVES, METRICS
from ..study_records import StudyDefinition
from ..resources import resolve_bundled
from ..space import SearchSpace
from ..training.settings import ProxySettings, RefineSettings, SupernetSettings
from .urls import RECONNECT_SECONDS

__all__ = ["DEFAULT_EVALUATOR", "DEFAULT_SAMPLER", "EVALUATORS", "SAMPLERS", "SearchSettings", "parse_duration"]

DEFAULT_SAMPLER = "tpe"  # measured best at 60 trials: benchmarks/RESULTS.md
SAMPLERS = ("nsga2", "tpe", "random")
# How a candidate is scored: trained alone for a short proxy run, or with the weights of one supernet trained once.
# The supernet: it ranks on par with the proxy against the long-trained reference at a fraction of the cost, and
# refinement's stand-alone training checks its front (benchmarks/RESULTS.md, "Defaults chosen from it").
EVALUATORS = ("proxy", "supernet")
DEFAULT_EVALUATOR = "supernet"
PROXYS = ("resolution", "threads", "device")  # supernet settings a search takes from the proxy's
_LEGACY_LATENCY = {"latency_runtime": "runtime", "latency_threads": "threads", "latency_device": "device",
                   "latency_table": "table"}  # study files of earlier versions: flat latency keys


def _default(cls, name: str) -> Any:
    """A dataclass field's default (a factory's value), or None when it has none."""
    for item in dataclasses.fields(cls):
        if item.name == name:
            if item.default is not dataclasses.MISSING:
                return item.default
            return item.default_factory() if item.default_factory is not dataclasses.MISSING else None
    return None


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
    cache_dir: str | None = None  # decoded-dataset cache (None: ~/.cache/ulsam-nas); not part of what defines a study
    cache: bool = True  # False: decode every image again and write nothing (--no-cache); not part of a study either
    budgets: tuple[Budget, ...] = ()  # also accepts their text: "300M-flops"
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    sampler: str = DEFAULT_SAMPLER
    seed: int = 0
    trials: int = 60
    timeout: float | None = None  # seconds; also accepts "30m", "2h"
    time_budget: float | None = None  # seconds ("1h"): the trial count is chosen from the estimated time per trial
    resolution: int | None = None  # deployment resolution; None: the space's
    proxy: ProxySettings = field(default_factory=ProxySettings)
    evaluator: str = DEFAULT_EVALUATOR  # "proxy" or "supernet" (EVALUATORS)
    supernet: SupernetSettings = field(default_factory=SupernetSettings)  # with the supernet evaluator
    early_stopping: bool = True
    latency: LatencySettings = field(default_factory=LatencySettings)
    storage: str | None = None
    study: str | None = None
    heartbeat_seconds: int = 10  # database storages: a worker silent for 3x this is failed and its trial retried
    reconnect_seconds: float = RECONNECT_SECONDS  # database storages: how long workers wait for a server that went away
    noise_seeds: int = 3  # a new study proxy-trains its vanilla baseline with this many seeds (< 2: not measured)
    refine: RefineSettings = field(default_factory=RefineSettings)  # after the search (count 0: off)

    def __post_init__(self) -> None:
        budgets = (self.budgets,) if isinstance(self.budgets, (str, Budget)) else self.budgets
        object.__setattr__(self, "budgets", tuple(b if isinstance(b, Budget) else parse_budget(b) for b in budgets))
        objectives = (self.objectives,) if isinstance(self.objectives, str) else self.objectives
        object.__setattr__(self, "objectives", tuple(objectives))
        unknown = [o for o in self.objectives if o not in METRICS]
        if unknown or not self.objectives:
            raise ValueError(f"objective: unknown objective {', '.join(unknown) or '(none)'}; valid: {', '.join(METRICS)}")
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objective: listed twice: {', '.join(self.objectives)}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler: unknown sampler {self.sampler!r}; valid: {', '.join(SAMPLERS)}")
        if self.evaluator not in EVALUATORS:
            raise ValueError(f"evaluator: unknown evaluator {self.evaluator!r}; valid: {', '.join(EVALUATORS)}")
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise ValueError(f"trials: must be a positive integer, got {self.trials!r}")
        if isinstance(self.noise_seeds, bool) or not isinstance(self.noise_seeds, int) or self.noise_seeds < 0:
            raise ValueError(f"noise-seeds: must be an integer >= 0, got {self.noise_seeds!r}")
        if not isinstance(self.refine, RefineSettings):  # a study file's or the command line's count
            object.__setattr__(self, "refine", RefineSettings(count=self.refine))
        object.__setattr__(self, "timeout", parse_duration(self.timeout))
        check_cache_settings(self.cache_dir, self.cache)
        try:
            object.__setattr__(self, "time_budget", parse_duration(self.time_budget))
        except ValueError as error:
            raise ValueError(str(error).replace("timeout:", "time budget:", 1)) from None

    @property
    def supernet_run(self) -> SupernetSettings:
        """The supernet as this search trains it: at the proxy's resolution, on its threads and device (its
        children are scored where the proxy would score them)."""
        return dataclasses.replace(self.supernet, **{name: getattr(self.proxy, name) for name in PROXYS})

    @property
    def uses_supernet(self) -> bool:
        """Whether candidates are scored with a supernet's weights (and accuracy is an objective)."""
        return self.evaluator == "supernet" and self.trains

    @property
    def budget_texts(self) -> list[str]:
        return [str(budget) for budget in self.budgets]

    @property
    def cost_objectives(self) -> tuple[str, ...]:
        return tuple(o for o in self.objectives if o != "accuracy")

    @property
    def trains(self) -> bool:
        """Whether candidates are trained at all (accuracy is an objective)."""
        return "accuracy" in self.objectives

    @property
    def needs_latency(self) -> bool:
        return "latency" in self.objectives or any(b.metric == "latency" for b in self.budgets)

    def deployment_resolution(self, space: SearchSpace) -> int:
        return self.resolution or space.resolution

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchSettings":
        values = dict(data)
        latency = {_LEGACY_LATENCY[key]: values.pop(key) for key in list(values) if key in _LEGACY_LATENCY}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"study: unknown key(s) {', '.join(sorted(unknown))}; valid keys: {', '.join(sorted(names))}")
        empty = [key for key, value in values.items() if value is None and _default(cls, key) is not None]
        if empty:
            raise ValueError(f"study: {', '.join(sorted(empty))}: no value given")
        try:
            for key, kind in (("proxy", ProxySettings), ("latency", LatencySettings), ("refine", RefineSettings),
                              ("supernet", SupernetSettings)):
                given = values.get(key)
                if key in values and not isinstance(given, (dict, kind, *((int,) if key == "refine" else ()))):
                    raise ValueError(f"study {key}: must be a mapping of {key} settings, got {given!r}")
                if isinstance(given, dict) or (key == "latency" and latency):
                    given = {**(given or {}), **latency} if key == "latency" else given
                    known = {f.name for f in dataclasses.fields(kind)}
                    bad = set(given) - known
                    if bad:
                        raise ValueError(f"study {key}: unknown key(s) {', '.join(sorted(bad))}; "
                                         f"valid: {', '.join(sorted(known))}")
                    taken = sorted(set(given) & set(PROXYS)) if key == "supernet" else []
                    if taken:
                        raise ValueError(f"study supernet: {', '.join(taken)}: taken from the proxy's settings (its "
                                         f"children are scored where the proxy's are); set them under proxy: instead")
                    values[key] = kind(**given)
            return cls(**values)
        except (TypeError, AttributeError) as error:  # a value of the wrong kind where validation expects another
            raise ValueError(f"study: a setting has a value of the wrong kind ({error})") from None

    @classmethod
    def load(cls, path: str | Path) -> "SearchSettings":
        """A study definition file (a bundled name such as ``quickstart``, or a path)."""
        path = resolve_bundled("studies", path, "study")
        try:
            data = yaml.safe_load(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as error:
            raise ValueError(f"study {path}: not UTF-8 text (byte {error.start}): damaged, or not a study file") from None
        except yaml.YAMLError as error:
            problem = str(getattr(error, "problem", None) or error).strip().splitlines()[0]
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else \
                f" (character {error.position})" if hasattr(error, "position") else ""
            raise ValueError(f"study {path}: not valid YAML{where}: {problem}") from None
        if not isinstance(data, dict):
            raise ValueError(f"study {path}: must be a mapping of settings")
        data.setdefault("study", path.stem)
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The study-file form (``from_dict`` reads it back)."""
        values = dataclasses.asdict(self)
        values["budgets"] = self.budget_texts
        values["objectives"] = list(self.objectives)
        for name in PROXYS:  # the proxy's (``supernet_run``)
            del values["supernet"][name]
        return values

    def definition(self, space: SearchSpace, num_classes: int) -> StudyDefinition:
        """What makes results comparable: a resumed study must match this exactly."""
        return StudyDefinition(space=space, dataset=self.dataset, num_classes=num_classes, budgets=tuple(self.budget_texts),
                               objectives=self.objectives, resolution=self.deployment_resolution(space), proxy=self.proxy,
                               seed=self.seed, early_stopping=self.early_stopping,
                               latency=self.latency if self.needs_latency else None,
                               supernet=self.supernet_run if self.uses_supernet else None)

    def study_name(self, space: SearchSpace) -> str:
        """The given study name, or one built from space, dataset, budgets and (non-default) objectives."""
        if self.study:
            return self.study
        dataset = Path(self.dataset.split(":", 1)[1]).name if self.dataset.startswith("imagefolder:") else self.dataset
        parts = [space.name, dataset, *self.budget_texts]
        if self.objectives != DEFAULT_OBJECTIVES:
            parts.append("-".join(self.objectives))
        return "_".join(parts)
