"""Fault injection and quotas through real boto3 clients: retries of injected errors in both of
botocore's retry modes (standard and legacy), the retry matrix of every Bedrock error type,
`retryAfterSeconds`, stalls, connection resets, stream faults, latency and pacing, the `on`
conditions (attempts, probability, every, after, times, window), quotas (requests and tokens
per minute), the attempt fallback for clients without SDK headers, refusal of bad rules and hot
reload of a scenario file's `faults:` list (emulator/src/fault, emulator/src/scenario/fault_format.rs).

The emulator only records what the SDK did: each test asserts what boto3 raised or returned and
how many attempts the journal saw. Most tests share one emulator whose fault rules are removed
(and its counters, windows, attempt counters, quota buckets and journal reset) before each test;
tests about flags, seeds and quotas start emulators of their own.

botocore's backoff cannot be shortened by configuration, so the retry counts are kept small and
the retry matrix runs all its cells concurrently."""
import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import botocore
import pytest
import urllib3
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    EventStreamError,
    ReadTimeoutError,
)

from conftest import RunningEmulator, emulator_binary
from emulator_admin import (
    ACCESS_KEY,
    HAIKU,
    HAIKU_PROFILE,
    SECRET_KEY,
    admin,
    admin_ok,
    anthropic_body,
    clear_scenarios,
    entries,
    fault_listing,
    load_scenario,
    reset,
    user,
    wait_until,
)

MODES = ["standard", "legacy"]

# How many attempts boto3 makes for each injected error type with total_max_attempts=3, per
# retry mode: observed with botocore 1.44 (the emulator journals what the SDK did). Written to
# /tmp/retry-matrix-python.json by the matrix tests for the README.
MATRIX_MAX_ATTEMPTS = 3
EXPECTED_ATTEMPTS = {
    "ThrottlingException": {"standard": 3, "legacy": 3},
    "ModelNotReadyException": {"standard": 3, "legacy": 3},
    "ServiceUnavailableException": {"standard": 3, "legacy": 3},
    "InternalServerException": {"standard": 3, "legacy": 3},
    "ModelTimeoutException": {"standard": 1, "legacy": 1},
    "ModelErrorException": {"standard": 1, "legacy": 1},
    "ValidationException": {"standard": 1, "legacy": 1},
    "AccessDeniedException": {"standard": 1, "legacy": 1},
    "ServiceQuotaExceededException": {"standard": 1, "legacy": 1},
}
MATRIX_REPORT = Path("/tmp/retry-matrix-python.json")

THROTTLED = "Too many requests, please wait before trying again. You have sent too many requests.  Wait before trying again."
TOO_MANY_TOKENS = "Too many tokens, please wait before trying again."


# ---------------------------------------------------------------------------------------------
# Helpers.


def runtime(url, mode="standard", attempts=1, read_timeout=5):
    """A bedrock-runtime client with this retry mode and total attempt count, short timeouts."""
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(
            retries={"mode": mode, "total_max_attempts": attempts},
            read_timeout=read_timeout,
            connect_timeout=1,
        ),
    )


def add_fault(url, rule):
    """POSTs one fault rule (a dict, or YAML/JSON text); returns its name."""
    return admin_ok(url, "POST", "faults", rule)["name"]




def converse(rt, text="hi", model=HAIKU, **kwargs):
    return rt.converse(modelId=model, messages=[user(text)], **kwargs)


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def outcome(call):
    """'ok', or the error code / exception class name a call ended with."""
    try:
        call()
        return "ok"
    except ClientError as error:
        return error.response["Error"]["Code"]
    except Exception as error:  # noqa: BLE001 - the name is the outcome
        return type(error).__name__


def pattern(rt, n, text="hi"):
    """Outcome letters of `n` sequential single-attempt Converse calls: F failed, S succeeded."""
    return "".join("S" if outcome(lambda: converse(rt, text)) == "ok" else "F" for _ in range(n))


def by_invocation(journal_entries):
    groups = defaultdict(list)
    for entry in journal_entries:
        groups[entry["invocationId"]].append(entry)
    return {k: sorted(v, key=lambda e: e["seq"]) for k, v in groups.items()}


def iterate(events, timeout=5.0):
    """Iterates a response event stream in a thread (a hang fails the test instead of the run);
    returns (event kinds seen, exception raised or None)."""
    seen, raised = [], []

    def run():
        try:
            for event in events:
                seen.append(next(iter(event)))
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            raised.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"stream iteration hung for {timeout} s after {seen}"
    return seen, (raised[0] if raised else None)


