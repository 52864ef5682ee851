"""Persistence: engine, tables, repositories (the only place that builds queries), migrations."""
