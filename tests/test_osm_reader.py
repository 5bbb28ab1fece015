"""ditan.spatial.io.osm.read_osm on the Beijing sample in its three encodings.

map.osm, map.osm.pbf and a bz2 copy must read the same, and agree with an independent
xml.etree reading of map.osm; missing and truncated files raise LayerError.
"""

from __future__ import annotations

import bz2
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import shapely

from ditan.spatial.errors import LayerError
from ditan.spatial.io.osm import read_osm

DATA = Path(__file__).resolve().parents[1] / "data" / "beijing_haidian_tsinghua"
OSM = DATA / "map.osm"
PBF = DATA / "map.osm.pbf"


@pytest.fixture(scope="module")
def xml_root() -> ET.Element:
    return ET.parse(OSM).getroot()


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    bz = tmp_path_factory.mktemp("osm") / "map.osm.bz2"
    with open(OSM, "rb") as src, bz2.open(bz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return {"osm": read_osm(OSM), "pbf": read_osm(PBF), "bz2": read_osm(bz)}


def _highway_way_ids(root: ET.Element) -> set[int]:
    return {
        int(w.get("id"))
        for w in root.iter("way")
        if any(t.get("k") == "highway" for t in w.iter("tag"))
    }


def test_three_encodings_read_the_same(extracts):
    ref = extracts["osm"]
    assert len(ref.ways) > 0 and len(ref.areas) > 0 and len(ref.nodes) > 0
    for key in ("pbf", "bz2"):
        ext = extracts[key]
        assert (len(ext.ways), len(ext.areas), len(ext.nodes)) == (
            len(ref.ways),
            len(ref.areas),
            len(ref.nodes),
        ), key
        assert set(ext.ways["osm_id"]) == set(ref.ways["osm_id"]), key
        assert ext.failures == ref.failures, key


def test_all_layers_are_wgs84(extracts):
    for key, ext in extracts.items():
        for layer in (ext.ways, ext.areas, ext.nodes):
            assert layer.crs is not None and layer.crs.to_epsg() == 4326, key


def test_header_bounds(extracts, xml_root):
    b = xml_root.find("bounds")
    expected = tuple(float(b.get(k)) for k in ("minlon", "minlat", "maxlon", "maxlat"))
    assert expected == (116.3084, 39.9905, 116.332, 40.0123)
    assert extracts["osm"].bounds == pytest.approx(expected, abs=1e-7)
    assert extracts["bz2"].bounds == pytest.approx(expected, abs=1e-7)
    assert extracts["pbf"].bounds is None  # this PBF carries no header box


def test_highway_ways_match_xml_count(extracts, xml_root):
    ids = _highway_way_ids(xml_root)
    ext = extracts["osm"]
    assert ext.failures["highway ways with missing node locations"] == 0
    assert len(ext.ways) == len(ids)
    assert set(ext.ways["osm_id"]) == ids
    assert (ext.ways.geom_type == "LineString").all()


def test_highway_way_vertices_are_their_xml_nodes(extracts, xml_root):
    """Each highway way's geometry runs through its XML node references, in order.

    Locations come from the XML nodes; a location repeated at once is one vertex, as osmium draws it.
    """
    loc = {
        int(n.get("id")): (float(n.get("lon")), float(n.get("lat"))) for n in xml_root.iter("node")
    }

    def vertices(way) -> list:
        pts = [loc[int(n.get("ref"))] for n in way.iter("nd")]
        return [p for k, p in enumerate(pts) if k == 0 or p != pts[k - 1]]

    want = {
        int(w.get("id")): vertices(w)
        for w in xml_root.iter("way")
        if any(t.get("k") == "highway" for t in w.iter("tag"))
    }
    for key in ("osm", "pbf"):
        ways = extracts[key].ways
        assert sorted(int(i) for i in ways["osm_id"]) == sorted(want), key
        for i, geom in zip(ways["osm_id"], ways.geometry, strict=True):
            assert np.allclose(shapely.get_coordinates(geom), want[int(i)], atol=1e-7), (key, i)


def test_missing_file_raises_layer_error(tmp_path):
    missing = tmp_path / "nowhere.osm.pbf"
    with pytest.raises(LayerError, match=re.escape(str(missing))):
        read_osm(missing)


def test_truncated_pbf_raises_layer_error(tmp_path):
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(PBF.read_bytes()[:2000])
    with pytest.raises(LayerError, match=re.escape(str(cut)) + ".*could not be read"):
        read_osm(cut)
