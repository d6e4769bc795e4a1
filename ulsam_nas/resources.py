"""Finding the bundled YAML files (search spaces, study definitions).

They live in the repository's top-level ``search_spaces/`` and ``studies/``
folders; an installed wheel carries them inside the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(kind: str) -> Path:
    for candidate in (_PACKAGE / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled {kind}/ folder not found next to {_PACKAGE}")


def bundled_files(kind: str) -> dict[str, Path]:
    return {path.stem: path for path in sorted(bundled_dir(kind).glob("*.yaml"))}


def resolve_bundled(kind: str, name_or_path: str | Path, what: str) -> Path:
    """A bundled file by name, or the user's own file by path."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise ValueError(f"{what}: file not found: {path}")
        return path
    available = bundled_files(kind)
    if str(name_or_path) not in available:
        raise ValueError(f"{what}: unknown {what} {str(name_or_path)!r}; bundled: {', '.join(available)} (or a path to a .yaml file)")
    return available[str(name_or_path)]
