"""The package's import graph has no cycle, counting imports inside functions and lazy package attributes; the
command line answers --help without loading PyTorch; no library module outside ``present/`` builds sentences for
people; no module grows past 350 lines."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ulsam_nas"
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module of the package ``name`` imports, at module level or inside a function, and the submodules its
    ``_LAZY`` table (``lazy.lazy_exports``) imports on first use. ``from package import module`` counts as the
    module; a parent package's own ``__init__`` is not counted for its submodules (Python runs it first, but lazy
    attributes are not imported then)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def resolve(level: int, module: str | None) -> str:
        base = package.split(".")
        if level > 1:
            base = base[: len(base) - (level - 1)]
        return ".".join(base + ([module] if module else [])) if level else (module or "")

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = resolve(node.level, node.module)
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets):
            found.update(resolve(1, value.value.lstrip(".")) for value in node.value.values)
    return {module for module in found if module in known and module != name}


def test_no_import_cycles_even_through_imports_inside_functions():
    known = modules()
    graph = {name: imported(name, path, set(known)) for name, path in known.items()}
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for child in sorted(graph[node]):
            if state.get(child) == "open":
                cycles.append(trail[trail.index(child):] + [child])
            elif child not in state:
                visit(child, trail + [child])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_the_graph_sees_imports_inside_functions():
    known = modules()
    assert "ulsam_nas.costs" in imported("ulsam_nas.cli.model", known["ulsam_nas.cli.model"], set(known))


def test_the_command_line_loads_neither_torch_nor_optuna_for_help():
    code = ("import sys; from ulsam_nas.cli import app; "
            "print(sorted(m for m in ('torch', 'torchvision', 'optuna', 'pandas') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_no_module_is_longer_than_the_limit():
    long = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name: lines for name, lines in long.items() if lines > MAX_LINES} == {}


def _prose(function: ast.FunctionDef) -> list[str]:
    """String constants of four words or more in a function, leaving out its docstring, what it raises and logs."""
    skipped: set[int] = set()
    for node in ast.walk(function):
        logging = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "debug", "info", "warning", "warn", "error")
        if isinstance(node, ast.Raise) or logging:
            skipped.update(id(inner) for inner in ast.walk(node))
    if function.body and isinstance(function.body[0], ast.Expr) and isinstance(function.body[0].value, ast.Constant):
        skipped.update(id(inner) for inner in ast.walk(function.body[0]))
    return [node.value for node in ast.walk(function) if id(node) not in skipped and isinstance(node, ast.Constant)
            and isinstance(node.value, str) and len(node.value.split()) >= 4]


# Text that is stored as data (a trial's or an estimate's reason) or belongs to an error, not analysis worded for people.
STORED_OR_ERRORS = {
    "ulsam_nas.budgets.describe_excess": "the reason stored with an infeasible trial",
    "ulsam_nas.config._index_error": "a ValueError's message, raised by the caller",
    "ulsam_nas.data.loaders._torchvision": "the hint of a missing dataset's error",
    "ulsam_nas.data.loaders.open_split": "the hint of a missing dataset's error",
    "ulsam_nas.deploy.export_model": "the note of an export that could not be checked",
    "ulsam_nas.noise.to_dict": "the margin rule stored with the noise estimate for optuna-dashboard",
    "ulsam_nas.noise.unmeasured": "the reason stored with a missing noise estimate",
    "ulsam_nas.search.objective.__call__": "the reason stored with an untrained trial",
    "ulsam_nas.search.objective._reuse": "the reason stored with a reused trial",
    "ulsam_nas.search.plan._fewer_refined": "part of the time budget's one-line error",
    "ulsam_nas.search.stopping.check": "the reason stored with a trial stopped early",
    "ulsam_nas.search.study.measure_noise": "the reason stored when the noise is not measured",
    "ulsam_nas.search.journal._checked": "a damaged journal's error",
    "ulsam_nas.latency.table.load": "the hint of a file that is not a latency table's error",
    "ulsam_nas.latency.meter._measure_reference": "the description stored with the kept reference latency",
}


def test_only_the_presentation_layer_words_results():
    """Library functions return records; the words people read (text and plots) come from ulsam_nas.present and the
    command line that prints them. A function that starts wording its results outside them fails this test."""
    offenders = []
    for name, path in modules().items():
        if name.startswith(("ulsam_nas.present", "ulsam_nas.cli")):
            continue
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, ast.FunctionDef) and _prose(function) \
                    and f"{name}.{function.name}" not in STORED_OR_ERRORS:
                offenders.append(f"{name}.{function.name}: {_prose(function)[0]!r}")
    assert offenders == []
