"""The request journal from Python: what each request looked like and who answered it,
credentials redacted, filters, bounded capacity, clearing, and the verify endpoint with its
near-miss explanations (emulator/src/server/journal.rs, emulator/src/server/admin.rs)."""
import json
import re
import urllib.error
import urllib.request

import pytest

from conftest import RunningEmulator
from emulator_admin import (
    HAIKU,
    HAIKU_PROFILE,
    NOVA_MICRO,
    SECRET_KEY,
    admin,
    admin_ok,
    anthropic_body,
    clear_journal,
    clear_scenarios,
    client,
    entries,
    journal,
    last_entry,
    load_scenario,
    reset,
    stream_events,
    user,
    verify,
)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
WEATHER_TOOL = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
}
TIME_TOOL = {
    "toolSpec": {
        "name": "get_time",
        "description": "Current time",
        "inputSchema": {"json": {"type": "object", "properties": {}}},
    }
}


@pytest.fixture(scope="module")
def emu():
    running = RunningEmulator()
    yield running
    running.stop()


@pytest.fixture
def url(emu):
    """The emulator URL, with an empty journal and no scenario rules."""
    clear_scenarios(emu.url)
    reset(emu.url)
    return emu.url


@pytest.fixture
def rt(url):
    return client("bedrock-runtime", url)


@pytest.fixture
def bc(url):
    return client("bedrock", url)


def converse(rt, text, model=HAIKU, **kwargs):
    return rt.converse(modelId=model, messages=[user(text)], **kwargs)


def headers_of(entry):
    return dict(entry["headers"])


# ---------------------------------------------------------------------------------------------
# What an entry holds.


def test_a_converse_request_is_recorded_with_its_operation_model_texts_tools_and_body(rt, url):
    messages = [user("first"), {"role": "assistant", "content": [{"text": "ok"}]}, user("What is the weather in Oslo?")]
    system = [{"text": "You are terse."}, {"text": "Use metric units."}]
    tool_config = {"tools": [WEATHER_TOOL, TIME_TOOL]}
    rt.converse(modelId=HAIKU, messages=messages, system=system, toolConfig=tool_config, inferenceConfig={"maxTokens": 50})
    entry = last_entry(url)
    assert entry["operation"] == "Converse"
    assert (entry["modelId"], entry["resolvedModel"]) == (HAIKU, HAIKU)
    assert entry["lastUserText"] == "What is the weather in Oslo?"
    assert entry["systemText"] == "You are terse.\nUse metric units."
    assert entry["toolNames"] == ["get_weather", "get_time"]
    assert entry["body"] == {"messages": messages, "system": system, "toolConfig": tool_config, "inferenceConfig": {"maxTokens": 50}}


