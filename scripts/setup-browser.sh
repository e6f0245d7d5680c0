#!/bin/sh
# Installs what the browser check of the HTML report (tests/report_html.rs) needs: Debian's chromium and
# playwright-core from tests/browser/package-lock.json. Idempotent: does nothing when both are present.
# CI runs it, then the tests with MODELVET_REQUIRE_BROWSER=1 so a missing browser fails instead of skipping.
set -eu
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    echo "setup-browser: installing chromium" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
fi

if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "setup-browser: installing playwright-core into tests/browser" >&2
    npm ci --prefix tests/browser --no-audit --no-fund
fi

/usr/bin/chromium --version >&2 || true
echo "setup-browser: ready" >&2
