"""Self-contained map pages: folium's CDN ``<script>``/``<link>`` tags replaced by the files in ``maps/vendor``.

A map written by ditan must work when opened from disk without internet. folium (0.20) writes
``<script src="https://cdn…">`` and ``<link href="https://cdn…">`` tags; :func:`inline_assets`
replaces each with the vendored file's text (CSS images become ``data:`` URIs), drops the folium
defaults the page does not use (jQuery, Bootstrap, Font Awesome, AwesomeMarkers: ditan's markers
are DivIcons with inline SVG), and raises :class:`OfflineError` for any other external resource, so
a folium upgrade that brings a new CDN link fails loudly instead of silently needing the internet.
The only external URLs a page may keep are the ones the caller allows: the tile template of an
online basemap, when the map has one (``map.tiles``), and links in its attribution.

The vendored files (package, version, licence) are listed in ``maps/vendor/README.md``.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path

from branca.element import Element, MacroElement
from folium.plugins import Fullscreen, MeasureControl
from folium.template import Template

from ditan.maps.display_text import inert_html

__all__ = [
    "OfflineError",
    "asset_text",
    "inline_assets",
    "vendored_files",
    "script_json",
    "PageChrome",
    "Extras",
    "add_tools",
]

VENDOR = Path(__file__).with_name("vendor")

#: The URLs folium 0.20 writes → the vendored file inlined in their place. Leaflet is 1.9.4 (folium
#: asks for 1.9.3; 1.9.4 is its bug-fix release). leaflet.fullscreen ships no minified build and
#: leaflet-measure 2.1.7 no minified CSS on npm: the unminified files stand in for them.
VENDORED: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet.css",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": "Control.FullScreen.js",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": "Control.FullScreen.css",
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js": "leaflet-measure.min.js",
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css": "leaflet-measure.css",
    # branca's StepColormap legend (used by the screening map, not by build_map)
    "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js": "d3.min.js",
}
#: folium defaults no ditan page uses; dropped. (:func:`inline_assets` checks the page calls none of them.)
UNUSED: dict[str, str] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jQuery",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": "bootstrap",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": "bootstrap",
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": "glyphicon",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": "fa-",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": "AwesomeMarkers",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": "awesome-marker",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css": "rotate",
}
#: What betrays a use of a dropped library in the page's own script.
_USES = {"jQuery": re.compile(r"\$\(|\$\.|jQuery"), "bootstrap": re.compile(r"bootstrap\."),
         "AwesomeMarkers": re.compile(r"AwesomeMarkers")}  # fmt: skip

_TAG = re.compile(r"<(script|link)\b([^>]*)>(\s*</script>)?", re.IGNORECASE)
_ATTR = re.compile(r"""\b(src|href)\s*=\s*(["'])(.*?)\2""", re.IGNORECASE)
_OTHER_TAG = re.compile(
    r"""<(img|iframe|source|embed|object|audio|video)\b[^>]*\b(?:src|data)\s*=\s*["']?([^"'\s>]+)""",
    re.I,
)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>", re.IGNORECASE | re.DOTALL)
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^)"']+)\1\s*\)|@import\s+["']([^"']+)""")
_JS_URL = re.compile(
    r"""L\.(?:tileLayer(?:\.wms)?|imageOverlay|videoOverlay)\(\s*["']([^"']+)|fetch\(\s*["']([^"']+)"""
)
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}


class OfflineError(ValueError):
    """The page needs a file from the internet that is not vendored in maps/vendor."""


@functools.cache
def asset_text(name: str) -> str:
    """Text of a vendored file (JS or CSS; CSS with its images as data: URIs)."""
    text = (VENDOR / name).read_text(encoding="utf-8")
    if name.endswith(".css"):
        text = _CSS_URL.sub(lambda m: _data_url(m, name), text)
    bad = "</style" if name.endswith(".css") else "</script"
    if bad in text.lower():
        raise OfflineError(f"vendored {name} contains {bad}> and cannot be inlined")
    return text


def _data_url(m: re.Match, css: str) -> str:
    """A CSS url(…) of a vendored image as a data: URI (fragments such as #default#VML stay)."""
    if m.group(3) is not None:
        raise OfflineError(f"vendored {css} imports {m.group(3)}; vendor that file too")
    ref = m.group(2).strip()
    if ref.startswith(("data:", "#")):
        return m.group(0)
    path = VENDOR / Path(ref).name
    if "//" in ref or not path.is_file() or path.suffix not in _MIME:
        raise OfflineError(f"vendored {css} references {ref}, which is not in {VENDOR}")
    return f"url(data:{_MIME[path.suffix]};base64,{base64.b64encode(path.read_bytes()).decode('ascii')})"


def _external(url: str) -> bool:
    return bool(re.match(r"(?:[a-z][a-z0-9+.-]*:)?//", url, re.IGNORECASE)) and not url.startswith(
        "data:"
    )


def inline_assets(page: str, allow: Iterable[str] = ()) -> str:
    """``page`` with every ``<script src>`` / stylesheet ``<link>`` inlined from maps/vendor.

    ``allow``: URL prefixes the page may still load from the internet (an online basemap's tile
    template). Raises OfflineError for a script, stylesheet, image, CSS ``url()`` or tile/fetch URL
    that is neither vendored nor allowed, and for a page that calls a library it drops.
    """
    allowed = tuple(allow)
    dropped: set[str] = set()

    def replace(m: re.Match) -> str:
        attr = _ATTR.search(m.group(2))
        if attr is None:  # an inline <script> of the page itself
            return m.group(0)
        url = attr.group(3)
        if m.group(1).lower() == "link" and "stylesheet" not in m.group(2).lower():
            if _external(url) and not url.startswith(allowed):
                raise OfflineError(
                    f"the map page links {url}, which is not vendored (maps/offline.py)"
                )
            return m.group(0)
        if url in UNUSED:
            dropped.add(UNUSED[url])
            return ""
        if url not in VENDORED:
            raise OfflineError(
                f"the map page loads {url}, which is not vendored; add it to maps/vendor and "
                "ditan.maps.offline.VENDORED (or UNUSED if the page does not need it)"
            )
        if m.group(1).lower() == "script":
            return f"<script>{asset_text(VENDORED[url])}</script>"
        return f"<style>{asset_text(VENDORED[url])}</style>"

    out = _TAG.sub(replace, page)
    _check_rest(out, page, allowed, dropped)
    return out


def _check_rest(out: str, page: str, allowed: tuple[str, ...], dropped: set[str]) -> None:
    """Other external resources (images, CSS url(), tile and fetch URLs) of the page's own markup and script."""
    refs = [m.group(2) for m in _OTHER_TAG.finditer(page)]
    for css in _STYLE.findall(page):
        refs += [m.group(2) or m.group(3) for m in _CSS_URL.finditer(css)]
    refs += [m.group(1) or m.group(2) for m in _JS_URL.finditer(page)]
    bad = sorted({r for r in refs if _external(r) and not r.startswith(allowed)})
    if bad:
        raise OfflineError(
            f"the map page loads {', '.join(bad)} from the internet; it is not vendored (maps/offline.py)"
        )
    scripts = "".join(re.findall(r"<script>(.*?)</script>", page, re.DOTALL))
    for lib in sorted(dropped & set(_USES)):
        if _USES[lib].search(scripts):
            raise OfflineError(
                f"the map page uses {lib}, which maps/offline.py drops as unused; vendor it"
            )
    if re.search(
        r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", out, re.IGNORECASE
    ):
        raise OfflineError("an external <script>/<link> is left in the map page")


def vendored_files() -> list[Path]:
    """Every vendored file the pages use (for tests and the licence listing)."""
    return sorted({VENDOR / n for n in VENDORED.values()})


def script_json(value: object) -> str:
    """JSON to embed in a <script>: no '<' (so no '</script>'), key order kept.

    A "{" before "{", "%" or "#" (only ever inside a string: JSON's own braces are followed by a quote
    or a brace's closing) is written ``\\u007b``, so the JSON holds no Jinja tag when branca compiles
    the element's output (see :func:`ditan.maps.display_text.inert_html`).
    """
    text = json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")
    return re.sub(r"\{(?=[{%#])", r"\\u007b", text)


class PageChrome(MacroElement):
    """ditan's own page controls: the unit-colouring selector with its legend, layer-control swatches, attribution.

    Its JS and CSS (maps/vendor/ditan-map.*) are inlined; ``body`` (the SVG hatch of no-data units)
    goes in the page body. ``cfg`` is what ``ditanMap`` takes (schemes, styles, swatches, legends);
    ``toggled`` are the layers whose legend shows only while they are on. The attribution is added
    with ``attributionControl.addAttribution`` so it shows with or without a tile layer; it is
    HTML-escaped, so its JSON string holds no markup or "</script>".
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}<style>{{ this.css }}</style><script>{{ this.js }}</script>{% endmacro %}
        {% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}
        {% macro script(this, kwargs) %}
        if ({{ this._parent.get_name() }}.attributionControl) {
            {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.attribution }});
        }
        ditanMap({{ this._parent.get_name() }}, {{ this.units.get_name() }}, {{ this.control.get_name() }}, {{ this.cfg }},
                 [{% for g in this.toggled %}{{ g.get_name() }}{{ "," if not loop.last }}{% endfor %}]);
        {% endmacro %}
        """
    )

    def __init__(
        self,
        units: Element,
        control: Element,
        cfg: dict,
        toggled: list,
        *,
        attribution: str,
        css: str,
        body: str,
    ):
        super().__init__()
        self._name = "DitanChrome"
        self.units, self.control, self.toggled = units, control, toggled
        self.cfg = script_json(cfg)
        self.js = asset_text("ditan-map.js")
        self.css = asset_text("ditan-map.css") + css
        self.body = body
        self.attribution = json.dumps(inert_html(attribution), ensure_ascii=False)


