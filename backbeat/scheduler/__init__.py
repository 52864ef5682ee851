"""The scheduler process: a thin loop around Scheduler.tick."""
