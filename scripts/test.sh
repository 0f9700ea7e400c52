#!/usr/bin/env bash
# Installs what the tests need (venv, test extras, Debian's chromium) and runs lint, types, import contracts
# and the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Japanese (and Korean: the language switch names 한국어) glyphs for the page screenshots the browser
# tests save under test-artifacts/
# poppler-utils (pdftoppm, pdftotext) and zbar-tools (zbarimg): the letters tests read the PDFs and QR codes back
# wrk: the replies benchmark drives the server with it (its test checks the Lua script and the summary)
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/opentype/ipafont-gothic ] || [ ! -d /usr/share/fonts/truetype/nanum ] || [ ! -x /usr/bin/pdftoppm ] \
   || [ ! -x /usr/bin/zbarimg ] || [ ! -x /usr/bin/wrk ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic fonts-nanum poppler-utils zbar-tools wrk >/dev/null
  else
    echo "error: the tests need Debian's chromium, poppler and zbar:" \
      "sudo apt-get install chromium fonts-ipafont-gothic fonts-nanum poppler-utils zbar-tools wrk" >&2
    exit 2
  fi
fi
# PostgreSQL (DESIGN §8): the contract suite runs every store port on it, and the files of
# tests/integration and tests/e2e run a second time on it (less those tests/pg_helpers.py lists, with why). Started here when it is not running.
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null && ! command -v pg_ctl >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      echo "error: the tests need PostgreSQL: sudo apt-get install postgresql" >&2
      exit 2
    fi
  fi
  if command -v pg_lsclusters >/dev/null && [ -n "$(pg_lsclusters -h 2>/dev/null)" ]; then
    pg_lsclusters -h | while read -r ver name _; do pg_ctlcluster "$ver" "$name" start || true; done
  else
    service postgresql start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done  # the server's own start-up, not test work
  pg_up || { echo "error: PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 2; }
fi
# the tests connect as postgres over TCP with trust auth (Debian's default is peer/md5 for others)
export SAFETYNET_TEST_PG="${SAFETYNET_TEST_PG:-postgresql://postgres@127.0.0.1:5432}"

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'

# Lint, types and the import contracts beside the passes (mypy's ~30 s, cold, were the passes' wait), shown first
# when all is done; the suite runs either way so one run shows every problem.
status=0
logs=$(mktemp -d)
( s=0; .venv/bin/ruff check safetynet tests scripts || s=1; .venv/bin/mypy || s=1
  .venv/bin/lint-imports --no-cache || s=1; exit $s ) >"$logs/checks.log" 2>&1 &
checks=$!
# The SQLite pass and the PostgreSQL pass run side by side, each on SAFETYNET_TEST_WORKERS pytest-xdist
# workers (2; 0 runs each in one process): a test spends much of its time waiting on servers, browsers and
# child processes, and on a 2-core machine four workers took 11½–12½ min against 13 min 55 s for two
# processes (README, Test suite time). Each writes its own log, shown when both are done.
workers="${SAFETYNET_TEST_WORKERS:-2}"
echo "running the SQLite and PostgreSQL passes side by side$( [ "$workers" != 0 ] && echo ", $workers workers each") (logs in $logs)…"
.venv/bin/pytest -q -n "$workers" --dist worksteal "$@" >"$logs/sqlite.log" 2>&1 &
sqlite_pass=$!
SAFETYNET_TEST_STORE=postgres .venv/bin/pytest -q -n "$workers" --dist worksteal "$@" >"$logs/postgres.log" 2>&1 &
postgres_pass=$!
# background commands of a script ignore Ctrl-C: pass it on, or the passes would go on alone
trap 'pkill -P "$checks" 2>/dev/null; kill "$checks" "$sqlite_pass" "$postgres_pass" 2>/dev/null; exit 130' INT TERM
wait "$checks" || status=1
wait "$sqlite_pass" || status=$?
wait "$postgres_pass" || status=$?
echo "== lint (ruff), types (mypy) and the import contracts (lint-imports)"
cat "$logs/checks.log"
echo "== the SQLite pass"
cat "$logs/sqlite.log"
echo "== the PostgreSQL pass"
cat "$logs/postgres.log"
exit "$status"
