#!/usr/bin/env bash
# VM pipeline benchmark of Bot-Mox: a batch of VMS VMs created by the server's jobs through
# the real `botmox-agent` against `botmox-fake-pve`, with `botmox serve` on SQLite. Each
# batch runs with concurrency 1 and then 8 (jobs of the batch in their Proxmox steps at
# once). Each VM: reserve (list-vms), clone, inspect (get-config), resize, configure,
# register, payload + config ISO (built and uploaded by the agent), attach, start, boot
# keys; then the bench plays the VMs (validate-token and report-progress to `completed`, as
# START.ps1 does) and the jobs eject and delete the ISOs. Figures: wall time from the batch's
# creation until every VM waits for Windows (the Proxmox part), and until every job
# completed, with VMs per minute.
#
# Task durations of the fake are real-world ones scaled by 1/10 (SCALE): a full clone of a
# 64 GiB Windows template on thin LVM ~20 s -> 2 s, start ~10 s -> 1 s, resize ~1 s ->
# 0.1 s, config write ~0.5 s -> 0.05 s, ISO upload ~1 s -> 0.1 s, ISO delete -> 0.05 s,
# anything else 0.1 s. The agent polls a task every 0.5 s, as against a real PVE. Two
# boot key presses, 1 s apart (a real run presses five).
#
# Knobs: those of bench/lib.sh (SKIP_BUILD, KEEP), plus
#   VMS          VMs per batch                 [50]
#   CONCURRENCY  the batches' concurrency      ["1 8"]
#   PROFILE      release or debug binaries     [release]
#
# Usage: bench/vm_jobs.sh
#        VMS=10 PROFILE=debug SKIP_BUILD=1 bench/vm_jobs.sh   (a quick check)
set -euo pipefail
VMS="${VMS:-50}"
CONCURRENCY="${CONCURRENCY:-1 8}"
PROFILE="${PROFILE:-release}"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BOTMOX="$CARGO_TARGET_DIR/$PROFILE/botmox"
AGENT="$CARGO_TARGET_DIR/$PROFILE/botmox-agent"
FAKE="$CARGO_TARGET_DIR/$PROFILE/botmox-fake-pve"
PVE_TOKEN='root@pam!bench=00000000-1111-2222-3333-444444444455'
FAKE_PID=""
AGENT_PID=""
trap 'status=$?; stop_pid "$AGENT_PID"; stop_pid "$FAKE_PID"; (exit "$status"); cleanup' EXIT

command -v jq >/dev/null || { echo "bench/vm_jobs.sh needs jq" >&2; exit 1; }
command -v isoinfo >/dev/null || { echo "bench/vm_jobs.sh needs isoinfo (genisoimage)" >&2; exit 1; }

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    flag=()
    [[ "$PROFILE" == release ]] && flag=(--release)
    log "building $PROFILE binaries into $CARGO_TARGET_DIR"
    cargo build "${flag[@]}" -p botmox-server --bin botmox -p botmox-agent --bin botmox-agent \
        -p botmox-fake-pve --bin botmox-fake-pve
fi
for bin in "$BOTMOX" "$AGENT" "$FAKE"; do
    [[ -x "$bin" ]] || { echo "missing $bin" >&2; exit 1; }
done

