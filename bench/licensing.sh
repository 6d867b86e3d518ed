#!/usr/bin/env bash
# Licensing benchmark of Bot-Mox: lease heartbeats from a fleet of VMs, with release builds,
# on SQLite and then on PostgreSQL.
#   seed       VMS VMs registered and leased through the API (`botmox-loadgen seed-leases`,
#              an admin with a perpetual licence without a seat limit)
#   heartbeat  POST /api/v1/license/heartbeat for a random one of the VMS leases, by the
#              loadgen (`run --values`) and by wrk (bench/heartbeat.lua), CONNECTIONS
#              connections: each heartbeat is a lease read, a licence read and a
#              conditional update
#   hello      the ceiling: a bare axum hello on the same machine, by both clients
# Target: at least 5,000 heartbeats a second on SQLite from 10,000 VMs.
#
# The load generator runs on the same machine as the server; compare runs on the same host
# only, and read the figures of a quiet machine.
#
# Knobs: those of bench/lib.sh (CONNECTIONS [64], DURATION, WARMUP, PG_ADMIN_URL,
# SKIP_BUILD, KEEP), plus VMS [10000] and BACKENDS [sqlite postgres].
#
# Usage: bench/licensing.sh
set -euo pipefail
VMS="${VMS:-10000}"
BACKENDS="${BACKENDS:-sqlite postgres}"
BENCH_ROLE=admin
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_leases() {
    local backend="$1" database_url="$2"
    local data="$WORK/data-$backend" logfile="$WORK/server-$backend.log" ids="$WORK/leases-$backend.txt"
    mkdir -p "$data"
    local db_args=(--data-dir "$data" --database-url "$database_url")
    create_bench_user "$backend" "${db_args[@]}"
    start_server "$backend" "$logfile" "${db_args[@]}" --lease-ttl 3600
    log "seeding $VMS leased VMs ($backend)"
    "$LOADGEN" seed-leases --url "$BASE_URL" --login "$BENCH_EMAIL:$BENCH_PASSWORD" \
        --vms "$VMS" --out "$ids" 2> >(tee "$WORK/seed-$backend.log" >&2)
    load "heartbeat-$backend" "$BASE_URL/api/v1/license/heartbeat" --method POST \
        --body '{"lease_id":"{v}"}' --values "$ids" --login "$BENCH_EMAIL:$BENCH_PASSWORD"
    LEASE_IDS="$ids" WRK_SCRIPT="$ROOT/bench/heartbeat.lua" \
        wrk_load "wrk-heartbeat-$backend" "$BASE_URL/api/v1/license/heartbeat" "$(bench_token "$BASE_URL")"
    rss_mb "$SERVER_PID" VmHWM >"$WORK/rss-peak-$backend.txt"
    stop_pid "$SERVER_PID"
    SERVER_PID=""
}

build_release
for backend in $BACKENDS; do
    case "$backend" in
        sqlite) bench_leases sqlite "sqlite://$WORK/data-sqlite/botmox.db" ;;
        postgres) create_pg_db; bench_leases postgres "$PG_ADMIN_URL/$PG_DB" ;;
        *) echo "unknown backend $backend" >&2; exit 1 ;;
    esac
done

port="$(free_port)"
"$LOADGEN" hello --listen "127.0.0.1:$port" >"$WORK/hello.log" 2>&1 &
SERVER_PID=$!
wait_ready "http://127.0.0.1:$port/" "$SERVER_PID" "$WORK/hello.log"
load hello "http://127.0.0.1:$port/"
wrk_load wrk-hello "http://127.0.0.1:$port/"
stop_pid "$SERVER_PID"
SERVER_PID=""

echo
echo "Bot-Mox licensing benchmark: $VMS leased VMs; $CONNECTIONS connections, ${DURATION}s measured (+${WARMUP}s warm-up), $(nproc) CPUs"
printf '%-24s %10s %10s %12s\n' label rps p99_ms peak_rss_MB
for backend in $BACKENDS; do
    for label in "heartbeat-$backend" "wrk-heartbeat-$backend"; do
        printf '%-24s %10s %10s %12s\n' "$label" "$(field "$label" rps)" "$(field "$label" p99)" \
            "$(cat "$WORK/rss-peak-$backend.txt")"
    done
done
for label in hello wrk-hello; do
    printf '%-24s %10s %10s %12s\n' "$label" "$(field "$label" rps)" "$(field "$label" p99)" -
done
