#!/usr/bin/env bash
# Records benchmark of Bot-Mox: 100,000 bots and 200,000 finance operations in one tenant,
# then, with release builds, on SQLite and on PostgreSQL:
#   list       GET /api/v1/bots, filtered by status and project, sorted by name descending,
#              page 20 of 50 rows (filter, sort and paging all in the database)
#   aggregate  GET /api/v1/finance/summary for the last 365 days by month (SQL aggregates)
#   patch      PATCH /api/v1/bots/<random one of the 100,000> {"character/level": 42}
#   overview   GET / : the Overview page, signed in through the login form (cookie session)
#   project    GET /project/p1 : the Project page (its counts and first 25 accounts)
#   search     GET /bots?q=char4242 : the Bots list searched (nested fields: character name)
#   finance    GET /finance : the Finance page (30 days of charts, the latest operations)
#   tree       GET /ui/tree : the resource tree every page loads after it renders
#   page-*     the Overview, Project, Bots search and Finance pages loaded one after another
#              in headless Chromium: the server's part and DOMContentLoaded, as the browser
#              times them (`botmox-loadgen pages`; needs chromium and chromium-driver)
#
# The targets are latencies at the server, so the default concurrency is low (CONNECTIONS=4):
# with 2 cores shared by the load generator, more connections measure queueing instead.
# The load generator and server share the machine; compare runs on the same host only.
#
# Knobs: those of bench/lib.sh (CONNECTIONS here defaults to 4), plus BOTS [100000] and
# OPERATIONS [200000].
#
# Usage: bench/records.sh
set -euo pipefail
CONNECTIONS="${CONNECTIONS:-4}"
BOTS="${BOTS:-100000}"
OPERATIONS="${OPERATIONS:-200000}"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A session cookie from the login form: fetch the form (CSRF cookie and token), post it.
ui_cookie() {
    local base="$1" jar="$WORK/cookies.txt" token
    rm -f "$jar"
    token="$(curl -fsS --noproxy '*' -c "$jar" "$base/login" \
        | grep -o 'name="_csrf" value="[^"]*"' | head -n1 | sed 's/.*value="//; s/"$//')"
    curl -fsS --noproxy '*' -b "$jar" -c "$jar" -o /dev/null -H "Origin: $base" \
        --data-urlencode "_csrf=$token" --data-urlencode "email=$BENCH_EMAIL" \
        --data-urlencode "password=$BENCH_PASSWORD" "$base/login"
    awk '$6 == "botmox_session" { print "botmox_session=" $7 }' "$jar"
}

# Seed, serve and load one backend. $1 label (sqlite|postgres); $2 database URL.
bench_records() {
    local backend="$1" database_url="$2"
    local data="$WORK/data-$backend" logfile="$WORK/server-$backend.log" cookie
    mkdir -p "$data"
    local db_args=(--data-dir "$data" --database-url "$database_url")
    create_bench_user "$backend" "${db_args[@]}"
    log "seeding $BOTS bots and $OPERATIONS operations ($backend)"
    "$LOADGEN" seed --database-url "$database_url" --bots "$BOTS" --operations "$OPERATIONS" \
        2> >(tee "$WORK/seed-$backend.log" >&2)

    start_server "$backend" "$logfile" "${db_args[@]}"
    local login=(--login "$BENCH_EMAIL:$BENCH_PASSWORD" --login-url "$BASE_URL")
    local now year_ago
    now="$(date +%s)000"
    year_ago="$(( $(date +%s) - 365 * 86400 ))000"

    load "list-$backend" \
        "$BASE_URL/api/v1/bots?status=farming&project_id=p1&sort=name&order=desc&page=20&limit=50" "${login[@]}"
    load "aggregate-$backend" \
        "$BASE_URL/api/v1/finance/summary?from=$year_ago&to=$now&period=month" "${login[@]}"
    load "patch-$backend" "$BASE_URL/api/v1/bots/bench-bot-{n}" --n-range "$BOTS" \
        --method PATCH --body '{"character/level": 42}' "${login[@]}"
    cookie="$(ui_cookie "$BASE_URL")"
    [[ -n "$cookie" ]] || { echo "could not sign in through the login form" >&2; return 1; }
    load "overview-$backend" "$BASE_URL/" --header "Cookie: $cookie"
    load "project-$backend" "$BASE_URL/project/p1" --header "Cookie: $cookie"
    load "search-$backend" "$BASE_URL/bots?q=char4242" --header "Cookie: $cookie"
    load "finance-$backend" "$BASE_URL/finance" --header "Cookie: $cookie"
    load "tree-$backend" "$BASE_URL/ui/tree" --header "Cookie: $cookie"
    "$LOADGEN" pages --url "$BASE_URL" --login "$BENCH_EMAIL:$BENCH_PASSWORD" --runs 20 \
        --page "overview-$backend=/" --page "project-$backend=/project/p1" \
        --page "search-$backend=/bots?q=char4242" --page "finance-$backend=/finance" \
        | tee "$WORK/pages-$backend.txt"
    rss_mb "$SERVER_PID" VmHWM >"$WORK/rss-peak-$backend.txt"

    stop_pid "$SERVER_PID"
    SERVER_PID=""
}

build_release
bench_records sqlite "sqlite://$WORK/data-sqlite/botmox.db"
create_pg_db
bench_records postgres "$PG_ADMIN_URL/$PG_DB"

echo
echo "Bot-Mox records benchmark: $BOTS bots, $OPERATIONS operations; $CONNECTIONS connections, ${DURATION}s measured (+${WARMUP}s warm-up), $(nproc) CPUs"
printf '%-22s %10s %10s %10s %10s\n' label rps p50_ms p99_ms peak_rss_MB
for backend in sqlite postgres; do
    for what in list aggregate patch overview project search finance tree; do
        label="$what-$backend"
        printf '%-22s %10s %10s %10s %10s\n' "$label" "$(field "$label" rps)" \
            "$(field "$label" p50)" "$(field "$label" p99)" "$(cat "$WORK/rss-peak-$backend.txt")"
    done
done
