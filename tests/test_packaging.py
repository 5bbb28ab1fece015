"""The distribution: one package, ``ditan``, installed from the wheel into a fresh venv.

The wheel is built from a copy of the sources (nothing is written into the repository) with the
setuptools of this venv when it is new enough (offline), else with pip's isolated build. It is
installed into a fresh venv without downloading anything: the dependencies are those of this venv,
seen through a plain path line in a .pth file (which does not run the other .pth files of that
folder, so the editable install's finder, which maps ``ditan`` to this checkout, stays inactive).
Then, from a folder outside the repository: ``ditan.run(config, out=…)`` writes the indicators.csv
of ``ditan run``, the console script works, and the generic names ``spatial``, ``maps`` and
``pipelines`` are not importable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import require_or_skip

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("spatial", "maps", "pipelines")
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_packages_list_names_every_package_folder():
    """[tool.setuptools] packages: each folder with an __init__.py in spatial/, maps/, pipelines, and the data folders."""
    st = _pyproject()["tool"]["setuptools"]
    assert st["package-dir"] == {"ditan": "ditan", **{f"ditan.{f}": f for f in FOLDERS}}
    on_disk = {"ditan"} | {
        "ditan." + ".".join(p.parent.relative_to(ROOT).parts)
        for f in FOLDERS
        for p in (ROOT / f).rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    data_only = {
        "ditan.spatial.standards.profiles",
        "ditan.pipelines.configs",
        "ditan.maps.vendor",
    }  # no code: package data
    assert set(st["packages"]) == on_disk | data_only
    assert all(
        not (ROOT / p.removeprefix("ditan.").replace(".", "/") / "__init__.py").exists()
        for p in data_only
    )


def _data_files() -> set[str]:
    """Package data the wheel holds: every YAML of the three folders, the map's vendored files."""
    found = {p for f in FOLDERS for p in (ROOT / f).rglob("*.yaml")} | set(
        (ROOT / "maps" / "vendor").iterdir()
    )
    return {
        "ditan/" + p.relative_to(ROOT).as_posix()
        for p in found
        if p.is_file() and "__pycache__" not in p.parts
    }


def _setuptools_version() -> tuple[int, ...]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(x) for x in re.findall(r"\d+", version("setuptools"))[:2])
    except PackageNotFoundError:
        return (0,)


def _run(
    cmd: list[str], *, cwd: Path, env: dict, timeout: int = 600
) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed "
        f"({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    )
    return out


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """(wheel, fresh venv's python, a work folder outside the repository, environment)."""
    tmp = tmp_path_factory.mktemp("packaging")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("ditan", *FOLDERS):
        shutil.copytree(
            ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    wheels = tmp / "wheels"
    offline = _setuptools_version() >= tuple(
        int(x) for x in re.findall(r"\d+", _requires_setuptools())
    )
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--quiet",
        "-w",
        str(wheels),
        str(src),
    ]
    result = subprocess.run(
        build + (["--no-build-isolation"] if offline else []),
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    require_or_skip(
        result.returncode == 0,
        "the wheel could not be built "
        f"({'offline' if offline else 'isolated build: needs the package index'}): "
        f"{result.stderr[-500:]}",
    )
    (wheel,) = wheels.glob("ditan-*.whl")
    venv = tmp / "fresh"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=env)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout.strip()
    )
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "project_dependencies.pth").write_text(
        "".join(f"{p}\n" for p in ours), encoding="utf-8"
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        cwd=tmp,
        env=env,
    )
    work = tmp / "work"
    work.mkdir()
    return wheel, py, work, env


def _requires_setuptools() -> str:
    req = next(r for r in _pyproject()["build-system"]["requires"] if r.startswith("setuptools"))
    return req.partition(">=")[2] or "0"


def test_wheel_holds_one_package_with_its_data(fresh):
    wheel, *_ = fresh
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"ditan"}
    assert _data_files() <= names, (
        f"package data missing from the wheel: {sorted(_data_files() - names)[:10]}"
    )
    modules = {
        "ditan/" + p.relative_to(ROOT).as_posix()
        for f in FOLDERS
        for p in (ROOT / f).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    modules |= {"ditan/" + p.name for p in (ROOT / "ditan").glob("*.py")}
    assert modules <= names, f"modules missing from the wheel: {sorted(modules - names)[:10]}"
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "ditan = ditan.pipelines.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


@pytest.mark.slow
def test_installed_wheel_runs_like_the_checkout(fresh, tmp_path):
    _, py, work, env = fresh
    probe = "\n".join(
        [
            "import importlib.util, pathlib, ditan, ditan.spatial, ditan.pipelines.cli",
            "print(pathlib.Path(ditan.__file__).resolve())",
            "print(pathlib.Path(ditan.spatial.__file__).resolve())",
            "print([n for n in ('spatial', 'maps', 'pipelines') if importlib.util.find_spec(n)])",
            f"t = ditan.run({str(CONFIG)!r}, out='api_out')",
            "print(sorted(t.files))",
        ]
    )
    out = _run([str(py), "-c", probe], cwd=work, env=env).stdout.splitlines()
    venv = py.parent.parent
    # the wheel's files, not the checkout
    assert Path(out[0]).is_relative_to(venv) and Path(out[1]).is_relative_to(venv)
    assert out[1].endswith("ditan/spatial/__init__.py")
    assert out[2] == "[]"  # import spatial, maps, pipelines: not found
    for name in ("spatial", "maps", "pipelines"):
        r = subprocess.run(
            [str(py), "-c", f"import {name}"], cwd=work, env=env, capture_output=True, text=True
        )
        assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr
    assert "indicators.csv" in out[3] and "manifest.json" in out[3]
    # the fresh venv's console script, and the checkout's (this venv's editable install)
    _run(
        [str(py.parent / "ditan"), "run", str(CONFIG), "--out", "cli_out", "--quiet"],
        cwd=work,
        env=env,
    )
    _run(
        [
            str(Path(sys.executable).parent / "ditan"),
            "run",
            str(CONFIG),
            "--out",
            str(tmp_path / "checkout"),
            "--quiet",
        ],
        cwd=work,
        env=env,
    )
    expected = (tmp_path / "checkout" / "indicators.csv").read_bytes()
    assert (work / "api_out" / "indicators.csv").read_bytes() == expected
    assert (work / "cli_out" / "indicators.csv").read_bytes() == expected
    assert sorted(p.name for p in (work / "api_out").iterdir()) == sorted(
        p.name for p in (tmp_path / "checkout").iterdir()
    )
    help_text = _run([str(py.parent / "ditan"), "--help"], cwd=work, env=env).stdout
    assert "check-parcels" in help_text
