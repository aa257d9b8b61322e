"""Small helpers for the `/_emulator/` admin API (plain urllib, as a test suite in any
language would call it) and for reading boto3 responses, shared by the scenario and journal
suites."""
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_PROFILE = f"us.{HAIKU}"
SONNET_4 = "anthropic.claude-sonnet-4-20250514-v1:0"
NOVA_MICRO = "amazon.nova-micro-v1:0"
TITAN_TEXT = "amazon.titan-text-express-v1"


ACCESS_KEY = "AKIDEMULATOR"
SECRET_KEY = "emulator-secret"


def client(service: str, url: str, session_token: str | None = None, **retries):
    """A boto3 client for the emulator. By default it makes exactly one attempt: in botocore's
    `retries` config `max_attempts` counts *retries* (total = max_attempts + 1), so conftest's
    `make_client` (max_attempts=1) would retry a scripted throttle once and hide it."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=session_token,
        config=Config(retries=retries or {"total_max_attempts": 1, "mode": "standard"}),
    )


def retrying_client(url: str):
    """A runtime client that retries the way applications configure boto3."""
    return client("bedrock-runtime", url, max_attempts=3, mode="standard")


class AdminResponse:
    """Status, headers and decoded JSON body of an admin call."""

    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.text = body.decode("utf-8")
        self.json = json.loads(self.text) if self.text else None

    def __repr__(self):
        return f"AdminResponse({self.status}, {self.text[:300]!r})"


def admin(url: str, method: str, path: str, body=None, **query) -> AdminResponse:
    """Calls `/_emulator/<path>`; `body` may be bytes or a str (sent as is) or a JSON-able value."""
    target = f"{url}/_emulator/{path}"
    query = {k: v for k, v in query.items() if v is not None}
    if query:
        target += "?" + urllib.parse.urlencode(query)
    data = None
    if body is not None:
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(target, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return AdminResponse(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return AdminResponse(error.code, error.headers, error.read())


def admin_ok(url: str, method: str, path: str, body=None, **query):
    """An admin call that must succeed (2xx); returns its JSON."""
    response = admin(url, method, path, body, **query)
    assert 200 <= response.status < 300, response
    return response.json


def load_scenario(url: str, text, name: str | None = "test"):
    """POSTs a scenario document (YAML text, JSON text or a dict) under `name`."""
    return admin_ok(url, "POST", "scenarios", text, name=name)


def clear_scenarios(url: str):
    admin_ok(url, "DELETE", "scenarios")


def reset(url: str):
    admin_ok(url, "POST", "reset")


def pages(url: str, path: str, **query):
    """Every page of a paged admin listing (`scenarios`, `journal`, `faults`), following
    `nextToken` to the end, so no caller sees only the first page."""
    out, token = [], None
    while True:
        page = admin_ok(url, "GET", path, nextToken=token, **query)
        out.append(page)
        token = page.get("nextToken")
        if not token:
            return out


def listing(url: str, **query):
    """`GET /_emulator/scenarios`, every page merged: a source split across pages is one source
    with all its rules."""
    merged = None
    for page in pages(url, "scenarios", **query):
        if merged is None:
            merged = dict(page, sources=[])
        for source in page["sources"]:
            if merged["sources"] and merged["sources"][-1]["name"] == source["name"]:
                merged["sources"][-1]["rules"].extend(source["rules"])
            else:
                merged["sources"].append(source)
    merged.pop("nextToken", None)
    return merged


def fault_listing(url: str, **query):
    """`GET /_emulator/faults`, every page merged."""
    all_pages = pages(url, "faults", **query)
    merged = dict(all_pages[-1], faults=[f for page in all_pages for f in page["faults"]])
    merged.pop("nextToken", None)
    return merged


def rule_labels(url: str):
    return [rule["label"] for source in listing(url)["sources"] for rule in source["rules"]]


def journal(url: str, operation=None, model=None, limit=None, **query):
    """`GET /_emulator/journal`, every page: the last page's counters with all the entries."""
    all_pages = pages(url, "journal", operation=operation, model=model, limit=limit, **query)
    merged = dict(all_pages[-1], entries=[e for page in all_pages for e in page["entries"]])
    merged.pop("nextToken", None)
    return merged


def entries(url: str, **filters):
    return journal(url, **filters)["entries"]


def last_entry(url: str):
    (entry,) = entries(url, limit=1)
    return entry


def clear_journal(url: str):
    admin_ok(url, "DELETE", "journal")


def verify(url: str, match: dict, count=None):
    body = {"match": match}
    if count is not None:
        body["count"] = count
    return admin_ok(url, "POST", "verify", body)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1):
    """Polls `predicate` until it returns something truthy (returned) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


# boto3 request/response shapes.


def user(text):
    return {"role": "user", "content": [{"text": text}]}


def assistant(text):
    return {"role": "assistant", "content": [{"text": text}]}


def text_of(response):
    return "".join(b["text"] for b in response["output"]["message"]["content"] if "text" in b)


def tool_uses(response):
    return [b["toolUse"] for b in response["output"]["message"]["content"] if "toolUse" in b]


def stream_events(response):
    """Every event of a ConverseStream response as (kind, payload) pairs."""
    out = []
    for event in response["stream"]:
        ((kind, payload),) = event.items()
        out.append((kind, payload))
    return out


def streamed_text(events):
    return "".join(p["delta"]["text"] for k, p in events if k == "contentBlockDelta" and "text" in p["delta"])


def chunks(response):
    """The decoded JSON chunks of an InvokeModelWithResponseStream response."""
    return [json.loads(event["chunk"]["bytes"]) for event in response["body"]]


def anthropic_body(text, max_tokens=100, **extra):
    return json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}],
            **extra,
        }
    )


def anthropic_stream_text(chunk_list):
    return "".join(
        c["delta"]["text"] for c in chunk_list if c["type"] == "content_block_delta" and c["delta"].get("type") == "text_delta"
    )


def ended(read, status_key="status", running=("InProgress",), attempts=200, pause=0.02):
    """`read()` once its `status_key` is no longer one of `running` (a job moving on the
    emulator's clock); AssertionError if it still is after `attempts` reads."""
    for _ in range(attempts):
        job = read()
        if job[status_key] not in running:
            return job
        time.sleep(pause)
    raise AssertionError(f"still {job[status_key]}")
