r"""Seeded generators of crystal heterogeneity: point defects, correlated defect nanoregions, mesopores,
and powder size distributions.

All generators are pure functions of an explicit ``jax.random`` key and return per-site arrays on the
lattice (``(nx, ny, nz)``), so the same seed gives the same crystal on every device.

* **Point defects** (missing linker / missing node): each site is defective independently with probability
  c (Bernoulli), the picture of randomly distributed vacancies used for UiO-66 and MIL-53 defect engineering
  (review in ``shared/background``, section on defects).
* **Correlated defect nanoregions**: a Gaussian random field with squared-exponential covariance
  :math:`C(r) = \exp(-r^2 / 2\ell^2)` (r, ℓ in Å, anisotropic through the cell edges) thresholded at the
  quantile that gives the requested volume fraction — the clustered "correlated disorder" nanoregions seen by
  diffuse scattering in UiO-66(Hf) (Cliffe et al., Nat. Commun. 5, 4176 (2014)). The field is drawn by
  spectral filtering of white noise, :math:`\hat\phi(k) = \hat w(k)\,\exp(-k^2\ell^2/4)`, on the periodic
  box of the lattice; regions therefore wrap around the box edges, which the crystal mask then cuts.
* **Mesopores (voids)**: the same construction with an independent key, removed from the crystal mask.
* **Powder sizes**: log-normal edge lengths :math:`L_i = L_{med}\,a\,e^{\sigma z_i}` (one z per crystal,
  shape kept through the aspect vector a).

Validation (at the edge, once): concentrations and fractions in [0, 1), correlation lengths of at least one
cell, positive distribution widths — each error names the scenario key. The scenario parser checks the ranges;
:func:`validate_heterogeneity` is called again when a run is prepared (:class:`twin.engine.run.Prepared`),
where the material's site cell is known. The engine's own geometry (``twin.engine.lattice.build_geometry``) draws
the same kinds of heterogeneity with NumPy on the host.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from twin.errors import ScenarioError
from twin.scenario import Heterogeneity, SizeDistribution

__all__ = [
    "DEFECT_NONE",
    "DEFECT_POINT",
    "DEFECT_REGION",
    "gaussian_random_field",
    "threshold_to_fraction",
    "point_defects",
    "defect_map",
    "void_mask",
    "powder_sizes_A",
    "validate_heterogeneity",
]

DEFECT_NONE, DEFECT_POINT, DEFECT_REGION = 0, 1, 2


def gaussian_random_field(
    key: Array, shape: tuple[int, int, int], correlation_cells: tuple[float, float, float]
) -> Float[Array, "nx ny nz"]:
    r"""Unit-variance Gaussian random field with covariance :math:`\exp(-\sum_d r_d^2 / 2\ell_d^2)`.

    Args:
        key: PRNG key.
        shape: lattice shape (nx, ny, nz).
        correlation_cells: ℓ along each axis in lattice spacings (ℓ_Å / cell edge), each ≥ 1.

    Returns:
        Field of zero mean and unit variance (normalised on the realisation), float32, periodic in the box.
    """
    white = jax.random.normal(key, shape, dtype=jnp.float32)
    spectrum = jnp.fft.rfftn(white)
    k2 = jnp.zeros(spectrum.shape, dtype=jnp.float32)
    for axis, (n, ell) in enumerate(zip(shape, correlation_cells)):
        freq = jnp.fft.rfftfreq(n) if axis == 2 else jnp.fft.fftfreq(n)
        k = (2.0 * jnp.pi * freq).astype(jnp.float32) * jnp.float32(ell)
        expand = [1, 1, 1]
        expand[axis] = k.shape[0]
        k2 = k2 + (k**2).reshape(expand)
    field = jnp.fft.irfftn(spectrum * jnp.exp(-k2 / 4.0).astype(spectrum.dtype), s=shape).astype(jnp.float32)
    field = field - field.mean()
    return field / jnp.maximum(field.std(), jnp.float32(1e-12))


def threshold_to_fraction(field: Float[Array, "..."], fraction: float) -> Bool[Array, "..."]:
    """Sites where ``field`` lies in its top ``fraction`` (exact on the realisation up to ties)."""
    if fraction <= 0.0:
        return jnp.zeros(field.shape, dtype=bool)
    level = jnp.quantile(field.ravel(), 1.0 - fraction)
    return field > level


def point_defects(key: Array, shape: tuple[int, ...], concentration: float) -> Bool[Array, "..."]:
    """Independent point defects: each site defective with probability ``concentration``."""
    return jax.random.bernoulli(key, concentration, shape)


def _cells(length_A: float, cell_A: tuple[float, float, float]) -> tuple[float, float, float]:
    return tuple(float(length_A) / float(a) for a in cell_A)  # type: ignore[return-value]


def defect_map(
    key: Array, shape: tuple[int, int, int], heterogeneity: Heterogeneity, cell_A: tuple[float, float, float]
) -> Array:
    """Per-site defect class (int8): 0 none, 1 point defect, 2 inside a correlated nanoregion.

    Nanoregions take precedence over point defects where both fall on a site.
    """
    validate_heterogeneity(heterogeneity, cell_A)
    k_point, k_region = jax.random.split(key)
    classes = jnp.where(point_defects(k_point, shape, heterogeneity.defect_concentration), DEFECT_POINT, DEFECT_NONE)
    if heterogeneity.nanoregion_fraction > 0.0:
        grf = gaussian_random_field(k_region, shape, _cells(heterogeneity.correlation_length_A, cell_A))
        classes = jnp.where(threshold_to_fraction(grf, heterogeneity.nanoregion_fraction), DEFECT_REGION, classes)
    return classes.astype(jnp.int8)


def void_mask(
    key: Array, shape: tuple[int, int, int], heterogeneity: Heterogeneity, cell_A: tuple[float, float, float]
) -> Bool[Array, "nx ny nz"]:
    """Sites removed as mesopores (True = void), correlated over ``correlation_length`` (or one cell)."""
    if heterogeneity.void_fraction <= 0.0:
        return jnp.zeros(shape, dtype=bool)
    length = heterogeneity.correlation_length_A or max(cell_A)
    grf = gaussian_random_field(key, shape, _cells(length, cell_A))
    return threshold_to_fraction(grf, heterogeneity.void_fraction)


def powder_sizes_A(key: Array, distribution: SizeDistribution) -> np.ndarray:
    """Edge lengths (n_crystals, 3) [Å] of a powder drawn from the log-normal distribution."""
    if not distribution.width > 0.0:
        raise ScenarioError(f"crystal.distribution.width: expected a positive width, got {distribution.width}")
    z = np.asarray(jax.random.normal(key, (distribution.n_crystals,), dtype=jnp.float32), dtype=np.float64)
    scale = distribution.median_A * np.exp(distribution.width * z)
    return scale[:, None] * np.asarray(distribution.aspect, dtype=np.float64)[None, :]


def validate_heterogeneity(heterogeneity: Heterogeneity, cell_A: tuple[float, float, float], source: str = "") -> None:
    """Check values against the lattice (the scenario parser has checked ranges already).

    Args:
        heterogeneity: the scenario's heterogeneity.
        cell_A: site-cell edges [Å] of the material.
        source: file name that prefixes the messages (``"run.toml"``), or nothing.

    Raises:
        ScenarioError: naming ``heterogeneity.<key>``, the expected form and the value found.
    """
    h = heterogeneity
    prefix = f"{source}: " if source else ""
    for name in ("defect_concentration", "nanoregion_fraction", "void_fraction"):
        value = getattr(h, name)
        if not 0.0 <= value < 1.0:
            raise ScenarioError(f"{prefix}heterogeneity.{name}: expected a fraction in [0, 1), got {value}")
    if h.correlation_length_A is not None and h.correlation_length_A < min(cell_A):
        raise ScenarioError(
            f"{prefix}heterogeneity.correlation_length: expected at least one lattice cell ({min(cell_A):.3g} Å, the "
            f"shortest site edge), got {h.correlation_length_A:.3g} Å"
        )
