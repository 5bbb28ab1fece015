"""OpenStreetMap fetched by place name or bounding box (Nominatim and Overpass, through osmnx), cached as a file.

``inputs.osm: {place: "北京市海淀区清华园街道"}`` or ``{bbox: [W, S, E, N]}``: the place is geocoded with
``osmnx.geocode_to_gdf`` (Nominatim) to its outline; the bounding box of the outline (or the bbox as given) is asked
of Overpass once, with osmnx's own query (``_create_overpass_features_query``: every node, way and relation carrying
one of the tag keys ditan reads, :data:`TAGS`, with ``(._;>;)`` for the ways' nodes and the relations' members),
settings (``overpass_url``, ``requests_timeout``, ``overpass_settings``, HTTP headers) and rate limiting (the
``/status`` slot check). The answer is written as a standard .osm.pbf file in a cache folder, named by a hash of
the request, with a JSON sidecar (the request, the endpoint, the fetch date in UTC, the OSM data's own timestamp,
element counts, the place's outline); :func:`ditan.spatial.io.osm.read_osm` then reads that file like any other, so
nothing downstream changes. A second run with the same place or bbox reads the cache and makes no network call;
``refresh`` fetches again. Every failure a user can cause (no network, Overpass busy or timed out, a place Nominatim
does not know or knows only as a point, an area too large for Overpass) is one :class:`LayerError` line.

The requests (osmnx's helpers and settings, the POST made as osmnx makes it) are in
:mod:`ditan.spatial.io.osm_http`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely

from ditan.spatial.errors import LayerError, require
from ditan.spatial.io.osm_http import EXTRACTS, TAGS, geocode, osmnx_settings, overpass

__all__ = [
    "DEFAULT_MAX_AREA_KM2",
    "FetchedOsm",
    "area_km2",
    "cache_folder",
    "cached",
    "fetch_osm",
]

log = logging.getLogger(__name__)

#: the largest area fetched from Overpass unless inputs.osm.max_area_km2 says otherwise (a district: 海淀区 431 km²)
DEFAULT_MAX_AREA_KM2 = 300.0
#: bumped when the cache's files change meaning: older entries are then fetched again
CACHE_FORMAT = 1


@dataclass(frozen=True)
class FetchedOsm:
    """The cached file of one place or bbox: ``path`` (.osm.pbf), ``record`` (its sidecar), ``from_cache``."""

    path: Path
    record: dict
    from_cache: bool

    @property
    def outline(self) -> shapely.Geometry:
        """The study extent in WGS 84: the place's outline from Nominatim, else the bbox."""
        place = self.record.get("place")
        if place and place.get("outline_geojson"):
            return shapely.from_geojson(json.dumps(place["outline_geojson"]))
        return shapely.box(*self.record["bbox_fetched"])


def cache_folder(folder: str | os.PathLike | None = None) -> Path:
    """Where fetched OSM is kept: ``folder``, else $DITAN_CACHE/osm, else $XDG_CACHE_HOME/ditan/osm (~/.cache/ditan/osm)."""
    if folder is not None:
        return Path(folder).expanduser()
    if os.environ.get("DITAN_CACHE"):
        return Path(os.environ["DITAN_CACHE"]).expanduser() / "osm"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ditan" / "osm"


def _request(place: str | None, bbox: tuple[float, ...] | None) -> dict:
    if (place is None) == (bbox is None):
        raise ValueError("give exactly one of place or bbox")
    if place is not None:
        return {"place": place.strip(), "tags": list(TAGS), "format": CACHE_FORMAT}
    assert bbox is not None
    return {"bbox": [round(float(x), 7) for x in bbox], "tags": list(TAGS), "format": CACHE_FORMAT}


