r"""Vibrational spectra from atomistic trajectories on plain arrays: VDOS, IR, the harmonic normal-mode route.

**Units.** Positions Å, velocities Å/ps, masses amu (g/mol), time ps, energies kJ/mol; 1 amu·Å²/ps² = 0.01 kJ/mol
(:data:`KJ_MOL_PER_AMU_A2_PS2`), so a force constant k [kJ mol⁻¹ Å⁻²] on a mass m [amu] gives
:math:`\omega^2 = 100\,k/m` ps⁻². Wavenumbers :math:`\tilde\nu = \omega/(2\pi c)` [cm⁻¹]. Trajectories come as
arrays (read them with ASE or MDAnalysis where installed: this module does not parse files and needs neither).

**Vibrational density of states** (velocity autocorrelation; e.g. M. P. Allen, D. J. Tildesley, *Computer
Simulation of Liquids*, 2nd ed. OUP 2017, §8.1; J. M. Dickey, A. Paskin, Phys. Rev. 188, 1407 (1969)):

.. math::
    C_{vv}(t) = \sum_i m_i \langle \mathbf v_i(t_0)\cdot\mathbf v_i(t_0 + t)\rangle_{t_0}, \qquad
    g(\tilde\nu) = \frac{4 c}{k_B T}\int_0^\infty C_{vv}(t)\cos(\omega t)\,w(t)\,dt ,

normalised so that :math:`\int_0^\infty g\,d\tilde\nu = \sum_i m_i\langle v_i^2\rangle/k_BT` = the number of
degrees of freedom at equipartition (3N); without a temperature the same integral equals
:math:`C_{vv}(0)` [amu Å² ps⁻²].

**IR** from the total dipole :math:`\mathbf M(t) = \sum_i q_i\mathbf r_i(t)` of fixed point charges (the stated
charge model: the charges given, which must sum to the stated total charge — with a net charge the dipole would
depend on the origin). The classical absorption lineshape is the spectrum of the dipole derivative,

.. math::
    I_\mathrm{cl}(\tilde\nu) = 4c\int_0^\infty \langle\dot{\mathbf M}(0)\cdot\dot{\mathbf M}(t)\rangle
    \cos(\omega t)\,w(t)\,dt \;\propto\; \omega^2\,\tilde C_{MM}(\omega),

(:math:`\int_0^\infty I_\mathrm{cl}\,d\tilde\nu = \langle\dot M^2\rangle` [e² Å² ps⁻²]); :math:`\dot{\mathbf M}` is
taken by central differences of M, or from the velocities when given (exact for fixed charges,
:math:`\dot{\mathbf M} = \sum_i q_i\mathbf v_i`). The absorption coefficient is
:math:`\alpha(\omega)n(\omega) = \frac{\pi\beta}{3V c\,\varepsilon_0}\,Q(\omega)\,I_\mathrm{cl}` up to the
constant; :math:`Q` is the quantum correction factor (:func:`quantum_correction`):

* ``"none"`` — classical, Q = 1;
* ``"harmonic"`` — :math:`Q = \beta\hbar\omega/(1 - e^{-\beta\hbar\omega})`, exact for a harmonic system
  (R. Ramírez, T. López-Ciudad, P. Kumar, D. Marx, J. Chem. Phys. 121, 3973 (2004));
* ``"standard"`` — :math:`Q = e^{\beta\hbar\omega/2}` (Schofield, Phys. Rev. Lett. 4, 239 (1960)).

**Window and padding.** The correlation function is multiplied by a window w(t) over the lags kept (``"hann"``
— :math:`\cos^2(\pi t/2T)`, the half-Hann that goes from 1 at t = 0 to 0 at the last lag, suppressing the
ripples of truncation at the cost of resolution; ``"none"``) and zero-padded to ``pad`` × its length before the
FFT (interpolating the spectrum; no new resolution). Lags run to half the trajectory (longer ones average too
few origins).

**Harmonic normal modes** (:func:`normal_modes`): the Hessian of a force field by JAX autodiff
(``jax.hessian``), mass-weighted, diagonalised: :math:`\omega_k^2` are the eigenvalues of
:math:`M^{-1/2} H M^{-1/2}`. :func:`harmonic_bonds` is the documented force field of the tests (harmonic bond
stretches :math:`\tfrac12 k (r - r_0)^2`, no angles).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import constants as sc

from instruments.vib.kubo import RAD_PER_PS_PER_CM1, autocorrelation, check_uniform_times
from mofcore.errors import DataFormatError

__all__ = ["KJ_MOL_PER_AMU_A2_PS2", "AtomisticTrajectory", "trajectory_from_arrays", "read_trajectory", "BondPolarizability", "raman_spectrum", "vdos", "ir_spectrum",
           "quantum_correction", "normal_modes", "harmonic_bonds", "velocity_verlet", "CORRECTIONS", "WINDOWS"]

#: 1 amu Å² ps⁻² in kJ/mol
KJ_MOL_PER_AMU_A2_PS2: float = 1e-3 * 1e-20 / 1e-24 / 1e3
CORRECTIONS = ("none", "harmonic", "standard")
WINDOWS = ("hann", "none")
_KB_KJ_MOL = sc.k * sc.N_A / 1e3
_HBAR_KJ_MOL_PS = sc.hbar * sc.N_A / 1e3 * 1e12  # ħ in kJ/mol·ps: ħω with ω in rad/ps


@dataclass(frozen=True)
class AtomisticTrajectory:
    """Atomistic frames on plain arrays: positions (n_frames, n_atoms, 3) [Å], velocities (same) [Å/ps] or
    ``None``, masses (n_atoms,) [amu], the uniform time step [ps]."""

    positions_A: np.ndarray
    velocities_A_ps: np.ndarray | None
    masses_amu: np.ndarray
    dt_ps: float
    source: str = "trajectory"


def trajectory_from_arrays(positions_A: np.ndarray, masses_amu: np.ndarray, time_ps: np.ndarray,
                           velocities_A_ps: np.ndarray | None = None,
                           source: str = "trajectory") -> AtomisticTrajectory:
    """Validate arrays into an :class:`AtomisticTrajectory`.

    Raises:
        DataFormatError: shapes that do not match, non-positive masses, non-uniform time steps.
    """
    pos = np.asarray(positions_A, np.float64)
    if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[0] < 4:
        raise DataFormatError(f"{source}: positions: expected (n_frames >= 4, n_atoms, 3), got {pos.shape}")
    masses = np.asarray(masses_amu, np.float64)
    if masses.shape != (pos.shape[1],) or not np.all(masses > 0):
        raise DataFormatError(f"{source}: masses: expected {pos.shape[1]} positive masses (amu), got {masses!r}")
    time = np.asarray(time_ps, np.float64)
    if time.shape != (pos.shape[0],):
        raise DataFormatError(f"{source}: time: expected {pos.shape[0]} times, got shape {time.shape}")
    dt = check_uniform_times(time, f"{source}: time")
    vel = None
    if velocities_A_ps is not None:
        vel = np.asarray(velocities_A_ps, np.float64)
        if vel.shape != pos.shape:
            raise DataFormatError(f"{source}: velocities: expected shape {pos.shape}, got {vel.shape}")
    return AtomisticTrajectory(pos, vel, masses, dt, source)


def read_trajectory(path: str | Path, frame_interval_ps: float, *, format: str | None = None) -> AtomisticTrajectory:
    """An atomistic trajectory file read with ASE (``ase.io.read``: extended XYZ, ASE ``.traj``, LAMMPS dump, VASP
    XDATCAR, … — every format ASE reads; ``format`` names one when the suffix does not) → positions [Å], the
    masses ASE assigns [amu], velocities [Å/ps] when the file has them (ASE keeps them as momenta; converted from
    ASE's time unit Å·√(amu/eV) with ``ase.units.fs``) and frames ``frame_interval_ps`` apart (ASE files do not
    carry a uniform time axis; give the interval between stored frames).

    Raises:
        NotAvailableError: ASE is not installed (``pip install 'operando-mof-twin[vib]'``).
        DataFormatError: not a regular file, a file ASE cannot read, frames with different numbers of atoms, fewer
            than 4 frames, a non-positive interval.
    """
    from mofcore.errors import NotAvailableError
    from mofcore.files import regular_file_problem

    try:
        import ase.io
        import ase.units
    except ImportError:
        raise NotAvailableError("reading atomistic trajectory files needs ASE (pip install 'operando-mof-twin[vib]'); "
                                "or pass arrays to trajectory_from_arrays") from None
    path = Path(path)
    problem = regular_file_problem(path)
    if problem is not None:
        raise DataFormatError(f"{path}: expected a trajectory file, got {problem}")
    if not (math.isfinite(frame_interval_ps) and frame_interval_ps > 0):
        raise DataFormatError(f"{path}: the frame interval must be a positive time, got {frame_interval_ps!r} ps")
    try:
        frames = ase.io.read(str(path), index=":", format=format)
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for a file it cannot parse: one message
        raise DataFormatError(f"{path}: ASE could not read it as a trajectory ({type(exc).__name__}: {exc})") from None
    frames = frames if isinstance(frames, list) else [frames]
    sizes = sorted({len(a) for a in frames})
    if len(sizes) != 1:
        raise DataFormatError(f"{path}: frames hold different numbers of atoms ({sizes[0]} .. {sizes[-1]}); a "
                              "trajectory needs the same atoms in every frame")
    positions = np.stack([a.get_positions() for a in frames])
    velocities = None
    if all(a.has("momenta") for a in frames):
        velocities = np.stack([a.get_velocities() for a in frames]) * (ase.units.fs * 1e3)  # Å/ASE-time → Å/ps
    time = np.arange(len(frames)) * float(frame_interval_ps)
    return trajectory_from_arrays(positions, frames[0].get_masses(), time, velocities, source=str(path))


def _window(n_lags: int, kind: str, dtype: jnp.dtype) -> jax.Array:
    if kind == "none":
        return jnp.ones(n_lags, dtype)
    if kind == "hann":
        return jnp.cos(0.5 * jnp.pi * jnp.arange(n_lags, dtype=dtype) / n_lags) ** 2
    raise DataFormatError(f"window: expected one of {', '.join(WINDOWS)}, got {kind!r}")


def _cosine_transform(acf: jax.Array, dt_ps: float, window: str, pad: int) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`4c\int_0^\infty C(t)\cos(\omega t)w(t)\,dt` on ν̃ ≥ 0 (trapezoidal: C₀ counted half)."""
    if not (isinstance(pad, int) and pad >= 1):
        raise DataFormatError(f"pad: expected an integer >= 1, got {pad!r}")
    n = acf.shape[-1]
    c = acf * _window(n, window, acf.dtype)
    c = c.at[0].multiply(0.5)
    n_fft = pad * 2 * n
    spec = jnp.real(jnp.fft.rfft(c, n=n_fft)) * dt_ps  # ∫0^∞ C cos ωt dt, ω_k = 2πk/(n_fft dt)
    nu = np.fft.rfftfreq(n_fft, d=dt_ps) * 2.0 * math.pi / RAD_PER_PS_PER_CM1
    # dν̃ = dω/(2πc): 4c ∫ ... gives ∫0^∞ I dν̃ = C(0)
    return nu, np.asarray(spec, np.float64) * 2.0 * RAD_PER_PS_PER_CM1 / math.pi


