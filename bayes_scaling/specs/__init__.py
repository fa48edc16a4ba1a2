"""Priors as data: declarative law + prior specs (TOML), parsed, never executed."""
