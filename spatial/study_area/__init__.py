"""The study area: its model, the layers derived from OSM, the units, stations merged, the data-quality ledger."""
