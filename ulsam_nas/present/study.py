"""A study's results in words: its noise, its front as a table, its baselines, how well its proxy ranked.

Everything here takes the records ``report.py``, ``refine.py`` and ``noise.py`` compute and returns text.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from ..backbones import backbone_blocks, feature_sizes
from ..noise import MARGIN_SIGMAS, NoiseEstimate
from ..ranks import RankAgreement
from ..study_records import SkippedBaseline
from ..report import SCORE_NAMES, BaselineComparison, FrontPoint, ScoredTrial, StudyResults
from ..space import MIN_PROXY_MAP, HiddenSlot, SearchSpace
from .formats import ON_PAR, format_accuracy, format_count, format_table, word_difference

__all__ = ["agreement_lines", "baseline_notes", "comparison_lines", "front_text", "noise_line", "refinement_lines",
           "show_text", "ulsam_slots_line"]

FLOPS_WARNING = ("warning: the proxy ranked these networks no better than counting FLOPs; train the proxy longer "
                 "(--proxy-epochs) or at a larger --proxy-resolution before trusting its front")
SUPERNET_FLOPS_WARNING = ("warning: the supernet's scores ranked these networks no better than counting FLOPs; train "
                          "it longer (--supernet-epochs) or use --evaluator proxy before trusting its front")


def noise_line(noise: NoiseEstimate, evaluator: str = "proxy") -> str:
    """One line for ``show``, the search's notes and its final report."""
    images = f"{noise.validation_images} validation images" if noise.validation_images else "an unknown validation size"
    if noise.measured and evaluator == "supernet":
        values = ", ".join(f"{a:.1%}" for a in noise.accuracies)
        return (f"noise: {noise.network or 'the vanilla baseline'} scored by the supernet with BatchNorm re-estimated "
                f"from the images of seeds {', '.join(map(str, noise.seeds))}: {values}; std {noise.seed_std * 100:.1f} "
                f"points, binomial error {noise.binomial_se * 100:.1f} points ({images}); differences under "
                f"{noise.margin * 100:.1f} points are on par. The supernet's own training seed is not varied: this is "
                f"a lower bound of its noise")
    if not noise.measured:
        return (f"noise: seed-to-seed noise not measured ({noise.reason or 'not measured'}); ± is the binomial error of "
                f"{images} only, which understates the {evaluator}'s uncertainty")
    values = ", ".join(f"{a:.1%}" for a in noise.accuracies)
    cost = f"; {noise.extra_runs} extra proxy training(s), {noise.extra_seconds:.0f}s" if noise.extra_runs else ""
    return (f"noise: {noise.network or 'the vanilla baseline'} proxy-trained with seeds "
            f"{', '.join(map(str, noise.seeds))}: {values}; seed std {noise.seed_std * 100:.1f} points, binomial error "
            f"{noise.binomial_se * 100:.1f} points ({images}); ± is one standard uncertainty "
            f"({noise.sigma * 100:.1f} points here) and differences under 2 x sqrt(2) x sigma = {noise.margin * 100:.1f} "
            f"points are on par{cost}")


def baseline_notes(skipped: Iterable[SkippedBaseline], space: str) -> list[str]:
    """Why hand-designed baselines were not evaluated."""
    return [_skipped_line(item, space) for item in skipped]


def _skipped_line(item: SkippedBaseline, space: str) -> str:
    if item.unsearched_ulsam:
        blocks = ", ".join(map(str, item.unsearched_ulsam))
        return (f"baseline {item.label!r} places ULSAM after block {blocks} (as its canonical form), a slot this search "
                f"leaves out (see the ULSAM slots note): not evaluated")
    if item.outside_space:
        return f"baseline {item.label!r} is outside the searched space {space}: not evaluated"
    return f"baseline {item.label!r} is over budget ({'; '.join(item.over_budget)}): not evaluated"


def agreement_line(item: RankAgreement) -> str:
    return f"{item.predictor}: Kendall tau {item.tau:+.2f} (95% interval {item.low:+.2f} to {item.high:+.2f})"


def agreement_lines(agreement: Sequence[RankAgreement], what: str = "the refined accuracy") -> list[str]:
    """The proxy's rank agreement with ``what``, with a warning where FLOPs rank as well."""
    if not agreement:
        return ["  rank agreement: fewer than 3 refined networks, not computed"]
    lines = [f"  rank agreement with {what} (n = {agreement[0].count}):"]
    lines += [f"    {agreement_line(item)}" for item in agreement]
    if not agreement[0].beats(agreement[1]):
        lines.append(SUPERNET_FLOPS_WARNING if agreement[0].predictor == SCORE_NAMES["supernet"] else FLOPS_WARNING)
    return lines


def refinement_lines(results: StudyResults) -> list[str]:
    """For ``show``: what the stored refinement says (nothing when the study was not refined)."""
    meta = results.meta
    if not meta.refined or meta.refinement is None:
        return []
    refined = sum(1 for t in results.trials if t.refined_seeds)
    if results.evaluator == "supernet":
        before, beside = "the trials were scored with the supernet's weights", "the supernet's score beside it"
    else:
        before = f"proxy: {meta.definition.proxy.epochs if meta.definition else '?'}"
        beside = "the proxy's beside it"
    header = (f"refined: {refined} networks retrained with {meta.refinement.settings.seeds} seeds, "
              f"{meta.refinement.epochs} epochs ({before}); the front below uses the refined accuracy, {beside}")
    return [header] + agreement_lines(results.agreement())


def _costs(point: ScoredTrial, base: ScoredTrial) -> str:
    flops, params = point.value("flops"), point.value("params")
    return (f"{format_count(flops)} FLOPs ({flops / base.value('flops') - 1:+.1%}), "
            f"{format_count(params)} params ({params / base.value('params') - 1:+.1%})")


