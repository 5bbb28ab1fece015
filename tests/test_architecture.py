"""Architecture rules: every module imports, layers depend downwards only, modules stay small.

One package, ``ditan``: the folders at the top of the repository are ``ditan.spatial`` (the measuring
library), ``ditan.maps`` (drawing) and ``ditan.pipelines`` (configs, jobs, CLI); a lower layer never
imports a higher one. Inside each, the sub-packages follow the order the data flows:

- spatial: errors → crs, landuse → io → engine → standards → study_area → indicators
- pipelines: config → assemble → compute → outputs → jobs → cli
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
#: the order of the sub-packages (and top modules) of each layer: one may import only those of a lower rank
RANK = {
    "spatial": {
        "errors": 0,
        "crs": 1,
        "landuse": 1,
        "io": 2,
        "engine": 3,
        "standards": 4,
        "study_area": 5,
        "indicators": 6,
    },
    "pipelines": {"config": 0, "assemble": 1, "compute": 2, "outputs": 3, "jobs": 4, "cli": 5},
}


def _modules() -> list[str]:
    names = []
    for pkg in PACKAGES:
        mod = importlib.import_module(f"ditan.{pkg}")
        names.append(f"ditan.{pkg}")
        names.extend(
            info.name for info in pkgutil.walk_packages(mod.__path__, prefix=f"ditan.{pkg}.")
        )
    return sorted(names)


def _source_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = ["ditan", *path.relative_to(ROOT).with_suffix("").parts]
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
    assert ROOT.joinpath("spatial", "study_area", "units.py") in files


@pytest.mark.parametrize("name", _modules())
def test_every_module_imports(name):
    importlib.import_module(name)


def test_walk_packages_sees_every_source_file():
    on_disk = {_module_name(p) for p in _source_files()}
    assert on_disk == set(_modules())


def _part(parts: tuple[str, ...]) -> str:
    """The sub-package (or top module) of a module's path inside its layer."""
    return parts[0].removesuffix(".py") if parts else ""


def test_lower_layers_never_import_higher_ones():
    offenders = []
    for path in _source_files():
        layer = path.relative_to(ROOT).parts[0]
        for line, mod in _imported(path):
            names = mod.split(".")
            if names[0] in PACKAGES:
                offenders.append(
                    f"{path.relative_to(ROOT)}:{line} imports {mod} (import through ditan.)"
                )
            elif names[0] == "ditan" and len(names) > 1 and names[1] in FORBIDDEN[layer]:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not offenders, "layering violated (spatial → maps → pipelines):\n" + "\n".join(offenders)


@pytest.mark.parametrize("layer", sorted(RANK))
def test_sub_packages_follow_the_data_flow(layer):
    """Inside a layer, a sub-package imports only those before it in the flow (or itself)."""
    rank = RANK[layer]
    offenders = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        inner = path.relative_to(ROOT / layer).parts
        if len(inner) == 1 and inner[0] == "__init__.py":
            continue
        here = _part(inner)
        assert here in rank, (
            f"{path.relative_to(ROOT)}: {here} has no place in the flow; add it to RANK"
        )
        for line, mod in _imported(path):
            names = mod.split(".")
            if names[:2] != ["ditan", layer] or len(names) < 3:
                continue
            there = names[2]
            if there in rank and there != here and rank[there] >= rank[here]:
                offenders.append(
                    f"{path.relative_to(ROOT)}:{line} ({here}) imports {mod} ({there})"
                )
    assert not offenders, "against the flow:\n" + "\n".join(offenders)


def test_import_scanner_sees_nested_and_relative_imports():
    src = (
        "def f():\n    from maps import style\n    import ditan.pipelines.cli as c\n"
        "from .crs import to_metric\nfrom ..pipelines import config\n"
    )
    found = _imports_in(src, "ditan.spatial.indicators")
    assert (2, "maps") in found
    assert (3, "ditan.pipelines.cli") in found
    assert (4, "ditan.spatial.indicators.crs") in found
    assert (5, "ditan.spatial.pipelines.config") in found


def test_modules_are_short():
    offenders = []
    for path in _source_files():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            offenders.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert not offenders, f"modules over {MAX_LINES} lines (split them):\n" + "\n".join(offenders)
