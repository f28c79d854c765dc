r"""¹²⁹Xe NMR of a run on the technique seam: the instrument file (``nucleus = "129Xe"``) and the spectrum of every
frame from xenon random walks (:mod:`instruments.nmr.xenon`).

**What a frame gives.** :class:`~instruments.technique.TwinFrames` carries per-frame summaries, not the site
fields, so each frame's lattice is a *surrogate* built from them: a cube of m ≤ ``walk.lattice`` sites per edge
standing for one crystal of the run (edge :math:`L = (N/n_{crystals})^{1/3}\,b\,V^{1/3}` from the sites N, the
coarse-graining b and the cell volume V), cut into cubic blocks of the minority phase's volume-weighted mean
domain edge (``domain_size_mean``), of which the share ``phase_fraction`` (drawn with a fixed seed) is given to
the minority phase. A surrogate site has the edge s = L/m; a phase's hop rate is :math:`h_p = 6D_p/s^2`. Domains
smaller than two surrogate sites make s = ℓ/2; a crystal that then needs more than ``walk.lattice`` sites is
represented by a periodic interior box, with the gas line added apart (:func:`surrogate_geometry`). The true
per-site field of a frame goes to :func:`instruments.nmr.xenon.walk_spectrum` directly (``twin nmr xenon``).

**Xenon per frame.** Xenon at the partial pressure :math:`p = x_{Xe}\,P_f` (``gas.xenon_fraction`` times the
frame's dry-gas pressure) adsorbs in each phase by a Langmuir law with a van 't Hoff temperature dependence
(:func:`~instruments.nmr.xenon.langmuir_loading`); the gas that exchanges with the crystals fills
``gas.volume_ratio`` crystal volumes (ideal gas). Shifts: :func:`~instruments.nmr.xenon.adsorbed_shift_ppm` per
phase, :func:`~instruments.nmr.xenon.gas_shift_ppm` for the gas. The spectrum of a frame is the walk spectrum
(unit area) times the xenon present (atoms per site cell, adsorbed plus gas).

**Instrument file** (TOML)::

    nucleus = "129Xe"

    [spectrum]
    shift = "-40..300"            # ppm (uniform grid)
    points = 2048
    larmor = "110.7 MHz"          # ¹²⁹Xe at 9.4 T

    [gas]
    xenon_fraction = 1.0          # share of the frame's dry-gas pressure that is xenon
    volume_ratio = 1.0            # gas volume exchanging with the crystals, per crystal volume
    sigma_ppm_per_amagat = 0.548
    linewidth = "20 Hz"

    [walk]
    walkers = 2048
    lattice = 12                  # surrogate sites per crystal edge, at most
    max_events = 20000
    seed = 0

    [phases.lp]                   # one table per phase of the material
    mean_free_path = "4 A"        # ℓ of the Demarquay–Fraissard wall term
    surface_shift_ppm = 0.0       # δ_S
    xexe_ppm = 5.0                # σ_Xe-Xe [ppm per Xe atom per site cell]
    diffusivity = "1e-11 m2/s"
    linewidth = "300 Hz"
    n_max = 6.0                   # Langmuir: atoms per site cell
    p_half = "2 bar"
    enthalpy = "-20 kJ/mol"
    reference_temperature = "298.15 K"

Errors are :class:`~mofcore.errors.DataFormatError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import constants

from instruments.nmr.xenon import (
    adsorbed_shift_ppm,
    gas_density_amagat,
    gas_shift_ppm,
    langmuir_loading,
    WalkResult,
    walk_spectrum,
    xenon_spectrum,
)
from instruments.nmr._settings import check_tables
from instruments.nmr._settings import fail as _fail
from instruments.nmr._settings import quantity as _quantity
from instruments.observable import Axis, Observable
from instruments.technique import TwinFrames
from mofcore.errors import DataFormatError

__all__ = ["XenonPhase", "XenonSettings", "XenonState", "parse_xenon_settings", "xenon_state", "lattice_spectrum",
           "simulate_xenon", "surrogate_geometry", "surrogate_lattice"]

_KNOWN = {
    "nucleus": None,
    "spectrum": {"shift", "points", "larmor"},
    "gas": {"xenon_fraction", "volume_ratio", "sigma_ppm_per_amagat", "linewidth"},
    "walk": {"walkers", "lattice", "max_events", "seed"},
    "phases": None,
}
_PHASE_KEYS = {"mean_free_path", "surface_shift_ppm", "xexe_ppm", "diffusivity", "linewidth", "n_max", "p_half",
               "enthalpy", "reference_temperature"}


@dataclass(frozen=True)
class XenonPhase:
    """Xenon in one phase: shift model, transport, line width, Langmuir adsorption (module docstring)."""

    mean_free_path_A: float
    surface_shift_ppm: float
    xexe_ppm: float
    diffusivity_m2_s: float
    linewidth_hz: float
    n_max: float
    p_half_Pa: float
    enthalpy_kj_mol: float
    reference_K: float

    def loading(self, pressure_Pa: float, temperature_K: float) -> float:
        return float(langmuir_loading(pressure_Pa, temperature_K, self.n_max, self.p_half_Pa, self.enthalpy_kj_mol,
                                      self.reference_K))


@dataclass(frozen=True)
class XenonSettings:
    """A ¹²⁹Xe experiment on a run (the instrument file, module docstring)."""

    shift_ppm: np.ndarray
    larmor_hz: float
    xenon_fraction: float
    volume_ratio: float
    gas_sigma_ppm_per_amagat: float
    gas_linewidth_hz: float
    walkers: int
    lattice: int
    max_events: int
    seed: int
    phases: dict[str, XenonPhase] = field(default_factory=dict)
    source: str = ""


def _number(where: str, key: str, value: Any, lo: float, hi: float, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise _fail(where, key, f"expected {expected}, got {value!r}")
    return float(value)


def _integer(where: str, key: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(where, key, f"expected an integer between {lo} and {hi}, got {value!r}")
    return value


def _shift_range(where: str, value: Any) -> tuple[float, float]:
    text = str(value).replace("ppm", "").strip()
    lo, sep, hi = text.partition("..")
    try:
        a, b = float(lo), float(hi)
    except ValueError:
        a = b = math.nan
    if not sep or not (math.isfinite(a) and math.isfinite(b)) or a == b:
        raise _fail(where, "spectrum.shift", f"expected a range such as \"-40..300 ppm\", got {value!r}")
    return a, b


def parse_xenon_settings(doc: dict[str, Any], where: str = "instrument") -> XenonSettings:
    """Validate a parsed ¹²⁹Xe instrument file (module docstring) into :class:`XenonSettings`."""
    check_tables(doc, _KNOWN, where, nucleus="129Xe")
    spectrum, gas, walk = doc.get("spectrum", {}), doc.get("gas", {}), doc.get("walk", {})
    lo, hi = _shift_range(where, spectrum.get("shift", "-40..300 ppm"))
    points = _integer(where, "spectrum.points", spectrum.get("points", 2048), 64, 262144)
    larmor = _quantity(where, "spectrum.larmor", spectrum.get("larmor", "110.7 MHz"), "rate", lambda v: 1e6 <= v <= 1e9,
                       "a Larmor frequency between 1 MHz and 1 GHz")
    x_xe = _number(where, "gas.xenon_fraction", gas.get("xenon_fraction", 1.0), 0.0, 1.0, "a fraction in [0, 1]")
    ratio = _number(where, "gas.volume_ratio", gas.get("volume_ratio", 1.0), 0.0, 1e6, "a volume ratio ≥ 0")
    sigma = _number(where, "gas.sigma_ppm_per_amagat", gas.get("sigma_ppm_per_amagat", 0.548), -10.0, 10.0,
                    "a coefficient in ppm/amagat")
    gas_width = _quantity(where, "gas.linewidth", gas.get("linewidth", "20 Hz"), "rate", lambda v: v >= 0,
                          "a non-negative FWHM such as \"20 Hz\"")
    walkers = _integer(where, "walk.walkers", walk.get("walkers", 2048), 16, 1_000_000)
    lattice = _integer(where, "walk.lattice", walk.get("lattice", 12), 2, 256)
    max_events = _integer(where, "walk.max_events", walk.get("max_events", 20000), 100, 10_000_000)
    seed = _integer(where, "walk.seed", walk.get("seed", 0), 0, 2**31 - 1)
    phases: dict[str, XenonPhase] = {}
    for name, table in doc.get("phases", {}).items():
        at = f"phases.{name}"
        if not isinstance(table, dict):
            raise _fail(where, at, "expected a table")
        for key in table:
            if key not in _PHASE_KEYS:
                raise _fail(where, f"{at}.{key}", f"unknown key; known: {', '.join(sorted(_PHASE_KEYS))}")
        for key in ("mean_free_path", "diffusivity", "n_max", "p_half"):
            if key not in table:
                raise _fail(where, f"{at}.{key}", "missing required key")
        phases[name] = XenonPhase(
            mean_free_path_A=_quantity(where, f"{at}.mean_free_path", table["mean_free_path"], "length",
                                       lambda v: 0.0 <= v <= 1e7, "a mean free path ≥ 0 such as \"4 A\""),
            surface_shift_ppm=_number(where, f"{at}.surface_shift_ppm", table.get("surface_shift_ppm", 0.0),
                                      -500.0, 500.0, "a shift in ppm"),
            xexe_ppm=_number(where, f"{at}.xexe_ppm", table.get("xexe_ppm", 0.0), -100.0, 100.0,
                             "ppm per Xe atom per site cell"),
            diffusivity_m2_s=_quantity(where, f"{at}.diffusivity", table["diffusivity"], "diffusivity",
                                       lambda v: 0.0 <= v <= 1e-3, "a non-negative diffusivity such as \"1e-11 m2/s\""),
            linewidth_hz=_quantity(where, f"{at}.linewidth", table.get("linewidth", "200 Hz"), "rate",
                                   lambda v: v >= 0, "a non-negative FWHM such as \"300 Hz\""),
            n_max=_number(where, f"{at}.n_max", table["n_max"], 1e-9, 1e4, "a positive capacity (atoms per cell)"),
            p_half_Pa=_quantity(where, f"{at}.p_half", table["p_half"], "pressure", lambda v: v > 0,
                                "a positive pressure such as \"2 bar\""),
            enthalpy_kj_mol=_quantity(where, f"{at}.enthalpy", table.get("enthalpy", "0 kJ/mol"), "energy",
                                      lambda v: -200.0 <= v <= 0.0, "an adsorption enthalpy between -200 and 0 kJ/mol"),
            reference_K=_quantity(where, f"{at}.reference_temperature", table.get("reference_temperature", "298.15 K"),
                                  "temperature", lambda v: v > 0, "a positive temperature"),
        )
    return XenonSettings(np.linspace(lo, hi, points), larmor, x_xe, ratio, sigma, gas_width, walkers, lattice,
                         max_events, seed, phases, where)


def surrogate_lattice(fractions: np.ndarray, domain_edge_sites: int, m: int, seed: int) -> np.ndarray:
    """An m³ lattice of phase indices: blocks of ``domain_edge_sites`` of the minority phase in the majority phase.

    The minority phase (the smallest non-zero fraction; the first of equal ones) gets round(f·n_blocks) blocks
    drawn with ``seed``; the rest is the largest other phase (a third phase, if any, is merged into it).
    """
    fractions = np.asarray(fractions, np.float64)
    present = np.nonzero(fractions > 0)[0]
    if present.size < 2:
        return np.full((m, m, m), int(np.argmax(fractions)), np.int64)
    minor = int(present[np.argmin(fractions[present])])
    rest = fractions.copy()
    rest[minor] = -1.0
    major = int(np.argmax(rest))  # another phase than the minority one, also for equal fractions
    phase = np.full((m, m, m), major, np.int64)
    d = int(np.clip(domain_edge_sites, 1, m))
    nb = -(-m // d)
    n_minor = int(round(fractions[minor] * nb**3))
    if n_minor == 0:
        return phase
    chosen = np.random.default_rng(seed).permutation(nb**3)[:n_minor]
    block = np.zeros(nb**3, bool)
    block[chosen] = True
    mask = np.repeat(np.repeat(np.repeat(block.reshape(nb, nb, nb), d, 0), d, 1), d, 2)[:m, :m, :m]
    phase[mask] = minor
    return phase


@dataclass(frozen=True)
class XenonState:
    """Xenon at one frame's conditions (module docstring, "Xenon per frame").

    Attributes:
        loading: atoms per site cell in each phase, (n_phases,). shift_ppm: δ of each phase, (n_phases,).
        gas_shift_ppm: δ of the gas. gas_fraction: share of the xenon in the gas. amount: xenon per site cell
        (adsorbed plus gas) for the given phase fractions. cell_volume_A3: the fraction-weighted cell volume.
    """

    loading: np.ndarray
    shift_ppm: np.ndarray
    gas_shift_ppm: float
    gas_fraction: float
    amount: float
    cell_volume_A3: float


def xenon_state(settings: XenonSettings, phase_names: tuple[str, ...], fractions, volume_A3, temperature_K: float,
                pressure_Pa: float) -> XenonState:
    """Loadings, shifts, gas fraction and amount of xenon at one frame (module docstring).

    Raises:
        DataFormatError: a phase without xenon parameters in the settings.
    """
    missing = [p for p in phase_names if p not in settings.phases]
    if missing:
        raise DataFormatError(f"{settings.source}: phases: no xenon parameters for phase {', '.join(missing)} (the "
                              f"material has {', '.join(phase_names)}; add a [phases.NAME] table for each)")
    phases = [settings.phases[p] for p in phase_names]
    f = np.clip(np.nan_to_num(np.asarray(fractions, np.float64)), 0.0, 1.0)
    volume = np.asarray(volume_A3, np.float64)
    t, p = float(temperature_K), float(max(pressure_Pa, 0.0))
    loading = np.array([ph.loading(p, t) for ph in phases])
    shifts = np.array([float(adsorbed_shift_ppm(ph.mean_free_path_A, w, ph.xexe_ppm, ph.surface_shift_ppm))
                       for ph, w in zip(phases, loading, strict=True)])
    gas_shift = float(gas_shift_ppm(gas_density_amagat(p, t), settings.gas_sigma_ppm_per_amagat))
    v_cell = float(f @ volume) if f.sum() > 0 else float(volume.mean())
    adsorbed = float(f @ loading) / v_cell  # atoms per Å³ of crystal
    gas = settings.volume_ratio * p / (constants.k * t) * 1e-30  # atoms per Å³ of crystal volume
    gas_fraction = gas / (gas + adsorbed) if gas + adsorbed > 0 else 0.0
    return XenonState(loading, shifts, gas_shift, gas_fraction, float(f @ loading) + gas * v_cell, v_cell)


def lattice_spectrum(lattice: np.ndarray, settings: XenonSettings, phase_names: tuple[str, ...], state: XenonState,
                     site_spacing_A: float, shift_ppm: Any = None, *, periodic: bool = False,
                     where: str = "") -> WalkResult:
    """The walk spectrum (unit area) of one lattice of phase indices (−1 outside) with site spacing a [Å]:
    hop rates h_p = 6 D_p / a²; the settings' line widths, Larmor frequency and walk parameters.

    With ``periodic`` the lattice is an interior box of a crystal much larger than it: the walkers do not reach
    the gas, whose line is added apart (slow exchange with the gas) with the weight of the gas fraction.
    """
    phases = [settings.phases[p] for p in phase_names]
    axis = settings.shift_ppm if shift_ppm is None else np.asarray(shift_ppm, np.float64)
    widths = np.array([p.linewidth_hz for p in phases] + [settings.gas_linewidth_hz])
    hop = np.array([6.0 * ph.diffusivity_m2_s / (site_spacing_A * 1e-10) ** 2 for ph in phases])
    gas_fraction = min(state.gas_fraction, 0.999)
    result = walk_spectrum(
        lattice, axis, np.concatenate([state.shift_ppm, [state.gas_shift_ppm]]), hop, np.maximum(state.loading, 1e-9),
        linewidth_hz=widths, larmor_hz=settings.larmor_hz, gas_fraction=0.0 if periodic else gas_fraction,
        periodic=periodic, n_walkers=settings.walkers, max_events=settings.max_events, seed=settings.seed,
        acquisition_s=6.0 / (math.pi * max(float(widths.min()), 1.0)), where=where or settings.source)
    if not periodic or gas_fraction <= 0:
        return result
    gas_line = xenon_spectrum(result.shift_ppm, [state.gas_shift_ppm], [1.0], np.zeros((1, 1)),
                              larmor_hz=settings.larmor_hz, linewidth_hz=settings.gas_linewidth_hz)
    populations = np.concatenate([result.populations[:-1] * (1.0 - gas_fraction), [gas_fraction]])
    return dataclasses.replace(result, intensity=(1.0 - gas_fraction) * result.intensity + gas_fraction * gas_line,
                               populations=populations)


def surrogate_geometry(crystal_edge_A: float, domain_edge_A: float, lattice_max: int,
                       n_side: float) -> tuple[int, float, int, bool]:
    """The surrogate lattice of one frame: (m sites per edge, site edge s [Å], domain edge d [sites], periodic).

    The whole crystal (m = min(lattice_max, n_side) sites, surface open to the gas) when the minority domains span
    two sites or more at s = L/m; otherwise s = ℓ/2 so that a domain spans two sites, and, where the crystal then
    exceeds ``lattice_max`` sites, a periodic interior box of ``lattice_max`` sites (gas exchange left to the
    surface, slow beside the domains' exchange: the gas line is added apart).
    """
    m = int(min(lattice_max, max(2, round(n_side))))
    s = crystal_edge_A / m
    if domain_edge_A >= 2.0 * s:
        return m, s, int(np.clip(round(domain_edge_A / s), 1, m)), False
    s = domain_edge_A / 2.0
    n = int(round(crystal_edge_A / s))
    if n <= lattice_max:
        return max(n, 2), crystal_edge_A / max(n, 2), 2, False
    return lattice_max, s, 2, True


def simulate_xenon(frames: TwinFrames, settings: XenonSettings, shift_ppm: Any = None) -> Observable:
    """The ¹²⁹Xe spectrum of every frame (module docstring) on the settings' grid or on ``shift_ppm`` [ppm].

    Returns:
        An :class:`Observable` on ``Axis(δ, "shift", "ppm")``, values in Xe atoms per site cell per ppm, with the
        frame conditions plus ``loading_<phase>``, ``shift_ppm_<phase>``, ``shift_ppm_gas``, ``gas_fraction``,
        ``surrogate_domain_sites``, ``surrogate_site_nm``, ``surrogate_periodic`` (1 for an interior box) and
        ``rate_cap_per_s`` (NaN where the hop rates were not capped).

    Raises:
        DataFormatError: phases without xenon parameters, missing summaries, non-positive temperatures.
    """
    names = frames.phase_names
    fraction = frames.summary("phase_fraction", "129Xe NMR")
    domain = frames.summary("domain_size_mean", "129Xe NMR")
    temperature = np.asarray(frames.conditions["temperature_K"], np.float64)
    if not np.all(np.isfinite(temperature) & (temperature > 0)):
        raise DataFormatError(f"{frames.source}: NMR needs a positive temperature at every frame")
    pressure = np.nan_to_num(np.asarray(frames.conditions["pressure_bar"], np.float64)) * 1e5 * settings.xenon_fraction
    n_crystals = frames.summaries["crystal_phase_fraction"].shape[1] if "crystal_phase_fraction" in frames.summaries \
        else 1
    axis = settings.shift_ppm if shift_ppm is None else np.asarray(shift_ppm, np.float64)
    n_side = (frames.n_sites / n_crystals) ** (1.0 / 3.0)
    m_whole = int(min(settings.lattice, max(2, round(n_side))))
    values = np.zeros((frames.n_frames, axis.size))
    extra: dict[str, list[float]] = {k: [] for k in
                                     [f"loading_{p}" for p in names] + [f"shift_ppm_{p}" for p in names]
                                     + ["shift_ppm_gas", "gas_fraction", "surrogate_domain_sites", "surrogate_site_nm",
                                        "surrogate_periodic", "rate_cap_per_s"]}
    cache: dict[tuple, tuple[np.ndarray, float | None]] = {}
    for i in range(frames.n_frames):
        f = np.clip(np.nan_to_num(fraction[i]), 0.0, 1.0)
        state = xenon_state(settings, names, f, frames.volume_A3, float(temperature[i]), float(pressure[i]))
        crystal_edge = n_side * frames.block * state.cell_volume_A3 ** (1.0 / 3.0)  # [Å]
        present = np.nonzero(f > 0)[0]
        if present.size > 1:
            minor = int(present[np.argmin(f[present])])
            edge = (max(float(np.nan_to_num(domain[i][minor])), 1.0) * state.cell_volume_A3) ** (1.0 / 3.0)
            m, s, d, periodic = surrogate_geometry(crystal_edge, edge, settings.lattice, n_side)
        else:
            m, s, d, periodic = m_whole, crystal_edge / m_whole, m_whole, False
        for k, name in enumerate(names):
            extra[f"loading_{name}"].append(state.loading[k])
            extra[f"shift_ppm_{name}"].append(state.shift_ppm[k])
        extra["shift_ppm_gas"].append(state.gas_shift_ppm)
        extra["gas_fraction"].append(state.gas_fraction)
        extra["surrogate_domain_sites"].append(d)
        extra["surrogate_site_nm"].append(s / 10.0)
        extra["surrogate_periodic"].append(float(periodic))
        if state.amount <= 0:
            extra["rate_cap_per_s"].append(math.nan)
            continue
        key = (tuple(np.round(f, 4)), m, d, round(s, 3), periodic, round(float(temperature[i]), 3),
               round(float(pressure[i]), 3))
        if key not in cache:
            result = lattice_spectrum(surrogate_lattice(f, d, m, settings.seed), settings, names, state, s, axis,
                                      periodic=periodic, where=f"{settings.source}: frame {i}")
            cache[key] = (np.interp(axis, result.shift_ppm, result.intensity), result.rate_cap_per_s)
        spectrum, cap = cache[key]
        values[i] = spectrum * state.amount
        extra["rate_cap_per_s"].append(math.nan if cap is None else cap)
    conditions = {k: np.asarray(v, np.float64) for k, v in frames.conditions.items()}
    conditions.update({k: np.asarray(v, np.float64) for k, v in extra.items()})
    order = np.argsort(axis)
    return Observable(
        axis=Axis(axis[order], "shift", "ppm"), values=values[:, order], conditions=conditions,
        technique="nmr", quantity="intensity", unit="1/ppm",
        attrs=(("nucleus", "129Xe"), ("larmor_MHz", settings.larmor_hz / 1e6), ("walkers", settings.walkers),
               ("surrogate_lattice_max", settings.lattice)),
        source=frames.source,
    )
