"""Record/replay through boto3: `bedrock-emulator import` (vcrpy / nock recordings -> cassettes)
and `serve --replay DIR` (emulator/src/record/).

THE PROOF (``test_import_*`` and ``test_every_imported_cassette_replays_its_recording``): every
recording in ``../shared/real-traffic`` (all folders, every ``.json``/``.yaml``/``.b64`` file) is
imported with the CLI; the printed report is checked against what the recordings hold (counted
here from the recordings themselves, with test_real_traffic.py's reader); then ``serve --replay
DIR --strict`` is started and every cassette's recorded request is sent through boto3 -- the
operation's own method, the modelId / guardrail id from the recorded path, the body from the
cassette (blobs base64-decoded into the bytes boto3 takes), contentType / accept from the
recorded headers. The answer must be the recording: unary bodies the same JSON, recorded errors
the same code, HTTP status and message, streams the same frames in order (event names, payloads,
chunk bytes decoded). Each answer is compared with the cassette AND, independently, with the
ORIGINAL recording (nock hex / VCR body), byte for byte for streams, so a lossy import fails
here even when the cassette and the replay agree with each other. Identical requests recorded
more than once replay in recorded order: each case resets the emulator and first sends the
earlier recordings of its request.

The other tests hand-write cassettes (or copy one imported cassette) for the matching flags
(--replay-ignore, --replay-match-only), recorded order, --replay-timing, faults on replayed
answers, the journal's answeredBy, refused cassette folders, import CLI errors, redaction
(--redact, account ids, --keep-account-ids) and a secret scan of every cassette written.

Tests needing the recordings skip, saying so, when ``../shared/real-traffic`` is absent.
"""
from __future__ import annotations

import atexit
import base64
import json
import re
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError, EventStreamError

from conftest import RunningEmulator
from emulator_admin import HAIKU, admin_ok, client, entries, reset, retrying_client, user
from replay_helpers import (
    PER_RESPONSE_HEADERS,
    STREAM_OPERATIONS,
    Capture,
    cassette_events,
    cassette_secrets,
    compact,
    converse_cassette,
    converse_stream_cassette,
    converse_stream_events,
    encode_frame,
    find_secrets,
    load_cassette,
    match_key,
    Outcome,
    raw_events,
    request_body_json,
    response_body_bytes,
    run_import,
    send_recorded,
    serve_refusal,
    write_cassette,
)
from test_real_traffic import EXPECTED_COVERAGE, NOCK_DIRS, RECORDINGS, VCR_DIRS, in_catalog, load_recording

RECORDING_SUFFIXES = (".json", ".yaml", ".yml", ".b64")
DVR_DIRS = ("non-bedrock-dvr",)
RESPONSE_HALF_DIRS = ("otel-python-botocore-vcr-extra",)
ACCOUNT_IN_ARN = re.compile(r"(arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:)(\d{12})(:)")


def _tmpdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def media_type(value) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


# --------------------------------------------------------------------------------------------
# THE PROOF: import every real recording, replay every cassette


@cache
def recording_files() -> tuple[Path, ...]:
    return tuple(sorted(p for p in RECORDINGS.rglob("*") if p.is_file() and p.suffix in RECORDING_SUFFIXES))


class ProofImport:
    """The one import of every real recording (run once, at collection, so the cases can be
    named by the cassette files it writes)."""

    def __init__(self):
        self.files = recording_files()
        self.out = _tmpdir("replay-proof-")
        self.result = run_import(self.files, self.out)
        self.cassettes = {p.name: load_cassette(p) for p in sorted(self.out.glob("*.json"))}

    def groups(self) -> dict[str, list[str]]:
        """Cassette names by match key, each group in recorded order: recordedAt, then the
        writer's -N suffix (the order the import met them)."""
        groups = defaultdict(list)
        for name, cassette in self.cassettes.items():
            groups[match_key(cassette)].append(name)
        return {k: sorted(v, key=lambda n: recorded_order(n, self.cassettes[n])) for k, v in groups.items()}

    def earlier_duplicates(self, name: str) -> list[str]:
        group = self.groups()[match_key(self.cassettes[name])]
        return group[: group.index(name)]


def recorded_order(name: str, cassette: dict):
    m = re.search(r"-[0-9a-f]{8}-(\d+)\.json$", name)
    return (cassette["metadata"].get("recordedAt") or "", int(m.group(1)) if m else 1)


@cache
def proof_import() -> ProofImport | None:
    return ProofImport() if RECORDINGS.is_dir() else None


def _proof_cases():
    proof = proof_import()
    if proof is None:
        return [pytest.param(None, id="recordings-absent")]
    if not proof.cassettes:
        return [pytest.param(None, id="import-wrote-no-cassettes")]
    return [pytest.param(name, id=name) for name in proof.cassettes]


@pytest.fixture(scope="module")
def proof(real_traffic) -> ProofImport:
    imported = proof_import()
    assert imported is not None
    return imported


@pytest.fixture(scope="module")
def proof_server(proof):
    assert proof.result.returncode == 0, proof.result.stderr
    running = RunningEmulator("--replay", str(proof.out), "--strict")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def proof_client(proof_server):
    rt = client("bedrock-runtime", proof_server.url)
    return rt, Capture(rt)


@cache
def _recording(source: str):
    return load_recording(RECORDINGS, source)


def folder_of(file_name: str) -> str:
    (match,) = [p for p in recording_files() if p.name == file_name]
    return match.parent.name


def original_of(cassette: dict):
    """The recorded interaction a cassette was imported from (test_real_traffic's reader)."""
    source = cassette["metadata"]["source"]
    m = re.fullmatch(r"import:(.+)#(\d+)", source)
    assert m, f"metadata.source {source!r} is not import:<file>#<index>"
    name, index = m.group(1), int(m.group(2))
    return _recording(f"{folder_of(name)}/{name}")[index]


