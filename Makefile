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

test: lint
	@scripts/ensure-chromium.sh
	.venv/bin/pytest
