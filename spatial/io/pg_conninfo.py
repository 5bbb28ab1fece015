"""Naming a PostgreSQL database without its password: libpq connection strings read by libpq's own parser.

A database is named by a libpq connection string — a ``postgresql://user@host:5432/db`` URL or
``key=value`` pairs — or, when there is none, by libpq's environment (PGHOST, PGPORT, PGUSER,
PGPASSWORD, PGDATABASE, PGSERVICE …) and ``~/.pgpass``. Every description of a database
(:func:`describe_database`, :func:`redact`) and every error message (:func:`scrub`) leaves the password out;
the password is found as libpq finds it (psycopg.conninfo.conninfo_to_dict), never by a pattern of ours.
"""

from __future__ import annotations

import os

from ditan.spatial.errors import require

__all__ = [
    "PG_ENV",
    "UNREADABLE",
    "conninfo_parts",
    "has_password",
    "describe_database",
    "redact",
    "scrub",
]

#: libpq's environment variables for the parts of a connection (used when the connection string leaves them out)
PG_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "dbname": "PGDATABASE",
    "service": "PGSERVICE",
}


def conninfo_parts(conninfo: str | None) -> dict[str, str]:
    """The parts of a libpq connection string (URL or key=value), with libpq's PG* environment filling the gaps.

    Raises ValueError (without echoing the string, which may hold a password) when it cannot be
    parsed; DependencyError (a ValueError too) with the install hint when psycopg is missing.
    """
    require("psycopg")
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = {k: str(v) for k, v in conninfo_to_dict(conninfo or "").items() if v is not None}
    except Exception as exc:  # psycopg.ProgrammingError: the message may quote the string
        what = (
            str(exc).split(":")[0] if "password" not in str(exc) else "unreadable connection string"
        )
        raise ValueError(
            f"not a PostgreSQL connection URL ({what}); write postgresql://user@host:5432/dbname"
        ) from None
    for key, env in PG_ENV.items():
        if key not in parts and os.environ.get(env):
            parts[key] = os.environ[env]
    return parts


def has_password(conninfo: str | None) -> bool:
    """Whether the connection string itself holds a password (rather than PGPASSWORD or ~/.pgpass).

    Read by libpq's own parser (psycopg.conninfo.conninfo_to_dict); a string it cannot read counts as holding one.
    """
    if not conninfo:
        return False
    parts = _parse(conninfo)
    return True if parts is None else bool(parts.get("password"))


def describe_database(conninfo: str | None) -> str:
    """``postgresql://user@host:port/dbname`` (never the password), libpq's defaults shown as libpq would use them."""
    try:
        p = conninfo_parts(conninfo)
    except ValueError:
        return "(unreadable connection string)"
    if "service" in p and "host" not in p:
        return f"service {p['service']}" + (f" (database {p['dbname']})" if "dbname" in p else "")
    user = p.get("user") or _os_user()
    host = p.get("host") or "(local socket)"  # libpq's default: the Unix-domain socket
    host = (
        f"(socket {host})"
        if host.startswith("/")
        else f"[{host}]"
        if ":" in host and not host.startswith("[")
        else host
    )
    port = p.get("port") or "5432"
    return (
        f"postgresql://{user + '@' if user else ''}{host}:{port}/{p.get('dbname') or user or '?'}"
    )


