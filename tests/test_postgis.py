"""PostGIS: ditan reads its layers from, and writes its results to, a real PostgreSQL + PostGIS server.

The server is the Makefile's: `make test` installs Debian's postgresql and postgresql-postgis when missing (as
root), starts a throwaway cluster on 127.0.0.1:55432 and names it in DITAN_TEST_DATABASE_URL (`make postgres`
starts it alone). Without a server these tests are skipped with the reason; under CI=true they fail. The tests
need a role that may create schemas and roles (the test cluster's superuser).

The Beijing sample: the layers ditan derives from the OSM file (units, roads, buildings, land use, facilities,
stations) are exported in WGS 84 to a GeoPackage and to PostGIS tables (schema ditan_sample_beijing, as
pipelines/configs/beijing_postgis.yaml names them); the shipped PostGIS config and its file twin must then give
the same indicators.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import yaml

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import load_config, parse_config
from ditan.pipelines.jobs.run import run
from ditan.pipelines.outputs import postgis as db_write
from ditan.spatial.errors import ConfigError, CRSError, LayerError
from ditan.spatial.io.postgis import read_postgis
from ditan.spatial.io.vector import read_vector
from tests.conftest import POSTGIS_URL

psycopg = pytest.importorskip("psycopg")
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
PG_CONFIG = ROOT / "pipelines" / "configs" / "beijing_postgis.yaml"
URL = POSTGIS_URL  # the test server (tests/conftest.py: the db fixture checks it answers)
SAMPLE_SCHEMA = "ditan_sample_beijing"
RUN = f"{os.getpid()}_{secrets.token_hex(3)}"
#: the indicators a run from exported layers may compute differently from the OSM run, and why
MAY_DIFFER_FROM_OSM = {
    "road_length_km": "a roads layer has no oneway column: divided carriageways are paired by geometry alone",
    "road_density_km_per_km2": "as road_length_km",
    "road_density_local_km_per_km2": "as road_length_km (the pairs are local streets)",
    "lu_code_system": "'internal' (the parcels' codes) instead of 'osm'",
    "public_service_incl_community_pct": "computed from parcels; OSM land use has no community-service class",
    "green_coverage_pct": "vegetation (trees, grass) comes only from the OSM file or a land-cover raster",
    "green_coverage_source": "as green_coverage_pct: green land polygons only, not OSM vegetation",
    **{
        f"{c}{s}": "the carbon sink rests on the vegetation, as green_coverage_pct"
        for c in ("carbon_sink_t_per_year", "source_sink_ratio")
        for s in ("", "_low", "_high")
    },
    "carbon_sink_basis": "as carbon_sink_t_per_year",
    "lc_middle_school_pct": "a POI layer holds points: OSM areas (schools, parks, hospitals) are reached along their outline",
    "lc_primary_school_pct": "as lc_middle_school_pct",
    "lc_kindergarten_pct": "as lc_middle_school_pct",
    "lc_hospital_pct": "as lc_middle_school_pct",
    "lc_culture_centre_pct": "as lc_middle_school_pct",
    "lc_large_park_pct": "as lc_middle_school_pct",
    "lc_small_park_pct": "as lc_middle_school_pct",
    "lc_5min_score_pct": "the mean of the tier's category shares, some of which differ (above)",
    "lc_10min_score_pct": "as lc_5min_score_pct",
    "lc_15min_score_pct": "as lc_5min_score_pct",
}
LAYER_COLUMNS = {"units": ["unit_id", "name"], "roads": ["highway", "name"], "buildings": ["building", "levels_raw", "height_raw", "name"],
                 "parcels": ["lu_class", "name"], "pois": ["category", "name"], "stations": ["kind", "name"]}  # fmt: skip


# --- the server ---------------------------------------------------------------------------------------------------


def _execute(url: str, *statements) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


@pytest.fixture(scope="module")
def schema(db):
    """A schema of this module's small tables, dropped afterwards."""
    name = f"ditan_t_{RUN}"
    _execute(db, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    _execute(db, sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def login_role(db: str, name: str, password: str, *grants: sql.Composable) -> str:
    """Create login role ``name`` (the test server asks it for its password over TCP), run ``grants``; its URL."""
    _execute(
        db,
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)
        ),
        *grants,
    )
    parts = conninfo_to_dict(db)
    return make_conninfo("", **{**parts, "user": name, "password": password})