def expected_report():
    """Per recording file: (Bedrock interactions, skipped ones as (label, reason fragment)),
    counted from the recordings with test_real_traffic's reader, not from the importer."""
    expected = {}
    for path in recording_files():
        folder, name = path.parent.name, path.name
        if folder in NOCK_DIRS + VCR_DIRS:
            interactions = load_recording(RECORDINGS, f"{folder}/{name}")
            bedrock = [it for it in interactions if it.host.startswith(("bedrock-runtime.", "bedrock."))]
            skipped = [(f"{name}#{it.index}", "not a Bedrock request") for it in interactions if it not in bedrock]
            expected[path] = (len(bedrock), skipped)
        elif folder in DVR_DIRS:
            events = json.loads(path.read_text())
            requests = [e for e in events if "Request" in e["action"]]
            skipped = []
            for i, e in enumerate(requests):
                host = urlsplit(e["action"]["Request"]["request"]["uri"]).hostname
                skipped.append((f"{name}#{i}", f"{host.split('.')[0]} is not a Bedrock service"))
            expected[path] = (0, skipped)
        elif folder in RESPONSE_HALF_DIRS:
            assert ".response." in name, f"{folder}/{name}: an unexpected file in the response-halves folder"
            expected[path] = (0, [(name, "a response body saved without its request")])
        else:
            pytest.fail(f"{folder}/{name}: a recording folder this test does not know; add it to expected_report")
    return expected


def parse_report(stdout: str):
    """{file: (cassettes, skipped, [skip reasons])} and the final summary line."""
    per_file, current = {}, None
    lines = stdout.splitlines()
    for line in lines[:-1]:
        m = re.fullmatch(r"(.+): (\d+) cassettes, (\d+) skipped", line)
        if m:
            current = m.group(1)
            per_file[current] = (int(m.group(2)), int(m.group(3)), [])
        else:
            m = re.fullmatch(r"  skipped: (.+)", line)
            assert m and current, f"unexpected report line {line!r}"
            per_file[current][2].append(m.group(1))
    return per_file, lines[-1] if lines else ""


def test_import_report_counts_every_recording_and_names_the_skipped_ones(proof):
    result = proof.result
    assert result.returncode == 0, f"import failed ({result.returncode}):\n{result.stderr}"
    assert "bedrock-emulator:" not in result.stderr, result.stderr
    per_file, summary = parse_report(result.stdout)
    expected = expected_report()
    assert set(per_file) == {str(p) for p in expected}, "one report line per recording file"
    for path, (n, skipped) in expected.items():
        got_n, got_m, reasons = per_file[str(path)]
        assert (got_n, got_m) == (n, len(skipped)), f"{path.name}: reported {got_n} cassettes, {got_m} skipped"
        assert len(reasons) == len(skipped), (path.name, reasons)
        for (label, fragment), reason in zip(skipped, reasons):
            assert reason.startswith(label + ":"), f"skip reason {reason!r} does not name {label}"
            assert fragment in reason, f"skip reason {reason!r} lacks {fragment!r}"
    total = sum(n for n, _ in expected.values())
    skipped_total = sum(len(s) for _, s in expected.values())
    assert summary == f"imported {total} interactions into {proof.out} ({skipped_total} skipped)"
    # Exactly the non-Bedrock interactions and the response halves are skipped.
    skipped_files = {p.parent.name for p, (_, s) in expected.items() if s}
    assert skipped_files == {"non-bedrock-dvr", "openinference-py-vcr", "otel-python-botocore-vcr-extra"}
    assert skipped_total == 2 + EXPECTED_COVERAGE["non-Bedrock"] + 2


def test_import_writes_one_version_1_cassette_per_bedrock_interaction(proof):
    written = sorted(proof.out.iterdir())
    assert [p for p in written if p.name.startswith(".")] == [], "temp files left behind"
    assert len(proof.cassettes) == sum(n for n, _ in expected_report().values())
    counts = Counter(c["request"]["operation"] for c in proof.cassettes.values())
    assert dict(counts) == {k: v for k, v in EXPECTED_COVERAGE.items() if k != "non-Bedrock"}
    sources = Counter(c["metadata"]["source"] for c in proof.cassettes.values())
    assert max(sources.values()) == 1, "two cassettes claim the same recorded interaction"
    for name, c in proof.cassettes.items():
        assert c["version"] == 1, name
        assert set(c) == {"version", "request", "response", "metadata"}, name
        assert {"operation", "service", "method", "path", "headers"} <= set(c["request"]), name
        assert sum(k in c["response"] for k in ("body", "bodyText", "bodyBase64", "stream")) <= 1, name
        assert c["metadata"]["source"].startswith("import:"), name
        assert c["metadata"]["emulatorVersion"], name
        assert c["metadata"]["region"] == "us-east-1", f"{name}: every recording went to bedrock-runtime.us-east-1"
        for item in c["response"].get("stream", []):
            assert item["offsetMs"] == 0, f"{name}: imports carry no timing, so every offset is 0"
        # recordedAt is the recorded response's Date, in RFC 3339 (absent when none was kept).
        date = original_of(c).response_headers.get("date")
        if date:
            expected = parsedate_to_datetime(date).strftime("%Y-%m-%dT%H:%M:%SZ")
            assert c["metadata"].get("recordedAt") == expected, name
        else:
            assert "recordedAt" not in c["metadata"], name


