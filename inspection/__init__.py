"""Inspection side of spotcheck: inspectors, the spot-check item list, tasks and visits."""
