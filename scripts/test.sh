#!/usr/bin/env bash
# Installs what the tests need (venv, test extras, Debian's chromium) and runs lint, types and the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Japanese glyphs for the page screenshots the browser tests save under test-artifacts/
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/opentype/ipafont-gothic ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null
  else
    echo "error: the browser tests need Debian's chromium: sudo apt-get install chromium fonts-ipafont-gothic" >&2
    exit 2
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'

# Lint and types first, but the suite runs either way so one run shows every problem.
status=0
.venv/bin/ruff check safetynet tests scripts || status=1
.venv/bin/mypy || status=1
.venv/bin/lint-imports || status=1
.venv/bin/pytest -q "$@" || status=$?
exit "$status"
