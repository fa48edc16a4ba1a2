"""Exchange refinement of a greedy batch of runs (Fedorov 1972, Theory of Optimal Experiments, ch. 3:
swap one point of a design for a candidate while the criterion improves).

Generic over the criterion: ``after_with(others, which)`` returns the expected objective of the batch
``others + [j]`` for each candidate j in ``which`` (lower is better), so each position of the batch is
re-chosen given the other picks. The greedy batch conditions each pick on the earlier ones only; the
exchange lets an early pick be revised once the later ones are known, and fills budget that the greedy
left unspent with a better run.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def exchange_batch(picks: list[int], after_with: Callable, cost: np.ndarray, budget: float, *, batch: int,
                   pool: np.ndarray | None = None, sweeps: int = 2) -> tuple[list[int], float, int]:
    """Improve ``picks`` (candidate indices, costs ``cost`` in FLOPs, total within ``budget``) by single
    swaps, and by one more run while fewer than ``batch``: each move is the best candidate of ``pool``
    (default all) for a position given the other picks, taken when it lowers the expected objective.
    At most ``sweeps`` passes. Returns (picks, expected objective after them, moves taken)."""
    picks = list(picks)
    pool = np.arange(len(cost)) if pool is None else np.asarray(pool, int)
    current, moves = None, 0
    for _ in range(sweeps):
        moved = False
        slots = list(range(len(picks))) + ([len(picks)] if len(picks) < batch else [])
        for k in slots:
            others = picks[:k] + picks[k + 1:]
            room = budget - float(np.sum(cost[others]))
            which = [int(j) for j in pool if j not in others and cost[j] <= room]
            if k < len(picks) and picks[k] not in which:
                which.append(picks[k])
            if not which:
                continue
            after = np.asarray(after_with(others, which), float)
            if k < len(picks):
                current = float(after[which.index(picks[k])])
            elif current is None:
                current = float(after_with(picks[:-1], [picks[-1]])[0]) if picks else np.inf
            i = int(np.argmin(after))
            if after[i] < current and (k == len(picks) or which[i] != picks[k]):
                if k == len(picks):
                    picks.append(which[i])
                else:
                    picks[k] = which[i]
                current, moves, moved = float(after[i]), moves + 1, True
        if not moved:
            break
    return picks, (np.nan if current is None else current), moves
