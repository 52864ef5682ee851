"""The worker process: a thin async loop around WorkQueue (claims, leases) and Executor."""
