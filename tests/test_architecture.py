"""Architecture rules: every module imports, layers depend downwards only, modules stay small.

spatial (the measuring library) → maps (drawing) → pipelines (configs, CLI, runs): a lower
layer never imports a higher one.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("spatial", "maps", "pipelines")
MAX_LINES = 450
FORBIDDEN = {"spatial": {"maps", "pipelines"}, "maps": {"pipelines"}, "pipelines": set()}


def _modules() -> list[str]:
    names = []
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        names.append(pkg)
        names.extend(info.name for info in pkgutil.walk_packages(mod.__path__, prefix=f"{pkg}."))
    return sorted(names)


def _source_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth (functions too)."""
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    return _imports_in(path.read_text(encoding="utf-8"), package)


def _imports_in(text: str, package: str) -> list[tuple[int, str]]:
    tree = ast.parse(text)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            # `from . import x` / `from pkg import sub` may name a submodule
            found.extend((node.lineno, f"{mod}.{a.name}") for a in node.names if a.name != "*")
    return found


def test_packages_found():
    files = _source_files()
    assert {p.relative_to(ROOT).parts[0] for p in files} == set(PACKAGES)
    assert ROOT.joinpath("spatial", "units.py") in files


@pytest.mark.parametrize("name", _modules())
def test_every_module_imports(name):
    importlib.import_module(name)


def test_walk_packages_sees_every_source_file():
    on_disk = {_module_name(p) for p in _source_files()}
    assert on_disk == set(_modules())


def test_lower_layers_never_import_higher_ones():
    offenders = []
    for path in _source_files():
        layer = path.relative_to(ROOT).parts[0]
        for line, mod in _imported(path):
            top = mod.split(".")[0]
            if top in FORBIDDEN[layer]:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not offenders, "layering violated (spatial → maps → pipelines):\n" + "\n".join(offenders)


def test_import_scanner_sees_nested_and_relative_imports():
    src = (
        "def f():\n    from maps import style\n    import pipelines.cli as c\n"
        "from .crs import to_metric\nfrom ..pipelines import config\n"
    )
    found = _imports_in(src, "spatial.indicators")
    assert (2, "maps") in found
    assert (3, "pipelines.cli") in found
    assert (4, "spatial.indicators.crs") in found
    assert (5, "spatial.pipelines.config") in found


def test_modules_are_short():
    offenders = []
    for path in _source_files():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            offenders.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert not offenders, f"modules over {MAX_LINES} lines (split them):\n" + "\n".join(offenders)
