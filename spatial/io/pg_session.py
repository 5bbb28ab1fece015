"""A ditan session on PostgreSQL: the connection, its limits (read-only, timeouts), the role check, cancelling on SIGTERM.

A read cannot write, whatever the layer's SQL holds: the session's transactions are READ ONLY from the
start (``-c default_transaction_read_only=on`` in the connection's options, so that a COMMIT cannot end
it), ditan's reader sends the SQL as one prepared statement (the server refuses a second), a role that
could write on the server from a SELECT is refused (:func:`check_role`), every statement stops after
``statement_timeout`` and every lock wait after ``lock_timeout``; SIGTERM, like Ctrl-C, cancels the
running statement on the server (:func:`cancel_on_sigterm`). Writes get ``lock_timeout`` too.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from typing import Any

from ditan.spatial.errors import LayerError, Terminated, require, terminate_as_interrupt
from ditan.spatial.io.pg_conninfo import _parse, describe_database, scrub

__all__ = [
    "CONNECT_TIMEOUT_S",
    "STATEMENT_TIMEOUT_S",
    "LOCK_TIMEOUT_S",
    "DatabaseError",
    "PrivilegedRole",
    "Terminated",
    "session_settings",
    "connect",
    "cancel_on_sigterm",
    "refusal",
    "check_role",
]

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 15
#: defaults of database.statement_timeout_s and database.lock_timeout_s (output.database.lock_timeout_s)
STATEMENT_TIMEOUT_S = 600.0
LOCK_TIMEOUT_S = 30.0
CONNECT_HINT = (
    "check database.url (or PGHOST, PGPORT, PGUSER, PGDATABASE), that the server runs and accepts this user from "
    "this machine (pg_hba.conf), and the password (PGPASSWORD or ~/.pgpass)"
)


class DatabaseError(LayerError):
    """The database cannot be reached, lacks PostGIS, or refused a statement (a LayerError: layers are read from it)."""


class PrivilegedRole(DatabaseError):
    """The read would run as a role that can write on the server from a SELECT (a superuser, pg_write_server_files …)."""


def session_settings(
    *,
    read_only: bool,
    statement_timeout_s: float | None = None,
    lock_timeout_s: float | None = None,
) -> dict[str, str]:
    """The server settings of a ditan connection, sent when it opens (libpq ``options``: a COMMIT cannot undo them).

    A read: ``default_transaction_read_only`` on (every transaction of the session is READ ONLY) and
    ``standard_conforming_strings`` on (a backslash in '…' is a plain character, as the config's sql guard reads
    it); both: ``statement_timeout`` and ``lock_timeout`` in milliseconds when given.
    """
    out = (
        {"default_transaction_read_only": "on", "standard_conforming_strings": "on"}
        if read_only
        else {}
    )
    for key, value in (
        ("statement_timeout", statement_timeout_s),
        ("lock_timeout", lock_timeout_s),
    ):
        if value is not None:
            out[key] = f"{max(1, round(value * 1000))}ms"
    return out


def _options(conninfo: str | None, settings: Mapping[str, str]) -> str:
    """The libpq ``options``: the string's own (or PGOPTIONS) followed by ``-c key=value`` of ``settings`` (later wins)."""
    own = (_parse(conninfo or "") or {}).get("options") or os.environ.get("PGOPTIONS") or ""
    return " ".join([own, *(f"-c {k}={v}" for k, v in settings.items())]).strip()


def connect(
    conninfo: str | None,
    *,
    what: str,
    read_only: bool = False,
    settings: Mapping[str, str] | None = None,
):
    """A psycopg connection; ``what`` names the purpose in the error raised when it fails (no password in it).

    ``settings``: server settings for the whole session (:func:`session_settings`), sent as libpq options.
    """
    require("psycopg")  # DependencyError with the install hint when it is missing
    import psycopg

    extra: dict[str, Any] = {"options": _options(conninfo, settings)} if settings else {}
    try:
        conn = psycopg.connect(
            conninfo or "", connect_timeout=CONNECT_TIMEOUT_S, application_name="ditan", **extra
        )
    except psycopg.Error as exc:
        reason = scrub(str(exc).strip().replace("\n", " "), conninfo)
        raise DatabaseError(
            f"{what}: cannot connect to the database {describe_database(conninfo)} ({reason}); {CONNECT_HINT}"
        ) from None
    conn.read_only = read_only
    return conn


