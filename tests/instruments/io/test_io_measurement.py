"""Measurement type: Bragg conversions, Kα2 stripping, normalisation, pandas view, series tables."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.measurement import (
    Measurement,
    MeasurementSeries,
    counting_uncertainty,
    q_to_two_theta,
    strip_kalpha2,
    two_theta_to_q,
)
from instruments.observable import Axis

CU_KA1, CU_KA2 = 1.540598, 1.544426  # Å, Hölzer et al. 1997


def _gauss(x: np.ndarray, c: float, w: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - c) / w) ** 2)


def test_bragg_silicon_111() -> None:
    # Si a = 5.431020 Å (NIST SRM 640 family), d111 = a/√3 = 3.13560 Å → 2θ = 28.4427° with Cu Kα1
    d = 5.431020 / np.sqrt(3.0)
    q = 2.0 * np.pi / d
    tt = float(q_to_two_theta(np.array([q]), CU_KA1)[0])
    assert tt == pytest.approx(np.degrees(2.0 * np.arcsin(CU_KA1 / (2.0 * d))), abs=1e-4)
    assert tt == pytest.approx(28.4427, abs=2e-3)
    back = float(two_theta_to_q(np.array([tt]), CU_KA1)[0])
    assert back == pytest.approx(q, rel=1e-5)


def test_q_beyond_reach_is_nan_and_dropped() -> None:
    q = np.array([1.0, 8.0, 9.0])  # 4π/λ = 8.157 Å⁻¹ at Cu Kα1
    tt = np.asarray(q_to_two_theta(q, CU_KA1))
    assert np.isfinite(tt[:2]).all() and np.isnan(tt[2])
    m = Measurement(Axis(q, "q", "1/Å"), np.ones(3), wavelength_ang=CU_KA1)
    assert m.to_two_theta().n_points == 2


def test_rachinger_removes_the_kalpha2_replica() -> None:
    x = np.arange(20.0, 60.0, 0.005)
    centres = [28.44, 47.30]
    a1 = sum(_gauss(x, c, 0.03) for c in centres)
    c2 = [np.degrees(2.0 * np.arcsin(CU_KA2 / CU_KA1 * np.sin(np.radians(c) / 2.0))) for c in centres]
    a2 = sum(_gauss(x, c, 0.03) for c in c2)
    measured = a1 + 0.5 * a2
    stripped = np.asarray(strip_kalpha2(x, measured, CU_KA1, CU_KA2, 0.5))
    # the doublet separation at 47.3° is 0.126° (> 4 widths): the α2 peak must vanish
    k2 = int(np.argmin(np.abs(x - c2[1])))
    assert measured[k2] == pytest.approx(0.5, abs=0.02)
    assert abs(stripped[k2]) < 0.02
    assert np.max(np.abs(stripped - a1)) < 0.03
    # with R = 0 nothing changes
    np.testing.assert_allclose(np.asarray(strip_kalpha2(x, measured, CU_KA1, CU_KA2, 0.0)), measured, rtol=1e-6, atol=1e-6)  # float32


def test_measurement_strip_uses_metadata() -> None:
    x = np.arange(40.0, 50.0, 0.01)
    m = Measurement(Axis(x, "two_theta", "deg"), _gauss(x, 45.0, 0.05),
                    metadata={"kalpha1_ang": CU_KA1, "kalpha2_ang": CU_KA2, "kalpha_ratio": 0.5})
    s = m.strip_kalpha2()
    assert s.metadata["kalpha2_stripped"] is True
    with pytest.raises(ValueError, match="states no Kα1/Kα2"):
        Measurement(Axis(x, "two_theta", "deg"), x).strip_kalpha2()


def test_normalisation_and_counting_sigma() -> None:
    x = np.linspace(0.0, 1.0, 101)
    y = 4.0 * np.ones_like(x)
    m = Measurement(Axis(x, "two_theta", "deg"), y, uncertainties=counting_uncertainty(y), uncertainty_kind="counting",
                    metadata={"count_time_s": 2.0})
    assert m.normalised("max").values.max() == pytest.approx(1.0)
    assert np.trapezoid(m.normalised("area").values, x) == pytest.approx(1.0)
    per_s = m.normalised("time")
    assert per_s.values[0] == pytest.approx(2.0) and per_s.uncertainties[0] == pytest.approx(1.0)
    assert counting_uncertainty(np.array([0.0, 9.0])) == pytest.approx([1.0, 3.0])
    with pytest.raises(ValueError, match="norm is 0"):
        Measurement(Axis(x, "two_theta", "deg"), 0 * x).normalised("max")


def test_pandas_view_and_series_table() -> None:
    x = np.array([10.0, 10.1, 10.2])
    items = [Measurement(Axis(x, "two_theta", "deg"), np.array([1.0, 2.0, 3.0]) * k, conditions={"temperature_K": 300.0 + k})
             for k in range(3)]
    df = items[0].to_pandas()
    assert list(df.columns) == ["two_theta_deg", "intensity"]
    s = MeasurementSeries(tuple(items), ("a", "b", "c"))
    np.testing.assert_allclose(s.conditions_table()["temperature_K"], [300.0, 301.0, 302.0])
    axis, values, sigma = s.stack()
    assert values.shape == (3, 3) and sigma is None
    long = s.to_pandas()
    assert len(long) == 9 and set(long["label"]) == {"a", "b", "c"}
    summary = s.summary()
    assert summary["frames"] == 3 and summary["axis"]["min"] == 10.0


def test_conditions_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        Measurement(Axis(np.zeros(1)), np.zeros(1), conditions={"temp": 3.0})
