r"""Diffraction of a layered (turbostratic, paracrystalline) stack along its stacking direction.

A layered host such as graphene oxide (GO) is a stack of sheets whose in-plane order does not register from one
sheet to the next (turbostratic): the only sharp interference is along the stacking normal, the 00l series. This
module computes the powder pattern of such stacks on a Q axis, from three physical parameters:

* ``d001_nm`` — the mean interlayer distance d̄ (the 001 spacing);
* ``d_spread_nm`` — σ, the standard deviation of a single interlayer distance (heterogeneity of the gallery
  heights: some galleries hold water, some do not);
* ``coherent_thickness_nm`` — the volume-weighted (layer-weighted) mean coherent stack thickness
  :math:`L_V = \langle N\rangle_V\,\bar d`, :math:`\langle N\rangle_V = \langle N^2\rangle/\langle N\rangle`; this
  is the thickness the integral breadth of a 00l line measures (Scherrer/Stokes–Wilson, see below).

**Interference function (paracrystal of the second kind).** N layers at positions :math:`z_j`, the spacings
:math:`z_{j+1}-z_j` independent and Gaussian, :math:`\mathcal N(\bar d, \sigma^2)`. The sum of m consecutive
spacings is :math:`\mathcal N(m\bar d, m\sigma^2)`, so :math:`\langle e^{iq(z_{j+m}-z_j)}\rangle = \varphi^m`,

.. math::
    \varphi(q) = e^{t},\qquad t = i q \bar d - \tfrac12 q^2\sigma^2

(the characteristic function of the spacing distribution), and the interference function of one stack is, in
closed form (the finite sum :math:`\sum_{m=1}^{N-1}(N-m)\varphi^m` summed geometrically),

.. math::
    I_N(q) = \sum_{j,k} \langle e^{iq(z_j - z_k)}\rangle
           = N\,\mathrm{Re}\frac{1+\varphi}{1-\varphi} - 2\,\mathrm{Re}\frac{\varphi\,(1-\varphi^N)}{(1-\varphi)^2}.

For σ → 0 this is the N-slit (Laue) function :math:`\sin^2(Nq\bar d/2)/\sin^2(q\bar d/2)`, with Bragg peaks at
:math:`q = 2\pi n/\bar d` of integral breadth :math:`2\pi/(N\bar d)`; for σ > 0 the n-th order broadens by
about :math:`q_n^2\sigma^2/\bar d \propto n^2` (the paracrystalline broadening) and, for N → ∞, I_N/N tends to
Hosemann's :math:`\mathrm{Re}[(1+\varphi)/(1-\varphi)]`. References: S. B. Hendricks, E. Teller, J. Chem. Phys.
10, 147 (1942) (interference of layers with random spacings, their eq. for two kinds of layers generalised here
to a continuous spacing distribution); R. Hosemann, S. N. Bagchi, *Direct Analysis of Diffraction by Matter*
(North-Holland 1962), ch. 9 (paracrystal); A. Guinier, *X-ray Diffraction in Crystals, Imperfect Crystals and
Amorphous Bodies* (Freeman 1963; Dover 1994), §7.4 (the one-dimensional paracrystal, same closed form).

**Distribution of stack thicknesses.** The number of layers of a coherent stack is N = 1 + M, M following a
negative binomial distribution of shape k and mean μ (the discrete analogue of a gamma distribution: a Poisson
distribution whose mean is gamma distributed; N is an integer ≥ 1, so :math:`\varphi^N` keeps the period
:math:`2\pi/\bar d` in q and every 00l order is right). Its probability generating function is closed,
:math:`\langle z^N\rangle = z\,[(1-p)/(1-pz)]^k` with :math:`p = \mu/(k+\mu)`, so the average over stacks is
closed too:

.. math::
    Z(q) = \frac{\langle I_N\rangle}{\langle N\rangle}
         = \mathrm{Re}\frac{1+\varphi}{1-\varphi}
           - \frac{2}{\langle N\rangle}\,\mathrm{Re}\frac{\varphi\,(1-\langle\varphi^N\rangle)}{(1-\varphi)^2},
    \qquad \langle\varphi^N\rangle = \varphi\Bigl(\frac{1-p}{1-p\varphi}\Bigr)^{k},

the interference per layer. :math:`\langle N\rangle = 1+\mu`, :math:`\mathrm{var}\,N = \mu + \mu^2/k`, and the
layer-weighted mean :math:`\langle N\rangle_V = \langle N^2\rangle/\langle N\rangle = L_V/\bar d` fixes μ as the
positive root of :math:`(1+1/k)\mu^2 + (3-\langle N\rangle_V)\mu + 1-\langle N\rangle_V = 0`. At a Bragg point
(σ → 0) Z → ⟨N²⟩/⟨N⟩ and the line's integral breadth is
:math:`\int Z\,dq / Z_{max} = 2\pi\langle N\rangle/(\bar d\langle N^2\rangle) = 2\pi/L_V`: Scherrer's equation
with the Stokes–Wilson integral-breadth constant (A. R. Stokes, A. J. C. Wilson, Proc. Camb. Phil. Soc. 38, 313
(1942)); this defines ``coherent_thickness_nm``. The shape k (default 3: the standard deviation of N is about
0.6 of its mean for thick stacks) is a setting, not refined: it trades the Lorentzian tails of a line against its
core and is poorly determined beside σ by one or two orders. Gamma-type distributions of column lengths are the
usual choice for crystallite-size distributions (J. I. Langford, D. Louër, P. Scardi, J. Appl. Cryst. 33, 964
(2000)). The closed form is a difference of terms of order ⟨N⟩/|1−φ| that cancel at a Bragg point; in float64
it is accurate to ~1e-6 relative for σ ≥ 1e-3 nm (the fit's lower bound), not for σ → 0 exactly at a peak.

**Layer form factor.** A sheet is a plane of carbon atoms (atomic form factor :math:`f_C(s)`, Cromer–Mann
coefficients, :mod:`instruments.xrd.form_factors`) whose scattering density across the sheet is spread by the
out-of-plane positions of the atoms and of the oxygen groups of GO: a Gaussian profile of rms half-thickness
:math:`\delta` (``sheet_rms_nm``, default 0.1 nm, assumed, not refined). Hence
:math:`|F(q)|^2 = f_C(q/4\pi)^2\,e^{-q^2\delta^2}`. The oxygen groups' own scattering is folded into this one
profile; intercalated water scatters as part of the gallery (it shifts d̄, it is not a separate layer).

**Powder factor.** The stacks are randomly oriented (a powder): the intensity of the reciprocal-space rod along
:math:`c^*` at distance q from the origin is spread over a sphere of area :math:`4\pi q^2`, so the powder
intensity per unit Q is :math:`\propto |F(q)|^2 Z(q)/q^2` (B. E. Warren, *X-ray Diffraction* (Addison-Wesley
1969; Dover 1990), §13.2, for turbostratic carbons; V. A. Drits, C. Tchoubar, *X-Ray Diffraction by Disordered
Lamellar Structures* (Springer 1990), ch. 2). The polarisation factor :math:`(1+\cos^2 2\theta)/2` needs the
wavelength, which a Q axis does not carry: it is not applied (for Cu Kα it changes by less than 6 % between
Q = 1 and 14 nm⁻¹, slowly, and is absorbed by the scale and the background). Absorption, the in-plane (hk)
bands and the small-angle scattering of the sheets are not modelled here (the last is a background term of the
fit, :mod:`twin.fit.layered`).

All functions are pure and vectorised over the Q points (jax.numpy, traceable and differentiable). Q is in nm⁻¹
(:math:`Q = 4\pi\sin\theta/\lambda = 2\pi/d`), lengths in nm.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["DEFAULT_SHAPE", "DEFAULT_SHEET_RMS_NM", "CARBON_CROMER_MANN", "spacing_log_characteristic",
           "stack_interference", "mean_stack_interference", "layer_form_factor_sq", "layered_pattern",
           "mean_layers"]

#: negative-binomial shape k of N − 1, the number of layers per coherent stack beyond the first
DEFAULT_SHAPE = 3.0
#: rms half-thickness δ of a sheet's scattering-density profile [nm] (assumed)
DEFAULT_SHEET_RMS_NM = 0.1
#: Cromer–Mann coefficients of C (a1..a4, b1..b4 [Å²], c): International Tables Vol. C, Table 6.1.1.4
CARBON_CROMER_MANN = ((2.31, 1.02, 1.5886, 0.865), (20.8439, 10.2075, 0.5687, 51.6512), 0.2156)


def q_dtype(t: Array) -> Any:
    """The real dtype of a complex array."""
    return jnp.real(t).dtype


def spacing_log_characteristic(
    q_inv_nm: Float[Array, "n_points"], d001_nm: Float[Array, ""], d_spread_nm: Float[Array, ""],
) -> Array:
    r"""t = ln φ = i q d̄ − q²σ²/2: the log of the characteristic function of one Gaussian interlayer distance.

    Args:
        q_inv_nm: Q [nm⁻¹], (n_points,).
        d001_nm: mean interlayer distance d̄ [nm].
        d_spread_nm: standard deviation σ of one interlayer distance [nm], ≥ 0.

    Returns:
        t (complex), (n_points,). Not the principal log of φ: :math:`\varphi^N = e^{Nt}` holds for every real N.
    """
    q = jnp.asarray(q_inv_nm)
    return jax.lax.complex(-0.5 * (q * d_spread_nm) ** 2, q * d001_nm)


def stack_interference(
    q_inv_nm: Float[Array, "n_points"], d001_nm: Float[Array, ""], d_spread_nm: Float[Array, ""],
    n_layers: Float[Array, ""],
) -> Float[Array, "n_points"]:
    r"""Interference function per layer I_N(q)/N of one stack of N layers (paracrystal, module docstring).

    .. math::
        \frac{I_N}{N} = \mathrm{Re}\frac{1+\varphi}{1-\varphi}
          - \frac{2}{N}\mathrm{Re}\frac{\varphi(1-\varphi^N)}{(1-\varphi)^2},\quad \varphi = e^{iq\bar d - q^2\sigma^2/2}

    At σ = 0 it equals the Laue function sin²(Nqd̄/2)/(N sin²(qd̄/2)) except exactly at a Bragg point, where the
    closed form is 0/0 (evaluate the limit elsewhere, or give σ > 0). Reference: Guinier (1963) §7.4.

    Args:
        q_inv_nm: Q [nm⁻¹], > 0, (n_points,).
        d001_nm: d̄ [nm]; d_spread_nm: σ [nm]; n_layers: N (real, ≥ 1).

    Returns:
        I_N/N [1] (→ N at a Bragg peak for σ = 0, → 1 far from the peaks), (n_points,).
    """
    t = spacing_log_characteristic(q_inv_nm, d001_nm, d_spread_nm)
    phi = jnp.exp(t)
    one = 1.0 - phi
    n = jnp.asarray(n_layers, dtype=q_dtype(t))
    phi_n = jnp.exp(jax.lax.complex(n, jnp.zeros_like(n)) * t)
    return jnp.real((1.0 + phi) / one) - 2.0 / n * jnp.real(phi * (1.0 - phi_n) / one**2)


def mean_layers(coherent_thickness_nm: Float[Array, ""], d001_nm: Float[Array, ""],
                shape: float = DEFAULT_SHAPE) -> tuple[Array, Array]:
    r"""Number-mean ⟨N⟩ = 1 + μ and the negative-binomial p = μ/(k+μ) of stacks of layer-weighted thickness L_V.

    μ is the positive root of :math:`(1+1/k)\mu^2 + (3-N_V)\mu + 1-N_V = 0`, :math:`N_V = L_V/\bar d`
    (from ⟨N²⟩/⟨N⟩ = N_V with N = 1 + M, M negative binomial of mean μ and shape k; module docstring).
    L_V < d̄ (fewer than one layer) is clipped to one layer.
    """
    n_v = jnp.maximum(jnp.asarray(coherent_thickness_nm) / d001_nm, 1.0)
    a, b, c = 1.0 + 1.0 / shape, 3.0 - n_v, 1.0 - n_v
    mu = (-b + jnp.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)
    return 1.0 + mu, mu / (shape + mu)


def mean_stack_interference(
    q_inv_nm: Float[Array, "n_points"], d001_nm: Float[Array, ""], d_spread_nm: Float[Array, ""],
    coherent_thickness_nm: Float[Array, ""], shape: float = DEFAULT_SHAPE,
) -> Float[Array, "n_points"]:
    r"""Interference per layer ⟨I_N⟩/⟨N⟩ averaged over the distribution of N (module docstring).

    .. math::
        Z = \mathrm{Re}\frac{1+\varphi}{1-\varphi}
          - \frac{2}{\langle N\rangle}\mathrm{Re}\frac{\varphi(1-\langle\varphi^N\rangle)}{(1-\varphi)^2},
        \quad \langle\varphi^N\rangle = \varphi\Bigl(\frac{1-p}{1-p\varphi}\Bigr)^k

    Args:
        q_inv_nm: Q [nm⁻¹], > 0, (n_points,).
        d001_nm: d̄ [nm]; d_spread_nm: σ [nm] (≥ 1e-3 nm for full accuracy at the peaks);
        coherent_thickness_nm: L_V = ⟨N⟩_V d̄ [nm].
        shape: negative-binomial shape k of N − 1 (static).

    Returns:
        Z [1] per layer, (n_points,). The integral breadth of its n-th line is 2π/L_V for σ → 0.
    """
    t = spacing_log_characteristic(q_inv_nm, d001_nm, d_spread_nm)
    n_mean, p = mean_layers(coherent_thickness_nm, d001_nm, shape)
    phi = jnp.exp(t)
    one = 1.0 - phi
    pc = jax.lax.complex(p, jnp.zeros_like(p))
    generating = phi * ((1.0 - pc) / (1.0 - pc * phi)) ** shape  # ⟨φ^N⟩, N = 1 + negative binomial
    return jnp.real((1.0 + phi) / one) - 2.0 / n_mean * jnp.real(phi * (1.0 - generating) / one**2)


def layer_form_factor_sq(q_inv_nm: Float[Array, "n_points"],
                         sheet_rms_nm: float = DEFAULT_SHEET_RMS_NM) -> Float[Array, "n_points"]:
    r"""|F(q)|² of one sheet: :math:`f_C(s)^2 e^{-q^2\delta^2}`, s = q/(4π) in Å⁻¹ (q in nm⁻¹ → /10).

    f_C from the Cromer–Mann fit (D. T. Cromer, J. B. Mann, Acta Cryst. A24, 321 (1968)); δ the rms
    half-thickness of the sheet's scattering-density profile (Gaussian). Per carbon atom [electrons²].
    """
    a, b, c = CARBON_CROMER_MANN
    q = jnp.asarray(q_inv_nm)
    s2 = (q / (4.0 * jnp.pi * 10.0)) ** 2
    f = c + sum(ai * jnp.exp(-bi * s2) for ai, bi in zip(a, b, strict=True))  # four static terms
    return f**2 * jnp.exp(-((q * sheet_rms_nm) ** 2))


def layered_pattern(
    q_inv_nm: Float[Array, "n_points"], d001_nm: Float[Array, ""], coherent_thickness_nm: Float[Array, ""],
    d_spread_nm: Float[Array, ""], *, shape: float = DEFAULT_SHAPE, sheet_rms_nm: float = DEFAULT_SHEET_RMS_NM,
) -> Float[Array, "n_points"]:
    r"""Unit-scale powder pattern of randomly oriented turbostratic stacks on a Q axis.

    .. math:: I(q) = |F(q)|^2\,Z(q)\,/\,q^2

    (layer form factor, mean interference per layer, powder factor; module docstring). Scale and background
    are the caller's (the fit solves them linearly).

    Args:
        q_inv_nm: Q [nm⁻¹], > 0, (n_points,).
        d001_nm: mean interlayer distance [nm]; coherent_thickness_nm: L_V [nm]; d_spread_nm: σ [nm].
        shape: negative-binomial shape k of N − 1; sheet_rms_nm: δ [nm] (static settings).

    Returns:
        Intensity per carbon atom per unit Q [electrons² nm²], (n_points,).
    """
    q = jnp.asarray(q_inv_nm)
    z = mean_stack_interference(q, d001_nm, d_spread_nm, coherent_thickness_nm, shape)
    return layer_form_factor_sq(q, sheet_rms_nm) * z / q**2
