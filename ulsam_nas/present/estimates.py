"""Expected times in words: a study's (its trials, noise runs and refinement) and a refinement's, said up front."""

from __future__ import annotations

from ..refine import RefineEstimate
from ..search.estimate import StudyEstimate
from ..training.timing import TrainingTime
from .formats import format_duration

__all__ = ["refine_estimate_line", "study_estimate_text", "study_extra_parts"]

UPPER_BOUND = "an upper bound: smaller, early-stopped, reused and over-budget candidates take less"


def _trial_time(trial: TrainingTime) -> str:
    return (f"estimate: up to {format_duration(trial.trial_seconds)} per trial (largest candidate {trial.candidate}: "
            f"{trial.epochs} epochs x {trial.steps_per_epoch} steps of {trial.step_seconds:.2f}s at {trial.resolution}px "
            f"+ {trial.eval_seconds:.1f}s evaluation per epoch + {trial.other_seconds:.1f}s costing)")


def _scoring_time(trial: TrainingTime) -> str:
    return (f"estimate: up to {format_duration(trial.trial_seconds)} per trial (largest candidate {trial.candidate}, "
            f"scored with the supernet's weights: {trial.eval_seconds:.1f}s BatchNorm re-estimation and validation at "
            f"{trial.resolution}px + {trial.other_seconds:.1f}s costing)")


def _side_by_side(processes: int) -> str:
    return f", {processes} side by side" if processes > 1 else ""


def study_extra_parts(study: StudyEstimate) -> list[str]:
    """What the study's time goes to besides its trials: supernet training, the noise runs and the refinement, as
    count x time = total."""
    parts = []
    if study.supernet_epochs and study.supernet_epoch is not None:
        epoch = study.supernet_epoch
        together = min(study.workers, study.supernets)
        parts.append(f"supernet training {study.supernet_epochs} epochs x {format_duration(epoch.epoch_seconds)} "
                     f"({epoch.steps_per_epoch} steps of {epoch.step_seconds:.2f}s, timed on the largest candidate"
                     f"{_side_by_side(together)}) = {format_duration(study.supernet_seconds)}")
    if study.noise_runs:
        kind = "noise scorings" if study.supernet_epoch is not None else "noise runs"
        parts.append(f"{kind} {study.noise_runs} x {format_duration(study.trial.training_seconds)} = "
                     f"{format_duration(study.noise_seconds)}")
    if study.refine_runs:
        run = study.refinement
        runs = (f"{study.refine_networks} networks x {study.refine_seeds} seeds" if not study.refine_done else
                f"{study.refine_runs} runs ({study.refine_networks} networks x {study.refine_seeds} seeds, "
                f"{study.refine_done} done)")
        parts.append(f"refinement {runs} x {format_duration(run.training_seconds)} ({run.epochs} epochs on "
                     f"{run.train_images} images{_side_by_side(study.refine_processes)}) = "
                     f"{format_duration(study.refine_seconds)}")
    return parts


def study_estimate_text(study: StudyEstimate) -> str:
    """The time per trial (while trials are left) and the study's expected time, broken down."""
    workers = f" on {study.workers} workers" if study.workers > 1 else ""
    parts = [f"search {study.remaining} trials x {format_duration(study.trial.trial_seconds)}{workers} = "
             f"{format_duration(study.search_seconds)}"] if study.remaining else []
    parts += study_extra_parts(study)
    timing = _scoring_time if study.supernet_epoch is not None else _trial_time
    lines = [timing(study.trial)] if study.remaining else []
    lines.append(f"expected study time: up to {format_duration(study.total_seconds)} ({', '.join(parts)}; "
                 f"{UPPER_BOUND if study.remaining else 'an upper bound'})")
    return "\n".join(lines)


def refine_estimate_line(estimate: RefineEstimate) -> str:
    run = estimate.run
    done = f"; {estimate.done} of {estimate.networks * estimate.seeds} done already" if estimate.done else ""
    return (f"refinement: {estimate.runs} run(s) to do ({estimate.networks} networks x {estimate.seeds} seeds{done}) x up "
            f"to {format_duration(run.training_seconds)}{_side_by_side(estimate.processes)} = up to "
            f"{format_duration(estimate.seconds)} "
            f"(costliest network {run.candidate}: {run.epochs} epochs x {run.steps_per_epoch} steps of "
            f"{run.step_seconds:.2f}s at {run.resolution}px + {run.eval_seconds:.1f}s evaluation per epoch)")