def _paths(request: dict, folder: str | os.PathLike | None) -> tuple[Path, Path, str]:
    key = hashlib.sha1(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    stem = f"{'place' if 'place' in request else 'bbox'}-{key[:16]}"
    root = cache_folder(folder)
    return root / f"{stem}.osm.pbf", root / f"{stem}.json", key


def cached(
    place: str | None = None,
    bbox: tuple[float, ...] | None = None,
    folder: str | os.PathLike | None = None,
) -> FetchedOsm | None:
    """The cached fetch of ``place`` or ``bbox``, None when there is none (never touches the network)."""
    pbf, side, key = _paths(_request(place, bbox), folder)
    if not (
        pbf.is_file() and side.is_file()
    ):  # the sidecar is written last: with it, the file is whole
        return None
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return FetchedOsm(pbf, record, True) if record.get("key") == key else None


def area_km2(bbox: tuple[float, ...]) -> float:
    """The area of [west, south, east, north] on the WGS 84 ellipsoid, km²."""
    from pyproj import Geod

    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(shapely.box(*bbox))
    return abs(area) / 1e6


def fetch_osm(
    place: str | None = None,
    bbox: tuple[float, ...] | None = None,
    *,
    folder: str | os.PathLike | None = None,
    refresh: bool = False,
    overpass_url: str | None = None,
    max_area_km2: float = DEFAULT_MAX_AREA_KM2,
) -> FetchedOsm:
    """The OSM data of ``place`` or ``bbox`` as a cached .osm.pbf: from the cache, else fetched once (see the module)."""
    request = _request(place, bbox)
    what = f"place '{request['place']}'" if place is not None else f"bbox {_fmt(request['bbox'])}"
    if not refresh and (hit := cached(place, bbox, folder)) is not None:
        r = hit.record
        log.info(
            "OSM for %s from the cache %s (fetched %s, OSM data as of %s; no network)",
            what,
            hit.path,
            r.get("fetched_utc"),
            r.get("osm_base_utc"),
        )
        return hit
    pbf, side, key = _paths(request, folder)
    osmnx = require("osmnx")
    record: dict[str, Any] = {"key": key, "request": request, "osmnx": osmnx.__version__}
    with osmnx_settings(osmnx.settings, overpass_url):
        if place is not None:
            outline = geocode(request["place"], osmnx, record)
            box = tuple(float(x) for x in outline.bounds)
        else:
            box = tuple(request["bbox"])
        size = area_km2(box)
        if size > max_area_km2:
            raise LayerError(
                f"inputs.osm: {what} covers {size:,.1f} km² (box {_fmt(box)}), more than inputs.osm.max_area_km2 "
                f"= {max_area_km2:g} km²: Overpass is not meant for areas this large; {EXTRACTS}, or raise max_area_km2"
            )
        response = overpass(box, osmnx, what, size)
        record |= {
            "bbox_fetched": [round(x, 7) for x in box],
            "area_km2": round(size, 3),
            "overpass_url": osmnx.settings.overpass_url,
        }
    record |= {
        "fetched_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "osm_base_utc": (response.get("osm3s") or {}).get("timestamp_osm_base"),
        "overpass_generator": response.get("generator"),
        "queries": response.pop("queries"),
    }
    record["counts"] = _write_pbf(response["elements"], pbf, box, record)
    record |= {"file": pbf.name, "sha256": _sha256(pbf), "bytes": pbf.stat().st_size}
    _write_atomic(side, json.dumps(record, ensure_ascii=False, indent=1).encode())
    c = record["counts"]
    if not any(c.values()):
        log.warning(
            "Overpass has no OSM data for %s (no roads, buildings, land use or POIs there)", what
        )
    log.info(
        "fetched %d nodes, %d ways, %d relations (%.2f MB, OSM data as of %s) → %s",
        c["nodes"],
        c["ways"],
        c["relations"],
        record["bytes"] / 1e6,
        record["osm_base_utc"],
        pbf,
    )
    return FetchedOsm(pbf, record, False)


def _write_pbf(
    elements: list[dict], path: Path, box: tuple[float, ...], record: dict
) -> dict[str, int]:
    """Overpass JSON elements as an .osm.pbf (nodes, ways, relations, each by id) whose header box is ``box``."""
    import osmium
    from osmium.osm import mutable

    kinds: dict[str, list[dict]] = {"node": [], "way": [], "relation": []}
    for el in elements:
        kinds.get(el["type"], []).append(el)
    header = osmium.io.Header()
    w, s, e, n = box
    header.add_box(osmium.osm.Box(osmium.osm.Location(w, s), osmium.osm.Location(e, n)))
    header.set("generator", f"ditan via Overpass API ({record.get('overpass_url')})")
    if base := record.get("osm_base_utc"):
        header.set("osmosis_replication_timestamp", base)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fetch-", suffix=".osm.pbf")
    os.close(fd)
    try:
        writer = osmium.SimpleWriter(tmp, header=header, overwrite=True)
        try:
            for el in sorted(kinds["node"], key=lambda x: x["id"]):
                writer.add_node(
                    mutable.Node(
                        id=el["id"], location=(el["lon"], el["lat"]), tags=el.get("tags", {})
                    )
                )
            for el in sorted(kinds["way"], key=lambda x: x["id"]):
                writer.add_way(mutable.Way(id=el["id"], nodes=el["nodes"], tags=el.get("tags", {})))
            for el in sorted(kinds["relation"], key=lambda x: x["id"]):
                members = [
                    (m["type"][0], m["ref"], m.get("role", "")) for m in el.get("members", [])
                ]
                writer.add_relation(
                    mutable.Relation(id=el["id"], members=members, tags=el.get("tags", {}))
                )
        finally:
            writer.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {
        "nodes": len(kinds["node"]),
        "ways": len(kinds["way"]),
        "relations": len(kinds["relation"]),
    }


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fetch-", suffix=path.suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fmt(b: Any) -> str:
    return "[" + ", ".join(f"{x:.10g}" for x in b) + "]"
