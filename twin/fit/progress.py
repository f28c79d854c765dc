"""Progress of a fit, reported to whoever listens (the command line's bar), from Python and from compiled code.

A fit is a few stages (reading, least squares from several starts, sampling, predictive checks, writing), and
the longest one, the sampler, runs inside one compiled ``lax.scan``. :func:`stage` announces a stage from
Python; :func:`report_step` is called inside the scan and, every ``every`` steps, hands ``(done, total)`` to
the host through :func:`jax.debug.callback` (the values of the computation are unchanged; the callback only
reads the step counter). The listeners are module state set by :func:`reporting`, so the compiled code is the
same with and without a listener (no recompilation, and the compilation cache stays valid), and a fit run
from Python without a listener pays one no-op host call per reported step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["reporting", "stage", "report_step", "REPORTS_PER_RUN"]

#: how many times a compiled loop reports its progress over its whole length
REPORTS_PER_RUN = 50

Listener = Callable[[str, float, float], None]
_listeners: list[Listener] = []


@contextmanager
def reporting(listener: Listener) -> Iterator[None]:
    """Within the block, ``listener(stage, done, total)`` hears every :func:`stage` (with ``done = total = 0``)
    and every step report of a compiled loop."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def stage(name: str) -> None:
    """Announce that the fit enters stage ``name`` (``"least squares from 8 starts"``)."""
    for listener in list(_listeners):
        listener(name, 0.0, 0.0)


def _host(done: Any, total: Any) -> None:
    for listener in list(_listeners):
        listener("sampling", float(done), float(total))


def report_step(step: Any, total: int) -> None:
    """Inside the sampler's compiled loop: report (as stage ``"sampling"``) ``step + 1`` of ``total`` every ``total // REPORTS_PER_RUN`` steps and at
    the last one. ``step`` is the loop's (unbatched) counter."""
    every = max(1, total // REPORTS_PER_RUN)
    done = step + 1
    jax.lax.cond((done % every == 0) | (done == total),
                 lambda: jax.debug.callback(_host, done, jnp.asarray(total)), lambda: None)
