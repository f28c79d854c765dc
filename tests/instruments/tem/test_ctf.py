"""Objective-lens optics: wavelength against published values, CTF zeros against the analytic roots, envelopes,
and the ``twin tem ctf`` command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from instruments.tem.ctf import (
    SCHERZER_FIRST_ZERO,
    Lens,
    aberration_phase,
    first_zero_inv_A,
    interaction_constant,
    parse_voltage_V,
    phase_ctf,
    point_resolution_A,
    scherzer_defocus_A,
    spatial_envelope,
    temporal_envelope,
    wavelength_A,
)
from mofcore.errors import UnitError
from twin import cli


@pytest.mark.parametrize(("kv", "published_A"), [(300, 0.019687), (200, 0.025079), (100, 0.037014), (80, 0.041757)])
def test_wavelength_matches_published_values(kv, published_A):
    # Kirkland, Advanced Computing in Electron Microscopy (2010), Table 2.2; Williams & Carter, Table 1.1
    assert wavelength_A(kv * 1e3) == pytest.approx(published_A, abs=1.5e-6)


def test_interaction_constant_at_300_kv():
    # Kirkland (2010) eq. 5.6 / Fig. 5.5: sigma(300 kV) = 0.00065 rad/(V·Å)
    assert interaction_constant(300e3) == pytest.approx(6.526e-4, rel=1e-3)


def test_nonrelativistic_limit():
    v = 10.0  # 10 V: lambda = 12.2643 / sqrt(V) Å
    assert wavelength_A(v) == pytest.approx(12.2643 / math.sqrt(v), rel=1e-5)


def _numeric_first_zero(lam, df, cs):
    k = np.linspace(0.02, 3.0, 600_001)
    s = np.sin(aberration_phase(k, lam, df, cs))
    i = np.nonzero(np.sign(s[1:]) != np.sign(s[:-1]))[0][0]
    return k[i] - s[i] * (k[i + 1] - k[i]) / (s[i + 1] - s[i])


@pytest.mark.parametrize("df_A", [-561.2, -300.0, -1200.0, 200.0, 0.0, -900.0])
def test_first_zero_matches_numerical_root(df_A):
    lam, cs = wavelength_A(300e3), 1.2e7
    assert first_zero_inv_A(lam, df_A, cs) == pytest.approx(_numeric_first_zero(lam, df_A, cs), rel=1e-5)


def test_ctf_zeros_at_analytic_frequencies():
    """sin chi vanishes exactly where chi = n pi: k_n^2 from the quadratic in k^2."""
    lam, cs, df = wavelength_A(200e3), 0.5e7, -400.0
    a, b = 0.5 * cs * lam**3, lam * df
    for n in (-1, 1, 2, 5):
        disc = b * b + 4 * a * n
        if disc < 0:
            continue
        for sign in (1, -1):
            u = (-b + sign * math.sqrt(disc)) / (2 * a)
            if u > 0:
                k = math.sqrt(u)
                assert aberration_phase(k, lam, df, cs) == pytest.approx(n * math.pi, abs=1e-9)
                assert abs(phase_ctf(np.array([k]), lam, df, cs)[0]) < 1e-9


def test_scherzer_figures_at_300_kv_12_mm():
    lam, cs = wavelength_A(300e3), 1.2e7
    df = scherzer_defocus_A(cs, lam)
    assert df == pytest.approx(-math.sqrt(4 / 3 * cs * lam))
    assert df / 10 == pytest.approx(-56.12, abs=0.01)
    # at Scherzer chi stays above -2 pi/3 and the first zero is chi = 0 at K = sqrt(2 sqrt(4/3))
    k1 = first_zero_inv_A(lam, df, cs)
    assert k1 == pytest.approx(SCHERZER_FIRST_ZERO / (cs * lam**3) ** 0.25, rel=1e-12)
    k = np.linspace(1e-3, k1 * 0.999, 2000)
    assert np.all(aberration_phase(k, lam, df, cs) >= -2 * math.pi / 3 - 1e-9)
    assert point_resolution_A(lam, cs) == pytest.approx(0.658 * cs**0.25 * lam**0.75, rel=1e-3)
    assert point_resolution_A(lam, cs) == pytest.approx(2.036, abs=1e-3)


def test_envelopes_limits_and_values():
    lam = wavelength_A(300e3)
    k = np.array([0.0, 0.5, 1.0])
    assert np.allclose(temporal_envelope(k, lam, 0.0), 1.0)
    assert temporal_envelope(np.array([0.0]), lam, 30.0)[0] == 1.0
    # E_t(k) = exp(-0.5 (pi lam Delta)^2 k^4)
    assert temporal_envelope(np.array([1.0]), lam, 30.0)[0] == pytest.approx(math.exp(-0.5 * (math.pi * lam * 30) ** 2))
    assert np.allclose(spatial_envelope(k, lam, -500.0, 1.2e7, 0.0), 1.0)
    # spatial envelope is 1 where d chi / dk = 0 (k^2 = -df / (Cs lam^2))
    k0 = math.sqrt(500.0 / (1.2e7 * lam**2))
    assert spatial_envelope(np.array([k0]), lam, -500.0, 1.2e7, 1e-3)[0] == pytest.approx(1.0)
    assert spatial_envelope(np.array([0.6]), lam, -500.0, 1.2e7, 1e-3)[0] < 1.0


def test_lens_transfer_aperture_and_modulus():
    lens = Lens(voltage_V=300e3, cs_A=1.2e7, defocus_A=-561.0, aperture_mrad=10.0)
    k = np.linspace(0, 1.0, 101).astype(np.float32)
    t = np.asarray(lens.transfer(k))
    cutoff = 10e-3 / lens.wavelength_A
    assert np.allclose(np.abs(t[k <= cutoff]), 1.0, atol=1e-6)
    assert np.all(t[k > cutoff] == 0)


@pytest.mark.parametrize("bad", ["0 kV", "-300 kV", "300", "300 K", "abc"])
def test_bad_voltage(bad):
    with pytest.raises(UnitError, match="voltage"):
        parse_voltage_V(bad)


def test_cli_json(capsys):
    assert cli.main(["tem", "ctf", "--voltage", "300 kV", "--cs", "1.2 mm", "--defocus", "scherzer", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["wavelength_A"] == pytest.approx(0.019687, abs=1e-6)
    assert out["scherzer_defocus_nm"] == pytest.approx(56.12, abs=0.01)
    assert out["point_resolution_A"] == pytest.approx(1 / out["first_zero_inv_A"])
    assert out["first_zero_inv_A"] == pytest.approx(0.4913, abs=1e-4)


def test_cli_explicit_defocus(capsys):
    assert cli.main(["tem", "ctf", "--defocus", "-30 nm", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["defocus_nm"] == pytest.approx(-30.0)
    assert out["first_zero_inv_A"] == pytest.approx(first_zero_inv_A(wavelength_A(3e5), -300.0, 1.2e7))


def test_cli_help_states_conventions(capsys):
    with pytest.raises(SystemExit):
        cli.main(["tem", "ctf", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "UNDERFOCUS" in text and "sqrt(4/3 Cs lambda)" in text and "Scherzer" in text


@pytest.mark.parametrize(("option", "value", "match"), [("--voltage", "0 kV", "voltage"),
                                                        ("--voltage", "-5 kV", "voltage"),
                                                        ("--cs", "-1 mm", "cs"), ("--cs", "3 K", "cs"),
                                                        ("--defocus", "fast", "defocus")])
def test_cli_bad_input_one_line_exit_2(option, value, match, capsys):
    assert cli.main(["tem", "ctf", f"{option}={value}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and "error" in err
