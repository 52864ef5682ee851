#!/usr/bin/env bash
# Prints the path of a llama-cpp-python wheel for the real-model test tier (tests/realmodel),
# building it first when it is not cached yet and BUILD=1 is given.
#
# PyPI ships llama-cpp-python as source only: compiling llama.cpp takes about 10 minutes on a
# 2-core machine, so the wheel is built once and kept OUTSIDE the work tree, in
# ${BACKBEAT_CACHE_DIR:-~/.cache/backbeat}/wheels, where every clone on the machine (CI's fresh
# clone too) finds it. The version and the source's sha256 are uv.lock's; the cache key also
# holds a digest of the CPU's flags, as llama.cpp is compiled for the CPU it is built on.
# Progress goes to stderr; the full build log is kept beside the wheel.
# Exits 0 with the path on stdout, or 3 (printing nothing) when not cached and BUILD is not 1.
set -euo pipefail
cd "$(dirname "$0")/.."

lock_field() {  # lock_field KEY: a field of uv.lock's llama-cpp-python entry
    awk -v key="$1" '
        /^\[\[package\]\]/ { inside = 0 }
        /^name = "llama-cpp-python"$/ { inside = 1 }
        inside && $1 == key { print; exit }
    ' uv.lock
}
version="$(lock_field version | sed -E 's/.*"(.*)".*/\1/')"
sdist_hash="$(lock_field sdist | sed -E 's/.*hash = "sha256:([0-9a-f]+)".*/\1/')"
if [ -z "$version" ] || [ -z "$sdist_hash" ]; then
    echo "llama-server-wheel: uv.lock has no llama-cpp-python entry with a source hash" >&2
    exit 1
fi
cpu="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-12)"
cache="${BACKBEAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/backbeat}"
dir="$cache/wheels/llama-cpp-python-$version-cpu$cpu"

find_wheel() { find "$dir" -maxdepth 1 -name "llama_cpp_python-$version-*.whl" 2>/dev/null | head -1 || true; }

wheel="$(find_wheel)"
if [ -n "$wheel" ]; then
    echo "$wheel"
    exit 0
fi
if [ "${BUILD:-0}" != "1" ]; then
    exit 3
fi

mkdir -p "$dir"
# One build at a time on the machine (a developer's bootstrap and CI's may overlap).
exec 9>"$dir/.lock"
flock 9
wheel="$(find_wheel)"
if [ -n "$wheel" ]; then
    echo "$wheel"
    exit 0
fi

work="$(mktemp -d "$dir/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "llama-server-wheel: building llama-cpp-python $version once (about 10 minutes on 2 cores);" \
    "it is cached in $dir" >&2
log="$dir/build.log"
if ! .tools/bin/pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    -d "$work/src" "llama-cpp-python==$version" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
sdist="$(find "$work/src" -name 'llama_cpp_python-*.tar.gz' | head -1)"
if [ "$(sha256sum "$sdist" | cut -d' ' -f1)" != "$sdist_hash" ]; then
    echo "llama-server-wheel: $sdist does not match uv.lock's sha256 $sdist_hash" >&2
    exit 1
fi
# CPU only; no multimodal (llava/mtmd) library: the tier serves a text model.
export CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
start=$SECONDS
nice .tools/bin/pip wheel --disable-pip-version-check --no-deps --verbose \
    -w "$work/out" "$sdist" >"$log" 2>&1 &
build=$!
while kill -0 "$build" 2>/dev/null; do
    sleep 30
    step="$(grep -aoE '^\s*\[[0-9]+/[0-9]+\]' "$log" | tr -d ' ' | tail -1 || true)"
    echo "llama-server-wheel: still compiling, $(((SECONDS - start) / 60)) min ${step:+(step $step)}" >&2
done
if ! wait "$build"; then
    tail -40 "$log" >&2
    echo "llama-server-wheel: the build failed; the whole log is $log" >&2
    exit 1
fi
built="$(find "$work/out" -name "llama_cpp_python-$version-*.whl" | head -1)"
mv "$built" "$dir/"
echo "llama-server-wheel: built in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s" >&2
find_wheel
