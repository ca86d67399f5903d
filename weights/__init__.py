"""Bundled weights (installed from the top-level weights/ folder)."""
