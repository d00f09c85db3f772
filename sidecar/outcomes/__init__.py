"""Outcomes: stored predictions, delayed labels, performance and fairness per window."""
