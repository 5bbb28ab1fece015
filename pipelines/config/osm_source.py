"""The OpenStreetMap input of a run config (inputs.osm: a file, a place name or a bbox) and the check of study bounds in degrees."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ditan.pipelines.config.model import _existing, _Model, _resolve
from ditan.spatial.io import osm_fetch
from ditan.spatial.io.osm_fetch import DEFAULT_MAX_AREA_KM2, area_km2
from ditan.spatial.io.osm_http import EXTRACTS

if TYPE_CHECKING:
    from ditan.spatial.io.osm_fetch import FetchedOsm

#: the keys that only a fetch (place or bbox) reads
FETCH_KEYS = ("cache_folder", "refresh", "overpass_url", "max_area_km2")


class OsmSource(_Model):
    """OpenStreetMap from which roads, buildings, land use, POIs and stations are derived: a file, or fetched.

    Exactly one of ``path`` (a file), ``place`` (a name Nominatim knows, fetched from Overpass) and ``bbox``
    ([W, S, E, N], fetched from Overpass); a fetch is cached (ditan.spatial.io.osm_fetch) and read offline after.
    """

    path: Path | None = Field(None, description="A .osm, .osm.bz2 or .osm.pbf file")
    place: str | None = Field(
        None,
        description="A place name geocoded by Nominatim to its outline (e.g. 北京市海淀区清华园街道); its OSM data is "
        "fetched from Overpass once and cached; the outline is the study extent",
    )
    bbox: tuple[float, float, float, float] | None = Field(
        None,
        description="[west, south, east, north] in WGS 84 degrees whose OSM data is fetched from Overpass once and cached",
    )
    cache_folder: Path | None = Field(
        None,
        description="Folder of fetched OSM (place, bbox); default: $DITAN_CACHE/osm, else ~/.cache/ditan/osm",
    )
    refresh: bool = Field(
        False,
        description="Fetch place/bbox again even when cached (ditan run --refresh-osm does it once)",
    )
    overpass_url: str | None = Field(
        None, description="Overpass API endpoint; default: osmnx's (https://overpass-api.de/api)"
    )
    max_area_km2: float = Field(
        DEFAULT_MAX_AREA_KM2,
        gt=0,
        description="Largest area fetched from Overpass; larger areas: download a .pbf extract",
    )
    crs: str = Field("EPSG:4326", description="OSM data is WGS 84")
    bounds: tuple[float, float, float, float] | None = Field(
        None,
        description="Study bounds [west, south, east, north] in degrees; default: the file header's bounds, the "
        "bbox, or the place's outline",
    )

    @field_validator("path", mode="before")
    @classmethod
    def _check_path(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _existing(v, info)

    @field_validator("cache_folder", mode="before")
    @classmethod
    def _folder(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _resolve(v, info)

    @field_validator("place")
    @classmethod
    def _place(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError(
                "an empty place name: write the name of an area, e.g. 北京市海淀区清华园街道"
            )
        return v if v is None else v.strip()

    @model_validator(mode="after")
    def _one_source(self) -> OsmSource:
        """Exactly one of path, place, bbox; the fetch keys only with a fetch; a bbox no larger than max_area_km2."""
        given = [k for k in ("path", "place", "bbox") if getattr(self, k) is not None]
        if not given:
            raise ValueError(
                "name the OSM data: path (an OSM file), place (a place name, fetched) or bbox ([W, S, E, N], fetched)"
            )
        if len(given) > 1:
            raise ValueError(f"give only one of path, place and bbox, not {' and '.join(given)}")
        if self.path is not None:
            extra = [k for k in FETCH_KEYS if k in self.model_fields_set]
            if extra:
                raise ValueError(
                    f"{', '.join(extra)} apply to a fetch (place or bbox), not to an OSM file (path): leave them out"
                )
        if self.bbox is not None and (size := area_km2(self.bbox)) > self.max_area_km2:
            raise ValueError(
                f"bbox covers {size:,.0f} km², more than max_area_km2 = {self.max_area_km2:g} km², too large for "
                f"Overpass: {EXTRACTS}, or raise max_area_km2"
            )
        return self

    @property
    def label(self) -> str:
        """What the OSM data is, for messages: the file's name, or the place or bbox fetched."""
        if self.path is not None:
            return f"the OSM file {self.path.name}"
        if self.place is not None:
            return f"the OSM fetched for '{self.place}'"
        return "the OSM fetched for bbox [" + ", ".join(f"{x:.10g}" for x in self.bbox or ()) + "]"

    def fetch(self) -> FetchedOsm | None:
        """The cached fetch of place or bbox (fetched now when not cached, or with refresh); None for a file."""
        if self.path is not None:
            return None
        return osm_fetch.fetch_osm(
            self.place,
            self.bbox,
            folder=self.cache_folder,
            refresh=self.refresh,
            overpass_url=self.overpass_url,
            max_area_km2=self.max_area_km2,
        )

    def file(self) -> Path:
        """The OSM file to read: ``path``, else the cached fetch of place or bbox (fetched now when not cached)."""
        if self.path is not None:
            return self.path
        fetched = self.fetch()
        assert fetched is not None
        return fetched.path

    def cached(self) -> FetchedOsm | None:
        """The cached fetch of place or bbox, None when not fetched yet or for a file (never touches the network)."""
        if self.path is not None:
            return None
        return osm_fetch.cached(self.place, self.bbox, self.cache_folder)

    @field_validator("path")
    @classmethod
    def _suffix(cls, p: Path | None) -> Path | None:
        if p is None:
            return p
        name = p.name.lower()
        if not name.endswith((".osm", ".osm.bz2", ".osm.pbf", ".pbf", ".osm.gz")):
            raise ValueError(f"'{p.name}' is not an OSM file; use .osm, .osm.bz2 or .osm.pbf")
        return p

    @field_validator("bounds", "bbox")
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