@contextlib.contextmanager
def running(*args):
    emulator = RunningEmulator(*args)
    try:
        yield emulator
    finally:
        emulator.stop()


def serve_failure(*args):
    """Runs `serve` with these arguments; returns the finished process (it must exit)."""
    return subprocess.run(
        [str(emulator_binary()), "serve", "--port", "0", *args], capture_output=True, text=True, timeout=30
    )


def raw_converse(url, body: bytes, model=HAIKU):
    """A Converse request as curl would send it: no SigV4, no amz-sdk-* headers."""
    target = f"{url}/model/{urllib.parse.quote(model, safe='')}/converse"
    request = urllib.request.Request(target, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def rewrite(path: Path, text: str):
    """Replaces a watched file atomically, as editors save."""
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(text)
    os.replace(staging, path)


# ---------------------------------------------------------------------------------------------
# The shared emulator.


@pytest.fixture(scope="module")
def emu():
    emulator = RunningEmulator()
    yield emulator
    emulator.stop()


@pytest.fixture
def url(emu):
    """The shared emulator's URL with no fault rules or scenarios, and everything reset."""
    admin_ok(emu.url, "DELETE", "faults")
    clear_scenarios(emu.url)
    reset(emu.url)
    return emu.url


# ---------------------------------------------------------------------------------------------
# Retries of injected errors.


@pytest.mark.parametrize("mode", MODES)
def test_a_throttle_on_the_first_two_attempts_is_retried_and_the_third_attempt_succeeds(url, mode):
    add_fault(url, {"name": "flaky", "match": {"operation": "Converse"}, "on": {"attempts": 2},
                    "inject": {"error": {"type": "ThrottlingException"}}})
    response = converse(runtime(url, mode, attempts=4))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    ((invocation, attempts),) = by_invocation(entries(url)).items()
    assert invocation
    assert [e["attempt"] for e in attempts] == [1, 2, 3]
    assert [e["faults"] for e in attempts] == [["flaky"], ["flaky"], []]
    assert [e["status"] for e in attempts] == [429, 429, 200]
    assert [e["answeredBy"] for e in attempts] == ["fault:flaky", "fault:flaky", "synthetic"]


def test_every_new_call_is_throttled_on_its_own_first_two_attempts(url):
    add_fault(url, {"name": "flaky", "on": {"attempts": 2}, "inject": {"error": {"type": "ThrottlingException"}}})
    rt = runtime(url, "standard", attempts=3)
    assert converse(rt, "one")["ResponseMetadata"]["RetryAttempts"] == 2
    assert converse(rt, "two")["ResponseMetadata"]["RetryAttempts"] == 2
    groups = by_invocation(entries(url))
    assert len(groups) == 2
    for attempts in groups.values():
        assert [(e["attempt"], e["status"]) for e in attempts] == [(1, 429), (2, 429), (3, 200)]


@pytest.mark.parametrize("mode", MODES)
def test_two_concurrent_calls_each_succeed_on_their_third_attempt(url, mode):
    add_fault(url, {"name": "flaky", "match": {"operation": "Converse"}, "on": {"attempts": 2},
                    "inject": {"error": {"type": "ThrottlingException"}}})
    rt = runtime(url, mode, attempts=4)  # created here: botocore clients are thread-safe, their creation is not
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda text: converse(rt, text), ["first caller", "second caller"]))
    assert [r["ResponseMetadata"]["RetryAttempts"] for r in responses] == [2, 2]
    groups = by_invocation(entries(url))
    assert len(groups) == 2
    for attempts in groups.values():
        assert [e["attempt"] for e in attempts] == [1, 2, 3]
        assert [e["faults"] for e in attempts] == [["flaky"], ["flaky"], []]
        assert [e["status"] for e in attempts] == [429, 429, 200]
        assert len({e["lastUserText"] for e in attempts}) == 1


@pytest.mark.parametrize("mode", MODES)
def test_without_an_attempts_condition_the_sdk_gives_up_after_its_max_attempts_with_throttling_exception(url, mode):
    add_fault(url, {"name": "down", "inject": {"error": {"type": "ThrottlingException"}}})
    with pytest.raises(ClientError) as excinfo:
        converse(runtime(url, mode, attempts=2))
    assert error_code(excinfo) == "ThrottlingException"
    assert excinfo.value.response["Error"]["Message"] == THROTTLED
    assert excinfo.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    journal = entries(url)
    assert [e["attempt"] for e in journal] == [1, 2]
    assert all(e["faults"] == ["down"] and e["status"] == 429 for e in journal)