def cancel_on_sigterm() -> contextlib.AbstractContextManager[None]:
    """While inside, SIGTERM raises :class:`~ditan.spatial.errors.Terminated` (a KeyboardInterrupt), as SIGINT does.

    psycopg answers both (Ctrl-C and SIGTERM) by cancelling the running statement on the server (a cancel
    request, as ``conn.cancel_safe()``) before it re-raises, so that a stopped ditan leaves no query or lock behind.
    """
    return terminate_as_interrupt()


def refusal(
    exc: Exception, *, statement_timeout_s: float | None, lock_timeout_s: float | None, key: str
) -> str | None:
    """One line for a statement the server stopped for ditan's limits (``key``: the config's database section), else None."""
    import psycopg.errors as pe

    msg = str(exc)
    if isinstance(exc, pe.QueryCanceled) and "statement timeout" in msg and statement_timeout_s:
        return (
            f"the query ran longer than {key}.statement_timeout_s ({statement_timeout_s:g} s) and was cancelled; "
            f"make it faster (an index, a narrower WHERE) or raise {key}.statement_timeout_s"
        )
    if isinstance(exc, pe.LockNotAvailable) and lock_timeout_s:
        return (
            f"waited longer than {key}.lock_timeout_s ({lock_timeout_s:g} s) for a lock another session holds on a "
            f"table (pg_locks, pg_stat_activity name it); try again when it is released, or raise {key}.lock_timeout_s"
        )
    if isinstance(exc, pe.SyntaxError) and "multiple commands" in msg:
        return "sql must be one statement: the server refused several (one SELECT per layer, no ';' between statements)"
    return None


_ROLE_SQL = """
SELECT current_user,
       coalesce(bool_or(r.rolsuper), false),
       coalesce(bool_or(r.rolname IN ('pg_write_server_files', 'pg_execute_server_program')), false),
       coalesce(bool_or(has_function_privilege(r.oid, 'pg_catalog.lo_export(oid, text)', 'EXECUTE')), false)
FROM pg_roles r
WHERE pg_has_role(current_user, r.oid, 'MEMBER')
"""


def check_role(conn, where: str, allow: bool) -> None:
    """Refuse a role that can write on the server from a SELECT (itself or through a role it may SET ROLE to).

    A READ ONLY transaction does not stop lo_export (a file written on the server) nor what a superuser
    can do through untrusted functions; a role that may only SELECT cannot do either.
    """
    user, superuser, files, lo_export = conn.execute(_ROLE_SQL).fetchone()
    why = [
        text
        for flag, text in (
            (superuser, "is (or may become) a superuser"),
            (
                files and not superuser,
                "is a member of pg_write_server_files or pg_execute_server_program",
            ),
            (lo_export and not superuser, "may run lo_export (writes files on the server)"),
        )
        if flag
    ]
    if not why:
        return
    what = f"the database role '{user}' {' and '.join(why)}"
    if allow:
        log.warning("%s: %s; reading anyway (database.allow_privileged_role: true)", where, what)
        return
    raise PrivilegedRole(
        f"{where}: {what}: a SELECT could write files on the server (SELECT lo_export(…)); connect as a role "
        "that may only read (CREATE ROLE ditan_reader LOGIN; GRANT USAGE ON SCHEMA …; GRANT SELECT ON ALL TABLES "
        "IN SCHEMA … — README: a SELECT-only role), or set database.allow_privileged_role: true to accept the risk"
    )
