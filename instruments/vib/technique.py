r"""IR and Raman on the technique seam (:mod:`instruments.technique`): the vibrational spectrum of every frame of a run.

**What a run gives a vibrational spectrum.** Per frame f and phase p the twin gives the phase fraction
:math:`x_{p,f}`, the mean and spread of the breathing order parameter over the phase's sites
(:math:`\bar\eta_{p,f}`, :math:`s_{p,f}`), the guest loadings :math:`N_{g,f}` (molecules per cell, the crystal's
mean) and the temperature. A band table (:mod:`instruments.vib.bandtable`, ``datasets/bands/mil53-al.toml``)
turns these into, for each band b and phase p, a mean frequency (the frequency map)

.. math::
    \tilde\nu_{bpf} = \tilde\nu^0_{bp} + a_{\eta,b}(\bar\eta_{pf} - \eta^0_p) + \sum_g a_{g,b} N_{gf}
                      + a_{T,b}(T_f - T_\mathrm{ref}),

and a distribution of the sites' frequencies about it, which makes the lineshape through the Kubo/cumulant
formula (:mod:`instruments.vib.kubo`). The per-site frequency :math:`\tilde\nu_i(t)` has three independent Gaussian
parts:

* a **static** (inhomogeneous, slower than any vibrational dephasing) part from the site-to-site spread of the
  environment: :math:`\sigma^2_\mathrm{inh} = (a_\eta s_{pf})^2 + \sum_g a_{g,b}^2 N_{gf}` (the η spread of
  the phase's sites, and the Poisson spread of the number of guests per cell, variance N);
* a **dynamic** Gaussian–Markov part of rms :math:`\tilde\Delta_b` and correlation time :math:`\tau_b` (librations,
  guest motion; band table ``[bands.fluctuation]``);
* the intrinsic Lorentzian width :math:`\Gamma_{bp}` (population relaxation) and the instrument's Gaussian
  resolution R (FWHM).

For independent Gaussian parts the second cumulant is exact, so each line is

.. math::
    I_{bpf}(\tilde\nu) = \frac{1}{\pi}\mathrm{Re}\int_0^\infty dt\; e^{-i\omega t}
      \exp\!\Bigl[-\tfrac12(\sigma^2_\mathrm{inh} + \sigma^2_R)\,t^2 - g_\mathrm{Kubo}(t) - \pi c\Gamma t\Bigr],

(angular units inside, :math:`\omega = 2\pi c(\tilde\nu - \tilde\nu_{bpf})`): slow η fluctuations broaden it
inhomogeneously, fast ones narrow it (motional narrowing) — the regime follows from :math:`\tilde\Delta_b\tau_b`.
The frame's spectrum is

.. math::
    S_f(\tilde\nu) = \sum_{b,p} x_{pf}\; w_b\; n_{bf}\; I_{bpf}(\tilde\nu),

with :math:`w_b` the band's IR intensity (``mode = "ir"``) or Raman activity (``mode = "raman"``) and
:math:`n_{bf}` = 1 for a framework band, :math:`N_{gf}` for a band of guest g. Written for one frame
(:func:`frame_spectrum`) and mapped over frames with ``jax.lax.map`` in one jitted call.

**Left out.** Loadings per phase (the twin's ``loading`` summary is the crystal's mean per cell; both phases see
it), coupling between bands, overtones/combinations, Fermi resonances (CO2 ν1/2ν2 in Raman), the
temperature-dependent Boltzmann factors of Raman intensities, and anything the band table marks estimated
(most of it: see the file). The guest names of the run's loading columns are not part of the trajectory's
per-frame summaries handed to techniques, so the instrument file names them (``sample.guests``, default
``["CO2"]``) and their number is checked against the run.

**Instrument file** (TOML)::

    mode = "ir"                       # or "raman"
    [spectrum]
    range = "400..4000 cm-1"
    points = 1801
    resolution = "4 cm-1"             # Gaussian FWHM of the instrument function
    [sample]
    bands = "../bands/mil53-al.toml"  # the band table, relative to this file
    guests = ["CO2"]                  # the run's loading columns, in order

``datasets/instruments/lab_ftir.toml`` ships an FTIR example. Errors are :class:`~mofcore.errors.DataFormatError`
naming the file and the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from instruments.observable import Axis, Observable
from instruments.technique import Technique, TwinFrames
from instruments.vib.bandtable import BandTable, load_band_table
from instruments.vib.kubo import RAD_PER_PS_PER_CM1, kubo_g
from mofcore.errors import DataFormatError, UnitError
from mofcore.files import read_toml_file
from mofcore.units import parse_quantity

__all__ = ["IR", "RAMAN", "VibSettings", "load_vib_settings", "parse_vib_settings", "simulate_vib", "frame_spectrum",
           "line_parameters", "align_vib"]

_KNOWN = {"mode": None, "spectrum": {"range", "points", "resolution"}, "sample": {"bands", "guests"}}
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class VibSettings:
    """An IR or Raman instrument and the sample's band table (module docstring)."""

    mode: str
    wavenumber_cm1: np.ndarray
    resolution_cm1: float
    table: BandTable
    guests: tuple[str, ...]
    source: str = ""


