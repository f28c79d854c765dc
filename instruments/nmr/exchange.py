r"""Exchange-modified ²H signals: the Anderson–Kubo/Liouville formalism, one orientation at a time.

Between pulses the complex magnetisation :math:`\mathbf M` of the n sites of a jump model evolves as

.. math::
    \frac{d\mathbf M}{dt} = A\,\mathbf M,\qquad A = i\Omega + K,\qquad \Omega = \mathrm{diag}(\omega_j),

with :math:`\omega_j` the site frequencies of one transition (:mod:`instruments.nmr.motion`) and K the rate matrix
(P. W. Anderson, J. Phys. Soc. Jpn. 9, 316 (1954); R. Kubo, ibid. 9, 935 (1954); H. M. McConnell, J. Chem.
Phys. 28, 430 (1958)). One calculation covers the slow, intermediate and fast regimes.

**Solid (quadrupole) echo** :math:`90_x - \tau - 90_y - \tau - `acquire, ideal δ pulses: the second pulse turns the
coherence of frequency :math:`-\omega_j` into :math:`+\omega_j` site by site, so that, with t counted from the echo
top,

.. math::
    g(t) = \mathbf 1^\mathsf{T} e^{A(\tau + t)}\,e^{A^* \tau}\,\mathbf p ,

(:math:`A^* = -i\Omega + K`, :math:`\mathbf p` the populations): without exchange :math:`g(t) = \sum_j p_j e^{i\omega_j t}` — a
full echo — while exchange during the 2τ leaves it attenuated and distorted in the intermediate regime (H. W.
Spiess, H. Sillescu, J. Magn. Reson. 42, 381 (1981); A. J. Vega, Z. Luz, J. Chem. Phys. 86, 1803 (1987);
L. J. Schwartz, E. Meirovitch, J. A. Ripmeester, J. H. Freed, J. Phys. Chem. 87, 4118 (1983); for the exchange
under the echo in this form: R. J. Wittebort, E. T. Olejniczak, R. G. Griffin, J. Chem. Phys. 86, 5411 (1987);
M. S. Greenfield et al., J. Magn. Reson. 72, 89 (1987)). τ = 0 is the free-induction decay after one ideal pulse.
The other transition has :math:`-\Omega`: its signal is :math:`g^*`, so the ²H signal is :math:`s(t) = \mathrm{Re}\,g(t)`
(normalised to s(0) = 1 for a full echo).

**Eigen-decomposition.** With :math:`A = V\Lambda V^{-1}` per orientation,

.. math::
    g(t) = \sum_m c_m e^{\lambda_m t},\qquad
    c_m = (\mathbf 1^\mathsf{T} V)_m\, e^{\lambda_m\tau}\,(V^{-1}\mathbf q)_m,\quad
    \mathbf q = \bigl(V e^{\Lambda\tau} V^{-1}\mathbf p\bigr)^* ,

a sum of damped complex exponentials per orientation (:func:`exchange_modes`). Two sites use the closed form
(:func:`two_site_modes`: the roots of the characteristic polynomial taken without cancellation, the projectors
:math:`P_{1,2}` from :math:`(A - \lambda_1)(A - \lambda_2) = 0`), more sites LAPACK's ``geev`` through
:func:`jax.numpy.linalg.eig` (CPU). Near an exceptional point (:math:`\lambda_1 = \lambda_2`, the coalescence of two
sites in one orientation) the amplitudes grow as :math:`1/(\lambda_1 - \lambda_2)` and cancel in g; in float32 the
few orientations within :math:`\sim 10^{-4}` of one lose digits, which the powder sum does not show.

**Rates beyond the fast limit.** In float32 an eigenvalue carries an absolute error of order
:math:`\varepsilon\,\lVert A\rVert \approx \varepsilon k`, while the motionally narrowed line is :math:`\sim\omega^2/k` wide.
Rates above :math:`k_{max} = \omega_Q/\sqrt{\varepsilon}` (:math:`\omega_Q = 2\pi\frac34 C_q`; 2.3·10⁹ s⁻¹ for
:math:`C_q` = 170 kHz in float32, 5·10¹³ s⁻¹ in float64) are evaluated at :math:`k_{max}` (:func:`rate_ceiling`):
the exchange broadening left there and the rounding error are both :math:`\lesssim \omega_Q\sqrt{\varepsilon}`
(≈ 40 Hz in float32), far below any line broadening applied.

**Time signal and spectrum.** The FID is sampled at :math:`t_n = n\,\Delta t` by a matrix product,
:math:`g(t_{Qp+q}) = \sum_m (c_m e^{\lambda_m Q p\Delta t})(e^{\lambda_m q\Delta t})` — (P × M)(M × Q) for M modes of all
orientations together (:func:`fid_from_modes`) — then apodised,
:math:`a(t) = e^{-\pi L t}\,e^{-(\pi G t)^2/(4\ln 2)}` (Lorentzian FWHM L, Gaussian FWHM G), and Fourier
transformed onto the uniform grid :math:`\nu_k = \nu_0 + k\,\delta\nu` with :math:`\Delta t = 1/(N\delta\nu)`
(first point halved; :func:`spectrum_from_fid`). Lines outside the window fold back, as in an experiment with
that spectral width: the window must hold the pattern (:func:`instruments.nmr.deuterium.check_window`).

Left out: finite pulse lengths and off-resonance effects (the pulses are δ pulses), receiver dead time, the
second-order quadrupolar shift (:math:`\sim C_q^2/\nu_0` ≈ Hz for ²H), dipolar couplings, relaxation other than
the exchange itself (add it as broadening).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Complex, Float

from mofcore.errors import DataFormatError

__all__ = ["SpectrumGrid", "spectrum_grid", "site_frequencies", "two_site_modes", "exchange_modes",
           "powder_modes", "fid_from_modes", "spectrum_from_fid", "rate_ceiling", "exchange_spectrum",
           "QUADRUPOLAR_FACTOR"]

#: ω = QUADRUPOLAR_FACTOR · C_q · bᵀVb [rad/s per Hz]: 2π · 3/4
QUADRUPOLAR_FACTOR = 2.0 * math.pi * 0.75


def _float_dtype() -> jnp.dtype:
    return jnp.result_type(float)


def _complex_dtype() -> jnp.dtype:
    return jnp.complex128 if _float_dtype() == jnp.float64 else jnp.complex64


def _c(re: Array, im: Array | None = None) -> Array:
    """A complex array from real and imaginary parts of the default float dtype (strict promotion)."""
    re = jnp.asarray(re, _float_dtype())
    return lax.complex(re, jnp.zeros_like(re) if im is None else jnp.asarray(im, _float_dtype()))


@dataclass(frozen=True)
class SpectrumGrid:
    """A uniform frequency grid :math:`\\nu_k = \\nu_0 + k\\,\\delta\\nu`, k = 0 … n−1, and its time sampling.

    Attributes:
        start_hz: :math:`\\nu_0` [Hz].
        step_hz: :math:`\\delta\\nu` > 0 [Hz].
        n_points: number of points.
    """

    start_hz: float
    step_hz: float
    n_points: int

    @property
    def frequency_hz(self) -> np.ndarray:
        """The grid [Hz], (n_points,), float64."""
        return self.start_hz + self.step_hz * np.arange(self.n_points)

    @property
    def dwell_s(self) -> float:
        """The sampling interval Δt = 1/(n δν) [s] whose discrete Fourier transform lands on the grid."""
        return 1.0 / (self.n_points * self.step_hz)

    @property
    def half_width_hz(self) -> float:
        """The smallest |ν| at the edges of the grid [Hz]."""
        return min(abs(self.start_hz), abs(self.start_hz + self.step_hz * (self.n_points - 1)))


def spectrum_grid(frequency_hz: np.ndarray, *, where: str = "frequency") -> SpectrumGrid:
    """The :class:`SpectrumGrid` of a uniform increasing or decreasing axis [Hz] (at least 16 points).

    Written files round their frequencies (to 1 Hz, say): a point may sit up to 2 % of a step off the straight
    line through the first and last points; the grid is that line.

    Raises:
        DataFormatError: fewer than 16 points, not finite, or not uniform to 2 % of the step.
    """
    nu = np.asarray(frequency_hz, dtype=np.float64).ravel()
    if nu.size < 16 or not np.all(np.isfinite(nu)):
        raise DataFormatError(f"{where}: expected at least 16 finite, uniformly spaced frequencies, got {nu.size}")
    if nu[0] > nu[-1]:
        nu = nu[::-1]
    steps = np.diff(nu)
    step = (nu[-1] - nu[0]) / (nu.size - 1)
    off = np.abs(nu - (nu[0] + step * np.arange(nu.size)))
    if not step > 0 or np.max(off) > 0.02 * step:
        raise DataFormatError(f"{where}: expected uniformly spaced frequencies (a spectrum's FFT grid), got steps "
                              f"from {steps.min():g} to {steps.max():g} Hz")
    return SpectrumGrid(float(nu[0]), float(step), int(nu.size))


def site_frequencies(
    direction: Float[Array, "3"], tensors: Float[Array, "n_sites 3 3"], cq_hz: Float[Array, ""],
) -> Float[Array, "n_sites"]:
    r"""First-order quadrupolar frequencies :math:`\omega_j = 2\pi\frac34 C_q\,\hat b^\mathsf{T}V_j\hat b` of one transition.

    Args:
        direction: :math:`\hat b`, the field direction in the molecular frame [1], (3,).
        tensors: normalised EFG tensors [1], (n_sites, 3, 3).
        cq_hz: :math:`C_q` [Hz].

    Returns:
        :math:`\omega_j` [rad/s], (n_sites,).
    """
    projection = jnp.einsum("a,jab,b->j", direction, tensors, direction)
    return jnp.asarray(QUADRUPOLAR_FACTOR, projection.dtype) * cq_hz * projection


def rate_ceiling(cq_hz: Float[Array, ""]) -> Float[Array, ""]:
    r""":math:`k_{max} = 2\pi\frac34 C_q/\sqrt{\varepsilon}` [1/s]: rates above it are evaluated at it (module docstring)."""
    eps = jnp.finfo(_float_dtype()).eps
    return jnp.asarray(QUADRUPOLAR_FACTOR, _float_dtype()) * jnp.abs(cq_hz) / jnp.sqrt(jnp.asarray(eps, _float_dtype()))


def two_site_modes(
    omega: Float[Array, "2"], rates: Float[Array, "2 2"], populations: Float[Array, "2"],
    echo_delay_s: Float[Array, ""],
) -> tuple[Complex[Array, "2"], Complex[Array, "2"]]:
    r"""Eigenvalues :math:`\lambda_m` and amplitudes :math:`c_m` of :math:`g(t)` for two sites, in closed form.

    :math:`\lambda_{1,2} = \mu \pm s`, :math:`\mu = \mathrm{tr}A/2`, :math:`s^2 = ((A_{11}-A_{22})/2)^2 + A_{12}A_{21}`; the
    root of larger modulus is taken as :math:`\mu + s`, the other as :math:`\det A/\lambda_1` with
    :math:`\det A = -\omega_1\omega_2 + i(\omega_1K_{22} + \omega_2K_{11})` (det K = 0), so the motionally narrowed
    eigenvalue of the fast limit is not the difference of two large numbers. Projectors
    :math:`P_1 = (A - \lambda_2)/(2s)`, :math:`P_2 = 1 - P_1`; :math:`c_m = e^{\lambda_m\tau}\,\mathbf 1^\mathsf{T} P_m \mathbf q`
    with :math:`\mathbf q = (e^{A\tau}\mathbf p)^*`.

    Args:
        omega: site frequencies [rad/s], (2,).
        rates: K, :math:`K_{ij}` the rate i ← j [1/s], columns summing to 0, (2, 2).
        populations: p [1], (2,).
        echo_delay_s: τ [s].

    Returns:
        (λ (2,) [1/s], c (2,) [1]) complex.
    """
    a = _c(rates[0, 0], omega[0])
    d = _c(rates[1, 1], omega[1])
    b = _c(rates[0, 1])
    c = _c(rates[1, 0])
    mu = (a + d) * _c(0.5)
    delta = (a - d) * _c(0.5)
    s = jnp.sqrt(delta * delta + b * c)
    s = jnp.where(jnp.real(jnp.conj(mu) * s) >= 0.0, s, -s)
    tiny = jnp.asarray(jnp.finfo(_float_dtype()).tiny, _float_dtype())
    s = jnp.where(jnp.abs(s) > tiny, s, _c(tiny))
    lam1 = mu + s
    det = _c(-omega[0] * omega[1], omega[0] * rates[1, 1] + omega[1] * rates[0, 0])
    lam2 = jnp.where(jnp.abs(lam1) > tiny, det / jnp.where(jnp.abs(lam1) > tiny, lam1, _c(1.0)), mu - s)
    eye = jnp.eye(2, dtype=_complex_dtype())
    matrix = jnp.stack([jnp.stack([a, b]), jnp.stack([c, d])])
    p1 = (matrix - lam2 * eye) / (s + s)
    p2 = eye - p1
    lam = jnp.stack([lam1, lam2])
    decay = jnp.exp(lam * _c(echo_delay_s))
    propagator = decay[0] * p1 + decay[1] * p2
    q = jnp.conj(propagator @ _c(populations))
    return lam, decay * jnp.stack([jnp.sum(p1 @ q), jnp.sum(p2 @ q)])


def _general_modes(omega: Array, rates: Array, populations: Array, echo_delay_s: Array) -> tuple[Array, Array]:
    """:func:`exchange_modes` for n ≥ 3 sites through LAPACK's ``geev``."""
    matrix = lax.complex(jnp.asarray(rates, _float_dtype()), jnp.diag(jnp.asarray(omega, _float_dtype())))
    lam, vectors = jnp.linalg.eig(matrix)
    inverse = jnp.linalg.inv(vectors)
    decay = jnp.exp(lam * _c(echo_delay_s))
    q = jnp.conj(vectors @ (decay * (inverse @ _c(populations))))
    return lam, jnp.sum(vectors, axis=0) * decay * (inverse @ q)


