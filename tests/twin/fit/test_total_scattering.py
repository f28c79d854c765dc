"""Total-scattering series fit (twin/fit/total_scattering.py): synthetic recovery, the measured ZIF-4 series
(Gaillac et al., Nature Mater. 16, 1149 (2017)) through ``twin fit``, and bad input.

What the measured data support (checked before writing the assertions, docs/fit.md): the F(Q) of the sample is
already that of an amorphous solid at 31 °C — no Bragg features, no correlations beyond ~8 Å in its Fourier
transform — so the fit finds a crystalline fraction near 0 at 31 °C as at 589 °C, and the test says so.
"""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from instruments.observable import Axis, Observable
from instruments.xrd import load_structure
from twin.errors import FitError
from twin.fit.total_scattering import (
    fit_total_scattering_series,
    load_total_scattering_series,
    make_total_scattering_setup,
    model_fq,
)

ZIF4_FQ = "scattering/zif4_xray_fq_gaillac2017"


@pytest.fixture(scope="module")
def zif4(repo_root):
    return load_structure(repo_root / "datasets" / "structures" / "zif4_park2006.cif")


def test_synthetic_series_recovers_crystalline_fraction_and_sizes_within_their_esd(zif4, shared_data):
    real = load_total_scattering_series([shared_data / ZIF4_FQ / "ZIF4glassa_31.int01"])
    q, sigma = np.asarray(real.axis.values), real.sigma[0]
    setup = make_total_scattering_setup(zif4, q, r_max_A=40.0, bounds={"coherent_size_nm": (1.5, 3.64)})
    names = setup.names()
    truths = [
        {"scale": 0.5, "crystalline_fraction": 0.6, "coherent_size_nm": 2.8, "amorphous_size_nm": 0.8,
         "u2_bond_A2": 0.002, "u2_local_A2": 0.006, "u2_A2": 0.015, "expansion": 0.004,
         "background_0": 0.01, "background_1": -0.005, "background_2": 0.003},
        {"scale": 0.5, "crystalline_fraction": 0.0, "coherent_size_nm": 2.8, "amorphous_size_nm": 0.7,
         "u2_bond_A2": 0.002, "u2_local_A2": 0.006, "u2_A2": 0.02, "expansion": -0.01,
         "background_0": 0.0, "background_1": 0.0, "background_2": 0.0},
    ]
    rng = np.random.default_rng(3)
    clean = np.stack([np.asarray(model_fq(jnp.asarray([t[n] for n in names], jnp.float32), setup)) for t in truths])
    noisy = clean + sigma[None, :] * rng.standard_normal(clean.shape)
    data = Observable(axis=Axis(q, "q", "1/Å"), values=noisy, sigma=np.broadcast_to(sigma, noisy.shape).copy(),
                      conditions={"temperature_K": np.array([300.0, 400.0])}, technique="total-scattering",
                      labels=("synthetic c=0.6", "synthetic c=0"))
    fit = fit_total_scattering_series(data, setup, fraction_starts=(0.3,))  # one start (+ the previous frame's)
    assert fit["converged"].all()
    for name in ("crystalline_fraction", "coherent_size_nm", "amorphous_size_nm", "u2_A2", "expansion"):
        k = names.index(name)
        value, esd = fit["values"][0, k], fit["esd"][0, k]
        assert abs(value - truths[0][name]) < 3.0 * esd + 1e-4, (name, value, esd)  # calibrated to ~3 esd
    k = names.index("crystalline_fraction")
    assert fit["values"][0, k] == pytest.approx(0.6, abs=0.05)
    assert fit["values"][1, k] < 0.05  # an amorphous frame is not mistaken for crystal
    assert np.all(fit["chi2_reduced"] < 1.3)


