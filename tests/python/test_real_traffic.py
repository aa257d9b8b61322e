"""Fidelity against real Bedrock: replay every recorded Converse / ConverseStream request to the
emulator and compare the STRUCTURE of its answer with the recorded real answer.

Source: ``../shared/real-traffic/`` (see its README.md), recorded by other projects against
bedrock-runtime.us-east-1.amazonaws.com. Outside users do not have that folder: the
``real_traffic`` fixture then skips, saying so. Recordings are read in place, never copied.

What is compared (never the generated text, token counts or latency):

* HTTP status, and the response ``Content-Type`` (where the cassette kept response headers).
* Errors: the error code (``x-amzn-ErrorType`` up to the ``:``), the body structure, and the
  message (Bedrock's fixed wording, e.g. 400 ``ValidationException`` "The provided model
  identifier is invalid.").
* Converse bodies: the same keys and JSON value types at every level. Lists are compared by
  the kinds of element they hold: elements are grouped by their key set (a content-block union
  member: ``text``, ``toolUse``, ...) and each group's merged structure is compared; a kind of
  element present on one side only is a difference.
* ConverseStream bodies, both decoded with botocore's own ``EventStreamBuffer``: the event
  PATTERN -- the event types run-length collapsed (``contentBlockDelta`` x 40 counts as one
  run), then consecutive content blocks with the same event-type sequence collapsed into one
  (two tool calls in a row count as one ``[contentBlockStart, contentBlockDelta+,
  contentBlockStop]`` group) -- must be identical; then, run by run, the event headers
  (names, ``:message-type``, ``:content-type``) and the merged payload structure.
* Keys in ``IGNORED_KEYS`` (real Bedrock's undocumented or optional extras) are ignored on both
  sides.

Requests are sent as recorded -- method, already percent-encoded path, body bytes and the
recorded request headers (minus hop-by-hop ones) -- with urllib, not boto3, so the exact
recorded bytes reach the emulator. Two notes on "as recorded": nock stores the request body as
parsed JSON, so it is re-serialised the way aws-sdk-js did (compact; the result matches every
recorded ``content-length``); the otel VCR cassettes hold their request bodies pretty-printed by
the otel test suite's cassette serializer (recorded Content-Length 170, stored body 270 bytes),
so those pretty-printed bytes are what is sent.

Coverage (kept current by ``test_recording_coverage_is_as_stated``): of the 150 recorded
interactions in the three replayable folders, 59 are replayed here (30 Converse, 29
ConverseStream; 4 of them recorded errors). Filtered out, not implemented by the emulator yet
(a later issue): 56 InvokeModel, 31 InvokeModelWithResponseStream, 3 ApplyGuardrail; plus 1
non-Bedrock GET (an image download in an openinference cassette). Not replayable:
``otel-python-botocore-vcr-extra/`` (2 prompt-caching responses whose requests were not kept)
and ``non-bedrock-dvr/`` (Transcribe).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import botocore.session
import pytest
import yaml
from botocore.eventstream import EventStreamBuffer

ROOT = Path(__file__).resolve().parents[2]
# Same location as conftest's `real_traffic` fixture; used only to enumerate the cases at
# collection time (each test then reads its recording through the fixture, which skips when absent).
RECORDINGS = ROOT.parent / "shared" / "real-traffic"
CATALOG = ROOT / "emulator" / "data" / "catalog.json"

NOCK_DIRS = ("openinference-js-nock",)
VCR_DIRS = ("openinference-py-vcr", "otel-python-botocore-vcr")

REPLAYED_OPERATIONS = {"converse": "Converse", "converse-stream": "ConverseStream"}
# Operations recorded but not emulated yet (a later issue): filtered out, only counted.
FILTERED_OPERATIONS = {
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
    "apply": "ApplyGuardrail",
}

# The coverage the module docstring states.
EXPECTED_COVERAGE = {
    "Converse": 30,
    "ConverseStream": 29,
    "InvokeModel": 56,
    "InvokeModelWithResponseStream": 31,
    "ApplyGuardrail": 3,
    "non-Bedrock": 1,
}

# Keys real Bedrock sends that are undocumented or optional, and that the emulator need not
# reproduce (nor be faulted for reproducing). Keyed by (the key of the enclosing object, key);
# "<event>" is the top level of an event-stream payload, "<body>" the top level of a JSON body.
IGNORED_KEYS = {
    # Random-length padding ("abcdef...") on every ConverseStream event; not in the service
    # model (SDKs skip it). The emulator sends it too; its length is noise either way.
    ("<event>", "p"): "undocumented stream padding",
    # Newer real responses (Nova, Mistral; 2025+) carry "serverToolUsage": {} even when no
    # server-side tool ran; not in the botocore/smithy TokenUsage shape.
    ("usage", "serverToolUsage"): "undocumented, empty unless server tools ran",
    # Prompt-caching counters: documented but optional, only present for cached prompts ...
    ("usage", "cacheReadInputTokens"): "optional, prompt caching only",
    ("usage", "cacheWriteInputTokens"): "optional, prompt caching only",
    ("usage", "cacheDetails"): "optional, prompt caching only",
    # ... and their undocumented legacy duplicates (see otel-python-botocore-vcr-extra).
    ("usage", "cacheReadInputTokenCount"): "undocumented legacy duplicate",
    ("usage", "cacheWriteInputTokenCount"): "undocumented legacy duplicate",
}

# Recordings whose RESPONSE BODY was edited by the recording project's own test code (to test
# "missing" fields), so they are not real Bedrock structure. Proof: the recorded Content-Length
# header is larger than the stored body (417 vs 383 bytes: exactly `"inputTokens":N,` and
# `"totalTokens":N,` gone; 193 vs 91 bytes: `metrics` and `usage` gone and the text emptied,
# which does not change the structure). The keys removed are
# put back (values are irrelevant, only their types are compared); each one is a required
# member of the service model (asserted), and the Content-Length mismatch is asserted too, so
# this list cannot silently hide anything else.
EDITED_RESPONSES = {
    ("should-handle-missing-token-counts.json", 0): {
        "usage": {"inputTokens": 0, "totalTokens": 0},
    },
    ("should-handle-empty-minimal-response.json", 0): {
        "metrics": {"latencyMs": 0},
        "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
    },
}

# Request headers not replayed: hop-by-hop / length headers urllib sets itself, and
# Accept-Encoding so a compressed answer cannot get in the way of reading the bytes.
SKIPPED_REQUEST_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


# --------------------------------------------------------------------------------------------
# Reading the recordings


class Interaction:
    """One recorded request/response pair, normalised across nock and VCR."""

    def __init__(self, source: str, index: int, method: str, host: str, path: str, request_headers: dict,
                 request_body: bytes, status: int, response_headers: dict, response_body):
        self.source = source  # "<folder>/<file>"
        self.index = index
        self.method = method
        self.host = host
        self.path = path
        self.request_headers = request_headers
        self.request_body = request_body
        self.status = status
        self.response_headers = {k.lower(): v for k, v in response_headers.items()}
        self.response_body = response_body  # bytes (raw) -- JSON or event stream

    @property
    def operation(self) -> str:
        if not self.host.startswith("bedrock-runtime."):
            return "non-Bedrock"
        last = self.path.rsplit("/", 1)[-1]
        return REPLAYED_OPERATIONS.get(last) or FILTERED_OPERATIONS.get(last) or f"unknown:{last}"

    @property
    def model_id(self) -> str:
        return unquote(self.path.split("/")[2])

    @property
    def test_id(self) -> str:
        return f"{Path(self.source).stem}-{self.index}"


def _first(value):
    """VCR stores header values as lists (or a bare string for a few redacted ones)."""
    return value[0] if isinstance(value, list) else value


def load_recording(base: Path, source: str) -> list[Interaction]:
    path = base / source
    folder = source.split("/", 1)[0]
    out = []
    if folder in NOCK_DIRS:
        for i, it in enumerate(json.loads(path.read_text())):
            body = it.get("body")
            if isinstance(body, (dict, list)):
                # aws-sdk-js sent compact JSON; nock kept it parsed.
                raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            elif isinstance(body, str):
                raw = body.encode()
            else:
                raw = b""
            resp = it.get("response")
            if it.get("responseIsBinary"):
                resp_raw = bytes.fromhex(resp)
            elif isinstance(resp, (dict, list)):
                resp_raw = json.dumps(resp, separators=(",", ":"), ensure_ascii=False).encode()
            else:
                resp_raw = (resp or "").encode()
            raw_headers = it.get("rawHeaders") or []
            out.append(Interaction(
                source, i, it["method"], urlsplit(it.get("scope", "")).hostname or "", it["path"],
                dict(it.get("reqheaders") or {}), raw,
                int(it["status"]), dict(zip(raw_headers[::2], raw_headers[1::2])), resp_raw,
            ))
    elif folder in VCR_DIRS:
        for i, it in enumerate(yaml.safe_load(path.read_text())["interactions"]):
            rq, rs = it["request"], it["response"]
            body = rq.get("body")
            raw = body if isinstance(body, bytes) else (body or "").encode()
            resp = rs["body"].get("string")
            resp_raw = resp if isinstance(resp, bytes) else (resp or "").encode()
            out.append(Interaction(
                source, i, rq["method"], urlsplit(rq["uri"]).hostname or "", urlsplit(rq["uri"]).path,
                {k: _first(v) for k, v in (rq.get("headers") or {}).items()}, raw,
                int(rs["status"]["code"]), {k: _first(v) for k, v in (rs.get("headers") or {}).items()},
                resp_raw,
            ))
    return out


def all_interactions(base: Path) -> list[Interaction]:
    out = []
    for folder in NOCK_DIRS + VCR_DIRS:
        for path in sorted((base / folder).glob("*")):
            if path.suffix in (".json", ".yaml", ".yml"):
                out.extend(load_recording(base, f"{folder}/{path.name}"))
    return out


def _cases():
    if not RECORDINGS.is_dir():
        # One placeholder case: its `real_traffic` fixture skips with the reason.
        return [pytest.param(None, None, id="recordings-absent")]
    cases = [
        pytest.param(it.source, it.index, id=it.test_id)
        for it in all_interactions(RECORDINGS)
        if it.operation in REPLAYED_OPERATIONS.values()
    ]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "test ids (file stem + index) must be unique"
    return cases


def catalog_model_ids() -> set[str]:
    return {m["modelId"] for m in json.loads(CATALOG.read_text())["models"]}


# --------------------------------------------------------------------------------------------
# Structure


def _kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    return "object"


def _visible(obj: dict, parent: str) -> dict:
    return {k: v for k, v in obj.items() if (parent, k) not in IGNORED_KEYS}


def _merge(values: list):
    """One representative value standing for several (list elements, stream events of one
    run): objects are merged key by key, arrays concatenated; for scalars the first kind wins
    unless kinds differ, in which case a marker keeps the disagreement visible."""
    kinds = {_kind(v) for v in values}
    if len(kinds) > 1:
        return _Mixed(sorted(kinds))
    if kinds == {"object"}:
        keys = []
        for v in values:
            keys.extend(k for k in v if k not in keys)
        return {k: _merge([v[k] for v in values if k in v]) for k in keys}
    if kinds == {"array"}:
        return [x for v in values for x in v]
    return values[0]


class _Mixed:
    def __init__(self, kinds):
        self.kinds = kinds

    def __repr__(self):
        return "|".join(self.kinds)


def _describe(value, parent: str = "") -> str:
    """A short structural rendering, for difference messages."""
    if isinstance(value, _Mixed):
        return repr(value)
    if isinstance(value, dict):
        vis = _visible(value, parent)
        return "{" + ", ".join(f"{k}: {_describe(v, k)}" for k, v in vis.items()) + "}"
    if isinstance(value, list):
        groups = _group(value, parent)
        return "[" + " | ".join(_describe(_merge(g), parent) for g in groups.values()) + "]"
    return _kind(value)


def _group(items: list, parent: str) -> dict:
    """List elements grouped by kind, and objects further by their visible key set (which, for
    the unions Bedrock uses in lists, is the union member: text / toolUse / image ...)."""
    groups: dict = {}
    for x in items:
        if isinstance(x, dict):
            key = "object{" + ",".join(sorted(_visible(x, parent))) + "}"
        else:
            key = _kind(x)
        groups.setdefault(key, []).append(x)
    return groups


def structure_diff(recorded, emulated, path: str = "$", parent: str = "<body>") -> list[str]:
    """Differences between the structures of two JSON values, as `path: recorded vs emulator`."""
    if isinstance(recorded, _Mixed) or isinstance(emulated, _Mixed):
        if repr(recorded) != repr(emulated):
            return [f"{path}: recorded {_describe(recorded)}, emulator {_describe(emulated)}"]
        return []
    rk, ek = _kind(recorded), _kind(emulated)
    if rk != ek:
        return [f"{path}: recorded {_describe(recorded, parent)}, emulator {_describe(emulated, parent)}"]
    diffs = []
    if rk == "object":
        r, e = _visible(recorded, parent), _visible(emulated, parent)
        for k in r:
            if k not in e:
                diffs.append(f"{path}.{k}: recorded {_describe(r[k], k)}, missing from emulator")
        for k in e:
            if k not in r:
                diffs.append(f"{path}.{k}: not in recording, emulator sends {_describe(e[k], k)}")
        for k in r:
            if k in e:
                diffs.extend(structure_diff(r[k], e[k], f"{path}.{k}", k))
    elif rk == "array":
        rg, eg = _group(recorded, parent), _group(emulated, parent)
        for g in rg:
            if g not in eg:
                diffs.append(f"{path}[]: recorded holds {_describe(_merge(rg[g]), parent)}, emulator holds none "
                             f"(emulator elements: {_describe(emulated, parent)})")
        for g in eg:
            if g not in rg:
                diffs.append(f"{path}[]: emulator holds {_describe(_merge(eg[g]), parent)}, recording holds none "
                             f"(recorded elements: {_describe(recorded, parent)})")
        for g in rg:
            if g in eg:
                diffs.extend(structure_diff(_merge(rg[g]), _merge(eg[g]), f"{path}[]", parent))
    return diffs


# --------------------------------------------------------------------------------------------
# Event streams


def decode_stream(body: bytes) -> list[tuple[dict, object]]:
    """(headers, payload JSON) per frame, decoded by botocore -- the parser boto3 itself uses."""
    buf = EventStreamBuffer()
    buf.add_data(body)
    frames = []
    for message in buf:
        payload = message.payload
        try:
            decoded = json.loads(payload) if payload else None
        except ValueError:
            decoded = {"<non-JSON payload>": payload.decode("utf-8", "replace")}
        frames.append((dict(message.headers), decoded))
    return frames


def _event_name(headers: dict) -> str:
    mtype = headers.get(":message-type")
    if mtype == "event":
        return str(headers.get(":event-type"))
    if mtype == "exception":
        return f"exception:{headers.get(':exception-type')}"
    if mtype == "error":
        return f"error:{headers.get(':error-code')}"
    return f"{mtype}:{headers.get(':event-type')}"


def stream_pattern(frames) -> list[dict]:
    """Run-length collapse event types, then collapse consecutive content blocks that have the
    same event-type sequence. Each run keeps its frames, for the structure comparison."""
    runs: list[dict] = []
    for headers, payload in frames:
        name = _event_name(headers)
        if runs and runs[-1]["event"] == name:
            runs[-1]["frames"].append((headers, payload))
        else:
            runs.append({"event": name, "frames": [(headers, payload)]})

    # Split into items: a content block is [contentBlockStart] contentBlockDelta* contentBlockStop.
    items: list[list[dict]] = []
    block: list[dict] = []
    for run in runs:
        if run["event"] in ("contentBlockStart", "contentBlockDelta"):
            if run["event"] == "contentBlockStart" and block:
                items.append(block)
                block = []
            block.append(run)
        elif run["event"] == "contentBlockStop" and block:
            block.append(run)
            items.append(block)
            block = []
        else:
            if block:
                items.append(block)
                block = []
            items.append([run])
    if block:
        items.append(block)

    collapsed: list[list[dict]] = []
    for item in items:
        sig = [r["event"] for r in item]
        if collapsed and [r["event"] for r in collapsed[-1]] == sig and sig[0].startswith("contentBlock"):
            for mine, theirs in zip(collapsed[-1], item):
                mine["frames"].extend(theirs["frames"])
        else:
            collapsed.append([dict(r, frames=list(r["frames"])) for r in item])
    return [run for item in collapsed for run in item]


def render_pattern(runs) -> str:
    return ", ".join(r["event"] + ("+" if r["event"] == "contentBlockDelta" else "") for r in runs)


def _header_signature(headers: dict) -> dict:
    return {
        "names": sorted(headers),
        ":message-type": headers.get(":message-type"),
        ":content-type": headers.get(":content-type"),
    }


def stream_diff(recorded_frames, emulated_frames) -> list[str]:
    rp, ep = stream_pattern(recorded_frames), stream_pattern(emulated_frames)
    if [r["event"] for r in rp] != [r["event"] for r in ep]:
        return [f"event pattern: recorded [{render_pattern(rp)}], emulator [{render_pattern(ep)}]"]
    diffs = []
    for i, (r, e) in enumerate(zip(rp, ep)):
        where = f"run {i} ({r['event']})"
        rh = {json.dumps(_header_signature(h), sort_keys=True) for h, _ in r["frames"]}
        eh = {json.dumps(_header_signature(h), sort_keys=True) for h, _ in e["frames"]}
        if rh != eh:
            diffs.append(f"{where} headers: recorded {sorted(rh)}, emulator {sorted(eh)}")
        diffs.extend(structure_diff(
            _merge([p for _, p in r["frames"]]), _merge([p for _, p in e["frames"]]),
            f"{where} $", "<event>",
        ))
    return diffs


# --------------------------------------------------------------------------------------------
# Sending


def replay(endpoint_url: str, it: Interaction) -> tuple[int, dict, bytes]:
    headers = {k: str(v) for k, v in it.request_headers.items() if k.lower() not in SKIPPED_REQUEST_HEADERS}
    request = urllib.request.Request(
        endpoint_url.rstrip("/") + it.path, data=it.request_body, method=it.method, headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _media_type(value) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _error_code(headers: dict) -> str | None:
    value = headers.get("x-amzn-errortype")
    return value.split(":", 1)[0] if value else None


def recorded_json(it: Interaction):
    body = json.loads(it.response_body)
    edits = EDITED_RESPONSES.get((Path(it.source).name, it.index))
    if edits:
        for key, restore in edits.items():
            if isinstance(restore, dict):
                body.setdefault(key, {}).update(restore)
            else:
                body[key] = restore
    return body


# --------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize(("source", "index"), _cases())
def test_replayed_response_has_the_recorded_structure(real_traffic, endpoint_url, source, index):
    it = load_recording(real_traffic, source)[index]
    status, headers, body = replay(endpoint_url, it)

    if it.status == 200 and status != 200:
        detail = f"{it.method} {it.path}: real Bedrock answered 200, emulator {status} " \
                 f"{_error_code(headers)} {body[:300]!r}"
        if it.model_id not in catalog_model_ids():
            pytest.xfail(f"model {it.model_id} is not in emulator/data/catalog.json; {detail}")
        pytest.fail(detail)

    assert status == it.status, f"HTTP status: recorded {it.status}, emulator {status} {body[:300]!r}"
    # The openinference-py-vcr cassettes kept no response headers at all: nothing to compare there.
    recorded_type = it.response_headers.get("content-type")
    if recorded_type is not None:
        assert _media_type(headers.get("content-type")) == _media_type(recorded_type), \
            f"Content-Type: recorded {recorded_type!r}, emulator {headers.get('content-type')!r}"

    if it.status != 200:
        recorded_code = _error_code(it.response_headers)
        assert _error_code(headers) == recorded_code, \
            f"error code: recorded {recorded_code}, emulator {headers.get('x-amzn-errortype')!r}"
        recorded_body, emulated_body = json.loads(it.response_body), json.loads(body)
        assert structure_diff(recorded_body, emulated_body) == []
        assert emulated_body.get("message") == recorded_body.get("message")
        return

    if it.operation == "ConverseStream":
        diffs = stream_diff(decode_stream(it.response_body), decode_stream(body))
    else:
        diffs = structure_diff(recorded_json(it), json.loads(body))
    assert diffs == [], f"{source}#{index} structure differs from real Bedrock:\n  " + "\n  ".join(diffs)


def test_recording_coverage_is_as_stated(real_traffic):
    """Every recorded interaction is replayed or deliberately filtered; the docstring's numbers hold."""
    counts = Counter(it.operation for it in all_interactions(real_traffic))
    print("real-traffic coverage:", dict(counts))
    assert dict(counts) == EXPECTED_COVERAGE


def test_edited_recordings_only_lack_required_members(real_traffic):
    """The EDITED_RESPONSES exceptions are what they claim: the stored body is shorter than the
    recorded Content-Length, and every restored key is required by the service model."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    output = model.operation_model("Converse").output_shape
    for (name, index), edits in EDITED_RESPONSES.items():
        it = load_recording(real_traffic, f"openinference-js-nock/{name}")[index]
        assert int(it.response_headers["content-length"]) > len(it.response_body), (name, index)
        for key, restore in edits.items():
            assert key in output.required_members, (name, key)
            for inner in restore:
                assert inner in output.members[key].required_members, (name, key, inner)
