r"""TEM on the technique seam: instrument file, the in situ dark-/bright-field map series of a run, the panel.

``twin observe OUT --technique tem INSTRUMENT.toml`` simulates, for every frame of the run whose per-site η field
is stored, the low-magnification diffraction-contrast map of the crystal (:mod:`instruments.tem.contrast`: two-beam
Howie–Whelan columns through the per-site phase field), and the fluence the crystal has received by then (dose
rate × time since the first frame, ``conditions/dose_e_per_A2``), with a flag where it exceeds the instrument's
critical fluence. High-resolution images and diffraction patterns of a phase are made by ``twin tem image``
(:mod:`instruments.tem.multislice`, :mod:`instruments.tem.diffraction`).

The observable holds the maps flattened, one row per frame on a pixel ``index`` axis (the seam's one
:class:`~instruments.observable.Observable` type); ``attrs`` give ``image_ny``, ``image_nx``, ``pixel_size_A``
and ``kind`` so that :func:`image_series` (and the report panel ``reports.sections.tem:tem_panel``) rebuild
the images as an :class:`~instruments.series_io.ImageSeries`.

Departure from the seam: :class:`~instruments.technique.TwinFrames` carries summaries, not fields, so
:func:`read_eta_frames` reads ``fields/eta``, ``fields/frame_index``, ``lattice/mask`` and the lattice attributes
lazily from the trajectory file named by ``frames.source`` (h5py, one field frame at a time).

Instrument file (TOML; every quantity a string with its unit):

.. code-block:: toml

    [microscope]
    voltage = "300 kV"            # > 0
    cs = "1.2 mm"                 # >= 0
    defocus = "scherzer"          # or a signed length, negative = underfocus
    objective_aperture = "15 mrad"
    focal_spread = "3 nm"         # temporal envelope
    convergence = "0.2 mrad"      # spatial envelope

    [detector]
    dose = 20.0                   # e/Å² per HRTEM image, > 0
    mtf = { c = 0.1, nu0 = 0.6, n = 2.5 }   # optional; omit for a perfect detector

    [hrtem]                       # twin tem image
    sampling = "0.1 A"
    slice_thickness = "2 A"
    field = "5 nm"
    thickness = "5 nm"

    [contrast]                    # twin observe --technique tem
    mode = "dark-field"           # or "bright-field"
    phase = "lp"                  # the phase whose reflection the aperture selects
    reflection = [0, 1, 1]        # hkl of that phase (perpendicular to the beam)
    beam_axis = "x"               # the site-lattice axis along the beam (x, y or z)
    excitation_error = 0.0        # s [1/Å]
    dose_rate = 0.01              # e/Å²/s at low magnification
    critical_fluence = 10.0       # e/Å² (ESTIMATE for the specimen; see docs/tem.md)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instruments.observable import Axis, Observable
from instruments.technique import Technique, TwinFrames
from instruments.tem.ctf import Lens, parse_cs_A, parse_defocus_A, parse_voltage_V, wavelength_A
from instruments.tem.multislice import Detector
from mofcore.errors import DataFormatError, TwinError, UnitError
from mofcore.files import read_toml_file
from mofcore.units import parse_quantity

__all__ = ["TemSettings", "load_tem_settings", "parse_tem_settings", "read_eta_frames", "simulate_tem",
           "image_series", "TEM"]

_SECTIONS = {
    "microscope": {"voltage", "cs", "defocus", "objective_aperture", "focal_spread", "convergence"},
    "detector": {"dose", "mtf"},
    "hrtem": {"sampling", "slice_thickness", "field", "thickness"},
    "contrast": {"mode", "phase", "reflection", "beam_axis", "excitation_error", "dose_rate", "critical_fluence"},
}
@dataclass(frozen=True)
class TemSettings:
    """A TEM instrument (module docstring); lengths in Å, angles in mrad."""

    lens: Lens
    detector: Detector
    sampling_A: float
    slice_thickness_A: float
    field_A: float
    thickness_A: float
    mode: str
    phase: str
    reflection: tuple[int, int, int]
    beam_axis: int
    excitation_error_inv_A: float
    dose_rate_e_per_A2_s: float
    critical_fluence_e_per_A2: float
    source: str = ""


def _fail(where: str, key: str, message: str) -> DataFormatError:
    return DataFormatError(f"{where}: {key}: {message}")


def _mrad(where: str, key: str, value: Any) -> float:
    try:
        v = parse_quantity(value, "angle", where=key) * (math.pi / 180 * 1e3)  # deg → mrad
    except UnitError:
        raise _fail(where, key, f"expected an angle such as \"15 mrad\", got {value!r}") from None
    if not v >= 0:
        raise _fail(where, key, f"expected an angle ≥ 0, got {value!r}")
    return v


def _number(where: str, key: str, value: Any, positive: bool = True, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, key, f"expected a number, got {value!r}")
    if positive and not (value > 0 or (allow_zero and value == 0)):
        raise _fail(where, key, f"expected a number {'≥' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


def _length(where: str, key: str, value: Any) -> float:
    v = parse_quantity(value, "length", where=f"{where}: {key}")
    if not v > 0:
        raise _fail(where, key, f"expected a length > 0, got {value!r}")
    return v


def parse_tem_settings(doc: dict, where: str) -> TemSettings:
    """Validate a parsed instrument file (module docstring); :class:`DataFormatError` naming file and key."""
    for name, table in doc.items():
        if name not in _SECTIONS:
            raise _fail(where, name, f"unknown table; known: {', '.join(_SECTIONS)}")
        if not isinstance(table, dict):
            raise _fail(where, name, "expected a table")
        for key in table:
            if key not in _SECTIONS[name]:
                raise _fail(where, f"{name}.{key}", f"unknown key; known: {', '.join(sorted(_SECTIONS[name]))}")
    mic, det, hr, con = (doc.get(k, {}) for k in ("microscope", "detector", "hrtem", "contrast"))
    try:
        volts = parse_voltage_V(mic.get("voltage", "300 kV"), f"{where}: microscope.voltage")
        cs = parse_cs_A(mic.get("cs", "1.2 mm"), f"{where}: microscope.cs")
        lam = wavelength_A(volts)
        df = parse_defocus_A(mic.get("defocus", "scherzer"), cs, lam, f"{where}: microscope.defocus")
        spread = parse_quantity(mic.get("focal_spread", "0 nm"), "length", where=f"{where}: microscope.focal_spread")
    except TwinError as error:
        raise DataFormatError(str(error)) from None
    if spread < 0:
        raise _fail(where, "microscope.focal_spread", "expected a length ≥ 0")
    aperture = _mrad(where, "microscope.objective_aperture", mic["objective_aperture"]) \
        if "objective_aperture" in mic else math.inf
    conv = _mrad(where, "microscope.convergence", mic.get("convergence", "0 mrad"))
    lens = Lens(volts, cs, df, aperture, spread, conv)
    dose = _number(where, "detector.dose", det.get("dose", 20.0))
    mtf = det.get("mtf", {})
    if not isinstance(mtf, dict) or set(mtf) - {"c", "nu0", "n"}:
        raise _fail(where, "detector.mtf", f"expected a table {{c, nu0, n}}, got {mtf!r}")
    c = _number(where, "detector.mtf.c", mtf.get("c", 0.0), allow_zero=True)
    if c >= 1:
        raise _fail(where, "detector.mtf.c", f"expected 0 ≤ c < 1, got {c}")
    detector = Detector(dose, 0, c, _number(where, "detector.mtf.nu0", mtf.get("nu0", math.inf)) if "nu0" in mtf
                        else math.inf, _number(where, "detector.mtf.n", mtf.get("n", 2.0)))
    mode = con.get("mode", "dark-field")
    if mode not in ("dark-field", "bright-field"):
        raise _fail(where, "contrast.mode", f"expected \"dark-field\" or \"bright-field\", got {mode!r}")
    refl = con.get("reflection", [0, 1, 1])
    if not (isinstance(refl, list) and len(refl) == 3 and all(isinstance(h, int) and not isinstance(h, bool)
                                                                for h in refl)) or not any(refl):
        raise _fail(where, "contrast.reflection", f"expected three integers hkl, not all 0, got {refl!r}")
    axis = con.get("beam_axis", "x")
    if axis not in ("x", "y", "z"):
        raise _fail(where, "contrast.beam_axis", f"expected \"x\", \"y\" or \"z\", got {axis!r}")
    if refl[("x", "y", "z").index(axis)] != 0:
        raise _fail(where, "contrast.reflection", f"{refl} is not perpendicular to the beam along {axis} (its "
                                                  f"{axis} index must be 0 for the zone of that axis)")
    s = _number(where, "contrast.excitation_error", con.get("excitation_error", 0.0), positive=False)
    return TemSettings(
        lens=lens, detector=detector,
        sampling_A=_length(where, "hrtem.sampling", hr.get("sampling", "0.1 A")),
        slice_thickness_A=_length(where, "hrtem.slice_thickness", hr.get("slice_thickness", "2 A")),
        field_A=_length(where, "hrtem.field", hr.get("field", "5 nm")),
        thickness_A=_length(where, "hrtem.thickness", hr.get("thickness", "5 nm")),
        mode=mode, phase=str(con.get("phase", "")), reflection=tuple(refl), beam_axis=("x", "y", "z").index(axis),
        excitation_error_inv_A=s,
        dose_rate_e_per_A2_s=_number(where, "contrast.dose_rate", con.get("dose_rate", 0.01), allow_zero=True),
        critical_fluence_e_per_A2=_number(where, "contrast.critical_fluence", con.get("critical_fluence", 10.0)),
        source=where)


def load_tem_settings(path: str | Path) -> TemSettings:
    """An instrument TOML file → :class:`TemSettings`."""
    path = Path(path)
    doc = read_toml_file(path, what="a TEM instrument file (TOML)", error=DataFormatError, source=str(path))
    return parse_tem_settings(doc, str(path))


def read_eta_frames(trajectory_path: str | Path) -> dict[str, Any]:
    """The η field frames and lattice of a trajectory, lazily: ``frame_index`` (n,), ``mask``, ``cell_A`` (3,),
    ``block``, and ``eta(k)`` returning field frame k (site_shape; crystal 0 of a powder)."""
    import h5py

    path = Path(trajectory_path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as error:
        raise DataFormatError(f"{path}: not a readable trajectory ({error})") from None
    if "fields" not in h5 or "eta" not in h5["fields"] or h5["fields/eta"].shape[0] == 0:
        h5.close()
        raise DataFormatError(f"{path}: the trajectory stores no η field frames (fields/eta), which the TEM contrast "
                              "maps need; run with [outputs] fields = [\"eta\"] and a field_stride")
    lattice = h5["lattice"]
    mask = np.asarray(lattice["mask"][...], dtype=bool)
    eta_ds = h5["fields/eta"]

    def eta(k: int) -> np.ndarray:
        return np.asarray(eta_ds[k], dtype=np.float32)

    return {"frame_index": np.asarray(h5["fields/frame_index"][...], dtype=np.int64), "mask": mask,
            "cell_A": np.asarray(lattice.attrs["cell_A"], dtype=np.float64),
            "block": int(lattice.attrs.get("block", 1)),
            "eta": eta, "close": h5.close}


def _phase_reflection(path: Path, hkl: tuple[int, int, int], voltage_V: float) -> tuple[float, float]:
    """(1/ξ_g [1/Å], cell volume [Å³]) of reflection hkl of the phase in ``path``."""
    from instruments.tem.contrast import extinction_distance_A
    from instruments.tem.potentials import electron_form_factor_A
    from instruments.xrd.structure import load_structure

    s = load_structure(path)
    g = 1.0 / s.lattice.d_hkl(hkl)
    frac = np.asarray(s.frac_coords)
    fe = np.array([electron_form_factor_A(site.specie.symbol, g) for site in s])
    f = abs(np.sum(fe * np.exp(2j * np.pi * frac @ np.asarray(hkl, float))))
    if f < 1e-6:
        return 0.0, s.volume
    return 1.0 / extinction_distance_A(s.volume, f, wavelength_A(voltage_V), voltage_V), s.volume


def simulate_tem(frames: TwinFrames, settings: TemSettings, axis: Any = None) -> Observable:
    """Dark- or bright-field maps of every stored η field frame (module docstring), flattened on a pixel axis."""
    import jax
    import jax.numpy as jnp

    from instruments.tem.contrast import column_amplitudes

    if axis is not None:
        raise DataFormatError("tem: measured image series cannot be aligned in this version (no --measured)")
    names = frames.phase_names
    phase = settings.phase or names[-1]
    if phase not in names:
        raise DataFormatError(f"{settings.source}: contrast.phase: {phase!r} is not a phase of {frames.material} "
                              f"({', '.join(names)})")
    selected = names.index(phase)
    inv_xi = np.array([_phase_reflection(Path(p), settings.reflection, settings.lens.voltage_V)[0]
                       for p in frames.structure_paths])
    data = read_eta_frames(frames.source)
    try:
        cell = data["cell_A"] * data["block"]
        ax = settings.beam_axis
        lateral = [i for i in range(3) if i != ax]
        bf, df, index = [], [], data["frame_index"]

        @jax.jit
        def one(eta, mask):
            open_ = eta > 0.5
            in_phase = open_ if selected == len(names) - 1 else ~open_
            w = (in_phase & mask).astype(jnp.float32)
            ixi = jnp.where(open_, inv_xi[-1], inv_xi[0]).astype(jnp.float32)
            # cell length along the beam: closed/open endpoints scale with the breathing volume ratio (η-linear)
            dz = jnp.where(mask, cell[ax], 0.0).astype(jnp.float32)
            p0, pg = column_amplitudes(w, ixi, dz, settings.excitation_error_inv_A)
            return jnp.abs(p0) ** 2, jnp.abs(pg) ** 2

        mask = data["mask"]
        for k in range(index.size):
            eta = data["eta"](k)
            if eta.ndim == 4:
                eta, m = eta[0], mask[0]
            else:
                m = mask
            order = (lateral[1], lateral[0], ax)  # image rows along the second lateral axis, columns the first
            b, d = one(jnp.asarray(np.transpose(eta, order)), jnp.asarray(np.transpose(m, order)))
            bf.append(np.asarray(b))
            df.append(np.asarray(d))
    finally:
        data["close"]()
    maps = np.stack(df if settings.mode == "dark-field" else bf).astype(np.float64)
    n, ny, nx = maps.shape
    times = np.asarray(frames.conditions["time_s"], dtype=np.float64)[index]
    dose = settings.dose_rate_e_per_A2_s * (times - times[0])
    conditions = {name: np.asarray(v, dtype=np.float64)[index] for name, v in frames.conditions.items()}
    conditions["dose_e_per_A2"] = dose
    conditions["frame_index"] = index.astype(np.float64)
    pixel = float(math.sqrt(cell[lateral[0]] * cell[lateral[1]]))
    return Observable(
        axis=Axis(np.arange(ny * nx, dtype=np.float64), "index", "1"), values=maps.reshape(n, ny * nx),
        conditions=conditions, technique="tem", quantity=f"{settings.mode} intensity", unit="fraction of incident",
        attrs=(("critical_fluence_e_per_A2", settings.critical_fluence_e_per_A2),
               ("dose_rate_e_per_A2_s", settings.dose_rate_e_per_A2_s),
               ("excitation_error_inv_A", settings.excitation_error_inv_A), ("image_nx", nx), ("image_ny", ny),
               ("kind", f"{settings.mode} ({phase} {' '.join(map(str, settings.reflection))})"),
               ("pixel_size_A", pixel), ("voltage_kV", settings.lens.voltage_V / 1e3)),
        labels=tuple(f"frame {int(i)}" for i in index), source=frames.source)


def image_series(obs: Observable, path: Path | str = ""):
    """The maps of a TEM observable as an :class:`~instruments.series_io.ImageSeries` (n_frames, ny, nx)."""
    from instruments.series_io import ImageSeries

    meta = obs.meta
    try:
        ny, nx, pixel = int(meta["image_ny"]), int(meta["image_nx"]), float(meta["pixel_size_A"])
    except KeyError as error:
        raise DataFormatError(f"{path or obs.source}: a TEM observable needs attrs image_ny, image_nx and "
                              f"pixel_size_A; {error.args[0]} is missing") from None
    values = np.asarray(obs.values)
    if values.ndim != 2 or values.shape[1] != ny * nx:
        raise DataFormatError(f"{path or obs.source}: values of shape {values.shape} are not images of {ny}×{nx}")
    index = obs.conditions.get("frame_index", np.arange(values.shape[0]))
    return ImageSeries(image=values.reshape(-1, ny, nx), pixel_size_A=pixel,
                       frame_index=np.asarray(index).astype(np.int64), kind=str(meta.get("kind", "TEM")),
                       path=Path(path))


TEM = Technique(
    name="tem",
    title="Electron microscopy (TEM)",
    axis_name="index",
    axis_unit="1",
    load_settings=load_tem_settings,
    simulate=simulate_tem,
    panel="reports.sections.tem:tem_panel",
    summary="in situ dark-/bright-field maps of the crystal from the η field (two-beam columns) with the accumulated "
            "dose; HRTEM and diffraction of a phase: `twin tem image` (docs/tem.md)",
)