def _wavenumber(value: object, where: str) -> float:
    """A wavenumber string (``"4 cm-1"``, or a frequency or energy through E = hcν̃) → cm⁻¹."""
    return parse_quantity(value, "wavenumber", where=where)


def _fail(where: str, key: str, message: str) -> DataFormatError:
    return DataFormatError(f"{where}: {key}: {message}")


def parse_vib_settings(doc: dict[str, Any], where: str = "instrument", base: Path | None = None) -> VibSettings:
    """Validate a parsed instrument file (module docstring); ``base`` is the folder the band-table path is
    relative to."""
    for key, value in doc.items():
        if key not in _KNOWN:
            raise _fail(where, key, f"unknown key; known: {', '.join(_KNOWN)}")
        if _KNOWN[key] is not None:
            if not isinstance(value, dict):
                raise _fail(where, key, "expected a table")
            for sub in value:
                if sub not in _KNOWN[key]:
                    raise _fail(where, f"{key}.{sub}", f"unknown key; known: {', '.join(sorted(_KNOWN[key]))}")
    mode = doc.get("mode", "ir")
    if mode not in ("ir", "raman"):
        raise _fail(where, "mode", f"expected \"ir\" or \"raman\", got {mode!r}")
    spectrum, sample = doc.get("spectrum", {}), doc.get("sample", {})
    text = spectrum.get("range", "400..4000 cm-1")
    try:
        lo_text, hi_text = str(text).split("..")
        unit = hi_text.strip().split()[-1] if len(hi_text.split()) > 1 else "cm-1"
        lo = _wavenumber(f"{lo_text.strip()} {unit}" if len(lo_text.split()) == 1 else lo_text, "range")
        hi = _wavenumber(hi_text if len(hi_text.split()) > 1 else f"{hi_text} {unit}", "range")
    except (ValueError, UnitError):
        raise _fail(where, "spectrum.range", f"expected a range such as \"400..4000 cm-1\", got {text!r}") from None
    if not 0 <= lo < hi:
        raise _fail(where, "spectrum.range", f"expected 0 <= LOW < HIGH, got {text!r}")
    points = spectrum.get("points", 1801)
    if isinstance(points, bool) or not isinstance(points, int) or not 16 <= points <= 200000:
        raise _fail(where, "spectrum.points", f"expected an integer between 16 and 200000, got {points!r}")
    try:
        resolution = _wavenumber(spectrum.get("resolution", "4 cm-1"), "spectrum.resolution")
    except UnitError as error:
        raise DataFormatError(f"{where}: {error}") from None
    if not resolution > 0:
        raise _fail(where, "spectrum.resolution", f"expected a positive FWHM such as \"4 cm-1\", got {resolution!r}")
    bands_ref = sample.get("bands", "../bands/mil53-al.toml")
    path = Path(bands_ref)
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise _fail(where, "sample.bands", f"band table {bands_ref!r} not found (relative to the instrument file)")
    guests = sample.get("guests", ["CO2"])
    if not isinstance(guests, list) or not all(isinstance(g, str) and g for g in guests):
        raise _fail(where, "sample.guests", f"expected a list of guest names such as [\"CO2\"], got {guests!r}")
    return VibSettings(mode, np.linspace(lo, hi, points), float(resolution), load_band_table(path), tuple(guests),
                       where)


def load_vib_settings(path: str | Path) -> VibSettings:
    """An instrument TOML file (module docstring) → :class:`VibSettings`."""
    path = Path(path)
    doc = read_toml_file(path, what="an IR/Raman instrument file (TOML)", error=DataFormatError, source=str(path))
    return parse_vib_settings(doc, str(path), path.parent)


