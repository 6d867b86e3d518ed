"""The agent the /infra routes run their commands on while .ci/fuzz-api fuzzes them: it
claims each command and reports it done at once, with an empty answer of the shape the
route documents (a list for the listing commands, an object for the rest), so a call
returns as soon as the server has handed it over and back.

Usage: python3 .ci/fuzz_api_agent.py BASE_URL AGENT_TOKEN   (runs until killed)
"""

import json
import sys
import time
import urllib.error
import urllib.request

base, token = sys.argv[1].rstrip("/"), sys.argv[2]
LISTS = ("proxmox.list", "proxmox.list-vms", "proxmox.cluster-resources")


def call(method, path, body=None):
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response).get("data")


while True:
    try:
        command = call("GET", "/api/v1/vm-ops/commands/next?timeout_ms=25000")
        if command:
            result = [] if command["command_type"] in LISTS else {}
            call(
                "PATCH",
                f"/api/v1/vm-ops/commands/{command['id']}",
                {"claim_id": command["claim_id"], "status": "succeeded", "result": result},
            )
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        # The server is starting or stopping: try again shortly.
        time.sleep(0.2)
