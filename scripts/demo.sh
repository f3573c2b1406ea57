#!/usr/bin/env bash
# The main job on the embedded default (SQLite file, POSIX storage, local processes).
# For now: install, create the metadata database in ./proseo-data and show what is there.
# (The end-to-end Landsat order arrives with issue 7.)
source "$(dirname "$0")/bootstrap.sh"
export PROSEO_DATA_DIR="${PROSEO_DATA_DIR:-$ROOT/proseo-data}"

set -x
proseo --version
proseo db upgrade
proseo db current
proseo mission list
