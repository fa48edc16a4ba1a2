"""Queries on a fitted posterior: pure functions (FitResult, request) -> xarray with chain/draw kept."""
