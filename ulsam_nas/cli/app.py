"""The Typer application, its error handling and the options several commands share."""

from __future__ import annotations

import functools
from typing import Annotated, Callable, Optional

import typer

from ..backbones import DEFAULT_RESOLUTION
from ..search.urls import DEFAULT_STORAGE

__all__ = ["CacheDirOption", "DataDirOption", "DownloadOption", "NoCacheOption", "ResolutionOption", "StorageOption",
           "StudyOption", "app", "default_help", "friendly_errors", "given", "open_studies"]

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


def default_help(text: str, default: object) -> str:
    """Help text that shows a default kept in a settings dataclass (the option itself defaults to "not given")."""
    return f"{text} (default: {default})"


ResolutionOption = Annotated[int, typer.Option(
    help=f"Deployment input size in pixels (square); costs are those of this size. (default: {DEFAULT_RESOLUTION})",
    show_default=False)]
StudyOption = Annotated[Optional[list[str]], typer.Option(
    "--study", help="Study name (repeatable for pareto); default: the most recent study in the storage.")]
StorageOption = Annotated[Optional[str], typer.Option(help=f"Optuna storage URL (default: {DEFAULT_STORAGE} here).")]
DataDirOption = Annotated[Optional[str], typer.Option(help="Root folder of torchvision datasets.")]
DownloadOption = Annotated[bool, typer.Option("--download", help="Let torchvision download the dataset.")]
CacheDirOption = Annotated[Optional[str], typer.Option(help=(
    "Where decoded datasets are cached (default: $ULSAM_NAS_CACHE_DIR, else $XDG_CACHE_HOME/ulsam-nas, "
    "else ~/.cache/ulsam-nas)."))]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help=(
    "Use no decoded-dataset cache: decode every image again and write nothing (not with --cache-dir)."))]


def given(**values) -> dict:
    """The options a user gave (a flag left out is None and keeps the settings' value)."""
    return {key: value for key, value in values.items() if value is not None}


def open_studies(names: Optional[list[str]], storage: Optional[str], one: bool = False):
    """The named studies (the most recent one when none is named); ``one``: only the first name counts."""
    from ..search.storage import open_study  # Optuna: loaded by the commands that open studies, not by --help

    names = names[:1] if one and names else names
    return [open_study(storage, name) for name in (names or [None])]