def test_measured_zif4_series_through_twin_fit(shared_data, repo_root, tmp_path):
    """Two measured frames through the fit file and the CLI: the sample is amorphous at both ends of the ramp."""
    from twin.cli import main

    folder = shared_data / ZIF4_FQ
    fit_file = tmp_path / "fit.toml"
    fit_file.write_text(f"""
[fit]
technique = "total-scattering"
structure = "zif4_park2006.cif"
r_max = "40 A"

[[measurements]]
path = "{folder / 'ZIF4glassa_31.int01'}"

[[measurements]]
path = "{folder / 'ZIF4glassa_589.int01'}"

[parameters.coherent_size_nm]
bounds = [3.0, 3.64]
""", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["fit", str(fit_file), "-o", str(out)]) == 0
    result = json.loads((out / "fit_result.json").read_text(encoding="utf-8"))
    assert {"parameters", "figures_of_merit", "correlations", "measurements", "provenance"} <= set(result)
    for entry in result["parameters"].values():
        assert {"value", "stderr", "interval_90", "unit"} <= set(entry)
    c31 = result["parameters"]["crystalline_fraction_31C"]
    c589 = result["parameters"]["crystalline_fraction_589C"]
    assert c31["value"] < 0.1 and c589["value"] < 0.1  # no long-range (crystalline) order in either frame
    d31, d589 = (result["parameters"][f"amorphous_size_nm_{t}"]["value"] for t in ("31C", "589C"))
    assert d31 > 2.0 * d589  # the retained order shortens in the hot frame (docs/fit.md)
    assert result["series"]["Rwp"][0] < 0.2  # the local-order model describes the 31 °C glass beyond the FSDP
    assert [m["temperature_C"] for m in result["measurements"]] == [31.0, 589.0]
    csv = [ln for ln in (out / "fit_series.csv").read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    assert csv[0].startswith("temperature_C,crystalline_fraction,crystalline_fraction_esd,coherent_size_nm")
    assert len(csv) == 3
    assert (out / "fit_total_scattering.png").stat().st_size > 10_000


def test_a_two_theta_pattern_is_refused_with_the_file_named(tmp_path):
    pattern = tmp_path / "zif4_31C.xy"
    pattern.write_text("\n".join(f"{5 + 0.02 * i:.2f} {100 + i % 7}" for i in range(300)), encoding="utf-8")
    with pytest.raises(FitError, match=r"zif4_31C\.xy: expected F\(Q\) on a Q axis .* got two_theta \(deg\)"):
        load_total_scattering_series([pattern])


def test_files_without_temperature_are_refused(shared_data, tmp_path):
    src = (shared_data / ZIF4_FQ / "ZIF4glassa_31.int01").read_bytes()
    (tmp_path / "frame.int01").write_bytes(src)
    with pytest.raises(FitError, match=r"frame\.int01: no temperature for this frame .* give the temperatures"):
        load_total_scattering_series([tmp_path / "frame.int01"])
    # an explicit temperature is enough; the same temperature twice is not
    data = load_total_scattering_series([(tmp_path / "frame.int01", 304.15)])
    assert data.labels == ("31 °C",)
    (tmp_path / "copy_31.int01").write_bytes(src)
    with pytest.raises(FitError, match=r"two frames at 31 °C"):
        load_total_scattering_series([(tmp_path / "frame.int01", 304.15), tmp_path / "copy_31.int01"])


def test_a_fitted_range_outside_the_measured_one_is_refused(shared_data):
    """The measured Q grid ends at 24 1/Å: a fit range of 30-40 1/Å has no overlap with it."""
    frame = shared_data / ZIF4_FQ / "ZIF4glassa_31.int01"
    with pytest.raises(FitError, match=r"fewer than 20 points in the fitted range Q = 30\.\.40 1/Å"):
        load_total_scattering_series([(frame, 304.15)], q_range_inv_ang=(30.0, 40.0))


def test_fit_file_errors_name_the_key(tmp_path, repo_root, shared_data):
    from twin.fit.config import load_fit_config

    bad = tmp_path / "fit.toml"
    bad.write_text('[fit]\ntechnique = "total-scattering"\nstructure = "zif4_park2006.cif"\nq_range = [5, 2]\n'
                   '[[measurements]]\npath = "."\n', encoding="utf-8")
    with pytest.raises(FitError, match=r"fit\.toml: fit\.q_range: expected \[Q_min, Q_max\]"):
        load_fit_config(bad)
    bad.write_text('[fit]\ntechnique = "total-scattering"\nstructure = "zif4_park2006.cif"\n[[measurements]]\n'
                   'path = "."\n[parameters.crystalline_fractoin]\nvalue = 0.5\n', encoding="utf-8")
    with pytest.raises(FitError, match=r"parameters\.crystalline_fractoin: unknown key.*crystalline_fraction"):
        load_fit_config(bad)
    # the shipped example reads the in-repo copy of the data, relative to examples/
    cfg = load_fit_config(repo_root / "examples" / "zif4_total_scattering_fit.toml")
    assert cfg.technique == "total-scattering" and cfg.options["structure"].name == "zif4_park2006.cif"
    assert cfg.options["structure"].resolve() == repo_root / "datasets" / "structures" / "zif4_park2006.cif"
    assert [p.resolve() for p, _ in cfg.measurements] == [shared_data / ZIF4_FQ]
