"""Shared fixtures: a hand-computable study area in a metric CRS (CGCS2000 3° GK CM 117E)."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[1]
CRS = "EPSG:4548"
X0, Y0 = 440_000.0, 4_428_000.0


def at(x: float, y: float) -> tuple[float, float]:
    """Fixture coordinates are written relative to (X0, Y0)."""
    return (X0 + x, Y0 + y)


def line(*pts: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([at(*p) for p in pts])


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def point(x: float, y: float) -> shapely.Point:
    return shapely.Point(at(x, y))


def gdf(rows: list[dict], **kw) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS, **kw)


@pytest.fixture
def two_units() -> gpd.GeoDataFrame:
    """Unit A = 1 km × 1 km at (0..1000, 0..1000); unit B the same to its east."""
    return gdf(
        [
            {"unit_id": "A", "name": "甲", "geometry": box(0, 0, 1000, 1000)},
            {"unit_id": "B", "name": "乙", "geometry": box(1000, 0, 2000, 1000)},
        ]
    ).set_index("unit_id")


def require_or_skip(ok: bool, reason: str) -> None:
    """Skip with a visible reason on a user's machine; fail under CI=true (CI must run everything)."""
    if not ok:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def brute_force_line_km(lines, unit_geoms, *, step_m: float = 0.1):
    """Length (km) of lines per unit, independent of ditan's clipping.

    Lines are cut into ``step_m`` steps and each step goes to the units its midpoint lies in
    (within 1 mm), 1/k each.
    """
    import numpy as np

    units = np.asarray(unit_geoms, dtype=object)
    clipped = shapely.intersection(
        np.asarray(lines, dtype=object), shapely.buffer(shapely.union_all(units), 1.0)
    )
    near = shapely.segmentize(
        shapely.get_parts(clipped), step_m
    )  # parts first: no step may jump between parts
    xy, idx = shapely.get_coordinates(near, return_index=True)
    same = idx[1:] == idx[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    step = np.hypot(*(b - a).T)
    mid = shapely.points((a + b) / 2)
    pi, ui = shapely.STRtree(units).query(mid, predicate="dwithin", distance=1e-3)
    share = 1.0 / np.bincount(pi, minlength=len(mid))[pi]
    return np.bincount(ui, weights=step[pi] * share, minlength=len(units)) / 1000.0


def class_raster(path, codes) -> None:
    """A uint8 class raster (nodata 0) of 100 m pixels whose top-left corner is (X0, Y0 + 1000), in CRS."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    codes = np.asarray(codes)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=codes.shape[1],
        height=codes.shape[0],
        count=1,
        dtype="uint8",
        crs=CRS,
        transform=from_origin(X0, Y0 + 1000, 100, 100),
        nodata=0,
    ) as dst:
        dst.write(codes.astype("uint8"), 1)


# --- the Beijing sample, computed once for the session ------------------------------------------

BEIJING_CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"


def _digest(*objs) -> dict[str, int]:
    """A hash of each table (DataFrame) field of the dataclasses ``objs``: shows a change in place."""
    import dataclasses

    import pandas as pd

    out = {}
    for k, obj in enumerate(objs):
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if isinstance(v, pd.DataFrame):
                v = v.to_wkb() if isinstance(v, gpd.GeoDataFrame) else v
                out[f"{k}.{f.name}"] = int(pd.util.hash_pandas_object(v).sum())
    return out


def _unchanged(what: str, before: dict, after: dict) -> None:
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        pytest.fail(f"a test changed the shared {what} in place ({changed}): copy it first")


@pytest.fixture(scope="session")
def font():
    """The CJK font the annex draws with (Debian fonts-noto-cjk); skipped without one (a failure under CI=true)."""
    from ditan.maps import fonts

    try:
        return fonts.find_cjk_font()
    except fonts.FontMissingError as exc:
        require_or_skip(False, f"no CJK font for the map annex ({exc})")


@pytest.fixture(scope="session")
def beijing_study():
    """(cfg, study area) of the Beijing sample, loaded once for the session: read only.

    A test that changes one copies it first (``dataclasses.replace``, ``.copy()``, ``model_copy``).
    """
    from ditan.pipelines.assemble.load import load_study_area
    from ditan.pipelines.config.schema import load_config

    cfg = load_config(BEIJING_CONFIG)
    sa = load_study_area(cfg)
    before = _digest(sa)
    yield cfg, sa
    _unchanged("Beijing study area", before, _digest(sa))


@pytest.fixture(scope="session")
def beijing(beijing_study):
    """(cfg, sa, ``compute(sa, params_from_config(cfg))``) of the Beijing sample, once: read only."""
    from ditan.pipelines.compute.indicators import compute
    from ditan.pipelines.config.params import params_from_config

    cfg, sa = beijing_study
    res = compute(sa, params_from_config(cfg))
    before = _digest(res)
    yield cfg, sa, res
    _unchanged("Beijing result", before, _digest(res))


@pytest.fixture(scope="session")
def beijing_run(tmp_path_factory):
    """``run(cfg, out)`` of the Beijing sample, once: its folder and result are read only."""
    from ditan.pipelines.config.schema import load_config
    from ditan.pipelines.jobs.run import run

    out = run(load_config(BEIJING_CONFIG), tmp_path_factory.mktemp("beijing_run"))

    def files() -> dict[str, tuple[int, int]]:
        return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in out.out_dir.iterdir()}

    before = files(), _digest(out.result, out.study)
    yield out
    _unchanged("Beijing run folder", before[0], files())
    _unchanged("Beijing run result", before[1], _digest(out.result, out.study))


# --- a headless Chromium (selenium) --------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def chromium_fixture(page_load_strategy: str = "normal"):
    """A module-scoped fixture: a headless Chromium webdriver that keeps the browser console.

    Skipped without chromium or chromedriver (failed under CI=true). ``page_load_strategy`` "eager":
    ``get`` returns once the inline scripts have run, not waiting for tiles.
    """

    @pytest.fixture(scope="module")
    def browser():
        require_or_skip(
            Path(CHROMIUM).is_file(), "chromium is not installed (apt install chromium)"
        )
        require_or_skip(
            Path(CHROMEDRIVER).is_file(),
            "chromedriver is not installed (apt install chromium-driver)",
        )
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        opts = Options()
        opts.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1400,900",
            "--disable-dev-shm-usage",
        ):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        opts.page_load_strategy = page_load_strategy
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        driver.set_page_load_timeout(30)
        yield driver
        driver.quit()

    return browser


#: the PostGIS test server (`make postgres`; `make test` names it in DITAN_TEST_DATABASE_URL)
POSTGIS_URL = (
    os.environ.get("DITAN_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:55432/ditan_test"
)


@pytest.fixture(scope="module")
def db() -> str:
    """The PostGIS test server's URL, after checking it answers and has PostGIS (skip, or fail under CI)."""
    psycopg = pytest.importorskip("psycopg")
    try:
        with psycopg.connect(POSTGIS_URL, connect_timeout=5) as conn:
            ok = conn.execute("SELECT to_regtype('geometry') IS NOT NULL").fetchone()[0]
            reason = "" if ok else "PostGIS is not installed in it (CREATE EXTENSION postgis)"
    except psycopg.Error as exc:
        ok, reason = False, " ".join(str(exc).split())[:200]
    require_or_skip(
        ok,
        f"no PostGIS test server at {POSTGIS_URL} ({reason}); run `make test`, or `make postgres` "
        "and DITAN_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:55432/ditan_test",
    )
    return POSTGIS_URL
