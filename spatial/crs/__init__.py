"""Coordinate systems: the metric CRS of a study (CGCS2000 Gauss–Krüger or UTM), GCJ-02 / BD-09, web-map offsets."""
