"""The HTTP requests of an OSM fetch (ditan.spatial.io.osm_fetch): Nominatim and Overpass, as osmnx makes them.

Only osmnx's request-building helpers and settings are used (``_create_overpass_features_query``,
``_make_overpass_polygon_coord_strs``, ``_get_http_headers``, ``_config_dns``, ``settings``); the POST itself is made
here, as osmnx's ``_overpass_request`` makes it, so that a busy server is retried a bounded number of times with a
visible message, an unreachable one is an error at once (osmnx would wait 60 s first), and an answer carrying a
``remark`` (Overpass's way of saying the query timed out or ran out of memory, with the data cut short) is refused
instead of being taken as the whole area. Every failure a user can cause is one :class:`LayerError` line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import shapely

from ditan.spatial.errors import LayerError
from ditan.spatial.io.osm import AREA_KEYS, NODE_KEYS

__all__ = ["EXTRACTS", "RETRIES", "RETRY_PAUSE_S", "TAGS", "geocode", "osmnx_settings", "overpass"]

log = logging.getLogger(__name__)

#: the tag keys asked of Overpass: every key a kept way, area or tagged node of read_osm needs
TAGS = tuple(sorted({*AREA_KEYS, *NODE_KEYS, "highway"}))
#: Overpass answers 429 (too many requests) or 504 (busy): tries after the first, each after RETRY_PAUSE_S (osmnx's 55 s)
RETRIES = 2
RETRY_PAUSE_S = 55.0
EXTRACTS = (
    "download a .osm.pbf extract instead (Geofabrik https://download.geofabrik.de/asia/china.html, "
    "BBBike https://extract.bbbike.org/) and name it in inputs.osm.path"
)


@contextlib.contextmanager
def osmnx_settings(settings: Any, overpass_url: str | None) -> Iterator[None]:
    """The osmnx settings of one fetch: the endpoint asked for, and osmnx's own response cache off (ditan caches the file)."""
    saved = settings.overpass_url, settings.use_cache
    settings.use_cache = False
    if overpass_url:
        settings.overpass_url = overpass_url
    try:
        yield
    finally:
        settings.overpass_url, settings.use_cache = saved


def geocode(place: str, osmnx: Any, record: dict) -> shapely.Geometry:
    """The outline of ``place`` from Nominatim (osmnx.geocode_to_gdf: the first result that is an area)."""
    from osmnx._errors import InsufficientResponseError

    url = osmnx.settings.nominatim_url
    log.info("geocoding '%s' with Nominatim (%s) …", place, url)
    try:
        gdf = osmnx.geocode_to_gdf(place)
    except InsufficientResponseError as exc:
        if "0 results" in str(exc):
            raise LayerError(
                f"inputs.osm.place: Nominatim ({url}) knows no place named '{place}' (未找到该地名): check the "
                "spelling, write the full name (e.g. 北京市海淀区清华园街道), or give inputs.osm.bbox [W, S, E, N]"
            ) from None
        raise LayerError(
            f"inputs.osm.place: Nominatim ({url}) gave no usable answer for '{place}' ({exc})"
        ) from None
    except TypeError:  # osmnx: no result is a (Multi)Polygon
        raise LayerError(
            f"inputs.osm.place: Nominatim ({url}) knows '{place}' only as a point, not an area with an outline "
            "(该地名没有边界): name an area (a district, 街道, campus), or give inputs.osm.bbox [W, S, E, N]"
        ) from None
    # requests' errors are OSErrors; osmnx's HTTP status errors ValueErrors
    except (OSError, ValueError) as exc:
        raise LayerError(
            f"inputs.osm.place: cannot geocode '{place}' with Nominatim ({url}): {_reason(exc)} (无法连接); "
            f"fetching by place needs internet once; or give inputs.osm.bbox, or {EXTRACTS}"
        ) from None
    row = gdf.iloc[0]
    # a (Multi)Polygon either way
    outline = row.geometry if row.geometry.is_valid else row.geometry.buffer(0)
    record["nominatim_url"] = url
    record["place"] = {
        "display_name": row.get("display_name"),
        "osm_type": row.get("osm_type"),
        "osm_id": int(row["osm_id"]) if row.get("osm_id") is not None else None,
        "outline_geojson": json.loads(shapely.to_geojson(outline)),
    }
    log.info(
        "'%s' is %s (%s %s)", place, row.get("display_name"), row.get("osm_type"), row.get("osm_id")
    )
    return outline


