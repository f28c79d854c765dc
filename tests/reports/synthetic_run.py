"""A small synthetic run directory for report tests: trajectory, XRD series with measured frames, fit result.

The toy physics is only there to make every panel non-trivial and checkable: a powder of three cuboid
crystals of different size swings through a CO2 pressure cycle 0 → 10 → 0 bar; the large-pore phase grows
from the surface inwards above a size-dependent opening pressure and shrinks back below a lower closing
pressure (a hysteresis loop by construction). Phase fractions are computed from the stored η field, so the
summaries and the fields agree exactly. The XRD series mixes two sets of Gaussian reflections by phase
fraction; measured frames are Poisson draws of the scaled simulation (so Rwp ≈ Rexp, χ² ≈ 1).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from instruments.observable import Axis, Observable
from reports import write_observable
from twin.trajectory import FieldSpec, SummarySpec, TrajectoryWriter, default_provenance

SCENARIO = """name = "MIL-53(Al) powder, CO2 swing (synthetic test)"
material = "mil53-al"
seed = 7

[crystal]
shape = "cuboid"
[crystal.distribution]
kind = "lognormal"
median = "8 nm"
width = 0.3
n_crystals = 3

[protocol]
gases = { CO2 = 1.0 }
temperature = "303 K"
pressure = "0 bar"
[[protocol.segments]]
type = "cycles"
low = "0 bar"
high = "10 bar"
count = 1
ramp = "200 s"
hold = "20 s"
"""

N_FRAMES = 45
SITE_SHAPE = (3, 12, 10, 8)
CELL_A = (6.6, 16.7, 12.8)
MEASURED_FRAMES = (5, 22, 38)


def pressure_bar(n: int = N_FRAMES) -> np.ndarray:
    """0 → 10 bar in 20 frames, hold 2, back to 0 in 20, hold 3."""
    up = np.linspace(0.0, 10.0, 21)
    down = np.linspace(10.0, 0.0, 21)
    return np.concatenate([up, [10.0, 10.0], down[1:], [0.0, 0.0, 0.0]])[:n]


def _depth(shape: tuple[int, int, int], extent: tuple[int, int, int]) -> np.ndarray:
    """Distance (in sites) of every site of a cuboid of ``extent`` from its surface; −1 outside."""
    idx = np.indices(shape)
    d = np.full(shape, -1, dtype=np.int64)
    inside = np.ones(shape, dtype=bool)
    dist = []
    for axis, n in enumerate(extent):
        inside &= idx[axis] < n
        dist.append(np.minimum(idx[axis], n - 1 - idx[axis]))
    d[inside] = np.minimum.reduce(dist)[inside]
    return d


def eta_fields(p_bar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """η per frame (n_frames, *SITE_SHAPE) and the mask: open shells grow with p above p_open, retreat below p_close."""
    extents = [(12, 10, 8), (9, 8, 6), (6, 5, 4)]
    depth = np.stack([_depth(SITE_SHAPE[1:], e) for e in extents])
    mask = depth >= 0
    p_open = np.array([3.0, 4.0, 6.0])[:, None, None, None]  # small crystals open later
    p_close = p_open - 2.0
    direction = np.sign(np.diff(p_bar, prepend=p_bar[0]))
    direction = np.maximum.accumulate(np.where(direction != 0, np.arange(direction.size), 0))
    rising = np.sign(np.diff(p_bar, prepend=p_bar[0]))[direction] >= 0
    etas = []
    for p, up in zip(p_bar, rising):
        threshold = p_open if up else p_close
        reach = np.clip((p - threshold) * 1.5, -1, 10)  # how many site shells are open
        eta = np.where(depth < reach, 0.97, 0.03)
        etas.append(np.where(mask, eta, 0.0).astype(np.float32))
    return np.stack(etas), mask


def gaussian_peaks(two_theta: np.ndarray, centers: list[float], heights: list[float], fwhm: float = 0.15) -> np.ndarray:
    s = fwhm / (2 * np.sqrt(2 * np.log(2)))
    return sum(h * np.exp(-0.5 * ((two_theta - c) / s) ** 2) for c, h in zip(centers, heights))


def make_run(root: Path, *, xrd: bool = True, measured: bool = True, fit: bool = True) -> Path:
    """Write a run directory under ``root/run`` and return it."""
    out = root / "run"
    out.mkdir(parents=True, exist_ok=True)
    p = pressure_bar()
    t = np.arange(N_FRAMES) * 10.0
    etas, mask = eta_fields(p)
    n_sites = mask.sum()
    prov = default_provenance(scenario_toml=SCENARIO, seed=7, material="mil53-al", material_sha256="0" * 64)
    summaries = {
        "phase_fraction": SummarySpec((2,), "float64", "1", "fraction of sites per phase"),
        "eta_mean": SummarySpec((2,), "float64", "1", "mean eta per phase"),
        "interface_area_nm2": SummarySpec((), "float64", "nm2", "phase boundary area"),
        "domain_size_histogram": SummarySpec((2, 4), "int64", "1", "histogram"),
        "crystal_phase_fraction": SummarySpec((3, 2), "float64", "1", "phase fractions of each crystal"),
    }
    writer = TrajectoryWriter.create(
        out / "trajectory.h5", guests=("CO2",), phases=("np", "lp"), site_shape=SITE_SHAPE, cell_A=CELL_A, mask=mask,
        fields={"eta": FieldSpec("float32", "1", "eta")}, summaries=summaries, provenance=prov, field_stride=2,
    )
    for k in range(N_FRAMES):
        eta = etas[k]
        open_ = (eta >= 0.5) & mask
        f_open = open_.sum() / n_sites
        per_crystal = open_.sum(axis=(1, 2, 3)) / mask.sum(axis=(1, 2, 3))
        summ = {
            "phase_fraction": np.array([1 - f_open, f_open]),
            "eta_mean": np.array([0.03, 0.97]),
            "interface_area_nm2": float(f_open * (1 - f_open) * 100),
            "domain_size_histogram": np.zeros((2, 4), dtype=np.int64),
            "crystal_phase_fraction": np.stack([1 - per_crystal, per_crystal], axis=1),
        }
        fields = {"eta": eta} if writer.wants_fields(k) else None
        writer.append(t[k], 303.0, np.array([p[k] * 1e5]), 0.0, summ, fields)
    writer.finalize()
    if not xrd:
        return out
    two_theta = np.linspace(5.0, 30.0, 1200)
    lp = gaussian_peaks(two_theta, [8.8, 15.2, 17.7, 25.3], [100, 45, 30, 20])
    np_ = gaussian_peaks(two_theta, [12.5, 13.6, 19.9, 26.1], [80, 60, 25, 15])
    f_open = np.array([((etas[k] >= 0.5) & mask).sum() / n_sites for k in range(N_FRAMES)])
    intensity = f_open[:, None] * lp[None] + (1 - f_open)[:, None] * np_[None] + 2.0
    meas = idx = None
    if measured:
        rng = np.random.default_rng(3)
        idx = np.asarray(MEASURED_FRAMES)
        meas = rng.poisson(40.0 * intensity[idx]).astype(np.float64)
    unit = "counts" if measured else "arb."
    simulated = Observable(axis=Axis(two_theta, "two_theta", "deg"), values=intensity, technique="xrd", unit=unit,
                           conditions={"time_s": t, "pressure_bar": p, "temperature_K": np.full(N_FRAMES, 303.0)},
                           attrs=(("wavelength_A", 1.5406),))
    if measured:
        simulated = simulated.with_measured(Observable(axis=simulated.axis, values=meas, technique="xrd", unit=unit), idx)
    write_observable(out / "observables" / "xrd.h5", simulated)
    if fit:
        mdir = root / "run" / "measured"
        mdir.mkdir(exist_ok=True)
        measurements = []
        for k, row in zip(MEASURED_FRAMES, meas if meas is not None else []):
            f = mdir / f"frame{k:03d}.xy"
            f.write_text("\n".join(f"{a:.4f} {b:.0f}" for a, b in zip(two_theta, row)) + "\n", encoding="utf-8")
            measurements.append({"path": f"measured/{f.name}", "sha256": hashlib.sha256(f.read_bytes()).hexdigest()})
        doc = {
            "parameters": {
                "median_size": {"value": 8.4, "stderr": 0.5, "interval_90": [7.6, 9.2], "unit": "nm", "truth": 8.0},
                "size_width": {"value": 0.28, "stderr": 0.04, "interval_90": [0.21, 0.35], "unit": "1", "truth": 0.3},
                "defect_concentration": {"value": 0.021, "stderr": 0.006, "interval_90": [0.011, 0.031], "unit": "1",
                                         "truth": 0.02},
            },
            "figures_of_merit": {"Rwp": 0.061, "Rexp": 0.058, "chi2": 1.1},
            "correlations": {"names": ["median_size", "size_width", "defect_concentration"],
                             "matrix": [[1.0, -0.62, 0.15], [-0.62, 1.0, -0.08], [0.15, -0.08, 1.0]]},
            "measurements": measurements,
            "posterior_predictive": [{
                "axis": {"name": "2θ", "unit": "deg", "values": two_theta[::4].tolist()},
                "observed": (meas[1][::4] / 40.0).tolist() if meas is not None else [],
                "median": intensity[MEASURED_FRAMES[1]][::4].tolist(),
                "lower": (intensity[MEASURED_FRAMES[1]][::4] - 2.2 * np.sqrt(intensity[MEASURED_FRAMES[1]][::4] / 40)).tolist(),
                "upper": (intensity[MEASURED_FRAMES[1]][::4] + 2.2 * np.sqrt(intensity[MEASURED_FRAMES[1]][::4] / 40)).tolist(),
                "level": 0.9,
                "label": f"frame {MEASURED_FRAMES[1]}",
            }],
        }
        (out / "fit_result.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return out
