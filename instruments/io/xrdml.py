"""PANalytical XRDML (XML, schema versions 1.0–2.x): powder scans with wavelengths, tube and counting.

Library: none maintained exists for XRDML alone (``xrayutilities`` reads it but pulls in a large
package; ``fairmat-readers-xrd`` uses ``xmltodict`` without entity protection). The format is a
documented XML schema (PANalytical, ``http://www.xrdml.com/XRDMeasurement/``), parsed here with
:mod:`defusedxml` (no DTD, no entity expansion).

What is read, per ``<scan>`` (several scans → a :class:`MeasurementSeries`):

* the scan axis positions: ``<positions axis="2Theta">`` with ``startPosition``/``endPosition``
  (equidistant points) or ``listPositions``;
* the values: ``<counts>`` (XRDML ≥ 1.5, raw counts N, with ``<beamAttenuationFactors>`` a) →
  I = a·N, σ = a·√N; or ``<intensities unit="counts">`` → σ = √N; ``unit="counts/s"`` with
  ``<commonCountingTime>`` t → N = I·t, σ = √N / t;
* ``<usedWavelength>``: kAlpha1, kAlpha2, kBeta, ratioKAlpha2KAlpha1 (λ = Kα1 for Q);
  ``<xRayTube>``: anode, tension (kV), current (mA); sample id, instrument id, start time, scan
  mode/axis; ``<nonAmbientPoints>`` temperatures (K) when present.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from instruments.io._base import check_axis, check_finite, fail, number, parse_float
from instruments.io._xml import children, find, findall, float_of, local, parse_xml, text_of
from instruments.measurement import Measurement, MeasurementSeries, counting_uncertainty
from instruments.observable import Axis

__all__ = ["read_xrdml"]


def _numbers(path: Path, elem: ET.Element, where: str, what: str) -> np.ndarray:
    text = elem.text or ""
    tokens = text.split()
    out = np.empty(len(tokens), dtype=np.float64)
    for i, tok in enumerate(tokens):
        out[i] = parse_float(tok, path, f"{where}, value {i + 1}", what)
    return out


def _source_metadata(path: Path, meas: ET.Element) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    wl = find(meas, "usedWavelength")
    if wl is not None:
        meta["wavelength_intended"] = wl.get("intended")
        for tag, key in (("kAlpha1", "kalpha1_ang"), ("kAlpha2", "kalpha2_ang"), ("kBeta", "kbeta_ang"),
                         ("ratioKAlpha2KAlpha1", "kalpha_ratio")):
            v = float_of(path, find(wl, tag), tag, f"element <{tag}>")
            if v is not None:
                meta[key] = v
    tube = find(meas, "incidentBeamPath", "xRayTube")
    if tube is not None:
        meta["anode"] = text_of(find(tube, "anodeMaterial"))
        meta["tube"] = tube.get("name")
        for tag, key in (("tension", "voltage_kV"), ("current", "current_mA")):
            v = float_of(path, find(tube, tag), tag, f"element <{tag}>")
            if v is not None:
                meta[key] = v
    meta["measurement_type"] = meas.get("measurementType")
    meta["sample_mode"] = meas.get("sampleMode")
    return {k: v for k, v in meta.items() if v is not None}


def _scan_axis_positions(path: Path, dp: ET.Element, axis_name: str, n: int, where: str) -> np.ndarray | None:
    for pos in children(dp, "positions"):
        if pos.get("axis") != axis_name:
            continue
        lst = find(pos, "listPositions")
        if lst is not None:
            values = _numbers(path, lst, f"{where} <positions axis={axis_name!r}>", "a position")
            if values.size != n:
                raise fail(path, f"{where} <positions axis={axis_name!r}>",
                           f"{values.size} listed positions but the scan has {n} intensities")
            return values
        start = float_of(path, find(pos, "startPosition"), "startPosition", f"{where} <startPosition>")
        end = float_of(path, find(pos, "endPosition"), "endPosition", f"{where} <endPosition>")
        if start is not None and end is not None:
            return np.linspace(start, end, n) if n > 1 else np.array([start])
        common = float_of(path, find(pos, "commonPosition"), "commonPosition", f"{where} <commonPosition>")
        if common is not None:
            return np.full(n, common)
        raise fail(path, f"{where} <positions axis={axis_name!r}>", "expected startPosition/endPosition or listPositions")
    return None


def read_xrdml(path: Path, data: bytes) -> Measurement | MeasurementSeries:
    """Read a PANalytical ``.xrdml`` file; one scan → :class:`Measurement`, several → a series."""
    root = parse_xml(path, data)
    if local(root.tag) != "xrdMeasurements":
        raise fail(path, "root element", f"expected <xrdMeasurements>, got <{local(root.tag)}>")
    schema = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    sample_id = text_of(find(root, "sample", "id"))
    items: list[Measurement] = []
    labels: list[str] = []
    measurements = children(root, "xrdMeasurement")
    if not measurements:
        raise fail(path, "root element", "no <xrdMeasurement> element")
    for mi, meas in enumerate(measurements):
        base = _source_metadata(path, meas)
        scans = children(meas, "scan")
        if not scans:
            raise fail(path, f"<xrdMeasurement> {mi + 1}", "no <scan> element")
        for si, scan in enumerate(scans):
            where = f"<xrdMeasurement> {mi + 1}, <scan> {si + 1}"
            dp = find(scan, "dataPoints")
            if dp is None:
                raise fail(path, where, "no <dataPoints> element")
            counts_el = find(dp, "counts")
            inten_el = find(dp, "intensities")
            if counts_el is None and inten_el is None:
                raise fail(path, f"{where} <dataPoints>", "expected <intensities> or <counts>")
            t = float_of(path, find(dp, "commonCountingTime"), "counting time", f"{where} <commonCountingTime>")
            meta: dict[str, Any] = dict(base)
            if counts_el is not None:
                n_counts = _numbers(path, counts_el, f"{where} <counts>", "a count")
                att_el = find(dp, "beamAttenuationFactors")
                att = np.ones_like(n_counts)
                if att_el is not None:
                    att = _numbers(path, att_el, f"{where} <beamAttenuationFactors>", "an attenuation factor")
                    if att.size != n_counts.size:
                        raise fail(path, f"{where} <beamAttenuationFactors>",
                                   f"{att.size} factors but {n_counts.size} counts")
                values = n_counts * att
                sigma = counting_uncertainty(n_counts, att)
                unit = "counts"
                meta["counts_raw"] = True
            else:
                values = _numbers(path, inten_el, f"{where} <intensities>", "an intensity")
                unit = inten_el.get("unit", "counts")
                if unit == "counts":
                    sigma = counting_uncertainty(values)
                elif unit == "counts/s" and t:
                    sigma = counting_uncertainty(values * t) / t
                else:
                    sigma = None
            if values.size == 0:
                raise fail(path, f"{where} <dataPoints>", "no intensities")
            check_finite(path, values, "an intensity", lambda i: f"{where}, point {i + 1}")
            neg = np.flatnonzero(values < 0)
            if neg.size and sigma is not None:
                raise fail(path, f"{where}, point {int(neg[0]) + 1}", f"negative count {number(values[neg[0]])}")
            scan_axis = scan.get("scanAxis", "")
            axis_key = "Omega" if scan_axis in ("Omega", "Phi", "Chi") else "2Theta"
            x = _scan_axis_positions(path, dp, axis_key, values.size, where)
            if x is None:
                raise fail(path, f"{where} <dataPoints>", f"no <positions axis=\"{axis_key}\"> for the {scan_axis!r} scan")
            order = check_axis(path, x, f"the {axis_key} position", lambda i: f"{where}, point {i + 1}")
            if t is not None:
                meta["count_time_s"] = t
            meta.update({
                "scan_axis": scan_axis, "scan_mode": scan.get("mode"), "scan_status": scan.get("status"),
                "start_time": text_of(find(scan, "header", "startTimeStamp")),
                "end_time": text_of(find(scan, "header", "endTimeStamp")),
                "instrument_id": text_of(find(scan, "header", "source", "instrumentID")),
                "sample_id": sample_id, "schema": schema,
            })
            conditions: dict[str, float] = {}
            for na in findall(meas, "nonAmbientValues"):
                vals = _numbers(path, na, f"{where} <nonAmbientValues>", "a temperature")
                if vals.size and na.get("unit", "K") in ("K", "Kelvin"):
                    conditions["temperature_K"] = float(np.mean(vals))
            lam = meta.get("kalpha1_ang")
            items.append(
                Measurement(
                    axis=Axis(x[order], "two_theta" if axis_key == "2Theta" else "omega", "deg"),
                    values=values[order],
                    uncertainties=None if sigma is None else sigma[order],
                    quantity="intensity",
                    unit=unit,
                    technique="xrd",
                    uncertainty_kind="counting" if sigma is not None else "unknown",
                    conditions=conditions,
                    wavelength_ang=float(lam) if lam is not None else None,
                    metadata={k: v for k, v in meta.items() if v is not None},
                    source=str(path),
                    format="xrdml",
                )
            )
            labels.append(f"scan {len(items)}")
    if len(items) == 1:
        return items[0]
    return MeasurementSeries(tuple(items), tuple(labels), format="xrdml", source=str(path))
