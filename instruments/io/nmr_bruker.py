r"""Bruker TopSpin NMR data through nmrglue: processed spectra (``pdata/N/1r``) and raw FIDs (``fid``).

Library: nmrglue (J. J. Helmus, C. P. Jaroniec, J. Biomol. NMR 55, 355 (2013); BSD-3) reads the JCAMP
parameter files (``acqus``, ``procs``) and the binary data with the right byte order and integer or
float type (``DTYPA``/``DTYPP``, ``BYTORDA``/``BYTORDP``) and scaling (``NC_proc``).

Processed data (``1r``): the chemical-shift axis comes from the processing parameters,

.. math:: \delta_i = \mathrm{OFFSET} - \frac{\mathrm{SW\_p}}{\mathrm{SF}}\,\frac{i}{\mathrm{SI}},
          \qquad i = 0 \ldots \mathrm{SI}-1,

with OFFSET the shift of the first (left-most) point [ppm], SW_p the spectral width [Hz] and SF the
spectrometer reference frequency [MHz] (Bruker TopSpin "Acquisition and processing reference",
parameters OFFSET, SW_p, SF). The axis is returned ascending (values reversed with it).

Raw data (``fid``): the digital-filter group delay is removed (nmrglue
``bruker.remove_digital_filter``), the FID Fourier transformed, and the axis taken from the
acquisition parameters (nmrglue ``guess_udic``: SW_h, SFO1, O1). No phase correction is known for a
raw FID, so the magnitude spectrum is returned and ``metadata['spectrum']`` says so; 2-D data is
refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from instruments.io._base import check_finite, fail, guard
from instruments.measurement import Measurement
from instruments.observable import Axis

__all__ = ["read_bruker_nmr", "is_bruker_nmr"]


def is_bruker_nmr(path: Path) -> bool:
    """A TopSpin experiment folder (``acqus`` + ``fid``/``ser``), or a processed-data folder (``procs`` + ``1r``)."""
    if not path.is_dir():
        return False
    return ((path / "procs").is_file() and (path / "1r").is_file()) or (
        (path / "acqus").is_file() and ((path / "fid").is_file() or (path / "pdata").is_dir())
    )


def _pdata_dir(path: Path, procno: int | None) -> Path | None:
    if (path / "procs").is_file() and (path / "1r").is_file():
        return path
    pdata = path / "pdata"
    if not pdata.is_dir():
        return None
    if procno is not None:
        cand = pdata / str(procno)
        if not (cand / "1r").is_file():
            raise fail(path, f"pdata/{procno}", "no processed spectrum (1r) in this processing folder")
        return cand
    found = sorted((p for p in pdata.iterdir() if p.is_dir() and (p / "1r").is_file() and p.name.isdigit()), key=lambda p: int(p.name))
    return found[0] if found else None


def _number(path: Path, dic: dict[str, Any], key: str, where: str) -> float:
    try:
        value = float(dic[key])
    except KeyError:
        raise fail(path, where, f"parameter {key} is missing") from None
    except (TypeError, ValueError):
        raise fail(path, where, f"parameter {key} must be a number, got {dic[key]!r}") from None
    if not np.isfinite(value):
        raise fail(path, where, f"parameter {key} is {value} (not finite)")
    return value


def read_bruker_nmr(path: Path, *, procno: int | None = None, raw: bool = False) -> Measurement:
    """Read a Bruker experiment: the processed spectrum when present (``procno``), else the raw FID.

    Args:
        path: experiment folder (``.../<expno>``) or processed-data folder (``.../pdata/<procno>``).
        procno: which ``pdata/<procno>`` to read (default: the lowest present).
        raw: read the FID even when processed data exists.
    """
    import nmrglue as ng

    pdir = None if raw else _pdata_dir(path, procno)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if pdir is not None:
            dic, data = guard(path, lambda: ng.bruker.read_pdata(str(pdir), scale_data=True), "cannot read the processed data")
            procs = dic.get("procs", {})
            where = f"{pdir.name if pdir != path else '.'}/procs"
            if np.ndim(data) != 1:
                raise fail(path, where, f"{np.ndim(data)}-D processed data; only 1-D spectra are read")
            n = int(np.size(data))
            si = _number(path, procs, "SI", where)
            offset = _number(path, procs, "OFFSET", where)
            sw_p = _number(path, procs, "SW_p", where)
            sf = _number(path, procs, "SF", where)
            if sf <= 0 or sw_p <= 0:
                raise fail(path, where, f"SF ({sf}) and SW_p ({sw_p}) must be > 0")
            if int(si) != n:
                raise fail(path, f"{pdir.name}/1r", f"{n} points but procs SI = {int(si)}")
            ppm = offset - (sw_p / sf) * np.arange(n, dtype=np.float64) / n
            values = np.asarray(data, dtype=np.float64)
            check_finite(path, values, "a spectrum point", lambda i: f"{pdir.name}/1r, point {i + 1}")
            acqus = dic.get("acqus", {})
            meta = {
                "spectrum": "processed (1r, real part)",
                "procno": pdir.name,
                "spectrometer_frequency_MHz": sf,
                "spectral_width_Hz": sw_p,
                "offset_ppm": offset,
                "nucleus": acqus.get("NUC1"),
                "pulse_program": acqus.get("PULPROG"),
                "scans": acqus.get("NS"),
            }
            temp = acqus.get("TE")
            return Measurement(
                axis=Axis(ppm[::-1].copy(), "shift", "ppm"),
                values=values[::-1].copy(),
                quantity="intensity",
                unit="arb.",
                technique="nmr",
                conditions={"temperature_K": float(temp)} if isinstance(temp, int | float) and temp > 0 else {},
                metadata={k: v for k, v in meta.items() if v not in (None, "")},
                source=str(path),
                format="bruker-nmr-processed",
            )
        if not (path / "acqus").is_file() or not (path / "fid").is_file():
            raise fail(path, None, "expected a Bruker experiment folder with acqus and fid, or pdata/<n>/1r with procs")
        dic, data = guard(path, lambda: ng.bruker.read(str(path)), "cannot read the FID")
        if np.size(data) < 2:
            raise fail(path, "fid", "the FID holds fewer than 2 points")
        if np.ndim(data) != 1:
            raise fail(path, "fid", f"{np.ndim(data)}-D raw data; only 1-D FIDs are read")
        acq = dic.get("acqus", {})
        grpdly = float(acq.get("GRPDLY", 0) or 0) if isinstance(acq.get("GRPDLY", 0), int | float) else 0.0
        decim = float(acq.get("DECIM", 1) or 1) if isinstance(acq.get("DECIM", 1), int | float) else 1.0
        if grpdly > 0 or decim > 1:
            fid = guard(path, lambda: ng.bruker.remove_digital_filter(dic, data), "cannot remove the digital filter")
        else:
            fid = data  # no digital filter recorded (GRPDLY ≤ 0 and DECIM = 1)
        spec = np.fft.fftshift(np.fft.fft(np.asarray(fid)))
        acqus = dic.get("acqus", {})
        sw_h = _number(path, acqus, "SW_h", "acqus")
        sfo1 = _number(path, acqus, "SFO1", "acqus")
        o1 = _number(path, acqus, "O1", "acqus")
        if sfo1 <= 0 or sw_h <= 0:
            raise fail(path, "acqus", f"SW_h ({sw_h}) and SFO1 ({sfo1}) must be > 0")
        # nmrglue's unit convention for fftshift(fft(fid)): point k lies at
        # ν_k = O1 + SW_h/2 − k·SW_h/n [Hz from the transmitter reference], δ = ν/SFO1 [ppm];
        # highest shift first. (Not corrected for the SR referencing of processed data.)
        n = spec.size
        ppm = (o1 + sw_h / 2.0 - np.arange(n, dtype=np.float64) * sw_h / n) / sfo1
        values = np.abs(spec).astype(np.float64)
        order = np.argsort(ppm)
        meta = {
            "spectrum": "magnitude of the Fourier-transformed FID (no phase correction)",
            "spectrometer_frequency_MHz": sfo1,
            "spectral_width_Hz": sw_h,
            "nucleus": acqus.get("NUC1"),
            "pulse_program": acqus.get("PULPROG"),
            "scans": acqus.get("NS"),
        }
        temp = acqus.get("TE")
        return Measurement(
            axis=Axis(ppm[order], "shift", "ppm"),
            values=values[order],
            quantity="magnitude",
            unit="arb.",
            technique="nmr",
            conditions={"temperature_K": float(temp)} if isinstance(temp, int | float) and temp > 0 else {},
            metadata={k: v for k, v in meta.items() if v not in (None, "")},
            source=str(path),
            format="bruker-nmr-fid",
        )
