r"""Multislice HRTEM: plane wave through a slab, objective lens, detector with dose, shot noise and MTF (JAX).

The multislice (Cowley & Moodie, Acta Cryst. 10, 609 (1957); Kirkland 2010, ch. 6), one slice n of thickness Δz:

.. math:: \psi_{n+1}(\mathbf r) = \mathcal F^{-1}\!\left[P(\mathbf k)\,\mathcal F\left[t_n(\mathbf r)\,\psi_n(\mathbf r)\right]\right],
   \quad t_n = e^{i\sigma v_n(\mathbf r)}, \quad P(\mathbf k) = e^{-i\pi\lambda\Delta z k^2 + 2\pi i\Delta z(k_x\tan\theta_x + k_y\tan\theta_y)},

σ the relativistic interaction constant (:func:`instruments.tem.ctf.interaction_constant`), v_n the projected
potential of the slice [V·Å] (:func:`instruments.tem.potentials.slice_potentials`), θ a small specimen tilt, ψ₀ = 1
(plane wave, normalised to mean intensity 1). Anti-aliasing (Kirkland 2010, §6.8): the potential, the transmission
functions and the propagator are limited to |k| ≤ k_max = (2/3)·(1/(2Δx)) = 1/(3Δx) (the "2/3 band limit"), so that
the product t·ψ never wraps around the grid. With ``band_limit=False`` nothing is cut and P, t are unitary: the
norm of ψ is conserved to rounding (the test of the propagation).

Sampling rules, checked before anything runs (:func:`check_sampling`, :class:`~mofcore.errors.DataFormatError`):
the band limit must reach both the objective aperture (k_max ≥ α_ap/λ) and ``k_needed_inv_A`` (default 2 Å⁻¹,
where Kirkland's f_e of carbon has fallen to 4.7 % of f_e(0)) — a sampling coarser than that cannot represent
atomic potentials. Grid sizes are the smallest 2^a 3^b 5^c 7^d ≥ the extent / requested sampling
(:func:`fft_size`), and the sampling is the extent divided by that size (never coarser than asked).

Image formation: ψ_img = F⁻¹[ψ̂_exit · T(k)] with the wave transfer function T of
:class:`instruments.tem.ctf.Lens` (defocus, C_s, aperture, temporal and spatial envelopes; Δf < 0 underfocus), and
I = |ψ_img|² (vacuum = 1). Defocus series are ``jax.vmap`` over Δf. Detector: expected counts per pixel
N = D · Δx Δy · I with D the dose [e⁻/Å²]; recorded counts are Poisson(N) (``jax.random.poisson``, seeded), then
blurred by the detector MTF (the point spread of each detected electron, applied after the noise),

.. math:: \mathrm{MTF}(\nu) = \frac{1 - c}{1 + (\nu/\nu_0)^n} + c ,

ν the spatial frequency in units of the detector Nyquist frequency — a generic parametric form of the kind
fitted to CCD/CMOS camera MTFs, not a particular camera; (c, ν₀, n) from the instrument file, default perfect
(MTF = 1). The image is mapped to the detector pixel grid one to one (magnification folded into the sampling).

Tilt series: :func:`exit_waves_tilted` (vmap over propagators). Thermal diffuse scattering:
:func:`frozen_phonon_images` (Einstein-model frozen phonons). Left out: inelastic scattering and beam damage
(the dose only sets the noise), non-linear partial coherence, the camera's gain and dark noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from instruments.tem.ctf import Lens, interaction_constant, jax_lax_complex, wavelength_A
from instruments.tem.potentials import slice_potentials
from instruments.tem.specimen import Specimen
from mofcore.errors import DataFormatError

__all__ = ["fft_size", "Grid", "check_sampling", "make_grid", "transmission_functions", "propagator",
           "multislice", "exit_wave", "lens_image", "detect", "mtf", "Detector", "HRTEMResult", "hrtem",
           "delocalisation_A", "hrtem_tiled", "exit_waves_tilted", "unrolled", "frozen_phonon_images"]


def fft_size(n: int) -> int:
    """The smallest even 2^a 3^b 5^c 7^d ≥ n (FFT-friendly)."""
    n = max(2, int(n))
    while True:
        m = n
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        if m == 1 and n % 2 == 0:
            return n
        n += 1


@dataclass(frozen=True)
class Grid:
    """A periodic sampling grid: ``shape`` (ny, nx), ``extent_A`` (Lx, Ly), sampling (Δx, Δy) [Å]."""

    shape: tuple[int, int]
    extent_A: tuple[float, float]

    @property
    def sampling_A(self) -> tuple[float, float]:
        return (self.extent_A[0] / self.shape[1], self.extent_A[1] / self.shape[0])

    @property
    def k_max_inv_A(self) -> float:
        """The 2/3 band limit 1/(3 max(Δx, Δy)) [Å⁻¹]."""
        return 1.0 / (3.0 * max(self.sampling_A))

    def k_inv_A(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kx (1, nx), ky (ny, 1), |k| (ny, nx)) [Å⁻¹], FFT order."""
        ny, nx = self.shape
        kx = np.fft.fftfreq(nx, d=self.sampling_A[0]).reshape(1, nx)
        ky = np.fft.fftfreq(ny, d=self.sampling_A[1]).reshape(ny, 1)
        return kx, ky, np.sqrt(kx**2 + ky**2)


