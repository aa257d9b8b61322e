"""The recording proxy (`serve --record DIR`) through boto3, with no AWS: the emulator plays its
own upstream.

* B — `serve --auth sigv4 --credentials FILE --seed 3` is "real Bedrock": it verifies SigV4
  against the upstream keys and answers deterministically.
* A — `serve --record DIR --upstream B`, started with the upstream keys in its environment (the
  standard AWS chain, nothing else: no profile, no bearer token, no IMDS), forwards what nothing
  else answers to B re-signed with its own credentials and writes one cassette per interaction.
  Clients talk to A with credentials of their own (A is permissive), which must never reach B
  or the disk.
* C — `serve --replay DIR --strict`, with A and B stopped, answers from A's cassettes.

A boto3 client holding B's keys and talking to B directly is the reference: through A and then
C a client must see what it saw there.
"""
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import RunningEmulator, emulator_binary
from emulator_admin import HAIKU, HAIKU_PROFILE, anthropic_body, chunks, journal, user

UPSTREAM_KEY = "AKIDUPSTREAMPYTEST"
UPSTREAM_SECRET = "upstream-secret"
UPSTREAM_CREDENTIALS = f"[upstream]\naws_access_key_id = {UPSTREAM_KEY}\naws_secret_access_key = {UPSTREAM_SECRET}\n"

# The client's own credentials, shaped like a real temporary key (ASIA + 16) with a session
# token, so that a leak of any of the three would show in the scan of the cassettes.
CLIENT_KEY = "ASIACLIENTPYTEST0000"
CLIENT_SECRET = "client-secret-pytest-Kq7"
CLIENT_TOKEN = "client-session-token-pytest-Wz4"

B_ACCOUNT = "123456789012"  # the emulator's default --account-id, in the ARNs B answers with

# Every directory A writes cassettes into during this module; test_no_secret_reaches_the_disk
# (the last test) reads them all.
RECORD_DIRS: list[Path] = []


# --------------------------------------------------------------------------------------------
# Processes


def recorder_env() -> dict:
    """A's environment: the upstream keys for the standard chain and nothing else it could use
    (no profile, no config or credentials file, no bearer token, no instance metadata)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=UPSTREAM_KEY,
        AWS_SECRET_ACCESS_KEY=UPSTREAM_SECRET,
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(Path(tempfile.gettempdir()) / "bedrock-record-test-no-such-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(Path(tempfile.gettempdir()) / "bedrock-record-test-no-such-credentials"),
    )
    return env


class Serve(RunningEmulator):
    """conftest's RunningEmulator with an environment of its own (A must not see ours) and its
    stderr quoted when it does not start, plus the journal."""

    def __init__(self, *args: str, env: dict | None = None):
        super().__init__(*args, env=env, capture_stderr=True)

    def journal(self) -> list[dict]:
        return journal(self.url)["entries"]


def start_upstream(creds_file: Path, *extra: str) -> Serve:
    """B."""
    return Serve("--auth", "sigv4", "--credentials", str(creds_file), "--seed", "3", *extra)


def start_recorder(directory: Path, upstream: Serve, mode: str, *extra: str) -> Serve:
    """A."""
    if directory not in RECORD_DIRS:
        RECORD_DIRS.append(directory)
    return Serve("--record", str(directory), "--record-mode", mode, "--upstream", upstream.url, *extra, env=recorder_env())


def start_replayer(directory: Path) -> Serve:
    """C."""
    return Serve("--replay", str(directory), "--strict")


def clients(url: str, key=CLIENT_KEY, secret=CLIENT_SECRET, token=CLIENT_TOKEN):
    """(bedrock-runtime, bedrock) boto3 clients for `url`, one attempt each."""
    make = lambda service: boto3.client(  # noqa: E731
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    return make("bedrock-runtime"), make("bedrock")


def upstream_clients(b: Serve):
    """The reference: B's own keys, straight to B."""
    return clients(b.url, UPSTREAM_KEY, UPSTREAM_SECRET, None)


def cassettes(directory: Path) -> list[Path]:
    """The cassettes in `directory` (final names only: `*.json`, not hidden temp files)."""
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith("."))


def converse_text(response) -> str:
    return "".join(b["text"] for b in response["output"]["message"]["content"] if "text" in b)


def api_entries(server: Serve) -> list[dict]:
    return [e for e in server.journal() if e.get("operation")]


@pytest.fixture(scope="module")
def creds_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("upstream-credentials") / "credentials"
    path.write_text(UPSTREAM_CREDENTIALS)
    return path