@pytest.mark.parametrize("name", _proof_cases())
def test_every_imported_cassette_replays_its_recording(proof, proof_server, proof_client, name):
    rt, capture = proof_client
    cassette = proof.cassettes[name]
    request, recorded = cassette["request"], cassette["response"]
    operation = request["operation"]
    original = original_of(cassette)

    # The cassette's request is the recorded one (so sending it is sending the recording).
    assert operation == original.operation
    if "modelId" in request:
        assert request["modelId"] == original.model_id
    recorded_request = json.loads(original.request_body) if original.request_body else None
    assert request_body_json(request) == recorded_request, "the imported request body differs from the recording"

    reset(proof_server.url)
    for earlier in proof.earlier_duplicates(name):
        send_recorded(rt, capture, proof.cassettes[earlier])
    outcome = send_recorded(rt, capture, cassette)

    answered_by = entries(proof_server.url)[-1]["answeredBy"]
    assert answered_by == f"replay:{name}", f"answered by {answered_by}, not by the cassette; " + describe(outcome)
    assert outcome.status == recorded["status"] == original.status, describe(outcome)

    if original.status != 200:
        assert_recorded_error(outcome, cassette, original)
    elif operation in STREAM_OPERATIONS:
        assert_recorded_stream(outcome, cassette, original)
    else:
        assert_recorded_unary(outcome, cassette, original)
    assert_recorded_headers(outcome, cassette)


def describe(outcome: Outcome) -> str:
    if outcome.error is not None:
        return f"boto3 raised {outcome.error.response['Error']} (HTTP {outcome.status})"
    return f"HTTP {outcome.status}"


def without_account_ids(raw: bytes) -> bytes:
    """The recording with account ids in ARNs replaced, as the import documents."""
    return ACCOUNT_IN_ARN.sub(r"\g<1>000000000000\3", raw.decode()).encode()


def assert_recorded_error(outcome: Outcome, cassette: dict, original):
    assert outcome.error is not None, "a recorded error was answered with success"
    error = outcome.error.response["Error"]
    recorded_code = (original.response_headers.get("x-amzn-errortype") or "").split(":", 1)[0]
    recorded_body = json.loads(original.response_body)
    assert error["Code"] == recorded_code
    assert outcome.error.response["ResponseMetadata"]["HTTPStatusCode"] == original.status
    assert error["Message"] == recorded_body.get("message", recorded_body.get("Message"))
    assert json.loads(outcome.raw_body) == json.loads(response_body_bytes(cassette["response"])) == recorded_body


def assert_recorded_unary(outcome: Outcome, cassette: dict, original):
    assert outcome.error is None, describe(outcome)
    assert json.loads(outcome.raw_body) == json.loads(response_body_bytes(cassette["response"])), \
        "the replayed body is not the cassette's"
    assert json.loads(outcome.raw_body) == json.loads(without_account_ids(original.response_body)), \
        "the replayed body is not the recording's"
    if "reformatted" not in cassette["metadata"] or "response" not in cassette["metadata"]["reformatted"]:
        # Stored exactly: the replay sends the recorded bytes.
        if original.source.split("/")[0] in VCR_DIRS:
            assert outcome.raw_body == without_account_ids(original.response_body)
    if cassette["request"]["operation"] == "InvokeModel" and "content-type" in original.response_headers:
        assert media_type(outcome.parsed["contentType"]) == media_type(original.response_headers["content-type"])


def assert_recorded_stream(outcome: Outcome, cassette: dict, original):
    assert outcome.error is None, describe(outcome)
    # What boto3 received, frame by frame, against the ORIGINAL recording's bytes.
    assert outcome.events == raw_events(original.response_body), "replayed frames differ from the recording"
    assert outcome.raw_stream == original.response_body, "the replayed stream is not byte-identical to the recording"
    assert outcome.stream_error is None, repr(outcome.stream_error)
    assert media_type(outcome.headers.get("content-type")) == "application/vnd.amazon.eventstream", \
        f"a replayed stream sent as Content-Type {outcome.headers.get('content-type')!r}"
    # And against the cassette, which must hold the stream as events (reviewable, pacable, faultable).
    assert "stream" in cassette["response"], \
        f"the event stream was imported as {[k for k in cassette['response'] if k.startswith('body')]}, not as `stream`"
    assert outcome.events == cassette_events(cassette)
    if cassette["request"]["operation"] == "InvokeModelWithResponseStream":
        chunks = [p["bytes"] for kind, name, p in outcome.events if name == "chunk"]
        assert chunks and all(isinstance(c, (dict, list)) for c in chunks), "chunk bytes decode to provider JSON"


def assert_recorded_headers(outcome: Outcome, cassette: dict):
    """Recorded response headers are sent again (except framing, date and request id)."""
    for name, value in cassette["response"]["headers"].items():
        if name in PER_RESPONSE_HEADERS:
            continue
        if name == "content-type":
            assert media_type(outcome.headers.get(name)) == media_type(value), (name, outcome.headers.get(name))
        else:
            assert outcome.headers.get(name) == value, f"recorded header {name}: {value!r}, replayed {outcome.headers.get(name)!r}"


def test_identical_recorded_requests_replay_in_recorded_order_then_the_last_repeats(proof, proof_server, proof_client):
    rt, capture = proof_client
    repeated = [g for g in proof.groups().values() if len(g) > 1]
    assert repeated, "the recordings hold requests recorded more than once (ApplyGuardrail twice, ...)"
    apply_guardrail = [g for g in repeated if proof.cassettes[g[0]]["request"]["operation"] == "ApplyGuardrail"]
    assert apply_guardrail and len(apply_guardrail[0]) == 2
    for group in repeated:
        reset(proof_server.url)
        for name in group + [group[-1]]:
            send_recorded(rt, capture, proof.cassettes[name])
        answered = [e["answeredBy"] for e in entries(proof_server.url)[-(len(group) + 1):]]
        assert answered == [f"replay:{n}" for n in group + [group[-1]]]


# --------------------------------------------------------------------------------------------
# Matching flags, on a real recorded Converse


@pytest.fixture(scope="module")
def recorded_converse(proof):
    """One recorded Converse with an inferenceConfig.temperature (a catalog model, a request
    recorded once), copied alone into a folder of its own."""
    groups = proof.groups()
    for name, c in proof.cassettes.items():
        body = c["request"].get("body") or {}
        if (c["request"]["operation"] == "Converse" and c["response"]["status"] == 200
                and "temperature" in body.get("inferenceConfig", {}) and in_catalog(c["request"]["modelId"])
                and len(groups[match_key(c)]) == 1):
            folder = _tmpdir("replay-one-")
            shutil.copy(proof.out / name, folder / name)
            return folder, name, c
    pytest.fail("no recorded Converse with a temperature")


