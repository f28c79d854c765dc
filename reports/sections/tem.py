"""Electron microscopy: simulated micrographs with scale bars, when ``observables/tem.h5`` is present.

Two forms of that file are drawn: an image series (:func:`instruments.series_io.write_image_series`, by
:func:`tem_section`) and the ``tem`` technique's observable of flattened dark-/bright-field maps written by
``twin observe OUT --technique tem`` (by :func:`tem_panel`, the technique's registry panel), with the fluence
each frame has received.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from reports.context import ReportContext, Section, fmt
from reports.figures import add_scale_bar, new_figure
from instruments.series_io import ImageSeries

__all__ = ["tem_section", "tem_panel"]

#: micrographs shown at most
MAX_IMAGES = 4


def tem_section(ctx: ReportContext) -> Section | None:
    """Simulated electron micrographs with scale bars: every image series of the directory (``observables/tem.h5``
    of an earlier version, the ``hrtem.h5`` of ``twin tem image -o OUT``)."""
    if not ctx.run.images:
        return None
    sec = Section("tem", "Electron microscopy")
    for key, images in ctx.run.images.items():
        sec.blocks.append(ctx.figure(_micrographs_figure(images), key, f"Simulated {images.kind} images "
                                     f"({fmt(images.pixel_size_A, 3)} Å per pixel).", "simulated electron micrographs"))
    pattern = _diffraction_pattern(ctx.run.out_dir / "diffraction.tif")
    if pattern is not None:
        sec.blocks.append(ctx.figure(_diffraction_figure(*pattern), "diffraction", "Kinematical electron diffraction "
                                     "pattern of the same zone (log intensity) on the reciprocal-space scale: spot "
                                     "positions in 1/Å, from the centre (000).", "electron diffraction pattern"))
    return sec


def _diffraction_pattern(path) -> tuple | None:
    """The pattern ``twin tem image`` writes (``diffraction.tif``, its pixel in 1/Å in the TIFF description), or
    ``None`` when there is none or it does not state its pixel."""
    import json

    if not path.is_file():
        return None
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        try:
            pixel = float(json.loads(page.description)["pixel_size_inv_A"])
        except (ValueError, KeyError, TypeError):
            return None
        return page.asarray(), pixel


def _diffraction_figure(pattern, pixel_inv_A: float) -> Figure:
    """log(1 + I/I_max·10³) with the k axes in 1/Å, centred on (000)."""
    import numpy as np

    ny, nx = pattern.shape
    half_x, half_y = nx * pixel_inv_A / 2, ny * pixel_inv_A / 2
    fig = new_figure(3.0, 3.4)
    ax = fig.subplots()
    shown = np.log10(1.0 + 1e3 * np.clip(pattern, 0, None) / max(float(np.max(pattern)), 1e-30))
    ax.imshow(shown, cmap="magma", origin="lower", extent=(-half_x, half_x, -half_y, half_y))
    ax.set_xlabel("k$_x$ (1/Å)")
    ax.set_ylabel("k$_y$ (1/Å)")
    return fig


def tem_panel(ctx: ReportContext, name: str) -> Section | None:
    """The in situ diffraction-contrast maps of ``observables/<name>.h5`` (technique ``tem``), with the dose."""
    from instruments.tem.technique import image_series

    obs = ctx.run.spectra.get(name)
    if obs is None:
        return None
    images = image_series(obs, obs.source)
    sec = Section(name, "Electron microscopy (TEM)")
    dose = obs.conditions.get("dose_e_per_A2")
    critical = obs.meta.get("critical_fluence_e_per_A2")
    note = ""
    if dose is not None and len(dose):
        note = f" Fluence received by the last frame shown: {fmt(float(dose[min(MAX_IMAGES, len(dose)) - 1]), 3)} e⁻/Å²"
        note += f" (critical fluence assumed {fmt(float(critical), 3)} e⁻/Å²)." if critical is not None else "."
    sec.blocks.append(ctx.figure(_micrographs_figure(images, dose), name,
                                 f"Simulated {images.kind} maps of the crystal ({fmt(images.pixel_size_A, 3)} Å per "
                                 f"pixel, column approximation).{note}", "simulated TEM diffraction-contrast maps"))
    sec.summary = {"kind": images.kind, "n_images": int(images.image.shape[0]),
                   "dose_e_per_A2": [float(d) for d in dose] if dose is not None else []}
    return sec


def _micrographs_figure(images: ImageSeries, dose=None) -> Figure:
    """The first few images side by side in nm, each with a scale bar and its frame."""
    n = min(MAX_IMAGES, images.image.shape[0])
    fig = new_figure(2.4)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for i, (ax, img, frame) in enumerate(zip(axes, images.image[:n], images.frame_index[:n])):
        ny, nx = img.shape
        w_nm, h_nm = nx * images.pixel_size_A / 10, ny * images.pixel_size_A / 10
        ax.imshow(img, cmap="gray", origin="upper", extent=(0, w_nm, 0, h_nm), interpolation="nearest")
        add_scale_bar(ax, w_nm)
        title = f"image {int(i)}" if len(set(images.frame_index[:n])) < n else f"frame {int(frame)}"
        if dose is not None:
            title += f", {float(dose[list(images.frame_index).index(frame)]):.3g} e⁻/Å²"
        ax.set_title(title, fontsize=7.5)
    return fig
