"""The jobs: run, screen, land-sale precheck, map annex, scenarios, batches (serial and on a dask cluster)."""
