"""Rendering only: maps of the results computed by ``spatial`` (no analysis happens here)."""