@pytest.mark.parametrize("mode", MODES)
def test_a_model_timeout_surfaces_at_once_without_a_retry(url, mode):
    add_fault(url, {"name": "slow-model", "inject": {"error": {"type": "ModelTimeoutException"}}})
    with pytest.raises(ClientError) as excinfo:
        converse(runtime(url, mode, attempts=3))
    assert error_code(excinfo) == "ModelTimeoutException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 408
    assert [(e["attempt"], e["status"]) for e in entries(url)] == [(1, 408)]


# ---------------------------------------------------------------------------------------------
# The retry matrix: every error type in both modes, all cells at once on one emulator.


def _matrix_text(error_type, mode):
    return f"matrix {error_type} {mode}"


@pytest.fixture(scope="module")
def retry_matrix():
    """Observed attempts per (error type, mode) with total_max_attempts=3; also written to
    /tmp/retry-matrix-python.json."""
    cells = [(error_type, mode) for error_type in EXPECTED_ATTEMPTS for mode in MODES]
    flags = []
    for error_type, mode in cells:
        rule = {"name": f"{error_type}-{mode}", "match": {"lastUserMessage": {"equals": _matrix_text(error_type, mode)}},
                "inject": {"error": {"type": error_type}}}
        flags += ["--fault", json.dumps(rule)]
    with running(*flags) as emulator:
        clients = {cell: runtime(emulator.url, cell[1], attempts=MATRIX_MAX_ATTEMPTS) for cell in cells}

        def call(cell):
            return outcome(lambda: converse(clients[cell], _matrix_text(*cell)))

        with ThreadPoolExecutor(len(cells)) as pool:
            outcomes = dict(zip(cells, pool.map(call, cells)))
        journal = entries(emulator.url)
    observed = {error_type: {} for error_type in EXPECTED_ATTEMPTS}
    for error_type, mode in cells:
        observed[error_type][mode] = sum(1 for e in journal if e["lastUserText"] == _matrix_text(error_type, mode))
    report = {
        "sdk": "boto3",
        "botocore": botocore.__version__,
        "totalMaxAttempts": MATRIX_MAX_ATTEMPTS,
        "attempts": observed,
    }
    MATRIX_REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print("retry matrix (attempts with total_max_attempts=3):", json.dumps(observed))
    return observed, outcomes


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("error_type", list(EXPECTED_ATTEMPTS))
def test_boto3_makes_the_expected_number_of_attempts_for_each_error_type(retry_matrix, error_type, mode):
    observed, outcomes = retry_matrix
    assert outcomes[(error_type, mode)] == error_type
    assert observed[error_type][mode] == EXPECTED_ATTEMPTS[error_type][mode]


# ---------------------------------------------------------------------------------------------
# Error details.


def test_retry_after_seconds_reaches_boto3_as_x_amz_retry_after_in_ms_and_retry_after_in_seconds(url):
    add_fault(url, {"name": "later", "inject": {"error": {"type": "ThrottlingException", "retryAfterSeconds": 2}}})
    with pytest.raises(ClientError) as excinfo:
        converse(runtime(url))
    headers = excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-retry-after"] == "2000"
    assert headers["retry-after"] == "2"
    assert error_code(excinfo) == "ThrottlingException"


def test_an_injected_error_carries_its_own_message(url):
    add_fault(url, {"inject": {"error": {"type": "ServiceUnavailableException", "message": "come back later"}}})
    with pytest.raises(ClientError) as excinfo:
        converse(runtime(url))
    assert (error_code(excinfo), excinfo.value.response["Error"]["Message"]) == ("ServiceUnavailableException", "come back later")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_a_fault_applies_only_to_requests_its_match_selects(url):
    add_fault(url, {"name": "oslo", "match": {"lastUserMessage": "Oslo"},
                    "inject": {"error": {"type": "ThrottlingException"}}})
    rt = runtime(url)
    assert outcome(lambda: converse(rt, "weather in Oslo")) == "ThrottlingException"
    assert outcome(lambda: converse(rt, "weather in Bergen")) == "ok"
    assert [e["faults"] for e in entries(url)] == [["oslo"], []]


# ---------------------------------------------------------------------------------------------
# Stalls and connection resets.


