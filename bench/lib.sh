# Shared parts of the Bot-Mox benchmark scripts (sourced, not run): knobs, paths, a
# temporary work directory cleaned up on exit, process helpers, the load generator wrapper
# and the release build.
#
# Knobs (environment):
#   CONNECTIONS   concurrent keep-alive connections            [64]
#   DURATION      measured seconds per run                     [10]
#   WARMUP        unrecorded seconds before each measurement   [2]
#   PG_ADMIN_URL  PostgreSQL server to create the bench DB on  [postgres://postgres@127.0.0.1:5432]
#   SKIP_BUILD=1  use the binaries already in $CARGO_TARGET_DIR/release
#   KEEP=1        keep the temporary directory (logs, data) for inspection
#   CARGO_TARGET_DIR  where cargo builds                       [<repo>/target]

CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}"
BENCH_EMAIL="bench@example.com"
BENCH_PASSWORD="bench-password-1"
# Limits high enough that the limiter never refuses the benchmark (a 429 is cheap and would
# inflate the figures; the load generator fails the run on any non-2xx anyway).
HIGH_LIMIT=100000000

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BOTMOX="$CARGO_TARGET_DIR/release/botmox"
LOADGEN="$CARGO_TARGET_DIR/release/botmox-loadgen"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/botmox-bench.XXXXXX")"
PG_DB="botmox_bench_$$"
PG_CREATED=0
SERVER_PID=""
# Further servers a script started (replicas), stopped on exit as SERVER_PID is.
OTHER_PIDS=()

log() { printf '==> %s\n' "$*" >&2; }