# --------------------------------------------------------------------------------------------
# 1. The same answers directly from B, through A (recording) and from C (replaying)

TIDES = "Tell me about tides"
RIVERS = "Stream about rivers"
NATIVE = "Native hello"


def observe(runtime, control) -> dict:
    """What a client sees of one fixed set of calls, runtime and control plane."""
    out = {}
    r = runtime.converse(modelId=HAIKU, messages=[user(TIDES)])
    out["converse"] = {"text": converse_text(r), "stopReason": r["stopReason"], "usage": r["usage"]}
    out["converse_request_id"] = r["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")

    r = runtime.converse_stream(modelId=HAIKU, messages=[user(RIVERS)])
    out["converse_stream"] = list(r["stream"])
    out["converse_stream_request_id"] = r["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")

    r = runtime.invoke_model(modelId=HAIKU, body=anthropic_body(NATIVE, max_tokens=50))
    body = json.loads(r["body"].read())
    assert body.pop("id", None), f"an Anthropic messages body has an id: {body}"
    out["invoke_model"] = body

    r = runtime.invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body(NATIVE, max_tokens=50))
    decoded = chunks(r)
    for c in decoded:
        if c.get("type") == "message_start":
            assert c["message"].pop("id", None), c
    out["imwrs"] = decoded

    r = runtime.count_tokens(modelId=HAIKU, input={"converse": {"messages": [user(TIDES)]}})
    out["count_tokens"] = r["inputTokens"]

    r = control.list_foundation_models(byProvider="Anthropic")
    out["list_foundation_models"] = r["modelSummaries"]

    r = control.get_inference_profile(inferenceProfileIdentifier=HAIKU_PROFILE)
    r.pop("ResponseMetadata")
    out["get_inference_profile"] = r
    return out


INTERACTIONS = 7  # the calls of `observe`, one cassette each


@pytest.fixture(scope="module")
def session(creds_file, tmp_path_factory):
    """Runs `observe` against B, then through A (recording into a fresh folder), then, with B
    and A stopped, against C replaying that folder; keeps what each saw and each journal."""
    directory = tmp_path_factory.mktemp("session-cassettes")
    b = start_upstream(creds_file)
    a = c = None
    try:
        direct = observe(*upstream_clients(b))
        b_before = len(api_entries(b))
        a = start_recorder(directory, b, "once")
        recorded = observe(*clients(a.url))
        a_journal = api_entries(a)
        b_journal = api_entries(b)[b_before:]
        a.stop()
        b.stop()
        files = cassettes(directory)
        c = start_replayer(directory)
        replayed = observe(*clients(c.url))
        c_journal = api_entries(c)
    finally:
        for server in (c, a, b):
            if server:
                server.stop()
    return {
        "dir": directory,
        "files": files,
        "direct": direct,
        "recorded": recorded,
        "replayed": replayed,
        "a_journal": a_journal,
        "b_journal": b_journal,
        "c_journal": c_journal,
    }


@pytest.mark.parametrize("call", ["converse", "converse_stream", "invoke_model", "imwrs", "count_tokens", "list_foundation_models"])
def test_the_recorder_and_the_replay_answer_what_the_upstream_answered(session, call):
    direct = session["direct"][call]
    assert direct, f"B answered {call} with something"
    assert session["recorded"][call] == direct, f"{call} through A (recording)"
    assert session["replayed"][call] == direct, f"{call} from C (replaying A's cassettes)"


def test_the_reference_answers_are_what_the_calls_ask_for(session):
    """Guards the comparisons above against comparing two empty or failed answers."""
    direct = session["direct"]
    assert TIDES in direct["converse"]["text"] and direct["converse"]["stopReason"] == "end_turn"
    assert direct["converse"]["usage"]["outputTokens"] > 0
    kinds = [next(iter(e)) for e in direct["converse_stream"]]
    assert kinds[0] == "messageStart" and kinds[-1] == "metadata" and "contentBlockDelta" in kinds
    assert direct["invoke_model"]["type"] == "message" and direct["invoke_model"]["content"][0]["text"]
    assert [c["type"] for c in direct["imwrs"]][0] == "message_start"
    assert [c["type"] for c in direct["imwrs"]][-1] == "message_stop"
    assert direct["count_tokens"] > 0
    assert direct["list_foundation_models"] and all(
        m["providerName"] == "Anthropic" for m in direct["list_foundation_models"]
    )
    assert direct["get_inference_profile"]["inferenceProfileId"] == HAIKU_PROFILE