def converse_with(rt, cassette, **changes):
    body = json.loads(json.dumps(cassette["request"]["body"]))
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return rt.converse(modelId=cassette["request"]["modelId"], **body)


def other_temperature(cassette):
    config = dict(cassette["request"]["body"]["inferenceConfig"])
    assert config["temperature"] != 0.9
    config["temperature"] = 0.9
    return config


def recorded_text(cassette):
    return cassette["response"]["body"]["output"]["message"]["content"][0]["text"]


def test_replay_ignore_leaves_the_temperature_out_of_matching(recorded_converse):
    folder, name, cassette = recorded_converse
    emu = RunningEmulator("--replay", str(folder), "--replay-ignore", "/inferenceConfig/temperature")
    try:
        rt = client("bedrock-runtime", emu.url)
        response = converse_with(rt, cassette, inferenceConfig=other_temperature(cassette))
        assert entries(emu.url)[-1]["answeredBy"] == f"replay:{name}"
        assert response["output"]["message"]["content"][0]["text"] == recorded_text(cassette)
        assert response["usage"]["outputTokens"] == cassette["response"]["body"]["usage"]["outputTokens"]
        # Without any temperature it still matches; another maxTokens does not.
        config = {k: v for k, v in cassette["request"]["body"]["inferenceConfig"].items() if k != "temperature"}
        converse_with(rt, cassette, inferenceConfig=config)
        assert entries(emu.url)[-1]["answeredBy"] == f"replay:{name}"
        converse_with(rt, cassette, inferenceConfig=dict(config, maxTokens=config.get("maxTokens", 10) + 1))
        assert not entries(emu.url)[-1]["answeredBy"].startswith("replay:")
    finally:
        emu.stop()


def test_without_replay_ignore_another_temperature_falls_through_to_the_synthetic_model(recorded_converse):
    folder, name, cassette = recorded_converse
    emu = RunningEmulator("--replay", str(folder))
    try:
        rt = client("bedrock-runtime", emu.url)
        converse_with(rt, cassette)
        assert entries(emu.url)[-1]["answeredBy"] == f"replay:{name}"
        response = converse_with(rt, cassette, inferenceConfig=other_temperature(cassette))
        assert entries(emu.url)[-1]["answeredBy"] == "synthetic"
        assert response["output"]["message"]["content"][0]["text"] != recorded_text(cassette)
    finally:
        emu.stop()


def test_strict_refuses_another_temperature_naming_the_nearest_cassette_and_the_pointer(recorded_converse):
    folder, name, cassette = recorded_converse
    emu = RunningEmulator("--replay", str(folder), "--strict")
    try:
        rt = client("bedrock-runtime", emu.url)
        with pytest.raises(ClientError) as excinfo:
            converse_with(rt, cassette, inferenceConfig=other_temperature(cassette))
        error = excinfo.value.response["Error"]
        assert error["Code"] == "ValidationException"
        recorded = json.dumps(cassette["request"]["body"]["inferenceConfig"]["temperature"])
        assert f"The nearest cassette, {name}, differs in: /inferenceConfig/temperature (recorded {recorded}, sent 0.9)" \
            in error["Message"], error["Message"]
    finally:
        emu.stop()


def test_replay_match_only_messages_ignores_the_inference_config_and_the_rest(recorded_converse):
    folder, name, cassette = recorded_converse
    emu = RunningEmulator("--replay", str(folder), "--strict", "--replay-match-only", "/messages")
    try:
        rt = client("bedrock-runtime", emu.url)
        for changes in ({"inferenceConfig": {"maxTokens": 7, "temperature": 0.5, "topP": 0.3}},
                        {"inferenceConfig": None},
                        {"system": [{"text": "another system prompt"}]}):
            response = converse_with(rt, cassette, **changes)
            assert entries(emu.url)[-1]["answeredBy"] == f"replay:{name}", changes
            assert response["output"]["message"]["content"][0]["text"] == recorded_text(cassette)
        with pytest.raises(ClientError) as excinfo:
            converse_with(rt, cassette, messages=[user("a different question")])
        assert excinfo.value.response["Error"]["Code"] == "ValidationException"
        assert f"The nearest cassette, {name}, differs in:" in excinfo.value.response["Error"]["Message"]
    finally:
        emu.stop()


def test_replay_match_only_miss_names_a_pointer_into_the_request(recorded_converse):
    """The difference is reported as a JSON pointer into the sent body (/messages/0/...)."""
    folder, name, cassette = recorded_converse
    emu = RunningEmulator("--replay", str(folder), "--strict", "--replay-match-only", "/messages")
    try:
        rt = client("bedrock-runtime", emu.url)
        with pytest.raises(ClientError) as excinfo:
            converse_with(rt, cassette, messages=[user("a different question")])
        message = excinfo.value.response["Error"]["Message"]
        recorded = json.dumps(cassette["request"]["body"]["messages"][0]["content"][0]["text"])[:40]
        assert f"differs in: /messages/0/content/0/text (recorded {recorded}" in message, message
    finally:
        emu.stop()


# --------------------------------------------------------------------------------------------
# Hand-written cassettes: recorded order, timing, faults, journal


QUESTION = {"messages": [user("What is the capital of France?")], "inferenceConfig": {"maxTokens": 50}}


def converse_question(rt):
    return rt.converse(modelId=HAIKU, **QUESTION)


def text_of(response):
    return response["output"]["message"]["content"][0]["text"]