def drop_role(db: str, name: str) -> None:
    """Drop the schemas ``name`` owns, what else it owns and its grants, then the role."""
    with psycopg.connect(db, autocommit=True) as conn:
        for s in conn.execute(
            "SELECT nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE rolname = %s",
            [name],
        ).fetchall():
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(s[0])))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def reader(db, schema):
    """The URL of a role that may only read this module's tables (SELECT on the schema's tables, now and later).

    ditan refuses to read as a superuser (who could write files on the server from a SELECT): the tests
    create their tables as the test server's superuser and read them as this role, as a planner would.
    """
    name = f"ditan_rd_{RUN}"
    url = login_role(
        db,
        name,
        "rd-" + secrets.token_hex(8),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(schema), sql.Identifier(name)
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
            sql.Identifier(schema), sql.Identifier(name)
        ),
    )
    yield url
    drop_role(db, name)


def to_table(
    url: str, schema: str, table: str, gdf: gpd.GeoDataFrame, *, srid: int | None = None
) -> None:
    """``gdf`` as table schema.table (gid serial, its columns, geom geometry(Geometry, srid)) by COPY."""
    srid = gdf.crs.to_epsg() if srid is None else srid
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    kinds = {
        c: "double precision"
        if gdf[c].dtype.kind == "f"
        else "bigint"
        if gdf[c].dtype.kind == "i"
        else "text"
        for c in cols
    }
    ident = sql.Identifier(schema, table)
    defs = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(kinds[c])) for c in cols
    )
    hexes = shapely.to_wkb(
        shapely.set_srid(gdf.geometry.to_numpy(), srid), hex=True, include_srid=True
    ).tolist()
    values = [gdf[c].astype(object).where(gdf[c].notna(), None).tolist() for c in cols]
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (gid serial PRIMARY KEY, {}, geom geometry(Geometry, {}))"
            ).format(ident, defs, sql.Literal(srid))
        )
        names = sql.SQL(", ").join(map(sql.Identifier, [*cols, "geom"]))
        with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(ident, names)) as copy:
            for row in zip(*values, hexes, strict=True):
                copy.write_row(row)


def _points(n: int = 3, crs: str = "EPSG:4548") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"pid": list(range(n)), "highway": ["primary", "secondary", "residential"][:n]},
        geometry=[shapely.Point(440_000 + 10 * i, 4_428_000 + 5 * i) for i in range(n)],
        crs=crs,
    )


# --- config errors (no server needed) -----------------------------------------------------------------------------


def _cfg(inputs: dict, **extra) -> dict:
    return {"name": "t", "crs": "EPSG:4548", "inputs": inputs, **extra}