def _os_user() -> str:
    """The operating-system user: libpq's default user name."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment or the password database
        return ""


#: what :func:`redact` shows for a connection string libpq cannot read (it may hold a password anywhere)
UNREADABLE = "<connection string not shown: unreadable>"
_URI_PREFIXES = ("postgresql://", "postgres://")  # libpq's, compared as written (case-sensitive)


def _parse(conninfo: str) -> dict[str, str] | None:
    """The libpq reading of a connection string (URL or key=value), None when it cannot read it."""
    require("psycopg")
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {k: str(v) for k, v in conninfo_to_dict(conninfo).items() if v is not None}
    except Exception:  # psycopg.ProgrammingError: unreadable
        return None


def _password_spans(conninfo: str) -> list[tuple[int, int]]:
    """Where the string writes a password, as (start, end) character spans, following libpq's grammar.

    URL (libpq's conninfo_uri_parse_options): the user information runs from ``://`` to the first ``@``
    before any ``/`` (so ``?`` and ``:`` may be in the password), the password after its first ``:``; the
    query starts at the next ``?`` and ``password`` may be any ``&``-separated key that URL-decodes to it.
    key=value (conninfo_parse): ``password = value``, the value unquoted up to white space (``\\`` escapes
    the next character) or in single quotes (``\\'`` inside).
    """
    from urllib.parse import unquote

    spans: list[tuple[int, int]] = []
    n = len(conninfo)
    if conninfo.startswith(_URI_PREFIXES):
        start = conninfo.index("://") + 3
        j = start
        while j < n and conninfo[j] not in "@/":
            j += 1
        rest = start
        if j < n and conninfo[j] == "@":
            colon = conninfo.find(":", start, j)
            if colon >= 0:
                spans.append((colon + 1, j))
            rest = j + 1
        q = conninfo.find("?", rest)
        if q >= 0:
            pos = q + 1
            for part in conninfo[q + 1 :].split("&"):
                key, eq, _ = part.partition("=")
                if eq and unquote(key) == "password":
                    spans.append((pos + len(key) + 1, pos + len(part)))
                pos += len(part) + 1
        return spans
    i = 0
    while i < n:
        while i < n and conninfo[i].isspace():
            i += 1
        k = i
        while i < n and conninfo[i] != "=" and not conninfo[i].isspace():
            i += 1
        key = conninfo[k:i]
        while i < n and conninfo[i].isspace():
            i += 1
        if i >= n or conninfo[i] != "=":
            break  # libpq refuses this; nothing more to find
        i += 1
        while i < n and conninfo[i].isspace():
            i += 1
        v = i
        if i < n and conninfo[i] == "'":
            i += 1
            while i < n and conninfo[i] != "'":
                i += 2 if conninfo[i] == "\\" else 1
            i += 1
        else:
            while i < n and not conninfo[i].isspace():
                i += 2 if conninfo[i] == "\\" else 1
        i = min(i, n)
        if key == "password":
            spans.append((v, i))
    return spans


def redact(conninfo: str | None) -> str | None:
    """The connection string as written, its password replaced by ``***`` (for config dumps, manifests, messages).

    The password is found by libpq's own parser, in the URL (``postgresql://user:pw@host/db``,
    ``?password=pw``) or key=value form (``password=pw``, ``password='p w'``, ``password=p\\ w``), and the
    string keeps its form; when the edited string would not read back as the same connection with password
    ``***``, libpq's key=value form of it is shown instead; a string libpq cannot read is not shown at all
    (:data:`UNREADABLE`).
    """
    if not conninfo:
        return conninfo
    parts = _parse(conninfo)
    if parts is None:
        return UNREADABLE
    if not parts.get("password"):
        return conninfo
    out = conninfo
    for a, b in sorted(_password_spans(conninfo), reverse=True):
        out = out[:a] + "***" + out[b:]
    back = _parse(out)
    others = {k: v for k, v in parts.items() if k != "password"}
    if back is not None and back.pop("password", None) == "***" and back == others:
        return out
    from psycopg.conninfo import make_conninfo

    return make_conninfo("", **others, password="***")


def scrub(text: str, conninfo: str | None) -> str:
    """``text`` with the connection string's password replaced by ``***``: as libpq reads it, as written, URL-decoded."""
    from urllib.parse import unquote

    if not conninfo:
        return text
    parts = _parse(conninfo)
    secrets = {parts["password"]} if parts and parts.get("password") else set()
    for a, b in _password_spans(conninfo):
        raw = conninfo[a:b]
        secrets |= {raw, unquote(raw), raw.strip("'")}
    if parts is None:  # unreadable: the whole string may hold it
        secrets.add(conninfo)
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, "***")
    return text
