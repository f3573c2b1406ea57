#!/usr/bin/env bash
# The main job, end to end on real input, on the embedded default (SQLite file, POSIX
# storage under ./proseo-data, local processes): real Landsat-7/8 scenes go through a
# pickup folder into the catalogue; an order for the L3 maximum-NDVI composite is planned
# backwards (L3_MAXNDVI <- L2_NDVI <- L2_TOA <- L1TP + DEM), released and run by the
# dispatcher; every processor computes on the real pixels through the processor wrapper and
# its Job Order File. Ends with a summary, the L3 statistics and a PNG quicklook, and prints
# the address of the operator web GUI and a login for it (`proseo serve` on the same data).
# Run it again: nothing is produced twice (ingestion and planning reuse what exists).
source "$(dirname "$0")/bootstrap.sh"
export PROSEO_DATA_DIR="${PROSEO_DATA_DIR:-$ROOT/proseo-data}"
export PROSEO_LOCAL=1  # the embedded default, even when this user is logged in to a server
WINDOW_START="${DEMO_START:-2001-01-01T00:00:00Z}"
WINDOW_STOP="${DEMO_STOP:-2014-01-01T00:00:00Z}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
json_field() {  # json_field EXPRESSION: evaluate a Python expression on the JSON on stdin
  python -c "import json,sys; data=json.load(sys.stdin); print($1)"
}

step "proseo $(proseo --version)"

step "1. real Landsat-7/8 L1TP crops and DEM (Debian r-cran-satellite, cached)"
SAMPLE=$(python -m missions.landsat.sample_data)
echo "$SAMPLE"

step "2. data directory, metadata database, mission plug-in"
proseo db upgrade
proseo mission sync LANDSAT

step "3. scenes dropped into a pickup folder and ingested by the pickup monitor"
PICKUP="$PROSEO_DATA_DIR/pickup/landsat"
mkdir -p "$PICKUP"
cp -p "$SAMPLE"/* "$PICKUP"/
proseo ingest watch "$PICKUP" --once
proseo product list --mission LANDSAT --with-files

step "4. an order for the L3 maximum-NDVI composite, planned backwards"
IDENT="L3-MAXNDVI-$(date -u +%Y%m%dT%H%M%S)"
proseo order create --mission LANDSAT --id "$IDENT" --class L3_MAXNDVI --mode OPER \
  --start "$WINDOW_START" --stop "$WINDOW_STOP" --slicing NONE
ORDER=$(proseo order list --mission LANDSAT --format json \
  | json_field "next(o['id'] for o in data if o['identifier'] == '$IDENT')")
proseo order approve "$ORDER"
proseo order plan "$ORDER" --dry-run
proseo order plan "$ORDER"
STATE=$(proseo order show "$ORDER" --format json | json_field "data[0]['state']")
if [ "$STATE" = "PLANNED" ]; then
  proseo order release "$ORDER"

  step "5. the dispatcher runs the job steps with the local executor"
  proseo dispatcher run --until-idle --interval 0.5 --timeout 900
else
  echo "order $ORDER is $STATE: every requested product exists already, nothing to run"
fi

step "6. summary"
proseo order show "$ORDER" --products
L3=$(proseo product list --mission LANDSAT --class L3_MAXNDVI --with-files --format json \
  | json_field "data[0]['id']")
OUT="$PROSEO_DATA_DIR/demo"
mkdir -p "$OUT"
proseo product fetch "$L3" "$OUT"
proseo product show "$L3" --stats --quicklook "$OUT/L3_MAXNDVI_quicklook.png"
STATE=$(proseo order show "$ORDER" --format json | json_field "data[0]['state']")
echo
echo "order $ORDER ($IDENT): $STATE; L3 product $L3 and its quicklook are in $OUT"

step "7. the operator web GUI on the demo's data"
LOGIN="$OUT/gui-login.txt"
if [ ! -s "$LOGIN" ] || ! proseo user list --format json | grep -q '"operator"'; then
  PASSWORD=$(python -c "import secrets; print(secrets.token_urlsafe(12))")
  proseo user delete operator >/dev/null 2>&1 || true
  printf '%s\n' "$PASSWORD" | proseo user create operator --mission LANDSAT --password-stdin \
    --role ORDER_READER --role ORDER_MGR --role ORDER_APPROVER --role ORDER_PLANNER \
    --role PRODUCT_READER_ALL --role MISSION_READER --role PROCESSOR_READER \
    --role FACILITY_READER
  (umask 077; printf '%s\n' "$PASSWORD" > "$LOGIN")
fi
echo "Start the server on these data:  PROSEO_DATA_DIR=$PROSEO_DATA_DIR $ROOT/.venv/bin/proseo serve --dispatch-interval 2"
echo "then open                        http://127.0.0.1:8080/"
echo "and log in as                    operator / $(cat "$LOGIN")   (password kept in $LOGIN)"
[ "$STATE" = "COMPLETED" ]
