#!/usr/bin/env bash
# The whole test suite from a fresh clone: virtual environment, install, lint, type check,
# and pytest on SQLite and on a private throwaway PostgreSQL cluster, with a real single-node
# Slurm and a Ceph RADOS Gateway for S3 (all started by the tests; Slurm and Ceph are installed
# with apt-get when missing), and Debian's Chromium for the GUI's browser tests (installed here
# when missing; Playwright drives it, it never downloads a browser).
# Extra arguments go to pytest, e.g. scripts/test.sh -k states
source "$(dirname "$0")/bootstrap.sh"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null \
   && [ -z "${PROSEO_TEST_DATABASE_URL:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing the PostgreSQL server (Debian package postgresql)"
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends postgresql >/dev/null \
      || { apt-get -o DPkg::Lock::Timeout=600 update >/dev/null \
           && apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends postgresql >/dev/null; }
  fi
fi

if [ ! -x "${PROSEO_CHROMIUM:-/usr/bin/chromium}" ] && [ "$(id -u)" = 0 ] \
   && command -v apt-get >/dev/null; then
  echo "== installing Chromium for the GUI browser tests (Debian package chromium)"
  apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium >/dev/null \
    || { apt-get -o DPkg::Lock::Timeout=600 update >/dev/null \
         && apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium >/dev/null; }
fi

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy .
echo "== import contracts (layers; execution nodes without database or web)"
lint-imports
echo "== pytest (SQLite and PostgreSQL; a real single-node Slurm and a real Ceph S3 gateway started by the tests)"
PROSEO_REQUIRE_POSTGRES=1 PROSEO_REQUIRE_SLURM="${PROSEO_REQUIRE_SLURM:-1}" \
  PROSEO_REQUIRE_S3="${PROSEO_REQUIRE_S3:-1}" PROSEO_REQUIRE_BROWSER="${PROSEO_REQUIRE_BROWSER:-1}" \
  python -m pytest "$@"
