"""Helpers for test_replay.py: reading cassettes (format version 1), turning a recorded request
back into the boto3 call that makes it, reading what boto3 got back at both levels (the raw HTTP
bytes / event-stream frames and boto3's own parse), hand-writing cassettes and event streams,
and scanning text for secrets.

Everything here is written against the cassette format as documented (README / the brief), not
against the emulator's Rust code, so a test using it checks the emulator rather than mirrors it.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import struct
import subprocess
from pathlib import Path
from urllib.parse import unquote

import botocore.session
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

from conftest import emulator_binary

SERVICE_MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")

# Operation name -> boto3 method name.
BOTO3_METHODS = {
    "Converse": "converse",
    "ConverseStream": "converse_stream",
    "InvokeModel": "invoke_model",
    "InvokeModelWithResponseStream": "invoke_model_with_response_stream",
    "ApplyGuardrail": "apply_guardrail",
    "CountTokens": "count_tokens",
}
STREAM_OPERATIONS = {"ConverseStream", "InvokeModelWithResponseStream"}

# Headers a replay does not copy from the cassette (the server sets its own framing and ids).
PER_RESPONSE_HEADERS = {"content-length", "date", "connection", "transfer-encoding", "x-amzn-requestid", "keep-alive"}


# --------------------------------------------------------------------------------------------
# The CLI


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`bedrock-emulator ARGS...` to completion (stdout, stderr as text)."""
    return subprocess.run([str(emulator_binary()), *args], capture_output=True, text=True, timeout=timeout)


