"""Physical constants and reference tables that more than one package needs.

Fundamental constants come from :mod:`scipy.constants` (CODATA); this module holds only the reference tables
that are not there.

X-ray emission lines
    :data:`XRAY_LINES_A` gives Kα1, Kα2 and Kβ wavelengths [Å] of the common anode materials, the one table the
    diffraction forward model, the instrument files and the readers of vendor formats use. Cu Kα1/Kα2 are the
    values of G. Hölzer, M. Fritsch, M. Deutsch, J. Härtwig, E. Förster, Phys. Rev. A 56, 4554 (1997) (8047.8227
    and 8027.8416 eV, converted with hc = 12.398 419 843 keV·Å); the other anodes and Cu Kβ are the values of
    International Tables for Crystallography Vol. C (2004), Table 4.2.2.1. The Kα2/Kα1 intensity ratio of a
    tube without monochromator is close to 0.5 (:data:`KA2_KA1_RATIO`).
"""

from __future__ import annotations

__all__ = ["XRAY_LINES_A", "KA2_KA1_RATIO", "CU_KA1_A", "CU_KA2_A", "xray_lines"]

#: anode → (Kα1, Kα2, Kβ) wavelength [Å]
XRAY_LINES_A: dict[str, tuple[float, float, float]] = {
    "Cu": (1.5405929, 1.5444274, 1.392250),
    "Co": (1.788996, 1.792850, 1.620830),
    "Cr": (2.289760, 2.293663, 2.084920),
    "Fe": (1.936042, 1.939980, 1.756610),
    "Mo": (0.709319, 0.713609, 0.632305),
    "Ag": (0.559421, 0.563812, 0.497082),
}

#: Kα2/Kα1 intensity ratio of an unmonochromated tube
KA2_KA1_RATIO = 0.5

CU_KA1_A, CU_KA2_A = XRAY_LINES_A["Cu"][:2]


def xray_lines(anode: str) -> tuple[float, float, float]:
    """(Kα1, Kα2, Kβ) [Å] of an anode named as in :data:`XRAY_LINES_A` (case-insensitive); ``KeyError`` if unknown."""
    for name, lines in XRAY_LINES_A.items():
        if name.lower() == anode.strip().lower():
            return lines
    raise KeyError(anode)
