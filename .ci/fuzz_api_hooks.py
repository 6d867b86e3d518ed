"""Schemathesis hooks of .ci/fuzz-api: the rules of the API that a JSON Schema cannot say.

Each hook changes only schema-valid (positive) cases, and only so that they meet one rule
the document states in words but no schema can check; every other value is left as drawn.
Negative cases are never touched, so no invalid request is made valid.
"""

import os

import schemathesis

DAY_MS = 86_400_000
MAX_MS = 8_000_000_000_000_000


def positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def references(case):
    """`project_id`, `bot_id` and `bot_ids` must name a project and bots of the tenant: a
    drawn id names none, so positive cases refer to no project and to the bot the run
    seeded (.ci/fuzz_api_seed.py)."""
    body = case.body
    if not isinstance(body, dict):
        return
    bot = os.environ.get("FUZZ_BOT")
    if "project_id" in body:
        body["project_id"] = None
    if "bot_id" in body:
        body["bot_id"] = bot
    if "bot_ids" in body:
        body["bot_ids"] = [bot] if bot else []


def token_expiry(case):
    """A new API token's `expires_at` must be in the future."""
    if case.path == "/api/v1/tokens" and case.method.upper() == "POST":
        if isinstance(case.body, dict) and "expires_at" in case.body:
            case.body["expires_at"] = None


def members(case):
    """A `user_id` in the licensing, VM registry and artifact bodies must name a member of
    the tenant (or, for an entitlement or assignment, none: the tenant default); a drawn id
    names none, so positive cases leave it out."""
    if not case.path.startswith(("/api/v1/license/", "/api/v1/vm", "/api/v1/artifacts/")):
        return
    if isinstance(case.body, dict) and case.body.get("user_id") is not None:
        case.body["user_id"] = None


def licence_expiry(case):
    """A subscription or trial licence needs an `expires_at` (perpetual and all-time ones
    never expire): a new one, or one changed to such a type, without it gets a day from
    now, and a change never clears it."""
    if not case.path.startswith("/api/v1/license/tenant-licenses"):
        return
    body = case.body
    if not isinstance(body, dict) or case.method.upper() not in ("POST", "PATCH"):
        return
    import time

    tomorrow = int(time.time() * 1000) + DAY_MS
    if case.method.upper() == "POST":
        if body.get("type") in (None, "subscription", "trial") and body.get("expires_at") is None:
            body["expires_at"] = tomorrow
        return
    if "expires_at" in body and body["expires_at"] is None:
        del body["expires_at"]
    if body.get("type") in ("subscription", "trial") and "expires_at" not in body:
        body["expires_at"] = tomorrow


def finance_range(case):
    """`from` must be before `to` (default: the end of today) and the range at most 1,000
    periods: a drawn pair is kept at 30 days from `from`."""
    if case.path not in ("/api/v1/finance/summary", "/api/v1/finance/daily-stats"):
        return
    query = case.query
    if not isinstance(query, dict) or ("from" not in query and "to" not in query):
        return
    start = query.get("from")
    end = query.get("to")
    if isinstance(start, int):
        start = min(start, MAX_MS - DAY_MS)
        query["from"] = start
        query["to"] = min(start + 30 * DAY_MS, MAX_MS)
    elif isinstance(end, int):
        query["from"] = max(0, end - 30 * DAY_MS)


def record_kind(case):
    """A record body's rules depend on the kind named in the path: the kind is the one the
    body was drawn for (its branch of the body's `anyOf`, titled with the kind)."""
    if "kind" not in (case.path_parameters or {}) or not isinstance(case.body, dict):
        return
    if case.method.upper() not in ("POST", "PATCH") or case.path.endswith("/reveal"):
        return
    import jsonschema

    raw = case.operation.schema.raw_schema
    content = case.operation.definition.raw["requestBody"]["content"]["application/json"]
    name = content["schema"]["$ref"].rsplit("/", 1)[-1]
    for branch in raw["components"]["schemas"][name]["anyOf"]:
        if jsonschema.Draft202012Validator(branch).is_valid(case.body):
            case.path_parameters["kind"] = branch["title"]
            return


def command_payloads(case):
    """Four command payloads have rules no schema here says: an ISO's `url` must be one a
    URL parser takes (http or https, a host it can read), a provisioning ISO's `files` are
    named like files and hold base64, 96 KiB in all, an SSH command must be one of the
    allowlist's, and a config change sets known VM config keys. Positive cases download
    from a fixed URL, write one small file, ask for a VM's status and set its cores."""
    body = case.body
    if case.path != "/api/v1/vm-ops/commands" or not isinstance(body, dict):
        return
    payload = body.get("payload")
    if not isinstance(payload, dict):
        return
    if body.get("command_type") == "proxmox.upload-iso":
        payload["url"] = "https://example.com/images/virtio-win.iso"
    if body.get("command_type") == "proxmox.create-provision-iso":
        payload["files"] = {"provision.json": "e30="}
    if body.get("command_type") == "proxmox.ssh-exec":
        payload["command"] = "qm status 101"
    if body.get("command_type") in ("proxmox.update-config", "proxmox.config.update"):
        payload["config"] = {"cores": 2}


# Before each call rather than as cases are drawn, so the cases of every phase (examples
# and coverage included) meet the rules.
@schemathesis.hook
def before_call(context, case, **kwargs):
    if positive(case):
        references(case)
        token_expiry(case)
        members(case)
        licence_expiry(case)
        finance_range(case)
        record_kind(case)
        command_payloads(case)
