"""The `twin` command caches compiled code across runs (JAX's persistent compilation cache), with an off switch.

Nothing is timed: the tests check where the cache goes, that the CLI sets it at start-up (in a fresh process, so
that this session's JAX configuration is left alone) and that a compilation lands there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twin import cli

_CHILD = """\
import contextlib, io, json, sys
import jax, jax.numpy as jnp
from twin.cli import main

with contextlib.redirect_stdout(io.StringIO()):
    code = main(["materials"])
cache = jax.config.jax_compilation_cache_dir
settings = {"code": code, "dir": cache,
            "min_compile_time_s": jax.config.jax_persistent_cache_min_compile_time_secs,
            "min_entry_size": jax.config.jax_persistent_cache_min_entry_size_bytes}
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # so that this tiny function is stored
jax.block_until_ready(jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)(jnp.arange(17.0)))
print(json.dumps(settings))
"""


def _child(tmp_path: Path, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items()
            if k not in ("TWIN_CACHE_DIR", "TWIN_NO_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR", "XDG_CACHE_HOME")}
    base["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    done = subprocess.run([sys.executable, "-c", _CHILD], env={**base, **env}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_where_the_cache_goes(tmp_path):
    assert cli.compilation_cache_dir({"TWIN_CACHE_DIR": str(tmp_path)}) == tmp_path / "jax"
    assert cli.compilation_cache_dir({"TWIN_NO_COMPILATION_CACHE": "1", "TWIN_CACHE_DIR": str(tmp_path)}) is None
    assert cli.compilation_cache_dir({"TWIN_NO_COMPILATION_CACHE": "0", "TWIN_CACHE_DIR": str(tmp_path)}) == (
        tmp_path / "jax")
    if sys.platform.startswith("linux"):
        assert cli.compilation_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "operando-mof-twin" / "jax"
        assert cli.compilation_cache_dir({}) == Path.home() / ".cache" / "operando-mof-twin" / "jax"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG cache folder")
def test_cli_sets_the_cache_in_the_user_cache_folder(tmp_path):
    got = _child(tmp_path)
    cache = tmp_path / "xdg" / "operando-mof-twin" / "jax"
    assert got["code"] == 0 and got["dir"] == str(cache)
    assert got["min_compile_time_s"] == cli.CACHE_MIN_COMPILE_TIME_S and got["min_entry_size"] == -1
    assert any(cache.iterdir())  # the compiled function was stored


def test_twin_cache_dir_moves_it(tmp_path):
    got = _child(tmp_path, TWIN_CACHE_DIR=str(tmp_path / "mine"))
    assert got["dir"] == str(tmp_path / "mine" / "jax") and any((tmp_path / "mine" / "jax").iterdir())
    assert not (tmp_path / "xdg").exists()


def test_off_switch(tmp_path):
    got = _child(tmp_path, TWIN_NO_COMPILATION_CACHE="1", TWIN_CACHE_DIR=str(tmp_path / "mine"))
    assert got["code"] == 0 and got["dir"] is None
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "mine").exists()


def test_help_documents_it(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "TWIN_NO_COMPILATION_CACHE=1" in out and "TWIN_CACHE_DIR" in out and "~/.cache/operando-mof-twin/jax" in out
