"""What every package of the twin needs and none owns: errors, atomic writes, quantities with units,
reference constants and the statistics of fits. Imports nothing from :mod:`twin`, :mod:`instruments` or
:mod:`reports` (they import it).

Modules (import them by name; this package imports none of them, so ``import mofcore.units`` stays cheap):

* :mod:`mofcore.errors` — the exception hierarchy (``TwinError`` …).
* :mod:`mofcore.atomic` — atomic file writes.
* :mod:`mofcore.units` — quantity strings and the internal units.
* :mod:`mofcore.constants` — reference tables (X-ray emission lines).
* :mod:`mofcore.stats` — the statistics every fit uses, one implementation each: the Poisson uncertainty
  ``poisson_sigma``, the figures of merit R_wp, R_exp, χ², χ²_ν (``figures_of_merit``,
  ``pooled_figures_of_merit``), the Chebyshev basis and the weighted linear solve of scales and background
  under a model pattern (``chebyshev_basis``, ``solve_scale_background``). NumPy or JAX (``jit``-able).
* :mod:`mofcore.breathing` — the phase interpolation h(η) = η²(3 − 2η) of the breathing order parameter, its
  derivative and the path X_c + (X_o − X_c) h(η) of a property between the closed and the open phase.
"""
