"""Oversight reports (监管报告): coverage, joint visits, timeliness, closure, fairness, credit."""
