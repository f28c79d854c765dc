r"""Time stepping: overdamped Langevin for η (model A) and conserved guest transport (model B).

.. math::
    \eta_i(t+\Delta t) = \eta_i + \Delta t\,\frac{\nu_0}{RT}\Big(-\frac{\partial F}{\partial \eta_i}\Big)
                         + \sqrt{2\nu_0\Delta t}\;\xi_i,
    \qquad n_i(t+\Delta t) = n_i + \Delta t \sum_j J_{j\to i}

(explicit Euler–Maruyama; the mobility Γ = ν₀/RT and the η diffusion constant ν₀ obey the Einstein relation,
so a site samples exp(−F/RT) at equilibrium; C. W. Gardiner, *Handbook of Stochastic Methods*, §4.3 and §6).
Forces and fluxes come from :mod:`twin.engine.model`.

Stability (stated and enforced by :func:`stability_limit_s`): the explicit scheme is monotone and stable for a
site whose free energy has curvature at most κ when Δt·Γ·κ ≤ 1. The curvature of the double well on [0, 1]
is bounded by |Ω''| ≤ 6|ΔΩ| + 2W, the coupling adds at most 4ΣJ_d (largest eigenvalue of the weighted
graph Laplacian) and the coherency term B (eigenvalues of B(1 − 11ᵀ/N) are 0 and B), so
Δt_η = RT_min / [ν₀ (6 max|ΔΩ_i| + 2W + 4ΣJ_d + B)], with max|ΔΩ_i| including the surface term of a site with
every face exposed and the defect shift. The explicit (FTCS) diffusion
step is stable for Δt_n = 1 / [2 D_max Σ_d a_d⁻²] (von Neumann analysis; W. H. Press et al., *Numerical
Recipes*, 3rd ed., §20.2). A requested Δt above min(Δt_η, Δt_n) raises :class:`~twin.errors.SimulationError`.

Slow damage. Fracture (a link breaks where J_d/2 (η_i − η_j)² exceeds the cohesion) is applied every step;
hydrolysis (intact sites become defective at k = A exp(−E_a/RT) RH^m) at the end of every chunk, with the
hazard Σ_steps k Δt of the chunk and one counter-based draw per site (:func:`hydrolysis_rate_per_s`). Both only
compile in when the material has them (finite cohesion, A > 0), like the coherency term (B > 0).

Conditions are evaluated at every step inside the compiled loop from the protocol table
(:func:`twin.protocol.conditions_at`); the per-step thermodynamic drive (Ω of each phase, fugacities) of a
chunk is computed in one batch before the ``lax.scan`` over the lattice updates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, UInt8
from scipy import constants as sc

from twin.conditions import Conditions
from twin.engine import model
from twin.engine.lattice import DEFECT_BIT, DIRECTIONS, Geometry
from twin.engine.params import MesoscaleParams
from twin.errors import SimulationError
from twin.protocol import ProtocolTable, conditions_at
from twin.thermo import ThermoParams, host_barrier_kj_mol, host_free_energy_kj_mol, phase_potentials
from twin.thermo.eos import fugacity_Pa
from twin.thermo.osmotic import PV_KJ_MOL_PER_PA_A3, guest_pressures_Pa, langmuir_affinity_per_Pa

__all__ = [
    "TwinState",
    "Drive",
    "EngineConfig",
    "Engine",
    "StepCoefficients",
    "step_coefficients",
    "make_engine",
    "stability_limit_s",
    "hydrolysis_rate_per_s",
    "ERROR_NAN",
    "ERROR_ETA_RANGE",
    "ERROR_LOADING",
    "describe_error",
]

R_KJ_MOL_K = sc.R / 1000.0
ERROR_NAN = 1
ERROR_ETA_RANGE = 2
ERROR_LOADING = 4
ETA_LIMITS = (-1.0, 2.0)


def describe_error(code: int) -> str:
    """Human-readable causes of an error code (bits of :data:`ERROR_NAN` …)."""
    causes = []
    if code & ERROR_NAN:
        causes.append("NaN or infinity in the fields")
    if code & ERROR_ETA_RANGE:
        causes.append(f"order parameter eta left [{ETA_LIMITS[0]}, {ETA_LIMITS[1]}]")
    if code & ERROR_LOADING:
        causes.append("negative guest loading")
    return "; ".join(causes) or "no error"


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class TwinState:
    """State of one crystal (or, with a leading axis on every leaf, of a batch of crystals/replicas).

    Attributes:
        eta: breathing order parameter (0 closed, 1 open), (nx, ny, nz).
        links: packed site bits (links, inside, defect; :mod:`twin.engine.lattice`), uint8, (nx, ny, nz).
        loading: conserved loading of the transported guest [molecules per site cell], (nx, ny, nz), or
            ``None`` in the fast-adsorption limit.
        key: two uint32 words seeding the counter-based noise, (2,).
        step: number of steps taken, int32 (time = step · dt).
        error: error bits (:func:`describe_error`), int32, set on device and read by the host between chunks.
    """

    eta: Float[Array, "nx ny nz"]
    links: UInt8[Array, "nx ny nz"]
    loading: Float[Array, "nx ny nz"] | None
    key: Array
    step: Array
    error: Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Drive:
    """Thermodynamic drive of one step, from the conditions (all per site cell, float).

    Attributes:
        omega: Ω of each phase at the gas fugacities [kJ/mol], (n_phases,).
        host_pv: F_host + p·V of each phase [kJ/mol], (n_phases,) (Ω without adsorption).
        rt: RT [kJ/mol].
        log_f_gas: ln(f/Pa) of the transported guest (−80 when absent).
        log_k: ln(K/Pa⁻¹) of the transported guest in each phase at T, (n_phases,).
        n_max: capacity of each phase for the transported guest, (n_phases,).
        barrier: W(T) of the double well [kJ/mol per site cell] (:func:`twin.thermo.host_barrier_kj_mol`).
    """

    omega: Array
    host_pv: Array
    rt: Array
    log_f_gas: Array
    log_k: Array
    n_max: Array
    barrier: Array


@dataclass(frozen=True)
class EngineConfig:
    """Static settings of the engine (hashable; changing one recompiles).

    Attributes:
        dt_s: time step [s].
        noise: thermal noise on η.
        guest_diffusion: transport the guest ``transported_guest`` (model B) instead of fast adsorption.
        transported_guest: index of the transported guest in ``ThermoParams.guests``.
        gas_exchange: with transport, exposed faces exchange with the gas (False: closed crystal).
        eta_dynamics: evolve η (False freezes it, e.g. to study transport in one phase).
        dtype: float dtype of the fields.
    """

    dt_s: float
    noise: bool = True
    guest_diffusion: bool = False
    transported_guest: int = 0
    gas_exchange: bool = True
    eta_dynamics: bool = True
    dtype: str = "float32"


def make_drive(thermo: ThermoParams, conditions: Conditions, guest: int, dtype) -> Drive:
    """Per-step drive from one set of conditions (pure; ``vmap`` over a batch of conditions)."""
    t = jnp.asarray(conditions.temperature_K, dtype)
    omega = phase_potentials(thermo, conditions).astype(dtype)
    p = guest_pressures_Pa(thermo, conditions)
    p_total = jnp.sum(p)
    host_pv = (host_free_energy_kj_mol(thermo, t) + p_total * thermo.volume_A3 * PV_KJ_MOL_PER_PA_A3).astype(dtype)
    f = fugacity_Pa(t, p, thermo.critical_temperature_K, thermo.critical_pressure_Pa, thermo.acentric_factor)
    f_g = f[guest]
    log_f = jnp.where(f_g > 0.0, jnp.log(jnp.where(f_g > 0.0, f_g, 1.0)), -80.0).astype(dtype)
    log_k = jnp.log(langmuir_affinity_per_Pa(thermo.log_k_ref[:, guest], thermo.enthalpy_kj_mol[:, guest], t,
                                             thermo.reference_temperature_K)).astype(dtype)
    return Drive(omega=omega, host_pv=host_pv, rt=(R_KJ_MOL_K * t).astype(dtype), log_f_gas=log_f, log_k=log_k,
                 n_max=thermo.n_max[:, guest].astype(dtype), barrier=host_barrier_kj_mol(thermo, t).astype(dtype))


@partial(jax.jit, static_argnames=("guests",))
def _sampled_drive(thermo: ThermoParams, table: ProtocolTable, times_s, guests: tuple[str, ...]):
    """Ω of each phase and W at each sample time in one compiled call (op by op it costs seconds)."""
    table = replace(table, guests=guests)
    conds = jax.vmap(lambda t: conditions_at(table, t))(times_s)
    omega = jax.vmap(lambda c: phase_potentials(thermo, c))(conds)
    return omega, jax.vmap(lambda c: host_barrier_kj_mol(thermo, c.temperature_K))(conds)


def stability_limit_s(thermo: ThermoParams, meso: MesoscaleParams, geometry: Geometry, table: ProtocolTable,
                      guest_diffusion: bool, eta_dynamics: bool = True) -> tuple[float, str]:
    """Largest stable time step [s] and which limit sets it (formulas in the module docstring).

    ΔΩ is sampled at every breakpoint of the protocol and 16 points inside each interval (host, float64).
    """
    th = thermo.astype(jnp.float64) if jax.config.jax_enable_x64 else thermo
    times = np.asarray(table.time_s, dtype=np.float64)
    samples = np.unique(np.concatenate([times] + [np.linspace(a, b, 18) for a, b in zip(times[:-1], times[1:])]))
    omega, barrier = _sampled_drive(th, replace(table.astype(jnp.float32), guests=()), jnp.asarray(samples, jnp.float32),
                                    tuple(table.guests))
    omega = np.asarray(omega, dtype=np.float64)
    b3 = float(geometry.block) ** 3
    d_omega = float(np.max(np.abs(omega[:, -1] - omega[:, 0]))) * b3
    gamma = np.asarray(meso.surface_energy_kj_mol, dtype=np.float64)
    delta = np.asarray(meso.defect_shift_kj_mol, dtype=np.float64)
    weight = np.abs(np.asarray(meso.face_weight, dtype=np.float64))
    faces = 2.0 * float(np.sum(weight))  # a site with every face exposed (a crack can isolate one)
    d_omega += faces * abs(gamma[-1] - gamma[0]) + abs(delta[-1] - delta[0])
    w = float(np.max(np.asarray(barrier))) * b3
    j_sum = float(np.sum(np.asarray(meso.coupling_kj_mol, dtype=np.float64)))
    rt_min = R_KJ_MOL_K * float(np.min(np.asarray(table.temperature_K)))
    nu = float(meso.rate_prefactor_per_s)
    coherency = float(meso.coherency_kj_mol)
    curvature = 6.0 * d_omega + 2.0 * w + 4.0 * j_sum + coherency
    dt_eta = rt_min / (nu * curvature)
    if not eta_dynamics:
        dt_eta = float("inf")
    limit, reason = dt_eta, (f"eta relaxation: RT_min/[nu0 (6 max|dOmega| + 2W + 4 sum J + B)] = {rt_min:.4g}/[{nu:.4g}"
                             f" x {curvature:.4g}] s")
    if guest_diffusion:
        d_max = float(np.max(np.asarray(meso.diffusivity_A2_s, dtype=np.float64)))
        inv_a2 = sum(1.0 / a**2 for a in geometry.spacing_A)
        dt_n = 1.0 / (2.0 * d_max * inv_a2)
        if dt_n < limit:
            limit, reason = dt_n, f"guest diffusion: 1/(2 D_max sum a^-2) with D_max = {d_max:.4g} A2/s"
    return limit, reason


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class StepCoefficients:
    """Scalars of one step, derived from its :class:`Drive` for a whole chunk before the ``lax.scan``.

    Inside the fused site loop XLA evaluates a scalar expression at every site (an ``exp`` of ln K, a
    division by RT, the key hash of the noise): computing them here, once per step, is what keeps the loop
    at a few arithmetic operations per site.

    Attributes:
        eta_rate: Δt ν₀/RT [mol/kJ]. noise_amplitude: √(2ν₀Δt).
        d_omega: b³(Ω_o − Ω_c) at the gas fugacity (fast adsorption) [kJ/mol per site].
        d_host_pv: b³ (F_host + pV)_o − (F_host + pV)_c [kJ/mol per site] (Ω without adsorption).
        barrier: b³ W(T) [kJ/mol per site].
        ads_scale: b³ RT N_p of the transported guest, (n_phases,) [kJ/mol per site].
        affinity_ratio: K_c/K_o of the transported guest. log_affinity: ln(K_o/Pa⁻¹).
        n_max: N_p, (n_phases,).
        log_f_gas: ln(f_gas/Pa). gas_mobility: N_p θ_p(1 − θ_p) at the gas fugacity, (n_phases,).
        key1, key2: the step's noise keys (:func:`twin.engine.model.step_keys`), uint32; one pair per crystal
            in a batch.
    """

    eta_rate: Array
    noise_amplitude: Array
    d_omega: Array
    d_host_pv: Array
    barrier: Array
    ads_scale: Array
    affinity_ratio: Array
    log_affinity: Array
    n_max: Array
    log_f_gas: Array
    gas_mobility: Array
    key1: Array
    key2: Array


@dataclass(frozen=True)
class _Spec:
    """Static part of an engine (hashable): equal specs share one compiled chunk across engines."""

    config: EngineConfig
    periodic: bool
    spacing_A: tuple[float, float, float]
    block_volume: float
    batched: bool
    fracture: bool
    guests: tuple[str, ...]
    coherent: bool = False
    hydrolysis: bool = False


def step_coefficients(drive: Drive, meso: MesoscaleParams, config: EngineConfig, block_volume: float,
                      key1, key2) -> StepCoefficients:
    """The :class:`StepCoefficients` of one step (pure; ``vmap`` over the steps of a chunk)."""
    dtype = jnp.dtype(config.dtype)
    dt = jnp.asarray(config.dt_s, dtype)
    nu = meso.rate_prefactor_per_s.astype(dtype)
    b3 = jnp.asarray(block_volume, dtype)
    theta_gas = jax.nn.sigmoid(drive.log_k + drive.log_f_gas)
    return StepCoefficients(
        eta_rate=dt * nu / drive.rt,
        noise_amplitude=jnp.sqrt(2.0 * nu * dt),
        d_omega=b3 * (drive.omega[-1] - drive.omega[0]),
        d_host_pv=b3 * (drive.host_pv[-1] - drive.host_pv[0]),
        barrier=b3 * drive.barrier,
        ads_scale=b3 * drive.rt * drive.n_max,
        affinity_ratio=jnp.exp(drive.log_k[0] - drive.log_k[-1]),
        log_affinity=drive.log_k[-1],
        n_max=drive.n_max,
        log_f_gas=drive.log_f_gas,
        gas_mobility=drive.n_max * theta_gas * (1.0 - theta_gas),
        key1=key1,
        key2=key2,
    )


def _update(meso: MesoscaleParams, spec: _Spec, state: TwinState, c: StepCoefficients) -> TwinState:
    """One step of one crystal from precomputed coefficients (the body of every compiled loop)."""
    cfg = spec.config
    dt_t = jnp.dtype(cfg.dtype)
    # tie the links to η: otherwise XLA hoists every float derived from them (link bits, surface and defect
    # terms) out of the time loop and reads ~40 bytes per site per step instead of the one link byte
    eta, links = jax.lax.optimization_barrier((state.eta, state.links))
    loading = state.loading
    inside = model.inside(links, dt_t)
    gamma = meso.surface_energy_kj_mol.astype(dt_t)
    delta = meso.defect_shift_kj_mol.astype(dt_t)
    # surface and defect terms of Ω_o,i − Ω_c,i (model.site_potentials, as a difference)
    local = (model.surface_term(links, gamma[-1] - gamma[0], meso.face_weight.astype(dt_t), dt_t)
             + (delta[-1] - delta[0]) * model.defect(links, dt_t))
    need_halo = cfg.eta_dynamics or spec.fracture or cfg.guest_diffusion
    eta_halo = model.halo(eta, spec.periodic) if need_halo else None
    if cfg.guest_diffusion:
        # the local-isotherm fields on the halo'd grid (from the halos of η and n), so that the stencil reads
        # each neighbour's value as an offset slice; computed inside a conditional (never false, NaN included;
        # its predicate is not batched, so it stays one under vmap), which XLA cannot fuse into the stencil's
        # seven offset reads of each field, where it would recompute them (XLA on CPU drops optimisation
        # barriers before fusion)
        x_halo, *transport_fields = jax.lax.cond(~(c.eta_rate < 0.0), _guest_fields, _no_guest_fields,
                                                 model.halo(loading, spec.periodic), eta_halo, c)
        ads = model.adsorption_term(model.neighbour(x_halo, 0, 0), c.affinity_ratio, c.ads_scale)
        d_omega = c.d_host_pv - ads + local
    else:
        d_omega = c.d_omega + local
    new_eta = eta
    coupling = meso.coupling_kj_mol.astype(dt_t)
    if cfg.eta_dynamics:
        coherency = meso.coherency_kj_mol.astype(dt_t) if spec.coherent else None
        force = model.eta_force(eta, links, 0.0, d_omega, c.barrier, coupling, spec.periodic, eta_halo, coherency)
        new_eta = eta + c.eta_rate * force
        if cfg.noise:
            xi = model.noise_from_keys(eta.shape, c.key1, c.key2, dt_t)
            new_eta = new_eta + c.noise_amplitude * inside * xi
    if cfg.guest_diffusion:
        h = model.smoothstep(jnp.clip(eta, 0.0, 1.0))
        mobility_gas = (1.0 - h) * c.gas_mobility[0] + h * c.gas_mobility[-1]
        inflow = model.guest_fluxes_divergence(tuple(transport_fields), eta_halo, mobility_gas,
                                               meso.diffusivity_A2_s.astype(dt_t), links,
                                               c.log_f_gas + c.log_affinity,
                                               spec.spacing_A, cfg.gas_exchange)
        loading = loading + jnp.asarray(cfg.dt_s, dt_t) * inflow
    if spec.fracture:
        links = _fracture(eta, links, coupling, meso.cohesion_kj_mol.astype(dt_t), spec.periodic, eta_halo)
    return TwinState(new_eta, links, loading, state.key, state.step + 1, state.error)


def _guest_fields(loading_halo, eta_halo, c: StepCoefficients):
    return model.guest_site_fields(loading_halo, eta_halo, c.n_max, c.affinity_ratio)


def _no_guest_fields(loading_halo, eta_halo, c: StepCoefficients):  # never taken (eta_rate ≥ 0 or NaN)
    return tuple(jnp.zeros_like(loading_halo) for _ in range(4))


def _conditions_at(table: ProtocolTable, spec: _Spec, time_s) -> Conditions:
    return conditions_at(replace(table, guests=spec.guests), time_s)


def _drive_of(thermo: ThermoParams, spec: _Spec, cond: Conditions) -> Drive:
    return make_drive(thermo, cond, spec.config.transported_guest, jnp.dtype(spec.config.dtype))


def _drive_at(thermo: ThermoParams, table: ProtocolTable, spec: _Spec, time_s) -> Drive:
    return _drive_of(thermo, spec, _conditions_at(table, spec, time_s))


def _check(state: TwinState, dtype) -> TwinState:
    inside = model.inside(state.links, dtype) > 0
    spatial = tuple(range(state.eta.ndim - 3, state.eta.ndim))
    bad = ~jnp.isfinite(state.eta)
    out = (state.eta < ETA_LIMITS[0]) | (state.eta > ETA_LIMITS[1])
    code = jnp.where(jnp.any(bad & inside, axis=spatial), ERROR_NAN, 0)
    code = code | jnp.where(jnp.any(out & inside, axis=spatial), ERROR_ETA_RANGE, 0)
    if state.loading is not None:
        code = code | jnp.where(jnp.any(~jnp.isfinite(state.loading) & inside, axis=spatial), ERROR_NAN, 0)
        code = code | jnp.where(jnp.any((state.loading < -1e-3) & inside, axis=spatial), ERROR_LOADING, 0)
    return TwinState(state.eta, state.links, state.loading, state.key, state.step,
                     state.error | code.astype(jnp.int32))


def _chunk(thermo: ThermoParams, meso: MesoscaleParams, table: ProtocolTable, state: TwinState, *, spec: _Spec,
           n_steps: int) -> TwinState:
    """``n_steps`` steps in one ``lax.scan``, then the error check (no host synchronisation inside)."""
    dtype = jnp.dtype(spec.config.dtype)
    step0 = state.step[0] if spec.batched else state.step
    steps = step0 + jnp.arange(n_steps, dtype=jnp.int32)
    times = steps.astype(dtype) * jnp.asarray(spec.config.dt_s, dtype)
    conds = jax.vmap(lambda t: _conditions_at(table, spec, t))(times)  # also the hydrolysis rate's T and RH
    drives = jax.vmap(lambda c: _drive_of(thermo, spec, c))(conds)
    if spec.batched:  # one key pair per crystal and step: (n_steps, n_crystals)
        keys = jax.vmap(lambda s: jax.vmap(lambda k: model.step_keys(k, s))(state.key))(steps)
    else:
        keys = jax.vmap(lambda s: model.step_keys(state.key, s))(steps)
    coefs = jax.vmap(lambda d, k1, k2: step_coefficients(d, meso, spec.config, spec.block_volume, k1, k2))(drives, *keys)
    if spec.batched:
        scalar = jax.tree_util.tree_map(lambda _: None, coefs)
        axes = replace(scalar, key1=0, key2=0)
        update = jax.vmap(lambda s, c: _update(meso, spec, s, c), in_axes=(0, axes))
    else:
        update = lambda s, c: _update(meso, spec, s, c)  # noqa: E731

    def body(s, c):
        return update(s, c), None

    state, _ = jax.lax.scan(body, state, coefs)
    if spec.hydrolysis:
        state = _hydrolyse(meso, spec, state, conds.temperature_K, conds.relative_humidity)
    return _check(state, dtype)


#: salt of the hydrolysis draws (keeps them independent of the η noise of the same step)
_HYDROLYSIS_SALT = np.uint32(0x68796472)


def hydrolysis_rate_per_s(meso: MesoscaleParams, temperature_K, relative_humidity):
    r"""k = A exp(−E_a/RT) RH^m, defect creation rate per intact site cell [1/s] (elementwise)."""
    t = jnp.asarray(temperature_K)
    rh = jnp.clip(jnp.asarray(relative_humidity), 0.0, 1.0)
    m = meso.hydrolysis_humidity_order.astype(t.dtype)
    humidity = jnp.where(rh > 0.0, jnp.power(jnp.where(rh > 0.0, rh, 1.0), m), jnp.where(m > 0.0, 0.0, 1.0))
    arrhenius = jnp.exp(-meso.hydrolysis_activation_kj_mol.astype(t.dtype) / (R_KJ_MOL_K * t))
    return meso.hydrolysis_prefactor_per_s.astype(t.dtype) * arrhenius * humidity


def _hydrolyse(meso: MesoscaleParams, spec: _Spec, state: TwinState, temperature_K, relative_humidity) -> TwinState:
    """Irreversible defect creation at the end of a chunk: every intact site inside becomes defective with
    probability 1 − exp(−Σ_steps k Δt), drawn from the counter-based hash of (site, step, key ^ salt).

    The uniform variates have 24 bits: a probability per chunk is resolved in steps of 2⁻²⁴ ≈ 6·10⁻⁸ (below
    3·10⁻⁸ it is zero), so a rate k needs frame intervals of at least ~10⁻⁶/k to be represented to 5 %.
    """
    dtype = jnp.dtype(spec.config.dtype)
    hazard = jnp.sum(hydrolysis_rate_per_s(meso, temperature_K, relative_humidity)) * jnp.asarray(spec.config.dt_s, dtype)
    p = -jnp.expm1(-hazard)

    def one(links, key, step):
        k1, k2 = model.step_keys(key ^ _HYDROLYSIS_SALT, step)
        u = model._uniform_from_keys(links.shape, k1, k2, dtype)
        intact = (model.inside(links, dtype) > 0) & (model.defect(links, dtype) == 0)
        new = (intact & (u < p)).astype(jnp.uint8) << np.uint8(DEFECT_BIT)
        return links | new

    links = jax.vmap(one)(state.links, state.key, state.step) if spec.batched else one(state.links, state.key, state.step)
    return TwinState(state.eta, links, state.loading, state.key, state.step, state.error)


#: XLA options of the compiled chunk: on CPU, 512-bit vectors where the processor has them (AVX-512; measured
#: 10–15 % more site updates per second on a 2-core AMD EPYC, Zen 4); ignored by other backends and, where the
#: processor lacks them, split by LLVM into narrower ones
CHUNK_COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": 512}

_run_chunk = jax.jit(_chunk, static_argnames=("spec", "n_steps"), donate_argnames=("state",),
                     compiler_options=CHUNK_COMPILER_OPTIONS)


class Engine:
    """A compiled engine for one geometry: ``init``, ``update``, ``step``, ``run_chunk`` and checks.

    Built by :func:`make_engine`; every method is pure in its arrays (the object only holds static settings
    and parameters). The compiled chunk is shared by all engines with equal static settings and array shapes
    (parameters and protocol are arguments of it, not constants).
    """

    def __init__(self, thermo, meso, geometry, table, config, eta0: float, batched: bool):
        self.thermo, self.meso, self.geometry, self.table, self.config = thermo, meso, geometry, table, config
        self.dtype = jnp.dtype(config.dtype)
        self.periodic = geometry.periodic
        self.spacing_A = tuple(float(a) for a in geometry.spacing_A)
        self.block_volume = float(geometry.block) ** 3
        self.eta0 = eta0
        self.batched = batched
        self._spec = _Spec(config=config, periodic=bool(self.periodic), spacing_A=self.spacing_A,  # type: ignore[arg-type]
                           block_volume=self.block_volume, batched=batched,
                           fracture=meso.fracture, guests=tuple(table.guests), coherent=meso.coherent,
                           hydrolysis=meso.hydrolysis)
        self._table = replace(table, guests=())  # guests are static (in the spec), not array leaves

    # -------------------------------------------------------------------------------- drive
    def drive_at(self, time_s: Array) -> Drive:
        return _drive_at(self.thermo, self._table, self._spec, time_s)

    # -------------------------------------------------------------------------------- state
    def init(self, seed: int) -> TwinState:
        """Initial state: η at the phase of lowest Ω at t = 0 (inside the crystal, 0 outside), loading in
        equilibrium with the initial gas, noise key from ``jax.random.key(seed)`` (one key per crystal)."""
        links = jnp.asarray(self.geometry.links)
        dt = self.dtype
        inside = model.inside(links, dt)
        eta = inside * jnp.asarray(self.eta0, dt)
        loading = None
        if self.config.guest_diffusion:
            d = self.drive_at(jnp.asarray(0.0, dt))
            log_f = jnp.broadcast_to(d.log_f_gas, eta.shape)
            loading = model.loading_from_log_fugacity(log_f, eta, d.n_max, d.log_k)[0] * inside
        base = jax.random.key_data(jax.random.key(int(seed), impl="threefry2x32")).astype(jnp.uint32)
        if self.batched:
            n = links.shape[0]
            keys = jax.vmap(lambda i: model.hash32(base ^ i.astype(jnp.uint32)))(jnp.arange(n))
            return TwinState(eta, links, loading, keys, jnp.zeros((n,), jnp.int32), jnp.zeros((n,), jnp.int32))
        return TwinState(eta, links, loading, base, jnp.asarray(0, jnp.int32), jnp.asarray(0, jnp.int32))

    # -------------------------------------------------------------------------------- one step
    def update(self, state: TwinState, drive: Drive) -> TwinState:
        """One step driven by a precomputed :class:`Drive` (single crystal; ``vmap`` for a batch)."""
        k1, k2 = model.step_keys(state.key, state.step)
        c = step_coefficients(drive, self.meso, self.config, self.block_volume, k1, k2)
        return _update(self.meso, self._spec, state, c)

    def step(self, state: TwinState, conditions: Conditions) -> TwinState:
        """One time step under ``conditions`` (pure; vmapped over a leading crystal axis when batched)."""
        drive = make_drive(self.thermo, conditions, self.config.transported_guest, self.dtype)
        if self.batched:
            return jax.vmap(self.update, in_axes=(0, None))(state, drive)
        return self.update(state, drive)

    # -------------------------------------------------------------------------------- chunks
    def run_chunk(self, state: TwinState, n_steps: int) -> TwinState:
        """``n_steps`` steps in one compiled ``lax.scan``, then the error check; ``state`` is donated."""
        return _run_chunk(self.thermo, self.meso, self._table, state, spec=self._spec, n_steps=int(n_steps))

    def compile_chunk(self, state: TwinState, n_steps: int):
        """The compiled chunk for states like ``state`` (XLA's ``memory_analysis()`` and a callable
        ``compiled(thermo, meso, table, state)``), e.g. for a dry run."""
        return _run_chunk.lower(self.thermo, self.meso, self._table, state, spec=self._spec,
                                n_steps=int(n_steps)).compile()

    def chunk_arguments(self) -> tuple:
        """The non-state arguments of a :meth:`compile_chunk` executable."""
        return self.thermo, self.meso, self._table

    def raise_on_error(self, state: TwinState, steps_before: int) -> None:
        """Host check between chunks: raise :class:`SimulationError` with step, time and cause."""
        code = int(np.bitwise_or.reduce(np.atleast_1d(np.asarray(state.error))))
        if code:
            step = int(np.max(np.asarray(state.step)))
            dt = self.config.dt_s
            raise SimulationError(
                f"simulation failed between step {steps_before} and {step} (t = {steps_before * dt:.6g}–"
                f"{step * dt:.6g} s): {describe_error(code)}; reduce numerics.dt (now {dt:.4g} s) or check the "
                f"material's mesoscale parameters"
            )


def _fracture(eta, links, coupling, cohesion, periodic: bool, eta_halo=None):
    """Break links whose elastic energy J_d/2 (η_i − η_j)² exceeds the cohesion (symmetric on both ends)."""
    keep = jnp.zeros_like(links)
    padded = model.halo(eta, periodic) if eta_halo is None else eta_halo
    for k, (axis, offset) in enumerate(DIRECTIONS):
        diff = eta - model.neighbour(padded, axis, offset)
        intact = 0.5 * coupling[axis] * diff * diff <= cohesion
        keep = keep | (intact.astype(jnp.uint8) << np.uint8(k))
    return links & (keep | np.uint8(0b1100_0000))


def make_engine(thermo: ThermoParams, meso: MesoscaleParams, geometry: Geometry, table: ProtocolTable,
                config: EngineConfig, *, eta0: float | None = None) -> Engine:
    """Build an engine for one geometry (a leading crystal axis on ``geometry.links`` makes it a batch).

    Args:
        thermo: the material's :class:`~twin.thermo.ThermoParams` (two phases: closed, open).
        meso: :class:`MesoscaleParams` already rescaled to the geometry's block factor.
        geometry: crystal(s) on the lattice.
        table: protocol breakpoints (cast to the engine dtype here).
        config: static settings; ``config.dt_s`` is checked against :func:`stability_limit_s`.
        eta0: initial η inside the crystal (default: 0 or 1, whichever phase has the lower Ω at t = 0).

    Raises:
        SimulationError: the time step exceeds the stability limit (message gives the limit and its cause).
    """
    if thermo.n_phases != 2:
        raise SimulationError(f"the mesoscale engine needs a material with two phases (closed, open), got "
                              f"{thermo.n_phases}: {', '.join(thermo.phase_names)}")
    dtype = jnp.dtype(config.dtype)
    table = table.astype(dtype)
    limit, reason = stability_limit_s(thermo, meso, geometry, table, config.guest_diffusion, config.eta_dynamics)
    if config.dt_s > limit * (1.0 + 1e-6):
        raise SimulationError(
            f"numerics.dt: {config.dt_s:.4g} s exceeds the stability limit {limit:.4g} s of the explicit scheme "
            f"({reason}); use dt <= {limit:.4g} s or leave dt unset to let the engine choose"
        )
    if eta0 is None:
        omega = np.asarray(_sampled_drive(thermo, replace(table, guests=()), jnp.zeros((1,), dtype),
                                          tuple(table.guests))[0][0])
        eta0 = 1.0 if omega[-1] < omega[0] else 0.0
    batched = geometry.links.ndim == 4
    return Engine(thermo, meso.astype(dtype), geometry, table, config, float(eta0), batched)
