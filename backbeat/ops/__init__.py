"""Operating Backbeat: structured logs (`logs`), Prometheus metrics (`metrics`, with the
multi-process files in `metrics_files`), the database probe that `/readyz` and `backbeat
doctor` share (`database`), and `backbeat doctor`'s checks (`doctor`, one module per
dependency).

Nothing is imported here: services record metrics without pulling in the doctor's providers.
"""
