"""Commands about architectures: ``blocks``, ``cost``, ``spaces``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..backbones import DEFAULT_RESOLUTION, describe_blocks
from ..config import ArchConfig
from ..latency.settings import LatencySettings
from ..present.formats import format_count, format_table
from ..space import describe_spaces
from ..training.settings import ProxySettings
from .app import ResolutionOption, app, friendly_errors

_LATENCY, _PROXY = LatencySettings(), ProxySettings()


@app.command()
@friendly_errors
def blocks(
    backbone: Annotated[str, typer.Argument(help="mobilenet_v1 or mobilenet_v2.")],
    width: Annotated[float, typer.Option(help="Width multiplier.")] = 1.0,
    resolution: ResolutionOption = DEFAULT_RESOLUTION,
    proxy_resolution: Annotated[int, typer.Option(help=(
        "Proxy training size: each block's map there too; ULSAM is searched only after blocks whose map is 3x3 or "
        "more there and more than 1x1 at --resolution."))] = _PROXY.resolution,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the numbered blocks of a backbone: stages, what can be dropped and where ULSAM fits and is searched."""
    rows = describe_blocks(backbone, width, resolution, proxy_resolution)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = [
        [r["index"], r["stage"], r["kind"], r["in_channels"], r["out_channels"], r["stride"],
         f"{r['feature_size']}x{r['feature_size']}", f"{r['proxy_feature_size']}x{r['proxy_feature_size']}",
         "yes" if r["droppable"] else "", "yes" if r["ulsam_searchable"] else "",
         ",".join(str(g) for g in r["ulsam_subspaces"] if g <= 64)]
        for r in rows
    ]
    typer.echo(f"{backbone} width {width:g} at {resolution}x{resolution} (proxy {proxy_resolution}x{proxy_resolution}); "
               "a stage keeps its first blocks")
    typer.echo(format_table(table, ["block", "stage", "kind", "in", "out", "stride", "output", "at proxy", "droppable",
                                    "ULSAM searched", "ULSAM subspaces (<=64)"]))


@app.command()
@friendly_errors
def cost(
    config: Annotated[Path, typer.Argument(help="Architecture config file (YAML or JSON).")],
    resolution: ResolutionOption = DEFAULT_RESOLUTION,
    latency: Annotated[bool, typer.Option(help="Also measure latency (batch 1, inference, BatchNorm folded).")] = False,
    latency_runtime: Annotated[str, typer.Option(help="onnxruntime (what ships on CPUs) or torch (eager).")] = _LATENCY.runtime,
    latency_table: Annotated[Optional[Path], typer.Option(
        help="Predict latency from this table (`ulsam-nas latency-table`) instead of measuring.")] = None,
    device: Annotated[str, typer.Option(help="Device for latency: cpu or cuda (torch runtime).")] = _LATENCY.device,
    threads: Annotated[int, typer.Option(help="CPU threads for latency.")] = _LATENCY.threads,
    remeasure_reference: Annotated[bool, typer.Option(
        "--remeasure-reference", help="Measure the reference network again instead of using the latency kept for "
                                      "this machine, runtime and threads (and keep the new one).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (keys flops, params, latency_ms, ...).")] = False,
) -> None:
    """FLOPs (multiply-accumulates), parameters and optionally latency of an architecture config (its canonical form).

    Latency is timed interleaved with the vanilla network of the same width, so that a busy machine's
    noise cancels out, and reported with its standard error. The vanilla network's own latency is measured
    once per machine, runtime and threads and kept, so that the figure repeats from run to run.
    """
    from ..costs import measure_costs  # PyTorch: loaded when a network is measured, not for --help
    from ..present.runs import latency_line

    written = ArchConfig.load(config)
    arch = written.canonical()  # one network, one encoding: the form searches store and compare
    settings = LatencySettings(runtime=latency_runtime, threads=threads, device=device,
                               table=str(latency_table) if latency_table else None, remeasure=remeasure_reference)
    report = measure_costs(arch, resolution=resolution, latency=settings if latency or latency_table else False)
    if as_json:
        typer.echo(json.dumps({"config": arch.to_dict(), **report.to_dict()}, indent=2))
        return
    rows = [
        ["architecture", arch.summary() + ("" if arch == written else f" (written as {written.summary()})")],
        ["FLOPs (MACs)", f"{format_count(report.flops)} ({report.flops:,})"],
        ["params", f"{format_count(report.params)} ({report.params:,})"],
        ["resolution", f"{resolution}x{resolution}"],
    ]
    if report.latency is not None:
        rows.append(["latency", latency_line(report.latency)])
    if report.latency_reference:
        rows.append(["latency reference", f"{report.latency.reference_ms:.2f} ms ({report.latency_reference})"])
    typer.echo(format_table(rows, ["cost", "value"]))