def test_an_inference_profile_replays_with_the_account_id_redacted(session):
    """A passes B's answer through as it came; the cassette (and so C) holds account id
    000000000000 in place of B's, and nothing else differs."""
    direct = session["direct"]["get_inference_profile"]
    assert f":{B_ACCOUNT}:inference-profile/" in direct["inferenceProfileArn"]
    assert session["recorded"]["get_inference_profile"] == direct, "through A"
    replayed = session["replayed"]["get_inference_profile"]
    assert replayed["inferenceProfileArn"] == direct["inferenceProfileArn"].replace(B_ACCOUNT, "000000000000")
    assert {**replayed, "inferenceProfileArn": direct["inferenceProfileArn"]} == direct, "from C"


def test_one_cassette_per_interaction(session):
    files = session["files"]
    assert len(files) == INTERACTIONS, [p.name for p in files]
    operations = sorted(json.loads(p.read_text())["request"]["operation"] for p in files)
    assert operations == sorted(
        ["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream", "CountTokens",
         "ListFoundationModels", "GetInferenceProfile"]
    )
    for p in files:
        cassette = json.loads(p.read_text())
        assert cassette["version"] == 1, p.name
        assert cassette["metadata"]["source"] == "record", p.name
        assert cassette["response"]["status"] == 200, p.name
    leftovers = [p.name for p in session["dir"].iterdir() if p not in files]
    assert leftovers == [], "no temp file is left behind"


def test_the_recorders_answers_came_from_upstream_and_the_replays_from_cassettes(session):
    a, b, c = session["a_journal"], session["b_journal"], session["c_journal"]
    assert len(a) == INTERACTIONS and {e["answeredBy"] for e in a} == {"upstream"}, a
    # B verified every request A re-signed (and saw no other).
    assert [(e["operation"], e["status"]) for e in b] == [(e["operation"], 200) for e in a], b
    assert len(c) == INTERACTIONS
    names = {p.name for p in session["files"]}
    for entry in c:
        assert entry["status"] == 200, entry
        assert entry["answeredBy"].startswith("replay:"), entry
        assert Path(entry["answeredBy"].removeprefix("replay:")).name in names, entry["answeredBy"]


def test_the_stream_cassette_holds_every_event_the_client_got(session):
    (path,) = [p for p in session["files"] if json.loads(p.read_text())["request"]["operation"] == "ConverseStream"]
    recorded = json.loads(path.read_text())["response"]["stream"]
    assert [i["event"] for i in recorded] == [next(iter(e)) for e in session["direct"]["converse_stream"]]


@pytest.mark.parametrize("call", ["converse_request_id", "converse_stream_request_id"])
@pytest.mark.parametrize("via", ["direct", "recorded", "replayed"])
def test_a_response_carries_one_request_id(session, via, call):
    """Bedrock answers with one x-amzn-requestid; botocore joins repeated headers with ", "."""
    value = session[via][call]
    assert value and re.fullmatch(r"[0-9a-f-]{36}", value), f"x-amzn-requestid {via}: {value!r}"


# --------------------------------------------------------------------------------------------
# 2. An upstream throttle


def test_an_upstream_throttle_is_recorded_and_replayed_as_such(creds_file, tmp_path_factory):
    directory = tmp_path_factory.mktemp("throttle-cassettes")
    b = start_upstream(creds_file, "--fault", "{name: t, inject: {error: {type: ThrottlingException}}}")
    a = c = None
    try:
        a = start_recorder(directory, b, "once")
        runtime, _ = clients(a.url)
        with pytest.raises(ClientError) as through_a:
            runtime.converse(modelId=HAIKU, messages=[user("hi")])
        a_entries = api_entries(a)
        a.stop()
        b.stop()
        (path,) = cassettes(directory)
        cassette = json.loads(path.read_text())
        c = start_replayer(directory)
        runtime, _ = clients(c.url)
        with pytest.raises(ClientError) as from_c:
            runtime.converse(modelId=HAIKU, messages=[user("hi")])
        c_entries = api_entries(c)
    finally:
        for server in (c, a, b):
            if server:
                server.stop()
    for label, error in (("through A", through_a.value), ("from C", from_c.value)):
        assert error.response["Error"]["Code"] == "ThrottlingException", (label, error.response)
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429, (label, error.response)
    assert from_c.value.response["Error"]["Message"] == through_a.value.response["Error"]["Message"]
    assert cassette["response"]["status"] == 429
    assert [e["answeredBy"] for e in a_entries] == ["upstream"]
    assert [(e["status"], e["answeredBy"].startswith("replay:")) for e in c_entries] == [(429, True)]