def _problem(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(data, base_dir=ROOT / "data" / "beijing_haidian_tsinghua")
    return str(err.value)


def test_path_and_table_together_is_an_error():
    msg = _problem(
        _cfg(
            {"roads": {"path": "units.gpkg", "table": "roads", "class_column": "highway"}},
            database={},
        )
    )
    assert "inputs.roads: path and table both given" in msg


def test_table_without_a_database_is_an_error():
    msg = _problem(_cfg({"roads": {"table": "public.roads", "class_column": "highway"}}))
    assert (
        "inputs.roads name a PostGIS table or sql but the config has no database" in msg
        and "PGHOST" in msg
    )


@pytest.mark.parametrize(
    "query, says",
    [
        ("SELECT * FROM roads; DROP TABLE units", "single statement"),
        ("SELECT 1;\nSELECT 2;", "single statement"),
        ("DELETE FROM roads", "must be a SELECT"),
        ("SELECT * FROM roads WHERE highway = %(cls)s", "params has no cls"),
    ],
)
def test_sql_must_be_one_select_with_its_params(query, says):
    assert says in _problem(_cfg({"roads": {"sql": query, "class_column": "highway"}}, database={}))


def test_sql_semicolons_inside_quotes_and_comments_are_not_statements():
    query = "SELECT ';' AS a, $q$;$q$ AS b, geom FROM \"odd;name\" -- ;\n/* ; */ WHERE x = %(v)s;"
    cfg = parse_config(
        _cfg({"roads": {"sql": query, "params": {"v": 1}, "class_column": "highway"}}, database={}),
        base_dir=ROOT,
    )
    assert cfg.inputs.roads.sql == query[:-1]


def test_password_is_never_in_the_config_dump_and_is_warned_about(caplog):
    url = "postgresql://planner:Hunter2%40x@db.example:5432/planning"
    with caplog.at_level(logging.WARNING):
        cfg = parse_config(
            _cfg(
                {"roads": {"table": "roads", "class_column": "highway"}},
                database={"url": url},
                output={"database": {"schema": "out"}},
            ),
            base_dir=ROOT,
        )
    assert cfg.database.url == url  # kept for connecting
    dumped = json.dumps(cfg.model_dump(mode="json")) + str(cfg.model_dump()) + repr(cfg)
    assert "Hunter2" not in dumped and "postgresql://planner:***@db.example:5432/planning" in dumped
    assert "PGPASSWORD" in caplog.text and "Hunter2" not in caplog.text
    assert db_write.manifest_entries(cfg, db_write.target(cfg), "r1")["database_output"] == {
        "run_id": "r1",
        "database": "postgresql://planner@db.example:5432/planning",
        "schema": "out",
    }


def test_shipped_postgis_config_validates_without_a_server(monkeypatch):
    monkeypatch.setenv("PGHOST", "no-such-host.invalid")
    cfg = load_config(PG_CONFIG)
    assert (
        cfg.inputs.units.table == f"{SAMPLE_SCHEMA}.units" and cfg.inputs.stations.params["kinds"]
    )
    assert (
        cfg.inputs.units.database is cfg.database
        and cfg.output.database.db_schema == "ditan_results"
    )


# --- reading --------------------------------------------------------------------------------------------------------


def test_srid_of_the_table_is_its_crs(db, reader, schema):
    to_table(db, schema, "pts_4548", _points())
    gdf = read_postgis(reader, layer_name="pois", table=f"{schema}.pts_4548")
    assert gdf.crs.to_epsg() == 4548 and list(gdf.columns) == ["gid", "pid", "highway", "geometry"]
    assert gdf.geometry.x.tolist() == [440_000, 440_010, 440_020] and gdf["pid"].tolist() == [
        0,
        1,
        2,
    ]


def test_srid_0_is_a_missing_crs_like_a_file_without_one(db, reader, schema, tmp_path):
    to_table(db, schema, "pts_srid0", _points(), srid=0)
    with pytest.raises(CRSError) as pg_err:
        read_postgis(reader, layer_name="pois", table=f"{schema}.pts_srid0")
    path = tmp_path / "no_crs.shp"  # a Shapefile without .prj
    _points().to_file(path, engine="pyogrio")
    path.with_suffix(".prj").unlink()
    with pytest.raises(CRSError) as file_err:
        read_vector(path, layer_name="pois")
    for words in (
        "layer 'pois'",
        "has no coordinate system",
        "declare it in the config: crs: EPSG:4326",
    ):
        assert words in str(pg_err.value) and words in str(file_err.value)
    gdf = read_postgis(reader, layer_name="pois", table=f"{schema}.pts_srid0", crs="EPSG:4548")
    assert gdf.crs.to_epsg() == 4548 and len(gdf) == 3


def test_sql_params_are_bound_and_a_quote_in_them_is_harmless(db, reader, schema):
    to_table(db, schema, "roads", _points())
    query = f'SELECT * FROM "{schema}".roads WHERE highway = ANY(%(classes)s)'
    gdf = read_postgis(
        reader, layer_name="roads", query=query, params={"classes": ["primary", "residential"]}
    )
    assert sorted(gdf["highway"]) == ["primary", "residential"]
    attack = "x'; DROP TABLE " + schema + ".roads; --"
    assert read_postgis(reader, layer_name="roads", query=query, params={"classes": [attack]}).empty
    with pytest.raises(LayerError, match="no such table"):
        read_postgis(reader, layer_name="roads", table=f'{schema}.roads"; DROP TABLE "roads; --')
    assert (
        len(read_postgis(reader, layer_name="roads", table=f"{schema}.roads")) == 3
    )  # still there


def test_reads_are_read_only(db, reader, schema):
    to_table(db, schema, "keep", _points())
    query = f'WITH gone AS (DELETE FROM "{schema}".keep RETURNING *) SELECT * FROM gone'
    with pytest.raises(LayerError, match="read-only transaction"):
        read_postgis(reader, layer_name="roads", query=query)
    assert len(read_postgis(reader, layer_name="roads", table=f"{schema}.keep")) == 3


def test_table_names_are_quoted_identifiers(db, reader, schema):
    to_table(db, schema, "Main Roads", _points())
    assert len(read_postgis(reader, layer_name="roads", table=f"{schema}.Main Roads")) == 3
    with pytest.raises(LayerError, match=f"did you mean {schema}.Main Roads"):
        read_postgis(reader, layer_name="roads", table=f"{schema}.main roads")


def test_geometry_column_and_srid_checks(db, reader, schema):
    two = f'SELECT geom, ST_Buffer(geom, 1) AS zone FROM "{schema}".pts_two'
    to_table(db, schema, "pts_two", _points())
    with pytest.raises(
        LayerError, match="several geometry columns .geom, zone.; name one with geometry_column"
    ):
        read_postgis(reader, layer_name="pois", query=two)
    assert read_postgis(
        reader, layer_name="pois", query=two, geometry_column="zone"
    ).geom_type.unique().tolist() == ["Polygon"]
    mixed = f'SELECT ST_SetSRID(geom, 4326 + (gid % 2) * 222) AS geom FROM "{schema}".pts_two'
    with pytest.raises(LayerError, match="mix SRIDs 4326, 4548"):
        read_postgis(reader, layer_name="pois", query=mixed)
    with pytest.raises(LayerError, match="no geometry column among gid, pid"):
        read_postgis(reader, layer_name="pois", query=f'SELECT gid, pid FROM "{schema}".pts_two')


def test_connection_error_names_the_database_not_the_password(db, caplog):
    parts = conninfo_to_dict(db)
    bad = make_conninfo("", **{**parts, "port": "1", "user": "nobody", "password": "S3cretPw"})
    url = f"postgresql://nobody:S3cretPw@{parts.get('host', '127.0.0.1')}:1/{parts.get('dbname', 'x')}"
    for conninfo in (bad, url):
        with caplog.at_level(logging.DEBUG), pytest.raises(LayerError) as err:
            read_postgis(conninfo, layer_name="units", table="units")
        msg = str(err.value)
        assert (
            "layer 'units': cannot connect to the database postgresql://nobody@" in msg
            and ":1/" in msg
        )
        assert "PGPASSWORD or ~/.pgpass" in msg
        assert "S3cretPw" not in msg and "S3cretPw" not in caplog.text


# --- the Beijing sample from PostGIS, and the results written back --------------------------------------------------


@pytest.fixture(scope="module")
def role(db):
    """A login role with a password (the test server's pg_hba asks other roles than postgres for one over TCP)."""
    name, password = f"ditan_pw_{RUN}", "Tr0ub4dor&3x" + secrets.token_hex(4)
    _execute(
        db,
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)
        ),
        sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
            sql.Identifier(conninfo_to_dict(db)["dbname"]), sql.Identifier(name)
        ),
    )
    parts = conninfo_to_dict(db)
    url = f"postgresql://{name}:{password.replace('&', '%26')}@{parts.get('host', '127.0.0.1')}:{parts.get('port', 5432)}/{parts['dbname']}"
    yield {"name": name, "password": password, "url": url}
    with psycopg.connect(db, autocommit=True) as conn:
        for s in conn.execute(
            "SELECT nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE rolname = %s",
            [name],
        ).fetchall():
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(s[0])))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


