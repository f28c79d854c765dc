"""Fit files (``FIT.toml``): what to fit, to which measurement, with which free parameters.

A measured isotherm (``technique = "isotherm"``, :mod:`twin.fit.isotherm`)::

    [fit]
    technique = "isotherm"          # the twin-level isotherm fit (more techniques to come)
    material = "mil53-al"
    guest = "CO2"
    temperature = "273 K"
    seed = 0

    [[measurements]]
    path = "iso_CO2_273K.csv"       # relative to the fit file
    y_column = "uptake_molecules_per_cell"

    [sample]                        # fixed sample values (defaults in twin.fit.workflow.DEFAULT_SAMPLE)
    surface_energy = "0.05 J/m2"
    defect_correlation = "50 nm"

    [parameters.size_median_nm]     # a free parameter: start value, bounds, optional normal prior
    value = "500 nm"
    bounds = ["20 nm", "20 um"]
    prior = { mean = "800 nm", sd = "400 nm" }

An in situ XRD series (``technique = "xrd-series"``, :mod:`twin.fit.xrd_series`)::

    [fit]
    technique = "xrd-series"
    material = "mil53-al"
    instrument = "instrument.toml"  # the diffractometer (docs/xrd.md), relative to the fit file
    seed = 0

    [[measurements]]
    path = "measured"               # a folder of pattern files with a conditions log, or one HDF5/NeXus file

    [truth]                         # optional, for synthetic data: shown next to the estimates
    switching_pressure_adsorption = "5.2 bar"
    coherent_size_np = "46 nm"

An X-ray total-scattering series F(Q, T) (``technique = "total-scattering"``, :mod:`twin.fit.total_scattering`)::

    [fit]
    technique = "total-scattering"
    structure = "zif4_park2006.cif"   # relative to the fit file, or a file of datasets/structures
    q_range = [1.6, 22.0]             # fitted Q range (1/Å)
    r_max = "60 A"                    # pair histogram (largest coherence diameter r_max − r₀)
    normalisation = "<f>^2"           # of the measured F(Q): "<f>^2" (Faber–Ziman) or "<f^2>"
    temperature_from_name = '_(?P<T>[-+]?[0-9.]+)$'   # on the file stem (default: number after the last "_")
    temperature_unit = "degC"

    [[measurements]]
    path = "fq"                       # a folder, a glob ("fq/*.int01") or one file
    # temperature = "31 degC"         # for one file whose name carries no temperature

    [parameters.amorphous_size_nm]    # optional: start, bounds, or fixed (numbers in the unit of the name)
    value = 1.0
    fixed = true

Validated with :class:`twin._toml_schema.Table`; every message names the file and key path, e.g.
``fit.toml: parameters.size_median_nm.bounds: lower bound 500 nm is above upper 100 nm``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mofcore.files import parse_toml, read_text_file
from twin._toml_schema import Table, did_you_mean
from twin.errors import FitError, TwinError
from twin.fit.isotherm import PARAMETERS, FreeParameter

__all__ = ["FitConfig", "FitFile", "load_fit_config", "parse_fit_config", "parse_isotherm", "parse_xrd_series",
           "parse_total_scattering"]

# parameter unit → (dimension for twin.units, factor from the internal unit to the parameter's unit)
_DIMENSIONS = {"nm": ("length", 0.1), "kJ/mol": ("energy", 1.0), "J/m2": ("area_energy", 1.0),
               "bar": ("pressure", 1e-5)}
_SAMPLE_KEYS = {"size_median": "size_median_nm", "size_width": "size_width", "surface_energy": "surface_energy_J_m2",
                "defect_sigma": "defect_sigma_kj_mol", "defect_correlation": "defect_correlation_nm",
                "intrinsic_sigma": "intrinsic_sigma_kj_mol", "uptake_scale": "uptake_scale"}


class FitFile(NamedTuple):
    """What a fit problem's ``parse`` gets besides the tables: the fit file's name, folder and text."""

    source: str
    base_dir: Path
    text: str


@dataclass(frozen=True)
class FitConfig:
    """A validated fit file."""

    technique: str
    material: str
    guest: str | None
    temperature_K: float | None
    measurements: tuple[tuple[Path, str | None], ...]
    free: tuple[FreeParameter, ...]
    sample: dict[str, float]
    coherent_size_nm: tuple[float, float] | None
    seed: int
    n_steps: int
    source: str
    text: str
    instrument: Path | None = None
    truth: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def _value(table: Table, key: str, name: str, raw: Any = None) -> float:
    """A parameter value: a number for dimensionless parameters, a quantity string otherwise."""
    unit = PARAMETERS[name].unit
    value = table.raw(key) if raw is None else raw
    where = table.key_path(key)
    if unit in _DIMENSIONS:
        dim, factor = _DIMENSIONS[unit]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise table.error(f"{table.source}: {where}: expected a quantity with a unit such as \"1 {unit}\", got {value}")
        return table.convert(value, dim, where) * factor
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise table.error(f"{table.source}: {where}: expected a number ({unit}), got {value!r}")
    return float(value)


def _fmt(value: float, unit: str) -> str:
    return f"{value:g} {unit}"


#: sample-level quantities of the xrd-series fit: name pattern → (dimension, factor from internal unit, unit)
_XRD_TRUTH = ((re.compile(r"(switching_pressure_(adsorption|desorption)(_\d+)?|hysteresis_width)$"), "pressure", 1e-5, "bar"),
              (re.compile(r"coherent_size_\w+$"), "length", 0.1, "nm"))


def _path(table: Table, key: str, base_dir: Path, what: str, folder_ok: bool = False) -> Path:
    rel = table.string(key)
    path = (base_dir / rel) if not Path(rel).is_absolute() else Path(rel)
    if not (path.is_file() or (folder_ok and path.is_dir())):
        raise table.fail(key, f"{what} {rel!r} not found (relative to the fit file's folder)")
    return path


def parse_xrd_series(root: Table, fit: Table, file: FitFile) -> FitConfig:
    """The ``xrd-series`` fit: one measured series, the material, the instrument file, an optional truth."""
    source, base_dir, text = file
    material = fit.string("material")
    instrument = _path(fit, "instrument", base_dir, "instrument file")
    seed = fit.integer("seed", 0, minimum=0)
    fit.finish()
    root.expect_keys(("fit", "measurements", "truth"))
    entries = root.tables("measurements", required=True)
    if len(entries) != 1:
        raise root.fail("measurements", f"the xrd-series fit takes one series (a folder or an HDF5 file), got {len(entries)}")
    m = entries[0]
    path = _path(m, "path", base_dir, "measured series", folder_ok=True)
    m.finish()
    truth: dict[str, float] = {}
    tt = root.table("truth")
    if tt is not None:
        for key in tt.data:
            rule = next((r for r in _XRD_TRUTH if r[0].match(key)), None)
            if rule is None:
                raise tt.fail(key, "unknown quantity; expected switching_pressure_adsorption, "
                                   "switching_pressure_desorption, hysteresis_width or coherent_size_<phase>")
            truth[key] = tt.quantity(key, rule[1]) * rule[2]
        tt.finish()
    return FitConfig("xrd-series", material, None, None, ((path, None),), (), {}, None, seed, 0, source, text,
                     instrument=instrument, truth=truth)


def parse_parameters(root: Table, names: tuple[str, ...], default_bounds: Callable[[str], tuple[float, float]],
                     unit: Callable[[str], str] | None = None) -> tuple[dict[str, float], dict[str, float],
                                                                        dict[str, tuple[float, float]]]:
    """The optional ``[parameters.NAME]`` tables of a fit file: ``value`` (a start, or with ``fixed = true`` a fixed
    value) and ``bounds = [lower, upper]``, numbers in the unit of the name; returns (start, fixed, bounds).

    Raises:
        FitError: an unknown name (with a suggestion), a fixed parameter without a value, bounds that are not two
            numbers or are inverted, a start outside its bounds (``default_bounds(name)`` when none are given).
    """
    start: dict[str, float] = {}
    fixed: dict[str, float] = {}
    bounds: dict[str, tuple[float, float]] = {}
    params = root.table("parameters")
    if params is None:
        return start, fixed, bounds
    params.expect_keys(names)
    for name in params.data:
        entry = params.table(name, required=True)
        entry.expect_keys(("value", "bounds", "fixed"))
        if entry.has("value"):
            start[name] = entry.number("value")
        if entry.boolean("fixed", False):
            if name not in start:
                raise entry.fail("fixed", "a fixed parameter needs a value")
            fixed[name] = start.pop(name)
        if entry.has("bounds"):
            b = entry.raw("bounds")
            if (not isinstance(b, list) or len(b) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)):
                in_unit = f" in {unit(name)}" if unit is not None else ""
                raise entry.fail("bounds", f"expected [lower, upper]{in_unit}, got {b!r}")
            if not b[0] < b[1]:
                raise entry.fail("bounds", f"lower bound {b[0]:g} is above upper {b[1]:g}")
            bounds[name] = (float(b[0]), float(b[1]))
        lo, hi = bounds.get(name, default_bounds(name))
        if name in start and not lo <= start[name] <= hi:
            raise entry.fail("value", f"start {start[name]:g} lies outside the bounds {lo:g}..{hi:g}")
        entry.finish()
    return start, fixed, bounds


def parse_total_scattering(root: Table, fit: Table, file: FitFile) -> FitConfig:
    """The ``total-scattering`` fit: an F(Q) series, the structure, the Q range and parameter settings."""
    source, base_dir, text = file
    from twin.datasets import dataset_path
    from twin.fit.total_scattering import DEFAULT_BOUNDS, DEFAULT_TEMPERATURE_PATTERN, PARAMETER_NAMES

    rel = fit.string("structure")
    structure = (base_dir / rel) if not Path(rel).is_absolute() else Path(rel)
    if not structure.is_file():
        shipped = dataset_path("structures", rel)
        if not shipped.is_file():
            raise fit.fail("structure", f"structure file {rel!r} not found (relative to the fit file's folder, "
                                        "or in datasets/structures)")
        structure = shipped
    options: dict[str, Any] = {"structure": structure}
    q_range = fit.raw("q_range", [1.6, 22.0])
    if (not isinstance(q_range, list) or len(q_range) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in q_range)
            or not 0.0 < q_range[0] < q_range[1]):
        raise fit.fail("q_range", f"expected [Q_min, Q_max] in 1/Å with 0 < Q_min < Q_max, got {q_range!r}")
    options["q_range_inv_ang"] = (float(q_range[0]), float(q_range[1]))
    options["r_max_A"] = fit.quantity("r_max", "length", 60.0, check=lambda v: 10.0 <= v <= 200.0,
                                      expected="a length between 10 and 200 Å")
    options["local_radius_A"] = fit.quantity("local_radius", "length", 3.6, check=lambda v: 0.0 <= v < 10.0,
                                             expected="a length between 0 and 10 Å")
    options["normalisation"] = fit.string("normalisation", "<f>^2", choices=("<f>^2", "<f^2>"))
    options["form_factor_table"] = fit.string("form_factors", "pymatgen", choices=("pymatgen", "cromer_mann"))
    options["n_background"] = fit.integer("background_terms", 3, minimum=0)
    pattern = fit.string("temperature_from_name", DEFAULT_TEMPERATURE_PATTERN)
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise fit.fail("temperature_from_name", f"not a regular expression ({error})") from None
    if compiled.groups < 1:
        raise fit.fail("temperature_from_name", "expected a regular expression with a group (named T) for the number")
    options["temperature_pattern"] = pattern
    options["temperature_unit"] = fit.string("temperature_unit", "degC", choices=("degC", "K"))
    seed = fit.integer("seed", 0, minimum=0)
    fit.finish()
    root.expect_keys(("fit", "measurements", "parameters"))
    measurements = []
    for m in root.tables("measurements", required=True):
        path = _path(m, "path", base_dir, "measurement", folder_ok=True) if not any(
            ch in m.string("path") for ch in "*?[") else base_dir / m.string("path")
        temperature = None
        if m.has("temperature"):
            if not path.is_file():
                raise m.fail("temperature", "a temperature belongs to one file, but path is a folder or a glob")
            temperature = m.quantity("temperature", "temperature", check=lambda t: t > 0,
                                     expected="a positive temperature")
        m.finish()
        measurements.append((path, temperature))
    options["measurements"] = measurements
    names = PARAMETER_NAMES + tuple(f"background_{k}" for k in range(options["n_background"]))
    start, fixed, bounds = parse_parameters(root, names, lambda name: DEFAULT_BOUNDS.get(name, (-np.inf, np.inf)))
    options.update({"fixed": fixed, "start": start, "bounds": bounds})
    return FitConfig("total-scattering", "", None, None, tuple((p, None) for p, _ in measurements), (), {}, None,
                     seed, 0, source, text, options=options)


def parse_isotherm(root: Table, fit: Table, file: FitFile) -> FitConfig:
    """The ``isotherm`` fit: one measured isotherm, the material, guest, temperature and free parameters."""
    source, base_dir, text = file
    technique = "isotherm"
    material = fit.string("material")
    root.expect_keys(("fit", "measurements", "sample", "parameters", "coherent_size"))
    guest = fit.string("guest")
    temperature = fit.quantity("temperature", "temperature", check=lambda t: t > 0, expected="a positive temperature")
    seed = fit.integer("seed", 0, minimum=0)
    n_steps = fit.integer("steps", 1500, minimum=200)
    fit.finish()
    measurements = []
    for m in root.tables("measurements", required=True):
        rel = m.string("path")
        path = (base_dir / rel) if not Path(rel).is_absolute() else Path(rel)
        if not path.is_file():
            raise m.fail("path", f"file {rel!r} not found (relative to the fit file's folder)")
        measurements.append((path, m.string("y_column", None)))
        m.finish()
    if len(measurements) != 1:
        raise root.fail("measurements", f"the isotherm fit takes one measured isotherm (one or both branches), got {len(measurements)}")
    sample_table = root.table("sample")
    sample: dict[str, float] = {}
    if sample_table is not None:
        sample_table.expect_keys(tuple(_SAMPLE_KEYS))
        for key, name in _SAMPLE_KEYS.items():
            if sample_table.has(key):
                sample[name] = _value(sample_table, key, name)
    params = root.table("parameters", required=True)
    params.expect_keys(tuple(PARAMETERS))
    free = []
    for name in params.data:
        entry = params.table(name, required=True)
        entry.expect_keys(("value", "bounds", "prior"))
        info = PARAMETERS[name]
        value = _value(entry, "value", name)
        lo, hi = info.bounds
        if entry.has("bounds"):
            bounds = entry.raw("bounds")
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise entry.fail("bounds", f"expected [lower, upper], got {bounds!r}")
            lo = _value(entry, "bounds", name, bounds[0])
            hi = _value(entry, "bounds", name, bounds[1])
            if not lo < hi:
                raise entry.fail("bounds", f"lower bound {_fmt(lo, info.unit)} is above upper {_fmt(hi, info.unit)}")
        if not lo <= value <= hi:
            raise entry.fail("value", f"start {_fmt(value, info.unit)} lies outside the bounds {_fmt(lo, info.unit)}..{_fmt(hi, info.unit)}")
        if info.log and lo <= 0:
            raise entry.fail("bounds", f"expected a positive lower bound for a positive quantity, got {_fmt(lo, info.unit)}")
        prior = None
        pt = entry.table("prior")
        if pt is not None:
            pt.expect_keys(("mean", "sd"))
            prior = (_value(pt, "mean", name), _value(pt, "sd", name))
            if not prior[1] > 0:
                raise pt.fail("sd", f"expected a positive standard deviation, got {_fmt(prior[1], info.unit)}")
        entry.finish()
        free.append(FreeParameter(name, value, lo, hi, prior))
    coherent = None
    ct = root.table("coherent_size")
    if ct is not None:
        ct.expect_keys(("value", "sd"))
        coherent = (ct.quantity("value", "length") * 0.1, ct.quantity("sd", "length", check=lambda v: v > 0,
                                                                       expected="a positive length") * 0.1)
    return FitConfig(technique, material, guest, temperature, tuple(measurements), tuple(free), sample, coherent,
                     seed, n_steps, source, text)


def parse_fit_config(data: dict[str, Any], source: str, base_dir: Path, text: str = "") -> FitConfig:
    """Validate a parsed fit file (FitError naming ``source`` and the key path).

    ``[fit] technique`` names a technique of the registry (:mod:`instruments.registry`); its fit problem
    (:class:`twin.fit.problems.FitProblem`) parses the rest of the file.
    """
    from instruments.registry import for_fit
    from instruments.technique import resolve

    root = Table(data, "", source, FitError)
    fit = root.table("fit", required=True)
    name = fit.string("technique")
    try:
        technique = for_fit(name)
    except TwinError as error:
        raise fit.fail("technique", str(error).split(": ", 1)[1]) from None
    return resolve(technique.fit).parse(root, fit, FitFile(source, base_dir, text))


def load_fit_config(path: str | Path) -> FitConfig:
    """Read and validate a fit file (anything but a regular UTF-8 file of at most
    :data:`mofcore.files.MAX_TOML_BYTES`, or TOML nested too deeply, is refused in one line)."""
    path = Path(path)
    text = read_text_file(path, what="a fit file (TOML)", error=FitError)
    return parse_fit_config(parse_toml(text, path.name, FitError), path.name, path.parent, text)