def line_parameters(frames: TwinFrames, settings: VibSettings) -> dict[str, np.ndarray]:
    """Per frame and line (band × phase) the mean wavenumber, static spread, weight and the line constants:
    ``nu_cm1``, ``sigma_inh_cm1``, ``weight`` (n_frames, n_lines); ``fwhm_cm1``, ``amplitude_cm1``,
    ``tau_ps`` (n_lines,); ``names`` of the lines (``"OH-stretch/lp"``).

    Raises:
        DataFormatError: a phase of the run without an entry in a band, loading columns that do not match
            ``sample.guests``.
    """
    where = frames.source or "run"
    fraction = frames.summary("phase_fraction", "IR/Raman")
    n_f, n_p = fraction.shape
    if n_p != len(frames.phase_names):
        raise DataFormatError(f"{where}: {n_p} phase fractions for phases {frames.phase_names}")
    eta_mean = frames.summary("eta_mean", "IR/Raman") if "eta_mean" in frames.summaries else np.full((n_f, n_p), np.nan)
    eta_std = frames.summary("eta_std", "IR/Raman") if "eta_std" in frames.summaries else np.zeros((n_f, n_p))
    endpoint = np.linspace(0.0, 1.0, n_p) if n_p > 1 else np.ones(1)
    eta_mean = np.where(np.isfinite(eta_mean), eta_mean, endpoint[None, :])
    eta_std = np.where(np.isfinite(eta_std), eta_std, 0.0)
    loading = (frames.summary("loading", "IR/Raman") if "loading" in frames.summaries else np.zeros((n_f, 0)))
    loading = np.asarray(loading, np.float64).reshape(n_f, -1)
    if loading.shape[1] != len(settings.guests):
        raise DataFormatError(f"{settings.source}: sample.guests names {len(settings.guests)} guests "
                              f"({', '.join(settings.guests)}) but the run {where} has {loading.shape[1]} loading "
                              "columns; list the run's guests in order")
    load = {g: loading[:, k] for k, g in enumerate(settings.guests)}
    temperature = np.asarray(frames.conditions["temperature_K"], np.float64)
    table = settings.table
    cols: dict[str, list[Any]] = {k: [] for k in ("nu", "sig", "w", "fwhm", "amp", "tau", "names")}
    for band in table.bands:
        weight_b = band.ir_intensity if settings.mode == "ir" else band.raman_activity
        if weight_b == 0.0 or (band.guest and band.guest not in load):
            continue  # inactive in this mode, or a band of a guest the run does not have
        missing = [p for p in frames.phase_names if p not in band.phases]
        if missing:
            raise DataFormatError(f"{table.source}: band {band.name} has no entry for phase(s) {', '.join(missing)} "
                                  f"of {frames.material} (phases {', '.join(frames.phase_names)})")
        count = np.ones(n_f) if not band.guest else load.get(band.guest, np.zeros(n_f))
        shift = sum((band.loading_slope_cm1.get(g, 0.0) * n for g, n in load.items()), np.zeros(n_f))
        spread2 = sum((band.loading_slope_cm1.get(g, 0.0) ** 2 * np.clip(n, 0, None) for g, n in load.items()),
                      np.zeros(n_f))
        for k, phase in enumerate(frames.phase_names):
            pb = band.phases[phase]
            nu = (pb.position_cm1 + band.eta_slope_cm1 * (eta_mean[:, k] - endpoint[k]) + shift
                  + band.temperature_slope_cm1_per_K * (temperature - table.reference_temperature_K))
            cols["nu"].append(nu)
            cols["sig"].append(np.sqrt((band.eta_slope_cm1 * eta_std[:, k]) ** 2 + spread2))
            cols["w"].append(fraction[:, k] * weight_b * count)
            cols["fwhm"].append(pb.fwhm_cm1)
            cols["amp"].append(band.amplitude_cm1)
            cols["tau"].append(band.correlation_time_ps)
            cols["names"].append(f"{band.name}/{phase}")
    if not cols["names"]:
        raise DataFormatError(f"{table.source}: no band is {settings.mode.upper()}-active")
    return {"nu_cm1": np.stack(cols["nu"], 1), "sigma_inh_cm1": np.stack(cols["sig"], 1),
            "weight": np.stack(cols["w"], 1), "fwhm_cm1": np.asarray(cols["fwhm"]),
            "amplitude_cm1": np.asarray(cols["amp"]), "tau_ps": np.asarray(cols["tau"]), "names": cols["names"]}