@pytest.fixture(scope="module")
def beijing(db, role, tmp_path_factory):
    """The sample's derived layers in a GeoPackage and in PostGIS; a run from each (the PostGIS one with a password)."""
    tmp = tmp_path_factory.mktemp("postgis")
    osm_cfg = load_config(SAMPLE)
    sa = load_study_area(osm_cfg, crop_to_units=False)
    # a station OSM lists more than once (both platforms) is exported at every position it was listed at, as a planner's
    # table would hold it; the loader merges them again
    st = sa.stations
    spots = [
        (g if not isinstance(m, shapely.MultiPoint) else p, k, n)
        for g, m, k, n in zip(st.geometry, st["members"], st["kind"], st["name"], strict=True)
        for p in (list(m.geoms) if isinstance(m, shapely.MultiPoint) else [None])
    ]
    stations = gpd.GeoDataFrame(
        {"kind": [k for _, k, _ in spots], "name": [n for _, _, n in spots]},
        geometry=[p for p, _, _ in spots],
        crs=st.crs,
    )
    frames = {
        "units": sa.units.reset_index(),
        "roads": sa.roads,
        "buildings": sa.buildings,
        "parcels": sa.landuse,
        "pois": sa.facilities,
        "stations": stations,
    }
    gpkg = tmp / "layers.gpkg"
    _execute(
        db,
        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SAMPLE_SCHEMA)),
        sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SAMPLE_SCHEMA)),
    )
    for name, frame in frames.items():
        layer = gpd.GeoDataFrame(
            frame[LAYER_COLUMNS[name]], geometry=frame.geometry.to_numpy(), crs=frame.crs
        ).to_crs(4326)
        layer.to_file(gpkg, layer=name, driver="GPKG", engine="pyogrio")
        to_table(db, SAMPLE_SCHEMA, name, layer.reset_index(drop=True))
    _execute(
        db,
        sql.SQL(
            "GRANT USAGE ON SCHEMA {0} TO {1}; GRANT SELECT ON ALL TABLES IN SCHEMA {0} TO {1}"
        ).format(sql.Identifier(SAMPLE_SCHEMA), sql.Identifier(role["name"])),
    )

    data = yaml.safe_load(PG_CONFIG.read_text(encoding="utf-8"))
    results = f"ditan_r_{RUN}"
    pg = parse_config(
        {**data, "database": {"url": role["url"]}, "output": {"database": {"schema": results}}},
        base_dir=PG_CONFIG.parent,
    )
    files_inputs = {
        k: {kk: v for kk, v in src.items() if kk not in ("table", "sql", "params")}
        | {"path": str(gpkg), "layer": k}
        for k, src in data["inputs"].items()
    }
    files = parse_config(
        {
            **data,
            "name": "beijing_files",
            "database": None,
            "inputs": files_inputs,
            "output": {"database": {"url": db, "schema": results}},
        },
        base_dir=PG_CONFIG.parent,
    )
    capture, root = _Capture(), logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        pg_out = run(pg, tmp / "out_pg")
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)
    files_out = run(files, tmp / "out_files")
    return {
        "pg": pg_out,
        "files": files_out,
        "schema": results,
        "osm_cfg": osm_cfg,
        "log": "\n".join(capture.lines),
        "pg_cfg": pg,
        "tmp": tmp,
    }


