"""Observed runs: loading, units and validation."""