def test_identical_requests_replay_in_recorded_order_the_last_repeats_and_reset_starts_over(tmp_path):
    # File names sort the other way round: recordedAt decides.
    write_cassette(tmp_path, "a-second.json", converse_cassette(HAIKU, QUESTION, "second answer", "2025-07-22T10:00:05Z"))
    write_cassette(tmp_path, "b-first.json", converse_cassette(HAIKU, QUESTION, "first answer", "2025-07-22T10:00:00Z"))
    emu = RunningEmulator("--replay", str(tmp_path), "--strict")
    try:
        rt = client("bedrock-runtime", emu.url)
        assert [text_of(converse_question(rt)) for _ in range(3)] == ["first answer", "second answer", "second answer"]
        assert [e["answeredBy"] for e in entries(emu.url)] == ["replay:b-first.json", "replay:a-second.json",
                                                               "replay:a-second.json"]
        reset(emu.url)
        assert text_of(converse_question(rt)) == "first answer"
        assert text_of(converse_question(rt)) == "second answer"
    finally:
        emu.stop()


def test_a_count_tokens_cassette_answers_count_tokens(tmp_path):
    messages = [{"role": "user", "content": [{"text": "How many tokens is this?"}]}]
    cassette = {
        "version": 1,
        "request": {"operation": "CountTokens", "service": "bedrock-runtime", "modelId": HAIKU, "method": "POST",
                    "path": f"/model/{HAIKU.replace(':', '%3A')}/count-tokens",
                    "headers": {"content-type": "application/json"},
                    "body": {"input": {"converse": {"messages": messages}}}},
        "response": {"status": 200, "headers": {"content-type": "application/json"}, "body": {"inputTokens": 4321}},
        "metadata": {"emulatorVersion": "0.1.0", "source": "record"},
    }
    write_cassette(tmp_path, "count.json", cassette)
    emu = RunningEmulator("--replay", str(tmp_path), "--strict")
    try:
        rt = client("bedrock-runtime", emu.url)
        outcome = send_recorded(rt, Capture(rt), cassette)
        assert outcome.error is None, outcome.error
        assert outcome.parsed["inputTokens"] == 4321
        assert entries(emu.url)[-1]["answeredBy"] == "replay:count.json"
    finally:
        emu.stop()


def test_request_key_order_does_not_matter(tmp_path):
    body = {"inferenceConfig": {"temperature": 0.5, "maxTokens": 50}, "messages": QUESTION["messages"]}
    write_cassette(tmp_path, "ordered.json", converse_cassette(HAIKU, body, "matched"))
    emu = RunningEmulator("--replay", str(tmp_path), "--strict")
    try:
        rt = client("bedrock-runtime", emu.url)
        response = rt.converse(modelId=HAIKU, messages=QUESTION["messages"],
                               inferenceConfig={"maxTokens": 50, "temperature": 0.5})
        assert text_of(response) == "matched"
    finally:
        emu.stop()


STREAM_TEXT = ["The capital ", "of France ", "is Paris."]


def timed_stream_folder(folder: Path) -> tuple[Path, list]:
    events = converse_stream_events(STREAM_TEXT)
    offsets = [0, 300, 600] + [600] * (len(events) - 3)
    write_cassette(folder, "timed.json", converse_stream_cassette(HAIKU, QUESTION, events, offsets))
    return folder, events


def timed_iteration(url):
    rt = client("bedrock-runtime", url)
    started = time.monotonic()
    response = rt.converse_stream(modelId=HAIKU, **QUESTION)
    arrivals, seen = [], []
    for event in response["stream"]:
        arrivals.append(time.monotonic() - started)
        ((kind, payload),) = event.items()
        seen.append((kind, payload))
    return seen, arrivals


def expected_stream(events):
    """boto3's view of the hand-written events: (event name, payload), payloads as written."""
    return [(name, payload) for name, payload in events]


@pytest.mark.parametrize("timing", ["recorded", "scaled:0.1", "none"])
def test_replay_timing_paces_streams_by_the_recorded_offsets(tmp_path, timing):
    folder, events = timed_stream_folder(tmp_path)
    emu = RunningEmulator("--replay", str(folder), "--strict", "--replay-timing", timing)
    try:
        seen, arrivals = timed_iteration(emu.url)
        assert seen == expected_stream(events)
        assert entries(emu.url)[-1]["answeredBy"] == "replay:timed.json"
        if timing == "recorded":
            assert arrivals[-1] >= 0.55, f"a 600 ms recording replayed in {arrivals[-1]:.3f} s"
            assert arrivals[1] - arrivals[0] >= 0.2, f"the event recorded at 300 ms came {arrivals[1] - arrivals[0]:.3f} s after the first"
        elif timing == "scaled:0.1":
            assert 0.05 <= arrivals[-1] < 5, arrivals
        else:
            assert arrivals[-1] < 5, arrivals
    finally:
        emu.stop()


@pytest.mark.parametrize("timing", ["fast", "scaled:-1", "scaled:x"])
def test_a_bad_replay_timing_is_refused(tmp_path, timing):
    code, _, err = serve_refusal("--replay", str(tmp_path), "--replay-timing", timing)
    assert code == 2, err
    assert "--replay-timing" in err


def test_a_replay_pointer_must_be_a_json_pointer(tmp_path):
    code, _, err = serve_refusal("--replay", str(tmp_path), "--replay-ignore", "inferenceConfig/temperature")
    assert code == 2 and "inferenceConfig/temperature" in err, err


@pytest.fixture
def fault_folder(tmp_path):
    write_cassette(tmp_path, "answer.json", converse_cassette(HAIKU, QUESTION, "the recorded answer"))
    events = converse_stream_events(STREAM_TEXT)
    write_cassette(tmp_path, "stream.json", converse_stream_cassette(HAIKU, QUESTION, events))
    return tmp_path, events


def test_a_throttle_on_a_replayed_answer_is_retried_and_the_retry_gets_the_recording(fault_folder):
    folder, _ = fault_folder
    emu = RunningEmulator("--replay", str(folder), "--strict")
    try:
        admin_ok(emu.url, "POST", "faults",
                 {"name": "t", "on": {"attempts": 1}, "inject": {"error": {"type": "ThrottlingException"}}})
        response = retrying_client(emu.url).converse(modelId=HAIKU, **QUESTION)
        assert response["ResponseMetadata"]["RetryAttempts"] == 1
        assert text_of(response) == "the recorded answer"
        journal = entries(emu.url)
        assert [(e["attempt"], e["status"], e["faults"]) for e in journal] == [(1, 429, ["t"]), (2, 200, [])]
        assert journal[1]["answeredBy"] == "replay:answer.json"
    finally:
        emu.stop()


