#!/usr/bin/env bash
# Everything CI runs (.ci/run calls exactly this): install what the tests need, lint, type-check, test.
# Usage: bash scripts/test.sh [extra pytest arguments]   (HITL_SKIP_INSTALL=1: skip the installs)
set -euo pipefail
cd "$(dirname "$0")/.."

# HITL_SKIP_INSTALL=1 skips the installation steps (a machine that is already set up).
if [ "${HITL_SKIP_INSTALL:-0}" != "1" ]; then
    python -m pip install --quiet -e ".[test]"
fi

# The browser tests drive Debian's Chromium through Playwright.
if [ "${HITL_SKIP_INSTALL:-0}" != "1" ] && [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

# The state tests also run on a real PostgreSQL: Debian's server binaries (the tests start their own
# throw-away cluster with initdb in a temporary directory; nothing is configured system-wide).
if [ "${HITL_SKIP_INSTALL:-0}" != "1" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
fi
# A missing PostgreSQL or Chromium is then a failure, not a skip.
export HITL_REQUIRE_POSTGRES=1
export HITL_REQUIRE_CHROMIUM=1

export GRADIO_ANALYTICS_ENABLED=False
export HF_HUB_DISABLE_TELEMETRY=1

echo "== ruff check"
python -m ruff check hitl_pipeline tests bench
python -m ruff format --check hitl_pipeline tests bench
echo "== mypy"
python -m mypy
echo "== pytest"
python -m pytest -q "$@"
