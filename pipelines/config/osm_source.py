"""The OpenStreetMap input of a run config (inputs.osm) and the check of study bounds in degrees."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from ditan.pipelines.config.model import _existing, _Model


class OsmSource(_Model):
    """One OpenStreetMap file from which roads, buildings, land use, POIs and stations are derived."""

    path: Path = Field(description="A .osm, .osm.bz2 or .osm.pbf file")
    crs: str = Field("EPSG:4326", description="OSM data is WGS 84")
    bounds: tuple[float, float, float, float] | None = Field(
        None,
        description="Study bounds [west, south, east, north] in degrees; default: the file header's bounds",
    )

    _check_path = field_validator("path", mode="before")(_existing)

    @field_validator("path")
    @classmethod
    def _suffix(cls, p: Path) -> Path:
        name = p.name.lower()
        if not name.endswith((".osm", ".osm.bz2", ".osm.pbf", ".pbf", ".osm.gz")):
            raise ValueError(f"'{p.name}' is not an OSM file; use .osm, .osm.bz2 or .osm.pbf")
        return p

    @field_validator("bounds")
    @classmethod
    def _bounds(
        cls, b: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        """[west, south, east, north] in WGS 84 degrees: finite, in range, west < east, south < north; a swapped order is named."""
        if b is None:
            return b
        w, s, e, n = b
        text = ", ".join(f"{x:.10g}" for x in b)
        if not all(abs(x) < float("inf") for x in b):
            raise ValueError(
                f"[{text}]: write four finite numbers [west, south, east, north] in degrees (.nan and .inf are not coordinates)"
            )

        def valid(w: float, s: float, e: float, n: float) -> bool:
            return -180 <= w < e <= 180 and -90 <= s < n <= 90

        swapped = f"[{s:.10g}, {w:.10g}, {n:.10g}, {e:.10g}]"
        if valid(w, s, e, n):
            # no town lies beyond 84° (UTM's limit): such a box read the other way round is the study area
            if max(abs(s), abs(n)) > 84 and valid(s, w, n, e):
                raise ValueError(
                    f"[{text}] put the study area beyond latitude 84°, where no town lies; they look like "
                    f"[south, west, north, east]: write {swapped} ([west, south, east, north] in degrees)"
                )
            return b
        if valid(s, w, n, e):
            sure = " (a latitude cannot exceed 90°)" if max(abs(s), abs(n)) > 90 else ""
            raise ValueError(
                f"[{text}] look like [south, west, north, east]{sure}: write {swapped} "
                "([west, south, east, north] in degrees)"
            )
        if any(abs(x) > 360 for x in b):
            raise ValueError(
                f"[{text}] are not degrees (metres of a projected CRS?): write [west, south, east, north] in "
                "WGS 84 degrees, e.g. [116.3084, 39.9905, 116.332, 40.0123]"
            )
        if not (-180 <= min(w, e) and max(w, e) <= 180 and -90 <= min(s, n) and max(s, n) <= 90):
            raise ValueError(
                f"[{text}] out of range: longitudes (west, east) lie in −180…180 and latitudes (south, north) "
                "in −90…90 degrees"
            )
        which = " and ".join(
            x
            for x, bad in (
                (f"west {w:.10g} ≥ east {e:.10g}", w >= e),
                (f"south {s:.10g} ≥ north {n:.10g}", s >= n),
            )
            if bad
        )
        raise ValueError(
            f"[{text}]: bounds must be [west, south, east, north] with west < east and south < north (here {which})"
            + (
                f"; did you mean [{min(w, e):.10g}, {min(s, n):.10g}, {max(w, e):.10g}, {max(s, n):.10g}]?"
                if w != e and s != n
                else ""
            )
        )