def exchange_modes(
    omega: Float[Array, "n_sites"], rates: Float[Array, "n_sites n_sites"], populations: Float[Array, "n_sites"],
    echo_delay_s: Float[Array, ""],
) -> tuple[Complex[Array, "n_sites"], Complex[Array, "n_sites"]]:
    r""":math:`g(t) = \sum_m c_m e^{\lambda_m t}` of one orientation (module docstring): eigenvalues and amplitudes.

    One site is a single line (:math:`\lambda = i\omega`, c = 1), two sites use :func:`two_site_modes`, more sites
    the eigen-decomposition of the complex n × n matrix :math:`A = i\Omega + K` by LAPACK (n ≤ 12 here).

    Args:
        omega: site frequencies [rad/s], (n_sites,).
        rates: K [1/s] (already times the rate), columns summing to 0, (n_sites, n_sites).
        populations: p [1], (n_sites,).
        echo_delay_s: τ ≥ 0 [s] (0: the FID after one ideal pulse).

    Returns:
        (λ [1/s], c [1]), complex, (n_sites,) each.
    """
    n = omega.shape[0]
    if n == 1:
        lam = _c(rates[0], omega)
        return lam, _c(populations * jnp.exp(2.0 * rates[0] * echo_delay_s))
    if n == 2:
        return two_site_modes(omega, rates, populations, echo_delay_s)
    return _general_modes(omega, rates, populations, echo_delay_s)