# Stop a process we started: SIGTERM, then SIGKILL if it has not exited after 10 s.
stop_pid() {
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# On any exit: stop the running server, drop the bench database, remove the temp dir.
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_pid "$SERVER_PID"
    SERVER_PID=""
    for pid in "${OTHER_PIDS[@]}"; do
        stop_pid "$pid"
    done
    if [[ "$PG_CREATED" == 1 ]]; then
        psql "$PG_ADMIN_URL/postgres" -qX -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 \
            || echo "warning: could not drop database $PG_DB" >&2
    fi
    if [[ "${KEEP:-0}" == 1 || $status -ne 0 ]]; then
        echo "logs and data kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A TCP port on 127.0.0.1 that nothing listens on right now (random, retried), below the
# ephemeral range the kernel takes client ports from (Linux: 32768 up): a benchmark's
# thousands of client connections, and their TIME_WAIT, would otherwise hold the port.
# There is a small window before the server binds it; a lost race shows up as a server
# that dies early.
free_port() {
    local port
    for _ in $(seq 50); do
        port=$(( 20000 + RANDOM % 12000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# Poll URL until it answers 2xx (at most 30 s), failing early if PID dies. Polls every
# 0.2 s: the public rate limit (60/min per address) only counts once the server listens.
wait_ready() {
    local url="$1" pid="$2" logfile="$3"
    for _ in $(seq 150); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "process $pid exited before $url answered; log:" >&2
            tail -n 30 "$logfile" >&2 || true
            return 1
        fi
        if curl -fsS -o /dev/null --max-time 2 --noproxy '*' "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "$url did not answer within 30 s; log:" >&2
    tail -n 30 "$logfile" >&2 || true
    return 1
}

# The benchmark user, created directly in the database before the server starts.
# $1 label (sqlite|postgres); the rest: the database arguments of `botmox`.
create_bench_user() {
    local backend="$1"
    shift
    "$BOTMOX" user create --email "$BENCH_EMAIL" --password "$BENCH_PASSWORD" \
        --role "${BENCH_ROLE:-user}" "$@" >"$WORK/user-$backend.log" 2>&1 \
        || { cat "$WORK/user-$backend.log" >&2; return 1; }
}

# Start `botmox serve` on a free port with the limits out of the way and wait until it is
# live. $1 label; $2 log file; the rest: the database arguments. Sets SERVER_PID and
# BASE_URL.
start_server() {
    local backend="$1" logfile="$2" port
    shift 2
    port="$(free_port)"
    BASE_URL="http://127.0.0.1:$port"
    log "botmox serve ($backend) on $BASE_URL"
    # Default log filter (one line per request, as in production), written to a file.
    RUST_LOG="${BENCH_RUST_LOG:-info,sqlx=warn,sea_orm=warn}" "$BOTMOX" serve "$@" \
        --listen "127.0.0.1:$port" \
        --rate-limit-per-address "$HIGH_LIMIT" \
        --rate-limit-per-principal "$HIGH_LIMIT" \
        >"$logfile" 2>&1 &
    SERVER_PID=$!
    wait_ready "$BASE_URL/api/v1/health/live" "$SERVER_PID" "$logfile"
}

# Resident memory of PID in MB (VmRSS, or another /proc/PID/status field given as $2).
rss_mb() {
    awk -v field="${2:-VmRSS}:" '$1 == field { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# Run the load generator; its one summary line goes to stdout and to $WORK/LABEL.txt.
load() {
    local label="$1" url="$2"
    shift 2
    "$LOADGEN" run --label "$label" --url "$url" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" "$@" \
        | tee "$WORK/$label.txt"
}

# The same load with wrk (Debian's `wrk`, an independent client: one thread, the same
# connections), its summary saved as `LABEL.txt` in the load generator's `key=value` form.
# $1 label; $2 URL; $3 bearer token or "". WRK_SCRIPT names a Lua script for the requests.
wrk_load() {
    local label="$1" url="$2" token="${3:-}" out
    command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; return 1; }
    local extra=()
    if [[ -n "$token" ]]; then
        extra+=(-H "Authorization: Bearer $token")
    fi
    # WRK_SCRIPT: a Lua script shaping each request (method, body), when set.
    if [[ -n "${WRK_SCRIPT:-}" ]]; then
        extra+=(-s "$WRK_SCRIPT")
    fi
    local args=(-t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${extra[@]}")
    # Warm-up, not recorded.
    wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "${extra[@]}" "$url" >/dev/null 2>&1 || true
    out="$(wrk "${args[@]}" "$url")"
    local rps p99 non2xx
    rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
    p99="$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }' <<<"$out")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")"
    printf '%s (wrk): rps=%s p99=%s non2xx=%s\n' "$label" "$rps" "$p99" "${non2xx:-0}" | tee "$WORK/$label.txt"
}

# An access token from POST /api/v1/auth/login. $1 base URL; $2 e-mail (default: the
# benchmark user's; the password is the same).
bench_token() {
    curl -fsS --noproxy '*' -H 'content-type: application/json' \
        -d "{\"email\":\"${2:-$BENCH_EMAIL}\",\"password\":\"$BENCH_PASSWORD\"}" \
        "$1/api/v1/auth/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

# Pull key=value (e.g. rps, p99) out of a saved summary line.
field() {
    grep -o "$2=[0-9.]*" "$WORK/$1.txt" | head -n1 | cut -d= -f2
}

# Create the throw-away PostgreSQL database $PG_DB (dropped again on exit).
create_pg_db() {
    log "creating database $PG_DB on $PG_ADMIN_URL"
    psql "$PG_ADMIN_URL/postgres" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PG_DB" >/dev/null
    PG_CREATED=1
}

# Build the release binaries unless SKIP_BUILD=1, and check they exist.
build_release() {
    if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
        log "building release binaries into $CARGO_TARGET_DIR"
        # One invocation: built together, the two share one feature set of their dependencies
        # (built apart, cargo compiles the shared dependencies twice).
        cargo build --release -p botmox-server --bin botmox -p botmox-testkit --bin botmox-loadgen
    fi
    [[ -x "$BOTMOX" && -x "$LOADGEN" ]] || { echo "missing $BOTMOX or $LOADGEN" >&2; exit 1; }
}