def comparison_lines(comparisons: Iterable[BaselineComparison]) -> list[str]:
    """For each trained baseline: the front's most accurate point that costs no more FLOPs, and the difference.

    A difference within the noise is never a gain: the line names the cheapest point on par instead.
    """
    lines = []
    for item in comparisons:
        base, best = item.baseline, item.best
        label = base.record.baseline
        if item.itself:
            lines.append(f"{label} (trial {base.number}) is itself on the front")
            continue
        head = (f"vs {label} (trial {base.number}, {format_accuracy(base.accuracy, base.sigma)}, "
                f"{format_count(base.value('flops'))} FLOPs): ")
        if item.on_par is not None:
            par = item.on_par
            if par.number == base.number:
                lines.append(head + f"no front point that costs no more is clearly more accurate; the most accurate, "
                                    f"trial {best.number}, is {ON_PAR}")
            else:
                lines.append(head + f"trial {par.number} is {ON_PAR} at {format_accuracy(par.accuracy, par.sigma)}, "
                                    f"{_costs(par, base)}")
            continue
        lines.append(head + f"trial {best.number} reaches {format_accuracy(best.accuracy, best.sigma)} "
                            f"({word_difference(item.difference, best.sigma, base.sigma)}) at {_costs(best, base)}")
    return lines


def _latency(trial: ScoredTrial) -> str:
    ms, sigma = trial.value("latency"), trial.record.value("latency_sigma_ms")
    if math.isnan(ms):
        return ""
    return f"{ms:.2f}" + ("" if math.isnan(sigma) else f" ± {sigma:.2f}")


def front_text(front: Sequence[FrontPoint], versus: ScoredTrial | None = None, evaluator: str = "proxy") -> str:
    """The front as a text table; with ``versus`` (a baseline), each point's difference from it.

    Accuracies carry ``±`` (one standard uncertainty, in points); a refined front shows the ``evaluator``'s score
    beside the refined one; "~" marks points that are on the front only because the noise hides a difference.
    """
    refined = any(p.trial.basis == "refined" for p in front)
    marked = not all(p.strict for p in front)

    def against(t: ScoredTrial) -> str:
        if t.number == versus.number:
            return "(itself)"
        return word_difference(t.accuracy - versus.accuracy, t.sigma, versus.sigma).removesuffix(" points")

    columns = [("trial", lambda p: p.trial.number)]
    if marked:
        columns.append(("front", lambda p: "" if p.strict else "~"))
    columns.append(("refined accuracy" if refined else "accuracy", lambda p: format_accuracy(p.trial.accuracy, p.trial.sigma)))
    if refined:
        columns.append((SCORE_NAMES[evaluator], lambda p: format_accuracy(p.trial.proxy_accuracy, p.trial.proxy_sigma)))
    if versus is not None:
        columns.append((f"vs {versus.record.baseline} (points)", lambda p: against(p.trial)))
    columns.append(("FLOPs (MACs)", lambda p: format_count(p.trial.value("flops"))))
    if versus is not None:
        columns.append(("FLOPs vs it", lambda p: f"{p.trial.value('flops') / versus.value('flops') - 1:+.1%}"))
    columns += [("params", lambda p: format_count(p.trial.value("params"))), ("latency ms", lambda p: _latency(p.trial)),
                ("baseline", lambda p: p.trial.record.baseline or ""), ("architecture", lambda p: p.trial.record.summary)]
    table = format_table([[cell(p) for _, cell in columns] for p in front], [name for name, _ in columns])
    if marked:
        table += ("\n~: another point is better on every objective, but by less than the noise "
                  f"({MARGIN_SIGMAS:g} x the difference's uncertainty); --strict leaves these out")
    return table


def show_text(results: StudyResults, strict: bool = False) -> str:
    """``ulsam-nas show``: the study's final front, each point against the vanilla (or first) baseline."""
    front = results.front(strict)
    kind = "strict" if strict else "noise-aware"
    lines = [f"study {results.name!r}: {len(results.trials)} trials; FLOPs are multiply-accumulates; {kind} front",
             noise_line(results.noise, results.evaluator), *refinement_lines(results)]
    return "\n".join(lines + [front_text(front, versus=results.reference_baseline(), evaluator=results.evaluator)])


def ulsam_slots_line(searched: SearchSpace, hidden: Sequence[HiddenSlot], deployment: int, proxy: int) -> str:
    """Each ULSAM slot's map at the deployment and the proxy resolution; the slots left out and what would show them."""
    blocks = backbone_blocks(searched.backbone)
    at_deployment, at_proxy = feature_sizes(blocks, deployment), feature_sizes(blocks, proxy)
    shown = ", ".join(f"{b} ({at_deployment[b]}x{at_deployment[b]} / {at_proxy[b]}x{at_proxy[b]})"
                      for b in searched.ulsam_after) or "none"
    line = f"ULSAM slots searched (map at the {deployment}-px deployment / the {proxy}-px proxy): after {shown}"
    if not hidden:
        return line
    unseen = [slot for slot in hidden if slot.deployment_size > 1]
    left = ", ".join(f"{s.block} ({s.deployment_size}x{s.deployment_size} / {s.proxy_size}x{s.proxy_size})"
                     for s in hidden)
    line += (f"; not searched: after {left}: ULSAM needs a map the proxy can see (3x3 or more) and more than 1x1 "
             "where the network ships")
    if unseen:
        needed = next(r for r in range(proxy + 8, 8 * deployment, 8)
                      if all(feature_sizes(blocks, r)[s.block] >= MIN_PROXY_MAP for s in unseen))
        line += f"; --proxy-resolution {needed} would search {', '.join(str(s.block) for s in unseen)}"
    return line