def powder_modes(
    directions: Float[Array, "n_orientations 3"], weights: Float[Array, "n_orientations"],
    tensors: Float[Array, "n_sites 3 3"], unit_rates: Float[Array, "n_sites n_sites"],
    populations: Float[Array, "n_sites"], cq_hz: Float[Array, ""], rate_per_s: Float[Array, ""],
    echo_delay_s: Float[Array, ""],
) -> tuple[Complex[Array, "n_modes"], Complex[Array, "n_modes"]]:
    """The modes of every orientation of a powder, weighted, flattened (n_modes = n_orientations · n_sites).

    The rate is capped at :func:`rate_ceiling` (module docstring).
    """
    rate = jnp.minimum(rate_per_s, rate_ceiling(cq_hz))
    rates = unit_rates * rate

    def one(direction: Array, weight: Array) -> tuple[Array, Array]:
        lam, amplitudes = exchange_modes(site_frequencies(direction, tensors, cq_hz), rates, populations, echo_delay_s)
        return lam, amplitudes * _c(weight)

    lam, amplitudes = jax.vmap(one)(directions, weights)
    return lam.reshape(-1), amplitudes.reshape(-1)


def _block(n_time: int) -> int:
    return 16 if n_time <= 256 else (32 if n_time <= 2048 else 64)


