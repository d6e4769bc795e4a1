"""Commands about architectures: ``blocks``, ``cost``, ``spaces``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..backbones import describe_blocks
from ..config import ArchConfig
from ..costs import DEFAULT_RESOLUTION, measure_costs
from ..space import describe_spaces
from ..text import format_count, format_table
from .app import ResolutionOption, app, friendly_errors


@app.command()
@friendly_errors
def blocks(
    backbone: Annotated[str, typer.Argument(help="mobilenet_v1 or mobilenet_v2.")],
    width: Annotated[float, typer.Option(help="Width multiplier.")] = 1.0,
    resolution: ResolutionOption = DEFAULT_RESOLUTION,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the numbered blocks of a backbone: what can be dropped and where ULSAM fits."""
    rows = describe_blocks(backbone, width, resolution)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = [
        [r["index"], r["kind"], r["in_channels"], r["out_channels"], r["stride"], f"{r['feature_size']}x{r['feature_size']}",
         "yes" if r["droppable"] else "", ",".join(str(g) for g in r["ulsam_subspaces"] if g <= 64)]
        for r in rows
    ]
    typer.echo(f"{backbone} width {width:g} at {resolution}x{resolution}")
    typer.echo(format_table(table, ["block", "kind", "in", "out", "stride", "output", "droppable", "ULSAM subspaces (<=64)"]))


@app.command()
@friendly_errors
def cost(
    config: Annotated[Path, typer.Argument(help="Architecture config file (YAML or JSON).")],
    resolution: ResolutionOption = DEFAULT_RESOLUTION,
    latency: Annotated[bool, typer.Option(help="Also measure latency (batch 1, inference, BatchNorm folded).")] = False,
    device: Annotated[str, typer.Option(help="Device for latency: cpu or cuda.")] = "cpu",
    threads: Annotated[int, typer.Option(help="CPU threads for latency.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (keys flops, params, latency_ms, ...).")] = False,
) -> None:
    """FLOPs (multiply-accumulates), parameters and optionally measured latency of an architecture config."""
    arch = ArchConfig.load(config)
    report = measure_costs(arch, resolution=resolution, latency=latency, device=device, threads=threads)
    if as_json:
        typer.echo(json.dumps({"config": arch.to_dict(), **report.to_dict()}, indent=2))
        return
    rows = [
        ["architecture", arch.summary()],
        ["FLOPs (MACs)", f"{format_count(report.flops)} ({report.flops:,})"],
        ["params", f"{format_count(report.params)} ({report.params:,})"],
        ["resolution", f"{resolution}x{resolution}"],
    ]
    if report.latency_ms is not None:
        where = report.latency_device + (f", {report.latency_threads} thread(s)" if report.latency_threads else "")
        rows.append(["latency", f"{report.latency_ms:.2f} ms median (IQR {report.latency_iqr_ms:.2f} ms; "
                                f"{where}, batch 1, BatchNorm folded)"])
    typer.echo(format_table(rows, ["cost", "value"]))


@app.command()
@friendly_errors
def spaces() -> None:
    """List the bundled search spaces (use a name or a path to your own file with --space)."""
    rows = [[s.name, s.backbone, ",".join(f"{w:g}" for w in s.widths), ",".join(map(str, s.drop)),
             ",".join(map(str, s.ulsam_after)), ",".join(map(str, s.subspaces)), s.resolution] for s in describe_spaces()]
    typer.echo(format_table(rows, ["space", "backbone", "widths", "droppable", "ULSAM after", "subspaces", "resolution"]))
