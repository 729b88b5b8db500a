"""Evaluation: caption metrics (one module each), scoring driver, reports."""
