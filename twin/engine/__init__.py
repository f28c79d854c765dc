"""The mesoscale spatiotemporal engine: cell-resolved crystals evolving under an operando protocol.

See ``docs/engine.md``. Pure JAX core (:mod:`~twin.engine.model`, :mod:`~twin.engine.dynamics`,
:mod:`~twin.engine.summaries`), host-side geometry (:mod:`~twin.engine.lattice`) and the run loop with
trajectory, checkpoints and sharding at the edge (:mod:`~twin.engine.run`, :mod:`~twin.engine.sharding`).
"""

from twin.engine.dynamics import (
    Drive,
    Engine,
    EngineConfig,
    TwinState,
    describe_error,
    hydrolysis_rate_per_s,
    make_drive,
    make_engine,
    stability_limit_s,
)
from twin.engine.lattice import Geometry, build_geometry, crystal_mask, pack_links, size_in_sites
from twin.engine.model import eta_force, free_energy, site_landscape, site_potentials
from twin.engine.params import MesoscaleParams, block_rescale, mesoscale_from_material, mesoscale_from_table
from twin.engine.summaries import frame_summaries, label_domains, summary_specs

__all__ = [
    "Drive",
    "Engine",
    "EngineConfig",
    "TwinState",
    "describe_error",
    "hydrolysis_rate_per_s",
    "make_drive",
    "make_engine",
    "stability_limit_s",
    "Geometry",
    "build_geometry",
    "crystal_mask",
    "pack_links",
    "size_in_sites",
    "eta_force",
    "free_energy",
    "site_potentials",
    "site_landscape",
    "MesoscaleParams",
    "block_rescale",
    "mesoscale_from_material",
    "mesoscale_from_table",
    "frame_summaries",
    "label_domains",
    "summary_specs",
]
