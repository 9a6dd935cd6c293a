"""Duty: the window when duty runs, roles, rotations, plans, overrides, absences, swaps and the ledger."""