def test_a_stall_longer_than_the_read_timeout_raises_read_timeout_error_after_one_attempt(url):
    add_fault(url, {"name": "stuck", "inject": {"stall": {"ms": 8000}}})
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        converse(runtime(url, attempts=1, read_timeout=1))
    assert time.monotonic() - started < 6, "the client's timeout fired, not the end of the stall"
    journal = wait_until(lambda: entries(url), timeout=5)
    assert len(journal) == 1
    assert journal[0]["faults"] == ["stuck"]


def test_a_timed_stall_is_journaled_at_once_with_the_status_sent_when_it_ends(url):
    # A timed stall is a delay before the head: the emulator still answers (200) after it,
    # even if the client gave up; only resets and endless stalls are journaled with status 0.
    add_fault(url, {"name": "stuck", "inject": {"stall": {"ms": 3000}}})
    with pytest.raises(ReadTimeoutError):
        converse(runtime(url, attempts=1, read_timeout=1))
    (entry,) = wait_until(lambda: entries(url), timeout=5)
    assert (entry["status"], entry["faults"]) == (200, ["stuck"])


def test_a_stall_forever_raises_read_timeout_error_after_one_attempt(url):
    add_fault(url, {"name": "black-hole", "inject": {"stall": {"forever": True}}})
    with pytest.raises(ReadTimeoutError):
        converse(runtime(url, attempts=1, read_timeout=1))
    (entry,) = wait_until(lambda: entries(url), timeout=5)
    assert (entry["status"], entry["faults"], entry["answeredBy"]) == (0, ["black-hole"], "fault:black-hole")


def test_a_stalled_request_does_not_block_another_clients_request(url):
    add_fault(url, {"name": "black-hole", "match": {"lastUserMessage": "stall me"}, "inject": {"stall": {"forever": True}}})
    stalled_client, other_client = runtime(url, read_timeout=2), runtime(url)
    with ThreadPoolExecutor(1) as pool:
        stalled = pool.submit(outcome, lambda: converse(stalled_client, "stall me"))
        time.sleep(0.3)  # the stalled request is in flight
        response = converse(other_client, "answer me")
        assert not stalled.done(), "the stalled request ended before the other one was answered"
        assert stalled.result(timeout=5) == "ReadTimeoutError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("mode", MODES)
def test_a_reset_on_the_first_attempt_is_retried_as_a_connection_error_and_the_second_attempt_succeeds(url, mode):
    add_fault(url, {"name": "rst", "on": {"attempts": 1}, "inject": {"reset": {}}})
    response = converse(runtime(url, mode, attempts=3))
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    journal = entries(url)
    assert [(e["attempt"], e["status"], e["faults"]) for e in journal] == [(1, 0, ["rst"]), (2, 200, [])]
    assert journal[0]["answeredBy"] == "fault:rst"


@pytest.mark.parametrize("mode", MODES)
def test_a_stall_past_the_read_timeout_is_retried_and_the_second_attempt_succeeds(url, mode):
    add_fault(url, {"name": "stuck", "on": {"attempts": 1}, "inject": {"stall": {"forever": True}}})
    response = converse(runtime(url, mode, attempts=3, read_timeout=1))
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert [(e["attempt"], e["status"]) for e in entries(url)] == [(1, 0), (2, 200)]


def test_a_reset_without_retries_raises_a_connection_error(url):
    add_fault(url, {"name": "rst", "inject": {"reset": {}}})
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        converse(runtime(url, attempts=1))
    assert [(e["status"], e["faults"]) for e in entries(url)] == [(0, ["rst"])]


# ---------------------------------------------------------------------------------------------
# Stream faults (synthetic streams: no scenario rule).


def stream_fault(url, then, after=2, operation="ConverseStream"):
    add_fault(url, {"name": "mid-stream", "match": {"operation": operation},
                    "inject": {"stream": {"afterEvents": after, "then": then}}})


def converse_stream(rt, text="tell me a story"):
    return rt.converse_stream(modelId=HAIKU, messages=[user(text)])["stream"]


@pytest.mark.parametrize(
    "exception, code",
    [("ModelStreamErrorException", "modelStreamErrorException"), ("ThrottlingException", "throttlingException")],
)
def test_a_stream_exception_after_two_events_raises_event_stream_error_while_iterating_converse_stream(url, exception, code):
    stream_fault(url, {"exception": {"type": exception}})
    seen, error = iterate(converse_stream(runtime(url)))
    assert len(seen) == 2
    assert seen[0] == "messageStart"
    assert isinstance(error, EventStreamError), repr(error)
    assert error.response["Error"]["Code"] == code
    (entry,) = entries(url)
    assert entry["faults"] == ["mid-stream"]