api() {
    local method="$1" path="$2" body="${3:-}"
    local args=(-fsS --noproxy '*' -X "$method" -H "Authorization: Bearer $TOKEN" "$BASE_URL/api/v1$path")
    [[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' --data "$body")
    curl "${args[@]}"
}

# The states of the batch's jobs, one per line.
states() {
    api GET "/vm-jobs?batch_id=$1&limit=200" | jq -r '.data[].state'
}

# Wait until all VMS jobs of batch $1 are in state $2; fail when one failed.
wait_state() {
    local batch="$1" want="$2" all
    while true; do
        all="$(states "$batch")"
        if grep -qx failed <<<"$all"; then
            api GET "/vm-jobs?batch_id=$batch&state=failed&limit=1" | jq -c '.data[0].error' >&2
            return 1
        fi
        [[ "$(grep -cx "$want" <<<"$all")" == "$VMS" ]] && return 0
        sleep 0.2
    done
}

# Each waiting VM of batch $1 validates its token and reports its setup completed, with
# the token the server put into its config ISO, read as the VM reads it: the image the
# agent uploaded to the fake PVE, its provision.json extracted with isoinfo.
play_vms() {
    api GET "/vm-jobs?batch_id=$1&limit=200" | jq -r '.data[] | "\(.vm_uuid) \(.iso_path)"' |
        while read -r uuid volume; do
            storage="${volume%%:*}"
            curl -fsS --noproxy '*' -H "Authorization: PVEAPIToken=$PVE_TOKEN" \
                -o "$WORK/vm.iso" "$FAKE_URL/fake/iso/pve/$storage/${volume#*:iso/}"
            token="$(isoinfo -J -i "$WORK/vm.iso" -x /provision.json | jq -r .token)"
            curl -fsS --noproxy '*' -o /dev/null -H 'Content-Type: application/json' \
                --data "{\"token\":\"$token\",\"vm_uuid\":\"$uuid\"}" "$BASE_URL/api/v1/provisioning/validate-token"
            curl -fsS --noproxy '*' -o /dev/null -H 'Content-Type: application/json' \
                --data "{\"token\":\"$token\",\"vm_uuid\":\"$uuid\",\"step\":\"completed\",\"status\":\"completed\"}" \
                "$BASE_URL/api/v1/provisioning/report-progress"
        done
}

# --- server, fake PVE, agent ---------------------------------------------------------------------
mkdir -p "$WORK/data"
db_args=(--data-dir "$WORK/data")
BENCH_ROLE=user create_bench_user sqlite "${db_args[@]}"
port="$(free_port)"
BASE_URL="http://127.0.0.1:$port"
log "botmox serve (sqlite) on $BASE_URL"
RUST_LOG=warn "$BOTMOX" serve "${db_args[@]}" --listen "127.0.0.1:$port" --public-url "$BASE_URL" \
    --rate-limit-per-address "$HIGH_LIMIT" --rate-limit-per-principal "$HIGH_LIMIT" \
    --rate-limit-public "$HIGH_LIMIT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_ready "$BASE_URL/api/v1/health/live" "$SERVER_PID" "$WORK/server.log"
TOKEN="$(bench_token "$BASE_URL")"
api POST /unattend-profiles '{"name":"bench","is_default":true,"config":{"user":{"nameMode":"custom","customName":"Operator","password":"Pa55word!"},"computerName":{"mode":"fixed"},"locale":{"uiLanguage":"en-US","keyboardLayouts":[{"language":"0409","layout":"00000409"}]},"softwareRemoval":{"mode":"fixed"},"capabilityRemoval":{"mode":"fixed"},"windowsSettings":{},"visualEffects":{"mode":"performance"},"desktopIcons":{"mode":"default"}}}' >/dev/null

fake_port="$(free_port)"
FAKE_URL="http://127.0.0.1:$fake_port"
"$FAKE" --listen "127.0.0.1:$fake_port" --node pve --token "$PVE_TOKEN" --task-ms 100 \
    --task-type-ms qmclone=2000 --task-type-ms qmstart=1000 --task-type-ms resize=100 \
    --task-type-ms qmconfig=50 --task-type-ms imgcopy=100 --task-type-ms imgdel=50 \
    >"$WORK/fake.log" 2>&1 &
FAKE_PID=$!
for _ in $(seq 150); do
    curl -fsS --noproxy '*' -o /dev/null -H "Authorization: PVEAPIToken=$PVE_TOKEN" \
        "$FAKE_URL/api2/json/version" 2>/dev/null && break
    sleep 0.2
done

uri="$(api POST /agents/pairings '{"name":"bench agent"}' | jq -r .data.pairing_uri)"
"$AGENT" --config "$WORK/agent.toml" pair "$uri" --proxmox-url "$FAKE_URL" \
    --proxmox-token "$PVE_TOKEN" --node pve >"$WORK/pair.log"
AGENT_ID="$(sed -n 's/^agent_id = "\(.*\)"$/\1/p' "$WORK/agent.toml")"
RUST_LOG=warn "$AGENT" --config "$WORK/agent.toml" run --concurrency 16 >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
log "fake PVE on $FAKE_URL, agent $AGENT_ID"

declare -A proxmox total
ip_base=10
for concurrency in $CONCURRENCY; do
    log "$VMS VMs, concurrency $concurrency"
    body="{\"agent_id\":\"$AGENT_ID\",\"template_vmid\":100,\"count\":$VMS,\"name_prefix\":\"c$concurrency-\",
      \"cores\":2,\"memory_mb\":4096,\"disk_gib\":80,\"playbook_id\":\"none\",\"concurrency\":$concurrency,
      \"boot_keys\":2,\"queue_if_offline\":true,
      \"ip\":{\"first_address\":\"10.$ip_base.0.10\",\"netmask\":\"255.255.0.0\",\"gateway\":\"10.$ip_base.0.1\"}}"
    began="$(date +%s.%N)"
    batch="$(api POST /vm-jobs "$body" | jq -r .data.id)"
    wait_state "$batch" waiting_for_windows
    waited="$(date +%s.%N)"
    play_vms "$batch"
    wait_state "$batch" completed
    ended="$(date +%s.%N)"
    proxmox[$concurrency]="$(awk -v a="$began" -v b="$waited" 'BEGIN { printf "%.1f", b - a }')"
    total[$concurrency]="$(awk -v a="$began" -v b="$ended" 'BEGIN { printf "%.1f", b - a }')"
    ip_base=$((ip_base + 1))
done

echo
echo "Bot-Mox VM pipeline: $PROFILE build, $VMS VMs per batch, fake PVE tasks at 1/10 of real-world durations (clone 2 s, start 1 s), 2 boot keys, $(nproc) CPUs (server, agent and fake on one machine)"
printf '%-12s %5s %22s %12s %16s\n' concurrency vms to_waiting_for_windows_s vms/min completed_s
for concurrency in $CONCURRENCY; do
    printf '%-12s %5s %22s %12.1f %16s\n' "$concurrency" "$VMS" "${proxmox[$concurrency]}" \
        "$(awk -v n="$VMS" -v s="${proxmox[$concurrency]}" 'BEGIN { print n * 60 / s }')" \
        "${total[$concurrency]}"
done
