"""Evaluation: metrics on the test set, temperature calibration, and the report's figures."""
