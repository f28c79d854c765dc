"""Comparison reports: self-contained HTML, figures and a JSON summary."""