def check_sampling(sampling_A: float, wavelength: float, aperture_mrad: float, k_needed_inv_A: float = 2.0,
                   where: str = "sampling") -> None:
    """Raise :class:`DataFormatError` when the 2/3 band limit 1/(3Δx) misses the aperture or ``k_needed_inv_A``."""
    if not sampling_A > 0:
        raise DataFormatError(f"{where}: expected a sampling > 0 Å, got {sampling_A:g} Å")
    k_max = 1.0 / (3.0 * sampling_A)
    need = k_needed_inv_A
    why = f"the atomic potentials need {k_needed_inv_A:g} 1/Å"
    if math.isfinite(aperture_mrad) and aperture_mrad * 1e-3 / wavelength > need:
        need = aperture_mrad * 1e-3 / wavelength
        why = f"the objective aperture of {aperture_mrad:g} mrad passes {need:.3g} 1/Å"
    if k_max < need * (1 - 1e-9):
        raise DataFormatError(f"{where}: {sampling_A:g} Å is too coarse: the anti-aliasing (2/3) band limit "
                              f"1/(3·Δx) = {k_max:.3g} 1/Å but {why}; use a sampling ≤ {1 / (3 * need):.3g} Å")


def make_grid(extent_A: tuple[float, float], sampling_A: float) -> Grid:
    """FFT-friendly grid over ``extent_A`` with a sampling no coarser than ``sampling_A``."""
    nx = fft_size(math.ceil(extent_A[0] / sampling_A - 1e-9))
    ny = fft_size(math.ceil(extent_A[1] / sampling_A - 1e-9))
    return Grid((ny, nx), (float(extent_A[0]), float(extent_A[1])))


