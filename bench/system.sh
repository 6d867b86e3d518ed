#!/usr/bin/env bash
# Whole-system benchmark of Bot-Mox on PostgreSQL (release builds): everything a farm does
# at once, against one server and then against two replicas of the same database.
#   seed    AGENTS agents straight into the database (`botmox-loadgen seed-agents`), owned by
#           the operator (a plain user); then, through the API, VMS VMs registered and
#           leased by that user, and the provisioning payload of PROVISIONED of them
#           (`botmox-loadgen seed-leases`).
#   load    `botmox-loadgen system` for WARMUP + DURATION s, spread over PROCESSES worker
#           processes, each sending from its own loopback address:
#             agents     a heartbeat every HEARTBEAT s, one poll always waiting, each
#                        command reported;
#             operators  OPERATORS of them, each thinking THINK s on average, then viewing
#                        a web UI page (3 in 10), reading the API (4 in 10: bots, agents,
#                        commands, overview, leases) or dispatching a command to one of
#                        the agents (3 in 10);
#             VMs        a lease heartbeat every LEASE_HEARTBEAT s and a resolve-download
#                        every RESOLVE_EVERY s each, and a provisioning progress report every
#                        PROGRESS_EVERY s from the PROVISIONED ones.
# It prints, per kind of request, the answers a second and p50/p99/max; then the servers'
# CPU, the load generator's (all workers), the machine's (PostgreSQL included), and each
# server's peak resident memory. Where the first bottleneck is shows there: the kind whose
# p99 grows first as the load grows, and which of server, database and load generator takes
# the cores. All of it runs on one machine: compare runs made on the same host only.
#
# Knobs: those of bench/lib.sh (DURATION, WARMUP, PG_ADMIN_URL, SKIP_BUILD, KEEP), plus
#   AGENTS [10000]  VMS [10000]  PROVISIONED [1000]  OPERATORS [20]  THINK [1]
#   PROCESSES [4]  HEARTBEAT [30]  LEASE_HEARTBEAT [60]  RESOLVE_EVERY [300]
#   PROGRESS_EVERY [20]  REPLICAS ["1 2": the runs, by number of replicas]
#   PG_PARAMS  query parameters of the PostgreSQL URL, e.g. sslmode=disable   [none]
#
# Usage: bench/system.sh
#        AGENTS=500 VMS=500 PROVISIONED=50 WARMUP=10 DURATION=10 bench/system.sh  (quick)
set -euo pipefail
AGENTS="${AGENTS:-10000}"
VMS="${VMS:-10000}"
PROVISIONED="${PROVISIONED:-1000}"
OPERATORS="${OPERATORS:-20}"
THINK="${THINK:-1}"
PROCESSES="${PROCESSES:-4}"
HEARTBEAT="${HEARTBEAT:-30}"
LEASE_HEARTBEAT="${LEASE_HEARTBEAT:-60}"
RESOLVE_EVERY="${RESOLVE_EVERY:-300}"
PROGRESS_EVERY="${PROGRESS_EVERY:-20}"
REPLICAS="${REPLICAS:-1 2}"
# The agents and VMs start over the warm-up: 40 s unless set.
WARMUP="${WARMUP:-40}"
DURATION="${DURATION:-60}"
ADMIN_EMAIL="admin@example.com"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

build_release
create_pg_db
DATABASE_URL="$PG_ADMIN_URL/$PG_DB${PG_PARAMS:+?$PG_PARAMS}"
DATA="$WORK/data"
mkdir -p "$DATA"
DB_ARGS=(--data-dir "$DATA" --database-url "$DATABASE_URL")
# VMs reach the server by its public URL; no VM calls it here, but payloads need one. The
# provisioning calls count against the per-address limit of public endpoints: real VMs each
# have an address of their own, these share one per worker process.
SERVE_ARGS=("${DB_ARGS[@]}" --lease-ttl 3600 --public-url "http://127.0.0.1"
    --rate-limit-public "$HIGH_LIMIT")

create_bench_user postgres "${DB_ARGS[@]}"
"$BOTMOX" user create --email "$ADMIN_EMAIL" --password "$BENCH_PASSWORD" --role admin \
    "${DB_ARGS[@]}" >>"$WORK/user-postgres.log" 2>&1 \
    || { cat "$WORK/user-postgres.log" >&2; exit 1; }
log "seeding $AGENTS agents"
"$LOADGEN" seed-agents --database-url "$DATABASE_URL" --owner-email "$BENCH_EMAIL" \
    --agents "$AGENTS" --out "$WORK/agents.txt"

start_server postgres "$WORK/server-seed.log" "${SERVE_ARGS[@]}"
log "seeding $VMS leased VMs, $PROVISIONED of them provisioned"
"$LOADGEN" seed-leases --url "$BASE_URL" --login "$ADMIN_EMAIL:$BENCH_PASSWORD" \
    --owner-login "$BENCH_EMAIL:$BENCH_PASSWORD" --vms "$VMS" \
    --heartbeats "$WORK/leases.txt" --resolves "$WORK/resolves.txt" \
    --provisioned "$PROVISIONED" --provisioning-tokens "$WORK/provisioning.txt"
stop_pid "$SERVER_PID"
SERVER_PID=""

for replicas in $REPLICAS; do
    urls=() pids=()
    for r in $(seq "$replicas"); do
        start_server postgres "$WORK/server-$replicas-$r.log" "${SERVE_ARGS[@]}"
        urls+=(--url "$BASE_URL")
        pids+=(--server-pid "$SERVER_PID")
        OTHER_PIDS+=("$SERVER_PID")
        SERVER_PID=""
    done
    log "whole system on $replicas replica(s): $AGENTS agents, $VMS VMs, $OPERATORS operators"
    BOTMOX_LOADGEN_LOGIN="$BENCH_EMAIL:$BENCH_PASSWORD" "$LOADGEN" system \
        --label "system-$replicas" "${urls[@]}" "${pids[@]}" --processes "$PROCESSES" \
        --agents-file "$WORK/agents.txt" --agents "$AGENTS" --heartbeat "$HEARTBEAT" \
        --leases-file "$WORK/leases.txt" --resolves-file "$WORK/resolves.txt" \
        --lease-heartbeat "$LEASE_HEARTBEAT" --resolve-every "$RESOLVE_EVERY" \
        --provisioning-tokens "$WORK/provisioning.txt" --progress-every "$PROGRESS_EVERY" \
        --operators "$OPERATORS" --think "$THINK" --warmup "$WARMUP" --duration "$DURATION" \
        | tee "$WORK/system-$replicas.txt"
    for pid in "${OTHER_PIDS[@]}"; do
        stop_pid "$pid"
    done
    OTHER_PIDS=()
done
