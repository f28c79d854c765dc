"""Atomistic route: a harmonic oscillator's VDOS and IR line at the right wavenumber with the right integrated
intensity, autocorrelation vs normal modes on a small harmonic molecule, quantum correction factors against their
formulas, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import constants as sc

from instruments.vib.atomistic import (
    KJ_MOL_PER_AMU_A2_PS2,
    harmonic_bonds,
    ir_spectrum,
    normal_modes,
    quantum_correction,
    trajectory_from_arrays,
    vdos,
    velocity_verlet,
)
from instruments.vib.kubo import RAD_PER_PS_PER_CM1
from mofcore.errors import DataFormatError


def _oscillator(nu0=1000.0, amplitude=0.1, mass=12.0, dt=0.002, n=8192, velocities=True):
    w0 = nu0 * RAD_PER_PS_PER_CM1
    t = np.arange(n) * dt
    pos = np.zeros((n, 2, 3))
    vel = np.zeros((n, 2, 3))
    pos[:, 0, 0] = amplitude * np.cos(w0 * t)
    vel[:, 0, 0] = -amplitude * w0 * np.sin(w0 * t)
    pos[:, 1, 0] = 5.0  # a second, resting atom
    return trajectory_from_arrays(pos, [mass, 1.0], t, vel if velocities else None), w0


def test_unit_conversion():
    # 1 amu Å² ps⁻² = 1e-3 kg/mol × 1e-20 m² / 1e-24 s² = 10 J/mol
    assert KJ_MOL_PER_AMU_A2_PS2 == pytest.approx(0.01)


def test_harmonic_oscillator_vdos_line_and_area():
    traj, w0 = _oscillator()
    nu, g = vdos(traj, window="hann")
    step = nu[1] - nu[0]
    assert nu[np.argmax(g)] == pytest.approx(1000.0, abs=step)
    # ∫ g dν̃ = Σ m⟨v²⟩ = m A² ω0²/2 (one oscillating coordinate; 16 384-point series: 0.1 %)
    assert np.sum(g) * step == pytest.approx(12.0 * 0.01 * w0**2 / 2, rel=2e-3)


def test_vdos_equipartition_normalisation():
    traj, w0 = _oscillator()
    temperature = 12.0 * 0.01 * w0**2 / 2 * KJ_MOL_PER_AMU_A2_PS2 / (sc.k * sc.N_A / 1e3)  # m⟨v²⟩ = k_B T
    nu, g = vdos(traj, temperature_K=temperature)
    assert np.sum(g) * (nu[1] - nu[0]) == pytest.approx(1.0, rel=2e-3)  # one degree of freedom


def test_harmonic_oscillator_ir_line_from_positions_and_velocities():
    traj, w0 = _oscillator()
    q = 0.5
    wdt = w0 * 0.002
    # ∫ I dν̃ = ⟨Ṁ²⟩ = q² A² ω0²/2 from velocities; central differences of positions see sin(ω dt)/dt instead of
    # ω, i.e. ⟨Ṁ²⟩·(sin(ω dt)/(ω dt))² (−4.7 % at ω dt = 0.38)
    for t, factor in ((traj, 1.0), (_oscillator(velocities=False)[0], (math.sin(wdt) / wdt) ** 2)):
        nu, spec = ir_spectrum(t, [q, -q], correction="none")
        step = nu[1] - nu[0]
        assert nu[np.argmax(spec)] == pytest.approx(1000.0, abs=step)
        assert np.sum(spec) * step == pytest.approx(q * q * 0.01 * w0**2 / 2 * factor, rel=3e-3)


def test_quantum_corrections_against_their_formulas():
    temperature = 300.0
    nu = np.array([0.0, 100.0, 1000.0, 3000.0])
    x = sc.h * sc.c * 100.0 * nu / (sc.k * temperature)  # βħω = hcν̃/kT
    np.testing.assert_allclose(quantum_correction(nu, temperature, "none"), 1.0)
    harmonic = np.where(x > 0, x / (1 - np.exp(-np.where(x > 0, x, 1.0))), 1.0)
    np.testing.assert_allclose(quantum_correction(nu, temperature, "harmonic"), harmonic, rtol=1e-9)
    np.testing.assert_allclose(quantum_correction(nu, temperature, "standard"), np.exp(x / 2), rtol=1e-9)
    # detailed balance of the harmonic factor: Q(ω)/Q(−ω) = e^{βħω}
    ratio = quantum_correction(nu[1:], temperature) / quantum_correction(-nu[1:], temperature)
    np.testing.assert_allclose(ratio, np.exp(x[1:]), rtol=1e-9)
    with pytest.raises(DataFormatError, match="expected one of none, harmonic, standard"):
        quantum_correction(nu, temperature, "kubo")


def test_autocorrelation_and_normal_modes_agree_on_a_linear_triatomic():
    # O=C=O with harmonic C–O bonds (k = 1000 kJ mol⁻¹ Å⁻², r0 = 1.16 Å), no angle term: two stretches
    masses = np.array([16.0, 12.0, 16.0])
    energy = harmonic_bonds([(0, 1), (1, 2)], [1000.0, 1000.0], [1.16, 1.16])
    r0 = np.array([[-1.16, 0.0, 0.0], [0.0, 0.0, 0.0], [1.16, 0.0, 0.0]])
    wavenumbers, _ = normal_modes(energy, r0, masses)
    stretches = np.sort(wavenumbers[wavenumbers > 50.0])
    k = 1000.0 / KJ_MOL_PER_AMU_A2_PS2  # amu/ps²
    sym = math.sqrt(k / 16.0) / RAD_PER_PS_PER_CM1
    anti = math.sqrt(k * (1 / 16.0 + 2 / 12.0)) / RAD_PER_PS_PER_CM1
    np.testing.assert_allclose(stretches, [sym, anti], rtol=1e-4)
    # MD along x from velocities exciting both stretches (small amplitude: harmonic)
    v0 = np.array([[0.5, 0, 0], [-0.3, 0, 0], [0.1, 0, 0]])
    v0 -= (masses[:, None] * v0).sum(0) / masses.sum()
    dt = 0.0005
    rs, vs = velocity_verlet(energy, r0, v0, masses, dt, 16384)
    traj = trajectory_from_arrays(rs, masses, np.arange(rs.shape[0]) * dt, vs)
    nu, g = vdos(traj, pad=4)
    step = nu[1] - nu[0]
    peaks = [nu[np.argmax(np.where(np.abs(nu - s) < 60, g, 0))] for s in (sym, anti)]
    np.testing.assert_allclose(peaks, [sym, anti], atol=2 * step)
    # IR with charges O −0.3, C +0.6: only the antisymmetric stretch changes the dipole
    nu, ir = ir_spectrum(traj, [-0.3, 0.6, -0.3], correction="none", pad=4)
    assert nu[np.argmax(ir)] == pytest.approx(anti, abs=2 * step)
    assert ir[np.argmin(np.abs(nu - sym))] < 1e-3 * ir.max()


def test_bad_input():
    traj, _ = _oscillator(velocities=False)
    with pytest.raises(DataFormatError, match="has no velocities, which a VDOS needs"):
        vdos(traj)
    with pytest.raises(DataFormatError, match="charges sum to 0.1 e but the stated total charge is 0 e"):
        ir_spectrum(traj, [0.6, -0.5])
    t = np.arange(8) * 0.001
    t[5] += 1e-4
    with pytest.raises(DataFormatError, match="expected uniform, increasing time steps"):
        trajectory_from_arrays(np.zeros((8, 1, 3)), [1.0], t)


def test_a_trajectory_file_read_through_ase_gives_the_same_spectrum(tmp_path):
    """The O=C=O trajectory written as extended XYZ with velocities by ASE, read back by `read_trajectory`
    (positions, ASE's masses, velocities converted from ASE's time unit): the same VDOS as from the arrays."""
    ase = pytest.importorskip("ase")
    import ase.io

    from instruments.vib.atomistic import read_trajectory

    masses = np.array([15.999, 12.011, 15.999])  # ASE's standard masses, so that both routes weigh the same
    energy = harmonic_bonds([(0, 1), (1, 2)], [1000.0, 1000.0], [1.16, 1.16])
    r0 = np.array([[-1.16, 0.0, 0.0], [0.0, 0.0, 0.0], [1.16, 0.0, 0.0]])
    v0 = np.array([[0.5, 0, 0], [-0.3, 0, 0], [0.1, 0, 0]])
    v0 -= (masses[:, None] * v0).sum(0) / masses.sum()
    dt = 0.0005
    rs, vs = velocity_verlet(energy, r0, v0, masses, dt, 2048)
    frames = []
    for r, v in zip(rs, vs, strict=True):
        atoms = ase.Atoms("OCO", positions=r)
        atoms.set_velocities(v / (ase.units.fs * 1e3))  # Å/ps → ASE's unit
        frames.append(atoms)
    path = tmp_path / "co2.extxyz"
    ase.io.write(path, frames)
    read = read_trajectory(path, dt)
    np.testing.assert_allclose(read.masses_amu, masses, rtol=1e-4)
    np.testing.assert_allclose(read.positions_A, rs, atol=1e-6)
    np.testing.assert_allclose(read.velocities_A_ps, vs, rtol=1e-6, atol=1e-6)
    nu_a, g_a = vdos(trajectory_from_arrays(rs, masses, np.arange(len(rs)) * dt, vs))
    nu_b, g_b = vdos(read)
    np.testing.assert_allclose(nu_b, nu_a)
    np.testing.assert_allclose(g_b, g_a, rtol=1e-4, atol=1e-6 * g_a.max())
    with pytest.raises(DataFormatError, match="ASE could not read it as a trajectory"):
        (tmp_path / "bad.extxyz").write_text("not a trajectory\n")
        read_trajectory(tmp_path / "bad.extxyz", dt)


def test_raman_of_carbon_dioxide_obeys_mutual_exclusion_and_its_depolarisation_ratio():
    """Bond-polarisability Raman of the O=C=O run: the symmetric stretch is Raman active, the antisymmetric one
    (the IR-active stretch) is not — mutual exclusion, from the model; and the depolarisation ratio of the
    symmetric stretch is the analytic 3γ'²/(45a'² + 4γ'²) with a' = (α'∥ + 2α'⊥)/3, γ' = α'∥ − α'⊥ (bonds along
    one axis: only their lengths change)."""
    from instruments.vib.atomistic import BondPolarizability, raman_spectrum

    masses = np.array([16.0, 12.0, 16.0])
    energy = harmonic_bonds([(0, 1), (1, 2)], [1000.0, 1000.0], [1.16, 1.16])
    r0 = np.array([[-1.16, 0.0, 0.0], [0.0, 0.0, 0.0], [1.16, 0.0, 0.0]])
    v0 = np.array([[0.5, 0, 0], [-0.3, 0, 0], [0.1, 0, 0]])
    v0 -= (masses[:, None] * v0).sum(0) / masses.sum()
    dt = 0.0005
    rs, vs = velocity_verlet(energy, r0, v0, masses, dt, 16384)
    traj = trajectory_from_arrays(rs, masses, np.arange(rs.shape[0]) * dt, vs)
    k = 1000.0 / KJ_MOL_PER_AMU_A2_PS2
    sym = math.sqrt(k / 16.0) / RAD_PER_PS_PER_CM1
    anti = math.sqrt(k * (1 / 16.0 + 2 / 12.0)) / RAD_PER_PS_PER_CM1
    model = BondPolarizability(2.0, 1.0, 2.0, 0.5, 1.16)  # α∥, α⊥ [Å³]; α'∥, α'⊥ [Å²]
    spec = raman_spectrum(traj, [(0, 1), (1, 2)], model, correction="none", pad=4)
    nu, vv, vh = spec["wavenumber_cm1"], spec["VV"], spec["VH"]
    step = nu[1] - nu[0]
    assert nu[np.argmax(vv)] == pytest.approx(sym, abs=2 * step)
    assert vv[np.argmin(np.abs(nu - anti))] < 1e-3 * vv.max()
    near = np.abs(nu - sym) < 40.0
    rho = vh[near].sum() / vv[near].sum()
    a1, g1 = (2.0 + 2 * 0.5) / 3, 2.0 - 0.5
    assert rho == pytest.approx(3 * g1**2 / (45 * a1**2 + 4 * g1**2), rel=1e-3)
    with pytest.raises(DataFormatError, match="bonds: expected pairs of distinct atom indices below 3"):
        raman_spectrum(traj, [(0, 3)], model)