class Extras(MacroElement):
    """Legend box (hatched no-data swatch, road classes) and data attribution, for maps other than build_map's.

    The attribution is added with ``attributionControl.addAttribution`` so it shows with or
    without a tile layer; it is HTML-escaped, so its JSON string holds no markup or "</script>".
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
        {% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}
        {% macro script(this, kwargs) %}
        if ({{ this._parent.get_name() }}.attributionControl) {
            {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.attribution }});
        }
        {% endmacro %}
        """
    )

    def __init__(self, road_classes: list[str], attribution: str) -> None:
        from ditan.maps import legend as lg
        from ditan.maps import style as st

        super().__init__()
        self._name = "DitanExtras"
        rows = [
            f'<div><span class="ditan-sw" style="background:{lg.NODATA_HATCH}"></span>{inert_html(st.NODATA_LABEL)}</div>'
        ]
        rows += ["<div><b>道路 Roads</b></div>"] if road_classes else []
        for cls in road_classes:
            s = st.ROAD_STYLE.get(cls, st.OTHER_ROAD_STYLE)
            name = inert_html(st.bilingual(st.ROAD_CLASSES.get(cls, st.OTHER_ROAD)))
            rows.append(f"<div>{lg.line_swatch(str(s['color']), float(s['weight']))}{name}</div>")
        self.body = (
            lg.HATCH_SVG + '<div class="ditan-legend ditan-fixed">' + "".join(rows) + "</div>"
        )
        self.css = asset_text("ditan-map.css") + lg.NODATA_CSS
        self.attribution = json.dumps(inert_html(attribution), ensure_ascii=False)


def add_tools(m: Element) -> None:
    """Full-screen button and distance/area measuring tool (both vendored: leaflet.fullscreen, leaflet-measure)."""
    Fullscreen(
        position="topleft", title="全屏 Full screen", title_cancel="退出全屏 Exit full screen"
    ).add_to(m)
    MeasureControl(
        position="topleft",
        primary_length_unit="meters",
        secondary_length_unit="kilometers",
        primary_area_unit="sqmeters",
        secondary_area_unit="hectares",
    ).add_to(m)
