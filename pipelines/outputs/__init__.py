"""Outputs: the staged output folder, CSV / XLSX / GeoPackage / JSON writers, the PostGIS results."""
