"""Progress on stderr: lines when stderr is not a terminal, and the sampler's progress out of compiled code."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np

from twin.commands._common import LineProgress, StageProgress, progress
from twin.fit.progress import reporting, stage
from twin.fit.sampler import ensemble_sample


def test_without_a_terminal_progress_is_a_line_per_tenth_with_an_eta(capsys):
    bar = progress(50, "twin run demo", unit="frame")
    assert isinstance(bar, LineProgress)  # pytest's stderr is not a terminal
    with bar:
        for _ in range(50):
            bar.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10
    assert re.fullmatch(r"twin run demo: 10 % \(5/50 frame\), \d+ s elapsed, about \d+ s left", lines[0])
    assert re.fullmatch(r"twin run demo: 100 % \(50/50 frame\), \d+ s elapsed", lines[-1])


def test_quiet_shows_nothing(capsys):
    with progress(10, "x", disable=True) as bar:
        bar.update(10)
    with StageProgress("fit", disable=True) as stages:
        stages("sampling", 5, 10)
    assert capsys.readouterr().err == ""


def test_the_sampler_reports_from_compiled_code_without_changing_its_chain(capsys):
    def log_prob(x):
        return -0.5 * jnp.sum(x**2)

    start = jax.random.normal(jax.random.PRNGKey(0), (8, 2))
    key = jax.random.PRNGKey(1)
    run = jax.jit(lambda s, k: ensemble_sample(log_prob, s, k, 200))
    quiet_chain = np.asarray(run(start, key)[0])
    heard = []
    with reporting(lambda name, done, total: heard.append((name, done, total))):
        stage("least squares")
        chain = np.asarray(jax.block_until_ready(run(start, key)[0]))
    np.testing.assert_array_equal(chain, quiet_chain)  # the same compiled code, the same numbers
    assert heard[0] == ("least squares", 0.0, 0.0)
    steps = [done for name, done, total in heard if name == "sampling"]
    assert max(steps) == 200 and len(steps) == 50  # unordered host callbacks: in order on a CPU, not promised
    with StageProgress("fit") as stages, reporting(stages):
        stage("reading")
        jax.block_until_ready(run(start, key))
        stage("writing")
    err = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"twin fit: reading \(\d+ s\)", err[0])  # without a terminal: a stage when it ends
    assert err[-2].startswith("twin fit: sampling: 100 % (200/200 step)")
    assert re.fullmatch(r"twin fit: writing \(\d+ s\)", err[-1])


def test_a_command_refused_at_its_first_stage_prints_only_its_error(capsys):
    import pytest

    with pytest.raises(ValueError), StageProgress("fit") as stages, reporting(stages):
        stage("reading x.csv")
        raise ValueError("bad file")
    assert capsys.readouterr().err == ""
