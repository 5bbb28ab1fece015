"""ditan 低碳 — spatial indicators of low-carbon and green communities for Chinese urban planning.

The repository keeps the design's folders at its top (``spatial/``, ``maps/``, ``pipelines/``); the
distribution installs them under this package, as ``ditan.spatial``, ``ditan.maps`` and ``ditan.pipelines``,
so that nothing generic lands at the top of site-packages. In a source checkout the same names resolve to
the folders beside this one.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

_checkout = Path(__file__).resolve().parent.parent
if not (Path(__file__).resolve().parent / "spatial").is_dir() and (_checkout / "spatial" / "__init__.py").is_file():
    __path__.append(str(_checkout))  # a source checkout: ditan.spatial is ../spatial
