"""Infrastructure: outbox, scheduler and job slots, timers, leases, metrics, logging, the ops server."""
