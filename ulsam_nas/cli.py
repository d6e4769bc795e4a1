"""The ``ulsam-nas`` command line: a thin layer over the library API.

Each command parses its options, calls one library function and prints.
Errors a user can fix end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from ._text import format_count, format_table
from .backbones import backbone_blocks, feature_sizes, valid_subspaces
from .config import ArchConfig
from .costs import DEFAULT_RESOLUTION, measure_costs

app = typer.Typer(
    help="Neural architecture search for compact CNNs with ULSAM. FLOPs are multiply-accumulates (MACs), "
    "the MobileNet/ULSAM papers' convention.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

USAGE_ERROR = 2


def fail(message: str, code: int = USAGE_ERROR) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def friendly_errors(command: Callable) -> Callable:
    """Turn the library's ValueErrors (bad input) into one line and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ValueError as error:
            fail(str(error))
        except OSError as error:
            fail(f"{error.strerror or error}: {error.filename}" if error.filename else str(error), code=1)

    return wrapper


ResolutionOption = Annotated[int, typer.Option(help="Deployment input size in pixels (square); costs are those of this size.")]


@app.command()
@friendly_errors
def blocks(
    backbone: Annotated[str, typer.Argument(help="mobilenet_v1 or mobilenet_v2.")],
    width: Annotated[float, typer.Option(help="Width multiplier.")] = 1.0,
    resolution: ResolutionOption = DEFAULT_RESOLUTION,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the numbered blocks of a backbone: what can be dropped and where ULSAM fits."""
    specs = backbone_blocks(backbone, width)
    sizes = feature_sizes(specs, resolution)
    rows = [
        {
            "index": spec.index, "kind": spec.kind, "in_channels": spec.in_channels, "out_channels": spec.out_channels,
            "stride": spec.stride, "feature_size": size, "droppable": spec.droppable,
            "ulsam_subspaces": valid_subspaces(spec.out_channels),
        }
        for spec, size in zip(specs, sizes)
    ]
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


def main() -> None:
    app()
