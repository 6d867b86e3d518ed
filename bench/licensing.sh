#!/usr/bin/env bash
# Licensing and artifacts benchmark of Bot-Mox, with release builds, on SQLite and then on
# PostgreSQL (embedded blob store):
#   upload     one UPLOAD_MB MiB artifact (random bytes) streamed to
#              POST /api/v1/artifacts/releases/upload by curl: throughput, and the server's
#              peak resident memory (VmHWM) before and after, the upload being the first
#              thing the fresh server does
#   seed       VMS VMs registered and leased through the API (`botmox-loadgen seed-leases`:
#              an admin sets up a perpetual licence without a seat limit and a small release
#              assigned as the tenant default; a plain user, as a farm's runners are, owns
#              the VMs and their leases)
#   heartbeat  POST /api/v1/license/heartbeat for a random one of the VMS leases, by their
#              owner; and again by the admin (whose every write is also an audit row)
#   resolve    POST /api/v1/artifacts/resolve-download for a random lease (token check,
#              lease row, assignment, release, object, signed URL, and its download-audit
#              row), by the owner
#   hello      the ceiling: a bare axum hello on the same machine
# Each load runs with our load generator (`run --values`) and with wrk (bench/bodies.lua),
# CONNECTIONS connections.
# Targets: at least 5,000 heartbeats a second from 10,000 VMs and 3,000 resolve-downloads a
# second on SQLite; uploading 1 GiB with a server peak under 64 MB.
#
# The load generator runs on the same machine as the server; compare runs on the same host
# only, and read the figures of a quiet machine.
#
# Knobs: those of bench/lib.sh (CONNECTIONS [64], DURATION, WARMUP, PG_ADMIN_URL,
# SKIP_BUILD, KEEP), plus VMS [10000], UPLOAD_MB [1024] and BACKENDS [sqlite postgres].
#
# Usage: bench/licensing.sh
set -euo pipefail
VMS="${VMS:-10000}"
UPLOAD_MB="${UPLOAD_MB:-1024}"
BACKENDS="${BACKENDS:-sqlite postgres}"
BENCH_ROLE=admin
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The VMs' owner: a plain user of the benchmark tenant (same password).
OWNER_EMAIL="owner@example.com"

# Load URL with the bodies of FILE, by both clients. $1 label; $2 URL; $3 bodies file; $4
# the caller's e-mail.
load_bodies() {
    local label="$1" url="$2" bodies="$3" email="$4"
    load "$label" "$url" --method POST --body '{v}' --values "$bodies" \
        --login "$email:$BENCH_PASSWORD"
    BODIES="$bodies" WRK_SCRIPT="$ROOT/bench/bodies.lua" \
        wrk_load "wrk-$label" "$url" "$(bench_token "$BASE_URL" "$email")"
}

bench_backend() {
    local backend="$1" database_url="$2"
    local data="$WORK/data-$backend" logfile="$WORK/server-$backend.log"
    mkdir -p "$data"
    local db_args=(--data-dir "$data" --database-url "$database_url")
    create_bench_user "$backend" "${db_args[@]}"
    "$BOTMOX" user create --email "$OWNER_EMAIL" --password "$BENCH_PASSWORD" --role user \
        "${db_args[@]}" >>"$WORK/user-$backend.log" 2>&1 \
        || { cat "$WORK/user-$backend.log" >&2; return 1; }
    start_server "$backend" "$logfile" "${db_args[@]}" --lease-ttl 3600

    rss_mb "$SERVER_PID" VmHWM >"$WORK/rss-start-$backend.txt"
    log "uploading $UPLOAD_MB MiB ($backend)"
    local seconds
    seconds="$(curl -fsS --noproxy '*' -o /dev/null -w '%{time_total}' \
        -H "Authorization: Bearer $(bench_token "$BASE_URL")" \
        -H 'content-type: application/octet-stream' -X POST --upload-file "$WORK/upload.bin" \
        "$BASE_URL/api/v1/artifacts/releases/upload?module=big&platform=windows&version=1")"
    rss_mb "$SERVER_PID" VmHWM >"$WORK/rss-upload-$backend.txt"
    awk -v mb="$UPLOAD_MB" -v s="$seconds" 'BEGIN { printf "%.0f", mb / s }' >"$WORK/upload-mbps-$backend.txt"

    log "seeding $VMS leased VMs ($backend)"
    "$LOADGEN" seed-leases --url "$BASE_URL" --login "$BENCH_EMAIL:$BENCH_PASSWORD" --vms "$VMS" \
        --owner-login "$OWNER_EMAIL:$BENCH_PASSWORD" --heartbeats "$WORK/heartbeats-$backend.txt" --resolves "$WORK/resolves-$backend.txt" \
        2> >(tee "$WORK/seed-$backend.log" >&2)
    load_bodies "heartbeat-$backend" "$BASE_URL/api/v1/license/heartbeat" \
        "$WORK/heartbeats-$backend.txt" "$OWNER_EMAIL"
    load_bodies "heartbeat-admin-$backend" "$BASE_URL/api/v1/license/heartbeat" \
        "$WORK/heartbeats-$backend.txt" "$BENCH_EMAIL"
    load_bodies "resolve-$backend" "$BASE_URL/api/v1/artifacts/resolve-download" \
        "$WORK/resolves-$backend.txt" "$OWNER_EMAIL"
    stop_pid "$SERVER_PID"
    SERVER_PID=""
}

build_release
log "writing $UPLOAD_MB MiB of random bytes"
head -c "$(( UPLOAD_MB * 1024 * 1024 ))" /dev/urandom >"$WORK/upload.bin"
for backend in $BACKENDS; do
    case "$backend" in
        sqlite) bench_backend sqlite "sqlite://$WORK/data-sqlite/botmox.db" ;;
        postgres) create_pg_db; bench_backend postgres "$PG_ADMIN_URL/$PG_DB" ;;
        *) echo "unknown backend $backend" >&2; exit 1 ;;
    esac
done
rm -f "$WORK/upload.bin"

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
printf '%-26s %10s %10s\n' label rps p99_ms
for backend in $BACKENDS; do
    for what in heartbeat heartbeat-admin resolve; do
        for label in "$what-$backend" "wrk-$what-$backend"; do
            printf '%-26s %10s %10s\n' "$label" "$(field "$label" rps)" "$(field "$label" p99)"
        done
    done
done
for label in hello wrk-hello; do
    printf '%-26s %10s %10s\n' "$label" "$(field "$label" rps)" "$(field "$label" p99)"
done
echo
printf '%-10s %12s %16s %16s\n' upload MiB_per_s rss_start_MB rss_peak_MB
for backend in $BACKENDS; do
    printf '%-10s %12s %16s %16s\n' "$backend" "$(cat "$WORK/upload-mbps-$backend.txt")" \
        "$(cat "$WORK/rss-start-$backend.txt")" "$(cat "$WORK/rss-upload-$backend.txt")"
done
