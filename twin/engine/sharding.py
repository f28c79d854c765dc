"""Sharding one lattice across devices (``jax.sharding``), and the multi-host launch.

The lattice is split into slabs along x (the first spatial axis, the slowest in memory): every per-site leaf of
:class:`~twin.engine.dynamics.TwinState` gets ``NamedSharding(mesh, P(..., "x", None, None))`` and the
compiled chunk runs under GSPMD. The stencil reads neighbours from a copy padded by one plane
(:func:`twin.engine.model.halo`); across a slab face XLA turns the pad into a ``collective-permute`` of one
plane per step, and the counter-based noise depends on the global site index only, so a sharded run gives
bit-identical fields (float sums in the summaries are reduced in another order; ``test_engine_run.py``
checks 8 CPU devices, and 2 processes × 4 devices, against one).

Multi-host (several GPUs per node, several nodes): start one process per host with
``jax.distributed.initialize(coordinator_address, num_processes, process_id)`` before anything else touches JAX
(``twin run --distributed``; ``docs/engine.md`` has launch examples); ``jax.devices()`` then lists every device
of every host and :func:`lattice_mesh` builds a mesh over all of them.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["lattice_mesh", "shard_state", "can_shard"]


def lattice_mesh(devices=None) -> Mesh:
    """A one-axis mesh named ``"x"`` over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), ("x",))


def can_shard(site_shape: tuple[int, ...], n_devices: int) -> bool:
    """Whether a single crystal lattice of ``site_shape`` splits evenly into ``n_devices`` x-slabs."""
    return n_devices > 1 and len(site_shape) == 3 and site_shape[0] % n_devices == 0


def shard_state(state, mesh: Mesh):
    """Place every per-site leaf (rank ≥ 3) in x-slabs over ``mesh``; scalars are replicated."""

    def place(leaf):
        if leaf is None:
            return None
        if leaf.ndim >= 3:
            spec = PartitionSpec(*([None] * (leaf.ndim - 3)), "x", None, None)
        else:
            spec = PartitionSpec()
        return jax.device_put(leaf, NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(place, state)
