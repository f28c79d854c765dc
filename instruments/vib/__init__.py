"""Vibrational spectroscopy (IR, Raman): Kubo/cumulant lineshapes from frequency fluctuations
(:mod:`instruments.vib.kubo`), band profiles and fits of measured spectra (:mod:`instruments.vib.bands`), per-phase
band tables with frequency maps and the IR/Raman technique on the seam (:mod:`instruments.vib.technique`).
See docs/vibrational.md."""

from instruments.vib.kubo import (
    RAD_PER_PS_PER_CM1,
    KuboLine,
    cumulant_correlation,
    exact_correlation,
    kubo_correlation,
    kubo_line,
    spectrum_from_correlation,
)

__all__ = ["RAD_PER_PS_PER_CM1", "KuboLine", "cumulant_correlation", "exact_correlation", "kubo_correlation",
           "kubo_line", "spectrum_from_correlation"]
