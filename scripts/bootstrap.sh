#!/usr/bin/env bash
# Makes ./.venv match uv.lock exactly. Idempotent and quick when nothing changed.
# Needs only python3 (3.11+) on the machine: uv itself is installed into ./.tools.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
if [ ! -x .tools/bin/uv ] || [ "$(.tools/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    python3 -m venv .tools
    .tools/bin/pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
export UV_PROJECT_ENVIRONMENT="$PWD/.venv"
# Bytecode is compiled here, once: where PYTHONDONTWRITEBYTECODE is set (CI machines often
# set it) every process would otherwise compile FastAPI, SQLAlchemy and the provider SDKs
# from source at each start (about 3 s a process here; the suite starts dozens).
.tools/bin/uv sync --frozen --quiet --compile-bytecode "$@"
.venv/bin/python -m compileall -q backbeat
