"""Use cases. They take a unit of work and a clock, and know nothing of HTTP or SQL."""
