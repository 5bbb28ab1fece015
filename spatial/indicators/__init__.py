"""Indicator families: pure functions, StudyArea parts in, frames indexed by unit id out."""