def _query(url: str, query, params=None) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


@pytest.mark.slow
def test_postgis_run_equals_the_file_run(beijing):
    pg, files = beijing["pg"].result, beijing["files"].result
    # every unit of the shipped file (the PostGIS table is loaded from the same units)
    shipped = gpd.read_file(ROOT / "data" / "beijing_haidian_tsinghua" / "units.gpkg")
    assert sorted(pg.indicators.index) == sorted(shipped["unit_id"])
    pd.testing.assert_frame_equal(pg.indicators, files.indicators)
    pd.testing.assert_frame_equal(beijing["pg"].quality, beijing["files"].quality)


@pytest.mark.slow
def test_postgis_run_agrees_with_the_osm_run(beijing):
    from ditan.pipelines.compute.indicators import Timer, compute

    osm = compute(
        load_study_area(beijing["osm_cfg"]), params_from_config(beijing["osm_cfg"]), Timer()
    ).indicators
    pg = beijing["pg"].result.indicators
    assert list(pg.columns) == list(osm.columns)
    agree = [c for c in osm.columns if c not in MAY_DIFFER_FROM_OSM]
    assert (
        len(agree) > 60
    )  # road classes and intersections, intensity, land-use shares, parks, transit, most life circles
    pd.testing.assert_frame_equal(pg[agree], osm[agree], check_dtype=False, rtol=1e-9)


