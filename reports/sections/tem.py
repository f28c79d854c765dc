"""Electron microscopy: simulated micrographs with scale bars, when ``observables/tem.h5`` is present."""

from __future__ import annotations

from matplotlib.figure import Figure

from reports.context import ReportContext, Section, fmt
from reports.figures import add_scale_bar, new_figure
from instruments.series_io import ImageSeries

__all__ = ["tem_section"]

#: micrographs shown at most
MAX_IMAGES = 4


def tem_section(ctx: ReportContext) -> Section | None:
    """Simulated electron micrographs with scale bars, when ``observables/tem.h5`` is present."""
    images = ctx.run.images.get("tem")
    if images is None:
        return None
    sec = Section("tem", "Electron microscopy")
    sec.blocks.append(ctx.figure(_micrographs_figure(images), "tem", f"Simulated {images.kind} images "
                                 f"({fmt(images.pixel_size_A, 3)} Å per pixel).", "simulated electron micrographs"))
    return sec


def _micrographs_figure(images: ImageSeries) -> Figure:
    """The first few images side by side in nm, each with a scale bar and its frame."""
    n = min(MAX_IMAGES, images.image.shape[0])
    fig = new_figure(2.4)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, img, frame in zip(axes, images.image[:n], images.frame_index[:n]):
        ny, nx = img.shape
        w_nm, h_nm = nx * images.pixel_size_A / 10, ny * images.pixel_size_A / 10
        ax.imshow(img, cmap="gray", origin="upper", extent=(0, w_nm, 0, h_nm), interpolation="nearest")
        add_scale_bar(ax, w_nm)
        ax.set_title(f"frame {int(frame)}", fontsize=7.5)
    return fig
