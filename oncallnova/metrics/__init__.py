"""Incident metrics: pure derivations (facts.py) the metrics worker and the exporter share."""
