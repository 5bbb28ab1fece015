"""Nothing vanishes uncounted from an OSM file, and a file without some kind of feature still runs.

- a clipped export (ways referencing nodes the file does not hold): the buildings and roads lost are counted as
  dropped, the expected numbers counted independently from the XML written (xml.etree);
- broken multipolygons (a ring that does not close, a member way missing, a member way with a missing node) are
  counted as dropped land use (or buildings), each with its reason;
- an OSM file with highway ways only (written by osmnx's save_graph_xml) loads, with the buildings, land-use and
  vegetation layers absent (StudyArea.absent, a data gap in the ledger) and empty frames with the usual columns,
  and the run computes;
- a run with units and land-use parcels only (no roads, no buildings, no OSM file) loads with those layers absent.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import compute
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import parse_config
from ditan.spatial.errors import ConfigError, LayerError
from ditan.spatial.io.osm import BROKEN_RINGS, MISSING_MEMBERS, MISSING_NODES, NOT_CLOSED, read_osm
from ditan.spatial.io.validate import Ledger
from ditan.spatial.study_area import osm_layers
from tests.conftest import ROOT, box, gdf

METRIC = CRS.from_epsg(4548)
LON0, LAT0 = 116.3100, 39.9950
BUILDING_COLUMNS = {
    "building",
    "levels_raw",
    "height_raw",
    "name",
    "floors",
    "floors_source",
    "residential",
    "geometry",
}


class Osm:
    """A hand-written OSM XML file: nodes by id, ways and relations with their tags."""

    def __init__(self) -> None:
        self.nodes: dict[int, tuple[float, float]] = {}
        self.ways: list[tuple[int, list[int], dict]] = []
        self.relations: list[tuple[int, list[tuple[int, str]], dict]] = []

    def node(self, nid: int, lon: float, lat: float) -> int:
        self.nodes[nid] = (lon, lat)
        return nid

    def way(self, wid: int, refs: list[int], **tags: str) -> None:
        self.ways.append((wid, refs, tags))

    def relation(self, rid: int, members: list[tuple[int, str]], **tags: str) -> None:
        self.relations.append((rid, members, {"type": "multipolygon", **tags}))

    def write(self, path, keep=lambda nid: True) -> None:
        """Write the file; nodes failing ``keep`` are left out while ways still reference them (a clipped export)."""
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<osm version="0.6" generator="ditan tests">',
        ]
        for nid, (lon, lat) in sorted(self.nodes.items()):
            if keep(nid):
                out.append(f'<node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
        for wid, refs, tags in self.ways:
            out.append(
                f'<way id="{wid}" version="1">'
                + "".join(f'<nd ref="{r}"/>' for r in refs)
                + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
                + "</way>"
            )
        for rid, members, tags in self.relations:
            out.append(
                f'<relation id="{rid}" version="1">'
                + "".join(f'<member type="way" ref="{m}" role="{role}"/>' for m, role in members)
                + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
                + "</relation>"
            )
        out.append("</osm>")
        path.write_text("\n".join(out), encoding="utf-8")


def _square(osm: Osm, first_id: int, lon: float, lat: float, size: float = 0.0002) -> list[int]:
    ids = [
        osm.node(first_id + i, lon + dx, lat + dy)
        for i, (dx, dy) in enumerate(((0, 0), (size, 0), (size, size), (0, size)))
    ]
    return [*ids, ids[0]]


def _ways_with_missing_nodes(path, key: str) -> int:
    """Ways tagged ``key`` referencing a node the file does not hold (read with xml.etree, not the reader)."""
    root = ET.parse(path).getroot()
    have = {n.get("id") for n in root.iter("node")}
    return sum(
        1
        for w in root.iter("way")
        if any(t.get("k") == key and t.get("v") != "no" for t in w.iter("tag"))
        and any(nd.get("ref") not in have for nd in w.iter("nd"))
    )


def _ways_tagged(path, key: str) -> int:
    root = ET.parse(path).getroot()
    return sum(
        1
        for w in root.iter("way")
        if any(t.get("k") == key and t.get("v") != "no" for t in w.iter("tag"))
    )


@pytest.fixture
def clipped(tmp_path):
    """20 buildings in a row and a road along them, exported clipped at a longitude cutting through building 12."""
    osm = Osm()
    for i in range(20):
        osm.way(
            1000 + i,
            _square(osm, 100 * (i + 1), LON0 + i * 0.0003, LAT0),
            building="yes" if i % 2 else "residential",
        )
    road = [osm.node(9000 + i, LON0 + i * 0.0006, LAT0 - 0.0002) for i in range(11)]
    osm.way(5000, road[:5], highway="residential")  # inside
    osm.way(5001, road[4:], highway="residential")  # crosses the cut
    osm.way(
        5002, road[:3:-1], highway="service"
    )  # the same, drawn from outside in: it starts with missing nodes
    cut = LON0 + 12 * 0.0003 + 0.0001
    path = tmp_path / "clipped.osm"
    osm.write(path, keep=lambda nid: osm.nodes[nid][0] <= cut)
    return path


def test_clipped_export_buildings_counted_as_dropped(clipped):
    lost = _ways_with_missing_nodes(clipped, "building")
    total = _ways_tagged(clipped, "building")
    assert (total, lost) == (20, 8)  # buildings 12 (cut through) to 19 (wholly outside)
    ledger = Ledger()
    ext = read_osm(clipped)
    b = osm_layers.buildings_from_osm(ext, METRIC, ledger)
    rec = ledger.layer("buildings (OSM)")
    assert len(b) == total - lost
    assert rec.read == total and rec.kept == total - lost
    assert dict(rec.dropped) == {MISSING_NODES: lost}
    assert rec.balanced()
    roads = osm_layers.roads_from_osm(ext, METRIC, ledger)
    r = ledger.layer("roads (OSM highway ways)")
    assert _ways_with_missing_nodes(clipped, "highway") == 2
    assert len(roads) == 1 and dict(r.dropped) == {MISSING_NODES: 2} and r.balanced()


def test_clipped_beijing_sample(tmp_path):
    """The Beijing sample with only the nodes of the middle of its box (a bbox export without the ways' own nodes)."""
    root = ET.parse(ROOT / "data" / "beijing_haidian_tsinghua" / "map.osm").getroot()
    w, s, e, n = 116.3084, 39.9905, 116.3320, 40.0123
    inner = (w + (e - w) / 4, s + (n - s) / 4, e - (e - w) / 4, n - (n - s) / 4)
    for nd in list(root.findall("node")):
        lon, lat = float(nd.get("lon")), float(nd.get("lat"))
        if not (inner[0] <= lon <= inner[2] and inner[1] <= lat <= inner[3]):
            root.remove(nd)
    path = tmp_path / "clipped.osm"
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    # expected, from the XML: building ways with a missing node, plus building multipolygons with a member way lost
    have = {nd.get("id") for nd in root.iter("node")}
    ways = {w.get("id"): w for w in root.iter("way")}

    def tagged(el, key):
        return any(t.get("k") == key and t.get("v") != "no" for t in el.iter("tag"))

    def broken(way):
        return way is None or any(nd.get("ref") not in have for nd in way.iter("nd"))

    building_ways = [w for w in ways.values() if tagged(w, "building")]
    building_rels = [r for r in root.iter("relation") if tagged(r, "building")]
    lost = sum(broken(w) for w in building_ways) + sum(
        any(broken(ways.get(m.get("ref"))) for m in r.iter("member") if m.get("type") == "way")
        for r in building_rels
    )
    highways = [w for w in ways.values() if tagged(w, "highway")]
    lost_roads = sum(broken(w) for w in highways)
    assert lost > 300 and lost_roads > 400  # most of the sample lies outside the middle
    ledger = Ledger()
    ext = read_osm(path)
    osm_layers.buildings_from_osm(ext, METRIC, ledger)
    osm_layers.roads_from_osm(ext, METRIC, ledger)
    b, r = ledger.layer("buildings (OSM)"), ledger.layer("roads (OSM highway ways)")
    assert (
        b.read == len(building_ways) + len(building_rels)
        and dict(b.dropped) == {MISSING_NODES: lost}
        and b.balanced()
    )
    assert (
        r.read == len(highways) and dict(r.dropped) == {MISSING_NODES: lost_roads} and r.balanced()
    )


def test_clipped_export_through_the_loader(clipped, tmp_path):
    gdf([{"uid": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp_path / "units.gpkg")
    cfg = parse_config(
        {
            "name": "clip",
            "crs": "EPSG:4548",
            "inputs": {
                "osm": {"path": "clipped.osm"},
                "units": {"path": "units.gpkg", "id_column": "uid"},
            },
        },
        base_dir=tmp_path,
    )
    sa = load_study_area(cfg)
    q = sa.ledger.to_frame().set_index("layer")
    assert q.loc["buildings (OSM)", "dropped"] == _ways_with_missing_nodes(clipped, "building")
    assert MISSING_NODES in q.loc["buildings (OSM)", "dropped_why"]
    assert q["balanced"].all()
    assert "buildings" not in sa.absent and "roads" not in sa.absent


def test_broken_multipolygons_counted(tmp_path):
    osm = Osm()
    a, b, c, d = (
        osm.node(i, LON0 + dx, LAT0 + dy)
        for i, (dx, dy) in zip(
            range(1, 5), ((0, 0), (0.001, 0), (0.001, 0.001), (0, 0.001)), strict=True
        )
    )
    osm.way(301, [a, b, c])
    osm.way(302, [c, d])  # d never returns to a: the ring does not close
    osm.relation(300, [(301, "outer"), (302, "outer")], landuse="residential")
    osm.way(311, [a, b, c, d, a])
    osm.relation(
        310, [(311, "outer"), (999, "outer")], leisure="park"
    )  # way 999 is not in the file
    osm.way(321, [a, b, 77, d, a])  # node 77 is not in the file
    osm.relation(320, [(321, "outer")], landuse="grass")
    osm.relation(
        330, [(301, "outer"), (302, "outer")], building="yes"
    )  # a broken building multipolygon
    osm.way(340, [a, b, c], building="yes")  # a building outline that does not close
    osm.way(350, _square(osm, 500, LON0 + 0.002, LAT0), landuse="residential")  # one good area
    osm.relation(360, [(311, "outer")], landuse="retail")  # one good multipolygon
    path = tmp_path / "broken.osm"
    osm.write(path)
    ledger = Ledger()
    ext = read_osm(path)
    lu = osm_layers.landuse_from_osm(ext, METRIC, ledger)
    rec = ledger.layer("land use (OSM)")
    assert sorted(lu["osm_id"]) == [350, 360]
    assert dict(rec.dropped) == {BROKEN_RINGS: 1, MISSING_MEMBERS: 1, MISSING_NODES: 1}
    assert rec.read == 5 and rec.balanced()
    osm_layers.buildings_from_osm(ext, METRIC, ledger)
    brec = ledger.layer("buildings (OSM)")
    assert (
        dict(brec.dropped) == {BROKEN_RINGS: 1, NOT_CLOSED: 1}
        and brec.kept == 0
        and brec.balanced()
    )


@pytest.fixture(scope="module")
def roads_only(tmp_path_factory):
    """A 3 × 3 street grid written by osmnx (save_graph_xml): highway ways and their nodes, nothing else; and two units."""
    nx = pytest.importorskip("networkx")
    ox = pytest.importorskip("osmnx")
    d = tmp_path_factory.mktemp("roads_only")
    g = nx.MultiDiGraph(crs="epsg:4326")
    step = 0.002
    ids = {(i, j): 1000 + 3 * i + j for i in range(3) for j in range(3)}
    for (i, j), nid in ids.items():
        g.add_node(nid, x=LON0 + i * step, y=LAT0 + j * step)
    wid = 1
    for (i, j), u in ids.items():
        for di, dj in ((1, 0), (0, 1)):
            if (v := ids.get((i + di, j + dj))) is not None:
                hw = "primary" if (j == 1 and dj == 0) else "residential"
                g.add_edge(u, v, osmid=wid, highway=hw, oneway=False, reversed=False, length=0.0)
                g.add_edge(v, u, osmid=wid, highway=hw, oneway=False, reversed=True, length=0.0)
                wid += 1
    was, ox.settings.all_oneway = (
        ox.settings.all_oneway,
        True,
    )  # save_graph_xml warns unless the graph is "all one-way"
    try:
        ox.io.save_graph_xml(g, filepath=d / "drive.osm")
    finally:
        ox.settings.all_oneway = was
    gpd.GeoDataFrame(
        {"uid": ["A", "B"]},
        geometry=[
            shapely.box(LON0, LAT0, LON0 + 0.002, LAT0 + 0.004),
            shapely.box(LON0 + 0.002, LAT0, LON0 + 0.004, LAT0 + 0.004),
        ],
        crs=4326,
    ).to_file(d / "units.gpkg")
    return d


def test_roads_only_osm_reads_without_areas(roads_only):
    ext = read_osm(roads_only / "drive.osm")
    assert len(ext.ways) == 12 and len(ext.areas) == 0 and len(ext.lost) == 0
    assert {"osm_id", "osm_type", "building", "landuse"} <= set(ext.areas.columns)


def test_roads_only_osm_loads_with_absent_layers(roads_only):
    cfg = parse_config(
        {
            "name": "drive",
            "inputs": {
                "osm": {"path": "drive.osm"},
                "units": {"path": "units.gpkg", "id_column": "uid"},
            },
        },
        base_dir=roads_only,
    )
    sa = load_study_area(cfg)
    assert sa.absent == {
        "buildings": "the OSM file has no building ways and inputs.buildings is not set",
        "landuse": "the OSM file has no land-use areas and inputs.parcels is not set",
        "vegetation": "the OSM file has no vegetation areas (grass, wood, garden …) and inputs.landcover is not set",
    }
    assert len(sa.roads) == 12 and sa.buildings.empty and sa.landuse.empty and sa.vegetation.empty
    assert BUILDING_COLUMNS <= set(sa.buildings.columns)
    assert {"layer buildings", "layer landuse", "layer vegetation"} <= set(sa.ledger.gaps)
    assert "inputs.buildings" in sa.ledger.gaps["layer buildings"].fix
    assert "building_density_pct" in sa.ledger.gaps["layer buildings"].columns
    res = compute(sa, params_from_config(cfg))
    t = res.indicators
    assert (t["road_density_km_per_km2"] > 0).all()
    assert t["far_ratio"].isna().all()  # no building data: NaN, not 0


def test_parcels_and_units_only(tmp_path):
    gdf([{"uid": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp_path / "units.gpkg")
    gdf(
        [
            {"dm": "0701", "geometry": box(0, 0, 500, 1000)},
            {"dm": "1401", "geometry": box(500, 0, 1000, 1000)},
        ]
    ).to_file(tmp_path / "p.gpkg")
    cfg = parse_config(
        {
            "name": "p",
            "inputs": {
                "units": {"path": "units.gpkg", "id_column": "uid"},
                "parcels": {"path": "p.gpkg", "code_column": "dm", "code_system": "gb2023"},
            },
        },
        base_dir=tmp_path,
    )
    sa = load_study_area(cfg)
    assert sa.absent == {
        "roads": "neither inputs.osm nor inputs.roads is set",
        "buildings": "neither inputs.osm nor inputs.buildings is set",
        "vegetation": "neither inputs.osm nor inputs.landcover is set",
    }
    assert sa.roads.empty and sa.buildings.empty and len(sa.landuse) == 2
    assert np.isclose(sa.landuse.geometry.area.sum(), 1e6)


def test_nothing_to_measure_is_refused(tmp_path):
    gdf([{"uid": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp_path / "units.gpkg")
    with pytest.raises(
        ConfigError, match=r"inputs: nothing to measure: name an OSM file \(inputs\.osm\) or layers"
    ):
        parse_config(
            {"name": "u", "inputs": {"units": {"path": "units.gpkg", "id_column": "uid"}}},
            base_dir=tmp_path,
        )


def test_no_units_and_no_roads_to_derive_them(tmp_path):
    gdf([{"dm": "0701", "geometry": box(0, 0, 500, 1000)}]).to_file(tmp_path / "p.gpkg")
    cfg = parse_config(
        {
            "name": "p",
            "crs": "EPSG:4548",
            "inputs": {"parcels": {"path": "p.gpkg", "code_column": "dm", "code_system": "gb2023"}},
        },
        base_dir=tmp_path,
    )
    with pytest.raises(
        LayerError,
        match=r"no units layer and no roads to derive blocks from \(neither inputs\.osm nor inputs\.roads is set\)",
    ):
        load_study_area(cfg)


def test_all_buildings_lost_leaves_the_layer_absent(tmp_path):
    osm = Osm()
    for i in range(3):
        osm.way(1000 + i, _square(osm, 100 * (i + 1), LON0 + i * 0.0003, LAT0), building="yes")
    road = [osm.node(9000 + i, LON0 + i * 0.0006, LAT0 - 0.0002) for i in range(3)]
    osm.way(5000, road, highway="residential")
    osm.write(tmp_path / "b.osm", keep=lambda nid: nid >= 9000)  # no building node at all
    gdf([{"uid": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp_path / "units.gpkg")
    cfg = parse_config(
        {
            "name": "b",
            "crs": "EPSG:4548",
            "inputs": {
                "osm": {"path": "b.osm"},
                "units": {"path": "units.gpkg", "id_column": "uid"},
            },
        },
        base_dir=tmp_path,
    )
    sa = load_study_area(cfg)
    assert sa.absent["buildings"] == (
        "none of the 3 building ways of the OSM file could be used (nodes missing from the extract "
        "(clipped export)) and inputs.buildings is not set"
    )
    assert (
        sa.ledger.layer("buildings (OSM)").dropped[MISSING_NODES] == 3 and "roads" not in sa.absent
    )


def test_given_layer_with_no_usable_feature_or_none_at_all_is_absent(tmp_path):
    gdf([{"uid": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp_path / "units.gpkg")
    gdf(
        [{"hw": "支路", "geometry": None}, {"hw": "支路", "geometry": box(0, 0, 10, 10)}]
    ).to_parquet(tmp_path / "roads.parquet")
    gpd.GeoDataFrame({"use": []}, geometry=[], crs="EPSG:4548").to_parquet(tmp_path / "b.parquet")
    cfg = parse_config(
        {
            "name": "g",
            "inputs": {
                "units": {"path": "units.gpkg", "id_column": "uid"},
                "roads": {"path": "roads.parquet", "class_column": "hw"},
                "buildings": {"path": "b.parquet"},
            },
        },
        base_dir=tmp_path,
    )
    sa = load_study_area(cfg)
    # two roads read, both dropped (a null geometry, a polygon): no road data; an empty buildings file (a placeholder):
    # no building data either — not a measured 0
    assert (
        sa.absent["roads"]
        == "none of the 2 features of inputs.roads (roads.parquet) could be used (see data_quality.csv)"
    )
    assert sa.absent["buildings"] == "inputs.buildings (b.parquet) has no features"
