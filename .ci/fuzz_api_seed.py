"""Records for .ci/fuzz-api to fuzz against: without them every operation on an id answers
404 and the fuzzer never reaches what lies behind it.

Usage: python3 .ci/fuzz_api_seed.py BASE_URL ADMIN_TOKEN
Prints `NAME=value` lines for the shell to export; .ci/fuzz-api.toml names them as
`${FUZZ_…}`. Each record an operation deletes, revokes or rotates has a second one of its
own (`…_DOOMED`), so the one the other operations use is still there when they run.
"""

import json
import sys
import urllib.error
import urllib.request

base, token = sys.argv[1].rstrip("/"), sys.argv[2]


def call(method, path, body=None, *, bearer=token, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method=method)
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    if raw is None and body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            return json.load(response)["data"]
    except urllib.error.HTTPError as error:
        sys.exit(f"fuzz-api seed: {method} {path} answered {error.code}: {error.read().decode()}")


def create(path, body):
    return str(call("POST", path, body)["id"])


def agent(name):
    """A registered agent: its id and its token."""
    pairing = call("POST", "/api/v1/agents/pairings", {"name": name})
    registered = call(
        "POST",
        "/api/v1/agents/register",
        {"pairing_code": pairing["pairing_code"], "hostname": name},
        bearer=None,
    )
    return registered["id"], registered["agent_token"]


seeds = {}


def twice(name, make):
    seeds[name] = make(0)
    seeds[f"{name}_DOOMED"] = make(1)


twice("BOT", lambda i: create("/api/v1/bots", {"name": f"fuzz-bot-{i}", "status": "farming"}))
# A person, so that the bot's account can be generated from it.
call("PATCH", f"/api/v1/bots/{seeds['BOT']}", {"person": call("POST", f"/api/v1/bots/{seeds['BOT']}/generate/person", {"country": "US"})})
twice(
    "PLAYBOOK",
    lambda i: create("/api/v1/playbooks", {"name": f"fuzz-{i}", "content": "name: x\nroles:\n  - role: base-system\n"}),
)
twice(
    "OPERATION",
    lambda i: create(
        "/api/v1/finance/operations",
        {"type": "expense", "category": "proxy", "amount": 5, "currency": "USD",
         "date": 1764547200000},
    ),
)
twice("NOTE", lambda i: create("/api/v1/workspace/notes", {"title": f"fuzz-{i}"}))
twice("PROXY", lambda i: create("/api/v1/resources/proxies", {"host": f"10.0.0.{i + 1}"}))
twice("LICENCE", lambda i: create("/api/v1/license/tenant-licenses", {"type": "perpetual"}))
profile = {
    "user": {"nameMode": "random"}, "computerName": {"mode": "random"}, "locale": {},
    "softwareRemoval": {"mode": "fixed"}, "capabilityRemoval": {"mode": "fixed"},
    "windowsSettings": {}, "visualEffects": {}, "desktopIcons": {},
}
twice(
    "PROFILE",
    lambda i: create("/api/v1/unattend-profiles", {"name": f"fuzz-{i}", "config": profile}),
)
seeds["TOKEN_DOOMED"] = create("/api/v1/tokens", {"name": "fuzz-doomed", "role": "user"})
png = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D]) + b"IHDR" + bytes(
    [0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]
)
twice("ASSET", lambda i: str(call("POST", "/api/v1/theme-assets", raw=png)["id"]))
twice(
    "RELEASE",
    lambda i: str(
        call("POST", f"/api/v1/artifacts/releases/upload?module=fuzz&platform=windows&version={i}",
             raw=b"artifact")["id"]
    ),
)
seeds["USER"] = create(
    "/api/v1/users", {"email": "member@example.com", "password": "member-password-1", "role": "user"}
)
seeds["VM"] = "4c2b8f0e-3a1d-4e5f-9b7c-2d1e0f3a4b5c"
call("POST", "/api/v1/vm/register", {"vm_uuid": seeds["VM"], "vm_name": "WIN-FUZZ"})

# The agent the agent-only operations act as, one to rotate its own token, one to revoke.
seeds["AGENT"], seeds["AGENT_TOKEN"] = agent("fuzz-agent")
seeds["AGENT_ROTATED"], seeds["AGENT_ROTATED_TOKEN"] = agent("fuzz-agent-rotated")
seeds["AGENT_DOOMED"], _ = agent("fuzz-agent-doomed")
# The agent the /infra routes run on (.ci/fuzz_api_agent.py plays it).
seeds["INFRA_AGENT"], seeds["INFRA_AGENT_TOKEN"] = agent("fuzz-infra")
twice(
    "COMMAND",
    lambda i: create(
        "/api/v1/vm-ops/commands",
        {"agent_id": seeds["AGENT"], "command_type": "proxmox.start", "payload": {"vmid": 100 + i}},
    ),
)
twice("JOB", lambda i: create("/api/v1/vm-jobs/delete", {"agent_id": seeds["AGENT"], "vmid": 101 + i}))

for name, value in seeds.items():
    print(f"FUZZ_{name}={value}")
