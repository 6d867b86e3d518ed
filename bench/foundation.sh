#!/usr/bin/env bash
# Foundation benchmark of Bot-Mox: the figures quoted for the performance targets.
#
# What it measures, on this machine, with release builds:
#   1. `botmox serve` on SQLite: idle memory (VmRSS) and GET /api/v1/auth/whoami under load
#      (Bearer token from a real login, so every request goes through authentication, the
#      rate limiter, request-id and logging middleware: the path every API call pays).
#   2. The same on PostgreSQL (a throw-away database on the local server).
#   3. A bare axum hello-world (`botmox-loadgen hello`) loaded the same way: the ceiling this
#      machine and this load generator allow, so the server's figures read as "% of ceiling".
#
# Every load runs twice: with our own load generator and with wrk (Debian's, an independent
# client, one thread, the same connections). The two clients cost the machine differently,
# so each gives its own ratio to its own ceiling; both are printed.
#
# The load generators and the server share the machine, so absolute numbers depend on it;
# compare runs made on the same host only.
#
# Knobs: see bench/lib.sh (CONNECTIONS, DURATION, WARMUP, PG_ADMIN_URL, SKIP_BUILD, KEEP).
#
# Usage: bench/foundation.sh
set -euo pipefail
CONNECTIONS="${CONNECTIONS:-64}"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Benchmark `botmox serve` on one backend.
#   $1 label suffix (sqlite|postgres); $2 database URL or "" for SQLite in the data dir.
bench_server() {
    local backend="$1" database_url="$2"
    local data="$WORK/data-$backend" logfile="$WORK/server-$backend.log"
    mkdir -p "$data"
    local db_args=(--data-dir "$data")
    if [[ -n "$database_url" ]]; then
        db_args+=(--database-url "$database_url")
    fi

    create_bench_user "$backend" "${db_args[@]}"

    start_server "$backend" "$logfile" "${db_args[@]}"

    # Idle memory: after start-up and one health check, before any load.
    sleep 3
    rss_mb "$SERVER_PID" >"$WORK/rss-idle-$backend.txt"
    log "idle VmRSS ($backend): $(cat "$WORK/rss-idle-$backend.txt") MB"

    load "whoami-$backend" "$BASE_URL/api/v1/auth/whoami" \
        --login "$BENCH_EMAIL:$BENCH_PASSWORD" --login-url "$BASE_URL"
    wrk_load "wrk-whoami-$backend" "$BASE_URL/api/v1/auth/whoami" "$(bench_token "$BASE_URL")"
    # Peak resident memory over the whole life of the process, load included.
    rss_mb "$SERVER_PID" VmHWM >"$WORK/rss-peak-$backend.txt"

    stop_pid "$SERVER_PID"
    SERVER_PID=""
}

build_release

# --- SQLite --------------------------------------------------------------------------------
bench_server sqlite ""

# --- PostgreSQL ----------------------------------------------------------------------------
create_pg_db
bench_server postgres "$PG_ADMIN_URL/$PG_DB"

# --- ceiling: bare axum hello-world ---------------------------------------------------------
port="$(free_port)"
log "hello-world ceiling on 127.0.0.1:$port"
"$LOADGEN" hello --listen "127.0.0.1:$port" >"$WORK/hello.log" 2>&1 &
SERVER_PID=$!
wait_ready "http://127.0.0.1:$port/" "$SERVER_PID" "$WORK/hello.log"
load hello "http://127.0.0.1:$port/"
wrk_load wrk-hello "http://127.0.0.1:$port/"
stop_pid "$SERVER_PID"
SERVER_PID=""

# --- summary -------------------------------------------------------------------------------
ceiling="$(field hello rps)"
echo
echo "Bot-Mox foundation benchmark: $CONNECTIONS connections, ${DURATION}s measured (+${WARMUP}s warm-up), $(nproc) CPUs"
printf '%-16s %10s %10s %12s %14s %14s\n' label rps p99_ms "% ceiling" idle_rss_MB peak_rss_MB
for backend in sqlite postgres; do
    label="whoami-$backend"
    rps="$(field "$label" rps)"
    printf '%-16s %10s %10s %11.1f%% %14s %14s\n' "$label" "$rps" "$(field "$label" p99)" \
        "$(awk -v a="$rps" -v b="$ceiling" 'BEGIN { print (b > 0 ? 100 * a / b : 0) }')" \
        "$(cat "$WORK/rss-idle-$backend.txt")" "$(cat "$WORK/rss-peak-$backend.txt")"
done
printf '%-16s %10s %10s %11.1f%% %14s %14s\n' hello "$ceiling" "$(field hello p99)" 100 - -
wrk_ceiling="$(field wrk-hello rps)"
for backend in sqlite postgres; do
    label="wrk-whoami-$backend"
    rps="$(field "$label" rps)"
    printf '%-16s %10s %10s %11.1f%% %14s %14s\n' "$label" "$rps" "$(field "$label" p99)" \
        "$(awk -v a="$rps" -v b="$wrk_ceiling" 'BEGIN { print (b > 0 ? 100 * a / b : 0) }')" - -
done
printf '%-16s %10s %10s %11.1f%% %14s %14s\n' wrk-hello "$wrk_ceiling" "$(field wrk-hello p99)" 100 - -
