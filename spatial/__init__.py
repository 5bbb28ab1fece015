"""ditan spatial core: computation only (no file-path choices, no printing, no folium)."""

__version__ = "0.1.0"
