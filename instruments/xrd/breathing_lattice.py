r"""Lattice parameters along the anisotropic breathing path of a wine-rack framework (MIL-53 type).

The channels of MIL-53 are rhombi whose sides are the terephthalate struts between parallel M–OH–M chains.
Breathing hinges the rhombus at the chains ("knee-cap" motion at the carboxylate O–O axis) at nearly constant
strut length: one diagonal of the channel shrinks while the other grows, and the chain axis hardly changes
(C. Serre, S. Bourrelly, A. Vimont, N. A. Ramsahye, G. Maurin, P. L. Llewellyn, M. Daturi, Y. Filinchuk,
O. Leynaud, P. Barnes, G. Férey, Adv. Mater. 19, 2246 (2007), doi:10.1002/adma.200602645; the wine-rack
geometry of MIL-53 in A. U. Ortiz, A. Boutin, A. H. Fuchs, F.-X. Coudert, Phys. Rev. Lett. 109, 195502 (2012);
A. V. Neimark et al., Langmuir 27, 4734 (2011), convert the d-spacing of one reflection of MIL-53(Cr) to a cell
volume with it: V = 2 L c d(110) at the L and c of the ht cell, as the files of their Figure 4 show).

Geometry. With D₁ (long) and D₂ (short) the two diagonals of the channel, c the chain repeat and L the strut
length (the side of the rhombus), φ the half angle of the rhombus at the long diagonal:

.. math::
    D_1 = 2L\cos\varphi,\qquad D_2 = 2L\sin\varphi,\qquad
    V = D_1 D_2\,c = 2L^2 c\,\sin 2\varphi .

A body-centred (or C-centred) MIL-53 cell holds two channels in the D₁ × D₂ × c box, so V is the cell volume.
In a monoclinic narrow-pore cell the long axis is tilted by the angle β between it and the chain:
D₁ = a_long sin β, and V = a_long D₂ c sin β still holds.

Path. Between the closed (η = 0) and the open (η = 1) endpoint, L(η), c(η) and β(η) follow the phase
interpolation X(η) = X_c + (X_o − X_c) h(η) of :mod:`mofcore.breathing` (constant L and c where the endpoints
agree), and the volume is the twin's V(η) (the same interpolation of the endpoint volumes). The rhombus angle then
follows from V: sin 2φ = V / (2 L² c), so the lattice reproduces V(η) exactly and both endpoint cells at η = 0
and 1. :func:`lattice_at_volume` is the same construction at a given volume for fixed L, c, β (the deformation
of one phase at constant strut length, used to read measured volumes of Neimark et al. 2011).

Setting. A cell is described by which of its axes is the long diagonal, the short diagonal and the chain
(:func:`channel_axes`: by default the longest axis is the long diagonal and the shortest the chain, true of
the MIL-53 cells in ``datasets/structures``); the angle between the long axis and the chain is the cell angle
opposite the short axis (α, β or γ). The lattice is returned in the setting of the endpoint given by
``setting`` (0 closed, 1 open), so that the fractional coordinates of that phase's CIF stay valid.

Left out: the rotation of the linkers and the shortening of the carboxylate hinge that make the measured
endpoints not exactly constant-L (MIL-53(Cr): L = 10.29 Å in the np cell, 10.61 Å in the lp cell; the path
interpolates L); the range 2φ > 90° where the diagonals swap (sin 2φ > 1 gives NaN: no MIL-53 cell goes there).
Pure JAX, differentiable, no clipping; η is not clipped (callers clip it to [0, 1]).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from mofcore.breathing import breathing_path

#: a pair of endpoint cells is treated as a wine-rack (:func:`is_wine_rack_pair`) when each has at most one oblique
#: angle and their chain repeats and strut lengths agree within these fractions (MIL-53(Al): 1.0 %, 3.4 %;
#: MIL-53(Cr): 0.4 %, 3.0 %; DUT-8(Ni) fails: a triclinic closed cell)
CHAIN_TOLERANCE = 0.02
STRUT_TOLERANCE = 0.05

__all__ = [
    "channel_axes",
    "channel_geometry",
    "lattice_at_volume",
    "breathing_lattice",
    "cell_volume_A3",
    "is_wine_rack_pair",
    "phase_lattice_on_path",
]


def channel_axes(lattice: Float[Array, "6"]) -> tuple[int, int, int]:
    """Indices (long diagonal, short diagonal, chain) of a MIL-53-type cell's axes: longest, middle, shortest.

    Args:
        lattice: (a, b, c [Å], α, β, γ [deg]) of one endpoint cell (host array).

    Returns:
        Three distinct axis indices in 0..2.
    """
    order = np.argsort(np.asarray(lattice, dtype=float)[:3])
    return int(order[2]), int(order[1]), int(order[0])


def cell_volume_A3(lattice: Float[Array, "... 6"]) -> Float[Array, "..."]:
    """Triclinic cell volume V = abc √(1 − cos²α − cos²β − cos²γ + 2 cos α cos β cos γ) [Å³]."""
    a, b, c = lattice[..., 0], lattice[..., 1], lattice[..., 2]
    ca, cb, cg = (jnp.cos(jnp.deg2rad(lattice[..., i])) for i in (3, 4, 5))
    return a * b * c * jnp.sqrt(1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg)


def channel_geometry(lattice: Float[Array, "... 6"], axes: tuple[int, int, int]) -> tuple[Float[Array, "..."], ...]:
    r"""Strut length L, chain repeat c, tilt angle β and rhombus half angle φ of a cell (module docstring).

    Args:
        lattice: (..., 6) cell (a, b, c [Å], α, β, γ [deg]).
        axes: (long, short, chain) axis indices of that cell (:func:`channel_axes`).

    Returns:
        (L [Å], c [Å], β [deg] between the long axis and the chain, φ [rad]), each of shape ``lattice[..., 0]``.
    """
    i_long, i_short, i_chain = axes
    tilt = lattice[..., 3 + i_short]
    d1 = lattice[..., i_long] * jnp.sin(jnp.deg2rad(tilt))
    d2 = lattice[..., i_short]
    return 0.5 * jnp.hypot(d1, d2), lattice[..., i_chain], tilt, jnp.arctan2(d2, d1)


def lattice_at_volume(
    volume_A3: Float[Array, "*shape"],
    strut_A: Float[Array, "*shape"],
    chain_A: Float[Array, "*shape"],
    tilt_deg: Float[Array, "*shape"],
    axes: tuple[int, int, int],
) -> Float[Array, "*shape 6"]:
    r"""The cell of volume V on the wine-rack at strut length L, chain c and tilt β.

    .. math:: \sin 2\varphi = V/(2L^2c),\quad a_{long} = 2L\cos\varphi/\sin\beta,\quad a_{short} = 2L\sin\varphi

    Args:
        volume_A3: V [Å³], ≤ 2L²c; broadcast with the other arguments.
        strut_A: L [Å]. chain_A: c [Å]. tilt_deg: angle between the long axis and the chain [deg] (90 for an
            orthorhombic cell).
        axes: (long, short, chain) axis indices of the output setting.

    Returns:
        (*shape, 6) lattice (a, b, c [Å], α, β, γ [deg]) in that setting; right angles except the tilt.
    """
    i_long, i_short, i_chain = axes
    volume_A3, strut_A, chain_A, tilt_deg = jnp.broadcast_arrays(volume_A3, strut_A, chain_A, tilt_deg)
    phi = 0.5 * jnp.arcsin(volume_A3 / (2.0 * strut_A * strut_A * chain_A))
    lengths = {i_long: 2.0 * strut_A * jnp.cos(phi) / jnp.sin(jnp.deg2rad(tilt_deg)),
               i_short: 2.0 * strut_A * jnp.sin(phi), i_chain: chain_A}
    right = jnp.full_like(volume_A3, 90.0)
    angles = {i: right for i in range(3)}
    angles[i_short] = tilt_deg  # the angle between the long axis and the chain sits opposite the short axis
    return jnp.stack([lengths[0], lengths[1], lengths[2], angles[0], angles[1], angles[2]], axis=-1)


def breathing_lattice(
    eta: Float[Array, "*shape"],
    closed_lattice: Float[Array, "6"],
    open_lattice: Float[Array, "6"],
    *,
    setting: int = 1,
    closed_axes: tuple[int, int, int] | None = None,
    open_axes: tuple[int, int, int] | None = None,
) -> Float[Array, "*shape 6"]:
    r"""Lattice parameters at breathing order parameter η on the anisotropic (wine-rack) path.

    L, c and the tilt follow X(η) = X_c + (X_o − X_c) h(η); the volume follows the twin's
    V(η) = V_c + (V_o − V_c) h(η) (:func:`mofcore.breathing.breathing_path`); the rhombus angle is what gives that
    volume (module docstring). η = 0 returns the closed cell and η = 1 the open cell (in ``setting``); in
    between, the long diagonal grows towards the closed phase while the short one shrinks.

    Args:
        eta: breathing order parameter η [1] (0 closed, 1 open), any shape.
        closed_lattice, open_lattice: (6,) endpoint cells (a, b, c [Å], α, β, γ [deg]) in their own settings.
        setting: 0 returns the lattice in the axis setting of the closed cell, 1 in that of the open cell.
        closed_axes, open_axes: (long, short, chain) axis indices of each endpoint; default
            :func:`channel_axes` (longest, middle, shortest).

    Returns:
        (*shape, 6) lattice (a, b, c [Å], α, β, γ [deg]).
    """
    if setting not in (0, 1):
        raise ValueError(f"breathing_lattice: setting must be 0 (closed) or 1 (open), got {setting!r}")
    closed_axes = channel_axes(closed_lattice) if closed_axes is None else tuple(closed_axes)
    open_axes = channel_axes(open_lattice) if open_axes is None else tuple(open_axes)
    closed = jnp.asarray(closed_lattice)
    opened = jnp.asarray(open_lattice, closed.dtype)
    eta = jnp.asarray(eta, closed.dtype)
    l_c, c_c, t_c, _ = channel_geometry(closed, closed_axes)
    l_o, c_o, t_o, _ = channel_geometry(opened, open_axes)
    volume = breathing_path(eta, cell_volume_A3(closed), cell_volume_A3(opened))
    return lattice_at_volume(
        volume,
        breathing_path(eta, l_c, l_o),
        breathing_path(eta, c_c, c_o),
        breathing_path(eta, t_c, t_o),
        closed_axes if setting == 0 else open_axes,
    )


def is_wine_rack_pair(closed_lattice: Float[Array, "6"], open_lattice: Float[Array, "6"]) -> bool:
    """Whether two endpoint cells look like the two ends of one wine-rack (host-side check, not traced).

    True when each cell has at most one angle off 90° (orthorhombic or monoclinic), that angle sits opposite the
    short diagonal (:func:`channel_axes`), the chain repeats and strut lengths of the two cells agree within
    :data:`CHAIN_TOLERANCE` and :data:`STRUT_TOLERANCE`, and the rhombus angle differs (the short diagonal changes
    by more than 5 %). Frameworks that breathe otherwise (DUT-8's triclinic closed pore) and a rigid cell (the
    same cell at both ends) return False.
    """
    closed, opened = (np.asarray(x, dtype=float) for x in (closed_lattice, open_lattice))
    geometry = []
    for cell in (closed, opened):
        axes = channel_axes(cell)
        oblique = [i for i in range(3) if abs(cell[3 + i] - 90.0) > 1e-6]
        if len(set(axes)) != 3 or oblique not in ([], [axes[1]]):
            return False
        tilt = np.deg2rad(cell[3 + axes[1]])
        geometry.append((0.5 * np.hypot(cell[axes[0]] * np.sin(tilt), cell[axes[1]]), cell[axes[2]], cell[axes[1]]))
    (strut_c, chain_c, short_c), (strut_o, chain_o, short_o) = geometry
    return bool(abs(chain_o / chain_c - 1.0) <= CHAIN_TOLERANCE and abs(strut_o / strut_c - 1.0) <= STRUT_TOLERANCE
                and abs(short_o / short_c - 1.0) > 0.05)


def phase_lattice_on_path(
    eta: Float[Array, "n_frames"],
    closed_lattice: Float[Array, "6"],
    open_lattice: Float[Array, "6"],
    phase_lattice: Float[Array, "6"],
    setting: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Lattice of one phase at η on the wine-rack path, in that phase's own cell, and its derivative in η.

    The path (:func:`breathing_lattice` in the endpoint's ``setting``) is applied relative to its value at that
    endpoint: lengths are scaled by L_path(η)/L_path(η_end) and angles shifted by θ_path(η) − θ_path(η_end), so
    that at the endpoint the phase's CIF lattice comes back bit for bit and a phase whose CIF differs slightly from
    the material's endpoint cell keeps its own cell.

    Args:
        eta: (n_frames,) mean η of the phase per frame.
        closed_lattice, open_lattice: (6,) endpoint cells (a, b, c [Å], α, β, γ [deg]).
        phase_lattice: (6,) the phase's own cell (its CIF).
        setting: 0 for the closed phase (η_end = 0), 1 for the open phase (η_end = 1).

    Returns:
        (lattice (n_frames, 6), dlattice/dη (n_frames, 6)) as float64 host arrays.
    """
    import jax

    eta = jnp.asarray(np.asarray(eta, dtype=float), jnp.float32)

    def path(e):
        return breathing_lattice(e, closed_lattice, open_lattice, setting=setting)

    end = np.asarray(path(jnp.full((), float(setting), jnp.float32)), dtype=np.float64)
    values, tangents = jax.jvp(path, (eta,), (jnp.ones_like(eta),))
    values, tangents = np.asarray(values, dtype=np.float64), np.asarray(tangents, dtype=np.float64)
    own = np.asarray(phase_lattice, dtype=np.float64)
    lattice = np.empty_like(values)
    dlattice = np.empty_like(values)
    lattice[:, :3] = own[:3] * (values[:, :3] / end[:3])
    dlattice[:, :3] = own[:3] * (tangents[:, :3] / end[:3])
    lattice[:, 3:] = own[3:] + (values[:, 3:] - end[3:])
    dlattice[:, 3:] = tangents[:, 3:]
    return lattice, dlattice
