"""Dependencies that say what they are for (pyproject.toml [project]).

Every third-party package the code imports is declared: in the core dependencies, or in the extra
of the part that needs it (``cluster``: dask; ``postgis``: psycopg; ``graph``: osmnx / networkx),
and an extra's packages are imported only inside the functions that use them, so that
``import ditan`` works without them. Using such a part without its package is one clear error line
with the install hint (ditan.spatial.errors.require), never an ImportError traceback.

The imports are read with ``ast`` from the source files; an import name is mapped to its
distribution with ``importlib.metadata.packages_distributions()`` (``yaml`` → PyYAML, ``fontTools``
→ fonttools), independently of the code's own table of optional packages.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from ditan.pipelines.cli import main
from ditan.spatial.errors import OPTIONAL, DependencyError, require

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "pipelines" / "configs"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: the package's source folders (ditan/: the public API; the other three are installed under it)
SOURCES = ("ditan", "spatial", "maps", "pipelines")
#: the modules that may use each extra: lazily, inside the functions that need it (their entry
#: points call ditan.spatial.errors.require, which raises the install hint when it is missing)
USES = {
    "postgis": {
        "spatial/io/postgis.py",
        "spatial/io/pg_conninfo.py",
        "spatial/io/pg_session.py",
        "spatial/io/postgis_write.py",
        "pipelines/outputs/postgis.py",
    },
    "cluster": {"pipelines/jobs/cluster.py", "pipelines/cli/run.py"},
    "graph": {"ditan/indicators.py", "spatial/io/osm_http.py"},
}
HINTS = {"postgis": r'pip install "ditan\[postgis\]"', "cluster": r'pip install "ditan\[cluster\]"'}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(reqs: list[str]) -> set[str]:
    return {_norm(Requirement(r).name) for r in reqs}


CORE = _names(PROJECT["dependencies"])
EXTRAS = {extra: _names(reqs) for extra, reqs in PROJECT["optional-dependencies"].items()}


def _imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, top-level name, lazy) of every absolute import of a non-stdlib name in ``path``.

    ``lazy``: inside a function (or an ``if TYPE_CHECKING:`` block): importing the module skips it.
    """
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name.split(".")[0], lazy) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0], lazy))
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inner = True
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    skip = set(sys.stdlib_module_names) | {"__future__", "ditan"}
    return [f for f in found if f[1] not in skip]


def _package_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in (ROOT / folder).rglob("*.py"))


@functools.cache
def _providers() -> dict[str, list[str]]:
    return md.packages_distributions()


def _distributions(name: str) -> set[str]:
    dists = _providers().get(name)
    assert dists, (
        f"'{name}' is imported but no installed distribution provides it (is it installed? a typo?)"
    )
    return {_norm(d) for d in dists}


def test_every_import_of_the_package_is_declared():
    """Each third-party import is a core dependency, or of its module's extra imported lazily."""
    problems = []
    for path in _package_files():
        rel = path.relative_to(ROOT).as_posix()
        for line, name, lazy in _imports(path):
            dists = _distributions(name)
            if dists & CORE:
                continue
            extras = sorted(e for e, names in EXTRAS.items() if e != "test" and dists & names)
            where = f"{rel}:{line} imports {name} ({', '.join(sorted(dists))})"
            if not extras:
                problems.append(
                    f"{where}: declared neither in [project] dependencies nor in an extra"
                )
            elif not lazy:
                problems.append(
                    f"{where} at module level: it is in extra {extras}; import it in the function"
                )
            elif not any(rel in USES.get(e, set()) for e in extras):
                problems.append(
                    f"{where}: extra {extras} does not cover this module (USES in this test)"
                )
    assert not problems, "\n".join(problems)


def test_known_undeclared_imports_are_now_declared():
    # the list: imported by maps/ but not declared; osmnx, networkx, dask, psycopg: extras
    assert {"fonttools", "branca", "pydantic-core"} <= CORE
    assert not {"osmnx", "networkx", "distributed", "dask", "psycopg"} & CORE
    assert EXTRAS["cluster"] >= {"distributed", "dask"} and EXTRAS["postgis"] == {"psycopg"}
    assert (
        EXTRAS["graph"] == {"osmnx", "networkx"} and EXTRAS["graph"] <= EXTRAS["test"]
    )  # the tests' oracles
    assert "mypy" in EXTRAS["test"]


def test_the_tests_imports_are_declared():
    local = {p.stem for p in (ROOT / "tests").glob("*.py")} | {"tests"}
    declared = CORE.union(*EXTRAS.values())
    problems = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for line, name, _ in _imports(path):
            if name not in local and not _distributions(name) & declared:
                problems.append(
                    f"tests/{path.name}:{line} imports {name}, declared nowhere in pyproject.toml"
                )
    assert not problems, "\n".join(problems)