@pytest.mark.slow
def test_manifest_names_the_database_inputs_and_output(beijing):
    m = json.loads((beijing["pg"].out_dir / "manifest.json").read_text(encoding="utf-8"))
    out = m["database_output"]
    assert out["schema"] == beijing["schema"] and out["run_id"].startswith("beijing_postgis_")
    assert out["database"].startswith(
        f"postgresql://{beijing['pg_cfg'].database.url.split('//')[1].split(':')[0]}@"
    )
    assert m["database_inputs"]["units"] == {
        "database": out["database"],
        "table": f"{SAMPLE_SCHEMA}.units",
    }
    assert len(m["database_inputs"]["stations"]["sql_sha256"]) == 64 and m["inputs"] == {}


@pytest.mark.slow
def test_the_password_is_never_written(beijing, role):
    pw = role["password"]
    secret_parts = (pw, pw.replace("&", "%26"), pw[:10])
    texts = {
        "manifest.json": (beijing["pg"].out_dir / "manifest.json").read_text(encoding="utf-8"),
        "log": beijing["log"],
    }
    texts["runs table"] = _query(
        beijing["pg_cfg"].database.url,
        sql.SQL("SELECT config::text || manifest::text FROM {} WHERE run_id = %s").format(
            sql.Identifier(beijing["schema"], "runs")
        ),
        [beijing["pg"].manifest["database_output"]["run_id"]],
    ).iloc[0, 0]
    assert "reading" in texts["log"].lower() or "results written" in texts["log"]
    for name, text in texts.items():
        assert not [s for s in secret_parts if s in text], f"password in {name}"
    assert "postgresql://" in texts["manifest.json"] and ":***@" in texts["manifest.json"]


@pytest.mark.slow
def test_two_runs_coexist_and_the_units_table_holds_the_indicators(beijing, db):
    schema = beijing["schema"]
    runs = _query(
        db,
        sql.SQL("SELECT run_id, name, srid, units FROM {} ORDER BY name").format(
            sql.Identifier(schema, "runs")
        ),
    )
    assert runs["name"].tolist() == ["beijing_files", "beijing_postgis"] and runs[
        "srid"
    ].tolist() == [4548, 4548]
    n = len(gpd.read_file(ROOT / "data" / "beijing_haidian_tsinghua" / "units.gpkg"))
    assert runs["run_id"].nunique() == 2 and runs["units"].tolist() == [n, n]
    for out in (beijing["pg"], beijing["files"]):
        run_id = out.manifest["database_output"]["run_id"]
        back = _query(
            db,
            sql.SQL(
                "SELECT *, ST_AsBinary(geometry) AS wkb, ST_SRID(geometry) AS srid FROM {} WHERE run_id = %s"
            ).format(sql.Identifier(schema, "units")),
            [run_id],
        ).set_index("unit_id")
        units = out.result.units
        back = back.loc[units.index]
        assert set(back["srid"]) == {4548}
        assert shapely.equals_exact(
            shapely.from_wkb(back["wkb"].map(bytes)), units.geometry.to_numpy(), 1e-6
        ).all()
        cols = [c for c in units.columns if c != units.geometry.name]
        typed = back[cols].astype(units[cols].dtypes.to_dict())  # NULL comes back as None
        pd.testing.assert_frame_equal(typed, pd.DataFrame(units[cols]), check_index_type=False)
        for table, expected in (
            ("service_areas", out.result.service_areas),
            ("data_quality", out.quality),
        ):
            n = _query(
                db,
                sql.SQL("SELECT count(*) FROM {} WHERE run_id = %s").format(
                    sql.Identifier(schema, table)
                ),
                [run_id],
            )
            assert n.iloc[0, 0] == len(expected) > 0
        n = _query(
            db,
            sql.SQL("SELECT count(*) FROM {} WHERE run_id = %s").format(
                sql.Identifier(schema, "compliance")
            ),
            [run_id],
        )
        # the profile's 11 rules of 表2 per unit: 9 spatial ones, the CO2 reduction rate and the renewable share
        assert n.iloc[0, 0] == out.manifest["units"] * 11