def test_an_entry_records_method_path_time_request_id_status_and_duration(rt, url):
    response = converse(rt, "hi")
    entry = last_entry(url)
    assert (entry["method"], entry["path"]) == ("POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
    assert RFC3339.match(entry["time"]), entry["time"]
    assert entry["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert entry["status"] == 200
    assert isinstance(entry["durationMs"], (int, float)) and entry["durationMs"] >= 0
    assert entry["seq"] == 1


def test_entries_are_numbered_in_arrival_order(rt, url):
    for text in ["one", "two", "three"]:
        converse(rt, text)
    assert [(e["seq"], e["lastUserText"]) for e in entries(url)] == [(1, "one"), (2, "two"), (3, "three")]


def test_an_inference_profile_is_recorded_as_sent_and_as_resolved(rt, url):
    converse(rt, "hi", model=HAIKU_PROFILE)
    entry = last_entry(url)
    assert (entry["modelId"], entry["resolvedModel"]) == (HAIKU_PROFILE, HAIKU)


def test_an_invoke_model_request_is_recorded_with_its_native_body(rt, url):
    body = anthropic_body("native hello", system="Be kind.")
    rt.invoke_model(modelId=HAIKU, body=body)
    entry = last_entry(url)
    assert entry["operation"] == "InvokeModel"
    assert entry["body"] == json.loads(body)
    assert (entry["lastUserText"], entry["systemText"]) == ("native hello", "Be kind.")


def test_a_streaming_request_is_recorded_under_its_own_operation(rt, url):
    stream_events(rt.converse_stream(modelId=HAIKU, messages=[user("stream me")]))
    entry = last_entry(url)
    assert (entry["operation"], entry["lastUserText"], entry["status"]) == ("ConverseStream", "stream me", 200)


def test_an_entry_without_system_prompt_or_tools_omits_those_fields(rt, url):
    converse(rt, "plain")
    entry = last_entry(url)
    assert "systemText" not in entry and "toolNames" not in entry


def test_the_synthetic_model_is_recorded_as_answered_by_synthetic(rt, url):
    converse(rt, "hi")
    assert last_entry(url)["answeredBy"] == "synthetic"


def test_a_builtin_control_plane_operation_is_recorded_as_answered_by_builtin(bc, url):
    bc.list_foundation_models()
    entry = last_entry(url)
    assert (entry["operation"], entry["answeredBy"], entry["status"]) == ("ListFoundationModels", "builtin", 200)
    assert "modelId" not in entry


def test_a_scripted_reply_is_recorded_as_answered_by_its_source_and_rule(rt, url):
    load_scenario(url, {"version": 1, "rules": [{"name": "greeter", "reply": {"text": "hello"}}]}, name="app")
    converse(rt, "hi")
    assert last_entry(url)["answeredBy"] == "scenario:app/greeter"


def test_an_unnamed_rule_is_recorded_by_its_position(rt, url):
    load_scenario(url, {"version": 1, "rules": [{"match": {"lastUserMessage": "x"}, "reply": {"text": "x"}}, {"reply": {"text": "y"}}]}, name="app")
    converse(rt, "hi")
    assert last_entry(url)["answeredBy"] == "scenario:app/rule-2"


def test_a_scripted_error_is_recorded_with_its_status_and_the_rule_that_answered(rt, url):
    load_scenario(url, {"version": 1, "rules": [{"name": "busy", "reply": {"error": {"type": "ThrottlingException"}}}]}, name="app")
    with pytest.raises(rt.exceptions.ThrottlingException):
        converse(rt, "hi")
    entry = last_entry(url)
    assert (entry["answeredBy"], entry["status"]) == ("scenario:app/busy", 429)


def test_a_refused_request_is_recorded_as_answered_by_error_with_the_status_sent(rt, url):
    with pytest.raises(rt.exceptions.ClientError) as excinfo:
        converse(rt, "hi", model="anthropic.claude-nonexistent-v9:0")
    entry = last_entry(url)
    assert entry["answeredBy"] == "error"
    assert entry["status"] == excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 400


def test_an_unknown_route_is_recorded_with_an_unknown_operation(url):
    request = urllib.request.Request(f"{url}/no/such/route", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 404
    entry = last_entry(url)
    assert (entry["operation"], entry["answeredBy"], entry["status"], entry["path"]) == ("(unknown)", "error", 404, "/no/such/route")


def test_admin_requests_are_not_recorded(url):
    admin_ok(url, "GET", "health")
    admin_ok(url, "GET", "scenarios")
    verify(url, {})
    assert journal(url)["recorded"] == 0


def test_a_very_large_body_is_journaled_as_a_truncation_marker_but_still_matched(rt, url):
    load_scenario(
        url,
        {"version": 1, "rules": [{"name": "big", "match": {"json": [{"path": "/messages/0/content/0/text", "text": "NEEDLE"}]}, "reply": {"text": "found it"}}]},
        name="app",
    )
    text = "hay " * 70_000 + "NEEDLE"
    response = converse(rt, text)
    assert response["output"]["message"]["content"][0]["text"] == "found it"
    entry = last_entry(url)
    assert entry["answeredBy"] == "scenario:app/big"
    assert set(entry["body"]) == {"_truncated"}
    assert entry["body"]["_truncated"]["bytes"] > 256 * 1024


# ---------------------------------------------------------------------------------------------
# Headers and credentials.


def test_the_authorization_header_is_recorded_as_redacted(rt, url):
    converse(rt, "hi")
    assert headers_of(last_entry(url))["authorization"] == "REDACTED"


def test_headers_are_recorded_with_lower_case_names(rt, url):
    converse(rt, "hi")
    headers = headers_of(last_entry(url))
    assert headers["content-type"] == "application/json"
    assert "Boto3/" in headers["user-agent"]
    assert all(name == name.lower() for name in headers)


def test_no_credential_or_signature_appears_anywhere_in_the_journal(url):
    token = "SESSION-TOKEN-THAT-MUST-STAY-SECRET"
    secretive = client("bedrock-runtime", url, session_token=token)
    sent = {}

    def capture(request, **_):
        value = request.headers["Authorization"]
        sent["authorization"] = value.decode() if isinstance(value, bytes) else value

    secretive.meta.events.register("before-send.bedrock-runtime.Converse", capture)
    converse(secretive, "keep my secrets")
    signature = re.search(r"Signature=([0-9a-f]+)", sent["authorization"]).group(1)
    dump = json.dumps(journal(url))
    for secret in [SECRET_KEY, token, signature, sent["authorization"]]:
        assert secret not in dump
    headers = headers_of(last_entry(url))
    assert headers["authorization"] == "REDACTED"
    assert headers["x-amz-security-token"] == "REDACTED"


# ---------------------------------------------------------------------------------------------
# Listing filters.


def drive_mixed_traffic(rt, bc):
    converse(rt, "a")
    converse(rt, "b", model=NOVA_MICRO)
    bc.list_foundation_models()
    converse(rt, "c", model=HAIKU_PROFILE)
    rt.invoke_model(modelId=HAIKU, body=anthropic_body("d"))


def test_the_operation_filter_keeps_only_that_operation(rt, bc, url):
    drive_mixed_traffic(rt, bc)
    assert [e["lastUserText"] for e in entries(url, operation="Converse")] == ["a", "b", "c"]
    assert [e["operation"] for e in entries(url, operation="ListFoundationModels")] == ["ListFoundationModels"]


def test_the_model_filter_is_a_glob_over_the_model_as_sent_and_as_resolved(rt, bc, url):
    drive_mixed_traffic(rt, bc)
    assert [e["lastUserText"] for e in entries(url, model="*haiku*")] == ["a", "c", "d"]
    assert [e["lastUserText"] for e in entries(url, model="us.*")] == ["c"]
    assert [e["lastUserText"] for e in entries(url, model="amazon.nova-micro-v1:0")] == ["b"]


def test_the_limit_keeps_the_newest_entries_oldest_first(rt, bc, url):
    drive_mixed_traffic(rt, bc)
    assert [e["seq"] for e in entries(url, limit=2)] == [4, 5]


def test_filters_combine(rt, bc, url):
    drive_mixed_traffic(rt, bc)
    assert [e["lastUserText"] for e in entries(url, operation="Converse", model="*haiku*", limit=1)] == ["c"]


def test_the_listing_reports_total_recorded_dropped_and_capacity_whatever_the_filter(rt, bc, url):
    drive_mixed_traffic(rt, bc)
    listing = journal(url, operation="InvokeModel")
    assert len(listing["entries"]) == 1
    assert (listing["total"], listing["recorded"], listing["dropped"], listing["capacity"]) == (5, 5, 0, 1000)


def test_a_limit_that_is_not_a_number_is_a_400(url):
    response = admin(url, "GET", "journal", limit="ten")
    assert response.status == 400
    assert "whole number" in response.json["message"]


# ---------------------------------------------------------------------------------------------
# Capacity and clearing.


@pytest.fixture
def small():
    running = RunningEmulator("--journal-capacity", "5")
    yield running
    running.stop()


def test_a_bounded_journal_keeps_the_newest_entries_and_counts_the_dropped(small):
    rt = client("bedrock-runtime", small.url)
    for i in range(8):
        converse(rt, f"request {i}")
    listing = journal(small.url)
    assert [e["lastUserText"] for e in listing["entries"]] == [f"request {i}" for i in range(3, 8)]
    assert [e["seq"] for e in listing["entries"]] == [4, 5, 6, 7, 8]
    assert (listing["total"], listing["recorded"], listing["dropped"], listing["capacity"]) == (5, 8, 3, 5)


def test_verify_reports_how_many_entries_were_dropped_unchecked(small):
    rt = client("bedrock-runtime", small.url)
    for i in range(8):
        converse(rt, f"request {i}")
    result = verify(small.url, {"operation": "Converse"}, 8)
    assert (result["ok"], result["matched"], result["dropped"]) == (False, 5, 3)


def test_deleting_the_journal_clears_entries_and_counters(rt, url):
    for text in ["one", "two"]:
        converse(rt, text)
    assert admin_ok(url, "DELETE", "journal") == {"cleared": True}
    listing = journal(url)
    assert (listing["entries"], listing["total"], listing["recorded"], listing["dropped"]) == ([], 0, 0, 0)
    converse(rt, "three")
    assert [(e["seq"], e["lastUserText"]) for e in entries(url)] == [(1, "three")]


def test_deleting_the_journal_keeps_rules_and_their_counters(rt, url):
    load_scenario(url, {"version": 1, "rules": [{"replies": [{"text": "one"}, {"text": "two"}]}]}, name="seq")
    converse(rt, "hi")
    clear_journal(url)
    assert converse(rt, "hi")["output"]["message"]["content"][0]["text"] == "two"


# ---------------------------------------------------------------------------------------------
# Verification.

TERSE = [{"text": "You are terse."}]


def app_traffic(rt):
    """What an application under test did: two Converse calls with the terse system prompt,
    one with another prompt, and one ConverseStream with the terse prompt."""
    converse(rt, "first", system=TERSE)
    converse(rt, "second", system=[{"text": "You are verbose."}])
    converse(rt, "third", system=TERSE)
    stream_events(rt.converse_stream(modelId=HAIKU, messages=[user("fourth")], system=TERSE))


def test_verify_confirms_my_app_called_converse_exactly_twice_with_the_system_prompt(rt, url):
    app_traffic(rt)
    result = verify(url, {"operation": "Converse", "system": {"equals": "You are terse."}}, 2)
    assert result == {"ok": True, "matched": 2, "expected": {"equals": 2}, "nearMisses": [], "dropped": 0}


def test_verify_fails_a_wrong_exact_count_and_lists_the_near_misses_with_their_failed_conditions(rt, url):
    app_traffic(rt)
    result = verify(url, {"operation": "Converse", "system": {"equals": "You are terse."}}, 3)
    assert (result["ok"], result["matched"]) == (False, 2)
    misses = {m["seq"]: m for m in result["nearMisses"]}
    assert set(misses) == {2, 4}
    assert misses[2]["operation"] == "Converse"
    assert misses[2]["failures"] == ['system prompt "You are verbose." does not satisfy: equals "You are terse."']
    assert misses[4]["operation"] == "ConverseStream"
    assert misses[4]["failures"] == ["operation is ConverseStream (wanted Converse)"]


def test_near_misses_come_closest_first(rt, url):
    app_traffic(rt)
    result = verify(url, {"operation": "Converse", "lastUserMessage": "first", "system": "terse"}, 2)
    failures = [len(m["failures"]) for m in result["nearMisses"]]
    assert failures == sorted(failures)
    assert result["nearMisses"][0]["seq"] == 3  # only its text differs


def test_verify_lists_at_most_five_near_misses(rt, url):
    for i in range(7):
        converse(rt, f"message {i}")
    result = verify(url, {"lastUserMessage": "absent"}, 1)
    assert result["ok"] is False
    assert len(result["nearMisses"]) == 5


def test_verify_accepts_at_least_and_at_most_bounds(rt, url):
    app_traffic(rt)
    terse = {"system": "terse"}
    assert verify(url, terse, {"atLeast": 2})["ok"] is True
    assert verify(url, terse, {"atMost": 3})["ok"] is True
    assert verify(url, terse, {"atLeast": 1, "atMost": 3})["ok"] is True
    assert verify(url, terse, {"atLeast": 4})["ok"] is False
    assert verify(url, terse, {"atMost": 2})["ok"] is False


def test_verify_without_a_count_means_at_least_once(rt, url):
    assert verify(url, {"operation": "Converse"})["ok"] is False
    converse(rt, "hi")
    result = verify(url, {"operation": "Converse"})
    assert (result["ok"], result["expected"]) == (True, {"atLeast": 1})


def test_verify_can_assert_a_request_never_happened(rt, url):
    app_traffic(rt)
    result = verify(url, {"operation": "InvokeModel"}, 0)
    assert (result["ok"], result["matched"]) == (True, 0)


def test_verify_matches_tools_json_and_headers_like_scenario_rules(rt, url):
    converse(rt, "weather?", toolConfig={"tools": [WEATHER_TOOL]}, inferenceConfig={"maxTokens": 64})
    converse(rt, "plain")
    assert verify(url, {"tool": "get_weather", "json": [{"path": "/inferenceConfig/maxTokens", "equals": 64}]}, 1)["ok"]
    assert verify(url, {"tools": False}, 1)["ok"]
    assert verify(url, {"headers": {"User-Agent": "Boto3"}}, 2)["ok"]
    assert verify(url, {"model": "anthropic.*"}, 2)["ok"]


def test_verify_counts_scripted_failures_too(rt, url):
    load_scenario(url, {"version": 1, "rules": [{"reply": {"error": {"type": "ThrottlingException"}}}]}, name="app")
    for _ in range(2):
        with pytest.raises(rt.exceptions.ThrottlingException):
            converse(rt, "hi")
    assert verify(url, {"operation": "Converse"}, 2)["ok"]


def test_a_malformed_verify_request_is_a_400_explaining_the_expected_shape(url):
    for body in ["not json", json.dumps({"match": {}, "cuont": 1}), json.dumps({"match": {"operation": "Conversee"}})]:
        response = admin(url, "POST", "verify", body)
        assert response.status == 400, body
        assert '"match"' in response.json["message"]
