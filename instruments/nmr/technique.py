r"""NMR on the technique seam (:mod:`instruments.technique`): the spectrum of every frame of a run.

The instrument file names its nucleus: ``nucleus = "2H"`` (the default; this docstring) or ``nucleus = "129Xe"``
(xenon random walks over each frame's domains, :mod:`instruments.nmr.xenon_technique`, on a ppm axis); any other
is a :class:`~mofcore.errors.DataFormatError`.

**What a run can tell ²H NMR.** The twin gives, per frame, the phase fractions :math:`x_{p,f}` and the temperature
:math:`T_f`. The forward model is the simplest one these support: the deuterated linkers of each phase p move
by one jump model with their own Arrhenius law, :math:`k_p(T) = k_{0,p}\,e^{-E_{a,p}/RT}` (optionally log-normally
distributed, width :math:`\sigma_p` of ln k), and the spectrum of a frame is the fraction-weighted sum

.. math::
    I_f(\nu) = \sum_p x_{p,f}\, I\bigl(\nu;\ k_p(T_f), \sigma_p\bigr)

of the solid-echo powder spectra of :mod:`instruments.nmr.deuterium`. For MIL-53 this is the phase-dependent
π-flip rate of the phenylene rings of the terephthalate linkers: the narrow-pore phase packs the rings closer
and hinders the flips, so a breathing transition at constant temperature shows in the ²H lineshape. Left out:
coupling between the dynamics of neighbouring linkers, the guests' own ²H signal, and any exchange between phases
during the echo (the phase fractions change on the scale of the frames, seconds and more, not microseconds).

**Loading.** Guests in the channels hinder the ring flips (in MIL-53(Al) with xylenes they slow to 10²–10³ s⁻¹ at
373 K: A. E. Khudozhitkov et al., J. Phys. Chem. C 120, 21704 (2016)). With ``activation_energy_per_guest = β``
in a phase's table the barrier grows linearly with the frame's loading n (guest molecules per site cell, all
guests together, from the run's ``loading`` summary): :math:`E_a(n) = E_a + \beta n`. The twin keeps one mean
loading per crystal, not one per phase, so both phases see the same n; β = 0 (the default) ignores the loading.

**Instrument file** (TOML; every key but ``quadrupole.cq``, ``motion.model`` and one ``[phases.NAME]`` table per
phase of the material optional)::

    [spectrum]
    frequency = "-250..250 kHz"    # the window (uniform grid; must hold ±¾·C_q)
    points = 2048
    echo_delay = "20 us"           # τ of the solid echo; "0 us" for an ideal FID
    lorentzian = "2 kHz"           # FWHM of the line broadening
    gaussian = "0 kHz"
    orientations = 4181            # ZCW directions (octant or hemisphere, by the model's symmetry)

    [quadrupole]
    cq = "176 kHz"                 # C_q = e²qQ/h
    asymmetry = 0.05               # η_Q in [0, 1]

    [motion]
    model = "pi-flip"              # rigid, pi-flip, cone, tetrahedral, free-rotation
    angle = "60 deg"               # C–D bond to the jump axis (model default if absent)
    # sites = 3                    # cone only

    [phases.np]                    # one table per phase of the material, by name
    k0 = "1e13 1/s"
    activation_energy = "57 kJ/mol"
    rate_width = 0.0               # σ of ln k; or activation_energy_width = "2 kJ/mol" (σ = σ_E/RT)
    activation_energy_per_guest = "0 kJ/mol"   # β: E_a grows by β per guest molecule per site cell

An example for MIL-53(Al) ships as the instrument ``mil53_al_2h`` (``datasets/instruments/mil53_al_2h.toml``) (its barriers are estimates; see the
file). Errors are :class:`~mofcore.errors.DataFormatError` naming the file and the key.

**Measured series** (:func:`align_nmr`): a folder of spectra (CSV columns with a frequency axis in Hz or kHz and a
conditions log) or an HDF5 file, read by :func:`instruments.io.read_measurement`; the real part is the spectrum;
σ is the file's or the standard deviation of the points outside the pattern (|ν| beyond 1.2·¾·C_q of the
settings, or the outer tenth of the window at each end).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from instruments.nmr.deuterium import (
    DEFAULT_ORIENTATIONS,
    arrhenius_rate,
    check_window,
    ln_rate_width,
    lognormal_rates,
    make_deuterium,
)
from instruments.nmr.exchange import spectrum_grid
from instruments.nmr.motion import MOTIONS, jump_model
from instruments.nmr.xenon_technique import XenonSettings, parse_xenon_settings, simulate_xenon
from instruments.nmr._settings import check_tables
from instruments.nmr._settings import fail as _fail
from instruments.nmr._settings import quantity as _quantity
from instruments.observable import Axis, Observable
from instruments.technique import Technique, TwinFrames
from mofcore.errors import DataFormatError, UnitError
from mofcore.files import read_toml_file
from mofcore.units import parse_range

__all__ = ["NMR", "NUCLEI", "NmrSettings", "PhaseDynamics", "load_nmr_settings", "parse_nmr_settings", "simulate_nmr",
           "align_nmr", "phase_spectra", "baseline_sigma"]

#: the example instrument file shipped beside this module (MIL-53(Al), phenylene π-flips per phase)

#: the nuclei an instrument file may name (``nucleus = "..."``, default ²H)
NUCLEI = ("2H", "129Xe")

_KNOWN = {
    "nucleus": None,
    "spectrum": {"frequency", "points", "echo_delay", "lorentzian", "gaussian", "orientations"},
    "quadrupole": {"cq", "asymmetry"},
    "motion": {"model", "angle", "sites"},
    "phases": None,
}
_PHASE_KEYS = {"k0", "activation_energy", "rate_width", "activation_energy_width", "activation_energy_per_guest"}


@dataclass(frozen=True)
class PhaseDynamics:
    """One phase's Arrhenius law and the width of its distribution of rates.

    Attributes:
        k0_per_s: :math:`k_0` [1/s].
        activation_energy_kj_mol: :math:`E_a` [kJ/mol].
        rate_width: σ of ln k (log-normal), used when ``energy_width_kj_mol`` is 0.
        energy_width_kj_mol: :math:`\\sigma_E` of a Gaussian distribution of :math:`E_a` [kJ/mol] (σ = σ_E/RT).
        energy_per_guest_kj_mol: β [kJ/mol per guest molecule per site cell]: :math:`E_a(n) = E_a + \\beta n`.
    """

    k0_per_s: float
    activation_energy_kj_mol: float
    rate_width: float = 0.0
    energy_width_kj_mol: float = 0.0
    energy_per_guest_kj_mol: float = 0.0

    def rate_per_s(self, temperature_K: np.ndarray, loading: np.ndarray | float = 0.0) -> np.ndarray:
        """Median rate at T [1/s] and loading n [guests per site cell]."""
        barrier = self.activation_energy_kj_mol + self.energy_per_guest_kj_mol * np.asarray(loading, np.float64)
        return np.asarray(arrhenius_rate(self.k0_per_s, barrier, np.asarray(temperature_K)))

    def ln_width(self, temperature_K: float) -> float:
        """σ of ln k at T."""
        if self.energy_width_kj_mol > 0:
            return float(ln_rate_width(self.energy_width_kj_mol, temperature_K))
        return self.rate_width


@dataclass(frozen=True)
class NmrSettings:
    """A static ²H NMR experiment and the dynamics of each phase (the instrument file, module docstring)."""

    frequency_hz: np.ndarray
    echo_delay_s: float
    lorentzian_hz: float
    gaussian_hz: float
    n_orientations: int
    cq_hz: float
    asymmetry: float
    motion: str
    angle_deg: float | None
    n_sites: int | None
    phases: dict[str, PhaseDynamics] = field(default_factory=dict)
    source: str = ""


def parse_nmr_settings(doc: dict[str, Any], where: str = "instrument") -> NmrSettings | XenonSettings:
    """Validate a parsed instrument file (module docstring) into :class:`NmrSettings`, or, with
    ``nucleus = "129Xe"``, into :class:`~instruments.nmr.xenon_technique.XenonSettings`.

    Raises:
        DataFormatError: an unknown nucleus, or any bad key of the nucleus's file.
    """
    nucleus = doc.get("nucleus", "2H")
    if nucleus not in NUCLEI:
        raise _fail(where, "nucleus", f"expected one of {', '.join(NUCLEI)}, got {nucleus!r}")
    if nucleus == "129Xe":
        return parse_xenon_settings(doc, where)
    doc = {k: v for k, v in doc.items() if k != "nucleus"}
    check_tables(doc, _KNOWN, where)
    spectrum, quad, motion = doc.get("spectrum", {}), doc.get("quadrupole", {}), doc.get("motion", {})
    try:
        lo, hi = parse_range(spectrum.get("frequency", "-250..250 kHz"), "rate", where="spectrum.frequency")
    except UnitError as error:
        raise DataFormatError(f"{where}: {error}") from None
    points = spectrum.get("points", 2048)
    if isinstance(points, bool) or not isinstance(points, int) or not 64 <= points <= 262144:
        raise _fail(where, "spectrum.points", f"expected an integer between 64 and 262144, got {points!r}")
    orientations = spectrum.get("orientations", DEFAULT_ORIENTATIONS)
    if isinstance(orientations, bool) or not isinstance(orientations, int) or not 8 <= orientations <= 100000:
        raise _fail(where, "spectrum.orientations", f"expected an integer between 8 and 100000, got {orientations!r}")
    echo = _quantity(where, "spectrum.echo_delay", spectrum.get("echo_delay", "20 us"), "time",
                     lambda v: 0.0 <= v < 1e-2, "an echo delay between 0 and 10 ms")
    lorentz = _quantity(where, "spectrum.lorentzian", spectrum.get("lorentzian", "1 kHz"), "rate",
                        lambda v: v >= 0.0, "a non-negative FWHM such as \"2 kHz\"")
    gauss = _quantity(where, "spectrum.gaussian", spectrum.get("gaussian", "0 kHz"), "rate",
                      lambda v: v >= 0.0, "a non-negative FWHM such as \"2 kHz\"")
    if "cq" not in quad:
        raise _fail(where, "quadrupole.cq", "missing required key (e.g. cq = \"176 kHz\")")
    cq = _quantity(where, "quadrupole.cq", quad["cq"], "rate", lambda v: 1e3 <= v <= 1e7,
                   "a quadrupole coupling between 1 kHz and 10 MHz")
    asymmetry = quad.get("asymmetry", 0.0)
    if isinstance(asymmetry, bool) or not isinstance(asymmetry, (int, float)) or not 0.0 <= asymmetry <= 1.0:
        raise _fail(where, "quadrupole.asymmetry", f"expected η_Q in [0, 1], got {asymmetry!r}")
    model = motion.get("model")
    if model not in MOTIONS:
        raise _fail(where, "motion.model", f"expected one of {', '.join(MOTIONS)}, got {model!r}")
    angle = None if "angle" not in motion else _quantity(where, "motion.angle", motion["angle"], "angle")
    sites = motion.get("sites")
    try:
        jump = jump_model(model, float(asymmetry), angle, sites)
    except DataFormatError as error:
        raise DataFormatError(f"{where}: motion: {error}") from None
    phases: dict[str, PhaseDynamics] = {}
    for name, table in doc.get("phases", {}).items():
        at = f"phases.{name}"
        if not isinstance(table, dict):
            raise _fail(where, at, "expected a table with k0, activation_energy")
        for key in table:
            if key not in _PHASE_KEYS:
                raise _fail(where, f"{at}.{key}", f"unknown key; known: {', '.join(sorted(_PHASE_KEYS))}")
        for key in ("k0", "activation_energy"):
            if key not in table:
                raise _fail(where, f"{at}.{key}", "missing required key")
        k0 = _quantity(where, f"{at}.k0", table["k0"], "rate", lambda v: v > 0, "a positive rate such as \"1e13 1/s\"")
        ea = _quantity(where, f"{at}.activation_energy", table["activation_energy"], "energy",
                       lambda v: 0.0 <= v <= 500.0, "an activation energy between 0 and 500 kJ/mol")
        width = table.get("rate_width", 0.0)
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0.0 <= width <= 10.0:
            raise _fail(where, f"{at}.rate_width", f"expected σ of ln k between 0 and 10, got {width!r}")
        e_width = 0.0
        if "activation_energy_width" in table:
            if width:
                raise _fail(where, at, "give rate_width or activation_energy_width, not both")
            e_width = _quantity(where, f"{at}.activation_energy_width", table["activation_energy_width"], "energy",
                                lambda v: 0.0 <= v <= 100.0, "a width between 0 and 100 kJ/mol")
        beta = 0.0
        if "activation_energy_per_guest" in table:
            beta = _quantity(where, f"{at}.activation_energy_per_guest", table["activation_energy_per_guest"], "energy",
                             lambda v: 0.0 <= v <= 50.0, "a barrier increment per guest between 0 and 50 kJ/mol")
        phases[name] = PhaseDynamics(k0, ea, float(width), e_width, beta)
    frequency = np.linspace(lo, hi, points)
    settings = NmrSettings(frequency, echo, lorentz, gauss, orientations, cq, float(asymmetry), model, angle, sites,
                           phases, where)
    check_window(spectrum_grid(frequency, where=f"{where}: spectrum.frequency"), jump, cq,
                 where=f"{where}: spectrum.frequency")
    return settings


def load_nmr_settings(path: str | Path) -> NmrSettings:
    """An instrument TOML file (module docstring) → :class:`NmrSettings` (a FIFO, a folder or an oversized file is
    refused before it is opened: :func:`mofcore.files.read_toml_file`)."""
    path = Path(path)
    doc = read_toml_file(path, what="an NMR instrument file (TOML)", error=DataFormatError, source=str(path))
    return parse_nmr_settings(doc, str(path))


def phase_spectra(settings: NmrSettings, temperature_K: np.ndarray, frequency_hz: np.ndarray | None = None,
                  phase_names: tuple[str, ...] | None = None, loading: np.ndarray | None = None) -> np.ndarray:
    """The spectrum of each phase at each temperature (and loading, guests per site cell, aligned with the
    temperatures), one batched call: (n_temperatures, n_phases, n_points) [1/Hz].

    Raises:
        DataFormatError: a phase without dynamics in the settings.
    """
    names = tuple(settings.phases) if phase_names is None else phase_names
    missing = [p for p in names if p not in settings.phases]
    if missing:
        raise DataFormatError(f"{settings.source}: phases: no dynamics for phase {', '.join(missing)} (the material "
                              f"has {', '.join(names)}; add a [phases.NAME] table for each)")
    nu = settings.frequency_hz if frequency_hz is None else np.asarray(frequency_hz, np.float64)
    grid = spectrum_grid(nu, where=f"{settings.source}: frequency axis")
    simulator = make_deuterium(settings.motion, settings.asymmetry, settings.angle_deg, settings.n_sites, grid,
                               settings.n_orientations)
    check_window(grid, simulator.model, settings.cq_hz, where=f"{settings.source}: frequency axis")
    temperatures = np.asarray(temperature_K, np.float64)
    loadings = np.zeros_like(temperatures) if loading is None else np.asarray(loading, np.float64)
    rates, weights, owner = [], [], []
    for t, n in zip(temperatures, loadings, strict=True):
        for name in names:
            dyn = settings.phases[name]
            nodes, w = lognormal_rates(dyn.rate_per_s(t, n), dyn.ln_width(float(t)))
            rates.append(nodes)
            weights.append(w)
            owner.append(np.full(w.size, len(owner)))
    fids = simulator.fids(settings.cq_hz, np.concatenate(rates), settings.echo_delay_s)
    weighted = fids * jnp.asarray(np.concatenate(weights), fids.dtype)[:, None]
    mixed = jax.ops.segment_sum(weighted, jnp.asarray(np.concatenate(owner)), num_segments=len(owner))
    spectra = np.asarray(jnp.real(simulator.spectra(mixed, settings.lorentzian_hz, settings.gaussian_hz)), np.float64)
    spectra = spectra.reshape(temperatures.size, len(names), -1)
    return spectra[..., ::-1] if nu[0] > nu[-1] else spectra


def simulate_nmr(frames: TwinFrames, settings: NmrSettings | XenonSettings, frequency_kHz: Any = None) -> Observable:
    """The ²H spectrum of every frame (module docstring) on the settings' grid or on ``frequency_kHz`` [kHz]; for
    ¹²⁹Xe settings the xenon spectrum on a shift axis [ppm] (:func:`~instruments.nmr.xenon_technique.simulate_xenon`,
    ``frequency_kHz`` then being the shifts in ppm).

    Returns:
        An :class:`Observable` on ``Axis(ν, "frequency", "kHz")`` with values in 1/kHz (area: the echo amplitude
        times the deuterons present), the frame conditions plus ``rate_per_s_<phase>`` (the median rate).
    """
    if isinstance(settings, XenonSettings):
        return simulate_xenon(frames, settings, frequency_kHz)
    fraction = frames.summary("phase_fraction", "NMR")
    if fraction.shape[1] != len(frames.phase_names):
        raise DataFormatError(f"{frames.source}: the trajectory has {fraction.shape[1]} phases but material "
                              f"{frames.material} has {frames.phase_names}")
    nu_khz = settings.frequency_hz / 1e3 if frequency_kHz is None else np.asarray(frequency_kHz, np.float64)
    temperature = np.asarray(frames.conditions["temperature_K"], np.float64)
    if not np.all(np.isfinite(temperature) & (temperature > 0)):
        raise DataFormatError(f"{frames.source}: NMR needs a positive temperature at every frame")
    loading = np.zeros_like(temperature)
    if any(dyn.energy_per_guest_kj_mol > 0 for dyn in settings.phases.values()):
        per_guest = frames.summary("loading", "NMR rates that depend on loading (activation_energy_per_guest)")
        loading = np.asarray(per_guest, np.float64).reshape(temperature.size, -1).sum(axis=1)
    states, index = np.unique(np.stack([temperature, loading], axis=1), axis=0, return_inverse=True)
    index = np.asarray(index).reshape(-1)
    spectra = phase_spectra(settings, states[:, 0], nu_khz * 1e3, frames.phase_names,
                            loading=states[:, 1])  # (n_states, n_phases, n_points)
    values = np.einsum("fp,fpn->fn", fraction, spectra[index]) * 1e3
    conditions = {k: np.asarray(v, np.float64) for k, v in frames.conditions.items()}
    for name in frames.phase_names:
        conditions[f"rate_per_s_{name}"] = settings.phases[name].rate_per_s(temperature, loading)
    order = np.argsort(nu_khz)
    return Observable(
        axis=Axis(nu_khz[order], "frequency", "kHz"), values=values[:, order], conditions=conditions,
        technique="nmr", quantity="intensity", unit="1/kHz",
        attrs=(("nucleus", "2H"), ("cq_kHz", settings.cq_hz / 1e3), ("asymmetry", settings.asymmetry),
               ("motion", settings.motion), ("echo_delay_us", settings.echo_delay_s * 1e6)),
        source=frames.source,
    )


def baseline_sigma(nu_hz: np.ndarray, values: np.ndarray, extent_hz: float | None) -> np.ndarray:
    """σ per frame from the points outside the pattern (module docstring), (n_frames,)."""
    nu = np.asarray(nu_hz, np.float64)
    outside = np.zeros(nu.size, bool)
    if extent_hz is not None:
        outside = np.abs(nu) > 1.2 * extent_hz
    if outside.sum() < max(16, nu.size // 20):
        tenth = max(nu.size // 10, 8)
        outside = np.zeros(nu.size, bool)
        outside[:tenth] = outside[-tenth:] = True
    return np.std(values[:, outside], axis=1, ddof=1)


def align_nmr(path: str | Path, settings: NmrSettings | None = None) -> Observable:
    """A measured series of ²H spectra on one frequency grid [kHz], with the conditions of each frame.

    Raises:
        DataFormatError: unreadable files (from the readers), a single spectrum, a chemical-shift axis, frames on
            different grids.
    """
    from instruments.measurement import common_grid, series_frames

    path = Path(path)
    items, labels = series_frames(path, "one spectrum, but a series needs several (a folder of spectra with a "
                                        "conditions log, or an HDF5 file with n_frames × n_points)")
    axis = items[0].axis
    if axis.name != "frequency":
        raise DataFormatError(f"{path}: expected a frequency axis (Hz or kHz) for static ²H NMR, got {axis.name} "
                              f"({axis.unit}); a chemical-shift axis needs the Larmor frequency to convert")
    scale = {"Hz": 1e-3, "kHz": 1.0, "MHz": 1e3}.get(axis.unit)
    if scale is None:
        raise DataFormatError(f"{path}: frequency axis in {axis.unit!r}; expected Hz, kHz or MHz")
    first = np.asarray(axis.values, np.float64) * scale
    grid = common_grid(path, labels, [np.asarray(m.axis.values, np.float64) * {"Hz": 1e-3, "kHz": 1.0, "MHz": 1e3}.get(
        m.axis.unit, math.nan) for m in items], "frequency", "kHz", atol=1e-6 * np.ptp(first))
    values = np.stack([np.real(np.asarray(m.values)).astype(np.float64) for m in items])
    order = np.argsort(grid)
    grid, values = grid[order], values[:, order]
    extent = None if settings is None else 0.75 * settings.cq_hz
    sigma_frame = baseline_sigma(grid * 1e3, values, extent)
    sigma = np.stack([np.full(grid.size, s) if m.uncertainties is None
                      else np.asarray(m.uncertainties, np.float64)[order]
                      for s, m in zip(sigma_frame, items, strict=True)])
    if np.any(~(sigma > 0)):
        raise DataFormatError(f"{path}: standard uncertainties must be positive (a frame with a flat baseline?)")

    def condition(name: str) -> np.ndarray:
        return np.asarray([float(m.conditions.get(name, np.nan)) for m in items])

    return Observable(
        axis=Axis(grid, "frequency", "kHz"), values=values, sigma=sigma,
        conditions={"time_s": condition("time_s"), "temperature_K": condition("temperature_K")},
        technique="nmr", quantity="intensity", unit="arb.", labels=labels, source=str(path),
    )


NMR = Technique(
    name="nmr",
    title="NMR spectra (²H, ¹²⁹Xe)",
    axis_name="frequency",
    axis_unit="kHz",
    fit_names=("nmr-series",),
    load_settings=load_nmr_settings,
    simulate=simulate_nmr,
    align=align_nmr,
    fit="twin.fit.nmr:NMR_SERIES",
    panel=None,
    summary="static ²H solid-echo spectra of every frame, one jump rate per phase; or ¹²⁹Xe spectra from xenon "
            "random walks over the frame's domains (nucleus = \"129Xe\"; docs/nmr.md)",
)
