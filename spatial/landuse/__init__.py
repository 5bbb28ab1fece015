"""Land-use code tables as data, mapped to one internal set of classes."""

from ditan.spatial.landuse.classes import LANDUSE_CLASSES, classify_tags  # noqa: F401
