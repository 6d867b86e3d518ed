#!/usr/bin/env bash
# Agent benchmark of Bot-Mox: the real `botmox-agent` between `botmox serve` (SQLite) and
# `botmox-fake-pve`, release builds, everything through the API as the UI does it:
#   idle   the agent's resident memory (VmRSS, and its peak VmHWM) after pairing and
#          IDLE seconds of heartbeats and waiting polls. Target: under 20 MB.
#   vms    VMS VMs cloned from template 100, configured (cores, memory) and started: three
#          commands per VM, dispatched for DISPATCHERS VMs at a time (a VM's in order); the agent runs them with
#          `--concurrency 1` and then 4, one VM's commands one after another. Time from the
#          first dispatch until the last command finished; every command must succeed.
#
# The fake PVE runs every task for TASK_MS ms; the agent polls a task every 500 ms, so a
# clone or start takes about one poll. The figures measure the agent's pipeline (claim,
# report, scheduling, PVE calls) against that, not a real Proxmox VE's disks.
#
# Knobs: those of bench/lib.sh (SKIP_BUILD, KEEP), plus
#   VMS          VMs per run                       [50]
#   TASK_MS      duration of every fake PVE task    [200]
#   IDLE         seconds the agent idles before its memory is read [10]
#   CONCURRENCY  the runs' concurrency values      ["1 4"]
#   DISPATCHERS  VMs whose commands are dispatched at once [8]
#
# Usage: bench/agent.sh
#        VMS=10 IDLE=3 bench/agent.sh   (a quick check)
set -euo pipefail
VMS="${VMS:-50}"
TASK_MS="${TASK_MS:-200}"
IDLE="${IDLE:-10}"
CONCURRENCY="${CONCURRENCY:-1 4}"
DISPATCHERS="${DISPATCHERS:-8}"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

AGENT="$CARGO_TARGET_DIR/release/botmox-agent"
FAKE="$CARGO_TARGET_DIR/release/botmox-fake-pve"
PVE_TOKEN='root@pam!bench=00000000-1111-2222-3333-444444444444'
FAKE_PID=""
AGENT_PID=""
AGENT_CONCURRENCY=""
# Our processes first, then lib.sh's cleanup with the script's exit status.
trap 'status=$?; stop_pid "$AGENT_PID"; stop_pid "$FAKE_PID"; (exit "$status"); cleanup' EXIT

command -v jq >/dev/null || { echo "bench/agent.sh needs jq" >&2; exit 1; }

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries into $CARGO_TARGET_DIR"
    cargo build --release -p botmox-server --bin botmox -p botmox-agent --bin botmox-agent \
        -p botmox-fake-pve --bin botmox-fake-pve
fi
for bin in "$BOTMOX" "$AGENT" "$FAKE"; do
    [[ -x "$bin" ]] || { echo "missing $bin" >&2; exit 1; }
done

