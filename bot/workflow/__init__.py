"""The handbooks' processes on top of the ticket core: documentation (intake), the triage checklist,
categories, deferral, merging, vendor escalation and closing the loop (issue 9).

Routing lives in :mod:`bot.routing`, roles and permissions in :mod:`bot.access`, the solutions
and FAQ in :mod:`bot.kb`.
"""