def test_a_stream_exception_can_carry_its_own_message(url):
    stream_fault(url, {"exception": {"type": "InternalServerException", "message": "the stream broke"}})
    seen, error = iterate(converse_stream(runtime(url)))
    assert isinstance(error, EventStreamError), repr(error)
    assert error.response["Error"] == {"Code": "internalServerException", "Message": "the stream broke"}


def test_a_model_timeout_inside_an_invoke_model_response_stream_arrives_after_two_chunks(url):
    stream_fault(url, {"exception": {"type": "ModelTimeoutException"}}, operation="InvokeModelWithResponseStream")
    response = runtime(url).invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body("tell me a story"))
    seen, error = iterate(response["body"])
    assert seen == ["chunk", "chunk"]
    assert isinstance(error, EventStreamError), repr(error)
    assert error.response["Error"]["Code"] == "modelTimeoutException"


def test_an_aborted_stream_raises_while_iterating_instead_of_hanging(url):
    stream_fault(url, {"abort": {}})
    seen, error = iterate(converse_stream(runtime(url, read_timeout=2)))
    assert len(seen) == 2
    assert isinstance(error, (urllib3.exceptions.ProtocolError, botocore.exceptions.ResponseStreamingError)), repr(error)


def test_a_truncated_stream_ends_cleanly_without_message_stop_or_metadata(url):
    stream_fault(url, {"truncate": {}})
    seen, error = iterate(converse_stream(runtime(url)))
    assert error is None
    assert len(seen) == 2
    assert "messageStop" not in seen and "metadata" not in seen


def test_a_corrupt_frame_raises_a_checksum_error_while_iterating(url):
    stream_fault(url, {"corrupt": {}})
    seen, error = iterate(converse_stream(runtime(url, read_timeout=2)))
    assert len(seen) == 2
    assert isinstance(error, ChecksumMismatch), repr(error)


def test_a_stall_inside_a_stream_raises_read_timeout_error_while_iterating(url):
    stream_fault(url, {"stall": {"ms": 8000}})
    started = time.monotonic()
    seen, error = iterate(converse_stream(runtime(url, read_timeout=1)))
    assert len(seen) == 2
    # botocore hands urllib3's ReadTimeoutError through while an event stream is read.
    assert isinstance(error, (ReadTimeoutError, urllib3.exceptions.ReadTimeoutError)), repr(error)
    assert time.monotonic() - started < 6, "the client's timeout fired, not the end of the stall"


def test_an_error_fault_on_converse_stream_is_the_http_response_before_any_event(url):
    add_fault(url, {"name": "no-stream", "match": {"operation": "ConverseStream"},
                    "inject": {"error": {"type": "ThrottlingException"}}})
    with pytest.raises(ClientError) as excinfo:
        runtime(url).converse_stream(modelId=HAIKU, messages=[user("hi")])
    assert not isinstance(excinfo.value, EventStreamError)
    assert error_code(excinfo) == "ThrottlingException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


# ---------------------------------------------------------------------------------------------
# Latency and pacing (lower bounds only: a loaded machine may be slower, never faster).


def test_latency_delays_the_response_by_at_least_its_ms(url):
    add_fault(url, {"inject": {"latency": {"ms": 300}}})
    started = time.monotonic()
    converse(runtime(url))
    assert time.monotonic() - started >= 0.29


def test_pace_delays_a_unary_converse_reply_by_at_least_its_first_token_ms(url):
    add_fault(url, {"inject": {"pace": {"firstTokenMs": 200, "tokensPerSecond": 1000}}})
    started = time.monotonic()
    converse(runtime(url))
    assert time.monotonic() - started >= 0.19


# ---------------------------------------------------------------------------------------------
# `on` conditions.

PROBABLE = "{name: p, on: {probability: 0.5}, inject: {error: {type: ThrottlingException}}}"


def probability_pattern(seed):
    with running("--fault", PROBABLE, "--seed", str(seed)) as emulator:
        return pattern(runtime(emulator.url), 20)


def test_a_probability_fault_fails_the_same_requests_for_the_same_seed_and_others_for_another_seed():
    first, again, other = probability_pattern(7), probability_pattern(7), probability_pattern(8)
    assert first == again
    assert "F" in first and "S" in first, first
    assert other != first


def test_every_fails_every_nth_matching_request(url):
    add_fault(url, {"on": {"every": 2}, "inject": {"error": {"type": "ThrottlingException"}}})
    assert pattern(runtime(url), 6) == "SFSFSF"