def test_a_stream_fault_cuts_a_replayed_stream_after_two_events(fault_folder):
    folder, events = fault_folder
    emu = RunningEmulator("--replay", str(folder), "--strict")
    try:
        admin_ok(emu.url, "POST", "faults", {
            "name": "cut", "match": {"operation": "ConverseStream"},
            "inject": {"stream": {"afterEvents": 2, "then": {"exception": {"type": "ModelStreamErrorException"}}}}})
        stream = client("bedrock-runtime", emu.url).converse_stream(modelId=HAIKU, **QUESTION)["stream"]
        seen = []
        with pytest.raises(EventStreamError) as excinfo:
            for event in stream:
                seen.append(next(iter(event.items())))
        assert seen == expected_stream(events)[:2], "the first two events are the recorded ones"
        assert excinfo.value.response["Error"]["Code"] == "modelStreamErrorException"
        (entry,) = entries(emu.url)
        assert entry["answeredBy"] == "replay:stream.json"
        assert entry["faults"] == ["cut"]
    finally:
        emu.stop()


def test_journal_names_the_cassette_that_answered(tmp_path):
    write_cassette(tmp_path, "top.json", converse_cassette(HAIKU, QUESTION, "from the top folder"))
    other = {"messages": [user("nested?")]}
    write_cassette(tmp_path / "nested", "deep.json", converse_cassette(HAIKU, other, "from a sub-folder"))
    emu = RunningEmulator("--replay", str(tmp_path))
    try:
        rt = client("bedrock-runtime", emu.url)
        assert text_of(converse_question(rt)) == "from the top folder"
        assert text_of(rt.converse(modelId=HAIKU, **other)) == "from a sub-folder"
        rt.converse(modelId=HAIKU, messages=[user("nobody recorded this")])
        answered = [e["answeredBy"] for e in entries(emu.url)]
        assert answered == ["replay:top.json", "replay:deep.json", "synthetic"]
    finally:
        emu.stop()


# --------------------------------------------------------------------------------------------
# Cassette folders the emulator refuses (or reads) at startup


def good_cassette():
    return converse_cassette(HAIKU, QUESTION, "good")


def good_text():
    return json.dumps(good_cassette(), indent=2) + "\n"


def bad_cassettes():
    """name -> (text, expected line, reason fragment)."""
    text = good_text()
    truncated = text[: len(text) // 2]
    version2 = text.replace('"version": 1', '"version": 2', 1)
    missing = good_cassette()
    del missing["response"]
    missing_text = json.dumps(missing, indent=2) + "\n"
    malformed = '{\n  "version": 1,\n  "request": {,\n}\n'
    return {
        "malformed.json": (malformed, 3, ""),
        "truncated.json": (truncated, truncated.count("\n") + 1, "EOF"),
        "version2.json": (version2, 2, "version 2"),
        "no-response.json": (missing_text, missing_text.rstrip("\n").count("\n") + 1, "response"),
        "not-a-cassette.json": ('{"hello": 1}\n', 1, ""),
        "array.json": ("[]\n", 1, "object"),
    }


@pytest.mark.parametrize("name", list(bad_cassettes()))
def test_a_bad_cassette_stops_startup_naming_file_line_and_reason(tmp_path, name):
    text, line, reason = bad_cassettes()[name]
    write_cassette(tmp_path, "good.json", good_cassette())
    (tmp_path / name).write_text(text)
    code, out, err = serve_refusal("--replay", str(tmp_path))
    assert code == 2, f"exit {code}; stdout {out!r}; stderr {err!r}"
    (reported,) = [l for l in err.splitlines() if name in l]
    assert f"line {line}" in reported, reported
    assert reason in reported, reported
    assert "good.json" not in err


def test_every_bad_cassette_is_reported_at_once(tmp_path):
    for name, (text, _, _) in bad_cassettes().items():
        (tmp_path / name).write_text(text)
    code, _, err = serve_refusal("--replay", str(tmp_path))
    assert code == 2
    for name in bad_cassettes():
        assert name in err, f"{name} not reported: {err}"


def test_only_visible_json_files_are_cassettes(tmp_path):
    write_cassette(tmp_path, "good.json", good_cassette())
    (tmp_path / "README.md").write_text("# cassettes for the checkout tests\n")
    (tmp_path / "notes.txt").write_text("{ not json\n")
    (tmp_path / "good.json.bak").write_text("{ not json\n")
    (tmp_path / ".good.1234.0.tmp").write_text('{"version": 1, "requ')  # a writer's temp file
    (tmp_path / ".half-written.json").write_text('{"version": 1, "requ')
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "bad.json").write_text("{")
    emu = RunningEmulator("--replay", str(tmp_path), "--strict")
    try:
        assert text_of(converse_question(client("bedrock-runtime", emu.url))) == "good"
        assert entries(emu.url)[-1]["answeredBy"] == "replay:good.json"
    finally:
        emu.stop()


# --------------------------------------------------------------------------------------------
# The import CLI: errors, --redact, account ids


def nock_recording(interactions: list[dict]) -> str:
    return json.dumps(interactions, indent=2)


