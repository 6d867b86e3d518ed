#!/usr/bin/env bash
# The README's test command. On a fresh Debian machine (as root) it installs and starts what
# the tests need, then runs every test on SQLite and PostgreSQL, the browser tests in headless
# Chromium, the API fuzzing and the deployment files in Docker, and ends with one line
# "N passed, M failed".
# Installing needs root; run as another user it asks through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

# One build cache and one tool folder outside the clone, reused by every run on this machine
# (under /var/cache as root, else under ~/.cache).
sudo=""
cache=/var/cache
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
  cache="${XDG_CACHE_HOME:-$HOME/.cache}"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/botmox-target}"
export CARGO_TERM_COLOR=never
mkdir -p "$CARGO_TARGET_DIR"

# Debian packages: headless Chromium and its WebDriver for the browser tests, the PostgreSQL
# client tools for the readiness check below, OpenSSH's server for the agent's SSH tests,
# xorriso and isoinfo (genisoimage) to read back the config ISO (crates/unattend/tests/iso_tools.rs).
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v pg_isready >/dev/null || missing+=(postgresql-client)
command -v xorriso >/dev/null || missing+=(xorriso)
command -v isoinfo >/dev/null || missing+=(genisoimage)
# The agent's SSH tests start Debian's OpenSSH server on 127.0.0.1.
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
# The deployment test (.ci/deploy): Debian's Docker engine and Compose, debootstrap for the
# base image where no registry answers, jq.
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v jq >/dev/null || missing+=(jq)
# The browser tests run Chromium in a fixed time zone (crates/testkit/src/browser.rs).
[ -e /usr/share/zoneinfo/Europe/Moscow ] || missing+=(tzdata)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The S3-compatible server of the artifact tests (crates/testkit/src/s3.rs), built once into
# the tool folder (0.14.1: later releases need a newer rustc than the pinned one).
tools="$cache/botmox-tools"
export BOTMOX_S3S_FS="$tools/bin/s3s-fs"
if [ ! -x "$BOTMOX_S3S_FS" ]; then
  echo "installing: s3s-fs 0.14.1"
  cargo install s3s-fs@0.14.1 --features binary --locked --root "$tools"
fi

# PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth); start the local cluster if needed.
export BOTMOX_TEST_POSTGRES_URL="${BOTMOX_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  if [ -d /etc/postgresql ]; then
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start
  else
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    $sudo sed -i 's/^\(host.*\)scram-sha-256$/\1trust/; s/^\(local.*\)peer$/\1trust/' "/etc/postgresql/$version/main/pg_hba.conf"
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

# Docker's engine for the deployment test, started when none answers.
if ! docker info >/dev/null 2>&1; then
  $sudo sh -c 'nohup dockerd >/var/log/botmox-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
docker info >/dev/null

# Every test, then the API fuzzing (.ci/fuzz-api: Schemathesis against the served OpenAPI
# document, both engines, on the debug binary the tests built) and the parsers' fuzz targets
# (.ci/fuzz-targets: cargo fuzz, a bounded time each), with a one-line total at the end (the
# last runner line alone would be the doc-tests' count).
log="$(mktemp)"
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
fuzz_status=0
if ! schemathesis --version 2>/dev/null | grep -q '4\.32\.5'; then
  echo "installing: schemathesis 4.32.5"
  command -v pip3 >/dev/null || command -v pip >/dev/null || {
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  }
  $sudo python3 -m pip install -q 'schemathesis==4.32.5' ||
    $sudo python3 -m pip install -q --break-system-packages 'schemathesis==4.32.5'
fi
bash .ci/fuzz-api || fuzz_status=$?
targets_status=0
BOTMOX_TOOLS="$tools" bash .ci/fuzz-targets || targets_status=$?
# The deployment files (.ci/deploy: the Dockerfile's images and deploy/compose.yaml, run and
# gone through over HTTPS); it installs Debian's Docker engine when none answers.
deploy_status=0
bash .ci/deploy || deploy_status=$?
passed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '; [0-9]+ failed' "$log" | awk '{s += $2} END {print s + 0}')
rm -f "$log"
if [ "$fuzz_status" -ne 0 ]; then
  echo "API fuzzing failed (.ci/fuzz-api, above)"
  failed=$((failed + 1))
  [ "$status" -ne 0 ] || status=$fuzz_status
fi
if [ "$targets_status" -ne 0 ]; then
  echo "fuzz targets failed (.ci/fuzz-targets, above)"
  failed=$((failed + 1))
  [ "$status" -ne 0 ] || status=$targets_status
fi
if [ "$deploy_status" -ne 0 ]; then
  echo "deployment test failed (.ci/deploy, above)"
  failed=$((failed + 1))
  [ "$status" -ne 0 ] || status=$deploy_status
fi
echo "${passed} passed, ${failed} failed"
exit "$status"