def run_import(files, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_cli("import", *[str(f) for f in files], "--out", str(out), *extra)


def serve_refusal(*args: str, timeout: float = 15) -> tuple[int | None, str, str]:
    """Starts `serve --port 0 ARGS` expecting it to refuse to start: (exit code, stdout, stderr).
    An emulator that starts anyway is stopped and reported with exit code None."""
    proc = subprocess.Popen([str(emulator_binary()), "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        return None, out, err


# --------------------------------------------------------------------------------------------
# Cassettes


def load_cassette(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def request_body_bytes(request: dict) -> bytes:
    """The request body as a client would send it (compact JSON for a `body`)."""
    if "body" in request:
        return json.dumps(request["body"], separators=(",", ":"), ensure_ascii=False).encode()
    if "bodyText" in request:
        return request["bodyText"].encode()
    if "bodyBase64" in request:
        return base64.b64decode(request["bodyBase64"])
    return b""


def request_body_json(request: dict):
    """The request body as JSON (what replay matching compares), or None."""
    if "body" in request:
        return request["body"]
    raw = request_body_bytes(request)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def response_body_bytes(response: dict) -> bytes:
    if "body" in response:
        return json.dumps(response["body"], separators=(",", ":"), ensure_ascii=False).encode()
    if "bodyText" in response:
        return response["bodyText"].encode()
    if "bodyBase64" in response:
        return base64.b64decode(response["bodyBase64"])
    return b""


def match_key(cassette: dict) -> str:
    """Operation + model id + body JSON with object keys sorted: what replay matching compares."""
    request = cassette["request"]
    return json.dumps([request["operation"], request.get("modelId"), request_body_json(request)], sort_keys=True)


def _chunk_inner(value):
    """A chunk's `bytes`: the decoded provider JSON when it is JSON, else the raw bytes."""
    if isinstance(value, (dict, list)):
        return value  # the cassette stored the decoded JSON
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return ("<not base64>", value)
        try:
            return json.loads(raw)
        except ValueError:
            return ("<bytes>", raw)
    return value


def normalise_event(message_type: str, name: str, payload_bytes: bytes | None, payload_json=None):
    """(message type, event or exception name, payload JSON with a chunk's bytes decoded)."""
    if payload_json is None:
        try:
            payload_json = json.loads(payload_bytes) if payload_bytes else None
        except ValueError:
            payload_json = ("<non-JSON payload>", payload_bytes)
    if name == "chunk" and isinstance(payload_json, dict) and "bytes" in payload_json:
        payload_json = dict(payload_json, bytes=_chunk_inner(payload_json["bytes"]))
    return (message_type, name, payload_json)


def cassette_events(cassette: dict) -> list[tuple]:
    """The recorded stream of a cassette, normalised."""
    out = []
    for item in cassette["response"]["stream"]:
        if "event" in item:
            kind, name = "event", item["event"]
        else:
            kind, name = "exception", item["exception"]
        if "payloadBase64" in item:
            out.append(normalise_event(kind, name, base64.b64decode(item["payloadBase64"])))
        else:
            out.append(normalise_event(kind, name, None, item.get("payload")))
    return out


def frames_of(raw: bytes) -> list[tuple[dict, bytes]]:
    """(headers, payload bytes) of every frame of an event-stream body, decoded by botocore."""
    buf = EventStreamBuffer()
    buf.add_data(raw)
    return [(dict(m.headers), m.payload) for m in buf]


def normalise_frame(headers: dict, payload: bytes):
    kind = headers.get(":message-type")
    name = headers.get(":event-type") if kind == "event" else headers.get(":exception-type") or headers.get(":error-code")
    return normalise_event(kind, name, payload)


def raw_events(raw: bytes) -> list[tuple]:
    return [normalise_frame(h, p) for h, p in frames_of(raw)]


# --------------------------------------------------------------------------------------------
# Hand-written event streams and cassettes


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v


def encode_frame(event_type: str, payload: bytes, message_type: str = "event") -> bytes:
    """One event-stream frame with the three headers Bedrock sends, in Bedrock's order."""
    type_header = ":event-type" if message_type == "event" else ":exception-type"
    headers = _header(type_header, event_type) + _header(":content-type", "application/json") \
        + _header(":message-type", message_type)
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + headers + payload
    return message + struct.pack(">I", binascii.crc32(message))


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def converse_stream_events(text_parts: list[str], stop="end_turn"):
    """ConverseStream (event name, payload) pairs answering with `text_parts`."""
    events = [("messageStart", {"role": "assistant"})]
    events += [("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}}) for t in text_parts]
    events += [
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": stop}),
        ("metadata", {"usage": {"inputTokens": 5, "outputTokens": len(text_parts), "totalTokens": 5 + len(text_parts)},
                      "metrics": {"latencyMs": 42}}),
    ]
    return events


def converse_cassette(model: str, body: dict, answer_text: str, recorded_at: str | None = None, status=200) -> dict:
    cassette = {
        "version": 1,
        "request": {
            "operation": "Converse", "service": "bedrock-runtime", "modelId": model, "method": "POST",
            "path": f"/model/{model.replace(':', '%3A')}/converse",
            "headers": {"content-type": "application/json"}, "body": body,
        },
        "response": {
            "status": status, "headers": {"content-type": "application/json"},
            "body": {
                "output": {"message": {"role": "assistant", "content": [{"text": answer_text}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7},
                "metrics": {"latencyMs": 10},
            },
        },
        "metadata": {"emulatorVersion": "0.1.0", "source": "record", "region": "us-east-1"},
    }
    if recorded_at:
        cassette["metadata"]["recordedAt"] = recorded_at
    return cassette


def converse_stream_cassette(model: str, body: dict, events, offsets_ms=None) -> dict:
    offsets_ms = offsets_ms or [0] * len(events)
    return {
        "version": 1,
        "request": {
            "operation": "ConverseStream", "service": "bedrock-runtime", "modelId": model, "method": "POST",
            "path": f"/model/{model.replace(':', '%3A')}/converse-stream",
            "headers": {"content-type": "application/json"}, "body": body,
        },
        "response": {
            "status": 200, "headers": {"content-type": "application/vnd.amazon.eventstream"},
            "stream": [{"offsetMs": at, "event": name, "payload": payload} for at, (name, payload) in zip(offsets_ms, events)],
        },
        "metadata": {"recordedAt": "2025-07-22T20:54:50Z", "emulatorVersion": "0.1.0", "source": "record"},
    }


def write_cassette(folder: Path, name: str, cassette: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(cassette, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# Recorded request -> boto3 call


def _template_labels(operation: str, path: str) -> dict:
    """The URI labels of `path` (percent-decoded) for the operation's request URI template."""
    template = SERVICE_MODEL.operation_model(operation).http["requestUri"].split("?", 1)[0]
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    m = re.fullmatch(pattern, path.split("?", 1)[0])
    assert m, f"{path} does not fit {operation}'s request URI {template}"
    return {k: unquote(v) for k, v in m.groupdict().items()}


def wire_to_params(shape, value):
    """A JSON value as sent on the wire -> the Python value boto3 takes for `shape`: blobs are
    base64 on the wire and raw bytes in boto3; documents stay as they are."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document") or getattr(shape, "is_document_type", False):
            return value
        out = {}
        for key, item in value.items():
            member = shape.members.get(key)
            assert member is not None, f"{shape.name} has no member {key!r} (the recorded request does not fit boto3)"
            out[key] = wire_to_params(member, item)
        return out
    if kind == "list":
        return [wire_to_params(shape.member, x) for x in value]
    if kind == "map":
        return {k: wire_to_params(shape.value, v) for k, v in value.items()}
    if kind == "blob":
        return base64.b64decode(value)
    return value


def boto3_call(cassette: dict) -> tuple[str, dict]:
    """The boto3 method and keyword arguments that send the cassette's recorded request."""
    request = cassette["request"]
    operation = request["operation"]
    method = BOTO3_METHODS[operation]
    op_model = SERVICE_MODEL.operation_model(operation)
    params = dict(_template_labels(operation, request["path"]))
    if request.get("modelId") is not None:
        params["modelId"] = request["modelId"]
    headers = {k.lower(): v for k, v in request.get("headers", {}).items()}
    payload = op_model.input_shape.serialization.get("payload")
    for name, member in op_model.input_shape.members.items():
        if member.serialization.get("location") == "header":
            wire = member.serialization["name"].lower()
            if wire in headers:
                params[name] = headers[wire]
    if payload:
        raw = request_body_bytes(request)
        if raw:
            params[payload] = raw
    else:
        body = request_body_json(request)
        if body:
            params.update(wire_to_params(op_model.input_shape, body))
    return method, params


class Capture:
    """Keeps the last raw HTTP response a boto3 client received (status, headers, body bytes for
    unary responses), read from botocore's `after-call` event."""

    def __init__(self, client):
        self.http = None
        client.meta.events.register("after-call.bedrock-runtime", self._after_call)

    def _after_call(self, http_response=None, **_):
        self.http = http_response


class Outcome:
    """What a recorded request got back through boto3."""

    def __init__(self):
        self.status = None
        self.headers: dict = {}
        self.error: ClientError | None = None
        self.raw_body: bytes | None = None  # unary: the HTTP body bytes
        self.parsed = None  # boto3's parsed response (unary) / list of parsed events (streams)
        self.raw_stream: bytes | None = None  # streams: every byte received
        self.events: list[tuple] = []  # streams: normalised frames as received
        self.stream_error: Exception | None = None


class _Tee:
    """Stands in for the raw urllib3 response under a botocore EventStream, keeping its bytes."""

    def __init__(self, raw):
        self.raw = raw
        self.data = bytearray()

    def stream(self, *args, **kwargs):
        for chunk in self.raw.stream(*args, **kwargs):
            self.data.extend(chunk)
            yield chunk

    def close(self):
        self.raw.close()


def iterate_event_stream(stream, outcome: Outcome):
    """Reads a boto3 EventStream frame by frame: each frame normalised from its raw headers and
    payload, and boto3's parse of it (an exception frame raises EventStreamError, kept)."""
    tee = _Tee(stream._raw_stream)
    stream._raw_stream = tee  # the frame generator has not started yet: it reads through the tee
    outcome.parsed = []
    try:
        for message in stream._event_generator:
            outcome.events.append(normalise_frame(dict(message.headers), message.payload))
            try:
                parsed = stream._parse_event(message)
            except EventStreamError as error:
                outcome.stream_error = error
                outcome.parsed.append(("<EventStreamError>", error.response.get("Error")))
                continue
            if parsed:
                outcome.parsed.append(parsed)
    except Exception as error:  # a cut stream: kept for the test to assert on
        outcome.stream_error = error
    outcome.raw_stream = bytes(tee.data)


def send_recorded(client, capture: Capture, cassette: dict) -> Outcome:
    """Sends the cassette's request through boto3 and collects the answer at both levels."""
    method, params = boto3_call(cassette)
    outcome = Outcome()
    capture.http = None
    try:
        response = getattr(client, method)(**params)
    except ClientError as error:
        outcome.error = error
        outcome.status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        http = capture.http
        outcome.headers = {k.lower(): v for k, v in (http.headers.items() if http is not None else [])}
        outcome.raw_body = http.content if http is not None else None
        return outcome
    http = capture.http
    outcome.status = response["ResponseMetadata"]["HTTPStatusCode"]
    outcome.headers = {k.lower(): v for k, v in http.headers.items()}
    operation = cassette["request"]["operation"]
    if operation == "ConverseStream":
        iterate_event_stream(response["stream"], outcome)
    elif operation == "InvokeModelWithResponseStream":
        iterate_event_stream(response["body"], outcome)
    elif operation == "InvokeModel":
        outcome.raw_body = response["body"].read()
        outcome.parsed = {k: v for k, v in response.items() if k not in ("body", "ResponseMetadata")}
    else:
        outcome.raw_body = http.content
        outcome.parsed = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    return outcome


def boto3_parse_events(raw: bytes, operation: str) -> list:
    """What boto3 makes of an event-stream body of `operation` (its parser, the same shape)."""
    from botocore.eventstream import EventStream
    from botocore.parsers import create_parser

    op_model = SERVICE_MODEL.operation_model(operation)
    shape = op_model.output_shape.members[op_model.output_shape.serialization["payload"]]

    class _Raw:
        def stream(self):
            yield raw

    stream = EventStream(_Raw(), shape, create_parser(SERVICE_MODEL.metadata["protocol"]), operation)
    out = []
    for message in stream._event_generator:
        try:
            parsed = stream._parse_event(message)
        except EventStreamError as error:
            out.append(("<EventStreamError>", error.response.get("Error")))
            continue
        if parsed:
            out.append(parsed)
    return out


def decode_chunks(parsed_events: list) -> list:
    """boto3 IMWRS events with each chunk's bytes decoded as JSON."""
    out = []
    for event in parsed_events:
        if isinstance(event, dict) and "chunk" in event:
            out.append({"chunk": json.loads(event["chunk"]["bytes"])})
        else:
            out.append(event)
    return out


# --------------------------------------------------------------------------------------------
# Secrets

SECRET_PATTERNS = {
    "access key id": re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}"),
    "SigV4 credential": re.compile(r"AWS4-HMAC-SHA256\s+Credential="),
    "signature": re.compile(r"Signature=(?!REDACTED)", re.IGNORECASE),
    "X-Amz-Signature": re.compile(r"X-Amz-Signature=(?!REDACTED)", re.IGNORECASE),
    "session token": re.compile(r"x-amz-security-token[\"']?\s*[:=]\s*[\"']?(?!REDACTED)[^&\s\"',]+", re.IGNORECASE),
    "bearer token": re.compile(r"Bearer\s+(?!REDACTED)\S+"),
    "authorization header": re.compile(r"\"(?:proxy-)?authorization\"\s*:", re.IGNORECASE),
    "fake recorded credentials": re.compile(r"test_aws_authorization|FAKE-SESSION|fake-signature|AKIATEST"),
    "cookie": re.compile(r"\"(?:set-)?cookie\"\s*:|test_set_cookie", re.IGNORECASE),
}

# Headers that must never be in a cassette (credentials and cookies).
FORBIDDEN_HEADERS = {"authorization", "proxy-authorization", "x-amz-security-token", "cookie", "set-cookie", "x-api-key"}


def embedded_texts(cassette: dict) -> list[str]:
    """The texts hidden in base64 fields of a cassette (bodyBase64, payloadBase64, chunk bytes
    kept as base64): a secret there would escape a plain text scan."""
    out = []

    def decoded(b64: str):
        try:
            out.append(base64.b64decode(b64).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            pass

    for half in ("request", "response"):
        if "bodyBase64" in cassette.get(half, {}):
            decoded(cassette[half]["bodyBase64"])
    for item in cassette.get("response", {}).get("stream", []):
        if "payloadBase64" in item:
            decoded(item["payloadBase64"])
        payload = item.get("payload")
        if isinstance(payload, dict) and isinstance(payload.get("bytes"), str):
            decoded(payload["bytes"])
    return out


def find_secrets(text: str) -> list[str]:
    found = []
    for kind, pattern in SECRET_PATTERNS.items():
        for m in pattern.finditer(text):
            found.append(f"{kind} at {m.start()}: {text[max(0, m.start() - 20):m.end() + 20]!r}")
    return found


def cassette_secrets(path: Path) -> list[str]:
    text = Path(path).read_text()
    cassette = json.loads(text)
    problems = [f"{path.name}: {f}" for t in [text, *embedded_texts(cassette)] for f in find_secrets(t)]
    for half in ("request", "response"):
        for name in cassette[half].get("headers", {}):
            if name.lower() in FORBIDDEN_HEADERS:
                problems.append(f"{path.name}: {half} header {name!r} kept")
    return problems