def nock_converse(text_in: str, text_out: str, model=HAIKU, extra_response=None, reqheaders=None) -> dict:
    response = {
        "output": {"message": {"role": "assistant", "content": [{"text": text_out}]}},
        "stopReason": "end_turn", "usage": {"inputTokens": 9, "outputTokens": 8, "totalTokens": 17},
        "metrics": {"latencyMs": 321}, **(extra_response or {}),
    }
    return {
        "scope": "https://bedrock-runtime.us-east-1.amazonaws.com:443", "method": "POST",
        "path": f"/model/{model.replace(':', '%3A').replace('/', '%2F')}/converse",
        "body": {"messages": [{"role": "user", "content": [{"text": text_in}]}]},
        "status": 200, "response": response,
        "rawHeaders": ["Date", "Tue, 22 Jul 2025 20:54:50 GMT", "Content-Type", "application/json",
                       "x-amzn-RequestId", "5eb97805-580d-41b1-a814-2ddd2f7ee075"],
        "reqheaders": reqheaders or {"content-type": "application/json"},
        "responseIsBinary": False,
    }


def nock_stream(text_in: str, frames: bytes, operation="converse-stream", body=None) -> dict:
    return {
        "scope": "https://bedrock-runtime.us-east-1.amazonaws.com:443", "method": "POST",
        "path": f"/model/{HAIKU.replace(':', '%3A')}/{operation}",
        "body": body or {"messages": [{"role": "user", "content": [{"text": text_in}]}]},
        "status": 200, "response": frames.hex(), "responseIsBinary": True,
        "rawHeaders": ["Date", "Tue, 22 Jul 2025 20:54:51 GMT", "Content-Type", "application/vnd.amazon.eventstream"],
        "reqheaders": {"content-type": "application/json"},
    }


def paris_recording(folder: Path) -> Path:
    stream = b"".join(encode_frame(name, compact(payload)) for name, payload in converse_stream_events(
        ["The capital of France ", "is Paris."]))
    chunk = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Paris, of course."}}
    imwrs = encode_frame("chunk", compact({"bytes": base64.b64encode(compact(chunk)).decode(), "p": "abcd"}))
    anthropic = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                 "messages": [{"role": "user", "content": "Capital of France?"}]}
    path = folder / "paris.json"
    path.write_text(nock_recording([
        nock_converse("What is the capital of France?", "The capital of France is Paris."),
        nock_stream("Stream the capital of France", stream),
        nock_stream("", imwrs, operation="invoke-with-response-stream", body=anthropic),
    ]))
    return path


def test_import_reports_each_file_and_writes_readable_cassettes(tmp_path):
    recording = paris_recording(tmp_path)
    out = tmp_path / "out"
    result = run_import([recording], out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{recording}: 3 cassettes, 0 skipped",
                                          f"imported 3 interactions into {out} (0 skipped)"]
    cassettes = {p.name: load_cassette(p) for p in out.glob("*.json")}
    assert sorted(c["request"]["operation"] for c in cassettes.values()) == \
        ["Converse", "ConverseStream", "InvokeModelWithResponseStream"]
    for c in cassettes.values():
        assert c["metadata"]["recordedAt"].startswith("2025-07-22T20:54:5")
        assert c["metadata"]["region"] == "us-east-1"


def test_import_redact_replaces_the_text_everywhere_and_the_redacted_cassettes_replay(tmp_path):
    recording = paris_recording(tmp_path)
    out = tmp_path / "out"
    result = run_import([recording], out, "--redact", "Paris=CITY")
    assert result.returncode == 0, result.stderr
    texts = {p.name: p.read_text() for p in out.glob("*.json")}
    assert len(texts) == 3
    for name, text in texts.items():
        assert "Paris" not in text, name
        assert "CITY" in text, name
    by_op = {load_cassette(out / n)["request"]["operation"]: load_cassette(out / n) for n in texts}
    assert by_op["Converse"]["response"]["body"]["output"]["message"]["content"][0]["text"] == \
        "The capital of France is CITY."
    chunk = by_op["InvokeModelWithResponseStream"]["response"]["stream"][0]["payload"]["bytes"]
    assert chunk["delta"]["text"] == "CITY, of course.", "the text inside a chunk's base64 bytes is redacted too"
    # The redacted answers are valid Bedrock answers.
    emu = RunningEmulator("--replay", str(out), "--strict")
    try:
        rt = client("bedrock-runtime", emu.url)
        capture = Capture(rt)
        for cassette in by_op.values():
            outcome = send_recorded(rt, capture, cassette)
            assert outcome.error is None and outcome.stream_error is None, (outcome.error, outcome.stream_error)
            if "stream" in cassette["response"]:
                assert outcome.events == cassette_events(cassette)
        events = send_recorded(rt, capture, by_op["ConverseStream"]).events
        text = "".join(p["delta"]["text"] for _, n, p in events if n == "contentBlockDelta")
        assert text == "The capital of France is CITY."
    finally:
        emu.stop()


@pytest.mark.parametrize("bad", ["([=X", "no-equals-sign"])
def test_import_refuses_a_bad_redact_pattern(tmp_path, bad):
    result = run_import([paris_recording(tmp_path)], tmp_path / "out", "--redact", bad)
    assert result.returncode == 2, result
    assert "--redact" in result.stderr
    assert not list((tmp_path / "out").glob("*.json")), "nothing is written with a bad pattern"


ACCOUNT = "123456789012"
PROFILE_ARN = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/abc123xyz"
GUARDRAIL_ARN = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:guardrail/g1"


def account_recording(folder: Path) -> Path:
    trace = {"trace": {"guardrail": {"modelOutput": [GUARDRAIL_ARN]}}}
    path = folder / "accounts.json"
    path.write_text(nock_recording([nock_converse(f"Which profile is {PROFILE_ARN}?", "This one.",
                                                  model=PROFILE_ARN, extra_response=trace)]))
    return path


def test_import_replaces_account_ids_in_arns(tmp_path):
    result = run_import([account_recording(tmp_path)], tmp_path / "out")
    assert result.returncode == 0, result.stderr
    (path,) = (tmp_path / "out").glob("*.json")
    text = path.read_text()
    assert ACCOUNT not in text
    cassette = json.loads(text)
    placeholder = PROFILE_ARN.replace(ACCOUNT, "000000000000")
    assert cassette["request"]["modelId"] == placeholder
    assert cassette["request"]["path"] == "/model/" + placeholder.replace(":", "%3A").replace("/", "%2F") + "/converse"
    assert cassette["request"]["body"]["messages"][0]["content"][0]["text"] == f"Which profile is {placeholder}?"
    assert cassette["response"]["body"]["trace"]["guardrail"]["modelOutput"] == [GUARDRAIL_ARN.replace(ACCOUNT, "000000000000")]


