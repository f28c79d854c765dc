r"""Band tables: the vibrational bands of a material per phase, their frequency maps and fluctuations (TOML).

A band table (``datasets/bands/<material>.toml``; the shipped one is MIL-53(Al)) lists bands, each with

* ``name``, ``mode``, ``guest`` (``""`` for a framework band; a guest name such as ``"CO2"`` for a band of an
  adsorbed molecule, whose intensity is proportional to that guest's loading per cell), ``ir_intensity`` and
  ``raman_activity`` (relative, ≥ 0, on one scale shared by the table);
* ``[bands.phases.<phase>]``: ``position`` [cm⁻¹] and intrinsic Lorentzian ``fwhm`` [cm⁻¹] at the phase's
  endpoint (η = 0 for the closed phase, 1 for the open one) without guests at ``reference_temperature``;
* ``[bands.map]``: the frequency map, linear in η, loading and temperature,

  .. math::
      \tilde\nu_{p} = \tilde\nu^0_{p} + a_\eta(\bar\eta_p - \eta^0_p) + \sum_g a_g N_g + a_T (T - T_\mathrm{ref}),

  (``eta_slope`` [cm⁻¹ per unit η], ``loading_slope.<guest>`` [cm⁻¹ per guest per cell], ``temperature_slope``
  [cm⁻¹/K]; each optional, default 0);
* ``[bands.fluctuation]``: ``amplitude`` (rms frequency fluctuation Δ̃ [cm⁻¹], ≥ 0) and ``correlation_time``
  (τ_c [ps], > 0) of a Gaussian–Markov modulation (:mod:`instruments.vib.kubo`).

Every number is a table ``{value, unit, source, estimated?, note?}``: ``source`` names an entry of ``[sources]``
(or ``"estimate"``). Errors are :class:`~mofcore.errors.DataFormatError` naming the file and the key path, e.g.
a negative width: ``mil53-al.toml: bands[0].phases.lp.fwhm: expected a non-negative width in cm-1, got -8``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mofcore.errors import DataFormatError
from mofcore.files import read_toml_file
from mofcore.units import parse_quantity

__all__ = ["PhaseBand", "BandSpec", "BandTable", "parse_band_table", "load_band_table"]


@dataclass(frozen=True)
class PhaseBand:
    """A band's position and intrinsic Lorentzian FWHM at one phase's endpoint [cm⁻¹]."""

    position_cm1: float
    fwhm_cm1: float


@dataclass(frozen=True)
class BandSpec:
    """One band of a table (module docstring); units in the names."""

    name: str
    mode: str
    guest: str
    ir_intensity: float
    raman_activity: float
    phases: dict[str, PhaseBand]
    eta_slope_cm1: float = 0.0
    loading_slope_cm1: dict[str, float] = field(default_factory=dict)
    temperature_slope_cm1_per_K: float = 0.0
    amplitude_cm1: float = 0.0
    correlation_time_ps: float = 1.0


@dataclass(frozen=True)
class BandTable:
    material: str
    reference_temperature_K: float
    bands: tuple[BandSpec, ...]
    estimated: tuple[str, ...]
    source: str = ""


_UNITS = {"cm-1": "wavenumber", "cm-1/K": "wavenumber_per_K", "ps": "time_ps", "1": "number"}


def _fail(where: str, key: str, message: str) -> DataFormatError:
    return DataFormatError(f"{where}: {key}: {message}")


def _number(where: str, key: str, entry: Any, unit: str, sources: dict[str, Any], estimated: list[str],
            check: Any = None, expected: str = "") -> float:
    if not isinstance(entry, dict) or "value" not in entry:
        raise _fail(where, key, f"expected a table {{value = ..., unit = \"{unit}\", source = ...}}, got {entry!r}")
    value = entry["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, f"{key}.value", f"expected a number, got {value!r}")
    if entry.get("unit", unit) != unit:
        raise _fail(where, f"{key}.unit", f"expected {unit!r}, got {entry.get('unit')!r}")
    src = entry.get("source")
    if not isinstance(src, str) or (src not in sources and src != "estimate"):
        raise _fail(where, f"{key}.source", f"expected an entry of [sources] or \"estimate\", got {src!r}")
    if check is not None and not check(float(value)):
        raise _fail(where, key, f"expected {expected}, got {value!r}")
    if entry.get("estimated", src == "estimate"):
        estimated.append(key)
    return float(value)


def parse_band_table(doc: dict[str, Any], where: str = "band table") -> BandTable:
    """Validate a parsed band table (module docstring).

    Raises:
        DataFormatError: a missing or malformed key, a negative width or amplitude, a non-positive correlation
            time, a source not in ``[sources]``.
    """
    sources = doc.get("sources", {})
    if not isinstance(sources, dict):
        raise _fail(where, "sources", "expected a table of references")
    material = doc.get("material")
    if not isinstance(material, str) or not material:
        raise _fail(where, "material", f"expected the material's name, got {material!r}")
    try:
        t_ref = parse_quantity(doc.get("reference_temperature", "298 K"), "temperature", where="reference_temperature")
    except Exception as error:  # UnitError
        raise DataFormatError(f"{where}: {error}") from None
    raw = doc.get("bands")
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "bands", "expected at least one [[bands]] table")
    estimated: list[str] = []
    bands = []
    for i, b in enumerate(raw):
        at = f"bands[{i}]"
        if not isinstance(b, dict):
            raise _fail(where, at, "expected a table")
        name = b.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(where, f"{at}.name", f"expected a name, got {name!r}")
        guest = b.get("guest", "")
        if not isinstance(guest, str):
            raise _fail(where, f"{at}.guest", f"expected a guest name or \"\", got {guest!r}")
        weights = []
        for key in ("ir_intensity", "raman_activity"):
            v = b.get(key, 0.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise _fail(where, f"{at}.{key}", f"expected a non-negative relative intensity, got {v!r}")
            weights.append(float(v))
        phases_doc = b.get("phases")
        if not isinstance(phases_doc, dict) or not phases_doc:
            raise _fail(where, f"{at}.phases", "expected one [bands.phases.NAME] table per phase")
        phases = {}
        for pname, ptab in phases_doc.items():
            pat = f"{at}.phases.{pname}"
            if not isinstance(ptab, dict):
                raise _fail(where, pat, "expected a table with position and fwhm")
            for key in ("position", "fwhm"):
                if key not in ptab:
                    raise _fail(where, f"{pat}.{key}", "missing required key")
            pos = _number(where, f"{pat}.position", ptab["position"], "cm-1", sources, estimated,
                          lambda v: 0 < v < 1e5, "a positive wavenumber in cm-1")
            fwhm = _number(where, f"{pat}.fwhm", ptab["fwhm"], "cm-1", sources, estimated,
                           lambda v: v >= 0, "a non-negative width in cm-1")
            phases[str(pname)] = PhaseBand(pos, fwhm)
        mp = b.get("map", {})
        if not isinstance(mp, dict):
            raise _fail(where, f"{at}.map", "expected a table")
        eta_slope = (_number(where, f"{at}.map.eta_slope", mp["eta_slope"], "cm-1", sources, estimated)
                     if "eta_slope" in mp else 0.0)
        t_slope = (_number(where, f"{at}.map.temperature_slope", mp["temperature_slope"], "cm-1/K", sources,
                           estimated) if "temperature_slope" in mp else 0.0)
        loading = mp.get("loading_slope", {})
        if not isinstance(loading, dict):
            raise _fail(where, f"{at}.map.loading_slope", "expected a table guest = {value, unit, source}")
        slopes = {str(g): _number(where, f"{at}.map.loading_slope.{g}", e, "cm-1", sources, estimated)
                  for g, e in loading.items()}
        fl = b.get("fluctuation", {})
        if not isinstance(fl, dict):
            raise _fail(where, f"{at}.fluctuation", "expected a table")
        amp = (_number(where, f"{at}.fluctuation.amplitude", fl["amplitude"], "cm-1", sources, estimated,
                       lambda v: v >= 0, "a non-negative rms fluctuation in cm-1") if "amplitude" in fl else 0.0)
        tau = (_number(where, f"{at}.fluctuation.correlation_time", fl["correlation_time"], "ps", sources,
                       estimated, lambda v: v > 0, "a positive correlation time in ps")
               if "correlation_time" in fl else 1.0)
        bands.append(BandSpec(name, str(b.get("mode", "")), guest, weights[0], weights[1], phases, eta_slope,
                              slopes, t_slope, amp, tau))
    return BandTable(material, t_ref, tuple(bands), tuple(estimated), where)


def load_band_table(path: str | Path) -> BandTable:
    """A band-table TOML file → :class:`BandTable` (errors name the file)."""
    path = Path(path)
    doc = read_toml_file(path, what="a band table (TOML)", error=DataFormatError, source=str(path))
    return parse_band_table(doc, str(path.name))
