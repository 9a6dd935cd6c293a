"""Reports for the team leads: the desk's figures over a range, as text, CSV, JSON and a chart (issue #19)."""