@pytest.mark.slow
def test_a_failed_write_leaves_nothing(beijing, db, monkeypatch):
    real = db_write.write_table

    def failing(cur, schema, table, *args, **kw):
        real(cur, schema, table, *args, **kw)
        if table == "units":
            raise RuntimeError("disk full (injected after the units insert)")

    monkeypatch.setattr(db_write, "write_table", failing)
    fresh = f"ditan_f_{RUN}"
    cfg = beijing["pg_cfg"].model_copy(deep=True)
    cfg.output.database.db_schema = fresh
    out_dir = beijing["tmp"] / "out_failed"
    with pytest.raises(RuntimeError, match="injected"):
        run(cfg, out_dir)
    assert not out_dir.exists()  # the files are not written either
    assert (
        _query(db, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [fresh]).iloc[0, 0] == 0
    )  # no schema, no table
    schema = beijing["schema"]
    before = _query(
        db,
        sql.SQL(
            "SELECT run_id, (SELECT count(*) FROM {} u WHERE u.run_id = r.run_id) AS n FROM {} r ORDER BY 1"
        ).format(sql.Identifier(schema, "units"), sql.Identifier(schema, "runs")),
    )
    out = beijing["pg"]
    with pytest.raises(RuntimeError, match="injected"):
        db_write.write_run(
            db_write.Target(db, schema),
            "failed_run",
            cfg,
            out.result,
            crs=out.study.crs,
            quality=out.quality,
            manifest=out.manifest,
        )
    after = _query(
        db,
        sql.SQL(
            "SELECT run_id, (SELECT count(*) FROM {} u WHERE u.run_id = r.run_id) AS n FROM {} r ORDER BY 1"
        ).format(sql.Identifier(schema, "units"), sql.Identifier(schema, "runs")),
    )
    pd.testing.assert_frame_equal(after, before)
    assert (
        _query(
            db,
            sql.SQL("SELECT count(*) FROM {} WHERE run_id = 'failed_run'").format(
                sql.Identifier(schema, "units")
            ),
        ).iloc[0, 0]
        == 0
    )


@pytest.mark.slow
def test_a_table_of_an_older_ditan_gains_the_new_columns(beijing, db):
    out, schema = beijing["pg"], f"ditan_o_{RUN}"
    tgt = db_write.Target(db, schema)
    args = dict(crs=out.study.crs, quality=out.quality, manifest=out.manifest)
    try:
        db_write.write_run(tgt, "old", beijing["pg_cfg"], out.result, **args)
        _execute(
            db,
            sql.SQL("ALTER TABLE {} DROP COLUMN lc_15min_all_pct").format(
                sql.Identifier(schema, "units")
            ),
        )
        db_write.write_run(tgt, "new", beijing["pg_cfg"], out.result, **args)
        got = _query(
            db,
            sql.SQL(
                "SELECT run_id, count(lc_15min_all_pct) AS n FROM {} GROUP BY 1 ORDER BY 1"
            ).format(sql.Identifier(schema, "units")),
        )
        assert dict(zip(got["run_id"], got["n"], strict=True)) == {
            "new": out.result.indicators["lc_15min_all_pct"].notna().sum(),
            "old": 0,
        }
    finally:
        _execute(db, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