def fid_from_modes(
    eigenvalues: Complex[Array, "n_modes"], amplitudes: Complex[Array, "n_modes"], dwell_s: float, n_time: int,
) -> Complex[Array, "n_time"]:
    r""":math:`g(t_n) = \sum_m c_m e^{\lambda_m n\Delta t}`, n = 0 … n_time−1, as one (P × M)(M × Q) matrix product.

    Args:
        eigenvalues, amplitudes: λ [1/s] and c [1] of all modes, (n_modes,).
        dwell_s: Δt [s] (static).
        n_time: number of samples (static).

    Returns:
        g [1], complex, (n_time,).
    """
    q_len = _block(n_time)
    p_len = -(-n_time // q_len)
    outer = _c(np.arange(p_len) * (q_len * dwell_s))
    inner = _c(np.arange(q_len) * dwell_s)
    left = jnp.exp(outer[:, None] * eigenvalues[None, :]) * amplitudes[None, :]
    right = jnp.exp(eigenvalues[:, None] * inner[None, :])
    return (left @ right).reshape(-1)[:n_time]


def spectrum_from_fid(
    fid: Complex[Array, "n_time"] | Float[Array, "n_time"], grid: SpectrumGrid,
    lorentzian_hz: Float[Array, ""], gaussian_hz: Float[Array, ""],
) -> Complex[Array, "n_points"]:
    r"""The complex spectrum :math:`S(\nu_k) = 2\int_0^\infty s(t)\,a(t)\,e^{-2\pi i\nu_k t}dt` on ``grid``.

    Rectangle rule with the first point halved, zero-filled to the grid's n points, apodised by
    :math:`a(t) = e^{-\pi L t}e^{-(\pi G t)^2/(4\ln 2)}` (FWHM L, G). For a real s (²H: both transitions) Re S is the
    absorption spectrum, Im S the dispersion, and :math:`\sum_k \mathrm{Re}\,S_k\,\delta\nu = s(0)`: the area is the echo
    amplitude (1 for a full echo).

    Args:
        fid: s or g [1], (n_time,) with n_time ≤ grid.n_points.
        grid: the target grid (static).
        lorentzian_hz, gaussian_hz: FWHM ≥ 0 [Hz].

    Returns:
        S [1/Hz], complex, (n_points,).
    """
    n_time = fid.shape[0]
    t = np.arange(n_time) * grid.dwell_s
    first = np.ones(n_time)
    first[0] = 0.5
    # ν₀ t_n mod 1 in float64 on the host: the modulation that puts the DFT on a grid starting at ν₀
    modulation = np.exp(-2j * np.pi * np.mod(grid.start_hz * t, 1.0)) * first * 2.0 * grid.dwell_s
    t_f = jnp.asarray(t, _float_dtype())
    apodisation = jnp.exp(-jnp.pi * lorentzian_hz * t_f - (jnp.pi * gaussian_hz * t_f) ** 2 / (4.0 * math.log(2.0)))
    signal = (fid if jnp.iscomplexobj(fid) else _c(fid)) * _c(apodisation)
    signal = signal * jnp.asarray(modulation, _complex_dtype())
    return jnp.fft.fft(signal, n=grid.n_points)


def exchange_spectrum(
    site_frequency_hz: np.ndarray, rate_matrix_per_s: np.ndarray, populations: np.ndarray, frequency_hz: np.ndarray,
    *, echo_delay_s: float = 0.0, lorentzian_hz: float = 0.0, gaussian_hz: float = 0.0,
) -> np.ndarray:
    r"""The absorption spectrum of one transition exchanging among sites at fixed frequencies (one orientation).

    The classic Anderson/McConnell lineshape :math:`\mathrm{Re}\,\mathbf 1^\mathsf{T}(2\pi i\nu - A)^{-1}\mathbf p` (for
    τ = 0) as the Fourier transform of :math:`g(t)` (module docstring); for two equal populations at
    :math:`\pm\Delta\nu/2` the lines coalesce at :math:`k = \pi\Delta\nu/\sqrt2` (H. S. Gutowsky, C. H. Holm,
    J. Chem. Phys. 25, 1228 (1956)).

    Args:
        site_frequency_hz: ν_j [Hz], (n_sites,).
        rate_matrix_per_s: K [1/s], columns summing to 0, (n_sites, n_sites).
        populations: p [1], (n_sites,).
        frequency_hz: uniform grid [Hz], (n_points,).
        echo_delay_s, lorentzian_hz, gaussian_hz: as in :func:`spectrum_from_fid`.

    Returns:
        Re S [1/Hz] on ``frequency_hz`` (float64 NumPy), area :math:`\mathrm{Re}\,g(0)`, (n_points,).
    """
    grid = spectrum_grid(frequency_hz)
    omega = jnp.asarray(2.0 * np.pi * np.asarray(site_frequency_hz, np.float64), _float_dtype())
    dt = _float_dtype()
    lam, amplitudes = exchange_modes(omega, jnp.asarray(rate_matrix_per_s, dt), jnp.asarray(populations, dt),
                                     jnp.asarray(echo_delay_s, dt))
    fid = fid_from_modes(lam, amplitudes, grid.dwell_s, grid.n_points)
    spectrum = spectrum_from_fid(fid, grid, jnp.asarray(lorentzian_hz, _float_dtype()),
                                 jnp.asarray(gaussian_hz, _float_dtype()))
    values = np.real(np.asarray(spectrum, dtype=np.complex128))
    ascending = np.asarray(frequency_hz, np.float64)
    return values if ascending[0] <= ascending[-1] else values[::-1]