@jax.jit
def _mass_weighted_vacf(v: jax.Array, m: jax.Array) -> jax.Array:
    """Σ_i m_i ⟨v_i(0)·v_i(t)⟩ of velocities (n_frames, n_atoms, 3): one FFT batch over atoms and components."""
    series = jnp.moveaxis(v, 0, -1)  # (n_atoms, 3, n_frames)
    return jnp.einsum("a,akt->t", m, autocorrelation(series))


def vdos(traj: AtomisticTrajectory, temperature_K: float | None = None, window: str = "hann",
         pad: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Vibrational density of states from the mass-weighted velocity autocorrelation (module docstring).

    Returns:
        (wavenumber_cm1 (n,), g (n,)) — g in degrees of freedom per cm⁻¹ with ``temperature_K``, else in
        amu Å² ps⁻² per cm⁻¹.

    Raises:
        DataFormatError: a trajectory without velocities; a bad window or temperature.
    """
    if traj.velocities_A_ps is None:
        raise DataFormatError(f"{traj.source}: the trajectory has no velocities, which a VDOS needs (write them "
                              "with the trajectory, or use finite differences of positions yourself)")
    dtype = jnp.result_type(float)
    acf = _mass_weighted_vacf(jnp.asarray(traj.velocities_A_ps, dtype), jnp.asarray(traj.masses_amu, dtype))
    nu, g = _cosine_transform(acf, traj.dt_ps, window, pad)
    if temperature_K is not None:
        if not temperature_K > 0:
            raise DataFormatError(f"temperature: expected a positive temperature in K, got {temperature_K!r}")
        g = g * KJ_MOL_PER_AMU_A2_PS2 / (_KB_KJ_MOL * temperature_K)
    return nu, g


def quantum_correction(wavenumber_cm1: np.ndarray, temperature_K: float, kind: str = "harmonic") -> np.ndarray:
    r"""Quantum correction factor Q(ω) multiplying a classical lineshape (module docstring); Q(0) = 1."""
    if kind not in CORRECTIONS:
        raise DataFormatError(f"quantum correction: expected one of {', '.join(CORRECTIONS)}, got {kind!r}")
    x = _HBAR_KJ_MOL_PS * np.asarray(wavenumber_cm1, np.float64) * RAD_PER_PS_PER_CM1 / (_KB_KJ_MOL * temperature_K)
    if kind == "none":
        return np.ones_like(x)
    if kind == "standard":
        return np.exp(0.5 * x)
    safe = np.where(np.abs(x) < 1e-8, 1.0, x)
    return np.where(np.abs(x) < 1e-8, 1.0 + 0.5 * x, safe / -np.expm1(-safe))


def ir_spectrum(traj: AtomisticTrajectory, charges_e: np.ndarray, total_charge_e: float = 0.0,
                temperature_K: float = 300.0, correction: str = "harmonic", window: str = "hann",
                pad: int = 2) -> tuple[np.ndarray, np.ndarray]:
    r"""IR lineshape from the dipole-derivative autocorrelation of fixed point charges (module docstring).

    Returns:
        (wavenumber_cm1, Q(ω)·I_cl(ν̃)) with I_cl in e² Å² ps⁻² per cm⁻¹ (∫ I_cl dν̃ = ⟨Ṁ²⟩).

    Raises:
        DataFormatError: charges of the wrong length, or not summing to ``total_charge_e`` (1e-6 of Σ|q|).
    """
    q = np.asarray(charges_e, np.float64)
    if q.shape != traj.masses_amu.shape:
        raise DataFormatError(f"{traj.source}: charges: expected {traj.masses_amu.size} charges, got shape {q.shape}")
    if abs(q.sum() - total_charge_e) > 1e-6 * max(1.0, np.abs(q).sum()):
        raise DataFormatError(f"{traj.source}: charges sum to {q.sum():.6g} e but the stated total charge is "
                              f"{total_charge_e:g} e")
    dtype = jnp.result_type(float)
    qj = jnp.asarray(q, dtype)
    if traj.velocities_A_ps is not None:
        mdot = jnp.einsum("a,tak->kt", qj, jnp.asarray(traj.velocities_A_ps, dtype))
    else:
        dipole = jnp.einsum("a,tak->kt", qj, jnp.asarray(traj.positions_A, dtype))
        mdot = (dipole[:, 2:] - dipole[:, :-2]) / (2.0 * traj.dt_ps)
    acf = jnp.sum(autocorrelation(mdot), axis=0)
    nu, spec = _cosine_transform(acf, traj.dt_ps, window, pad)
    return nu, spec * quantum_correction(nu, temperature_K, correction)


@dataclass(frozen=True)
class BondPolarizability:
    r"""The bond-polarisability model of one kind of bond (M. V. Wolkenstein, 1941; the form used for Raman
    intensities of molecules and crystals, e.g. S. Guha, J. Menéndez, J. B. Page, G. B. Adams, Phys. Rev. B 53,
    13106 (1996)): each bond b of unit vector :math:`\hat u_b` and length :math:`r_b` contributes

    .. math::
        \alpha_b = \alpha_\perp(r_b)\,\mathbb 1 + \bigl(\alpha_\parallel(r_b) - \alpha_\perp(r_b)\bigr)\,\hat u_b\hat u_b^\mathsf{T},
        \qquad \alpha_{\parallel,\perp}(r) = \alpha_{\parallel,\perp} + \alpha'_{\parallel,\perp}(r - r_0),

    and the polarisability of the system is :math:`\alpha = \sum_b \alpha_b` (Å³).

    Attributes:
        alpha_par_A3, alpha_perp_A3: α∥, α⊥ at r0 [Å³].
        dalpha_par_A2, dalpha_perp_A2: their derivatives with bond length [Å²].
        r0_A: reference length [Å].
    """

    alpha_par_A3: float
    alpha_perp_A3: float
    dalpha_par_A2: float
    dalpha_perp_A2: float
    r0_A: float


def _polarizability(positions: jax.Array, i: jax.Array, j: jax.Array, model: BondPolarizability) -> jax.Array:
    """α (3, 3) [Å³] of one frame's positions (n_atoms, 3)."""
    d = positions[j] - positions[i]
    r = jnp.linalg.norm(d, axis=-1)
    u = d / r[:, None]
    a_par = model.alpha_par_A3 + model.dalpha_par_A2 * (r - model.r0_A)
    a_perp = model.alpha_perp_A3 + model.dalpha_perp_A2 * (r - model.r0_A)
    eye = jnp.eye(3, dtype=positions.dtype)[None, :, :]
    return jnp.sum(a_perp[:, None, None] * eye + (a_par - a_perp)[:, None, None] * u[:, :, None] * u[:, None, :], axis=0)


def raman_spectrum(traj: AtomisticTrajectory, bonds: list[tuple[int, int]], model: BondPolarizability, *,
                   temperature_K: float = 300.0, correction: str = "harmonic", window: str = "hann",
                   pad: int = 2) -> dict[str, np.ndarray]:
    r"""Raman spectra of a trajectory from the bond-polarisability model (:class:`BondPolarizability`).

    The time derivative of the polarisability is exact along the trajectory, :math:`\dot\alpha = (\partial\alpha/
    \partial\mathbf r)\cdot\mathbf v` (a forward-mode derivative of α along the velocities; central differences of
    positions when the file has none). With the invariants of :math:`\dot\alpha` — the isotropic
    :math:`\dot a = \mathrm{tr}\,\dot\alpha/3` and the anisotropy :math:`\dot\gamma^2 = \tfrac32\,\dot\beta:\dot\beta`,
    :math:`\beta = \alpha - a\mathbb 1` — the classical lineshapes are the cosine transforms of their
    autocorrelations, :math:`I_a(\tilde\nu)` and :math:`I_\gamma(\tilde\nu)`, combined as for 90° scattering of
    linearly polarised light (D. A. Long, *The Raman Effect*, Wiley 2002, §5.5):

    .. math::
        I_{VV} = \frac{45 I_a + 4 I_\gamma}{45},\qquad I_{VH} = \frac{3 I_\gamma}{45},\qquad
        \rho = I_{VH}/I_{VV},

    times the quantum correction of :func:`quantum_correction` (the same ``correction`` names as the IR). Left
    out: the (ν̃_L − ν̃)⁴ scattering factor and the detector response (divide a measured spectrum by them, or
    multiply these), resonance and local-field effects. A centrosymmetric vibration that does not change α (the
    antisymmetric stretch of CO₂) gives no line: the mutual exclusion of IR and Raman follows from the model.

    Returns:
        ``{"wavenumber_cm1", "VV", "VH", "isotropic", "anisotropic"}`` (arrays, arbitrary but common units).

    Raises:
        DataFormatError: a bond naming an atom that does not exist, a bad window, correction or temperature.
    """
    n_atoms = traj.masses_amu.size
    if not bonds or any(not (0 <= a < n_atoms and 0 <= b < n_atoms and a != b) for a, b in bonds):
        raise DataFormatError(f"{traj.source}: bonds: expected pairs of distinct atom indices below {n_atoms}, "
                              f"got {bonds!r}")
    if not temperature_K > 0:
        raise DataFormatError(f"temperature: expected a positive temperature in K, got {temperature_K!r}")
    dtype = jnp.result_type(float)
    i = jnp.asarray([b[0] for b in bonds])
    j = jnp.asarray([b[1] for b in bonds])
    pos = jnp.asarray(traj.positions_A, dtype)
    alpha = jax.vmap(lambda r: _polarizability(r, i, j, model))
    if traj.velocities_A_ps is not None:
        vel = jnp.asarray(traj.velocities_A_ps, dtype)
        _, adot = jax.jvp(alpha, (pos,), (vel,))
    else:
        a = alpha(pos)
        adot = (a[2:] - a[:-2]) / (2.0 * traj.dt_ps)
    iso = jnp.trace(adot, axis1=1, axis2=2) / 3.0  # (n_frames,)
    aniso = adot - iso[:, None, None] * jnp.eye(3, dtype=dtype)[None, :, :]
    acf_iso = autocorrelation(iso[None, :])[0]
    acf_aniso = 1.5 * jnp.sum(autocorrelation(jnp.moveaxis(aniso.reshape(-1, 9), 0, -1)), axis=0)
    nu, i_a = _cosine_transform(acf_iso, traj.dt_ps, window, pad)
    _, i_g = _cosine_transform(acf_aniso, traj.dt_ps, window, pad)
    q = quantum_correction(nu, temperature_K, correction)
    i_a, i_g = i_a * q, i_g * q
    return {"wavenumber_cm1": nu, "VV": (45.0 * i_a + 4.0 * i_g) / 45.0, "VH": 3.0 * i_g / 45.0,
            "isotropic": i_a, "anisotropic": i_g}


def harmonic_bonds(bonds: list[tuple[int, int]], k_kj_mol_A2: list[float],
                   r0_A: list[float]) -> Callable[[jax.Array], jax.Array]:
    r"""Energy :math:`E(\mathbf r) = \sum_b \tfrac12 k_b(|\mathbf r_i - \mathbf r_j| - r_{0,b})^2` [kJ/mol] of
    positions (n_atoms, 3) [Å] — harmonic bond stretches only (no angle or torsion terms)."""
    i = jnp.asarray([b[0] for b in bonds])
    j = jnp.asarray([b[1] for b in bonds])
    k = jnp.asarray(k_kj_mol_A2)
    r0 = jnp.asarray(r0_A)

    def energy(r: jax.Array) -> jax.Array:
        d = jnp.linalg.norm(r[i] - r[j], axis=-1)
        return 0.5 * jnp.sum(k.astype(r.dtype) * (d - r0.astype(r.dtype)) ** 2)

    return energy


def normal_modes(energy: Callable[[jax.Array], jax.Array], positions_A: np.ndarray,
                 masses_amu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Harmonic wavenumbers [cm⁻¹] (ascending; imaginary modes negative) and mass-weighted eigenvectors at
    ``positions_A`` (an energy minimum) from the Hessian of ``energy`` by ``jax.hessian`` (module docstring)."""
    r = jnp.asarray(positions_A, jnp.result_type(float))
    n = r.size
    h = np.asarray(jax.hessian(energy)(r), np.float64).reshape(n, n)
    inv_sqrt_m = 1.0 / np.sqrt(np.repeat(np.asarray(masses_amu, np.float64), 3))
    w2, vec = np.linalg.eigh(h * np.outer(inv_sqrt_m, inv_sqrt_m) / KJ_MOL_PER_AMU_A2_PS2)  # ps⁻²
    omega = np.sign(w2) * np.sqrt(np.abs(w2))
    return omega / RAD_PER_PS_PER_CM1, vec


def velocity_verlet(energy: Callable[[jax.Array], jax.Array], positions_A: np.ndarray, velocities_A_ps: np.ndarray,
                    masses_amu: np.ndarray, dt_ps: float, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """NVE velocity-Verlet trajectory (``lax.scan``) of ``energy``: positions and velocities, (n_steps, n_atoms, 3)."""
    dtype = jnp.result_type(float)
    force = jax.grad(lambda r: -energy(r))
    inv_m = jnp.asarray(1.0 / np.asarray(masses_amu, np.float64), dtype)[:, None] / KJ_MOL_PER_AMU_A2_PS2

    def step(state: tuple, _: None) -> tuple:
        r, v, a = state
        r = r + v * dt_ps + 0.5 * a * dt_ps**2
        a_new = force(r) * inv_m
        v = v + 0.5 * (a + a_new) * dt_ps
        return (r, v, a_new), (r, v)

    r0 = jnp.asarray(positions_A, dtype)
    v0 = jnp.asarray(velocities_A_ps, dtype)
    _, (rs, vs) = jax.lax.scan(step, (r0, v0, force(r0) * inv_m), None, length=n_steps)
    return np.asarray(rs, np.float64), np.asarray(vs, np.float64)
