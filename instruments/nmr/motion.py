r"""Jump models of ²H: electric-field-gradient tensors of the sites, their exchange matrix, the fast-limit average.

**Tensor and frequency.** A deuteron with quadrupole coupling :math:`C_q = e^2qQ/h` and asymmetry
:math:`\eta_Q` has, in its principal-axis frame (PAS), the normalised EFG tensor
:math:`\hat V = \mathrm{diag}(-(1-\eta_Q)/2,\ -(1+\eta_Q)/2,\ 1)` (:math:`|V_{zz}| \ge |V_{yy}| \ge |V_{xx}|`,
:math:`\eta_Q = (V_{xx}-V_{yy})/V_{zz}`). For a magnetic-field direction :math:`\hat b` in the molecular frame the
two single-quantum transitions sit at :math:`\pm\omega` from the Larmor frequency, to first order,

.. math::
    \omega(\hat b) = 2\pi\,\tfrac34 C_q\,\hat b^\mathsf{T} V \hat b
                  = 2\pi\,\tfrac34 C_q\Bigl[\tfrac{3\cos^2\theta - 1}{2} - \tfrac{\eta_Q}{2}\sin^2\theta\cos 2\phi\Bigr],

so a rigid powder with :math:`\eta_Q = 0` gives the Pake doublet with horns at :math:`\pm\frac38 C_q` (splitting
:math:`\frac34 C_q`) and shoulders at :math:`\pm\frac34 C_q`; in general the horns are at
:math:`\pm\frac38 C_q(1-\eta_Q)` (the intermediate principal value) and the splitting is :math:`\frac34C_q(1-\eta_Q)`.
The sign of :math:`C_q` does not show in a ²H spectrum; magnitudes are reported.

**Sites.** A jump model is a set of n sites j with tensors :math:`V_j = R_j V_0 R_j^\mathsf{T}`, equilibrium
populations :math:`p_j` and a rate matrix :math:`K` (:math:`K_{ij}` the rate i ← j, columns summing to zero) per
unit rate. The ``rate_per_s`` k of the models is the **escape rate** of a site (1/k its mean residence time):

* ``"rigid"`` — one site, :math:`V_0` (no motion).
* ``"pi-flip"`` — two-site 180° jumps about an axis at ``angle_deg`` θ from the C–D bond, :math:`K = k\,[[-1, 1],
  [1, -1]]`. θ = 60° is the C–D bond of a phenylene ring against its para (C1–C4) axis: in a regular hexagon
  the bond from C2 points radially away from the ring centre, 60° from the centre-to-C1 direction (Spiess,
  Colloid Polym. Sci. 261, 193 (1983); the π-flips of terephthalate linkers in MOFs: D. I. Kolokolov et al.,
  Angew. Chem. Int. Ed. 49, 4791 (2010)). θ = 54.74° (jump angle 2θ = 109.47°, the tetrahedral angle; for D2O
  flips about the molecular C2 axis the D–O–D angle ≈ 104.5° comes close) averages to :math:`\eta = 1`.
* ``"cone"`` — n-site jumps (n ≥ 3, default 3) among equally spaced positions on a cone of half-angle θ about
  the axis, to the two neighbours at k/2 each (for n = 3, to both other sites: methyl groups, θ = 70.53°).
* ``"tetrahedral"`` — the molecule jumps among the 12 orientations of the tetrahedral rotation group T, bond
  along a threefold axis, to each of the 9 orientations with another bond direction at k/9: each deuteron visits
  the 4 tetrahedral bond directions with escape rate k (water in ice Ih: R. J. Wittebort, M. G. Usha,
  D. J. Ruben, D. E. Wemmer, A. Pines, J. Am. Chem. Soc. 110, 5668 (1988)). With :math:`\eta_Q = 0` the three
  orientations about one bond are identical and the model is lumped, exactly, into the classic 4-site model
  (k/3 to each other bond direction). The average over T of any second-rank tensor vanishes: the fast limit is
  a single line at zero frequency.
* ``"free-rotation"`` — fast uniaxial rotation about an axis at θ: one site with the averaged tensor
  :math:`\bar V = (\hat a^\mathsf{T} V_0 \hat a)\,(3\hat a\hat a^\mathsf{T} - 1)/2`, effective coupling
  :math:`C_q\,P_2(\cos\theta)` for :math:`\eta_Q = 0` (θ = 60°: :math:`C_q/8`); a fast-limit model, the rate is
  not used.

The PAS x axis of :math:`V_0` lies in the plane of the bond and the jump axis (the ring plane of a phenylene).

**Fast limit.** For :math:`k \gg \omega` the spectrum is that of the population-weighted average tensor
:math:`\bar V = \sum_j p_j V_j` (:func:`motional_average`). For the π-flip with θ = 60°,
:math:`\bar V = \mathrm{diag}(\tfrac{3\sin^2\theta - 1}{2}, -\tfrac12, \tfrac{3\cos^2\theta - 1}{2})
= (\tfrac58, -\tfrac12, -\tfrac18)` in the (in-plane ⟂ axis, ⟂ plane, axis) frame: :math:`C_q^{eff} = \frac58 C_q`,
:math:`\eta^{eff} = 0.6`; at θ = 54.74° it is :math:`(\tfrac12, -\tfrac12, 0)`: :math:`C_q^{eff} = C_q/2`,
:math:`\eta^{eff} = 1` (H. W. Spiess, "Deuteron NMR — a new tool for studying chain mobility and orientation in
polymers", Adv. Polym. Sci. 66, 23 (1985)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mofcore.errors import DataFormatError

__all__ = ["MOTIONS", "DEFAULT_ANGLE_DEG", "JumpModel", "MotionalAverage", "efg_tensor", "jump_model",
           "tensor_parameters", "motional_average", "TETRAHEDRAL_ANGLE_DEG", "MAGIC_ANGLE_DEG"]

#: the motion models, by name
MOTIONS: tuple[str, ...] = ("rigid", "pi-flip", "cone", "tetrahedral", "free-rotation")
#: the tetrahedral angle arccos(−1/3) [deg]
TETRAHEDRAL_ANGLE_DEG = math.degrees(math.acos(-1.0 / 3.0))
#: the magic angle arccos(1/√3) [deg]
MAGIC_ANGLE_DEG = math.degrees(math.acos(1.0 / math.sqrt(3.0)))
#: the default angle between the C–D bond and the jump axis of each model [deg]
DEFAULT_ANGLE_DEG: dict[str, float] = {"rigid": 0.0, "pi-flip": 60.0, "cone": 180.0 - TETRAHEDRAL_ANGLE_DEG,
                                       "tetrahedral": 0.0, "free-rotation": 60.0}


@dataclass(frozen=True)
class JumpModel:
    """The sites of a motion (module docstring).

    Attributes:
        name: one of :data:`MOTIONS`.
        tensors: normalised EFG tensors :math:`V_j` in the molecular frame (V_zz = 1 in each PAS), (n_sites, 3, 3).
        rate_matrix: K per unit escape rate, :math:`K_{ij}` the rate i ← j [1], columns summing to 0, (n_sites, n_sites).
        populations: equilibrium populations p_j [1], summing to 1, (n_sites,).
        angle_deg: the angle between the bond and the jump axis [deg].
        uses_rate: whether the spectrum depends on the rate (False for ``rigid`` and ``free-rotation``).
        powder_domain: the ZCW domain that holds every distinct orientation (:mod:`instruments.nmr.orientations`):
            ``"octant"`` when each sign change of a coordinate maps the sites onto themselves (all models but
            odd-n cones), else ``"hemisphere"``.
    """

    name: str
    tensors: np.ndarray
    rate_matrix: np.ndarray
    populations: np.ndarray
    angle_deg: float
    uses_rate: bool = True
    powder_domain: str = "octant"

    @property
    def n_sites(self) -> int:
        return int(self.populations.shape[0])


@dataclass(frozen=True)
class MotionalAverage:
    """The fast-limit tensor of a motion.

    Attributes:
        cq_hz: effective coupling :math:`|C_q^{eff}|` [Hz].
        asymmetry: effective :math:`\\eta^{eff}` in [0, 1] (0 when the tensor averages to zero).
        horn_splitting_hz: distance between the two horns of the powder pattern, :math:`\\frac34 C_q^{eff}(1-\\eta^{eff})` [Hz].
        edge_hz: half-width of the whole pattern, :math:`\\frac34 |C_q^{eff}|` [Hz].
        tensor: averaged normalised tensor times :math:`C_q` [Hz], (3, 3).
    """

    cq_hz: float
    asymmetry: float
    horn_splitting_hz: float
    edge_hz: float
    tensor: np.ndarray


def efg_tensor(asymmetry: float, z_axis: np.ndarray, x_axis: np.ndarray) -> np.ndarray:
    r"""The normalised EFG tensor :math:`F\,\mathrm{diag}(-(1-\eta_Q)/2, -(1+\eta_Q)/2, 1)\,F^\mathsf{T}`, F = [x y z].

    Args:
        asymmetry: :math:`\eta_Q` in [0, 1].
        z_axis: the PAS z axis (the C–D bond), (3,), normalised here.
        x_axis: a vector in the PAS xz plane, orthogonalised against z here, (3,).

    Returns:
        V (3, 3), traceless and symmetric [1].
    """
    z = np.asarray(z_axis, dtype=np.float64)
    z = z / np.linalg.norm(z)
    x = np.asarray(x_axis, dtype=np.float64) - np.dot(x_axis, z) * z
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    frame = np.stack([x, y, z], axis=1)
    principal = np.diag([-(1.0 - asymmetry) / 2.0, -(1.0 + asymmetry) / 2.0, 1.0])
    return frame @ principal @ frame.T


def _rotation(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotation matrix by ``angle_rad`` about ``axis`` (Rodrigues)."""
    a = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + math.sin(angle_rad) * k + (1.0 - math.cos(angle_rad)) * (k @ k)


