"""Instrument forward models (XRD, NMR, IR/Raman, TEM) and readers of measured files. Knows nothing of `twin`."""
