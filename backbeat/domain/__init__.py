"""Backbeat's pure core: cron and time-zone maths, entities, run states and errors.

Nothing in this package imports a framework, a database driver or an HTTP client.
"""
