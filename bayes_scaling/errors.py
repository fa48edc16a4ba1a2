"""Exceptions. A ``BayesScalingError`` message is one line a user can act on."""


class BayesScalingError(ValueError):
    """Bad input: the message says what is wrong and how to fix it (CLI exit code 2).

    ``quantity`` (a symbol of :mod:`bayes_scaling.quantities`, e.g. ``"N"``) names the quantity at
    fault, so the command line can point at its flag; ``column=True`` when it was read from a runs
    file column rather than given as a value."""

    def __init__(self, *problems: str, quantity: str | None = None, column: bool = False):
        self.problems = [p for p in problems if p]
        self.quantity = quantity
        self.column = column
        super().__init__("; ".join(self.problems))


class DiagnosticsError(RuntimeError):
    """Sampler diagnostics failed under ``strict=True`` (CLI exit code 1)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised by the command line's handler so that work stops the way Ctrl-C stops it:
    temporary files removed, nothing half-written (CLI exit code 143 = 128 + SIGTERM)."""


#: Interrupts the command line received (set by its signal handlers, cleared once one is handled).
#: Python drops an exception raised inside a finalizer or weakref callback ("Exception ignored in
#: ..."), and numba runs such callbacks while it compiles, so a Ctrl-C can be lost there; the
#: checkpoints below raise it again.
RECEIVED_INTERRUPTS: list[type[KeyboardInterrupt]] = []


def raise_received_interrupt() -> None:
    """Raise the interrupt the command line received if it was lost on the way; a no-op otherwise
    (and always in library use, where no handler records interrupts)."""
    if RECEIVED_INTERRUPTS:
        raise RECEIVED_INTERRUPTS[-1]()
