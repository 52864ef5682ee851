# The two commands of the README's quick start. Both bootstrap ./.venv from uv.lock first.
.PHONY: serve test lint bootstrap

bootstrap:
	@scripts/bootstrap.sh

serve: bootstrap
	.venv/bin/backbeat serve

lint: bootstrap
	.venv/bin/ruff check backbeat tests benchmarks
	.venv/bin/ruff format --check backbeat tests benchmarks
	.venv/bin/mypy backbeat
	.venv/bin/lint-imports

# Four test processes on any machine: most of the long tests wait on real processes and
# real time, so they overlap well beyond the core count (tests/conftest.py starts the longest
# first; --dist loadfile keeps a module, and its module-scoped fixtures, in one process).
# Bytecode writing is allowed for the run even where PYTHONDONTWRITEBYTECODE is set: pytest
# then keeps its assertion-rewritten test modules, instead of rewriting all of them again in
# every test process (about 6 s of CPU each here).
test: lint
	@scripts/ensure-chromium.sh
	env -u PYTHONDONTWRITEBYTECODE .venv/bin/pytest -n 4 --dist loadfile
