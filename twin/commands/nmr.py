"""``twin nmr deuterium``: the static ²H solid-echo powder spectrum of a jump model, or of a fitted VT series;
``twin nmr xenon``: a ¹²⁹Xe spectrum of exchanging sites, or of xenon random walks over a frame of a run.

Quantities are parsed with :func:`mofcore.units.parse_quantity` (a frequency such as ``"170 kHz"`` is read as a
rate, 1/s = Hz; ``"1e9 /s"`` is accepted for ``"1e9 1/s"``). docs/nmr.md describes the physics.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from twin.commands._common import print_json
from twin.errors import DataFormatError

_REGIMES = (
    "Regimes, by the rate k against the quadrupolar frequency w_Q = 2*pi*(3/4)*C_q: slow for k <= 1e-3*w_Q "
    "(the static tensor), fast for k >= 1e2*w_Q (the motionally averaged tensor), intermediate in between "
    "(lineshape and echo intensity depend on k and the echo delay; no effective tensor: the --json fields are "
    "null). For C_q = 170 kHz: slow below 8e2 1/s, fast above 8e7 1/s."
)


def _wrap(*paragraphs: str) -> str:
    import textwrap

    return "\n\n".join(textwrap.fill(p, 100) for p in paragraphs)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "nmr",
        help="NMR spectra with exchange: static 2H (jump models, solid echo), 129Xe (sites, random walks)",
        description="NMR forward models. `twin nmr deuterium --help` for the 2H spectrum of a jump model, "
                    "`twin nmr xenon --help` for 129Xe spectra.",
    )
    sub = parser.add_subparsers(dest="nmr_command", metavar="KIND")
    d = sub.add_parser(
        "deuterium",
        help="2H solid-echo powder spectrum of a jump model at one rate, or of a fitted VT series at one T",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap(
            "Compute the static 2H powder spectrum (first-order quadrupolar, Anderson exchange among the sites of "
            "a jump model, solid echo with delay tau, Lorentzian/Gaussian broadening) and write it as CSV "
            "(frequency_Hz,intensity; intensity in 1/Hz, area = echo amplitude). With --json print one object "
            "with effective_cq_kHz, effective_eta, horn_splitting_kHz (the tensor of the regime), regime and "
            "echo_intensity. With --from-fit OUT/fit_result.json (a `twin fit` of an nmr-series) and "
            "--temperature, the fitted model's spectrum at that temperature.", _REGIMES),
    )
    d.add_argument("--cq", help='quadrupole coupling C_q = e2qQ/h, e.g. "170 kHz" (required without --from-fit)')
    d.add_argument("--eta-q", default="0", help="quadrupolar asymmetry eta_Q in [0, 1] (default 0)")
    d.add_argument("--motion", default="rigid",
                   help="rigid, pi-flip, cone, tetrahedral or free-rotation (default rigid)")
    d.add_argument("--angle", help='C-D bond to jump axis, e.g. "60 deg" (default: the model\'s: pi-flip 60 deg, '
                                   "cone 70.53 deg, free-rotation 60 deg)")
    d.add_argument("--sites", type=int, help="sites on the cone (cone only, default 3)")
    d.add_argument("--rate", default="0 1/s", help='escape rate k, e.g. "1e6 /s" or "1e6 1/s" (default 0)')
    d.add_argument("--rate-width", default="0", help="sigma of ln k of a log-normal distribution of rates (default 0)")
    d.add_argument("--rigid-fraction", default="0", help="fraction of rigid sites added (default 0)")
    d.add_argument("--echo-delay", default="20 us", help='solid-echo delay tau, e.g. "20 us"; "0 us" for a FID')
    d.add_argument("--lorentzian", default="1 kHz", help='Lorentzian FWHM of the broadening (default "1 kHz")')
    d.add_argument("--gaussian", default="0 kHz", help='Gaussian FWHM of the broadening (default "0 kHz")')
    d.add_argument("--frequency", help='window, e.g. "-250..250 kHz" (default: ±(3/4 C_q + 50 kHz))')
    d.add_argument("--points", type=int, default=2048, help="points of the spectrum (default 2048)")
    d.add_argument("--orientations", type=int, default=None,
                   help="ZCW powder directions (default 4181, rounded up to a ZCW size)")
    d.add_argument("--from-fit", metavar="FIT_RESULT.json", help="a fit_result.json of an nmr-series fit")
    d.add_argument("--temperature", help='temperature for --from-fit, e.g. "213 K"')
    d.add_argument("-o", "--output", metavar="SPECTRUM.csv", help="write the spectrum here")
    d.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    d.set_defaults(handler=_handle_deuterium)
    x = sub.add_parser(
        "xenon",
        help="129Xe spectrum of exchanging sites (Bloch-McConnell), or of xenon random walks over a run's frame",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap(
            "Compute a 129Xe spectrum on a chemical-shift axis and write it as CSV (shift_ppm,intensity; intensity "
            "in 1/ppm, unit area). Without --run: discrete sites with --shifts, --populations and exchange --rates "
            "(Bloch-McConnell, closed form per frequency); two sites also take one --rate a->b (the rate b->a "
            "follows from detailed balance). With --run OUT --frame N and an --instrument (a 129Xe instrument file "
            "or a shipped name such as mil53_al_129xe): xenon random walks over the site lattice of that frame "
            "(its stored eta field: eta < 1/2 closed phase, else open), with the instrument's shifts, "
            "diffusivities, Langmuir loadings and gas at the frame's temperature and pressure; one crystal "
            "(--crystal) of a powder. docs/nmr.md describes the physics."),
    )
    x.add_argument("--shifts", help='site shifts in ppm, comma-separated, e.g. "90,200"')
    x.add_argument("--populations", help='site populations summing to 1, e.g. "0.5,0.5"')
    x.add_argument("--rate", help='two sites: exchange rate a -> b, e.g. "43 /s"')
    x.add_argument("--rates", help='rate matrix i -> j in 1/s, rows separated by ";", e.g. "0,43;43,0"')
    x.add_argument("--linewidth", default="100 Hz", help='Lorentzian FWHM of every site without exchange '
                                                        '(default "100 Hz")')
    x.add_argument("--larmor", default="110.7 MHz", help='129Xe Larmor frequency (default "110.7 MHz", 9.4 T)')
    x.add_argument("--shift-range", default="-40..300", help='axis in ppm, e.g. "-40..300" (default)')
    x.add_argument("--points", type=int, default=2048, help="points of the spectrum (default 2048)")
    x.add_argument("--run", metavar="OUT", help="a run folder (OUT/trajectory.h5) for random walks over a frame")
    x.add_argument("--frame", type=int, default=0, help="frame number with a stored field (default 0)")
    x.add_argument("--crystal", type=int, default=0, help="crystal of a powder run (default 0)")
    x.add_argument("--instrument", default="mil53_al_129xe", help="129Xe instrument file or shipped name "
                                                                  "(default mil53_al_129xe)")
    x.add_argument("-o", "--output", metavar="SPECTRUM.csv", help="write the spectrum here")
    x.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    x.set_defaults(handler=_handle_xenon)
    parser.set_defaults(handler=lambda args: _missing_kind(parser))


def _missing_kind(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _quantity(text: Any, dimension: str, option: str) -> float:
    from twin.units import parse_quantity

    return parse_quantity(text, dimension, where=option)


def _number(text: str, option: str, lo: float, hi: float, what: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DataFormatError(f"{option}: expected {what}, got {text!r}") from None
    if not lo <= value <= hi:
        raise DataFormatError(f"{option}: expected {what}, got {text!r}")
    return value


def _grid(args: argparse.Namespace, cq_hz: float, lorentzian_hz: float) -> Any:
    import numpy as np

    from twin.units import parse_range

    if not 64 <= args.points <= 262144:
        raise DataFormatError(f"--points: expected 64 … 262144 points, got {args.points}")
    if args.frequency:
        lo, hi = parse_range(args.frequency, "rate", where="--frequency")
    else:
        hi = 0.75 * cq_hz + max(50e3, 10.0 * lorentzian_hz)
        lo = -hi
    return np.linspace(lo, hi, args.points)


def _tensor(cq_hz: float, asymmetry: float, motion: str, angle: float | None, sites: int | None, rate: float) -> dict:
    from instruments.nmr.deuterium import regime
    from instruments.nmr.motion import jump_model, motional_average

    model = jump_model(motion, asymmetry, angle, sites)
    if not model.uses_rate:
        kind = "fast" if motion == "free-rotation" else "slow"
    else:
        kind = regime(rate, cq_hz)
    out: dict[str, Any] = {"regime": kind, "effective_cq_kHz": None, "effective_eta": None, "horn_splitting_kHz": None}
    if kind == "fast":
        average = motional_average(cq_hz, asymmetry, model)
    elif kind == "slow":
        average = motional_average(cq_hz, asymmetry, "rigid")
    else:
        return out
    out.update({"effective_cq_kHz": round(average.cq_hz / 1e3, 6), "effective_eta": round(average.asymmetry, 6),
                "horn_splitting_kHz": round(average.horn_splitting_hz / 1e3, 6)})
    return out


def _write(path: str, axis: Any, intensity: Any, axis_column: str = "frequency_Hz", axis_format: str = "%.3f") -> str:
    """Two columns ``<axis_column>,intensity`` written atomically (a temporary file renamed over ``path``)."""
    import numpy as np

    from twin.atomic import atomic_path

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        np.savetxt(tmp, np.column_stack([axis, intensity]), delimiter=",", header=f"{axis_column},intensity",
                   comments="", fmt=[axis_format, "%.8e"])
    return str(out)


def _check_output(args: argparse.Namespace) -> None:
    """Refuse an unwritable -o before any work (mofcore.outputs, where this checkout has it)."""
    if not args.output:
        return
    try:
        from mofcore.outputs import check_output_file
    except ImportError:  # an older checkout without the shared output checks: writing reports the problem
        return
    check_output_file(args.output, example="spectrum.csv")


def _handle_deuterium(args: argparse.Namespace) -> int:
    _check_output(args)
    if args.from_fit:
        return _from_fit(args)
    import numpy as np

    from instruments.nmr.deuterium import DEFAULT_ORIENTATIONS, deuterium_spectrum, echo_intensity
    from instruments.nmr.motion import MOTIONS

    if not args.cq:
        raise DataFormatError("--cq: expected a quadrupole coupling such as \"170 kHz\" (or --from-fit FILE)")
    if args.temperature:
        raise DataFormatError("--temperature: only with --from-fit (a jump model takes --rate)")
    cq = _quantity(args.cq, "rate", "--cq")
    if not cq > 0:
        raise DataFormatError(f"--cq: expected a positive coupling such as \"170 kHz\", got {args.cq!r}")
    eta = _number(args.eta_q, "--eta-q", 0.0, 1.0, "the asymmetry eta_Q, a number in [0, 1]")
    if args.motion not in MOTIONS:
        raise DataFormatError(f"--motion: expected one of {', '.join(MOTIONS)}, got {args.motion!r}")
    angle = None if args.angle is None else _quantity(args.angle, "angle", "--angle")
    rate = _quantity(args.rate, "rate", "--rate")
    if rate < 0:
        raise DataFormatError(f"--rate: expected a non-negative rate such as \"1e6 1/s\", got {args.rate!r}")
    width = _number(args.rate_width, "--rate-width", 0.0, 10.0, "sigma of ln k between 0 and 10")
    rigid = _number(args.rigid_fraction, "--rigid-fraction", 0.0, 1.0, "a fraction in [0, 1]")
    tau = _quantity(args.echo_delay, "time", "--echo-delay")
    if not 0.0 <= tau < 1e-2:
        raise DataFormatError(f"--echo-delay: expected a delay between 0 and 10 ms, got {args.echo_delay!r}")
    lorentz = _quantity(args.lorentzian, "rate", "--lorentzian")
    gauss = _quantity(args.gaussian, "rate", "--gaussian")
    for value, option in ((lorentz, "--lorentzian"), (gauss, "--gaussian")):
        if value < 0:
            raise DataFormatError(f"{option}: expected a non-negative FWHM such as \"1 kHz\", got {value:g} Hz")
    if args.sites is not None and args.motion != "cone":
        raise DataFormatError(f"--sites: only the cone model takes a number of sites, not {args.motion!r}")
    orientations = args.orientations or DEFAULT_ORIENTATIONS
    if not 8 <= orientations <= 100000:
        raise DataFormatError(f"--orientations: expected 8 … 100000 directions, got {orientations}")
    try:
        nu = _grid(args, cq, lorentz)
        intensity = deuterium_spectrum(cq, eta, args.motion, angle, rate, tau, nu, n_sites=args.sites,
                                       lorentzian_hz=lorentz, gaussian_hz=gauss, rate_width=width,
                                       rigid_fraction=rigid, n_orientations=orientations)
    except DataFormatError as error:
        message = str(error)
        for key, option in (("frequency:", "--frequency:"), ("sites:", "--sites:"), ("angle:", "--angle:")):
            if message.startswith(key):
                message = option + message[len(key):]
        raise DataFormatError(message) from None
    result: dict[str, Any] = {"motion": args.motion, "static_cq_kHz": cq / 1e3, "static_eta": eta,
                              "rate_per_s": rate, "echo_delay_us": tau * 1e6}
    result.update(_tensor(cq, eta, args.motion, angle, args.sites, rate))
    result["echo_intensity"] = round(float(echo_intensity(cq, eta, args.motion, angle, rate, tau, n_sites=args.sites,
                                                          n_orientations=orientations)), 6)
    result["n_points"] = int(np.size(nu))
    if args.output:
        result["output"] = _write(args.output, nu, intensity)
    if args.json:
        print_json(result)
    else:
        _print(result)
    return 0


def _print(result: dict[str, Any]) -> None:
    print(f"{result['motion']}: regime {result['regime']}, echo intensity {result['echo_intensity']:.4f}")
    if result["effective_cq_kHz"] is not None:
        print(f"effective C_q {result['effective_cq_kHz']:.4g} kHz, eta {result['effective_eta']:.4g}, "
              f"horn splitting {result['horn_splitting_kHz']:.4g} kHz")
    if "output" in result:
        print(f"wrote {result['output']}")


def _from_fit(args: argparse.Namespace) -> int:
    import math

    from twin.errors import FitError
    from twin.fit.nmr import predict_spectrum
    from twin.fit.result import read_fit_result

    if not args.temperature:
        raise FitError("--temperature: --from-fit needs the temperature of the spectrum, e.g. \"213 K\"")
    if args.cq:
        raise DataFormatError("--cq: the coupling comes from the fit with --from-fit; leave --cq out")
    temperature = _quantity(args.temperature, "temperature", "--temperature")
    if not temperature > 0:
        raise DataFormatError(f"--temperature: expected a positive temperature, got {args.temperature!r}")
    doc = read_fit_result(args.from_fit)
    model = doc.get("model")
    if not isinstance(model, dict) or model.get("kind") != "2h-exchange-series":
        raise FitError(f"{args.from_fit}: not the result of an nmr-series fit (no model of kind 2h-exchange-series)")
    cq = float(model["cq_hz"])
    p = model["parameters"]
    lorentz = float(p["lorentzian_kHz"]) * 1e3
    nu = _grid(args, cq, lorentz)
    intensity = predict_spectrum(model, temperature, nu)
    ln_k = p["log10_rate_ref_per_s"] * math.log(10.0) - p["activation_energy_kJ_mol"] / 8.314462618e-3 * (
        1.0 / temperature - 1.0 / model["reference_temperature_K"])
    rate = math.exp(ln_k)
    result: dict[str, Any] = {"from_fit": args.from_fit, "temperature_K": temperature, "rate_per_s": rate,
                              "motion": model["motion"], "static_cq_kHz": cq / 1e3}
    result.update(_tensor(cq, float(model["asymmetry"]), model["motion"], model["angle_deg"], model["n_sites"], rate))
    result["n_points"] = int(nu.size)
    if args.output:
        result["output"] = _write(args.output, nu, intensity)
    if args.json:
        print_json(result)
    else:
        print(f"{model['motion']} at {temperature:g} K: median rate {rate:.3g} 1/s, regime {result['regime']}")
        if "output" in result:
            print(f"wrote {result['output']}")
    return 0


def _floats(text: str | None, option: str) -> list[float]:
    if text is None:
        raise DataFormatError(f"{option}: required without --run (comma-separated numbers)")
    try:
        return [float(v) for v in str(text).split(",")]
    except ValueError:
        raise DataFormatError(f"{option}: expected comma-separated numbers, got {text!r}") from None


def _handle_xenon(args: argparse.Namespace) -> int:
    import numpy as np

    from instruments.nmr.xenon import xenon_spectrum

    _check_output(args)
    if not 64 <= args.points <= 262144:
        raise DataFormatError(f"--points: expected 64 … 262144 points, got {args.points}")
    text = str(args.shift_range).replace("ppm", "")
    lo, _, hi = text.partition("..")
    try:
        axis = np.linspace(float(lo), float(hi), args.points)
    except ValueError:
        raise DataFormatError(f"--shift-range: expected a range such as \"-40..300\", "
                              f"got {args.shift_range!r}") from None
    if args.run:
        return _xenon_run(args, axis)
    larmor = _quantity(args.larmor, "rate", "--larmor")
    width = _quantity(args.linewidth, "rate", "--linewidth")
    shifts = _floats(args.shifts, "--shifts")
    populations = _floats(args.populations, "--populations")
    if len(populations) != len(shifts):
        raise DataFormatError(f"--populations: expected {len(shifts)} numbers (one per shift), got {len(populations)}")
    if args.rates is not None and args.rate is not None:
        raise DataFormatError("--rate, --rates: give one of them")
    if args.rates is not None:
        rows = [_floats(r, "--rates") for r in str(args.rates).split(";")]
        if any(len(r) != len(shifts) for r in rows) or len(rows) != len(shifts):
            raise DataFormatError(f"--rates: expected a {len(shifts)} × {len(shifts)} matrix, rows separated by ';'")
        rates = np.asarray(rows, np.float64)
    elif args.rate is not None:
        if len(shifts) != 2:
            raise DataFormatError(f"--rate: one rate is for two sites; {len(shifts)} sites need --rates")
        k = _quantity(args.rate, "rate", "--rate")
        if k < 0:
            raise DataFormatError(f"--rate: exchange rates must be non-negative, got {args.rate!r}")
        p = np.asarray(populations, np.float64)
        rates = np.array([[0.0, k], [k * p[0] / p[1] if p[1] > 0 else 0.0, 0.0]])
    else:
        rates = np.zeros((len(shifts), len(shifts)))
    intensity = xenon_spectrum(axis, shifts, populations, rates, larmor_hz=larmor, linewidth_hz=width)
    result: dict[str, Any] = {"model": "bloch-mcconnell", "sites": len(shifts)}
    return _xenon_out(args, axis, intensity, result)


def _xenon_run(args: argparse.Namespace, axis: Any) -> int:
    import numpy as np

    from instruments.nmr.technique import load_nmr_settings
    from instruments.nmr.xenon_technique import XenonSettings, lattice_spectrum, xenon_state
    from twin.material import load_material
    from twin.observe import resolve_instrument
    from twin.trajectory import Trajectory

    settings = load_nmr_settings(resolve_instrument(args.instrument, where="--instrument"))
    if not isinstance(settings, XenonSettings):
        raise DataFormatError(f"--instrument: {args.instrument} is not a 129Xe instrument (nucleus = \"129Xe\")")
    path = Path(args.run) / "trajectory.h5"
    if not path.is_file():
        raise DataFormatError(f"--run: {path} does not exist (expected the folder of a `twin run`)")
    with Trajectory(path) as traj:
        material = load_material(str(traj.provenance.get("material", "")))
        eta = np.asarray(traj.field("eta", args.frame), np.float64)
        mask = np.asarray(traj.mask, bool)
        frames = np.asarray(traj.time_s)
        if not 0 <= args.frame < frames.size:
            raise DataFormatError(f"--frame: expected 0 … {frames.size - 1}, got {args.frame}")
        temperature = float(np.asarray(traj.temperature_K)[args.frame])
        pp = np.asarray(traj.partial_pressure_Pa)
        pressure = float(pp[args.frame].sum()) if pp.size else 0.0
        block = traj.block
    if eta.ndim == 4:
        if not 0 <= args.crystal < eta.shape[0]:
            raise DataFormatError(f"--crystal: expected 0 … {eta.shape[0] - 1}, got {args.crystal}")
        eta, mask = eta[args.crystal], mask[args.crystal]
    names = tuple(p.name for p in material.phases)
    lattice = np.where(mask, (eta >= 0.5).astype(np.int64) * (len(names) - 1), -1)
    fractions = np.array([np.mean(lattice[mask] == i) for i in range(len(names))])
    volume = [float(p.volume_A3) for p in material.phases]
    state = xenon_state(settings, names, fractions, volume, temperature, pressure * settings.xenon_fraction)
    spacing = block * state.cell_volume_A3 ** (1.0 / 3.0)
    walk = lattice_spectrum(lattice, settings, names, state, spacing, axis, where=f"{path}: frame {args.frame}")
    result: dict[str, Any] = {
        "model": "random-walk", "frame": args.frame, "crystal": args.crystal, "sites": int(mask.sum()),
        "temperature_K": temperature, "pressure_bar": pressure / 1e5,
        "phase_fraction": {n: round(float(f), 6) for n, f in zip(names, fractions, strict=True)},
        "loading_per_cell": {n: round(float(w), 6) for n, w in zip(names, state.loading, strict=True)},
        "shift_ppm": {**{n: round(float(d), 4) for n, d in zip(names, state.shift_ppm, strict=True)},
                      "gas": round(state.gas_shift_ppm, 4)},
        "gas_fraction": round(state.gas_fraction, 6),
        "occupancy": [round(float(o), 6) for o in walk.occupancy],
        "rate_cap_per_s": walk.rate_cap_per_s,
    }
    return _xenon_out(args, walk.shift_ppm, walk.intensity, result)


def _xenon_out(args: argparse.Namespace, axis: Any, intensity: Any, result: dict[str, Any]) -> int:
    import numpy as np

    step = float(axis[1] - axis[0])
    result["area"] = round(float(np.sum(intensity) * abs(step)), 6)
    if args.output:
        result["output"] = _write(args.output, axis, intensity, "shift_ppm", "%.5f")
    if args.json:
        print_json(result)
    elif not args.output:
        print(f"{result['model']}: area {result['area']}; give -o SPECTRUM.csv to write the spectrum")
    return 0
