"""OSM by place name or bbox (inputs.osm.place / bbox): fetched once, cached, read offline after; errors in one line.

The requests are osmnx's (Overpass and Nominatim), the cache ditan's; every failure a user can cause is one line.

No test touches the network: the ``offline`` fixture makes every socket connection and name lookup fail the test,
and ``server`` answers the HTTP requests osmnx's client sends (requests' Session.send) from recorded responses in
tests/fixtures/osm_fetch/ — overpass_bbox.json (an Overpass JSON answer over a part of the Tsinghua sample, built
by record.py there) and nominatim_*.json (Nominatim answers in its json format, written by hand: this machine has no
internet). The independent route to the same numbers: the Overpass answer turned into an .osm XML file here with
ElementTree (not by ditan) and given as inputs.osm.path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import numpy as np
import osmnx
import pytest
import shapely
import yaml
from pyproj import Geod

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.cli import main
from ditan.pipelines.config.schema import load_config
from ditan.spatial.errors import ConfigError
from ditan.spatial.io import osm_fetch, osm_http

FIXTURES = Path(__file__).parent / "fixtures" / "osm_fetch"
OVERPASS = json.loads((FIXTURES / "overpass_bbox.json").read_text(encoding="utf-8"))
BBOX = [116.322, 39.992, 116.332, 39.999]  # the box overpass_bbox.json was made for (record.py)
PLACE = "北京市海淀区清华园街道"
POINT_PLACE = "清华大学东门"
#: the fixture's outline of PLACE (nominatim_place.json): it touches every side of BBOX
OUTLINE = [
    (116.322, 39.995),
    (116.327, 39.992),
    (116.332, 39.994),
    (116.331, 39.999),
    (116.324, 39.999),
    (116.322, 39.995),
]
STATUS = (
    "Connected as: 1\nCurrent time: 2024-05-01T00:00:00Z\nAnnounced endpoint: none\nRate limit: 2\n"
    "2 slots available now.\nCurrently running queries (pid, space limit, time limit, start time):\n"
)
requests = osmnx._http.requests  # the HTTP client osmnx sends its requests with


class NetworkUsed(Exception):  # noqa: N818 (not an OSError: nothing may swallow it)
    pass


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any real connection or name lookup fails the test; osmnx's DNS pinning (_config_dns) is counted, not run."""

    def refuse(*args, **kwargs):
        raise NetworkUsed(f"network used: {args[:2]}")

    for name in ("getaddrinfo", "gethostbyname", "create_connection"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(osmnx._http, "_config_dns", lambda url: None)
    monkeypatch.setattr(osmnx.settings, "overpass_url", "https://overpass-api.de/api")
    monkeypatch.setattr(
        osmnx._nominatim, "time", SimpleNamespace(sleep=lambda s: None)
    )  # its 1 s pause


class Server:
    """Recorded answers to osmnx's requests: Nominatim search, Overpass status and interpreter."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (method, url, body)
        self.overpass: tuple[int, bytes] = (200, json.dumps(OVERPASS).encode())
        self.status: tuple[int, bytes] = (200, STATUS.encode())
        self.fail: Exception | None = None

    def send(self, session, request, **kwargs):
        body = request.body or ""
        body = body.decode() if isinstance(body, bytes) else body
        self.calls.append((request.method, request.url, body))
        if self.fail is not None:
            raise self.fail
        url = urlparse(request.url)
        if url.netloc == "nominatim.openstreetmap.org":
            q = parse_qs(url.query)["q"][0]
            name = {PLACE: "nominatim_place.json", POINT_PLACE: "nominatim_point.json"}.get(q)
            status, content = 200, (FIXTURES / name).read_bytes() if name else b"[]"
        elif url.path.endswith("/status"):
            status, content = self.status
        elif url.path.endswith("/interpreter"):
            status, content = self.overpass
        else:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        resp = requests.models.Response()
        resp.status_code, resp._content, resp.url, resp.request = (
            status,
            content,
            request.url,
            request,
        )
        resp.reason = {200: "OK", 429: "Too Many Requests"}.get(status, "Error")
        return resp

    @property
    def posts(self) -> list[tuple[str, str, str]]:
        return [c for c in self.calls if c[0] == "POST"]


@pytest.fixture
def server(monkeypatch) -> Server:
    srv = Server()
    monkeypatch.setattr(
        requests.sessions.Session, "send", lambda self, req, **kw: srv.send(self, req, **kw)
    )
    return srv


def _config(tmp_path: Path, osm: dict, name: str = "fetch") -> Path:
    data = {
        "name": name,
        "inputs": {
            "osm": {**osm, "cache_folder": str(tmp_path / "cache")} if "path" not in osm else osm
        },
        "units": {"min_area_m2": 5000, "min_width_m": 20, "max_area_m2": 1000000},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _osm_xml(answer: dict, bbox: list[float], path: Path) -> Path:
    """The Overpass JSON answer as OSM XML (written here with ElementTree, independently of ditan's converter)."""
    root = ET.Element("osm", version="0.6", generator="test")
    w, s, e, n = bbox
    ET.SubElement(root, "bounds", minlat=str(s), minlon=str(w), maxlat=str(n), maxlon=str(e))
    for el in answer["elements"]:
        attrs = {"id": str(el["id"]), "version": "1"}
        if el["type"] == "node":
            attrs |= {"lat": repr(el["lat"]), "lon": repr(el["lon"])}
        x = ET.SubElement(root, el["type"], attrs)
        for ref in el.get("nodes", []):
            ET.SubElement(x, "nd", ref=str(ref))
        for m in el.get("members", []):
            ET.SubElement(x, "member", type=m["type"], ref=str(m["ref"]), role=m["role"])
        for k, v in el.get("tags", {}).items():
            ET.SubElement(x, "tag", k=k, v=v)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _figures(sa) -> dict:
    """What a study area holds, in numbers (road metres by class, building count and footprint, land use …)."""
    roads = sa.roads.assign(m=sa.roads.length).groupby("highway")["m"].sum().round(6).to_dict()
    return {
        "road_m_by_class": roads,
        "buildings": len(sa.buildings),
        "building_m2": round(float(sa.buildings.area.sum()), 4),
        "landuse_m2": round(float(sa.landuse.area.sum()), 4),
        "facilities": len(sa.facilities),
        "stations": len(sa.stations),
        "bounds_m2": round(float(sa.bounds.area), 4),
        "units_m2": sorted(sa.units.area.round(4)),
        "crs": sa.crs.to_epsg(),
    }


# --- config ------------------------------------------------------------------------------------


def _problems(tmp_path: Path, osm: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(_config(tmp_path, osm))
    return str(exc.value)


def test_config_takes_exactly_one_of_path_place_bbox(tmp_path):
    assert "give only one of path, place and bbox, not place and bbox" in _problems(
        tmp_path, {"place": PLACE, "bbox": BBOX}
    )
    assert "name the OSM data: path (an OSM file), place" in _problems(tmp_path, {"refresh": True})
    assert "empty place name" in _problems(tmp_path, {"place": "  "})
    cfg = load_config(_config(tmp_path, {"place": f" {PLACE} "}))
    assert cfg.inputs.osm.place == PLACE and cfg.inputs.osm.path is None
    assert cfg.inputs.osm.cache_folder == tmp_path / "cache"


def test_bbox_is_checked_like_bounds(tmp_path):
    swapped = [BBOX[1], BBOX[0], BBOX[3], BBOX[2]]
    msg = _problems(tmp_path, {"bbox": swapped})
    assert "inputs.osm.bbox" in msg and "look like [south, west, north, east]" in msg
    assert "write [116.322, 39.992, 116.332, 39.999]" in msg
    assert "not degrees" in _problems(tmp_path, {"bbox": [440000, 4428000, 441000, 4429000]})


def test_fetch_keys_refused_with_a_file(tmp_path):
    osm = {"path": str(_osm_xml(OVERPASS, BBOX, tmp_path / "a.osm")), "refresh": True}
    assert "refresh apply to a fetch" in _problems(tmp_path, osm)


def test_bbox_too_large_one_line_without_network(tmp_path, server, capsys):
    # 1° × 1° at 40° N: 111.2 km (a degree of latitude) × 85.4 km (of longitude) ≈ 9,500 km² > 300 km²
    cfg = _config(tmp_path, {"bbox": [116.0, 39.5, 117.0, 40.5]})
    assert main(["check-config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "inputs.osm" in err and "more than max_area_km2 = 300" in err and "Geofabrik" in err
    assert "Traceback" not in err and not server.calls
    # raised, a district-sized box passes
    cfg = _config(tmp_path, {"bbox": [116.0, 39.5, 117.0, 40.5], "max_area_km2": 20000})
    assert main(["check-config", str(cfg)]) == 0 and not server.calls


def test_check_config_of_a_fetch_touches_no_network(tmp_path, server, capsys):
    assert main(["check-config", str(_config(tmp_path, {"bbox": BBOX, "bounds": BBOX}))]) == 0
    assert main(["check-config", str(_config(tmp_path, {"place": PLACE}))]) == 0
    assert not server.calls and not (tmp_path / "cache").exists()


# --- fetch -------------------------------------------------------------------------------------


def test_bbox_fetch_once_equals_the_same_data_as_a_file(tmp_path, server):
    fetched = load_study_area(load_config(_config(tmp_path, {"bbox": BBOX})))
    # one query: the status check (osmnx's rate limit) and one POST to the interpreter
    assert [(m, urlparse(u).path) for m, u, _ in server.calls] == [
        ("GET", "/api/status"),
        ("POST", "/api/interpreter"),
    ]
    query = parse_qs(server.posts[0][2])["data"][0]
    assert query.startswith("[out:json][timeout:180]") and query.endswith("out;")
    for key in ("highway", "building", "landuse", "amenity", "public_transport", "railway"):
        for kind in ("node", "way", "relation"):
            assert f"({kind}['{key}'](poly:" in query
    assert "(._;>;)" in query
    # the polygon is the bbox, in Overpass' "lat lon" order
    coords = np.array(query.split("(poly:'")[1].split("'")[0].split(), dtype=float).reshape(-1, 2)
    assert coords[:, 0].min() == pytest.approx(BBOX[1], abs=1e-6)
    assert coords[:, 0].max() == pytest.approx(BBOX[3], abs=1e-6)
    assert coords[:, 1].min() == pytest.approx(BBOX[0], abs=1e-6)
    assert coords[:, 1].max() == pytest.approx(BBOX[2], abs=1e-6)

    xml = _osm_xml(OVERPASS, BBOX, tmp_path / "recorded.osm")
    direct = load_study_area(load_config(_config(tmp_path, {"path": str(xml)}, name="direct")))
    assert _figures(fetched) == _figures(direct)
    assert (
        len(fetched.buildings) > 50 and len(fetched.roads) > 50
    )  # the comparison compares something
    assert len(server.calls) == 2  # the file route made no request

    (pbf,) = (tmp_path / "cache").glob("bbox-*.osm.pbf")
    side = json.loads(
        pbf.with_name(pbf.name.replace(".osm.pbf", ".json")).read_text(encoding="utf-8")
    )
    kinds = [el["type"] for el in OVERPASS["elements"]]
    assert side["counts"] == {
        "nodes": kinds.count("node"),
        "ways": kinds.count("way"),
        "relations": kinds.count("relation"),
    }
    assert side["osm_base_utc"] == OVERPASS["osm3s"]["timestamp_osm_base"] == "2017-06-24T10:40:54Z"
    assert side["request"]["bbox"] == BBOX and side["overpass_url"] == "https://overpass-api.de/api"
    fetched_at = dt.datetime.fromisoformat(side["fetched_utc"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - fetched_at).total_seconds()) < 300
    assert side["sha256"] == hashlib.sha256(pbf.read_bytes()).hexdigest()


def test_second_run_reads_the_cache_offline_and_refresh_fetches_again(tmp_path, server, capsys):
    cfg = _config(tmp_path, {"bbox": BBOX})
    first = _figures(load_study_area(load_config(cfg)))
    n = len(server.calls)
    server.fail = AssertionError("the second run went to the network")
    assert _figures(load_study_area(load_config(cfg))) == first
    assert len(server.calls) == n
    server.fail = None
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "-q", "--refresh-osm"]) == 0, (
        capsys.readouterr().err
    )
    assert len(server.posts) == 2  # fetched again
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    (pbf,) = (tmp_path / "cache").glob("bbox-*.osm.pbf")
    entry = manifest["osm_fetch"]
    assert entry["request"]["bbox"] == BBOX and entry["cache_file"] == str(pbf)
    assert entry["osm_base_utc"] == "2017-06-24T10:40:54Z"
    assert dt.datetime.fromisoformat(entry["fetched_utc"].replace("Z", "+00:00")).tzinfo is not None
    sha = hashlib.sha256(pbf.read_bytes()).hexdigest()
    assert entry["sha256"] == sha and manifest["inputs"][str(pbf)] == sha
    assert manifest["config"]["inputs"]["osm"]["bbox"] == BBOX


def test_place_geocoded_to_its_outline(tmp_path, server):
    sa = load_study_area(load_config(_config(tmp_path, {"place": PLACE})))
    (search,) = [u for m, u, _ in server.calls if "nominatim" in u]
    q = parse_qs(urlparse(search).query)
    assert urlparse(search).path == "/search" and q["q"] == [PLACE]
    assert q["format"] == ["json"] and q["polygon_geojson"] == ["1"]
    # Overpass was asked for the outline's bounding box: BBOX
    query = parse_qs(server.posts[0][2])["data"][0]
    coords = np.array(query.split("(poly:'")[1].split("'")[0].split(), dtype=float).reshape(-1, 2)
    assert [
        coords[:, 1].min(),
        coords[:, 0].min(),
        coords[:, 1].max(),
        coords[:, 0].max(),
    ] == pytest.approx(BBOX, abs=1e-6)
    # the study extent is the outline, not its box: its area on the ellipsoid (pyproj.Geod), within 0.2 %
    outline_m2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(shapely.Polygon(OUTLINE))[0])
    box_m2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(shapely.box(*BBOX))[0])
    assert sa.bounds.area == pytest.approx(outline_m2, rel=2e-3) and outline_m2 < 0.8 * box_m2
    assert len(sa.units) and shapely.covers(sa.bounds.buffer(0.01), sa.units.union_all())
    side = osm_fetch.cached(PLACE, None, tmp_path / "cache").record
    assert side["place"]["osm_type"] == "relation" and side["place"]["display_name"].startswith(
        "清华园街道"
    )
    n = len(server.calls)
    server.fail = AssertionError("offline")
    load_study_area(load_config(_config(tmp_path, {"place": PLACE})))  # no geocoding either
    assert len(server.calls) == n


# --- errors: one line each, exit code 2 ------------------------------------------------------------


def _run_fails(tmp_path: Path, osm: dict, capsys) -> str:
    assert main(["run", str(_config(tmp_path, osm)), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not list((tmp_path / "cache").glob("*.pbf"))
    return " ".join(err.split())


def test_no_network_one_line(tmp_path, server, capsys):
    server.fail = requests.exceptions.ConnectionError("Max retries exceeded with url: /api/status")
    err = _run_fails(tmp_path, {"bbox": BBOX}, capsys)
    assert "cannot reach Overpass at https://overpass-api.de/api/interpreter" in err
    assert "ConnectionError" in err and "extract.bbbike.org" in err


def test_overpass_timeout_one_line(tmp_path, server, capsys):
    server.fail = requests.exceptions.ReadTimeout("read timed out")
    assert "did not answer within 180 s" in _run_fails(tmp_path, {"bbox": BBOX}, capsys)


def test_place_not_found_one_line(tmp_path, server, capsys):
    err = _run_fails(tmp_path, {"place": "没有这个地方"}, capsys)
    assert "knows no place named '没有这个地方'" in err and "inputs.osm.bbox" in err
    assert not server.posts


def test_place_that_is_a_point_one_line(tmp_path, server, capsys):
    err = _run_fails(tmp_path, {"place": POINT_PLACE}, capsys)
    assert f"knows '{POINT_PLACE}' only as a point" in err and not server.posts


def test_overpass_busy_retried_then_one_line(tmp_path, server, capsys, monkeypatch):
    monkeypatch.setattr(osm_http, "RETRY_PAUSE_S", 0.0)
    server.overpass = (429, b"<html>rate limited</html>")
    err = _run_fails(tmp_path, {"bbox": BBOX}, capsys)
    assert "answered HTTP 429 Too Many Requests (the server is busy)" in err
    assert len(server.posts) == 1 + osm_http.RETRIES


def test_overpass_cut_short_is_refused(tmp_path, server, capsys):
    remark = 'runtime error: Query timed out in "query" at line 1 after 181 seconds.'
    server.overpass = (200, json.dumps(OVERPASS | {"remark": remark}).encode())
    err = _run_fails(tmp_path, {"bbox": BBOX}, capsys)
    assert "stopped early" in err and "Query timed out" in err and "incomplete" in err


def test_refresh_osm_needs_a_fetch(tmp_path, capsys):
    cfg = _config(tmp_path, {"path": str(_osm_xml(OVERPASS, BBOX, tmp_path / "a.osm"))})
    assert main(["run", str(cfg), "-q", "--refresh-osm"]) == 2
    assert (
        "--refresh-osm fetches inputs.osm.place or inputs.osm.bbox again" in capsys.readouterr().err
    )


def test_place_larger_than_the_limit_one_line(tmp_path, server, capsys):
    # the outline's box is BBOX: 0.01° × 0.007° at 40° N ≈ 0.852 km × 0.778 km ≈ 0.66 km²
    err = _run_fails(tmp_path, {"place": PLACE, "max_area_km2": 0.5}, capsys)
    assert "covers 0.7 km²" in err and "more than inputs.osm.max_area_km2 = 0.5 km²" in err
    assert "Geofabrik" in err and not server.posts


def test_nominatim_unreachable_one_line(tmp_path, server, capsys):
    server.fail = requests.exceptions.ConnectionError("Max retries exceeded with url: /search")
    err = _run_fails(tmp_path, {"place": PLACE}, capsys)
    assert f"cannot geocode '{PLACE}' with Nominatim" in err and "ConnectionError" in err


def test_another_overpass_server_and_osmnx_settings_restored(tmp_path, server, monkeypatch):
    url = "https://overpass.kumi.systems/api"
    server.status = (
        404,
        b"<html>not found</html>",
    )  # no slot management there: no wait (osmnx would wait 60 s)
    monkeypatch.setattr(osm_http.time, "sleep", lambda s: pytest.fail(f"waited {s} s"))
    load_study_area(load_config(_config(tmp_path, {"bbox": BBOX, "overpass_url": url})))
    assert {urlparse(u).netloc for _, u, _ in server.calls} == {"overpass.kumi.systems"}
    assert osmnx.settings.overpass_url == "https://overpass-api.de/api" and osmnx.settings.use_cache


def test_the_recorded_answer_asked_for_the_same_keys():
    spec = importlib.util.spec_from_file_location("record", FIXTURES / "record.py")
    record = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record)
    assert record.TAGS == osm_http.TAGS and list(record.BBOX) == BBOX
