r"""Powder averaging: directions of the magnetic field in the molecular frame, by the ZCW scheme.

A static powder spectrum of a second-rank interaction (the first-order quadrupolar splitting of ²H) depends on
the direction :math:`\hat b` of :math:`B_0` in the molecular frame only, not on a rotation about it, and
:math:`\omega(\hat b) = \omega(-\hat b)`: the average runs over a hemisphere of directions. The directions are the
Zaremba–Conroy–Wolfsberg (ZCW) set in the form of Edén and Levitt, with N a Fibonacci number
:math:`F_{M+2}` and the generator :math:`g = F_M`,

.. math::
    \alpha_j = \frac{2\pi}{c_3}\,\bigl(j\,g/N \bmod 1\bigr),\qquad
    \cos\beta_j = c_1\bigl(c_2\,(j/N \bmod 1) - 1\bigr),\qquad j = 0 \dots N-1,

(:math:`c = (1, 2, 1)` for the sphere, :math:`(-1, 1, 1)` for the hemisphere :math:`\cos\beta \in (0, 1]`,
:math:`(-1, 1, 4)` for the octant :math:`x, y, z > 0`), all of equal weight 1/N. The octant is enough when the
set of site tensors is mapped onto itself by each sign change of a coordinate (D2h site symmetry: a rigid
tensor, π-flips, even-n cones, tetrahedral jumps, uniaxial averages); it packs four times as many directions into
the same count. The points are quasi-uniform on the sphere (a lattice rule), so the error of an average of
a smooth function falls faster than :math:`N^{-1/2}`; the convergence of a spectrum with N is shown by
:func:`instruments.nmr.deuterium.powder_convergence`.

References: S. K. Zaremba, Ann. Mat. Pura Appl. 73, 293 (1966); H. Conroy, J. Chem. Phys. 47, 5307 (1967);
V. B. Cheng, H. H. Suzukawa, M. Wolfsberg, J. Chem. Phys. 59, 3992 (1973); M. Edén, M. H. Levitt,
J. Magn. Reson. 132, 220 (1998), Table 1 (the constants c).

Left out: interpolation between orientations (the ASG/SPINEVOLUTION tent or triangle schemes); the line
broadening applied to every spectrum hides the residual graininess at the default N (docs/nmr.md).
"""

from __future__ import annotations

import numpy as np

from mofcore.errors import DataFormatError

__all__ = ["ZCW_SIZES", "DOMAINS", "zcw_size", "zcw_orientations"]


def _fibonacci(count: int) -> list[int]:
    values = [1, 1]
    while len(values) < count:
        values.append(values[-1] + values[-2])
    return values


_FIB = _fibonacci(30)
#: the sizes N of ZCW sets, F_(M+2) for M = 4 … 26 (8 … 196418)
ZCW_SIZES: tuple[int, ...] = tuple(_FIB[m + 2] for m in range(4, 27))


def zcw_size(n_min: int) -> int:
    """The smallest ZCW set size N ≥ ``n_min`` (a Fibonacci number, 8 … 196418).

    Raises:
        DataFormatError: ``n_min`` not a positive integer or above the largest set.
    """
    if isinstance(n_min, bool) or not isinstance(n_min, (int, np.integer)) or n_min < 1:
        raise DataFormatError(f"orientations: expected a positive number of powder orientations, got {n_min!r}")
    for size in ZCW_SIZES:
        if size >= n_min:
            return size
    raise DataFormatError(f"orientations: at most {ZCW_SIZES[-1]} powder orientations, got {n_min}")


#: the ZCW constants (c1, c2, c3) of each integration domain (Edén & Levitt 1998, Table 1)
DOMAINS: dict[str, tuple[float, float, float]] = {"sphere": (1.0, 2.0, 1.0), "hemisphere": (-1.0, 1.0, 1.0),
                                                  "octant": (-1.0, 1.0, 4.0)}


def zcw_orientations(n_min: int, domain: str = "hemisphere") -> tuple[np.ndarray, np.ndarray]:
    r"""The ZCW directions (module docstring) of the smallest set with at least ``n_min`` points.

    Args:
        n_min: the number of directions wanted; rounded up to a ZCW size (:data:`ZCW_SIZES`).
        domain: ``"hemisphere"`` (:math:`\cos\beta > 0`: enough for an interaction even in :math:`\hat b`),
            ``"octant"`` (D2h site symmetry) or ``"sphere"``.

    Returns:
        Unit vectors :math:`\hat b` (N, 3) [1] and their weights (N,) [1], summing to 1 (float64).
    """
    if domain not in DOMAINS:
        raise DataFormatError(f"orientations: expected a domain among {', '.join(DOMAINS)}, got {domain!r}")
    n = zcw_size(n_min)
    m = ZCW_SIZES.index(n) + 4
    generator = _FIB[m]
    c1, c2, c3 = DOMAINS[domain]
    j = np.arange(n, dtype=np.float64)
    alpha = 2.0 * np.pi / c3 * np.mod(j * generator / n, 1.0)
    cos_beta = c1 * (c2 * np.mod(j / n, 1.0) - 1.0)
    sin_beta = np.sqrt(np.clip(1.0 - cos_beta**2, 0.0, None))
    directions = np.stack([sin_beta * np.cos(alpha), sin_beta * np.sin(alpha), cos_beta], axis=1)
    return directions, np.full(n, 1.0 / n)
