#!/usr/bin/env bash
# Agents benchmark of Bot-Mox: the command bus under a fleet of simulated agents
# (`botmox-loadgen agents`), with release builds, on SQLite and then on PostgreSQL:
#   held    AGENTS agents, seeded straight into the database, each sending a heartbeat every
#           HEARTBEAT (30) s ± 5 s and keeping one long-poll (GET /api/v1/vm-ops/commands/next, 25 s)
#           waiting. The server's VmRSS before they connect and while every poll waits gives
#           the memory per waiting poll (connection, request and wait together).
#   hold    while all of them wait, RATE dispatches a second (POST /api/v1/vm-ops/commands, a
#           bench.echo to a random idle agent) for DURATION s: dispatch -> claim latency, from
#           sending the dispatch to the agent's poll returning the command.
#   cycles  CYCLE_AGENTS dispatch loops, one per agent, each dispatch -> claim -> report
#           (PATCH succeeded) and then the next, for DURATION s after WARMUP s: complete
#           cycles a second. The rest of the fleet keeps heartbeating and polling meanwhile.
#   flood   after the fleet has gone, on a fresh server: for each count of POLLERS, that many
#           polls of one agent wait while FLOOD_CONCURRENCY dispatchers send FLOOD_COMMANDS
#           commands to it as fast as the server answers (`botmox-loadgen flood`): the
#           dispatch rate, and how long until every command was claimed. On PostgreSQL it
#           runs again on two replicas of the same database, polls and dispatches spread
#           over both (a dispatch on one wakes a poll waiting on the other).
# Targets: 10,000 agents held with a dispatch -> claim p99 under 50 ms; at least 2,000
# cycles a second on SQLite; the same figures reported on PostgreSQL.
#
# The agents start evenly over RAMP s (one heartbeat period by default, so the start is as
# busy as the steady state, not a reconnect storm).
#
# The load generator runs on the same machine as the server (all we have): it holds one
# connection per waiting poll and plays every agent, so it takes CPU the server would
# otherwise have. Each phase line shows the split: server_cpu and loadgen_cpu in % of one
# core, machine_cpu in % of all cores (the database and anything else running included: a
# figure taken while something else kept the machine busy is not the server's).
# Compare runs made on the same host only.
#
# Each process needs AGENTS + ~500 open files; the script raises the soft limit to the hard
# one and stops if that is not enough.
#
# Knobs: those of bench/lib.sh (DURATION, WARMUP, PG_ADMIN_URL, SKIP_BUILD, KEEP; not
# CONNECTIONS), plus
#   AGENTS        simulated agents                                  [10000]
#   RATE          dispatches a second in the hold phase              [200]
#   CYCLE_AGENTS  agents, each with its own dispatch loop, in cycles [16: on this machine
#                 throughput stops growing at 4 to 16 loops on either database; more loops
#                 only add queueing to the cycle latency]
#   RAMP          seconds over which the agents start                [30]
#   HEARTBEAT     seconds between an agent's heartbeats (± 5 s)      [30]
#   BACKENDS      databases to run, in order                         [sqlite postgres]
#   POLLERS       waiting polls in the flood rounds (empty: none)    [0 50 5000]
#   FLOOD_COMMANDS  commands dispatched per flood round              [2000]
#   FLOOD_CONCURRENCY  dispatch requests in flight in the flood      [16]
#   BOTMOX_DB_MAX_CONNECTIONS  the server's database pool            [the server's default]
#   PG_PARAMS     query parameters of the PostgreSQL URL, e.g. sslmode=disable (the
#                 machine's PostgreSQL offers TLS, which sqlx takes by default even on
#                 loopback)                                           [none]
#
# Usage: bench/agents.sh
#        AGENTS=500 DURATION=5 RAMP=3 bench/agents.sh   (a quick check)
#        BACKENDS=postgres POLLERS= bench/agents.sh     (PostgreSQL, no flood rounds)
set -euo pipefail
AGENTS="${AGENTS:-10000}"
RATE="${RATE:-200}"
CYCLE_AGENTS="${CYCLE_AGENTS:-16}"
RAMP="${RAMP:-30}"
HEARTBEAT="${HEARTBEAT:-30}"
BACKENDS="${BACKENDS:-sqlite postgres}"
POLLERS="${POLLERS-0 50 5000}"
FLOOD_COMMANDS="${FLOOD_COMMANDS:-2000}"
FLOOD_CONCURRENCY="${FLOOD_CONCURRENCY:-16}"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $(( AGENTS + 500 )) ]]; then
    echo "AGENTS=$AGENTS needs about $(( AGENTS + 500 )) open files per process; ulimit -n is $(ulimit -n)" >&2
    exit 1
fi

# One key=value of a saved summary (the keys are unique across its lines).
value() {
    grep -o " $2=[0-9.]*" "$WORK/$1.txt" | head -n1 | cut -d= -f2
}

