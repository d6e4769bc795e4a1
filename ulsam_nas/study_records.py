"""The parts of what a study stores, as typed records: its definition, its refinement, its calibration, the
baselines it skipped. ``record.StudyMeta`` reads and writes them; here they only turn into dicts and back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .latency.settings import LatencySettings
from .ranks import RankAgreement
from .space import SearchSpace
from .training.settings import ProxySettings, RefineSettings, SupernetSettings

__all__ = ["FLAG_PER_BLOCK", "SPACE_ENCODING", "Calibration", "Refinement", "SkippedBaseline", "StudyDefinition"]

SPACE_ENCODING = "depth-per-stage"  # a trial's parameters: a depth per stage, ULSAM slots on kept blocks (space.py)
FLAG_PER_BLOCK = "flag-per-block"  # studies made before: one drop flag per block, many encodings of one network


@dataclass(frozen=True)
class Refinement:
    """How a study's refinement trains, fixed by its first run: settings and the epochs and images they came to."""

    settings: RefineSettings
    epochs: int
    train_subset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings.defining(), "epochs": self.epochs, "train_subset": self.train_subset}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Refinement":
        stored = dict(values.get("settings") or {})
        stored.pop("epochs_factor", None)  # the first version's factor meant epochs; its runs keep their stored epochs
        return cls(RefineSettings(**stored), int(values["epochs"]), values.get("train_subset"))

    def matches(self, settings: RefineSettings) -> bool:
        """Whether runs made with ``settings`` compare with the stored ones (how many networks does not matter)."""
        return self.settings.defining() == settings.defining()


@dataclass(frozen=True)
class Calibration:
    """What ``ulsam-nas calibrate`` found: the proxy's ranking against longer training, and FLOPs' beside it."""

    study: str
    trials: tuple[int, ...]
    proxy_accuracy: tuple[float, ...]
    long_accuracy: tuple[float, ...]
    flops: tuple[float, ...]
    proxy_epochs: int
    long_epochs: int
    spearman_proxy: float
    spearman_flops: float
    agreement: tuple[RankAgreement, ...] = ()  # proxy, FLOPs alone, params alone: tau with its 95% interval

    @property
    def proxy_beats_flops(self) -> bool:
        return len(self.agreement) >= 2 and self.agreement[0].beats(self.agreement[1])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"proxy_beats_flops": self.proxy_beats_flops}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Calibration":
        names = {f.name for f in fields(cls)}
        known = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items() if key in names}
        known["agreement"] = tuple(RankAgreement(**item) for item in values.get("agreement", ()))
        return cls(**known)


@dataclass(frozen=True)
class StudyDefinition:
    """What makes a study's results comparable: a resumed study must match it exactly."""

    space: SearchSpace
    dataset: str
    num_classes: int
    budgets: tuple[str, ...]
    objectives: tuple[str, ...]
    resolution: int  # deployment resolution: costs are those of this size
    proxy: ProxySettings
    seed: int = 0
    early_stopping: bool = True
    latency: LatencySettings | None = None  # how latency was obtained, where an objective or budget needs it
    space_encoding: str = SPACE_ENCODING  # how trials' parameters map to networks
    supernet: SupernetSettings | None = None  # how the supernet that scored the candidates trained (None: the proxy)

    @property
    def evaluator(self) -> str:
        return "proxy" if self.supernet is None else "supernet"

    def to_dict(self) -> dict[str, Any]:
        return {"space_encoding": self.space_encoding, "space": self.space.to_dict(), "dataset": self.dataset, "num_classes": self.num_classes,
                "budgets": list(self.budgets), "objectives": list(self.objectives), "resolution": self.resolution,
                "proxy": self.proxy.defining(), "seed": self.seed, "early_stopping": self.early_stopping} \
            | ({"latency": self.latency.defining()} if self.latency is not None else {}) \
            | ({"evaluator": "supernet", "supernet": self.supernet.defining()} if self.supernet is not None else {})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "StudyDefinition":
        latency = values.get("latency")
        return cls(space=SearchSpace.from_dict(values["space"]), dataset=values["dataset"],
                   num_classes=int(values["num_classes"]), budgets=tuple(values.get("budgets", ())),
                   objectives=tuple(values.get("objectives", ("accuracy", "flops"))),
                   resolution=int(values["resolution"]), proxy=ProxySettings.from_stored(values["proxy"]),
                   seed=int(values.get("seed", 0)), early_stopping=bool(values.get("early_stopping", True)),
                   latency=LatencySettings.from_stored(latency) if latency else None,
                   space_encoding=values.get("space_encoding", FLAG_PER_BLOCK),
                   supernet=SupernetSettings.from_stored(values["supernet"]) if values.get("supernet") else None)

    def differences(self, other: "StudyDefinition") -> list[str]:
        """The top-level keys in which ``other`` differs from this definition."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [key for key in dict.fromkeys([*mine, *theirs]) if mine.get(key) != theirs.get(key)]


@dataclass(frozen=True)
class SkippedBaseline:
    """A hand-designed baseline a study did not evaluate, and why."""

    label: str
    outside_space: bool = False
    over_budget: tuple[str, ...] = ()  # one excess per budget
    unsearched_ulsam: tuple[int, ...] = ()  # where outside: its ULSAM slots the search leaves out

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "outside_space": self.outside_space, "over_budget": list(self.over_budget),
                "unsearched_ulsam": list(self.unsearched_ulsam)}

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> "SkippedBaseline":
        return cls(item["label"], item.get("outside_space", False), tuple(item.get("over_budget", ())),
                   tuple(item.get("unsearched_ulsam", ())))