def test_import_keep_account_ids(tmp_path):
    result = run_import([account_recording(tmp_path)], tmp_path / "out", "--keep-account-ids")
    assert result.returncode == 0, result.stderr
    (path,) = (tmp_path / "out").glob("*.json")
    cassette = load_cassette(path)
    assert cassette["request"]["modelId"] == PROFILE_ARN
    assert cassette["response"]["body"]["trace"]["guardrail"]["modelOutput"] == [GUARDRAIL_ARN]
    assert "000000000000" not in path.read_text()


def test_real_guardrail_arns_lose_their_account_id(proof):
    arns = [a for c in proof.cassettes.values() for a in re.findall(r"arn:aws:[^\"]+", json.dumps(c))]
    assert arns, "the ApplyGuardrail recordings name their guardrail's ARN"
    assert all(":000000000000:" in a for a in arns), arns


@pytest.mark.parametrize("name, text", [
    ("notes.json", '{"hello": 1}'),
    ("empty.json", ""),
    ("notes.txt", "just some text\n"),
    ("cassette-already.json", good_text()),
    ("not-vcr.yaml", "hello: 1\nworld: [2, 3]\n"),
])
def test_import_refuses_a_file_that_is_not_a_recording(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    result = run_import([tmp_path / name], tmp_path / "out")
    assert result.returncode == 2, f"exit {result.returncode}; stdout {result.stdout!r}"
    assert name in result.stderr, result.stderr


def test_import_of_a_missing_file_fails_naming_it_and_still_imports_the_others(tmp_path):
    good = paris_recording(tmp_path)
    result = run_import([tmp_path / "missing.yaml", good], tmp_path / "out")
    assert result.returncode == 2
    assert "missing.yaml" in result.stderr
    assert f"{good}: 3 cassettes, 0 skipped" in result.stdout.splitlines()


# --------------------------------------------------------------------------------------------
# Secrets


SIGV4 = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250722/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=host;x-amz-date;x-amz-security-token, "
         "Signature=9dd8a45acbd0693204b9fbc2bfa292eed719abb7bcd0f5837e01afefc1eb4df0")
PRESIGNED = ("https://bucket.s3.amazonaws.com/doc.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
             "&X-Amz-Credential=ASIAIOSFODNN7EXAMPLE%2F20250722%2Fus-east-1%2Fs3%2Faws4_request"
             "&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2F%2Fwlongtoken"
             "&X-Amz-Signature=9dd8a45acbd0693204b9fbc2bfa292eed719abb7bcd0f5837e01afefc1eb4df0")


def secret_recording(folder: Path, secret_text: str) -> Path:
    reqheaders = {
        "content-type": "application/json", "authorization": SIGV4, "x-amz-security-token": "FwoGZXIvYXdzEJrSESSION",
        "x-amz-date": "20250722T205450Z", "cookie": "session=abc", "x-api-key": "k-123",
    }
    interaction = nock_converse(secret_text, f"I saw {secret_text}", reqheaders=reqheaders)
    interaction["rawHeaders"] += ["Set-Cookie", "session=def; Secure"]
    path = folder / "secrets.json"
    path.write_text(nock_recording([interaction]))
    return path


@pytest.mark.parametrize("secret", [
    "my key is AKIAIOSFODNN7EXAMPLE and the secret aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    f"fetch {PRESIGNED}",
    "call it with Authorization: Bearer ABSKQmVkcm9ja0FQSUtleS1hYmNkZWZnaGlqa2xtbm9w",
    # A base64url token (OAuth / JWT): '_' and '-' are part of it.
    "call it with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEyMyJ9.x_Ab-Cd_Ef-Gh_Ij-Kl_Mn",
], ids=["access-key-and-secret-key", "presigned-url", "bedrock-api-key", "base64url-bearer-token"])
def test_import_removes_secrets_from_headers_and_bodies(tmp_path, secret):
    result = run_import([secret_recording(tmp_path, secret)], tmp_path / "out")
    assert result.returncode == 0, result.stderr
    (path,) = (tmp_path / "out").glob("*.json")
    assert cassette_secrets(path) == []
    cassette = load_cassette(path)
    assert set(cassette["request"]["headers"]) == {"content-type"}, cassette["request"]["headers"]
    assert set(cassette["response"]["headers"]) <= {"content-type", "date", "x-amzn-requestid"}, cassette["response"]["headers"]


def test_no_imported_real_cassette_holds_a_secret_or_an_authorization_header(proof):
    problems = [p for name in proof.cassettes for p in cassette_secrets(proof.out / name)]
    assert problems == []
    # The recordings do hold (fake) credentials, so the scan has something to find.
    raw = "".join(p.read_text(errors="replace") for p in recording_files())
    assert find_secrets(raw), "the recordings carry credentials the import must drop"
    for needle in ("Bearer test_aws_authorization", "AKIATEST1234567890AB", "FAKE-SESSION", "test_set_cookie"):
        assert needle in raw
        assert not any(needle in (proof.out / n).read_text() for n in proof.cassettes), needle


def test_the_secret_scan_finds_what_it_looks_for():
    """The scanner itself: it would have found the recordings' fake credentials."""
    assert find_secrets('"authorization": "Bearer test_aws_authorization"')
    assert find_secrets("AKIAIOSFODNN7EXAMPLE")
    assert find_secrets("X-Amz-Security-Token=IQoJb3JpZ2lu")
    assert find_secrets("Signature=9dd8a45a")
    assert not find_secrets('{"text": "Bearer REDACTED", "x": "X-Amz-Signature=REDACTED"}')
