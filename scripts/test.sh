#!/usr/bin/env bash
# Installs what the tests need (venv, test extras, Debian's chromium) and runs lint, types, import contracts
# and the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Japanese glyphs for the page screenshots the browser tests save under test-artifacts/
# poppler-utils (pdftoppm, pdftotext) and zbar-tools (zbarimg): the letters tests read the PDFs and QR codes back
# wrk: the replies benchmark drives the server with it (its test checks the Lua script and the summary)
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/opentype/ipafont-gothic ] || [ ! -x /usr/bin/pdftoppm ] \
   || [ ! -x /usr/bin/zbarimg ] || [ ! -x /usr/bin/wrk ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic poppler-utils zbar-tools wrk >/dev/null
  else
    echo "error: the tests need Debian's chromium, poppler and zbar:" \
      "sudo apt-get install chromium fonts-ipafont-gothic poppler-utils zbar-tools wrk" >&2
    exit 2
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'

# Lint, types and the import contracts first, but the suite runs either way so one run shows every problem.
status=0
.venv/bin/ruff check safetynet tests scripts || status=1
.venv/bin/mypy || status=1
.venv/bin/lint-imports --no-cache || status=1
.venv/bin/pytest -q "$@" || status=$?
exit "$status"
