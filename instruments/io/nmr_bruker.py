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

Parameter text: before nmrglue parses ``acqus``/``procs``, :func:`check_parameter_text` refuses (with the
file and line) the two damaged forms on which nmrglue's parser never returns: a ``<string>`` value that is
never closed and a ``(0..n)`` array with fewer than n + 1 values before the end of the file.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from instruments.io._base import check_finite, fail, guard, read_bytes
from instruments.measurement import Measurement
from instruments.observable import Axis

__all__ = ["read_bruker_nmr", "is_bruker_nmr", "check_parameter_text"]


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


_PARAMETER_FILES = ("acqus", "acqu2s", "acqu3s", "acqu4s", "procs", "proc2s", "proc3s", "proc4s")
_PARAMETER_FILE_BYTES = 16 * 1024**2


def _lines_as_nmrglue_reads(text: str) -> list[str]:
    """Lines split like ``readline`` in text mode (universal newlines), without the empty end of file."""
    parts = re.split(r"\r\n|\r|\n", text)
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def check_parameter_text(path: Path, file: Path, rel: str) -> None:
    """Refuse a Bruker parameter file (``acqus``, ``procs``: ``##$KEY= value`` lines) that nmrglue cannot finish.

    nmrglue's parser (``bruker.parse_jcamp_line``) reads on past the end of the file, forever, when a
    ``<string>`` value is never closed or a ``(0..n)`` array holds fewer than n + 1 values; this check walks
    the lines the way nmrglue does and raises :class:`DataFormatError` with the file and line instead.
    Everything else (bad numbers, unknown lines) is left to nmrglue, which keeps such values as text.
    """
    if file.stat().st_size == 0:
        return  # nmrglue reads an empty parameter file as no parameters
    data = read_bytes(file, limit=_PARAMETER_FILE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            return  # nmrglue fails to decode it too; guard() reports that
    lines = _lines_as_nmrglue_reads(text)
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        lineno = i + 1
        i += 1
        if line == "" or line.startswith("##END="):
            return  # nmrglue stops reading here
        if not line.startswith("##$") or "=" not in line:
            continue
        key = line[3:line.index("=")]
        value = line[line.index("=") + 1:].lstrip()
        if "<" in value:
            while ">" not in value:
                if i >= len(lines):
                    raise fail(path, f"{rel}, line {lineno}", f"the string value of ##${key}= opened with '<' is never closed with '>'")
                value += lines[i].rstrip()
                i += 1
        elif "(" in value:
            try:
                n = int(line[line.index("..") + 2:line.index(")")]) + 1
            except ValueError:
                continue  # nmrglue warns about the line and goes on
            count = len(line[line.index(")") + 1:].split())
            while count < n:
                if i >= len(lines):
                    raise fail(path, f"{rel}, line {lineno}", f"##${key}= declares {n} values but the file ends after {count}")
                count += len(lines[i].rstrip().split())
                i += 1


def _check_parameter_files(path: Path, folders: list[Path]) -> None:
    for folder in folders:
        for name in _PARAMETER_FILES:
            file = folder / name
            if file.is_file():
                try:
                    rel = str(file.relative_to(path))
                except ValueError:
                    rel = str(file)
                check_parameter_text(path, file, rel)


def _temperature(te: Any) -> dict[str, float]:
    """``temperature_K`` from acqus TE [K] when it is a positive finite number (TE = 0 means not recorded)."""
    if isinstance(te, int | float) and not isinstance(te, bool) and np.isfinite(te) and te > 0:
        return {"temperature_K": float(te)}
    return {}


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
            _check_parameter_files(path, [pdir, pdir.parent.parent])
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
                conditions=_temperature(temp),
                metadata={k: v for k, v in meta.items() if v not in (None, "")},
                source=str(path),
                format="bruker-nmr-processed",
            )
        if not (path / "acqus").is_file() or not (path / "fid").is_file():
            raise fail(path, None, "expected a Bruker experiment folder with acqus and fid, or pdata/<n>/1r with procs")
        pdata = path / "pdata"
        _check_parameter_files(path, [path, *sorted(p for p in pdata.iterdir() if p.is_dir())] if pdata.is_dir() else [path])
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
            conditions=_temperature(temp),
            metadata={k: v for k, v in meta.items() if v not in (None, "")},
            source=str(path),
            format="bruker-nmr-fid",
        )