# Seed, serve and load one backend. $1 label (sqlite|postgres); $2 database URL.
bench_agents() {
    local backend="$1" database_url="$2"
    local data="$WORK/data-$backend" logfile="$WORK/server-$backend.log"
    mkdir -p "$data"
    local db_args=(--data-dir "$data" --database-url "$database_url")
    create_bench_user "$backend" "${db_args[@]}"
    log "seeding $AGENTS agents ($backend)"
    "$LOADGEN" seed-agents --database-url "$database_url" --owner-email "$BENCH_EMAIL" \
        --agents "$AGENTS" --out "$WORK/tokens-$backend.txt"

    start_server "$backend" "$logfile" "${db_args[@]}"
    # Idle memory is read by the load generator before its agents connect.
    sleep 2

    log "$AGENTS agents against $backend"
    BOTMOX_LOADGEN_LOGIN="$BENCH_EMAIL:$BENCH_PASSWORD" "$LOADGEN" agents \
        --label "agents-$backend" --url "$BASE_URL" --agents-file "$WORK/tokens-$backend.txt" \
        --agents "$AGENTS" --ramp "$RAMP" --heartbeat "$HEARTBEAT" --rate "$RATE" --duration "$DURATION" \
        --warmup "$WARMUP" --cycle-agents "$CYCLE_AGENTS" --server-pid "$SERVER_PID" \
        | tee "$WORK/agents-$backend.txt"

    stop_pid "$SERVER_PID"
    SERVER_PID=""

    [[ -n "${POLLERS// /}" ]] || return 0
    flood "$backend" 1 0 "${db_args[@]}"
    if [[ "$backend" == postgres ]]; then
        # Agents not used by the one-replica rounds (one per round).
        flood "$backend" 2 "$(wc -w <<<"$POLLERS")" "${db_args[@]}"
    fi
}

# Dispatch rates with POLLERS polls waiting, on fresh servers. $1 label; $2 replicas; $3
# agents of the tokens file to pass over; the rest: the database arguments.
flood() {
    local backend="$1" replicas="$2" skip="$3" urls=() pids=() r
    shift 3
    for r in $(seq "$replicas"); do
        start_server "$backend" "$WORK/server-$backend-flood$replicas-$r.log" "$@"
        urls+=(--url "$BASE_URL")
        pids+=(--server-pid "$SERVER_PID")
        OTHER_PIDS+=("$SERVER_PID")
        SERVER_PID=""
    done
    log "flood on $replicas $backend server(s): polls ${POLLERS// /, }"
    BOTMOX_LOADGEN_LOGIN="$BENCH_EMAIL:$BENCH_PASSWORD" "$LOADGEN" flood \
        --label "flood-$backend-$replicas" "${urls[@]}" "${pids[@]}" \
        --agents-file "$WORK/tokens-$backend.txt" --skip "$skip" \
        --pollers "${POLLERS// /,}" --commands "$FLOOD_COMMANDS" --concurrency "$FLOOD_CONCURRENCY" \
        | tee "$WORK/flood-$backend-$replicas.txt"
    for pid in "${OTHER_PIDS[@]}"; do
        stop_pid "$pid"
    done
    OTHER_PIDS=()
}

build_release
for backend in $BACKENDS; do
    case "$backend" in
        sqlite) bench_agents sqlite "sqlite://$WORK/data-sqlite/botmox.db" ;;
        postgres)
            create_pg_db
            bench_agents postgres "$PG_ADMIN_URL/$PG_DB${PG_PARAMS:+?$PG_PARAMS}"
            ;;
        *) echo "unknown backend $backend (sqlite or postgres)" >&2; exit 1 ;;
    esac
done

echo
echo "Bot-Mox agents benchmark: $AGENTS agents, $RATE dispatches/s in hold; ${DURATION}s measured per phase, $(nproc) CPUs (load generator on the same machine)"
printf '%-10s %7s %13s %13s %13s %13s %6s %9s %13s %13s\n' backend held per_poll_KiB \
    claim_p50_ms claim_p99_ms claim_max_ms loops cycles/s cycle_p50_ms cycle_p99_ms
for backend in $BACKENDS; do
    label="agents-$backend"
    printf '%-10s %7s %13s %13s %13s %13s %6s %9s %13s %13s\n' "$backend" \
        "$(value "$label" waiting)" "$(value "$label" per_poll_kib)" \
        "$(value "$label" claim_p50)" "$(value "$label" claim_p99)" "$(value "$label" claim_max)" \
        "$(value "$label" loops)" "$(value "$label" cps)" "$(value "$label" cycle_p50)" \
        "$(value "$label" cycle_p99)"
done

echo
echo "Dispatch rate with polls waiting on one agent: $FLOOD_COMMANDS commands, $FLOOD_CONCURRENCY dispatches in flight"
printf '%-10s %8s %7s %14s %12s %12s %16s\n' backend replicas pollers dispatches/s post_p99_ms claims/s all_claimed_s
for backend in $BACKENDS; do
    for replicas in 1 2; do
        file="$WORK/flood-$backend-$replicas.txt"
        [[ -f "$file" ]] || continue
        while read -r line; do
            get() { grep -o " $1=[0-9.]*" <<<"$line" | head -n1 | cut -d= -f2; }
            printf '%-10s %8s %7s %14s %12s %12s %16s\n' "$backend" "$replicas" "$(get pollers)" \
                "$(get dispatch_rate)" "$(get post_p99)" "$(get claim_rate)" "$(get all_claimed_after)"
        done < <(grep ' flood: ' "$file")
    done
done
