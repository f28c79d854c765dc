"""What every package of the twin needs and none owns: errors, atomic writes, quantities with units,
reference constants and the statistics of fits. Imports nothing from :mod:`twin`, :mod:`instruments` or
:mod:`reports` (they import it)."""