# One API call with the bench user's token: METHOD PATH [JSON]; prints the body, fails on non-2xx.
api() {
    local method="$1" path="$2" body="${3:-}"
    local args=(-fsS --noproxy '*' -X "$method" -H "Authorization: Bearer $TOKEN" "$BASE_URL/api/v1$path")
    [[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' --data "$body")
    curl "${args[@]}"
}

# Dispatch one command; prints its id.
dispatch() {
    local kind="$1" payload="$2"
    api POST /vm-ops/commands \
        "{\"agent_id\":\"$AGENT_ID\",\"command_type\":\"$kind\",\"payload\":$payload,\"expires_in_seconds\":3600}" \
        | jq -r .data.id
}

# Wait until every command id in the file $1 has finished; fail if one did not succeed.
# Each round looks no further than the first unfinished command (they finish roughly in
# dispatch order), so the waiting does not load the server it measures with a request per
# command every 0.2 s.
wait_all() {
    local ids=() pending=() id status
    mapfile -t ids <"$1"
    while ((${#ids[@]})); do
        pending=()
        for id in "${ids[@]}"; do
            if ((${#pending[@]})); then
                pending+=("$id")
                continue
            fi
            status="$(api GET "/vm-ops/commands/$id" | jq -r .data.status)"
            case "$status" in
                succeeded) ;;
                failed|cancelled|expired)
                    echo "command $id $status: $(api GET "/vm-ops/commands/$id" | jq -c .data)" >&2
                    return 1 ;;
                *) pending+=("$id") ;;
            esac
        done
        ids=("${pending[@]+"${pending[@]}"}")
        ((${#ids[@]})) && sleep 0.2
    done
    return 0
}

# Start `botmox-agent run` and wait for its first heartbeat. (Pairing, or the agent run
# before, already shows it online: `last_seen_at` must move.)
start_agent() {
    local concurrency="$1" seen
    seen="$(api GET "/agents/$AGENT_ID" | jq -r .data.last_seen_at)"
    RUST_LOG=warn "$AGENT" --config "$WORK/agent.toml" run --concurrency "$concurrency" \
        >"$WORK/agent-$concurrency.log" 2>&1 &
    AGENT_PID=$!
    AGENT_CONCURRENCY="$concurrency"
    for _ in $(seq 300); do
        [[ "$(api GET "/agents/$AGENT_ID" | jq -r .data.last_seen_at)" != "$seen" ]] && return 0
        kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WORK/agent-$concurrency.log" >&2; return 1; }
        sleep 0.1
    done
    echo "the agent did not heartbeat" >&2
    return 1
}

# --- server, fake PVE, pairing ---------------------------------------------------------------
mkdir -p "$WORK/data"
db_args=(--data-dir "$WORK/data")
"$BOTMOX" user create --email "$BENCH_EMAIL" --password "$BENCH_PASSWORD" --role admin \
    "${db_args[@]}" >"$WORK/user.log" 2>&1 || { cat "$WORK/user.log" >&2; exit 1; }
start_server sqlite "$WORK/server.log" "${db_args[@]}"
TOKEN="$(curl -fsS --noproxy '*' -H 'Content-Type: application/json' \
    --data "{\"email\":\"$BENCH_EMAIL\",\"password\":\"$BENCH_PASSWORD\"}" \
    "$BASE_URL/api/v1/auth/login" | jq -r .data.access_token)"

fake_port="$(free_port)"
FAKE_URL="http://127.0.0.1:$fake_port"
"$FAKE" --listen "127.0.0.1:$fake_port" --node pve --token "$PVE_TOKEN" --task-ms "$TASK_MS" \
    >"$WORK/fake.log" 2>&1 &
FAKE_PID=$!
fake_ready=0
for _ in $(seq 150); do
    kill -0 "$FAKE_PID" 2>/dev/null || { cat "$WORK/fake.log" >&2; exit 1; }
    curl -fsS --noproxy '*' -o /dev/null -H "Authorization: PVEAPIToken=$PVE_TOKEN" \
        "$FAKE_URL/api2/json/version" 2>/dev/null && { fake_ready=1; break; }
    sleep 0.2
done
((fake_ready)) || { echo "the fake PVE did not answer on $FAKE_URL" >&2; exit 1; }
log "fake PVE on $FAKE_URL (tasks ${TASK_MS} ms)"

uri="$(api POST /agents/pairings '{"name":"bench agent"}' | jq -r .data.pairing_uri)"
"$AGENT" --config "$WORK/agent.toml" pair "$uri" --proxmox-url "$FAKE_URL" \
    --proxmox-token "$PVE_TOKEN" --node pve >"$WORK/pair.log"
AGENT_ID="$(sed -n 's/^agent_id = "\(.*\)"$/\1/p' "$WORK/agent.toml")"
log "paired agent $AGENT_ID"

# --- idle memory --------------------------------------------------------------------------------
first="${CONCURRENCY%% *}"
start_agent "$first"
log "agent idling ${IDLE}s"
sleep "$IDLE"
idle_rss="$(rss_mb "$AGENT_PID")"
idle_hwm="$(rss_mb "$AGENT_PID" VmHWM)"

# --- clone, configure, start ----------------------------------------------------------------------
declare -A seconds peak
base_id=1000
for concurrency in $CONCURRENCY; do
    # The idle agent runs the first value; every other value gets an agent of its own.
    if [[ "$concurrency" != "$AGENT_CONCURRENCY" ]]; then
        stop_pid "$AGENT_PID"
        start_agent "$concurrency"
    fi
    log "$VMS VMs with --concurrency $concurrency"
    : >"$WORK/ids-$concurrency.txt"
    dispatchers=()
    began="$(date +%s.%N)"
    # Several VMs are dispatched at once (a VM's three commands in order), so the
    # dispatching does not pace the agent.
    for i in $(seq 1 "$VMS"); do
        vmid=$((base_id + i))
        (
            ids="$(dispatch proxmox.clone "{\"templateVmId\":100,\"newid\":$vmid,\"name\":\"bench-$vmid\"}")
$(dispatch proxmox.update-config "{\"vmid\":$vmid,\"config\":{\"cores\":2,\"memory\":4096}}")
$(dispatch proxmox.start "{\"vmid\":$vmid}")"
            printf '%s\n' "$ids" >>"$WORK/ids-$concurrency.txt"
        ) &
        dispatchers+=("$!")
        if ((${#dispatchers[@]} >= DISPATCHERS)); then
            wait "${dispatchers[0]}"
            dispatchers=("${dispatchers[@]:1}")
        fi
    done
    for pid in "${dispatchers[@]}"; do wait "$pid"; done
    dispatchers=()
    dispatched="$(grep -c . "$WORK/ids-$concurrency.txt")"
    [[ "$dispatched" == $((VMS * 3)) ]] || { echo "dispatched $dispatched of $((VMS * 3))" >&2; exit 1; }
    wait_all "$WORK/ids-$concurrency.txt"
    ended="$(date +%s.%N)"
    seconds[$concurrency]="$(awk -v a="$began" -v b="$ended" 'BEGIN { printf "%.2f", b - a }')"
    peak[$concurrency]="$(rss_mb "$AGENT_PID" VmHWM)"
    running="$(curl -fsS --noproxy '*' -H "Authorization: PVEAPIToken=$PVE_TOKEN" \
        "$FAKE_URL/api2/json/nodes/pve/qemu" \
        | jq "[.data[] | select(.vmid > $base_id and .vmid <= $((base_id + VMS)) and .status == \"running\")] | length")"
    [[ "$running" == "$VMS" ]] || { echo "only $running of $VMS VMs run" >&2; exit 1; }
    base_id=$((base_id + 1000))
done
stop_pid "$AGENT_PID"
AGENT_PID=""

echo
echo "Bot-Mox agent benchmark: release build, fake PVE tasks ${TASK_MS} ms, $(nproc) CPUs (server, agent and fake on one machine)"
printf 'idle agent: VmRSS %s MB (peak %s MB) after %ss of heartbeats and polls; target < 20 MB\n' \
    "$idle_rss" "$idle_hwm" "$IDLE"
printf '%-12s %5s %9s %9s %9s %14s\n' concurrency vms commands seconds vms/min peak_rss_MB
for concurrency in $CONCURRENCY; do
    printf '%-12s %5s %9s %9.1f %9.1f %14s\n' "$concurrency" "$VMS" "$((VMS * 3))" \
        "${seconds[$concurrency]}" "$(awk -v n="$VMS" -v s="${seconds[$concurrency]}" 'BEGIN { print n * 60 / s }')" \
        "${peak[$concurrency]}"
done