# --------------------------------------------------------------------------------------------
# 3. Record modes


@pytest.fixture(scope="module")
def upstream(creds_file):
    b = start_upstream(creds_file)
    yield b
    b.stop()


def converse(url: str, text: str):
    runtime, _ = clients(url)
    return runtime.converse(modelId=HAIKU, messages=[user(text)])


def refused(url: str, text: str) -> dict:
    runtime, _ = clients(url)
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=HAIKU, messages=[user(text)])
    return info.value.response


def test_record_modes_once_new_episodes_and_none(upstream, tmp_path_factory):
    directory = tmp_path_factory.mktemp("modes-cassettes")
    upstream_before = len(api_entries(upstream))

    # once, empty folder: records.
    a = start_recorder(directory, upstream, "once")
    try:
        first = converse_text(converse(a.url, "first question"))
        assert [e["answeredBy"] for e in api_entries(a)] == ["upstream"]
    finally:
        a.stop()
    assert len(cassettes(directory)) == 1

    # once again, the folder now holds a cassette: replays it, refuses anything new.
    a = start_recorder(directory, upstream, "once")
    try:
        assert converse_text(converse(a.url, "first question")) == first
        error = refused(a.url, "second question")
        answered = [e["answeredBy"] for e in api_entries(a)]
    finally:
        a.stop()
    assert error["Error"]["Code"] == "ValidationException", error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "record mode once" in error["Error"]["Message"], error["Error"]["Message"]
    assert answered[0].startswith("replay:"), answered
    assert len(api_entries(upstream)) == upstream_before + 1, "only the first recording went upstream"
    assert len(cassettes(directory)) == 1

    # new_episodes: replays the known request, records the new one.
    a = start_recorder(directory, upstream, "new_episodes")
    try:
        assert converse_text(converse(a.url, "first question")) == first
        second = converse_text(converse(a.url, "second question"))
        answered = [e["answeredBy"] for e in api_entries(a)]
    finally:
        a.stop()
    assert "second question" in second
    assert answered[0].startswith("replay:") and answered[1] == "upstream", answered
    assert len(api_entries(upstream)) == upstream_before + 2
    assert len(cassettes(directory)) == 2

    # none: replays both, refuses a third, never goes upstream.
    a = start_recorder(directory, upstream, "none")
    try:
        assert converse_text(converse(a.url, "first question")) == first
        assert converse_text(converse(a.url, "second question")) == second
        error = refused(a.url, "third question")
        answered = [e["answeredBy"] for e in api_entries(a)]
    finally:
        a.stop()
    assert error["Error"]["Code"] == "ValidationException", error
    assert "record mode none" in error["Error"]["Message"], error["Error"]["Message"]
    assert all(x.startswith("replay:") for x in answered[:2]), answered
    assert len(api_entries(upstream)) == upstream_before + 2, "mode none never went upstream"
    assert len(cassettes(directory)) == 2


def test_record_mode_all_records_every_request_again(upstream, tmp_path_factory):
    directory = tmp_path_factory.mktemp("all-cassettes")
    upstream_before = len(api_entries(upstream))
    a = start_recorder(directory, upstream, "all")
    try:
        texts = [converse_text(converse(a.url, "same question")) for _ in range(2)]
        answered = [e["answeredBy"] for e in api_entries(a)]
    finally:
        a.stop()
    assert texts[0] == texts[1]
    assert answered == ["upstream", "upstream"]
    assert len(api_entries(upstream)) == upstream_before + 2
    files = cassettes(directory)
    assert len(files) == 2, [p.name for p in files]
    plain = [p for p in files if not p.stem.endswith("-2")]
    suffixed = [p for p in files if p.stem.endswith("-2")]
    assert len(plain) == 1 and [p.name for p in suffixed] == [plain[0].stem + "-2.json"], [p.name for p in files]
    requests = [json.loads(p.read_text())["request"] for p in files]
    assert requests[0] == requests[1], "the same request, recorded twice"

    # all on a folder that holds cassettes: still records (and never replays).
    a = start_recorder(directory, upstream, "all")
    try:
        converse(a.url, "same question")
        answered = [e["answeredBy"] for e in api_entries(a)]
    finally:
        a.stop()
    assert answered == ["upstream"]
    assert [p.name for p in cassettes(directory)] == sorted(
        [plain[0].name, plain[0].stem + "-2.json", plain[0].stem + "-3.json"]
    )


