"""SLD 1.1 twins of the QGIS styles (ditan.pipelines.outputs.qgis_styles), for software other than QGIS."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ditan.maps.style import NODATA_COLOR, NOT_ASSESSABLE_LABEL

SLD = "http://www.opengis.net/sld"
SE = "http://www.opengis.net/se"
OGC = "http://www.opengis.net/ogc"


def _sld(rules: list[tuple[str, ET.Element | None, str, str, float]]) -> str:
    ET.register_namespace("sld", SLD)
    ET.register_namespace("se", SE)
    ET.register_namespace("ogc", OGC)
    root = ET.Element(f"{{{SLD}}}StyledLayerDescriptor", version="1.1.0")
    named = ET.SubElement(root, f"{{{SLD}}}NamedLayer")
    style = ET.SubElement(ET.SubElement(named, f"{{{SLD}}}UserStyle"), f"{{{SE}}}FeatureTypeStyle")
    for title, filt, fill, stroke, opacity in rules:
        rule = ET.SubElement(style, f"{{{SE}}}Rule")
        ET.SubElement(rule, f"{{{SE}}}Name").text = title
        if filt is not None:
            rule.append(filt)
        sym = ET.SubElement(rule, f"{{{SE}}}PolygonSymbolizer")
        f = ET.SubElement(sym, f"{{{SE}}}Fill")
        ET.SubElement(f, f"{{{SE}}}SvgParameter", name="fill").text = fill
        ET.SubElement(f, f"{{{SE}}}SvgParameter", name="fill-opacity").text = f"{opacity:g}"
        s = ET.SubElement(sym, f"{{{SE}}}Stroke")
        ET.SubElement(s, f"{{{SE}}}SvgParameter", name="stroke").text = stroke
    return ET.tostring(root, encoding="unicode", xml_declaration=False)


def _compare(op: str, column: str, value: object) -> ET.Element:
    e = ET.Element(f"{{{OGC}}}{op}")
    ET.SubElement(e, f"{{{OGC}}}PropertyName").text = column
    ET.SubElement(e, f"{{{OGC}}}Literal").text = str(value)
    return e


def graduated(column: str, rules: list[tuple[float, float, str, str]]) -> str:
    out: list[tuple[str, ET.Element | None, str, str, float]] = []
    for lo, hi, label, colour in rules:
        filt = ET.Element(f"{{{OGC}}}Filter")
        both = ET.SubElement(filt, f"{{{OGC}}}And")
        both.append(_compare("PropertyIsGreaterThanOrEqualTo", column, f"{lo:.17g}"))
        both.append(_compare("PropertyIsLessThanOrEqualTo", column, f"{hi:.17g}"))
        out.append((label, filt, colour, "#333333", 1.0))
    nodata = ET.Element(f"{{{OGC}}}Filter")
    isnull = ET.SubElement(nodata, f"{{{OGC}}}PropertyIsNull")
    ET.SubElement(isnull, f"{{{OGC}}}PropertyName").text = column
    out.append((NOT_ASSESSABLE_LABEL, nodata, NODATA_COLOR, "#555555", 1.0))
    return _sld(out)


def categorized(
    column: str, cats: list[tuple[str, str, str]], *, opacity: float, outline: str | None = None
) -> str:
    """A rule per (value, label, colour), drawn as the QML draws it.

    The fill at ``opacity`` (0–1: the QML's alpha ÷ 255), the stroke ``outline`` (default: the
    class's own colour).
    """
    out: list[tuple[str, ET.Element | None, str, str, float]] = []
    for value, label, colour in cats:
        filt = ET.Element(f"{{{OGC}}}Filter")
        filt.append(_compare("PropertyIsEqualTo", column, value))
        out.append((label, filt, colour, outline or colour, opacity))
    return _sld(out)