def _tetrahedral_group() -> list[np.ndarray]:
    """The 12 proper rotations of the tetrahedron with vertices (1,1,1), (1,−1,−1), (−1,1,−1), (−1,−1,1)."""
    rotations = [np.eye(3)] + [_rotation(axis, math.pi) for axis in np.eye(3)]
    for diagonal in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
        rotations += [_rotation(np.asarray(diagonal, float), s * 2.0 * math.pi / 3.0) for s in (1.0, -1.0)]
    return rotations


def _check(motion: str, asymmetry: float, angle_deg: float | None, n_sites: int | None) -> None:
    if motion not in MOTIONS:
        import difflib

        close = difflib.get_close_matches(str(motion), MOTIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DataFormatError(f"motion: expected one of {', '.join(MOTIONS)}, got {motion!r}{hint}")
    if isinstance(asymmetry, bool) or not isinstance(asymmetry, (int, float, np.floating)) \
            or not 0.0 <= float(asymmetry) <= 1.0:
        raise DataFormatError(f"asymmetry: expected the quadrupolar asymmetry η_Q in [0, 1], got {asymmetry!r}")
    if angle_deg is not None and not (isinstance(angle_deg, (int, float, np.floating)) and math.isfinite(angle_deg)):
        raise DataFormatError(f"angle: expected an angle such as \"60 deg\", got {angle_deg!r}")
    if n_sites is not None:
        if motion != "cone":
            raise DataFormatError(f"sites: only the cone model takes a number of sites, got sites = {n_sites} for "
                                  f"{motion!r}")
        if isinstance(n_sites, bool) or not isinstance(n_sites, (int, np.integer)) or not 3 <= n_sites <= 12:
            raise DataFormatError(f"sites: expected 3 … 12 sites on the cone, got {n_sites!r}")


def jump_model(motion: str, asymmetry: float = 0.0, angle_deg: float | None = None,
               n_sites: int | None = None) -> JumpModel:
    """The sites, rate matrix and populations of ``motion`` (module docstring).

    Args:
        motion: one of :data:`MOTIONS`.
        asymmetry: :math:`\\eta_Q` of the static tensor, in [0, 1].
        angle_deg: angle between the C–D bond and the jump axis [deg] (default :data:`DEFAULT_ANGLE_DEG`).
        n_sites: sites on the cone (``"cone"`` only; default 3).

    Raises:
        DataFormatError: unknown motion, asymmetry outside [0, 1], a bad angle or number of sites.
    """
    _check(motion, asymmetry, angle_deg, n_sites)
    asymmetry = float(asymmetry)
    theta_deg = DEFAULT_ANGLE_DEG[motion] if angle_deg is None else float(angle_deg)
    theta = math.radians(theta_deg)
    axis = np.array([0.0, 0.0, 1.0])
    bond = np.array([math.sin(theta), 0.0, math.cos(theta)])
    in_plane = np.array([math.cos(theta), 0.0, -math.sin(theta)])
    if motion == "rigid":
        tensor = efg_tensor(asymmetry, axis, np.array([1.0, 0.0, 0.0]))
        return JumpModel(motion, tensor[None], np.zeros((1, 1)), np.ones(1), theta_deg, uses_rate=False)
    v0 = efg_tensor(asymmetry, bond, in_plane)
    if motion == "free-rotation":
        tensor = float(axis @ v0 @ axis) * (3.0 * np.outer(axis, axis) - np.eye(3)) / 2.0
        return JumpModel(motion, tensor[None], np.zeros((1, 1)), np.ones(1), theta_deg, uses_rate=False)
    if motion in ("pi-flip", "cone"):
        n = 2 if motion == "pi-flip" else (3 if n_sites is None else int(n_sites))
        rotations = [_rotation(axis, 2.0 * math.pi * j / n) for j in range(n)]
        tensors = np.stack([r @ v0 @ r.T for r in rotations])
        rates = np.zeros((n, n))
        for j in range(n):
            neighbours = {(j + 1) % n, (j - 1) % n}
            for i in neighbours:
                rates[i, j] += 1.0 / len(neighbours)
        rates -= np.diag(rates.sum(axis=0))
        return JumpModel(motion, tensors, rates, np.full(n, 1.0 / n), theta_deg,
                         powder_domain="octant" if n % 2 == 0 else "hemisphere")
    # tetrahedral: bond along (1,1,1), x in the plane of the bond and (1,−1,0)
    bond = np.array([1.0, 1.0, 1.0]) / math.sqrt(3.0)
    v0 = efg_tensor(asymmetry, bond, np.array([1.0, -1.0, 0.0]))
    group = _tetrahedral_group()
    if asymmetry == 0.0:
        group = group[:4]  # identity and the three C2: one rotation per bond direction
    tensors = np.stack([r @ v0 @ r.T for r in group])
    bonds = np.stack([r @ bond for r in group])
    other = np.abs(bonds @ bonds.T - 1.0) > 1e-9
    rates = other / other.sum(axis=0, keepdims=True)
    rates = rates - np.diag(rates.sum(axis=0))
    return JumpModel(motion, tensors, rates, np.full(len(group), 1.0 / len(group)), TETRAHEDRAL_ANGLE_DEG)


def tensor_parameters(tensor: np.ndarray) -> tuple[float, float]:
    r"""The coupling :math:`V_{zz}` (signed) and asymmetry :math:`\eta = (V_{xx} - V_{yy})/V_{zz}` of a symmetric
    traceless tensor, principal values ordered :math:`|V_{zz}| \ge |V_{yy}| \ge |V_{xx}|`; (0, 0) for a zero tensor."""
    values = np.linalg.eigvalsh(np.asarray(tensor, dtype=np.float64))
    order = np.argsort(np.abs(values))
    v_xx, v_yy, v_zz = values[order]
    scale = float(np.max(np.abs(values)))
    if scale <= 1e-12 * max(1.0, float(np.max(np.abs(tensor)))) or abs(v_zz) < 1e-12:
        return 0.0, 0.0
    return float(v_zz), abs(float(np.clip((v_xx - v_yy) / v_zz, 0.0, 1.0)))


def motional_average(cq_hz: float, asymmetry: float, motion: str | JumpModel, angle_deg: float | None = None,
                     n_sites: int | None = None) -> MotionalAverage:
    r"""The fast-limit tensor :math:`C_q\sum_j p_j V_j` of a motion: effective :math:`|C_q|`, η and the horn splitting.

    Args:
        cq_hz: static :math:`C_q = e^2qQ/h` [Hz].
        asymmetry: static :math:`\eta_Q` in [0, 1].
        motion: a name of :data:`MOTIONS` (with ``angle_deg``, ``n_sites``) or a :class:`JumpModel`.

    Returns:
        :class:`MotionalAverage`. Example: π-flips at 60° of a C–D with :math:`\eta_Q = 0` give
        :math:`\frac58 C_q` and η = 0.6; tetrahedral jumps give 0.
    """
    model = motion if isinstance(motion, JumpModel) else jump_model(motion, asymmetry, angle_deg, n_sites)
    average = np.einsum("j,jab->ab", model.populations, model.tensors)
    v_zz, eta = tensor_parameters(average)
    cq_eff = abs(float(cq_hz) * v_zz)
    return MotionalAverage(cq_hz=cq_eff, asymmetry=eta, horn_splitting_hz=0.75 * cq_eff * (1.0 - eta),
                           edge_hz=0.75 * cq_eff, tensor=float(cq_hz) * average)
