"""The PostgreSQL/PostGIS databases of a run config: the input database (database:) and the output one (output:)."""

from __future__ import annotations

import logging

from pydantic import ConfigDict, Field, field_serializer, field_validator

from ditan.pipelines.config.model import _Model
from ditan.spatial.io.postgis import conninfo_parts, has_password, redact

log = logging.getLogger(__name__)


class DatabaseSource(_Model):
    """A PostgreSQL/PostGIS database: a URL, or libpq's PG* environment variables (and ~/.pgpass) when it has none."""

    url: str | None = Field(
        None,
        repr=False,
        description="postgresql://user@host:5432/dbname (key=value libpq strings work too); default: PGHOST, PGPORT, PGUSER, "
        "PGDATABASE, PGSERVICE … Keep the password out of it: PGPASSWORD or ~/.pgpass (a password here is never written out)",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        if "://" in v and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"'{v.split('://')[0]}://' is not a PostgreSQL URL; write postgresql://user@host:5432/dbname"
            )
        conninfo_parts(v)  # raises ValueError without echoing the string
        if has_password(v):
            log.warning(
                "the config's database url holds a password: ditan never writes it out, but prefer PGPASSWORD or ~/.pgpass "
                "(chmod 600) so that the config file can be shared"
            )
        return v

    @field_serializer("url")
    def _no_password(self, v: str | None) -> str | None:
        return redact(v)


class OutputDatabase(DatabaseSource):
    """Where `ditan run` writes its results (tables runs, units, compliance, service_areas, data_quality)."""

    url: str | None = Field(
        None,
        repr=False,
        description="postgresql://user@host:5432/dbname; default: the input database (database:)",
    )
    db_schema: str = Field(
        "ditan_results",
        alias="schema",
        pattern=r"^[^\x00]{1,63}$",
        description="Schema of the result tables, created when missing",
    )
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class OutputOptions(_Model):
    database: OutputDatabase | None = Field(
        None, description="Also write the results to this PostGIS database, one run_id per run"
    )
