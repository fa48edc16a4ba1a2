"""Exceptions. A ``BayesScalingError`` message is one line a user can act on."""


class BayesScalingError(ValueError):
    """Bad input: the message says what is wrong and how to fix it (CLI exit code 2)."""

    def __init__(self, *problems: str):
        self.problems = [p for p in problems if p]
        super().__init__("; ".join(self.problems))


class DiagnosticsError(RuntimeError):
    """Sampler diagnostics failed under ``strict=True`` (CLI exit code 1)."""