def test_install_hints_name_the_extra_that_declares_the_package():
    for module, (dist, extra, _) in OPTIONAL.items():
        assert _norm(Requirement(dist).name) in EXTRAS[extra], (module, extra)
        assert _distributions(module) & EXTRAS[extra]
    assert set(EXTRAS) - {"test"} == {extra for _, extra, _ in OPTIONAL.values()}


def test_make_installs_every_extra():
    """The Makefile installs every extra, so that make run and make test still do everything."""
    line = re.search(
        r"^EXTRAS\s*\??=\s*(\S+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M
    )
    assert line, "the Makefile names the extras it installs (EXTRAS ?= …)"
    installed = set(line.group(1).split(","))
    covered = set().union(*(EXTRAS[e] for e in installed))
    assert all(EXTRAS[e] <= covered for e in EXTRAS), f"{installed} leave out some extra"


@pytest.mark.parametrize("dist", ["folium", "branca"])
def test_folium_pinned_to_the_vendored_assets(dist):
    """maps/offline.py knows the CDN URLs of folium 0.17–0.20 / branca 0.6–0.8: a bounded range."""
    (req,) = [Requirement(r) for r in PROJECT["dependencies"] if _norm(Requirement(r).name) == dist]
    assert any(s.operator == "<" for s in req.specifier), f"{dist} needs an upper bound"
    assert req.specifier.contains(md.version(dist)), (
        f"installed {dist} {md.version(dist)} is outside {req.specifier}"
    )


def test_import_ditan_without_the_optional_packages():
    """Every module imports with distributed, dask, psycopg, osmnx and networkx missing."""
    code = """
import importlib, pkgutil, sys
from pathlib import Path
BLOCKED = {"distributed", "dask", "psycopg", "osmnx", "networkx"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
import ditan
names = [f"ditan.{p.stem}" for p in Path(sys.argv[1], "ditan").glob("*.py") if p.stem != "__init__"]
for pkg in ("ditan.spatial", "ditan.maps", "ditan.pipelines"):
    path = importlib.import_module(pkg).__path__
    names += [pkg] + [i.name for i in pkgutil.walk_packages(path, pkg + ".")]
for n in names:
    importlib.import_module(n)
print(len(names), sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""
    run = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    count, loaded = run.stdout.split(" ", 1)
    assert int(count) > 40 and loaded.strip() == "[]"


# --- a part used without its package: one line with the install hint ---------------------------


@pytest.fixture
def no_psycopg(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now raises ImportError


@pytest.fixture
def no_distributed(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)


def test_require_raises_the_install_hint(no_psycopg, no_distributed):
    with pytest.raises(DependencyError, match=HINTS["postgis"] + r" \(缺少可选依赖包\)$"):
        require("psycopg")
    with pytest.raises(
        DependencyError, match=r"needs the Python package distributed, .*" + HINTS["cluster"]
    ):
        require("distributed")
    assert require("json").dumps([1]) == "[1]"  # present: the module itself


def test_postgis_paths_without_psycopg(no_psycopg):
    from ditan.pipelines.outputs.postgis import Target, write_run
    from ditan.spatial.io.postgis import connect, read_postgis

    with pytest.raises(DependencyError, match=r"PostGIS.*" + HINTS["postgis"]):
        read_postgis("postgresql://u@localhost/db", layer_name="roads", table="roads")
    with pytest.raises(DependencyError, match=HINTS["postgis"]):
        connect(None, what="layer 'roads'")
    with pytest.raises(DependencyError, match=HINTS["postgis"]):
        write_run(
            Target(None, "ditan_results"), "run", None, None, crs=None, quality=None, manifest={}
        )


def test_postgis_config_without_psycopg_is_one_error_line(no_psycopg, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "500")
    assert main(["check-config", str(CONFIGS / "beijing_postgis.yaml")]) == 2
    err = capsys.readouterr().err
    assert (
        "database.url" in err and 'pip install "ditan[postgis]"' in err and "Traceback" not in err
    )


def test_cluster_paths_without_distributed(no_distributed, tmp_path, capsys, monkeypatch):
    from ditan.pipelines.jobs.batch import run_batch
    from ditan.pipelines.jobs.cluster import execute

    with pytest.raises(DependencyError, match=r"--workers, --scheduler.*" + HINTS["cluster"]):
        execute([{"area": "a"}], lambda i, res: None, workers=2)
    out = tmp_path / "out"
    with pytest.raises(DependencyError, match=HINTS["cluster"]):
        run_batch(CONFIGS / "batch_sample.yaml", out, scheduler="tcp://127.0.0.1:8786")
    assert not out.exists()  # checked before any work
    monkeypatch.setenv("COLUMNS", "500")
    assert (
        main(["run", str(CONFIGS / "batch_sample.yaml"), "--workers", "2", "--out", str(out), "-q"])
        == 2
    )
    err = capsys.readouterr().err
    assert 'pip install "ditan[cluster]"' in err and "Traceback" not in err and not out.exists()
    # serial batches need no dask
    assert (
        execute([{"area": "a"}], lambda i, res: None, task=lambda t: {"area": t["area"]})
        == "serial"
    )