@app.command()
@friendly_errors
def spaces() -> None:
    """List the bundled search spaces (use a name or a path to your own file with --space)."""
    rows = [[s.name, s.backbone, ",".join(f"{w:g}" for w in s.widths), ",".join(map(str, s.drop)),
             ",".join(map(str, s.ulsam_after)), ",".join(map(str, s.subspaces)), s.resolution] for s in describe_spaces()]
    typer.echo(format_table(rows, ["space", "backbone", "widths", "droppable", "ULSAM after", "subspaces", "resolution"]))


@app.command(name="latency-table")
@friendly_errors
def latency_table(
    out: Annotated[Path, typer.Option(help="The table (CSV). If it exists, it is checked (--check), not remade.")],
    space: Annotated[str, typer.Option(help="Search space: a bundled name or a YAML path.")] = "mobilenet_v2",
    runtime: Annotated[str, typer.Option(help="onnxruntime or torch.")] = _LATENCY.runtime,
    threads: Annotated[int, typer.Option(help="CPU threads, as the device will run it.")] = _LATENCY.threads,
    resolution: Annotated[Optional[int], typer.Option(help="Deployment input size (default: the space's).")] = None,
    check: Annotated[int, typer.Option(help="Also measure this many random configs end to end and report the "
                                            "table's error (RMSPE, share within ±10%).")] = 0,
    remake: Annotated[bool, typer.Option("--remake", help="Remake the table even if --out exists.")] = False,
) -> None:
    """Time every piece a space's candidates are made of, on this machine: a latency table for `search
    --latency-table`. Run it on the target device (anything with Python and ONNX Runtime)."""
    from ..latency.table_check import make_or_check_table
    from ..space import load_space

    chosen = load_space(space)

    def progress(done: int, total: int, piece, latency) -> None:
        if done == 1:
            typer.echo(f"timing every piece of space {chosen.name!r} with {runtime}, {threads} thread(s) ...", err=True)
        if done == 1 or done % 20 == 0 or done == total:
            typer.echo(f"  [{done}/{total}] {piece.key}: {latency.ms:.3f} ms", err=True)

    def checked(i: int, n: int, summary: str, predicted: float, measured: float) -> None:
        typer.echo(f"  [{i}/{n}] {summary}: table {predicted:.2f} ms, measured {measured:.2f} ms "
                   f"({predicted / measured - 1:+.1%})", err=True)

    outcome = make_or_check_table(out, chosen, LatencySettings(runtime=runtime, threads=threads), resolution, check,
                                  remake, on_piece=progress, on_config=checked)
    meta = outcome.table.meta
    if outcome.made:
        typer.echo(f"wrote {out}: {meta['pieces']} pieces in {meta['seconds_to_make']:.0f}s")
    else:
        typer.echo(f"checked {out} ({meta['pieces']} pieces, made in {meta['seconds_to_make']:.0f}s)")
    if outcome.check is not None:
        report = outcome.check
        typer.echo(f"table error on {check} random configs measured end to end: RMSPE {report.rmspe:.1%}, "
                   f"{report.within_10_percent:.0%} within ±10% (recorded in {out})")
