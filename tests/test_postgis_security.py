"""PostGIS security (issue 16, parts 1 and 3): reads that cannot write, limits on time and locks, passwords kept out.

Each attack of the issue is reproduced and its safe outcome asserted:

- a layer's sql that hides statements from a naive guard (``x$$$`` identifiers, ``name'\\'`` typed literals)
  is refused by check-config (the tokenizer reads SQL as PostgreSQL's lexer does) and, when it reaches the
  server anyway, by the server (one prepared statement): the victim table and a non-superuser's own results
  schema survive;
- ``SELECT lo_export(…)`` writes no file: a SELECT-only role may not run it, a superuser is refused as reader;
- ``pg_sleep`` stops at database.statement_timeout_s, a locked table at lock_timeout_s (reads and writes);
- SIGTERM during a read cancels the query on the server;
- ``postgresql://planner:S3cr3t?@host/db`` and ``password=S3\\ cr3t`` leave no trace of the password in
  manifest.json, the results database's runs.config or the log.

The tokenizer and redaction tests need no server; the others use the Makefile's test server (see
tests/test_postgis.py), create their tables as its superuser and read them as a role that may only SELECT.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import yaml

from ditan.pipelines.config.schema import load_config, parse_config
from ditan.pipelines.config.sql_guard import check_select, tokens
from ditan.spatial.errors import ConfigError, LayerError
from ditan.spatial.io.postgis import (
    UNREADABLE,
    DatabaseError,
    PrivilegedRole,
    read_postgis,
    redact,
    scrub,
)

psycopg = pytest.importorskip("psycopg")
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict  # noqa: E402

from tests.test_postgis import (  # noqa: E402
    PG_CONFIG,
    ROOT,
    _Capture,
    _execute,
    drop_role,
    login_role,
    to_table,
)

RUN = f"{os.getpid()}_{secrets.token_hex(3)}"
CRS = "EPSG:4548"
#: the issue's two bypasses: statements hidden from the old guard by a $ in an identifier and by a typed literal
DOLLAR_BYPASS = (
    'SELECT geom AS x$$$ FROM "{s}".pts; COMMIT; DROP TABLE "{s}".victim; '
    'DROP SCHEMA "{r}" CASCADE; SELECT geom AS y$$ FROM "{s}".pts'
)
TYPED_BYPASS = (
    'SELECT name\'\\\' AS n, geom FROM "{s}".pts; COMMIT; DROP TABLE "{s}".victim; '
    "DROP SCHEMA \"{r}\" CASCADE; SELECT 'x' AS y"
)


# --- the sql guard: PostgreSQL's lexer, no server -------------------------------------------------------------------


def _kinds(text: str) -> list[tuple[str, str]]:
    return [(k, text[a:b]) for k, a, b in tokens(text) if k not in ("space", "comment")]


def test_a_dollar_inside_a_name_is_part_of_the_name_not_a_dollar_quote():
    # scan.l: identifiers continue over [A-Za-z0-9_$]; a dollar quote starts only where a token starts
    assert _kinds("x$$$ , y$$") == [("word", "x$$$"), ("op", ","), ("word", "y$$")]
    assert _kinds("$a$;$a$ $$x$$") == [("dollar", "$a$;$a$"), ("dollar", "$$x$$")]
    assert _kinds("$1 + 2") == [("param", "$1"), ("op", "+"), ("number", "2")]


def test_backslash_escapes_only_in_e_strings_and_their_continuations():
    # name'\' is a typed literal: type name, string '\' (one backslash: standard_conforming_strings on)
    assert _kinds("name'\\' ;") == [("word", "name"), ("string", "'\\'"), (";", ";")]
    assert _kinds("E'\\';' ;") == [("string", "E'\\';'"), (";", ";")]
    assert _kinds("e'it''s' ;") == [("string", "e'it''s'"), (";", ";")]
    # continuation: a newline between two quotes continues the string, in its first segment's mode
    assert _kinds("E'a'\n'\\';' ;") == [("string", "E'a'\n'\\';'"), (";", ";")]
    assert _kinds("'a'\n'b' ;") == [("string", "'a'\n'b'"), (";", ";")]
    assert _kinds("'a' 'b'") == [("string", "'a'"), ("string", "'b'")]  # no newline: two strings
    assert _kinds("U&'\\' ;") == [("string", "U&'\\'"), (";", ";")]
    assert _kinds("U&\"a;b\" X'1F'") == [("ident", 'U&"a;b"'), ("string", "X'1F'")]


def test_quoted_names_and_nested_comments():
    assert _kinds('"a;""b" /* ; /* ; */ ; */ -- ;\n;') == [("ident", '"a;""b"'), (";", ";")]
    for text, what in (
        ("SELECT 'open", "quoted string at character 8"),
        ('SELECT "open', "quoted name"),
        ("SELECT $q$ open", "dollar quote $q$ at character 8"),
        ("SELECT 1 /* /* */", "comment /* at character 10"),
    ):
        with pytest.raises(ValueError, match=re.escape(what)):
            tokens(text)


@pytest.mark.parametrize("bypass", [DOLLAR_BYPASS, TYPED_BYPASS], ids=["dollar", "typed_literal"])
def test_the_bypasses_are_several_statements(bypass):
    with pytest.raises(ValueError, match="single statement"):
        check_select(bypass.format(s="a", r="b"))


@pytest.mark.parametrize(
    "text, kept",
    [
        ("SELECT geom AS x$$ FROM t;", "SELECT geom AS x$$ FROM t"),
        ("SELECT E'\\';' AS a, geom FROM t ; ; -- done", "SELECT E'\\';' AS a, geom FROM t"),
        ("SELECT name'\\' AS n, geom FROM t", "SELECT name'\\' AS n, geom FROM t"),
        ("(VALUES (1))", "(VALUES (1))"),
        ("/* lead */ WITH a AS (SELECT 1) TABLE a;", "/* lead */ WITH a AS (SELECT 1) TABLE a"),
    ],
)
def test_one_select_is_kept_without_its_trailing_semicolons(text, kept):
    assert check_select(text) == kept


@pytest.mark.parametrize(
    "text", ["DELETE FROM t", "COMMIT", "DO $$ BEGIN END $$", "-- SELECT\nDROP TABLE t", ""]
)
def test_only_a_reading_statement(text):
    with pytest.raises(ValueError, match="must be a SELECT"):
        check_select(text)


def _problem(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(data, base_dir=ROOT)
    return str(err.value)


@pytest.mark.parametrize("bypass", [DOLLAR_BYPASS, TYPED_BYPASS], ids=["dollar", "typed_literal"])
def test_check_config_refuses_the_bypasses(bypass):
    data = {
        "name": "t",
        "crs": CRS,
        "database": {},
        "inputs": {"roads": {"sql": bypass.format(s="a", r="b"), "class_column": "highway"}},
    }
    assert "inputs.roads.sql: sql must be a single statement" in _problem(data)


# --- the new keys ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where, value, says",
    [
        ("database.statement_timeout_s", 0, "greater than 0"),
        ("database.statement_timeout_s", float("inf"), "finite number"),
        ("database.lock_timeout_s", -1, "greater than 0"),
        ("database.lock_timeout_s", 3e6, "less than or equal to 2147483"),  # int milliseconds
        ("output.database.lock_timeout_s", float("nan"), "finite number"),
        ("database.allow_privileged_role", "maybe", "valid boolean"),
        ("output.database.statement_timeout_s", 5, "Extra inputs are not permitted"),
    ],
)
def test_limits_are_checked_with_their_key_path(where, value, says):
    data: dict = {"name": "t", "crs": CRS, "database": {}, "output": {"database": {}}}
    *path, key = where.split(".")
    node = data
    for p in path:
        node = node[p]
    node[key] = value
    msg = _problem({**data, "inputs": {"roads": {"table": "r", "class_column": "highway"}}})
    assert f"  - {where}: " in msg and says in msg


def test_limits_default_to_ten_minutes_and_thirty_seconds():
    cfg = parse_config(
        {
            "name": "t",
            "crs": CRS,
            "database": {},
            "output": {"database": {}},
            "inputs": {"roads": {"table": "r", "class_column": "highway"}},
        },
        base_dir=ROOT,
    )
    db, out = cfg.database, cfg.output.database
    assert (db.statement_timeout_s, db.lock_timeout_s, db.allow_privileged_role) == (600, 30, False)
    assert out.lock_timeout_s == 30


def test_the_shipped_sample_reads_as_a_select_only_role_with_limits(monkeypatch):
    monkeypatch.setenv("PGHOST", "no-such-host.invalid")
    cfg = load_config(PG_CONFIG)
    assert conninfo_to_dict(cfg.database.url)["user"] == "ditan_reader"
    assert conninfo_to_dict(cfg.output.database.url)["user"] == "ditan_writer"
    assert not cfg.database.allow_privileged_role and cfg.database.statement_timeout_s == 600


# --- passwords: libpq's parser, no server ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "conninfo, shown",
    [
        # the two: '?' in a URL password (libpq reads user info up to the '@'), an escaped space
        ("postgresql://planner:S3cr3t?@host/db", "postgresql://planner:***@host/db"),
        ("host=h password=S3\\ cr3t user=u", "host=h password=*** user=u"),
        ("host=h password='S3 \\'cr3t' user=u", "host=h password=*** user=u"),
        ("password = 'x y' dbname=d", "password = *** dbname=d"),
        ("postgresql://u:p%40ss%3Aw@h:5432/db", "postgresql://u:***@h:5432/db"),  # URL-encoded
        ("postgresql://u:a:b@h/db", "postgresql://u:***@h/db"),  # the first ':' ends the user
        (
            "postgres://u@h/db?sslmode=require&password=pw%26x",
            "postgres://u@h/db?sslmode=require&password=***",
        ),
        (
            "postgresql://h/db?pass%77ord=pw",
            "postgresql://h/db?pass%77ord=***",
        ),  # the key decoded too
        ("postgresql://u:one@h/db?password=two", "postgresql://u:***@h/db?password=***"),
        ("postgresql://u:pw@[::1]:5432,h2/db", "postgresql://u:***@[::1]:5432,h2/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),  # nothing to hide
        ("host=h user=u", "host=h user=u"),
        ("host='unclosed password=S3cr3t", UNREADABLE),
        ("postgresql://u:pw@h:notaport/db?=x", UNREADABLE),
    ],
)
def test_redact_finds_the_password_as_libpq_reads_it(conninfo, shown):
    assert redact(conninfo) == shown
    if shown != UNREADABLE:  # it still names the same connection, password aside
        before, after = conninfo_to_dict(conninfo), conninfo_to_dict(shown)
        assert after.pop("password", "***") == "***"
        before.pop("password", None)
        assert after == before


def test_scrub_removes_the_password_as_read_written_and_decoded():
    url = "postgresql://u:p%40ss@h/db"
    msg = "FATAL: password p@ss for p%40ss refused"
    assert scrub(msg, url) == "FATAL: password *** for *** refused"
    kv = "host=h password=S3\\ cr3t"
    assert scrub("auth S3 cr3t / S3\\ cr3t", kv) == "auth *** / ***"
    assert scrub("x postgresql://u:pw:x@h y", "host='unclosed") == "x postgresql://u:pw:x@h y"


# --- the server -----------------------------------------------------------------------------------------------------


def _units() -> gpd.GeoDataFrame:
    x0, y0 = 440_000.0, 4_428_000.0
    return gpd.GeoDataFrame(
        {"unit_id": ["A", "B"], "name": ["甲", "乙"]},
        geometry=[
            shapely.box(x0, y0, x0 + 500, y0 + 500),
            shapely.box(x0 + 500, y0, x0 + 1000, y0 + 500),
        ],
        crs=CRS,
    )


def _roads() -> gpd.GeoDataFrame:
    x0, y0 = 440_000.0, 4_428_000.0
    return gpd.GeoDataFrame(
        {"highway": ["primary", "residential", "residential"], "name": ["一路", "二路", "三路"]},
        geometry=[
            shapely.LineString([(x0 - 100, y0 + 250), (x0 + 1100, y0 + 250)]),
            shapely.LineString([(x0 + 250, y0 - 100), (x0 + 250, y0 + 600)]),
            shapely.LineString([(x0 + 750, y0 - 100), (x0 + 750, y0 + 600)]),
        ],
        crs=CRS,
    )


@pytest.fixture(scope="module")
def setup(db):
    """Schema ``s`` (tables pts, victim, units, roads) made by the superuser; a SELECT-only reader; an owner of schema ``r``.

    reader: USAGE on s, SELECT on its tables (README: a SELECT-only role). owner: a non-superuser who may create
    schemas, owns ``r`` (its results) and may also read s — the issue's "non-superuser dropped its own results schema".
    """
    s, r = f"ditan_sec_{RUN}", f"ditan_secres_{RUN}"
    _execute(db, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(s)))
    to_table(db, s, "pts", _units().assign(geometry=_units().centroid))
    to_table(db, s, "victim", _units())
    to_table(db, s, "units", _units())
    to_table(db, s, "roads", _roads())
    reader_name, owner_name = f"ditan_secrd_{RUN}", f"ditan_secown_{RUN}"
    tag = secrets.token_hex(6)
    reader = login_role(
        db,
        reader_name,
        f"S3cr3t?{tag}",  # the '?' in the password
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(s), sql.Identifier(reader_name)
        ),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
            sql.Identifier(s), sql.Identifier(reader_name)
        ),
    )
    owner_pw = f"S3 cr3t{secrets.token_hex(6)}"  # the escaped space: password=S3\ cr3t…
    owner = login_role(
        db,
        owner_name,
        owner_pw,
        sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
            sql.Identifier(conninfo_to_dict(db)["dbname"]), sql.Identifier(owner_name)
        ),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(s), sql.Identifier(owner_name)
        ),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
            sql.Identifier(s), sql.Identifier(owner_name)
        ),
    )
    with psycopg.connect(owner) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(r)))
        conn.execute(sql.SQL("CREATE TABLE {} (run_id text)").format(sql.Identifier(r, "runs")))
    yield {
        "s": s,
        "r": r,
        "reader": reader,
        "reader_tag": tag,
        "owner": owner,
        "owner_pw": owner_pw,
        "names": (reader_name, owner_name),
    }
    for name in (reader_name, owner_name):
        drop_role(db, name)
    _execute(db, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(s)))


#: statements whose count the guard and the server must agree on (the server as the independent reading)
AGREE = [
    "SELECT 1 AS x$$$, 2 AS y$$",
    "SELECT 1 AS x$$$; SELECT 2 AS y$$",
    "SELECT name'\\' AS n",
    "SELECT name'\\' AS n; SELECT 'x' AS y",
    "SELECT E'\\';' AS a",
    "SELECT E'a'\n'\\'; b' AS a",
    "SELECT 'a'\n'\\'; SELECT 'b'",
    "SELECT 'a' /* ; /* ; */ ; */ AS b -- ;\n",
    "SELECT $q$;$q$ AS a, $$;$$ AS b",
    'SELECT 1 AS "a;""b"; SELECT 2',
    "SELECT 1;",
    "SELECT U&'d\\0061t;' AS a; SELECT 2",
]


@pytest.mark.parametrize("text", AGREE)
def test_the_guard_counts_statements_as_the_server_does(db, text):
    try:
        check_select(text)
        ours = "one"
    except ValueError as exc:
        assert "single statement" in str(exc)
        ours = "several"
    with psycopg.connect(
        db
    ) as conn:  # Parse only (nothing is executed), in a READ ONLY transaction
        conn.read_only = True
        conn.execute("SELECT 1")
        res = conn.pgconn.prepare(b"", text.encode())
        message = (res.error_message or b"").decode()
        conn.rollback()
    assert not message or "multiple commands" in message  # nothing else (a syntax error) answers
    assert ours == ("several" if "multiple commands" in message else "one")


def _exists(db: str, relation: str) -> bool:
    with psycopg.connect(db) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [relation]).fetchone()[0]


def _count(db: str, query: str, params=None) -> int:
    with psycopg.connect(db) as conn:
        return conn.execute(query, params).fetchone()[0]


@pytest.mark.parametrize("bypass", [DOLLAR_BYPASS, TYPED_BYPASS], ids=["dollar", "typed_literal"])
def test_the_server_refuses_the_bypasses_and_the_victims_survive(db, setup, bypass):
    query = bypass.format(s=setup["s"], r=setup["r"])
    for url in (
        setup["reader"],
        setup["owner"],
    ):  # the owner could drop its schema r, were it a second statement
        with pytest.raises(LayerError, match="one statement: the server refused several"):
            read_postgis(url, layer_name="pois", query=query)
    assert _exists(db, f'"{setup["s"]}".victim') and _exists(db, f'"{setup["r"]}".runs')


def test_a_commit_cannot_end_the_read_only_transaction(db, setup):
    # one statement: COMMIT alone ends psycopg's READ ONLY transaction, yet the session stays read-only
    with pytest.raises(LayerError, match="returns no rows"):
        read_postgis(setup["owner"], layer_name="pois", query="COMMIT")
    r = setup["r"]
    gone = (
        f'WITH d AS (DELETE FROM "{r}".runs RETURNING 1) SELECT ST_MakePoint(0, 0) AS geom FROM d'
    )
    with pytest.raises(LayerError, match="read-only transaction"):
        read_postgis(setup["owner"], layer_name="pois", query=gone)
    flip = "SELECT set_config('transaction_read_only', 'off', false), ST_MakePoint(0, 0) AS geom"
    with pytest.raises(LayerError, match="read-write mode"):
        read_postgis(setup["owner"], layer_name="pois", query=flip)


def test_a_superuser_function_cannot_write_from_the_read(db, setup):
    s = setup["s"]
    fn = sql.Identifier(s, "drop_victim")
    _execute(
        db,
        sql.SQL(
            "CREATE FUNCTION {}() RETURNS geometry LANGUAGE plpgsql SECURITY DEFINER AS "
            "$f$ BEGIN DROP TABLE {}; RETURN ST_MakePoint(0, 0); END $f$"
        ).format(fn, sql.Identifier(s, "victim")),
        sql.SQL("GRANT EXECUTE ON FUNCTION {}() TO {}").format(
            fn, sql.Identifier(setup["names"][0])
        ),
    )
    with pytest.raises(LayerError, match="cannot execute DROP TABLE in a read-only transaction"):
        read_postgis(
            setup["reader"], layer_name="pois", query=f'SELECT "{s}".drop_victim() AS geom'
        )
    assert _exists(db, f'"{s}".victim')


@pytest.fixture
def large_object(db):
    with psycopg.connect(db, autocommit=True) as conn:
        oid = conn.execute("SELECT lo_from_bytea(0, 'written by lo_export')").fetchone()[0]
    path = (
        f"/tmp/ditan_lo_export_{RUN}_{secrets.token_hex(3)}.txt"  # writable by the server's OS user
    )
    yield oid, path
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SELECT lo_unlink(%s)", [oid])
    try:
        os.remove(path)
    except OSError:  # absent (as it should be), or another machine's or user's file
        pass


def _server_file(db: str, path: str) -> bool:
    """Whether ``path`` exists on the database server (pg_stat_file, as the superuser)."""
    return (
        _count(db, "SELECT count(*) FROM pg_stat_file(%s, true) WHERE size IS NOT NULL", [path])
        == 1
    )


def test_lo_export_writes_no_file(db, setup, large_object):
    oid, path = large_object
    query = f"SELECT lo_export({oid}, '{path}') AS n, ST_SetSRID(ST_MakePoint(0, 0), 4326) AS geom"
    # the SELECT-only role (the shipped sample's): the server refuses the function
    with pytest.raises(LayerError, match="permission denied for function lo_export"):
        read_postgis(setup["reader"], layer_name="pois", query=query)
    # the superuser (the sample's role before): refused as a reader before any query
    with pytest.raises(
        PrivilegedRole, match="'postgres' is \\(or may become\\) a superuser.*allow_privileged_role"
    ):
        read_postgis(db, layer_name="pois", query=query)
    assert not _server_file(db, path)
    # the risk is real: a READ ONLY transaction does not stop it (only with allow_privileged_role: true)
    read_postgis(db, layer_name="pois", query=query, allow_privileged_role=True)
    assert _server_file(db, path)


def test_a_role_that_may_write_server_files_is_refused(db, setup):
    name = f"ditan_secfiles_{RUN}"
    url = login_role(
        db,
        name,
        "files-" + secrets.token_hex(6),
        sql.SQL("GRANT pg_write_server_files TO {}").format(sql.Identifier(name)),
    )
    try:
        with pytest.raises(PrivilegedRole, match="member of pg_write_server_files"):
            read_postgis(url, layer_name="pois", table=f"{setup['s']}.pts")
    finally:
        drop_role(db, name)


def test_a_long_query_stops_at_statement_timeout(setup):
    started = time.monotonic()
    with pytest.raises(
        LayerError,
        match=r"layer 'pois' \(SQL query in .*\): the query ran longer than database\.statement_timeout_s \(1 s\)",
    ):
        read_postgis(
            setup["reader"],
            layer_name="pois",
            query="SELECT pg_sleep(120), ST_MakePoint(0, 0) AS geom",
            statement_timeout_s=1,
        )
    assert time.monotonic() - started < 15


def _hold_lock(db: str, statement: sql.Composable | str):
    """A session (autocommit off) holding the lock of ``statement`` until closed."""
    conn = psycopg.connect(db)
    conn.execute(statement)
    return conn


def test_a_locked_table_stops_the_read_at_lock_timeout_from_the_config(db, setup):
    from ditan.pipelines.assemble.reading import _read
    from ditan.spatial.io.validate import Ledger

    cfg = parse_config(
        {
            "name": "t",
            "crs": CRS,
            "database": {"url": setup["reader"], "lock_timeout_s": 1, "statement_timeout_s": 60},
            "inputs": {"roads": {"table": f"{setup['s']}.roads", "class_column": "highway"}},
        },
        base_dir=ROOT,
    )
    holder = _hold_lock(
        db,
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.Identifier(setup["s"], "roads")
        ),
    )
    started = time.monotonic()
    try:
        with pytest.raises(
            LayerError, match=r"waited longer than database\.lock_timeout_s \(1 s\) for a lock"
        ):
            _read(cfg.inputs.roads, "roads", Ledger())
    finally:
        holder.close()
    assert time.monotonic() - started < 15
    assert len(_read(cfg.inputs.roads, "roads", Ledger())) == 3  # free again


def test_sigterm_cancels_the_query_on_the_server(db, setup):
    marker = f"ditan_sigterm_{RUN}"
    script = textwrap.dedent(
        f"""
        from ditan.spatial.io.postgis import read_postgis
        read_postgis({setup["reader"]!r}, layer_name="pois",
                     query="SELECT pg_sleep(30) AS {marker}, ST_MakePoint(0, 0) AS geom")
        """
    )
    running = (
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while _count(db, running + " AND state = 'active'", [f"%{marker}%"]) == 0:
            assert proc.poll() is None and time.monotonic() < deadline, "the read never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        while _count(db, running + " AND state = 'active'", [f"%{marker}%"]):
            assert time.monotonic() - sent < 5, (
                "the query still runs on the server 5 s after SIGTERM"
            )
            time.sleep(0.1)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # closes the pipes
    assert proc.returncode != 0 and b"Terminated" in err


# --- a real run: passwords out of manifest.json and runs.config; writes stop at lock_timeout -------------------------


@pytest.fixture(scope="module")
def secured_run(db, setup, tmp_path_factory):
    """A run reading as the SELECT-only reader and writing as the owner to a results schema of its own.

    The reader's URL holds password 'S3cr3t?…', the owner's key=value string 'S3\\ cr3t…'; the log is captured.
    """
    from ditan.pipelines.jobs.run import run

    parts = conninfo_to_dict(db)
    owner_kv = (
        f"host={parts.get('host', '127.0.0.1')} port={parts.get('port', 5432)} dbname={parts['dbname']} "
        f"user={setup['names'][1]} password={setup['owner_pw'].replace(' ', chr(92) + ' ')}"
    )
    reader_url = (
        f"postgresql://{setup['names'][0]}:S3cr3t?{setup['reader_tag']}@{parts.get('host', '127.0.0.1')}:"
        f"{parts.get('port', 5432)}/{parts['dbname']}"
    )
    assert (
        conninfo_to_dict(owner_kv)["password"] == setup["owner_pw"]
    )  # libpq reads them as written
    assert conninfo_to_dict(reader_url)["password"] == f"S3cr3t?{setup['reader_tag']}"
    results = f"ditan_secout_{RUN}"
    s = setup["s"]
    tmp = tmp_path_factory.mktemp("secured")
    config = {
        "name": "secured",
        "crs": CRS,
        "database": {"url": reader_url},
        "inputs": {
            "units": {"table": f"{s}.units", "id_column": "unit_id", "name_column": "name"},
            "roads": {
                "sql": f'SELECT highway, name, geom FROM "{s}".roads',
                "class_column": "highway",
            },
        },
        "output": {"database": {"url": owner_kv, "schema": results}},
    }
    (tmp / "secured.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    cfg = load_config(tmp / "secured.yaml")
    capture, root = _Capture(), logging.getLogger()
    old = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        out = run(cfg, tmp / "out")
    finally:
        root.removeHandler(capture)
        root.setLevel(old)
    secrets_ = [
        f"S3cr3t?{setup['reader_tag']}",
        setup["reader_tag"],
        setup["owner_pw"],
        setup["owner_pw"][7:],
        "cr3t",
    ]
    return {
        "out": out,
        "cfg": cfg,
        "log": "\n".join(capture.lines),
        "schema": results,
        "secrets": secrets_,
    }


def test_no_password_in_manifest_runs_config_or_log(db, secured_run):
    out, results = secured_run["out"], secured_run["schema"]
    manifest = (out.out_dir / "manifest.json").read_text(encoding="utf-8")
    run_id = json.loads(manifest)["database_output"]["run_id"]
    with psycopg.connect(db) as conn:
        config, stored_manifest = conn.execute(
            sql.SQL("SELECT config::text, manifest::text FROM {} WHERE run_id = %s").format(
                sql.Identifier(results, "runs")
            ),
            [run_id],
        ).fetchone()
    texts = {
        "manifest.json": manifest,
        "runs.config": config,
        "runs.manifest": stored_manifest,
        "log": secured_run["log"],
    }
    for name, text in texts.items():
        leaked = [s for s in secured_run["secrets"] if s in text]
        assert not leaked, f"password in {name}: {leaked}"
    # the connections are still named, the passwords as ***
    cfg = json.loads(config)
    assert cfg["database"]["url"].endswith(f"{secured_run['cfg'].database.url.split('@')[1]}")
    assert ":***@" in cfg["database"]["url"] and "password=***" in cfg["output"]["database"]["url"]
    assert json.loads(manifest)["config"]["database"]["url"] == cfg["database"]["url"]


def test_a_locked_results_table_stops_the_write_at_lock_timeout(db, setup, secured_run):
    from ditan.pipelines.outputs import postgis as db_write

    out, results = secured_run["out"], secured_run["schema"]
    tgt = db_write.target(secured_run["cfg"])
    tgt = db_write.Target(tgt.conninfo, results, lock_timeout_s=1)
    holder = _hold_lock(
        db,
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(results, "runs")),
    )
    started = time.monotonic()
    try:
        with pytest.raises(
            DatabaseError,
            match=r"nothing of the run was written: waited longer than output\.database\.lock_timeout_s \(1 s\)",
        ):
            db_write.write_run(
                tgt, "locked_run", secured_run["cfg"], out.result,
                crs=out.study.crs, quality=out.quality, manifest=out.manifest,
            )  # fmt: skip
    finally:
        holder.close()
    assert time.monotonic() - started < 15
    n = _count(
        db,
        sql.SQL("SELECT count(*) FROM {} WHERE run_id = 'locked_run'").format(
            sql.Identifier(results, "runs")
        ),
    )
    assert n == 0


def test_the_cli_refuses_a_bypass_and_the_victim_survives(db, setup, tmp_path, capsys):
    from ditan.pipelines.cli import main

    config = {
        "name": "bypass",
        "crs": CRS,
        "database": {"url": setup["owner"]},
        "inputs": {
            "units": {"table": f"{setup['s']}.units", "id_column": "unit_id"},
            "roads": {
                "sql": DOLLAR_BYPASS.format(s=setup["s"], r=setup["r"]),
                "class_column": "highway",
            },
        },
    }
    path = tmp_path / "bypass.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    for command in ("check-config", "run"):
        assert main([command, str(path)]) == 2
        assert "inputs.roads.sql: sql must be a single statement" in capsys.readouterr().err
    assert _exists(db, f'"{setup["s"]}".victim') and _exists(db, f'"{setup["r"]}".runs')
    assert not Path("out/bypass").exists()