# --------------------------------------------------------------------------------------------
# 4. Redaction, and no secret on disk


def test_redact_replaces_text_in_the_recorded_request_and_response(upstream, tmp_path_factory):
    directory = tmp_path_factory.mktemp("redact-cassettes")
    a = start_recorder(directory, upstream, "all", "--redact", "tides=WATER")
    try:
        text = converse_text(converse(a.url, TIDES))
    finally:
        a.stop()
    assert "tides" in text, "redaction applies to the disk, not to what the client gets"
    (path,) = cassettes(directory)
    written = path.read_text()
    cassette = json.loads(written)
    assert "tides" not in written
    request_body = cassette["request"].get("bodyText") or json.dumps(cassette["request"].get("body"))
    assert "Tell me about WATER" in request_body, cassette["request"]
    assert "Tell me about WATER" in json.dumps(cassette["response"]["body"]), cassette["response"]


def test_account_ids_are_redacted_unless_kept(upstream, tmp_path_factory):
    for flags, expected in (((), "000000000000"), (("--keep-account-ids",), B_ACCOUNT)):
        directory = tmp_path_factory.mktemp("account-cassettes")
        a = start_recorder(directory, upstream, "all", *flags)
        try:
            _, control = clients(a.url)
            through_a = control.get_inference_profile(inferenceProfileIdentifier=HAIKU_PROFILE)
        finally:
            a.stop()
        assert f":{B_ACCOUNT}:" in through_a["inferenceProfileArn"], "A answers with B's body as it came"
        (path,) = cassettes(directory)
        body = json.loads(path.read_text())["response"]["body"]
        assert body["inferenceProfileArn"] == f"arn:aws:bedrock:us-east-1:{expected}:inference-profile/{HAIKU_PROFILE}", flags


SECRET_PATTERNS = [
    re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}"),
    re.compile(re.escape(UPSTREAM_KEY)),
    re.compile(re.escape(UPSTREAM_SECRET)),
    re.compile(re.escape(CLIENT_KEY)),
    re.compile(re.escape(CLIENT_SECRET)),
    re.compile(re.escape(CLIENT_TOKEN)),
    re.compile("Signature="),
    re.compile("AWS4-HMAC-SHA256"),
    re.compile("x-amz-security-token", re.IGNORECASE),
    re.compile('"authorization"', re.IGNORECASE),
]


def test_no_secret_reaches_the_disk():
    """Runs last: every file A wrote during this module, temp files included."""
    files = [p for d in RECORD_DIRS if d.is_dir() for p in sorted(d.rglob("*")) if p.is_file()]
    assert len(files) >= INTERACTIONS, f"the module recorded cassettes to scan (found {len(files)})"
    found = []
    for path in files:
        text = path.read_text(errors="replace")
        found += [(path.name, m.group(0)) for pattern in SECRET_PATTERNS for m in pattern.finditer(text)]
    assert found == []


# --------------------------------------------------------------------------------------------
# 5. Startup errors


@pytest.mark.parametrize(
    "args, says",
    [
        (["--record", "{dir}", "--replay", "{dir}"], "--replay"),
        (["--record", "{dir}", "--record-mode", "bogus"], "record-mode"),
        (["--upstream", "http://127.0.0.1:9"], "--record"),
        (["--redact", "tides=WATER"], "--record"),
        (["--keep-account-ids"], "--record"),
        (["--record", "{dir}", "--redact", "no-equals-sign"], "REGEX=REPLACEMENT"),
        (["--record", "{dir}", "--redact", "([=x"], "redact"),
    ],
    ids=["record-and-replay", "bogus-mode", "upstream-alone", "redact-alone", "keep-account-ids-alone",
         "redact-without-equals", "redact-bad-regex"],
)
def test_bad_recording_flags_exit_2(tmp_path, args, says):
    argv = [a.replace("{dir}", str(tmp_path / "cassettes")) for a in args]
    started = time.monotonic()
    try:
        done = subprocess.run(
            [str(emulator_binary()), "serve", "--port", "0", *argv],
            capture_output=True, text=True, timeout=15, env=recorder_env(),
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"serve {' '.join(argv)} started instead of exiting (stdout {e.stdout!r})")
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stdout == "", "no 'listening on' line"
    assert says in done.stderr, done.stderr
    assert "panicked" not in done.stderr
    assert time.monotonic() - started < 15
