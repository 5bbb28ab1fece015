"""XML inputs with entity tricks: external entities (XXE) and "billion laughs" expansion.

An .osm file and a KML layer whose DOCTYPE declares a file entity (``file:///etc/passwd``) and nine levels of
tenfold entity expansion (10⁹ copies of "lol") must be refused at once, in one line naming the file, with
no file read and no memory spent on the expansion.
"""

from __future__ import annotations

import resource
import time

import pytest

from ditan.spatial.errors import LayerError
from ditan.spatial.io.osm import read_osm
from ditan.spatial.io.vector import read_vector

ENTITIES = "\n".join(
    ['<!ENTITY lol "lol">']
    + [
        f'<!ENTITY lol{k} "{("&lol" + (str(k - 1) if k > 2 else "") + ";") * 10}">'
        for k in range(2, 10)
    ]
    + ['<!ENTITY xxe SYSTEM "file:///etc/passwd">']
)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _refused_quickly(read, path) -> str:
    before, t0 = _peak_mb(), time.perf_counter()
    with pytest.raises(LayerError) as info:
        read(path)
    assert time.perf_counter() - t0 < 5
    assert _peak_mb() - before < 200  # 10⁹ × "lol" would be 3 GB
    message = str(info.value)
    assert "root:" not in message and "\n" not in message  # nothing of /etc/passwd, one line
    return message


def test_osm_file_with_entities_is_refused(tmp_path):
    path = tmp_path / "map.osm"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE osm [\n{ENTITIES}\n]>\n<osm version="0.6">\n'
        '<node id="1" lat="39.995" lon="116.305"><tag k="name" v="&lol9;"/></node>\n'
        '<node id="2" lat="39.996" lon="116.305"><tag k="name" v="&xxe;"/></node>\n</osm>\n',
        encoding="utf-8",
    )
    assert "map.osm" in _refused_quickly(read_osm, path)


def test_kml_layer_with_entities_is_refused(tmp_path):
    path = tmp_path / "pois.kml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE kml [\n{ENTITIES}\n]>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>\n'
        "<Placemark><name>&xxe;</name><Point><coordinates>116.305,39.995</coordinates></Point></Placemark>\n"
        "<Placemark><name>&lol9;</name><Point><coordinates>116.306,39.995</coordinates></Point></Placemark>\n"
        "</Document></kml>\n",
        encoding="utf-8",
    )
    message = _refused_quickly(lambda p: read_vector(p, layer_name="pois"), path)
    assert "pois.kml" in message
