"""The compute step every job shares: every indicator family for every unit, and what the data can support."""
