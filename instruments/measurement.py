r"""What an instrument measured: one :class:`Measurement` type for every reader, and series of them.

A :class:`Measurement` is values on an :class:`~instruments.observable.Axis` with its unit (2θ in deg,
Q in Å⁻¹, wavenumber in cm⁻¹, chemical shift in ppm, frequency in kHz, pressure in bar for isotherms,
pixel position in Å for images), standard uncertainties, the conditions under which it was taken
(temperature, pressures, humidity, time), the wavelength and other instrument metadata, and the file
and line it came from. A :class:`MeasurementSeries` is an ordered tuple of measurements (the frames of
an in situ experiment, or the adsorption and desorption branches of an isotherm) with a conditions
table, one row per item.

Uncertainties
    ``uncertainty_kind`` says where ``uncertainties`` come from:

    * ``"counting"`` — the format stores detector counts N, and the standard uncertainty is the
      Poisson value σ = √N (for N = 0 the value 1 is used, the usual convention of Rietveld programs,
      e.g. GSAS-II and TOPAS, so that zero-count points keep a finite weight). Counts divided by a
      count time t or multiplied by an attenuation factor a carry σ = a·√N / t.
    * ``"file"`` — the file gives a third column of standard uncertainties (``.xye``, GudrunX).
    * ``"unknown"`` — the format gives neither; ``uncertainties`` is ``None`` and a fit must
      estimate the noise (e.g. from the residual) instead of assuming it.

Conversions
    2θ ↔ Q with the Bragg relation :math:`Q = 4\pi\sin\theta/\lambda` (:func:`two_theta_to_q`,
    :func:`q_to_two_theta`); Kα2 stripping by Rachinger's recursion (:func:`strip_kalpha2`);
    normalisation to unit maximum or unit area or per second (:func:`normalise`). These are pure
    functions of arrays (JAX); the methods of :class:`Measurement` wrap them.

Everything here is plain NumPy/JAX and knows nothing of files; readers live in :mod:`instruments.io`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from instruments.observable import Axis
from mofcore.stats import poisson_sigma

__all__ = [
    "Measurement",
    "MeasurementSeries",
    "Metadata",
    "CONDITION_KEYS",
    "two_theta_to_q",
    "q_to_two_theta",
    "strip_kalpha2",
    "normalise",
    "counting_uncertainty",
    "series_frames",
    "common_grid",
]

#: the condition keys a reader may set, each in the package's internal unit
CONDITION_KEYS: tuple[str, ...] = (
    "temperature_K",
    "pressure_Pa",
    "partial_pressure_Pa",
    "relative_humidity",
    "time_s",
)


def _freeze(value: Any) -> Any:
    """A hashable, JSON-like copy of ``value`` (dicts become :class:`Metadata`, lists tuples)."""
    if isinstance(value, Metadata):
        return value
    if isinstance(value, Mapping):
        return Metadata(value)
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return tuple(_freeze(v) for v in value.tolist())
    return value


class Metadata(Mapping[str, Any]):
    """An immutable, hashable mapping of metadata (so a :class:`Measurement` can be a static pytree leaf).

    Nested dicts become :class:`Metadata`, lists become tuples. ``to_dict()`` gives plain JSON-able
    Python objects back.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        merged = dict(items or {})
        merged.update(kwargs)
        self._items = {str(k): _freeze(v) for k, v in merged.items()}

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._items.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __repr__(self) -> str:
        return f"Metadata({self._items!r})"

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists (JSON-able when the values are)."""

        def plain(v: Any) -> Any:
            if isinstance(v, Metadata):
                return v.to_dict()
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return v

        return {k: plain(v) for k, v in self._items.items()}

    def merged(self, **updates: Any) -> Metadata:
        """A copy with ``updates`` added or replaced."""
        out = dict(self._items)
        out.update(updates)
        return Metadata(out)


def counting_uncertainty(
    counts: Float[Array, "n_points"], scale: Float[Array, "n_points"] | float = 1.0
) -> Float[Array, "n_points"]:
    r"""Poisson standard uncertainty of scaled detector counts, as NumPy float64 (for readers).

    .. math:: \sigma_i = s_i \sqrt{\max(N_i, 1)}

    N are raw counts (≥ 0), s the factor that turns counts into the stored intensity (1/count time,
    attenuation factor). N = 0 gets σ = s (the convention of Rietveld programs, so that empty steps
    keep a finite weight in a χ² fit). The one implementation is :func:`mofcore.stats.poisson_sigma`.

    Reference: e.g. R. A. Young (ed.), *The Rietveld Method*, IUCr/OUP (1993), ch. 1.

    Args:
        counts: raw counts N (n_points,), ≥ 0.
        scale: s, scalar or (n_points,).

    Returns:
        σ in the unit of ``scale·N``, (n_points,).
    """
    return poisson_sigma(np.asarray(counts, dtype=np.float64), np.asarray(scale, dtype=np.float64))


def two_theta_to_q(two_theta_deg: Float[Array, "n_points"], wavelength_ang: float) -> Float[Array, "n_points"]:
    r"""Scattering vector magnitude from the diffraction angle.

    .. math:: Q = \frac{4\pi}{\lambda}\sin\frac{2\theta}{2}

    Args:
        two_theta_deg: 2θ [deg], (n_points,).
        wavelength_ang: λ [Å], > 0.

    Returns:
        Q [Å⁻¹], (n_points,).
    """
    theta = jnp.deg2rad(jnp.asarray(two_theta_deg)) / 2.0
    return 4.0 * jnp.pi * jnp.sin(theta) / wavelength_ang


def q_to_two_theta(q_inv_ang: Float[Array, "n_points"], wavelength_ang: float) -> Float[Array, "n_points"]:
    r"""Diffraction angle from the scattering vector: :math:`2\theta = 2\arcsin(Q\lambda/4\pi)`.

    Points with :math:`Q\lambda/4\pi > 1` are not reachable at this wavelength and give NaN.

    Args:
        q_inv_ang: Q [Å⁻¹], (n_points,).
        wavelength_ang: λ [Å], > 0.

    Returns:
        2θ [deg], (n_points,).
    """
    s = jnp.asarray(q_inv_ang) * wavelength_ang / (4.0 * jnp.pi)
    s = jnp.where(jnp.abs(s) <= 1.0, s, jnp.nan)
    return jnp.rad2deg(2.0 * jnp.arcsin(s))


@jax.jit
def strip_kalpha2(
    two_theta_deg: Float[Array, "n_points"],
    intensity: Float[Array, "n_points"],
    lambda1_ang: float,
    lambda2_ang: float,
    ratio: float = 0.5,
) -> Float[Array, "n_points"]:
    r"""Remove the Kα2 component of a pattern measured with an unresolved Kα1/Kα2 doublet (Rachinger).

    Every Kα1 peak at :math:`2\theta_1` has a Kα2 replica at :math:`2\theta_2` with
    :math:`\sin\theta_2 = (\lambda_2/\lambda_1)\sin\theta_1` and intensity ratio R = I(α2)/I(α1).
    Walking up in angle,

    .. math:: I_{\alpha1}(2\theta) = I(2\theta) - R\, I_{\alpha1}(2\theta'),\qquad
              \sin\theta' = \frac{\lambda_1}{\lambda_2}\sin\theta ,

    where :math:`I_{\alpha1}(2\theta')` is interpolated linearly on the grid (it lies below 2θ, so it
    is already known). Points whose 2θ' falls below the first grid point are left unchanged. The
    recursion runs as one ``lax.scan`` over the points (a sequential dependency), O(n_points).

    Reference: W. A. Rachinger, J. Sci. Instrum. 25, 254 (1948).

    Args:
        two_theta_deg: ascending grid [deg], (n_points,); need not be uniform.
        intensity: measured I [any unit], (n_points,).
        lambda1_ang: Kα1 wavelength [Å].
        lambda2_ang: Kα2 wavelength [Å], > λ1.
        ratio: R = I(Kα2)/I(Kα1), 0.5 for the natural doublet.

    Returns:
        Kα1-only intensity on the same grid, (n_points,).
    """
    x = jnp.asarray(two_theta_deg)
    y = jnp.asarray(intensity)
    theta = jnp.deg2rad(x) / 2.0
    sin_src = jnp.clip(jnp.sin(theta) * (lambda1_ang / lambda2_ang), -1.0, 1.0)
    src = jnp.rad2deg(2.0 * jnp.arcsin(sin_src))  # 2θ' whose α2 replica falls on 2θ
    # index of the grid interval holding src: x[j] <= src < x[j+1]
    j = jnp.clip(jnp.searchsorted(x, src, side="right") - 1, 0, x.shape[0] - 2)
    x0, x1 = x[j], x[j + 1]
    w = jnp.clip((src - x0) / (x1 - x0), 0.0, 1.0)
    valid = src >= x[0]

    def body(stripped: jax.Array, i: jax.Array) -> tuple[jax.Array, None]:
        ji = j[i]
        prev = (1.0 - w[i]) * stripped[ji] + w[i] * stripped[ji + 1]
        value = jnp.where(valid[i], y[i] - ratio * prev, y[i])
        return stripped.at[i].set(value), None

    out, _ = jax.lax.scan(body, y, jnp.arange(x.shape[0]))
    return out


def normalise(
    axis_values: Float[Array, "n_points"], values: Float[Array, "n_points"], mode: str
) -> tuple[Float[Array, "n_points"], float]:
    r"""Scale a spectrum: ``"max"`` → maximum 1, ``"area"`` → trapezoid area 1 over the axis.

    Returns the scaled values and the factor f with ``scaled = f·values`` (uncertainties scale by
    the same f). A zero or non-finite norm raises :class:`ValueError` with the mode named.
    """
    v = np.asarray(values, dtype=np.float64)
    if mode == "max":
        norm = float(np.nanmax(np.abs(v))) if v.size else 0.0
    elif mode == "area":
        norm = float(abs(np.trapezoid(v, np.asarray(axis_values, dtype=np.float64))))
    else:
        raise ValueError(f"normalise: mode must be 'max' or 'area', got {mode!r}")
    if not (norm > 0.0 and math.isfinite(norm)):
        raise ValueError(f"normalise({mode!r}): the norm is {norm}, cannot scale")
    return v / norm, 1.0 / norm


def _array(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Measurement:
    """One measured spectrum, pattern, isotherm branch or image, as a reader recovered it.

    Attributes:
        axis: the abscissa with name and unit (``two_theta``/``deg``, ``q``/``1/Å``,
            ``wavenumber``/``cm-1``, ``shift``/``ppm``, ``frequency``/``kHz``, ``pressure``/``bar``,
            ``x``/``Å`` for images). For images it is the fast (column) axis.
        values: measured values, (n_points,), or (ny, nx) for an image.
        uncertainties: standard uncertainties, same shape as ``values``, or ``None`` when unknown.
        second_axis: the slow (row) axis of an image, else ``None``.
        quantity: what ``values`` are (``"intensity"``, ``"absorbance"``, ``"uptake"``, ``"F(Q)"``).
        unit: unit of ``values`` (``"counts"``, ``"counts/s"``, ``"arb."``, ``"mmol/g"``).
        technique: ``"xrd"``, ``"total-scattering"``, ``"ir"``, ``"raman"``, ``"nmr"``, ``"tem"``,
            ``"isotherm"``.
        uncertainty_kind: ``"counting"``, ``"file"`` or ``"unknown"`` (see the module docstring).
        conditions: temperature_K, pressure_Pa, partial_pressure_Pa, relative_humidity (0–1), time_s —
            only those the file states, in internal units.
        wavelength_ang: the wavelength used to compute Q from 2θ (Kα1 for a tube), or ``None``.
        metadata: everything else the file says (anode, Kα2, ratio, field, instrument, sample, ...).
        source: the file it came from (as given to the reader).
        source_line: the 1-based line (text formats) where the data block starts, or ``None``.
        format: the detected format (``"xy"``, ``"xrdml"``, ``"jcamp-dx"``, ...).
    """

    axis: Axis
    values: Any
    uncertainties: Any = None
    second_axis: Axis | None = None
    quantity: str = field(default="intensity", metadata={"static": True})
    unit: str = field(default="arb.", metadata={"static": True})
    technique: str = field(default="", metadata={"static": True})
    uncertainty_kind: str = field(default="unknown", metadata={"static": True})
    conditions: Metadata = field(default_factory=Metadata, metadata={"static": True})
    wavelength_ang: float | None = field(default=None, metadata={"static": True})
    metadata: Metadata = field(default_factory=Metadata, metadata={"static": True})
    source: str = field(default="", metadata={"static": True})
    source_line: int | None = field(default=None, metadata={"static": True})
    format: str = field(default="", metadata={"static": True})

    def __post_init__(self) -> None:
        if not isinstance(self.conditions, Metadata):
            object.__setattr__(self, "conditions", Metadata(self.conditions))
        if not isinstance(self.metadata, Metadata):
            object.__setattr__(self, "metadata", Metadata(self.metadata))
        unknown = set(self.conditions) - set(CONDITION_KEYS)
        if unknown:
            raise ValueError(f"Measurement.conditions: unknown keys {sorted(unknown)}; allowed: {CONDITION_KEYS}")
        if self.uncertainty_kind not in ("counting", "file", "unknown"):
            raise ValueError(f"Measurement.uncertainty_kind must be counting, file or unknown, got {self.uncertainty_kind!r}")

    # -- shape -------------------------------------------------------------------------------------
    @property
    def n_points(self) -> int:
        """Number of points along ``axis`` (columns for an image)."""
        return len(self.axis)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.values))

    @property
    def is_image(self) -> bool:
        return self.second_axis is not None

    # -- conversions -------------------------------------------------------------------------------
    def to_q(self, wavelength_ang: float | None = None) -> Measurement:
        """The same pattern on a Q axis [Å⁻¹] (values unchanged, point by point)."""
        if self.axis.name == "q":
            return self
        if self.axis.name != "two_theta":
            raise ValueError(f"to_q: the axis is {self.axis.name!r}, expected 'two_theta'")
        lam = wavelength_ang if wavelength_ang is not None else self.wavelength_ang
        if lam is None:
            raise ValueError(f"to_q: {self.source or 'measurement'} states no wavelength; pass wavelength_ang")
        q = np.asarray(two_theta_to_q(_array(self.axis.values), float(lam)), dtype=np.float64)
        return replace(self, axis=Axis(q, "q", "1/Å"), wavelength_ang=float(lam))

    def to_two_theta(self, wavelength_ang: float | None = None) -> Measurement:
        """The same pattern on a 2θ axis [deg]; points beyond 2θ = 180° are dropped."""
        if self.axis.name == "two_theta":
            return self
        if self.axis.name != "q":
            raise ValueError(f"to_two_theta: the axis is {self.axis.name!r}, expected 'q'")
        lam = wavelength_ang if wavelength_ang is not None else self.wavelength_ang
        if lam is None:
            raise ValueError(f"to_two_theta: {self.source or 'measurement'} states no wavelength; pass wavelength_ang")
        tt = np.asarray(q_to_two_theta(_array(self.axis.values), float(lam)), dtype=np.float64)
        keep = np.isfinite(tt)
        sig = None if self.uncertainties is None else _array(self.uncertainties)[keep]
        return replace(
            self,
            axis=Axis(tt[keep], "two_theta", "deg"),
            values=_array(self.values)[keep],
            uncertainties=sig,
            wavelength_ang=float(lam),
        )

    def strip_kalpha2(self) -> Measurement:
        """Kα1-only pattern (Rachinger) using ``metadata['kalpha1_ang']``, ``['kalpha2_ang']``, ``['kalpha_ratio']``."""
        if self.axis.name != "two_theta":
            raise ValueError(f"strip_kalpha2: the axis is {self.axis.name!r}, expected 'two_theta'")
        try:
            l1 = float(self.metadata["kalpha1_ang"])
            l2 = float(self.metadata["kalpha2_ang"])
        except (KeyError, TypeError) as exc:
            raise ValueError(
                f"strip_kalpha2: {self.source or 'measurement'} states no Kα1/Kα2 wavelengths (kalpha1_ang, kalpha2_ang)"
            ) from exc
        ratio = float(self.metadata.get("kalpha_ratio", 0.5))
        if not (l2 > l1 > 0.0) or ratio <= 0.0:
            return self
        stripped = strip_kalpha2(_array(self.axis.values), _array(self.values), l1, l2, ratio)
        return replace(
            self,
            values=np.asarray(stripped, dtype=np.float64),
            metadata=self.metadata.merged(kalpha2_stripped=True),
            wavelength_ang=l1,
        )

    def normalised(self, mode: str = "max") -> Measurement:
        """Scaled to unit maximum (``"max"``) or unit area (``"area"``), or per second (``"time"``)."""
        if mode == "time":
            t = self.metadata.get("count_time_s")
            if t is None:
                raise ValueError(f"normalised('time'): {self.source or 'measurement'} states no count time")
            factor = 1.0 / float(t)
            values = _array(self.values) * factor
        else:
            values, factor = normalise(_array(self.axis.values), _array(self.values), mode)
        sig = None if self.uncertainties is None else _array(self.uncertainties) * factor
        return replace(self, values=values, uncertainties=sig, unit="arb." if mode != "time" else f"{self.unit}/s")

    # -- views -------------------------------------------------------------------------------------
    def column_name(self) -> str:
        """Name of the axis column with its unit, e.g. ``two_theta_deg``, ``q_inv_ang``."""
        suffix = {
            "deg": "deg", "1/Å": "inv_ang", "Å": "ang", "cm-1": "cm1", "ppm": "ppm", "kHz": "khz",
            "Hz": "hz", "bar": "bar", "s": "s", "K": "k", "nm": "nm", "1": "",
        }.get(self.axis.unit, self.axis.unit.replace("/", "_per_"))
        return f"{self.axis.name}_{suffix}" if suffix else self.axis.name

    def to_pandas(self) -> Any:
        """A :class:`pandas.DataFrame` with the axis, the values and (when known) the uncertainties.

        Images give one row per pixel with ``y`` and ``x`` columns. ``DataFrame.attrs`` holds the
        units, conditions, metadata and source.
        """
        import pandas as pd

        if self.is_image:
            yy, xx = np.meshgrid(_array(self.second_axis.values), _array(self.axis.values), indexing="ij")
            data = {f"{self.second_axis.name}": yy.ravel(), f"{self.axis.name}": xx.ravel(), self.quantity: _array(self.values).ravel()}
        else:
            data = {self.column_name(): _array(self.axis.values), self.quantity: _array(self.values)}
            if self.uncertainties is not None:
                data["sigma"] = _array(self.uncertainties)
        frame = pd.DataFrame(data)
        frame.attrs.update(
            {
                "axis_unit": self.axis.unit,
                "unit": self.unit,
                "technique": self.technique,
                "conditions": self.conditions.to_dict(),
                "wavelength_ang": self.wavelength_ang,
                "metadata": self.metadata.to_dict(),
                "source": self.source,
                "format": self.format,
            }
        )
        return frame

    def summary(self) -> dict[str, Any]:
        """What ``twin inspect --json`` prints for one item (JSON-able)."""
        ax = _array(self.axis.values)
        finite = ax[np.isfinite(ax)] if ax.size else ax
        out: dict[str, Any] = {
            "format": self.format,
            "technique": self.technique,
            "axis": {
                "name": self.axis.name,
                "unit": self.axis.unit,
                "min": float(finite.min()) if finite.size else None,
                "max": float(finite.max()) if finite.size else None,
            },
            "points": int(np.size(self.values)) if not self.is_image else int(np.shape(self.values)[-1]),
            "shape": list(self.shape),
            "quantity": self.quantity,
            "unit": self.unit,
            "uncertainty": self.uncertainty_kind,
            "conditions": self.conditions.to_dict(),
            "wavelength_ang": self.wavelength_ang,
            "metadata": self.metadata.to_dict(),
            "source": self.source,
            "source_line": self.source_line,
        }
        if self.is_image:
            sy = _array(self.second_axis.values)
            out["second_axis"] = {
                "name": self.second_axis.name,
                "unit": self.second_axis.unit,
                "min": float(sy.min()) if sy.size else None,
                "max": float(sy.max()) if sy.size else None,
            }
        return out


@dataclass(frozen=True)
class MeasurementSeries:
    """An ordered series of measurements: frames of an in situ run, isotherm branches, a folder of files.

    Attributes:
        items: the measurements, in order (their axes may differ in length).
        labels: one label per item (file name, ``"adsorption"``/``"desorption"``, frame number).
        format: the detected container format (``"folder"``, ``"nexus"``, ``"aif"``, ...).
        source: the file or folder read.
        metadata: metadata that belongs to the whole series.
    """

    items: tuple[Measurement, ...]
    labels: tuple[str, ...] = ()
    format: str = ""
    source: str = ""
    metadata: Metadata = field(default_factory=Metadata)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        labels = tuple(self.labels) if self.labels else tuple(str(i) for i in range(len(self.items)))
        if len(labels) != len(self.items):
            raise ValueError(f"MeasurementSeries: {len(labels)} labels for {len(self.items)} items")
        object.__setattr__(self, "labels", labels)
        if not isinstance(self.metadata, Metadata):
            object.__setattr__(self, "metadata", Metadata(self.metadata))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Measurement]:
        return iter(self.items)

    def __getitem__(self, index: int) -> Measurement:
        return self.items[index]

    @property
    def n_frames(self) -> int:
        return len(self.items)

    def conditions_table(self) -> dict[str, np.ndarray]:
        """One array (n_frames,) per condition key that any item states; NaN where an item does not."""
        keys = [k for k in CONDITION_KEYS if any(k in m.conditions for m in self.items)]
        return {k: np.array([float(m.conditions.get(k, math.nan)) for m in self.items]) for k in keys}

    def common_axis(self) -> bool:
        """True when every item has the same axis name, unit and values (a stackable series)."""
        if not self.items:
            return False
        first = self.items[0].axis
        return all(
            m.axis.name == first.name and m.axis.unit == first.unit and len(m.axis) == len(first)
            and np.allclose(_array(m.axis.values), _array(first.values), rtol=0.0, atol=1e-9)
            for m in self.items
        )

    def stack(self) -> tuple[Axis, np.ndarray, np.ndarray | None]:
        """(axis, values (n_frames, n_points), uncertainties or None) for a series on one common axis."""
        if not self.common_axis():
            raise ValueError(f"MeasurementSeries.stack: the items of {self.source or 'the series'} do not share one axis")
        values = np.stack([_array(m.values) for m in self.items])
        sig = None
        if all(m.uncertainties is not None for m in self.items):
            sig = np.stack([_array(m.uncertainties) for m in self.items])
        return self.items[0].axis, values, sig

    def to_pandas(self) -> Any:
        """Long-format :class:`pandas.DataFrame`: one row per point, with ``frame``, ``label`` and condition columns."""
        import pandas as pd

        frames = []
        for i, (label, m) in enumerate(zip(self.labels, self.items, strict=True)):
            df = m.to_pandas()
            df.insert(0, "label", label)
            df.insert(0, "frame", i)
            for k, v in m.conditions.items():
                df[k] = v
            frames.append(df)
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        out.attrs.update({"format": self.format, "source": self.source, "metadata": self.metadata.to_dict()})
        return out

    def summary(self) -> dict[str, Any]:
        """What ``twin inspect --json`` prints for a series (JSON-able)."""
        first = self.items[0].summary() if self.items else {"axis": {"name": None, "unit": None, "min": None, "max": None}}
        mins = [s["axis"]["min"] for s in (m.summary() for m in self.items) if s["axis"]["min"] is not None]
        maxs = [s["axis"]["max"] for s in (m.summary() for m in self.items) if s["axis"]["max"] is not None]
        table = self.conditions_table()
        return {
            "format": self.format,
            "technique": first.get("technique"),
            "axis": {
                "name": first["axis"]["name"],
                "unit": first["axis"]["unit"],
                "min": min(mins) if mins else None,
                "max": max(maxs) if maxs else None,
            },
            "frames": len(self.items),
            "labels": list(self.labels),
            "points": sum(int(np.size(m.values)) for m in self.items),
            "points_per_frame": [int(np.size(m.values)) for m in self.items],
            "quantity": first.get("quantity"),
            "unit": first.get("unit"),
            "uncertainty": first.get("uncertainty"),
            "conditions": {k: [None if not math.isfinite(x) else float(x) for x in v] for k, v in table.items()},
            "wavelength_ang": first.get("wavelength_ang"),
            "metadata": {**(first.get("metadata") or {}), **self.metadata.to_dict()},
            "source": self.source,
        }


def series_from(items: Sequence[Measurement], labels: Sequence[str], **kwargs: Any) -> MeasurementSeries:
    """Convenience constructor used by readers."""
    return MeasurementSeries(tuple(items), tuple(labels), **kwargs)


def series_frames(path: Any, one_frame: str) -> tuple[list[Measurement], tuple[str, ...]]:
    """The frames and frame labels of a measured series read by :func:`instruments.io.read_measurement` (a folder
    with a conditions log, an HDF5 file with n_frames × n_points, …) — for the techniques' ``align``.

    Raises:
        DataFormatError: the file holds one measurement: ``"<path>: <one_frame>"``.
    """
    from instruments.io import read_measurement
    from mofcore.errors import DataFormatError

    series = read_measurement(path)
    if not isinstance(series, MeasurementSeries):
        raise DataFormatError(f"{path}: {one_frame}")
    items = list(series.items)
    return items, tuple(series.labels or [str(i) for i in range(len(items))])


def common_grid(path: Any, labels: Sequence[str], axes: Sequence[Any], name: str, unit: str, *,
                atol: float = 1e-6) -> np.ndarray:
    """The axis every frame of a series shares (the first frame's), or :class:`DataFormatError` naming the first
    frame on another grid: ``"<path>: frame F is on a different <name> grid than the first frame (…)"``."""
    from mofcore.errors import DataFormatError

    grid = np.asarray(axes[0], np.float64)
    for label, values in zip(labels, axes, strict=True):
        other = np.asarray(values, np.float64)
        if other.shape != grid.shape or not np.allclose(other, grid, rtol=0.0, atol=atol):
            raise DataFormatError(f"{path}: frame {label} is on a different {name} grid than the first frame "
                                  f"({other.size} points {other[0]:g}..{other[-1]:g} {unit} against {grid.size} points "
                                  f"{grid[0]:g}..{grid[-1]:g} {unit}); a series needs one grid")
    return grid