def test_every_counts_only_the_requests_the_rule_matches(url):
    add_fault(url, {"match": {"lastUserMessage": "flaky"}, "on": {"every": 2},
                    "inject": {"error": {"type": "ThrottlingException"}}})
    rt = runtime(url)
    outcomes = [outcome(lambda t=t: converse(rt, t)) for t in ["flaky", "other", "flaky", "other", "flaky", "flaky"]]
    assert outcomes == ["ok", "ok", "ThrottlingException", "ok", "ok", "ThrottlingException"]


def test_after_fails_from_the_nth_matching_request_on(url):
    add_fault(url, {"on": {"after": 3}, "inject": {"error": {"type": "ThrottlingException"}}})
    assert pattern(runtime(url), 5) == "SSFFF"


def test_times_limits_the_injections_and_a_reset_renews_them(url):
    name = add_fault(url, {"name": "once", "on": {"times": 1}, "inject": {"error": {"type": "ThrottlingException"}}})
    rt = runtime(url)
    assert pattern(rt, 4) == "FSSS"
    (listed,) = fault_listing(url)["faults"]
    assert (listed["name"], listed["hits"], listed["spent"]) == (name, 1, True)
    reset(url)
    assert pattern(rt, 2) == "FS"


def test_a_window_fires_only_inside_it_and_a_reset_opens_it_again(url):
    add_fault(url, {"on": {"window": {"fromMs": 0, "forMs": 1000}}, "inject": {"error": {"type": "ThrottlingException"}}})
    rt = runtime(url)
    assert pattern(rt, 1) == "F"
    time.sleep(1.2)
    assert pattern(rt, 1) == "S"
    reset(url)
    assert pattern(rt, 1) == "F"


def test_conditions_combine_every_and_times(url):
    add_fault(url, {"on": {"every": 2, "times": 2}, "inject": {"error": {"type": "ThrottlingException"}}})
    assert pattern(runtime(url), 8) == "SFSFSSSS"


# ---------------------------------------------------------------------------------------------
# Quotas (each test on an emulator of its own: its buckets are its own).


def quota_doc(*quotas):
    return {"version": 1, "quotas": list(quotas)}


def test_a_requests_per_minute_quota_throttles_the_third_call_within_a_minute():
    with running() as emulator:
        load_scenario(emulator.url, quota_doc({"model": HAIKU, "requestsPerMinute": 2}), name="rpm")
        rt = runtime(emulator.url)
        converse(rt)
        converse(rt)
        with pytest.raises(ClientError) as excinfo:
            converse(rt)
        assert error_code(excinfo) == "ThrottlingException"
        assert excinfo.value.response["Error"]["Message"] == THROTTLED
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        last = entries(emulator.url)[-1]
        assert (last["status"], last["faults"]) == (429, [f"quota:{HAIKU}:requestsPerMinute"])


def test_an_inference_profile_has_a_request_bucket_of_its_own():
    with running() as emulator:
        load_scenario(emulator.url, quota_doc({"model": f"*{HAIKU}", "requestsPerMinute": 2}), name="rpm")
        rt = runtime(emulator.url)
        assert [outcome(lambda: converse(rt, model=HAIKU)) for _ in range(3)] == ["ok", "ok", "ThrottlingException"]
        assert [outcome(lambda: converse(rt, model=HAIKU_PROFILE)) for _ in range(3)] == ["ok", "ok", "ThrottlingException"]


def test_a_quota_on_the_foundation_model_id_does_not_limit_its_inference_profile():
    with running() as emulator:
        load_scenario(emulator.url, quota_doc({"model": HAIKU, "requestsPerMinute": 1}), name="rpm")
        rt = runtime(emulator.url)
        assert [outcome(lambda: converse(rt, model=HAIKU)) for _ in range(2)] == ["ok", "ThrottlingException"]
        assert [outcome(lambda: converse(rt, model=HAIKU_PROFILE)) for _ in range(3)] == ["ok", "ok", "ok"]


TPM_PROMPT = " ".join(["Please summarise the quarterly report on regional sales and staffing."] * 6)
TPM_MAX_TOKENS = 400