def overpass(box: tuple[float, ...], osmnx: Any, what: str, size: float) -> dict:
    """Every element of TAGS in ``box`` (with way nodes and relation members) from Overpass, one answer merged."""
    from osmnx import _overpass as op

    tags: dict[str, bool | str | list[str]] = {k: True for k in TAGS}
    queries = [
        op._create_overpass_features_query(s, tags)
        for s in op._make_overpass_polygon_coord_strs(shapely.box(*box))
    ]
    log.info(
        "fetching OSM from Overpass (%s) for %s, %.1f km² (this can take a minute) …",
        osmnx.settings.overpass_url,
        what,
        size,
    )
    seen: dict[tuple[str, int], dict] = {}
    merged: dict = {"elements": [], "queries": queries}
    for q in queries:
        answer = _post(q, osmnx)
        for el in answer.get("elements", []):
            seen[(el["type"], el["id"])] = el
        merged |= {k: v for k, v in answer.items() if k != "elements"}
    merged["elements"] = list(seen.values())
    return merged


def _post(query: str, osmnx: Any) -> dict:
    """POST one query as osmnx._overpass._overpass_request does; a busy server retried RETRIES times, then one error line."""
    from osmnx import _http
    from osmnx import _overpass as op

    settings = osmnx.settings
    requests = op.requests  # the HTTP client osmnx uses (a dependency of osmnx)
    url = settings.overpass_url.rstrip("/") + "/interpreter"
    host = _http._hostname_from_url(url)
    fix = f"try again later, set inputs.osm.overpass_url to another Overpass server, or {EXTRACTS}"
    try:
        _http._config_dns(settings.overpass_url)
        for attempt in range(RETRIES + 1):
            pause = _pause(settings, requests, _http, op)
            if pause:
                log.info("Overpass (%s) has no free slot: waiting %g s …", host, pause)
                time.sleep(pause)
            response = requests.post(
                url,
                data=OrderedDict(data=query),
                timeout=settings.requests_timeout,
                headers=_http._get_http_headers(),
                **settings.requests_kwargs,
            )
            if response.status_code not in (429, 504) or attempt == RETRIES:
                break
            log.warning(
                "Overpass (%s) answered %d %s: trying again in %g s (%d of %d) …",
                host,
                response.status_code,
                response.reason,
                RETRY_PAUSE_S,
                attempt + 1,
                RETRIES,
            )
            time.sleep(RETRY_PAUSE_S)
    except requests.exceptions.Timeout:
        raise LayerError(
            f"inputs.osm: Overpass ({host}) did not answer within {settings.requests_timeout:g} s (请求超时): "
            f"the area may be too large or the server busy; {fix}"
        ) from None
    except OSError as exc:  # requests' ConnectionError and the rest are OSErrors
        raise LayerError(
            f"inputs.osm: cannot reach Overpass at {url}: {_reason(exc)} (无法连接, no network?); fetching needs "
            f"internet once (later runs read the cache); or {EXTRACTS}"
        ) from None
    if not response.ok:
        busy = " (the server is busy)" if response.status_code in (429, 504) else ""
        raise LayerError(
            f"inputs.osm: Overpass ({host}) answered HTTP {response.status_code} {response.reason}{busy}; {fix}"
        )
    try:
        answer = response.json()
    except ValueError:
        raise LayerError(
            f"inputs.osm: Overpass ({host}) answered something that is not JSON ({response.text[:120]!r}); {fix}"
        ) from None
    if not isinstance(answer, dict) or "elements" not in answer:
        raise LayerError(f"inputs.osm: Overpass ({host}) answered no element list; {fix}")
    if answer.get("remark"):  # e.g. "runtime error: Query timed out …": the elements are cut short
        raise LayerError(
            f"inputs.osm: Overpass ({host}) stopped early: {answer['remark'].strip()!r}, so its answer is incomplete "
            f"and is not used; try a smaller area, {fix}"
        )
    log.info("Overpass answered %.1f MB", len(response.content) / 1e6)
    return answer


def _pause(settings: Any, requests: Any, _http: Any, op: Any) -> float:
    """Seconds to wait for a free Overpass slot (osmnx's rate limit), with an unreachable server an error at once.

    osmnx's ``_get_overpass_pause`` waits 60 s when it cannot reach the status page; here that is the no-network
    error straight away. A free slot ("2 slots available now.") is no wait; anything else osmnx reads.
    """
    if not settings.overpass_rate_limit:
        return 0.0
    status = requests.get(
        settings.overpass_url.rstrip("/") + "/status",
        headers=_http._get_http_headers(),
        timeout=settings.requests_timeout,
        **settings.requests_kwargs,
    )
    if not status.ok:  # a server without slot management (osmnx would wait 60 s before every query)
        return 0.0
    lines = status.text.split("\n")
    if len(lines) > 4 and lines[4].split(" ")[0].isdigit():
        return 0.0
    return float(op._get_overpass_pause(settings.overpass_url))


def _reason(exc: BaseException) -> str:
    """The first line of an HTTP library's error, without its nested reprs."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__