def _grid(params: dict[str, np.ndarray], resolution_cm1: float) -> tuple[float, int]:
    """Time step [ps] and FFT length: offsets resolved to R/8, spanning ±10 widths of the broadest line."""
    width = np.sqrt(np.max(params["sigma_inh_cm1"]) ** 2 + np.max(params["amplitude_cm1"]) ** 2) * _FWHM_PER_SIGMA
    half_span = max(100.0, 10.0 * (width + np.max(params["fwhm_cm1"]) + resolution_cm1))
    step = resolution_cm1 / 8.0
    n_fft = 1 << int(math.ceil(math.log2(2.0 * half_span / step)))
    dt = 2.0 * math.pi / (n_fft * step * RAD_PER_PS_PER_CM1)
    return dt, n_fft


def frame_spectrum(axis_cm1: jax.Array, nu_cm1: jax.Array, sigma_inh_cm1: jax.Array, weight: jax.Array,
                   fwhm_cm1: jax.Array, amplitude_cm1: jax.Array, tau_ps: jax.Array, resolution_cm1: float,
                   dt_ps: float, n_fft: int) -> jax.Array:
    r"""One frame's spectrum on ``axis_cm1`` (n_points,) from its lines (n_lines,) (module docstring).

    Each line's C(t) is sampled at n_fft/2 points of step ``dt_ps``, zero-padded to ``n_fft``, Fourier transformed
    (:func:`instruments.vib.kubo.spectrum_from_correlation`'s convention: unit area in cm⁻¹) and interpolated at
    axis − ν̃ (the line's offset grid spans ±n_fft·step/2).

    Returns:
        S(ν̃) [weight per cm⁻¹], (n_points,).
    """
    dtype = axis_cm1.dtype
    n_t = n_fft // 2
    t = jnp.arange(n_t, dtype=dtype) * dt_ps
    sig_res = resolution_cm1 / _FWHM_PER_SIGMA * RAD_PER_PS_PER_CM1

    def one_line(nu: jax.Array, sig: jax.Array, w: jax.Array, fwhm: jax.Array, amp: jax.Array,
                 tau: jax.Array) -> jax.Array:
        s = sig * RAD_PER_PS_PER_CM1
        g = kubo_g(t, amp, tau)
        c = jnp.exp(-0.5 * (s * s + sig_res * sig_res) * t * t - g - 0.5 * fwhm * RAD_PER_PS_PER_CM1 * t)
        c = c.at[0].multiply(0.5)
        spec = jnp.fft.fftshift(jnp.real(jnp.fft.fft(c.astype(jnp.result_type(1j)), n=n_fft))) * dt_ps
        spec = spec / math.pi * RAD_PER_PS_PER_CM1
        offsets = jnp.fft.fftshift(jnp.fft.fftfreq(n_fft, d=dt_ps)).astype(dtype) * (2.0 * math.pi
                                                                                    / RAD_PER_PS_PER_CM1)
        return w * jnp.interp(axis_cm1 - nu, offsets, spec, left=0.0, right=0.0)

    lines = jax.vmap(one_line)(nu_cm1, sigma_inh_cm1, weight, fwhm_cm1, amplitude_cm1, tau_ps)
    return jnp.sum(lines, axis=0)


def simulate_vib(frames: TwinFrames, settings: VibSettings, wavenumber_cm1: Any = None) -> Observable:
    """The IR (or Raman) spectrum of every frame (module docstring) on the settings' axis or on
    ``wavenumber_cm1``.

    Returns:
        An :class:`Observable` of technique ``"ir"`` (the mode in ``attrs``) on ``Axis(ν̃, "wavenumber", "cm-1")``
        (ascending values; plotted decreasing), values
        in relative intensity per cm⁻¹, the frame conditions plus ``<band>_<phase>_cm1`` (each line's mean
        wavenumber per frame) and ``OH_band_cm1`` (the intensity-weighted mean position of the OH-stretch lines,
        when the table has them).
    """
    params = line_parameters(frames, settings)
    axis = np.sort(np.asarray(settings.wavenumber_cm1 if wavenumber_cm1 is None else wavenumber_cm1, np.float64))
    dt, n_fft = _grid(params, settings.resolution_cm1)
    dtype = jnp.result_type(float)
    consts = tuple(jnp.asarray(params[k], dtype) for k in ("fwhm_cm1", "amplitude_cm1", "tau_ps"))
    ax = jnp.asarray(axis, dtype)

    @jax.jit
    def series(nu: jax.Array, sig: jax.Array, w: jax.Array) -> jax.Array:
        return jax.lax.map(lambda a: frame_spectrum(ax, a[0], a[1], a[2], *consts, settings.resolution_cm1, dt,
                                                    n_fft), (nu, sig, w))

    values = np.asarray(series(*(jnp.asarray(params[k], dtype) for k in ("nu_cm1", "sigma_inh_cm1", "weight"))),
                        np.float64)
    conditions = {k: np.asarray(v, np.float64) for k, v in frames.conditions.items()}
    for j, name in enumerate(params["names"]):
        conditions[name.replace("/", "_").replace("-", "_") + "_cm1"] = params["nu_cm1"][:, j]
    oh = [j for j, n in enumerate(params["names"]) if n.startswith("OH-stretch/")]
    if oh:
        w = params["weight"][:, oh]
        conditions["OH_band_cm1"] = np.sum(w * params["nu_cm1"][:, oh], 1) / np.where(w.sum(1) > 0, w.sum(1), 1.0)
    return Observable(
        axis=Axis(axis, "wavenumber", "cm-1"), values=values, conditions=conditions, technique="ir",
        quantity="absorbance" if settings.mode == "ir" else "intensity", unit="arb.",
        attrs=(("mode", settings.mode), ("resolution_cm1", settings.resolution_cm1),
               ("band_table", settings.table.source), ("guests", ",".join(settings.guests))),
        source=frames.source,
    )


