"""Static ²H powder lineshapes with exchange (instruments/nmr): analytic limits, published geometry results and
mrsimulator on the same input.

Convention checked here: C_q = e²qQ/h; for η_Q = 0 the horns of the Pake doublet are at ±(3/8)·C_q (splitting
(3/4)·C_q) and the shoulders at ±(3/4)·C_q; with η_Q the horns move to ±(3/8)·C_q·(1 − η_Q).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from instruments.nmr import (
    arrhenius_rate,
    deuterium_spectrum,
    echo_intensity,
    exchange_modes,
    exchange_spectrum,
    jump_model,
    ln_rate_width,
    motional_average,
    powder_convergence,
    zcw_orientations,
)
from instruments.nmr.motion import MAGIC_ANGLE_DEG, TETRAHEDRAL_ANGLE_DEG
from mofcore.errors import DataFormatError

CQ = 170e3
NU = np.linspace(-250e3, 250e3, 2048, endpoint=False)  # 244 Hz steps
COARSE = np.linspace(-250e3, 250e3, 512, endpoint=False)  # 977 Hz steps, for the checks that need no resolution


def _peaks(nu, y, positive=True):
    """Frequency of the highest point on one side of zero."""
    side = nu > 0 if positive else nu < 0
    return float(nu[side][np.argmax(y[side])])


def test_rigid_pake_doublet_horns_shoulders_and_area():
    y = deuterium_spectrum(CQ, 0.0, "rigid", None, 0.0, 0.0, NU, lorentzian_hz=500.0)
    step = NU[1] - NU[0]
    assert np.sum(y) * step == pytest.approx(1.0, abs=2e-3)  # the area is the echo amplitude
    # horns at ±3/8 C_q (splitting 3/4 C_q): the broadened maximum sits at most two grid steps inside
    assert _peaks(NU, y) == pytest.approx(0.375 * CQ, abs=2 * step)
    assert _peaks(NU, y, positive=False) == pytest.approx(-0.375 * CQ, abs=2 * step)
    # shoulders: the step at ±3/4 C_q, where the plateau falls to half its height
    plateau = y[np.argmin(np.abs(NU - 0.70 * CQ))]
    edge = NU[(NU > 0.6 * CQ) & (y < 0.5 * plateau)][0]
    assert edge == pytest.approx(0.75 * CQ, abs=2 * step)
    assert np.max(np.abs(y[1:] - y[1:][::-1])) < 1e-3 * y.max()  # symmetric about 0 (ν_k = −ν_(n−k))


def test_asymmetry_moves_the_horns_to_three_eighths_cq_times_one_minus_eta():
    nu = np.linspace(-150e3, 150e3, 4096, endpoint=False)  # 73 Hz steps
    y = deuterium_spectrum(CQ, 0.5, "rigid", None, 0.0, 0.0, nu, lorentzian_hz=100.0, n_orientations=28657)
    # the logarithmic singularity at ¾C_q·(−(1−η)/2) with a step on its outer side: the maximum of the broadened
    # line lies within 0.3 kHz inside it
    assert 0.375 * CQ * 0.5 - 300.0 < _peaks(nu, y) <= 0.375 * CQ * 0.5 + 100.0


@pytest.mark.parametrize(("motion", "angle", "cq_factor", "eta"), [
    ("pi-flip", 60.0, 5.0 / 8.0, 0.6),                    # phenylene π-flips (Spiess 1985): diag(5/8, −1/2, −1/8)
    ("pi-flip", 120.0, 5.0 / 8.0, 0.6),                   # the same bond seen from the other end of the axis
    ("pi-flip", MAGIC_ANGLE_DEG, 0.5, 1.0),               # jump angle 2θ = 109.47°, the tetrahedral angle
    ("cone", 180.0 - TETRAHEDRAL_ANGLE_DEG, 1.0 / 3.0, 0.0),  # methyl 3-site jumps: P2(cos 70.53°) = −1/3
    ("free-rotation", 60.0, 1.0 / 8.0, 0.0),              # fast rotation: |P2(cos 60°)| = 1/8
    ("tetrahedral", None, 0.0, 0.0),                      # averages to zero: one line at 0
])
def test_fast_limit_tensor(motion, angle, cq_factor, eta):
    average = motional_average(CQ, 0.0, motion, angle)
    assert average.cq_hz == pytest.approx(cq_factor * CQ, rel=1e-9, abs=1e-6)
    assert average.asymmetry == pytest.approx(eta, abs=1e-6)
    assert average.horn_splitting_hz == pytest.approx(0.75 * cq_factor * CQ * (1.0 - eta), abs=1e-3)


def test_tetrahedral_jumps_average_any_asymmetry_to_zero():
    assert motional_average(215e3, 0.1, "tetrahedral").cq_hz == pytest.approx(0.0, abs=1e-6)
    assert jump_model("tetrahedral", 0.1).n_sites == 12 and jump_model("tetrahedral", 0.0).n_sites == 4


def test_fast_pi_flip_spectrum_has_the_horns_of_the_averaged_tensor():
    y = deuterium_spectrum(CQ, 0.0, "pi-flip", 60.0, 1e12, 20e-6, NU, lorentzian_hz=1000.0)
    average = motional_average(CQ, 0.0, "pi-flip", 60.0)
    assert _peaks(NU, y) == pytest.approx(average.horn_splitting_hz / 2.0, abs=2 * (NU[1] - NU[0]))
    assert np.sum(y) * (NU[1] - NU[0]) == pytest.approx(1.0, abs=5e-3)  # full echo in the fast limit


def test_fast_tetrahedral_jumps_give_one_narrow_line():
    y = deuterium_spectrum(215e3, 0.0, "tetrahedral", None, 1e12, 20e-6, NU, lorentzian_hz=2000.0)
    assert abs(float(NU[np.argmax(y)])) <= NU[1] - NU[0]
    # a Lorentzian of unit area: FWHM = 2/(π·max); 2 kHz plus the float32 residue of the exchange (< 0.3 kHz)
    assert 1.9e3 < 2.0 / (np.pi * y.max()) < 2.3e3


def test_two_site_exchange_coalesces_at_pi_delta_over_root_two():
    """Two equally populated lines Δν apart coalesce at k = πΔν/√2 (Gutowsky & Holm 1956)."""
    nu = np.linspace(-5000.0, 5000.0, 2001)
    dnu = 1000.0
    k_c = math.pi * dnu / math.sqrt(2.0)
    centre = 1000

    def curvature(k):
        y = exchange_spectrum([-dnu / 2, dnu / 2], np.array([[-k, k], [k, -k]]), [0.5, 0.5], nu)
        return y[centre] - 0.5 * (y[centre - 20] + y[centre + 20]), y

    assert curvature(0.9 * k_c)[0] < 0 < curvature(1.1 * k_c)[0]  # a dip below, a single peak above
    for factor in (0.3, 1.0, 3.0):
        k = factor * k_c
        _, y = curvature(k)
        w, d = 2 * np.pi * nu, 2 * np.pi * dnu / 2
        ref = k * d**2 / ((w**2 - d**2) ** 2 + 4 * k**2 * w**2)  # the analytic lineshape
        ref /= np.trapezoid(ref, nu)
        assert np.max(np.abs(y - ref)) < 2e-3 * ref.max()  # float32, finite window


@pytest.mark.parametrize(("motion", "cq"), [("pi-flip", CQ), ("tetrahedral", 215e3)])
def test_solid_echo_loses_intensity_in_the_intermediate_regime(motion, cq):
    rates = np.logspace(1, 11, 31)
    echo = echo_intensity(cq, 0.0, motion, None, rates, 20e-6, n_orientations=377)
    omega_q = 2 * math.pi * 0.75 * cq
    assert echo[0] > 0.99 and echo[-1] > 0.98  # full echo in both limits
    k_min = rates[np.argmin(echo)]
    assert echo.min() < 0.3 and 0.05 * omega_q < k_min < 10 * omega_q  # the minimum sits near k ~ C_q
    assert np.all(np.abs(echo_intensity(cq, 0.0, motion, None, rates[::8], 0.0, n_orientations=233) - 1) < 1e-3)


def test_powder_average_converges():
    result = powder_convergence(CQ, 0.0, "pi-flip", 60.0, 1e5, 20e-6, COARSE, lorentzian_hz=2000.0,
                                sizes=(377, 2584), reference=10946)
    deviation = result["max_deviation"]
    assert deviation[0] > deviation[1] and deviation[1] < 0.03


def test_zcw_sets_are_unit_vectors_in_their_domain():
    for domain, sign in (("octant", (1, 1, 1)), ("hemisphere", (0, 0, 1))):
        b, w = zcw_orientations(377, domain)
        assert b.shape == (377, 3) and w.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, rtol=1e-12)
        assert np.all(b[:, np.asarray(sign, bool)] >= -1e-12)
    # the second moment of an isotropic set: <b_z²> = 1/3
    b, _ = zcw_orientations(4181, "sphere")
    assert np.mean(b[:, 2] ** 2) == pytest.approx(1.0 / 3.0, abs=1e-3)


def test_rate_distribution_and_rigid_fraction_limits():
    narrow = deuterium_spectrum(CQ, 0.0, "pi-flip", 60.0, 1e5, 20e-6, COARSE, rate_width=1e-6, n_orientations=377)
    single = deuterium_spectrum(CQ, 0.0, "pi-flip", 60.0, 1e5, 20e-6, COARSE, n_orientations=377)
    np.testing.assert_allclose(narrow, single, atol=1e-4 * single.max())
    rigid = deuterium_spectrum(CQ, 0.0, "pi-flip", 60.0, 1e5, 20e-6, COARSE, rigid_fraction=1.0, n_orientations=377)
    pake = deuterium_spectrum(CQ, 0.0, "pi-flip", 60.0, 0.0, 20e-6, COARSE, n_orientations=377)  # same sites, k = 0
    np.testing.assert_allclose(rigid, pake, atol=1e-3 * pake.max())
    several = deuterium_spectrum(CQ, 0.0, "pi-flip", 60.0, np.array([1e3, 1e5]), 20e-6, COARSE, n_orientations=377)
    assert several.shape == (2, COARSE.size)
    np.testing.assert_allclose(several[1], single, atol=1e-5 * single.max())


def test_two_site_closed_form_matches_the_eigen_decomposition():
    omega = jnp.asarray([3e5, -5e5], jnp.float32)
    for k in (1e3, 1e6, 1e8):
        rates = jnp.asarray([[-k, k], [k, -k]], jnp.float32)
        p, tau = jnp.asarray([0.5, 0.5], jnp.float32), jnp.asarray(20e-6, jnp.float32)
        lam, amp = exchange_modes(omega, rates, p, tau)
        lam_j, amp_j = jax.jit(exchange_modes)(omega, rates, p, tau)  # jit == eager
        np.testing.assert_allclose(np.asarray(lam_j), np.asarray(lam), rtol=1e-6)
        a = 1j * np.diag(np.asarray(omega, float)) + np.asarray(rates, float)  # float64 reference
        ev, vec = np.linalg.eig(a)
        inv = np.linalg.inv(vec)
        q = np.conj(vec @ (np.exp(ev * 20e-6) * (inv @ [0.5, 0.5])))
        ref = vec.sum(0) * np.exp(ev * 20e-6) * (inv @ q)
        lam_np = np.asarray(lam)
        order, mine = np.argsort(ev.imag + 1e-3 * ev.real), np.argsort(lam_np.imag + 1e-3 * lam_np.real)
        np.testing.assert_allclose(np.asarray(lam)[mine], ev[order], rtol=2e-6, atol=1e-3 * k / 1e6 + 1e-2)
        np.testing.assert_allclose(np.asarray(amp)[mine], ref[order], atol=2e-6)


def test_arrhenius_and_energy_width():
    assert arrhenius_rate(1e13, 43.0, 303.0) == pytest.approx(1e13 * math.exp(-43000.0 / (8.314462618 * 303.0)))
    assert ln_rate_width(2.0, 300.0) == pytest.approx(2000.0 / (8.314462618 * 300.0))


def test_bad_input_is_named():
    with pytest.raises(DataFormatError, match=r"^rate: expected non-negative finite rates"):
        deuterium_spectrum(CQ, 0.0, "pi-flip", 60.0, -1.0, 20e-6, NU)
    with pytest.raises(DataFormatError,
                       match=r"^asymmetry: expected the quadrupolar asymmetry η_Q in \[0, 1\], got 1.5$"):
        deuterium_spectrum(CQ, 1.5, "pi-flip", 60.0, 1e3, 20e-6, NU)
    with pytest.raises(DataFormatError, match=r"^frequency: the window -50..49.9 kHz is too narrow for C_q = 170 kHz"):
        deuterium_spectrum(CQ, 0.0, "rigid", None, 0.0, 20e-6, np.linspace(-50e3, 49.9e3, 512))
    with pytest.raises(DataFormatError, match=r"motion: expected one of .*got 'pi_flip' \(did you mean 'pi-flip'\?\)"):
        jump_model("pi_flip")
    with pytest.raises(DataFormatError, match=r"expected uniformly spaced frequencies"):
        deuterium_spectrum(CQ, 0.0, "rigid", None, 0.0, 0.0, np.geomspace(1.0, 5e5, 64) - 2.5e5)


def test_mrsimulator_static_2h_agrees():
    """mrsimulator 1.0 (BlochDecaySpectrum, ASG interpolation, integration_density 120) and this model on the same
    grid, both with a 2 kHz exponential (Lorentzian) apodisation, unit area: max |Δ| ≤ 2 % of the maximum and rms ≤
    0.3 % (measured: η_Q = 0: 1.4 %, 0.10 %; η_Q = 0.3: 1.2 %, 0.20 % with 4181 ZCW directions)."""
    pytest.importorskip("mrsimulator")
    from mrsimulator import Simulator, Site, SpinSystem
    from mrsimulator import signal_processor as sp
    from mrsimulator.method import SpectralDimension
    from mrsimulator.method.lib import BlochDecaySpectrum

    for eta in (0.0, 0.3):
        site = Site(isotope="2H", isotropic_chemical_shift=0, quadrupolar={"Cq": CQ, "eta": eta})
        method = BlochDecaySpectrum(channels=["2H"], magnetic_flux_density=9.4, rotor_frequency=0,
                                    spectral_dimensions=[SpectralDimension(count=2048, spectral_width=500e3,
                                                                           reference_offset=0)])
        simulator = Simulator(spin_systems=[SpinSystem(sites=[site])], methods=[method])
        simulator.config.integration_density = 120
        simulator.config.number_of_sidebands = 1
        simulator.run()
        processor = sp.SignalProcessor(operations=[sp.IFFT(), sp.apodization.Exponential(FWHM="2 kHz"), sp.FFT()])
        dataset = processor.apply_operations(dataset=simulator.methods[0].simulation)
        dim = dataset.x[0]
        nu = dim.coordinates.value * float(dim.origin_offset.to("Hz").value) * 1e-6
        peer = np.asarray(dataset.y[0].components[0]).real
        ours = deuterium_spectrum(CQ, eta, "rigid", None, 0.0, 0.0, nu, lorentzian_hz=2000.0)
        peer, ours = peer / np.trapezoid(peer, nu), ours / np.trapezoid(ours, nu)
        assert np.max(np.abs(peer - ours)) < 0.02 * peer.max()
        assert np.sqrt(np.mean((peer - ours) ** 2)) < 0.003 * peer.max()
