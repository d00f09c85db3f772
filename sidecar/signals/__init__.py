"""Signals: verdicts, their thresholds, the SLO signals, traffic counts and the status report."""