def usage_tokens(response):
    usage = response["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    return usage["inputTokens"], usage["outputTokens"]


def test_tokens_per_minute_reserve_input_plus_max_tokens_and_settle_to_the_reported_usage():
    with running() as emulator:
        rt = runtime(emulator.url)

        def ask(max_tokens=TPM_MAX_TOKENS):
            return converse(rt, TPM_PROMPT, inferenceConfig={"maxTokens": max_tokens})

        # The usage the same three requests report without a quota.
        probe = [usage_tokens(ask()) for _ in range(3)]
        (i1, o1), (i2, o2), _ = probe
        assert i1 == i2 and o1 < TPM_MAX_TOKENS / 2, probe
        reset(emulator.url)
        # The second request is admitted only if the first one's reservation (input + maxTokens)
        # was settled to its reported usage (input + output); the third is over by half a request.
        margin = (i2 + o2) // 2
        tpm = (i1 + o1) + (i2 + TPM_MAX_TOKENS) + margin
        assert (i1 + TPM_MAX_TOKENS) * 2 > tpm  # without settling, the second would be refused
        load_scenario(emulator.url, quota_doc({"model": HAIKU, "tokensPerMinute": tpm}), name="tpm")
        assert usage_tokens(ask()) == probe[0]
        assert usage_tokens(ask()) == probe[1]
        with pytest.raises(ClientError) as excinfo:
            ask()
        assert error_code(excinfo) == "ThrottlingException"
        assert excinfo.value.response["Error"]["Message"] == TOO_MANY_TOKENS
        assert entries(emulator.url)[-1]["faults"] == [f"quota:{HAIKU}:tokensPerMinute"]
        # The refused request gave nothing up front; a request reserving fewer tokens still fits.
        assert usage_tokens(ask(max_tokens=1))[0] == i1


def test_serve_with_realistic_quotas_starts_and_serves():
    with running("--quotas", "realistic") as emulator:
        response = converse(runtime(emulator.url))
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        quotas = fault_listing(emulator.url)["quotas"]
        assert quotas
        assert any(q["quota"].get("requestsPerMinute") or q["quota"].get("tokensPerMinute") for q in quotas)


def test_serve_with_a_quotas_file_applies_it(tmp_path):
    quotas = tmp_path / "quotas.yaml"
    quotas.write_text(f"version: 1\nquotas:\n  - model: '{HAIKU}'\n    requestsPerMinute: 1\n")
    with running("--quotas", str(quotas)) as emulator:
        rt = runtime(emulator.url)
        assert [outcome(lambda: converse(rt)) for _ in range(2)] == ["ok", "ThrottlingException"]


# ---------------------------------------------------------------------------------------------
# The attempt fallback for clients that send no amz-sdk-* headers.


def test_identical_requests_without_sdk_headers_count_as_attempts_until_one_succeeds(url):
    add_fault(url, {"name": "flaky", "on": {"attempts": 2}, "inject": {"error": {"type": "ThrottlingException"}}})
    body = json.dumps({"messages": [user("curl says hi")]}).encode()
    statuses = [raw_converse(url, body)[0] for _ in range(4)]
    assert statuses == [429, 429, 200, 429]
    journal = entries(url)
    assert [e["attempt"] for e in journal] == [1, 2, 3, 1]
    assert [e["faults"] for e in journal] == [["flaky"], ["flaky"], [], ["flaky"]]


def test_a_different_request_without_sdk_headers_is_a_new_first_attempt(url):
    add_fault(url, {"name": "flaky", "on": {"attempts": 1}, "inject": {"error": {"type": "ThrottlingException"}}})
    first = json.dumps({"messages": [user("one")]}).encode()
    second = json.dumps({"messages": [user("two")]}).encode()
    assert [raw_converse(url, first)[0], raw_converse(url, second)[0], raw_converse(url, first)[0]] == [429, 429, 200]


# ---------------------------------------------------------------------------------------------
# Bad rules, listing and deleting.


@pytest.mark.parametrize(
    "rule, position, reason",
    [
        ("{inject: {rest: {}}}", "line 1 column 11", "unknown field `rest`"),
        ("{inject: {error: {type: ThrottlingException}, latency: {ms: 5}}}", "line 1 column 1", "`inject` mixes kinds"),
        ("{on: {probability: 1.5}, inject: {error: {type: ThrottlingException}}}", "line 1 column 6",
         "probability must be between 0 and 1 (got 1.5)"),
        ("name: x\ninject:\n  error: {type: TooManyCooksException}\n", "line 3 column ",
         "unknown error type `TooManyCooksException`"),
    ],
    ids=["unknown-kind", "two-kinds", "bad-probability", "unknown-error-type"],
)
def test_a_bad_fault_rule_is_refused_with_a_validation_exception_naming_line_column_and_reason(url, rule, position, reason):
    response = admin(url, "POST", "faults", rule)
    assert response.status == 400
    assert response.headers["x-amzn-ErrorType"].split(":", 1)[0] == "ValidationException"
    assert position in response.json["message"]
    assert reason in response.json["message"]
    assert isinstance(response.json["line"], int) and isinstance(response.json["column"], int)
    assert fault_listing(url)["faults"] == []


def test_serve_refuses_a_bad_fault_flag_with_exit_code_2():
    done = serve_failure("--fault", "{inject: {rest: {}}}")
    assert done.returncode == 2
    assert "listening on" not in done.stdout
    assert "invalid fault rule" in done.stderr
    assert "--fault #1: line 1 column " in done.stderr


def test_serve_refuses_a_missing_quotas_file_with_exit_code_2():
    done = serve_failure("--quotas", "/nonexistent")
    assert done.returncode == 2
    assert "listening on" not in done.stdout
    assert "/nonexistent" in done.stderr


def test_a_scenario_file_with_a_bad_faults_entry_is_refused_at_startup_with_its_file_and_line(tmp_path):
    bad = tmp_path / "faulty.yaml"
    bad.write_text("version: 1\nfaults:\n  - name: broken\n    inject:\n      error: {type: TooManyCooksException}\n")
    done = serve_failure("--scenarios", str(bad))
    assert done.returncode == 2
    assert "listening on" not in done.stdout
    assert f"{bad}: line 5 column " in done.stderr
    assert "unknown error type `TooManyCooksException`" in done.stderr


def test_deleting_an_unknown_fault_is_a_404_resource_not_found(url):
    response = admin(url, "DELETE", "faults/unknown")
    assert response.status == 404
    assert response.headers["x-amzn-ErrorType"].split(":", 1)[0] == "ResourceNotFoundException"


def test_deleting_a_fault_by_name_stops_it(url):
    add_fault(url, {"name": "gone-soon", "inject": {"error": {"type": "ThrottlingException"}}})
    rt = runtime(url)
    assert pattern(rt, 1) == "F"
    assert admin_ok(url, "DELETE", "faults/gone-soon") == {"deleted": "gone-soon"}
    assert pattern(rt, 1) == "S"
    assert fault_listing(url)["faults"] == []


def test_the_fault_listing_counts_matches_and_hits(url):
    add_fault(url, {"name": "counted", "match": {"lastUserMessage": "count me"}, "on": {"every": 2},
                    "inject": {"error": {"type": "ThrottlingException"}}})
    rt = runtime(url)
    for text in ["count me", "count me", "count me", "not me"]:
        outcome(lambda t=text: converse(rt, t))
    (listed,) = fault_listing(url)["faults"]
    assert (listed["name"], listed["matched"], listed["hits"], listed["spent"]) == ("counted", 3, 1, False)
    assert listed["origin"]["kind"] == "api"
    assert listed["rule"]["inject"] == {"error": {"type": "ThrottlingException"}}


def test_a_fault_flag_is_listed_with_its_origin_and_default_name():
    with running("--fault", "{inject: {latency: {ms: 1}}}") as emulator:
        (listed,) = fault_listing(emulator.url)["faults"]
        assert listed["origin"]["kind"] == "flag"
        assert listed["name"] == "flag-latency-1"


# ---------------------------------------------------------------------------------------------
# Hot reload of a scenario file's `faults:` list.


FAULTS_FILE = """version: 1
faults:
  - name: {name}
    match: {{operation: {operation}}}
    inject: {{error: {{type: ThrottlingException}}}}
"""


def test_an_edited_faults_list_applies_while_the_emulator_runs(tmp_path):
    scenario = tmp_path / "faults.yaml"
    scenario.write_text(FAULTS_FILE.format(name="streams-only", operation="ConverseStream"))
    with running("--scenarios", str(tmp_path)) as emulator:
        rt = runtime(emulator.url)
        assert outcome(lambda: converse(rt)) == "ok"
        rewrite(scenario, FAULTS_FILE.format(name="everything", operation="Converse"))
        wait_until(lambda: outcome(lambda: converse(rt)) == "ThrottlingException", timeout=3, interval=0.2)
        assert [f["name"] for f in fault_listing(emulator.url)["faults"]] == ["everything"]
        rewrite(scenario, "version: 1\nfaults: []\n")
        wait_until(lambda: outcome(lambda: converse(rt)) == "ok", timeout=3, interval=0.2)
        assert fault_listing(emulator.url)["faults"] == []
