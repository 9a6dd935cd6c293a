"""The hourly Prio-1 digest for the duty channel while duty runs."""