def align_vib(path: str | Path, settings: VibSettings | None = None) -> Observable:
    """A measured series of IR/Raman spectra (a folder with a conditions log, or HDF5) on one wavenumber grid.

    Raises:
        DataFormatError: a single spectrum, an axis that is not a wavenumber, frames on different grids.
    """
    from instruments.measurement import common_grid, series_frames

    path = Path(path)
    items, labels = series_frames(path, "one spectrum, but a series needs several (a folder of spectra with a "
                                        "conditions log)")
    for label, m in zip(labels, items, strict=True):
        if m.axis.name != "wavenumber":
            raise DataFormatError(f"{path}: frame {label}: expected a wavenumber axis (cm-1), got {m.axis.name}")
    first = np.asarray(items[0].axis.values, np.float64)
    grid = common_grid(path, labels, [m.axis.values for m in items], "wavenumber", "cm-1", atol=1e-6 * np.ptp(first))
    order = np.argsort(grid)
    values = np.stack([np.real(np.asarray(m.values)).astype(np.float64)[order] for m in items])
    tenth = max(grid.size // 10, 8)
    sigma_frame = np.std(np.concatenate([values[:, :tenth], values[:, -tenth:]], 1), axis=1, ddof=1)
    sigma = np.stack([np.full(grid.size, s) if m.uncertainties is None else np.asarray(m.uncertainties)[order]
                      for s, m in zip(sigma_frame, items, strict=True)])

    def condition(name: str) -> np.ndarray:
        return np.asarray([float(m.conditions.get(name, np.nan)) for m in items])

    return Observable(axis=Axis(grid[order], "wavenumber", "cm-1"), values=values, sigma=sigma,
                      conditions={"time_s": condition("time_s"), "temperature_K": condition("temperature_K")},
                      technique="raman" if settings is not None and settings.mode == "raman" else "ir",
                      quantity="intensity", unit="arb.",
                      labels=labels, source=str(path))


IR = Technique(
    name="ir",
    title="Vibrational spectra (IR, Raman)",
    axis_name="wavenumber",
    axis_unit="cm-1",
    load_settings=load_vib_settings,
    simulate=simulate_vib,
    align=align_vib,
    fit=None,
    panel=None,
    summary="IR (or Raman: mode = \"raman\") spectrum of every frame from a band table with frequency maps on eta "
            "and loading, Kubo/cumulant lineshapes (docs/vibrational.md)",
)

#: the same forward model registered as "raman" (an instrument file with mode = "raman", e.g. the shipped lab_raman)
def _simulate_raman(frames: TwinFrames, settings: VibSettings, wavenumber_cm1: Any = None) -> Observable:
    """:func:`simulate_vib` recorded as the ``raman`` technique (the instrument file must say mode = "raman")."""
    if settings.mode != "raman":
        raise DataFormatError(f"{settings.source}: mode: the raman technique needs mode = \"raman\", got "
                              f"{settings.mode!r}")
    return replace(simulate_vib(frames, settings, wavenumber_cm1), technique="raman")


RAMAN = Technique(
    name="raman", title="Raman spectra", axis_name="wavenumber", axis_unit="cm-1", load_settings=load_vib_settings,
    simulate=_simulate_raman, align=align_vib, fit=None, panel=None,
    summary="Raman spectrum of every frame (instrument mode = \"raman\"; docs/vibrational.md)",
)