def transmission_functions(specimen: Specimen, grid: Grid, voltage_V: float, n_slices_per_repeat: int,
                           band_limit: bool = True):
    """t_n = exp(iσ v_n) of the slices of one repeat, band-limited, (n_slices, ny, nx) complex64 (JAX)."""
    import jax.numpy as jnp

    dz = specimen.repeat_A / n_slices_per_repeat
    sl = np.minimum((specimen.xyz_A[:, 2] // dz).astype(np.int64), n_slices_per_repeat - 1)
    k_max = grid.k_max_inv_A if band_limit else None
    v = slice_potentials(specimen.xyz_A[:, :2], sl, specimen.symbols, specimen.species_index, n_slices_per_repeat,
                         specimen.extent_A, grid.shape, k_max)
    sigma = interaction_constant(voltage_V)
    t = jax_lax_complex(jnp.cos(sigma * v), jnp.sin(sigma * v))
    if band_limit:
        mask = jnp.asarray(grid.k_inv_A()[2] <= k_max)
        t = jnp.fft.ifft2(jnp.where(mask[None], jnp.fft.fft2(t), 0))
    return t.astype(jnp.complex64)


def propagator(grid: Grid, wavelength: float, dz_A: float, tilt_mrad: tuple[float, float] = (0.0, 0.0),
               band_limit: bool = True):
    """Fresnel propagator P(k) over Δz with a small tilt, band-limited to 1/(3Δx) unless ``band_limit=False``."""
    import jax.numpy as jnp

    kx, ky, k = grid.k_inv_A()
    phase = -math.pi * wavelength * dz_A * k**2 + 2 * math.pi * dz_A * (kx * math.tan(tilt_mrad[0] * 1e-3)
                                                                       + ky * math.tan(tilt_mrad[1] * 1e-3))
    p = np.exp(1j * phase)
    if band_limit:
        p = p * (k <= grid.k_max_inv_A)
    return jnp.asarray(p.astype(np.complex64))


def multislice(psi0, transmission, prop, n_repeats: int):
    """ψ after ``n_repeats`` passes through the slices ``transmission`` (n_slices, ny, nx): jit + lax.scan."""
    return _multislice(psi0, transmission, prop, n_repeats)


@partial(__import__("jax").jit, static_argnums=3)
def _multislice(psi0, transmission, prop, n_repeats):
    import jax
    import jax.numpy as jnp

    def one_slice(psi, t):
        return jnp.fft.ifft2(jnp.fft.fft2(psi * t) * prop), None

    def one_repeat(psi, _):
        return jax.lax.scan(one_slice, psi, transmission)[0], None

    return jax.lax.scan(one_repeat, psi0, None, length=n_repeats)[0]


def exit_wave(specimen: Specimen, grid: Grid, voltage_V: float, *, slice_thickness_A: float = 2.0,
              tilt_mrad: tuple[float, float] = (0.0, 0.0), band_limit: bool = True):
    """The exit wave of a plane wave (ψ₀ = 1) through ``specimen``, (ny, nx) complex64."""
    import jax.numpy as jnp

    if not slice_thickness_A > 0:
        raise DataFormatError(f"slice_thickness: expected > 0 Å, got {slice_thickness_A:g} Å")
    n_sl = max(1, round(specimen.repeat_A / slice_thickness_A))
    t = transmission_functions(specimen, grid, voltage_V, n_sl, band_limit)
    prop = propagator(grid, wavelength_A(voltage_V), specimen.repeat_A / n_sl, tilt_mrad, band_limit)
    return multislice(jnp.ones(grid.shape, jnp.complex64), t, prop, specimen.n_repeats)


def lens_image(psi_exit, grid: Grid, lens: Lens, defocus_A):
    """I(r) = |F⁻¹[ψ̂ T(k; Δf)]|²: (ny, nx) for a scalar Δf, (n_defoci, ny, nx) for an array (vmap)."""
    import jax.numpy as jnp

    k = jnp.asarray(grid.k_inv_A()[2].astype(np.float32))
    df = jnp.asarray(defocus_A, dtype=jnp.float32)
    return _lens_images(jnp.asarray(psi_exit), k, lens, df.reshape(-1))[0] if df.ndim == 0 else \
        _lens_images(jnp.asarray(psi_exit), k, lens, df)


@partial(__import__("jax").jit, static_argnums=2)
def _lens_images(psi, k, lens, dfs):
    import jax
    import jax.numpy as jnp

    spectrum = jnp.fft.fft2(psi)
    return jax.vmap(lambda df: jnp.abs(jnp.fft.ifft2(spectrum * lens.transfer(k, df))) ** 2)(dfs)


@dataclass(frozen=True)
class Detector:
    """Dose [e⁻/Å²] (> 0), seed of the shot noise, and the MTF parameters (c, ν₀ in Nyquist units, n)."""

    dose_e_per_A2: float = 20.0
    seed: int = 0
    mtf_c: float = 0.0
    mtf_nu0: float = math.inf
    mtf_n: float = 2.0

    def __post_init__(self) -> None:
        if not self.dose_e_per_A2 > 0:
            raise DataFormatError(f"dose: expected a dose > 0 e/Å², got {self.dose_e_per_A2:g}")


def mtf(shape: tuple[int, int], detector: Detector) -> np.ndarray:
    """MTF(ν) on the FFT grid of ``shape`` (ν in Nyquist units, 1 at ν = 0), (ny, nx) float32."""
    ny, nx = shape
    nu = np.sqrt((np.fft.fftfreq(nx) * 2).reshape(1, nx) ** 2 + (np.fft.fftfreq(ny) * 2).reshape(ny, 1) ** 2)
    if not math.isfinite(detector.mtf_nu0):
        return np.ones(shape, np.float32)
    return ((1 - detector.mtf_c) / (1 + (nu / detector.mtf_nu0) ** detector.mtf_n) + detector.mtf_c).astype(np.float32)


def detect(intensity, grid: Grid, detector: Detector):
    """Counts per pixel: Poisson(D·ΔxΔy·I) (seeded), blurred by the MTF; same shape as ``intensity`` (float32)."""
    import jax
    import jax.numpy as jnp

    expected = intensity * np.float32(detector.dose_e_per_A2 * grid.sampling_A[0] * grid.sampling_A[1])
    counts = jax.random.poisson(jax.random.key(detector.seed), expected).astype(jnp.float32)
    m = jnp.asarray(mtf(grid.shape, detector))
    if bool(np.all(np.asarray(m) == 1)):
        return counts
    return jnp.real(jnp.fft.ifft2(jnp.fft.fft2(counts) * jax_lax_complex(m, jnp.zeros_like(m)))).astype(jnp.float32)


@dataclass(frozen=True)
class HRTEMResult:
    """An HRTEM simulation: exit wave, noiseless image(s), recorded counts, the grid and the figures used."""

    exit_wave: object
    image: object
    counts: object
    grid: Grid
    defocus_A: object


def hrtem(specimen: Specimen, lens: Lens, detector: Detector, *, sampling_A: float = 0.1,
          slice_thickness_A: float = 2.0, defocus_A=None, k_needed_inv_A: float = 2.0,
          max_pixels: int = 2048 * 2048, tile_px: int = 1024) -> HRTEMResult:
    """Exit wave, lens image and detected counts of ``specimen`` (``defocus_A``: scalar or array; default: the
    lens's). A periodic field of more than ``max_pixels`` pixels at one defocus is computed in tiles of
    ``tile_px``² (:func:`hrtem_tiled`, memory-bounded; ``exit_wave`` is then ``None``)."""
    lam = wavelength_A(lens.voltage_V)
    grid = make_grid(specimen.extent_A, sampling_A)
    check_sampling(max(grid.sampling_A), lam, lens.aperture_mrad, k_needed_inv_A)
    if grid.shape[0] * grid.shape[1] > max_pixels and specimen.periodic and np.ndim(defocus_A) == 0:
        tiled_lens = lens if defocus_A is None else replace(lens, defocus_A=float(defocus_A))
        return hrtem_tiled(specimen, tiled_lens, detector, sampling_A=sampling_A, slice_thickness_A=slice_thickness_A,
                           tile_px=tile_px, k_needed_inv_A=k_needed_inv_A)
    psi = exit_wave(specimen, grid, lens.voltage_V, slice_thickness_A=slice_thickness_A)
    df = lens.defocus_A if defocus_A is None else defocus_A
    image = lens_image(psi, grid, lens, df)
    return HRTEMResult(psi, image, detect(image, grid, detector), grid, df)


def delocalisation_A(lens: Lens, k_max_inv_A: float, thickness_A: float) -> float:
    """How far a pixel's signal spreads [Å]: the lens (max over k ≤ k_max of |∂χ/∂k|/2π = |λΔf k + C_sλ³k³|) plus
    the beam spread through the slab (t·λ·k_max)."""
    lam = wavelength_A(lens.voltage_V)
    k_ap = min(k_max_inv_A, lens.aperture_mrad * 1e-3 / lam) if math.isfinite(lens.aperture_mrad) else k_max_inv_A
    k = np.linspace(0.0, k_ap, 512)
    lensd = float(np.max(np.abs(lam * lens.defocus_A * k + lens.cs_A * lam**3 * k**3)))
    return lensd + thickness_A * lam * k_max_inv_A


def _window(spec: Specimen, x0: float, y0: float, w: float, h: float) -> Specimen:
    """The atoms of the periodic ``spec`` inside [x0, x0+w) × [y0, y0+h) (wrapped), shifted to the origin."""
    lx, ly = spec.extent_A
    xy = spec.xyz_A[:, :2]
    sx = np.mod(xy[:, 0] - x0, lx)
    sy = np.mod(xy[:, 1] - y0, ly)
    keep = (sx < w) & (sy < h)
    # a window wider than the field takes periodic copies
    reps_x, reps_y = int(math.ceil(w / lx)), int(math.ceil(h / ly))
    parts, species = [], []
    for i in range(reps_x + 1):
        for j in range(reps_y + 1):
            px, py = sx + i * lx, sy + j * ly
            k = (px < w) & (py < h)
            parts.append(np.column_stack([px[k], py[k], spec.xyz_A[k, 2]]))
            species.append(spec.species_index[k])
    del keep
    return Specimen(np.concatenate(parts), np.concatenate(species), spec.symbols, (w, h), spec.repeat_A,
                    spec.n_repeats, False, spec.zone, spec.cell_2d_A)


def hrtem_tiled(specimen: Specimen, lens: Lens, detector: Detector, *, sampling_A: float = 0.1,
                slice_thickness_A: float = 2.0, tile_px: int = 512, margin_A: float | None = None,
                k_needed_inv_A: float = 2.0) -> HRTEMResult:
    """:func:`hrtem` of a large field in tiles, memory-bounded (plane-wave illumination, periodic ``specimen``).

    Each tile of ``tile_px``² pixels (FFT-friendly) is its own multislice and lens calculation over its core plus
    a margin on every side at least the delocalisation (:func:`delocalisation_A`, default), and only the core is
    kept: peak memory is that of one tile (its transmission functions and waves), independent of the field. The
    shot noise is drawn once over the stitched image. The exit wave of the whole field is not kept
    (``exit_wave`` is ``None``). The sampling is that of :func:`make_grid` over the whole field.
    """
    import jax.numpy as jnp

    lam = wavelength_A(lens.voltage_V)
    full = make_grid(specimen.extent_A, sampling_A)
    dx, dy = full.sampling_A
    check_sampling(max(dx, dy), lam, lens.aperture_mrad, k_needed_inv_A)
    margin = delocalisation_A(lens, full.k_max_inv_A, specimen.thickness_A) + 5.0 if margin_A is None else margin_A
    mx, my = int(math.ceil(margin / dx)), int(math.ceil(margin / dy))
    tile_px = fft_size(tile_px)
    cx, cy = tile_px - 2 * mx, tile_px - 2 * my
    if cx < 16 or cy < 16:
        raise DataFormatError(f"tile_px: {tile_px} pixels leave no core inside margins of {margin:.0f} Å "
                              f"({mx} pixels); use tiles of at least {fft_size(2 * max(mx, my) + 64)} pixels")
    ny, nx = full.shape
    image = np.zeros((ny, nx), np.float32)
    for y0 in range(0, ny, cy):
        for x0 in range(0, nx, cx):
            spec = _window(specimen, (x0 - mx) * dx, (y0 - my) * dy, tile_px * dx, tile_px * dy)
            grid = Grid((tile_px, tile_px), (tile_px * dx, tile_px * dy))
            psi = exit_wave(spec, grid, lens.voltage_V, slice_thickness_A=slice_thickness_A)
            tile = np.asarray(lens_image(psi, grid, lens, lens.defocus_A))
            h, w = min(cy, ny - y0), min(cx, nx - x0)
            image[y0:y0 + h, x0:x0 + w] = tile[my:my + h, mx:mx + w]
    img = jnp.asarray(image)
    return HRTEMResult(None, img, detect(img, full, detector), full, lens.defocus_A)


def exit_waves_tilted(specimen: Specimen, grid: Grid, voltage_V: float, tilts_mrad, *,
                      slice_thickness_A: float = 2.0, band_limit: bool = True):
    """Exit waves for a series of small beam tilts (n_tilts, 2) [mrad], one ``vmap`` over the propagators:
    (n_tilts, ny, nx) complex64. The potential is computed once."""
    import jax
    import jax.numpy as jnp

    n_sl = max(1, round(specimen.repeat_A / slice_thickness_A))
    t = transmission_functions(specimen, grid, voltage_V, n_sl, band_limit)
    lam = wavelength_A(voltage_V)
    tilts = np.asarray(tilts_mrad, dtype=np.float64).reshape(-1, 2)
    props = jnp.stack([propagator(grid, lam, specimen.repeat_A / n_sl, (float(a), float(b)), band_limit)
                       for a, b in tilts])
    psi0 = jnp.ones(grid.shape, jnp.complex64)
    return jax.vmap(lambda p: _multislice(psi0, t, p, specimen.n_repeats))(props)


def unrolled(specimen: Specimen) -> Specimen:
    """The whole slab as one repeat (atoms of every repeat stacked along z), so that each repeat can carry its own
    thermal displacements."""
    n = specimen.n_repeats
    xyz = np.concatenate([specimen.xyz_A + np.array([0.0, 0.0, r * specimen.repeat_A]) for r in range(n)])
    return replace(specimen, xyz_A=xyz, species_index=np.tile(specimen.species_index, n),
                   repeat_A=specimen.repeat_A * n, n_repeats=1)


def frozen_phonon_images(specimen: Specimen, grid: Grid, lens: Lens, *, u_iso_A2: float, n_configs: int,
                         seed: int = 0, slice_thickness_A: float = 2.0, defocus_A=None):
    """Frozen-phonon HRTEM (Loane, Xu & Silcox, Acta Cryst. A47, 267 (1991); Kirkland 2010, §7.5): the intensity
    averaged over ``n_configs`` configurations whose atoms are displaced by independent Gaussians of variance
    ``u_iso_A2`` [Å²] along x, y and z (Einstein model; the same U for every element). Returns
    (mean image (ny, nx) or (n_defoci, ny, nx), coherent mean exit wave ⟨ψ⟩ (ny, nx)). The slab is unrolled so
    that every repeat along the beam gets its own displacements."""
    import jax.numpy as jnp

    if not u_iso_A2 >= 0:
        raise DataFormatError(f"u_iso: expected a mean-square displacement ≥ 0 Å², got {u_iso_A2:g}")
    if n_configs < 1:
        raise DataFormatError(f"n_configs: expected ≥ 1, got {n_configs}")
    flat = unrolled(specimen)
    n_sl = max(1, round(specimen.repeat_A / slice_thickness_A)) * specimen.n_repeats
    rng = np.random.default_rng(seed)
    lam = wavelength_A(lens.voltage_V)
    prop = propagator(grid, lam, flat.repeat_A / n_sl)
    df = lens.defocus_A if defocus_A is None else defocus_A
    image_sum, psi_sum = None, None
    for _ in range(n_configs):
        moved = replace(flat, xyz_A=flat.xyz_A + rng.normal(0.0, math.sqrt(u_iso_A2), flat.xyz_A.shape))
        moved = replace(moved, xyz_A=np.column_stack([moved.xyz_A[:, :2],
                                                      np.clip(moved.xyz_A[:, 2], 0.0, flat.repeat_A - 1e-6)]))
        t = transmission_functions(moved, grid, lens.voltage_V, n_sl)
        psi = _multislice(jnp.ones(grid.shape, jnp.complex64), t, prop, 1)
        img = lens_image(psi, grid, lens, df)
        image_sum = img if image_sum is None else image_sum + img
        psi_sum = psi if psi_sum is None else psi_sum + psi
    return image_sum / n_configs, psi_sum / n_configs
