"""The computing engine: walking network, allocation to units, residential origins, geometry, carriageways, service areas."""
