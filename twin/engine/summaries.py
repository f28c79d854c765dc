r"""Per-frame summaries of a crystal state: phase fractions, η statistics, loading, coherent domains, interfaces.

Phase of a site: closed if η < ½, open otherwise. A *coherent domain* is a connected set of sites of the same
phase joined by intact links (a crack or a phase boundary ends a domain); it is what scatters coherently and
sets the Scherrer size seen by XRD. Domains are labelled on the device by min-label propagation along intact
same-phase links with pointer jumping (label ← label[label]) after each sweep, iterated to a fixed point in a
``lax.while_loop`` (the connected-components scheme of Y. Shiloach, U. Vishkin, J. Algorithms 3, 57 (1982),
in its label-propagation form); a test compares it with ``scipy.ndimage.label``.

Domain sizes are histogrammed in powers of two: bin k counts domains of 2ᵏ … 2ᵏ⁺¹ − 1 sites.

Where a transition nucleates. Every site falls in one class: *surface* (at least one exposed face: the
crystal surface, a void or a crack), *defect* (defective, not at a surface) or *bulk* (neither).
``class_open_fraction`` is the open fraction of each class and ``class_site_fraction`` the share of the
crystal's sites in it; a transition that starts at the surface shows the surface class switching frames
before the bulk (:func:`twin.analysis.nucleation_sites` turns the series into the share of newly switched
sites per class). ``phase_depth_mean_nm`` is the mean distance of the sites of each phase from the initial
crystal surface (small for the minority phase of a surface-nucleated transition).

Defects. ``defect_fraction`` is the share of crystal sites carrying the defect bit (initial defects plus
those created by hydrolysis) and ``defect_density_per_nm3`` the same per volume, defect_fraction / V_site
with V_site the site-cell volume a_x a_y a_z of the lattice (a defective block of b³ cells counts as b³
defective cells).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from twin.engine import model
from twin.engine.lattice import DIRECTIONS
from twin.trajectory import SummarySpec

__all__ = ["label_domains", "frame_summaries", "summary_specs", "N_SIZE_BINS"]

N_SIZE_BINS = 32


def label_domains(eta, links, periodic: bool):
    """Label of every site = smallest flat index in its coherent domain (−1 outside the crystal).

    Works on (nx, ny, nz) or a batch (n, nx, ny, nz) (flat indices over the whole array, so crystals never
    share labels). Returns int32 labels of the same shape.
    """
    shape = eta.shape
    n = int(np.prod(shape))
    inside = model.inside(links, jnp.float32) > 0
    phase = eta >= 0.5
    index = jnp.arange(n, dtype=jnp.int32).reshape(shape)
    big = jnp.int32(n)
    label0 = jnp.where(inside, index, big)
    same = []
    for k, (axis, offset) in enumerate(DIRECTIONS):
        ok = (model.link_bit(links, k, jnp.int32) > 0) & (phase == model.shift(phase, axis, offset, periodic))
        same.append(ok)

    def sweep(label):
        new = label
        for k, (axis, offset) in enumerate(DIRECTIONS):
            nb = model.shift(label, axis, offset, periodic)
            new = jnp.minimum(new, jnp.where(same[k], nb, big))
        flat = new.reshape(-1)
        safe = jnp.minimum(flat, n - 1)
        for _ in range(2):  # pointer jumping: follow labels to their (current) roots
            flat = jnp.where(flat < big, jnp.minimum(flat, flat[safe]), flat)
            safe = jnp.minimum(flat, n - 1)
        return flat.reshape(shape)

    def cond(carry):
        return carry[1]

    def body(carry):
        label, _ = carry
        new = sweep(label)
        return new, jnp.any(new != label)

    label, _ = jax.lax.while_loop(cond, body, (label0, jnp.asarray(True)))
    return jnp.where(inside, label, -1)


def summary_specs(phases: tuple[str, ...], guests: tuple[str, ...], n_crystals: int | None) -> dict[str, SummarySpec]:
    """Declared per-frame summaries (names, shapes, units) for the trajectory writer."""
    p, g = len(phases), len(guests)
    specs = {
        "phase_fraction": SummarySpec((p,), "float64", "1", "fraction of crystal sites in each phase (eta < 1/2 closed)"),
        "eta_mean": SummarySpec((p,), "float64", "1", "mean eta over the sites of each phase"),
        "eta_std": SummarySpec((p,), "float64", "1", "standard deviation of eta over the sites of each phase"),
        "loading": SummarySpec((g,), "float64", "1/cell", "mean guest loading per site cell (molecules)"),
        "domain_count": SummarySpec((p,), "int64", "1", "number of coherent domains of each phase"),
        "domain_size_mean": SummarySpec((p,), "float64", "cells", "volume-weighted mean domain size of each phase"),
        "domain_size_histogram": SummarySpec((p, N_SIZE_BINS), "int64", "1",
                                             "domains of each phase with 2^k..2^(k+1)-1 sites, k = 0..31"),
        "interface_area_nm2": SummarySpec((), "float64", "nm2", "area of phase boundaries inside the crystal(s)"),
        "broken_links": SummarySpec((), "int64", "1", "links broken by fragmentation"),
        "volume_mean_A3": SummarySpec((), "float64", "A3", "mean site-cell volume V_c + (V_o - V_c) h(eta)"),
        "defect_fraction": SummarySpec((), "float64", "1", "fraction of crystal sites with a defect (initial + hydrolysis)"),
        "defect_density_per_nm3": SummarySpec((), "float64", "1/nm3",
                                              "defects per volume: defect_fraction / site-cell volume"),
        "class_site_fraction": SummarySpec((3,), "float64", "1",
                                           "share of crystal sites that are surface (an exposed face), defect "
                                           "(not surface) and bulk sites"),
        "class_open_fraction": SummarySpec((3,), "float64", "1",
                                           "open-phase fraction of the surface, defect and bulk sites (NaN if none)"),
        "phase_depth_mean_nm": SummarySpec((p,), "float64", "nm",
                                           "mean distance of the sites of each phase from the initial crystal "
                                           "surface (NaN where a phase is absent)"),
    }
    if n_crystals is not None:
        specs["crystal_phase_fraction"] = SummarySpec((n_crystals, p), "float64", "1", "phase fractions of each crystal")
    return specs


def frame_summaries(eta, links, loading_per_guest, volume_A3, spacing_A, initial_links, periodic: bool,
                    block: int, batched: bool, depth_nm=None) -> dict[str, jax.Array]:
    """Summaries of one state (jit-able; returns small arrays the host writes per frame).

    Args:
        eta, links: fields, (nx, ny, nz) or (n, nx, ny, nz).
        loading_per_guest: loading of each guest per site [molecules per site cell], (n_guests, *eta.shape).
        volume_A3: site-cell volume of each phase, (n_phases,).
        spacing_A: site spacing (x, y, z) [Å]. initial_links: links at t = 0 (to count broken links).
        block: coarse-graining factor (domain sizes are reported in site cells: sites × b³).
        depth_nm: distance of every site from the initial crystal surface [nm] (same shape as ``eta``), or
            ``None`` (then ``phase_depth_mean_nm`` is NaN).
    """
    f32 = jnp.float32
    inside = model.inside(links, f32)
    open_ = (eta >= 0.5).astype(f32) * inside
    closed = inside - open_
    n_in = jnp.maximum(jnp.sum(inside), 1.0)
    fractions, means, stds = [], [], []
    for w in (closed, open_):
        cnt = jnp.sum(w)
        safe = jnp.maximum(cnt, 1.0)
        mean = jnp.sum(w * eta) / safe
        var = jnp.sum(w * (eta - mean) ** 2) / safe
        fractions.append(cnt / n_in)
        means.append(jnp.where(cnt > 0, mean, jnp.nan))
        stds.append(jnp.where(cnt > 0, jnp.sqrt(var), jnp.nan))
    loading = jnp.sum(loading_per_guest * inside[None], axis=tuple(range(1, loading_per_guest.ndim))) / n_in

    labels = label_domains(eta, links, periodic)
    flat = labels.reshape(-1)
    n = flat.shape[0]
    sizes = jax.ops.segment_sum(jnp.ones_like(flat), jnp.where(flat >= 0, flat, n), num_segments=n + 1)[:n]
    root_phase = open_.reshape(-1) > 0
    is_root = sizes > 0
    bins = jnp.clip(jnp.floor(jnp.log2(jnp.maximum(sizes, 1).astype(f32))).astype(jnp.int32), 0, N_SIZE_BINS - 1)
    counts, hists, mean_sizes = [], [], []
    cells_per_site = float(block) ** 3
    for ph in (~root_phase, root_phase):
        sel = is_root & ph
        counts.append(jnp.sum(sel.astype(jnp.int32)))
        hists.append(jax.ops.segment_sum(sel.astype(jnp.int32), bins, num_segments=N_SIZE_BINS))
        s = jnp.where(sel, sizes, 0).astype(f32)
        mean_sizes.append(jnp.sum(s * s) / jnp.maximum(jnp.sum(s), 1.0) * cells_per_site)

    area = jnp.zeros((), f32)
    broken = jnp.zeros((), jnp.int32)
    for axis in range(3):
        k = 2 * axis
        lk = model.link_bit(links, k, f32)
        differs = (open_ != model.shift(open_, axis, 1, periodic)).astype(f32)
        face_nm2 = float(np.prod([s for i, s in enumerate(spacing_A) if i != axis])) / 100.0
        area = area + face_nm2 * jnp.sum(lk * differs)
        broken = broken + jnp.sum((model.link_bit(initial_links, k, jnp.int32) - model.link_bit(links, k, jnp.int32)))
    h = model.smoothstep(jnp.clip(eta, 0.0, 1.0))
    vol = jnp.sum(inside * (volume_A3[0] + (volume_A3[-1] - volume_A3[0]) * h)) / n_in
    defective = model.defect(links, f32) * inside
    defect_fraction = jnp.sum(defective) / n_in
    site_nm3 = float(np.prod(spacing_A)) / float(block) ** 3 / 1000.0
    surface = (model.exposed_faces(links, f32) > 0).astype(f32) * inside
    defect_only = defective * (1.0 - surface)
    classes = (surface, defect_only, inside - surface - defect_only)
    class_sites = jnp.stack([jnp.sum(c) for c in classes])
    class_open = jnp.stack([jnp.sum(c * open_) for c in classes])
    depths = []
    for w in (closed, open_):
        cnt = jnp.sum(w)
        if depth_nm is None:
            depths.append(jnp.asarray(jnp.nan, f32))
        else:
            depths.append(jnp.where(cnt > 0, jnp.sum(w * depth_nm) / jnp.maximum(cnt, 1.0), jnp.nan))
    out = {
        "defect_fraction": defect_fraction,
        "defect_density_per_nm3": defect_fraction / site_nm3,
        "class_site_fraction": class_sites / n_in,
        "class_open_fraction": jnp.where(class_sites > 0, class_open / jnp.maximum(class_sites, 1.0), jnp.nan),
        "phase_depth_mean_nm": jnp.stack(depths),
        "phase_fraction": jnp.stack(fractions),
        "eta_mean": jnp.stack(means),
        "eta_std": jnp.stack(stds),
        "loading": loading,
        "domain_count": jnp.stack(counts),
        "domain_size_mean": jnp.stack(mean_sizes),
        "domain_size_histogram": jnp.stack(hists),
        "interface_area_nm2": area,
        "broken_links": broken,
        "volume_mean_A3": vol,
    }
    if batched:
        spatial = tuple(range(1, eta.ndim))
        n_c = jnp.maximum(jnp.sum(inside, axis=spatial), 1.0)
        out["crystal_phase_fraction"] = jnp.stack([jnp.sum(closed, axis=spatial) / n_c,
                                                   jnp.sum(open_, axis=spatial) / n_c], axis=-1)
    return out
