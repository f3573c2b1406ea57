#!/usr/bin/env bash
# The main job on the embedded default (SQLite file, POSIX storage, local processes).
# Today: install; create the metadata database in ./proseo-data; fetch the real Landsat-7/8
# sample scenes; sync the Landsat and S5P mission plug-ins; show the catalogue and check a
# selection rule; then plan an S5P-like order backwards (L2 <- L1B <- L0 + AUX) with a dry
# run. Ingestion, execution and the end-to-end Landsat order arrive with issues 5-7.
source "$(dirname "$0")/bootstrap.sh"
export PROSEO_DATA_DIR="${PROSEO_DATA_DIR:-$ROOT/proseo-data}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "proseo $(proseo --version)"
step "metadata database"
proseo db upgrade
step "real Landsat sample data (Debian r-cran-satellite)"
python -m missions.landsat.sample_data
step "mission plug-ins"
proseo mission sync LANDSAT
proseo mission sync S5P --orbits 9982-9995
proseo productclass list --mission LANDSAT
proseo productclass show LANDSAT L3_MAXNDVI
step "selection rule check"
proseo rule check "FOR L1B_RA_BD4 SELECT ValIntersect(0, 0) OR LatestValCover(1d, 1d) MINCOVER(90)"
step "an S5P order planned backwards (dry run: no L0 in the catalogue yet, so L1B waits)"
if ! proseo order list --mission S5P --format json | grep -q '"DEMO-NO2"'; then
  proseo order create --mission S5P --id DEMO-NO2 --class L2__NO2___ --orbits S5P:9982-9983 \
    --slicing ORBIT --mode OFFL
  proseo order approve "$(proseo order list --mission S5P --format json | python -c 'import json,sys; print(next(o["id"] for o in json.load(sys.stdin) if o["identifier"]=="DEMO-NO2"))')"
fi
ORDER_ID=$(proseo order list --mission S5P --format json | python -c 'import json,sys; print(next(o["id"] for o in json.load(sys.stdin) if o["identifier"]=="DEMO-NO2"))')
proseo order plan "$ORDER_ID" --dry-run --limit 4
proseo order list
