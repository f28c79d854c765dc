r"""The interpolation between the closed (η = 0) and open (η = 1) phase of a breathing framework.

Phase-field models interpolate a property between two phases with

.. math::
    h(\eta) = \eta^2(3 - 2\eta),\qquad h'(\eta) = 6\eta(1 - \eta),\qquad
    X(\eta) = X_c + (X_o - X_c)\,h(\eta),

so that h(0) = 0, h(1) = 1 and h'(0) = h'(1) = 0: both end states stay stationary whatever the difference
X_o − X_c (the interpolating polynomials of phase-field models: S.-L. Wang, R. F. Sekerka, A. A. Wheeler,
B. T. Murray, S. R. Coriell, R. J. Braun, G. B. McFadden, Physica D 69, 189 (1993); S. G. Kim, W. T. Kim,
T. Suzuki, Phys. Rev. E 60, 7186 (1999)). The twin uses it for the grand potential of the double well
(:func:`twin.thermo.host_landscape`, the engine's site landscape), for the capacities, affinities and
diffusivities of a site, and for the cell volume along the breathing path of the XRD forward model.

A module of its own rather than part of :mod:`mofcore.stats`: h(η) is the physics of the order parameter, which
the thermodynamics, the engine and the forward models use, not a statistic of a fit.

Elementwise on NumPy or JAX arrays and Python floats (arguments broadcast); differentiable; no clipping (the
callers clip η to [0, 1] where the model holds the end values outside).
"""

from __future__ import annotations

from jaxtyping import Array, Float

__all__ = ["smoothstep", "smoothstep_derivative", "breathing_path", "breathing_path_derivative"]


def smoothstep(eta: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    r"""h(η) = η²(3 − 2η), the phase interpolation (module docstring).

    Args:
        eta: breathing order parameter η [1] (0 closed, 1 open), any shape.

    Returns:
        h(η) [1], shape and dtype of ``eta``.
    """
    return eta * eta * (3.0 - 2.0 * eta)


def smoothstep_derivative(eta: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    r"""h'(η) = 6η(1 − η) (module docstring).

    Args:
        eta: breathing order parameter η [1], any shape.

    Returns:
        dh/dη [1], shape and dtype of ``eta``.
    """
    return breathing_path_derivative(eta, 0.0, 1.0)


def breathing_path(
    eta: Float[Array, "*shape"],
    closed_value: Float[Array, "*shape"] | float,
    open_value: Float[Array, "*shape"] | float,
) -> Float[Array, "*shape"]:
    r"""X(η) = X_c + (X_o − X_c) h(η): a property interpolated between the closed and the open phase.

    Args:
        eta: breathing order parameter η [1], any shape.
        closed_value, open_value: X_c and X_o (a cell volume [Å³], Ω [kJ/mol per site cell], a diffusivity
            [Å²/s] …), broadcastable to ``eta``.

    Returns:
        X(η) in the unit of X_c, the broadcast shape.
    """
    return closed_value + (open_value - closed_value) * smoothstep(eta)


def breathing_path_derivative(
    eta: Float[Array, "*shape"],
    closed_value: Float[Array, "*shape"] | float,
    open_value: Float[Array, "*shape"] | float,
) -> Float[Array, "*shape"]:
    r"""dX/dη = 6 (X_o − X_c) η(1 − η) of :func:`breathing_path`.

    Args:
        eta: breathing order parameter η [1], any shape.
        closed_value, open_value: X_c and X_o, broadcastable to ``eta``.

    Returns:
        dX/dη in the unit of X_c, the broadcast shape.
    """
    return 6.0 * (open_value - closed_value) * eta * (1.0 - eta)
