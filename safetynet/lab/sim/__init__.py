"""Simulated residents: for rehearsal, the demo and load. Never used by a real `campaign start`."""
