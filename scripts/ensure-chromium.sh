#!/usr/bin/env bash
# The browser tests (tests/browser) drive Debian's chromium package through Playwright
# (/usr/bin/chromium; a browser download is not possible). Installs it when missing,
# quietly; does nothing when it is there.
set -euo pipefail
if dpkg -s chromium >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: the browser tests need Debian's chromium package" \
        "(/usr/bin/chromium), and this machine has no apt-get to install it." >&2
    exit 1
fi
apt_log="$(mktemp)"
trap 'rm -f "$apt_log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q chromium >"$apt_log" 2>&1; then
    # The package lists may be missing or stale on a fresh machine: refresh, then retry.
    if ! { apt-get update -q && apt-get install -y -q chromium; } >"$apt_log" 2>&1; then
        cat "$apt_log" >&2
        echo "ensure-chromium: could not install Debian's chromium package (see above;" \
            "it needs root)." >&2
        exit 1
    fi
fi
