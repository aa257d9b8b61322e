"""Scripted replies through real boto3 clients: every match condition and reply kind of the
scenario format (emulator/src/scenario/format.rs), priorities and declaration order,
sequences, named-scenario states, retries, pacing, strict mode and the shipped example stories.

Most tests share one emulator whose rules are replaced through the admin API before each
test (and its counters, states and journal reset), so every test states its own rules."""
import json

import pytest
from botocore.exceptions import ClientError, EventStreamError

from conftest import ROOT, RunningEmulator
from emulator_admin import (
    admin,
    HAIKU,
    HAIKU_PROFILE,
    NOVA_MICRO,
    TITAN_TEXT,
    anthropic_body,
    anthropic_stream_text,
    assistant,
    chunks,
    clear_scenarios,
    client,
    entries,
    last_entry,
    listing,
    load_scenario,
    reset,
    retrying_client,
    stream_events,
    streamed_text,
    text_of,
    tool_uses,
    user,
)

EXAMPLES = ROOT / "scenarios" / "examples"

WEATHER_TOOL = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            }
        },
    }
}
TIME_TOOL = {
    "toolSpec": {
        "name": "get_time",
        "description": "Current time in a timezone",
        "inputSchema": {"json": {"type": "object", "properties": {"timezone": {"type": "string"}}}},
    }
}


def doc(*rules):
    """A version-1 scenario document with these rules."""
    return {"version": 1, "rules": list(rules)}


# ---------------------------------------------------------------------------------------------
# The shared emulator, scripted per test.


@pytest.fixture(scope="module")
def emu():
    running = RunningEmulator()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def rt(emu):
    return client("bedrock-runtime", emu.url)


@pytest.fixture(scope="module")
def bc(emu):
    return client("bedrock", emu.url)


@pytest.fixture
def script(emu):
    """Replaces every rule with the given document (rules, counters, states, journal reset)."""
    clear_scenarios(emu.url)
    reset(emu.url)

    def load(document, name="test"):
        return load_scenario(emu.url, document, name=name)

    return load


def converse(rt, text, model=HAIKU, **kwargs):
    return rt.converse(modelId=model, messages=[user(text)], **kwargs)


def converse_stream(rt, text, model=HAIKU, **kwargs):
    return stream_events(rt.converse_stream(modelId=model, messages=[user(text)], **kwargs))


def answered_by(emu):
    return last_entry(emu.url)["answeredBy"]


def scripted_text(rt, emu, text, model=HAIKU, **kwargs):
    """The Converse text of `text`, or None when the synthetic model answered."""
    response = converse(rt, text, model=model, **kwargs)
    return text_of(response) if answered_by(emu).startswith("scenario:") else None


def error_of(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


# ---------------------------------------------------------------------------------------------
# Match conditions.


def test_a_rule_without_conditions_answers_every_inference_request(rt, emu, script):
    script(doc({"name": "all", "reply": {"text": "always this"}}))
    assert text_of(converse(rt, "anything")) == "always this"
    assert text_of(converse(rt, "something else", model=NOVA_MICRO)) == "always this"
    assert answered_by(emu) == "scenario:test/all"


def test_an_operation_condition_answers_only_the_named_operation(rt, emu, script):
    script(doc({"name": "s", "match": {"operation": "ConverseStream"}, "reply": {"text": "streamed only"}}))
    assert streamed_text(converse_stream(rt, "hi")) == "streamed only"
    assert answered_by(emu) == "scenario:test/s"
    assert text_of(converse(rt, "hi")) != "streamed only"
    assert answered_by(emu) == "synthetic"


def test_an_operation_list_answers_each_listed_operation(rt, emu, script):
    script(doc({"match": {"operation": ["Converse", "InvokeModel"]}, "reply": {"text": "listed"}}))
    assert text_of(converse(rt, "hi")) == "listed"
    native = json.loads(rt.invoke_model(modelId=HAIKU, body=anthropic_body("hi"))["body"].read())
    assert native["content"][0]["text"] == "listed"
    converse_stream(rt, "hi")
    assert answered_by(emu) == "synthetic"


def test_a_model_glob_matches_the_model_id_and_other_models_get_the_synthetic_model(rt, emu, script):
    script(doc({"match": {"model": "anthropic.claude-3-haiku-*"}, "reply": {"text": "haiku rule"}}))
    assert scripted_text(rt, emu, "hi", model=HAIKU) == "haiku rule"
    assert scripted_text(rt, emu, "hi", model=NOVA_MICRO) is None


def test_a_model_glob_matches_the_foundation_model_an_inference_profile_resolves_to(rt, emu, script):
    script(doc({"match": {"model": "anthropic.claude-3-haiku-*"}, "reply": {"text": "haiku rule"}}))
    assert scripted_text(rt, emu, "hi", model=HAIKU_PROFILE) == "haiku rule"


def test_a_model_glob_can_target_the_inference_profile_id_as_sent(rt, emu, script):
    script(doc({"match": {"model": "us.*"}, "reply": {"text": "via a profile"}}))
    assert scripted_text(rt, emu, "hi", model=HAIKU_PROFILE) == "via a profile"
    assert scripted_text(rt, emu, "hi", model=HAIKU) is None


def test_a_question_mark_in_a_model_glob_matches_exactly_one_character(rt, emu, script):
    script(
        doc(
            {"name": "too-short", "match": {"model": "anthropic.claude-3-hai?-20240307-v1:0"}, "reply": {"text": "never"}},
            {"name": "one", "match": {"model": "anthropic.claude-3-haik?-20240307-v1:0"}, "reply": {"text": "one char"}},
        )
    )
    assert scripted_text(rt, emu, "hi") == "one char"
    assert scripted_text(rt, emu, "hi", model=NOVA_MICRO) is None


def test_a_plain_string_last_user_message_condition_means_contains(rt, emu, script):
    script(doc({"match": {"lastUserMessage": "refund"}, "reply": {"text": "refund policy"}}))
    assert scripted_text(rt, emu, "How do I get a refund for my order?") == "refund policy"
    assert scripted_text(rt, emu, "How do I get a REFUND?") is None


def test_last_user_message_equals_requires_the_whole_text(rt, emu, script):
    script(doc({"match": {"lastUserMessage": {"equals": "ping"}}, "reply": {"text": "pong"}}))
    assert scripted_text(rt, emu, "ping") == "pong"
    assert scripted_text(rt, emu, "ping please") is None


def test_last_user_message_regex_matches_anywhere_in_the_text(rt, emu, script):
    script(doc({"match": {"lastUserMessage": {"regex": "order #[0-9]{4}"}}, "reply": {"text": "order found"}}))
    assert scripted_text(rt, emu, "Where is order #1234 now?") == "order found"
    assert scripted_text(rt, emu, "Where is order #12?") is None


def test_ignore_case_folds_contains_and_equals(rt, emu, script):
    script(
        doc(
            {"match": {"lastUserMessage": {"equals": "HELLO THERE", "ignoreCase": True}}, "reply": {"text": "equals"}},
            {"match": {"lastUserMessage": {"contains": "WeAtHeR", "ignoreCase": True}}, "reply": {"text": "contains"}},
        )
    )
    assert scripted_text(rt, emu, "hello there") == "equals"
    assert scripted_text(rt, emu, "what is the WEATHER like") == "contains"


def test_only_the_last_user_message_is_matched_not_earlier_turns(rt, emu, script):
    script(doc({"match": {"lastUserMessage": "first question"}, "reply": {"text": "matched"}}))
    messages = [user("first question"), assistant("an answer"), user("a follow-up")]
    rt.converse(modelId=HAIKU, messages=messages)
    assert answered_by(emu) == "synthetic"
    rt.converse(modelId=HAIKU, messages=[user("a follow-up"), assistant("an answer"), user("first question")])
    assert answered_by(emu) == "scenario:test/rule-1"


def test_a_system_condition_matches_the_system_prompt(rt, emu, script):
    script(doc({"match": {"system": "pirate"}, "reply": {"text": "Arr!"}}))
    assert scripted_text(rt, emu, "hi", system=[{"text": "You are a pirate."}]) == "Arr!"
    assert scripted_text(rt, emu, "hi", system=[{"text": "You are a librarian."}]) is None
    assert scripted_text(rt, emu, "hi") is None


def test_a_system_equals_condition_sees_every_system_block_joined_by_newlines(rt, emu, script):
    script(doc({"match": {"system": {"equals": "Be brief.\nAnswer in French."}}, "reply": {"text": "Oui."}}))
    system = [{"text": "Be brief."}, {"text": "Answer in French."}]
    assert scripted_text(rt, emu, "hi", system=system) == "Oui."


def test_tools_true_matches_only_requests_that_offer_tools(rt, emu, script):
    script(doc({"match": {"tools": True}, "reply": {"text": "tools offered"}}))
    assert scripted_text(rt, emu, "hi", toolConfig={"tools": [TIME_TOOL]}) == "tools offered"
    assert scripted_text(rt, emu, "hi") is None


def test_tools_false_matches_only_requests_without_tools(rt, emu, script):
    script(doc({"match": {"tools": False}, "reply": {"text": "no tools"}}))
    assert scripted_text(rt, emu, "hi") == "no tools"
    assert scripted_text(rt, emu, "hi", toolConfig={"tools": [TIME_TOOL]}) is None


def test_a_tool_condition_matches_when_a_tool_of_that_name_is_offered(rt, emu, script):
    script(doc({"match": {"tool": "get_weather"}, "reply": {"text": "weather tool seen"}}))
    both = {"tools": [TIME_TOOL, WEATHER_TOOL]}
    assert scripted_text(rt, emu, "hi", toolConfig=both) == "weather tool seen"
    assert scripted_text(rt, emu, "hi", toolConfig={"tools": [TIME_TOOL]}) is None


def test_a_json_equals_condition_compares_the_value_at_a_json_pointer(rt, emu, script):
    script(doc({"match": {"json": [{"path": "/inferenceConfig/maxTokens", "equals": 77}]}, "reply": {"text": "77"}}))
    assert scripted_text(rt, emu, "hi", inferenceConfig={"maxTokens": 77}) == "77"
    assert scripted_text(rt, emu, "hi", inferenceConfig={"maxTokens": 78}) is None


def test_a_json_exists_condition_checks_presence_and_absence(rt, emu, script):
    script(
        doc(
            {"match": {"json": [{"path": "/inferenceConfig/temperature", "exists": True}]}, "reply": {"text": "has"}},
            {"match": {"json": [{"path": "/inferenceConfig", "exists": False}]}, "reply": {"text": "lacks"}},
        )
    )
    assert scripted_text(rt, emu, "hi", inferenceConfig={"temperature": 0.5}) == "has"
    assert scripted_text(rt, emu, "hi") == "lacks"
    assert scripted_text(rt, emu, "hi", inferenceConfig={"maxTokens": 10}) is None


def test_a_json_text_condition_matches_a_value_of_a_native_invoke_model_body(rt, emu, script):
    script(
        doc(
            {
                "match": {"json": [{"path": "/anthropic_version", "text": {"regex": "^bedrock-\\d{4}"}}]},
                "reply": {"text": "native body matched"},
            }
        )
    )
    native = json.loads(rt.invoke_model(modelId=HAIKU, body=anthropic_body("hi"))["body"].read())
    assert native["content"][0]["text"] == "native body matched"


def test_a_json_text_condition_compares_numbers_as_their_text(rt, emu, script):
    script(doc({"match": {"json": [{"path": "/max_tokens", "text": {"equals": "321"}}]}, "reply": {"text": "321"}}))
    rt.invoke_model(modelId=HAIKU, body=anthropic_body("hi", max_tokens=321))
    assert answered_by(emu) == "scenario:test/rule-1"


def test_header_conditions_match_request_headers_with_case_insensitive_names(rt, emu, script):
    script(doc({"match": {"headers": {"X-Tenant": "acme"}}, "reply": {"text": "tenant acme"}}))
    tenant = client("bedrock-runtime", emu.url)

    def add_tenant(request, **_):
        request.headers["x-tenant"] = "acme-eu"

    tenant.meta.events.register("before-sign.bedrock-runtime.Converse", add_tenant)
    assert text_of(converse(tenant, "hi")) == "tenant acme"
    assert scripted_text(rt, emu, "hi") is None


def test_request_count_equals_answers_only_that_request(rt, emu, script):
    script(doc({"match": {"requestCount": {"equals": 2}}, "reply": {"text": "second"}}))
    assert [scripted_text(rt, emu, "hi") for _ in range(3)] == [None, "second", None]


def test_request_count_bounds_answer_a_window_of_requests(rt, emu, script):
    script(doc({"match": {"requestCount": {"atLeast": 2, "atMost": 3}}, "reply": {"text": "in window"}}))
    assert [scripted_text(rt, emu, "hi") for _ in range(4)] == [None, "in window", "in window", None]


def test_request_count_counts_only_requests_meeting_the_other_conditions(rt, emu, script):
    script(doc({"match": {"lastUserMessage": "count me", "requestCount": {"equals": 2}}, "reply": {"text": "2nd"}}))
    assert scripted_text(rt, emu, "count me") is None
    assert scripted_text(rt, emu, "not me") is None
    assert scripted_text(rt, emu, "count me") == "2nd"


def test_request_count_includes_requests_another_rule_answered_first(rt, emu, script):
    script(
        doc(
            {"name": "vip", "priority": 1, "match": {"lastUserMessage": "vip"}, "reply": {"text": "vip"}},
            {"name": "second-request", "match": {"requestCount": {"equals": 2}}, "reply": {"text": "second"}},
        )
    )
    assert scripted_text(rt, emu, "vip") == "vip"
    # This is the second request meeting `second-request`'s (empty) other conditions.
    assert scripted_text(rt, emu, "anyone") == "second"


def test_every_condition_of_a_match_must_hold(rt, emu, script):
    script(
        doc(
            {
                "match": {
                    "operation": "Converse",
                    "model": "*haiku*",
                    "lastUserMessage": "weather",
                    "system": "assistant",
                    "tool": "get_weather",
                },
                "reply": {"text": "all conditions"},
            }
        )
    )
    full = {"system": [{"text": "You are an assistant."}], "toolConfig": {"tools": [WEATHER_TOOL]}}
    assert scripted_text(rt, emu, "weather?", **full) == "all conditions"
    assert scripted_text(rt, emu, "weather?", model=NOVA_MICRO, **full) is None
    assert scripted_text(rt, emu, "time?", **full) is None
    assert scripted_text(rt, emu, "weather?", toolConfig=full["toolConfig"]) is None
    assert scripted_text(rt, emu, "weather?", system=full["system"]) is None


# ---------------------------------------------------------------------------------------------
# Reply kinds.


def test_one_text_reply_serves_converse_and_converse_stream_with_the_same_text(rt, script):
    script(doc({"reply": {"text": "The same words, either way."}}))
    unary = converse(rt, "hi")
    events = converse_stream(rt, "hi")
    assert text_of(unary) == streamed_text(events) == "The same words, either way."
    assert unary["stopReason"] == "end_turn"
    assert dict(events)["messageStop"]["stopReason"] == "end_turn"


def test_a_tool_use_reply_returns_the_tool_call_with_the_tool_use_stop_reason(rt, script):
    script(doc({"reply": {"toolUse": {"name": "get_weather", "input": {"city": "Oslo"}, "id": "tooluse_fixed"}}}))
    response = converse(rt, "weather?", toolConfig={"tools": [WEATHER_TOOL]})
    assert tool_uses(response) == [{"toolUseId": "tooluse_fixed", "name": "get_weather", "input": {"city": "Oslo"}}]
    assert response["stopReason"] == "tool_use"


def test_text_and_a_list_of_tool_uses_arrive_in_order_with_generated_ids(rt, script):
    script(
        doc(
            {
                "reply": {
                    "text": "Checking both.",
                    "toolUse": [{"name": "get_weather", "input": {"city": "Rome"}}, {"name": "get_time"}],
                }
            }
        )
    )
    response = converse(rt, "weather and time?", toolConfig={"tools": [WEATHER_TOOL, TIME_TOOL]})
    content = response["output"]["message"]["content"]
    assert content[0] == {"text": "Checking both."}
    assert [c["toolUse"]["name"] for c in content[1:]] == ["get_weather", "get_time"]
    assert content[2]["toolUse"]["input"] == {}
    ids = [c["toolUse"]["toolUseId"] for c in content[1:]]
    assert all(ids) and len(set(ids)) == 2


def test_a_tool_use_reply_streams_as_tool_use_start_and_input_deltas(rt, script):
    script(doc({"reply": {"toolUse": {"name": "get_weather", "input": {"city": "Lima", "unit": "celsius"}}}}))
    events = converse_stream(rt, "weather?", toolConfig={"tools": [WEATHER_TOOL]})
    starts = [p["start"]["toolUse"] for k, p in events if k == "contentBlockStart" and "toolUse" in p.get("start", {})]
    assert [s["name"] for s in starts] == ["get_weather"]
    streamed_input = "".join(
        p["delta"]["toolUse"]["input"] for k, p in events if k == "contentBlockDelta" and "toolUse" in p["delta"]
    )
    assert json.loads(streamed_input) == {"city": "Lima", "unit": "celsius"}
    assert dict(events)["messageStop"]["stopReason"] == "tool_use"


def test_a_stop_reason_overrides_the_stop_reason_of_a_content_reply(rt, script):
    script(doc({"reply": {"text": "cut off mid", "stopReason": "max_tokens"}}))
    assert converse(rt, "hi")["stopReason"] == "max_tokens"
    assert dict(converse_stream(rt, "hi"))["messageStop"]["stopReason"] == "max_tokens"


OUTPUT = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Scripted whole body."}]}},
    "stopReason": "stop_sequence",
    "usage": {"inputTokens": 11, "outputTokens": 22, "totalTokens": 33},
    "metrics": {"latencyMs": 444},
}


def test_an_output_reply_is_returned_verbatim_by_converse(rt, script):
    script(doc({"reply": {"output": OUTPUT}}))
    response = converse(rt, "hi")
    assert {k: response[k] for k in OUTPUT} == OUTPUT


def test_the_same_output_reply_streams_its_text_usage_and_stop_reason(rt, script):
    script(doc({"reply": {"output": OUTPUT}}))
    events = converse_stream(rt, "hi")
    assert streamed_text(events) == "Scripted whole body."
    assert dict(events)["messageStop"]["stopReason"] == "stop_sequence"
    usage = dict(events)["metadata"]["usage"]
    assert (usage["inputTokens"], usage["outputTokens"]) == (11, 22)


def test_a_text_reply_is_rendered_in_the_anthropic_native_format_by_invoke_model(rt, script):
    script(doc({"reply": {"text": "Native words."}}))
    native = json.loads(rt.invoke_model(modelId=HAIKU, body=anthropic_body("hi"))["body"].read())
    assert native["type"] == "message"
    assert native["content"] == [{"type": "text", "text": "Native words."}]
    assert native["stop_reason"] == "end_turn"


def test_a_text_reply_is_rendered_in_the_titan_native_format_by_invoke_model(rt, script):
    script(doc({"reply": {"text": "Titan words."}}))
    native = json.loads(rt.invoke_model(modelId=TITAN_TEXT, body=json.dumps({"inputText": "hi"}))["body"].read())
    assert native["results"][0]["outputText"] == "Titan words."


def test_a_tool_use_reply_is_rendered_as_native_tool_use_blocks_by_invoke_model(rt, script):
    script(doc({"reply": {"text": "Let me look.", "toolUse": {"name": "get_weather", "input": {"city": "Oslo"}}}}))
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}}}]
    native = json.loads(rt.invoke_model(modelId=HAIKU, body=anthropic_body("weather?", tools=tools))["body"].read())
    assert native["content"][0] == {"type": "text", "text": "Let me look."}
    call = native["content"][1]
    assert (call["type"], call["name"], call["input"]) == ("tool_use", "get_weather", {"city": "Oslo"})
    assert native["stop_reason"] == "tool_use"


def test_a_text_reply_streams_as_native_chunks_through_invoke_model_with_response_stream(rt, script):
    script(doc({"reply": {"text": "Streamed natively, word by word."}}))
    response = rt.invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body("hi"))
    got = chunks(response)
    assert anthropic_stream_text(got) == "Streamed natively, word by word."
    assert got[0]["type"] == "message_start" and got[-1]["type"] == "message_stop"


NATIVE_BODY = {
    "id": "msg_scripted",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-haiku-20240307",
    "content": [{"type": "text", "text": "A scripted native body."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 9, "output_tokens": 5},
}


def test_a_native_body_reply_is_returned_verbatim_by_invoke_model(rt, script):
    script(doc({"reply": {"body": NATIVE_BODY}}))
    response = rt.invoke_model(modelId=HAIKU, body=anthropic_body("hi"))
    assert json.loads(response["body"].read()) == NATIVE_BODY
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == "9"
    assert headers["x-amzn-bedrock-output-token-count"] == "5"


def test_a_native_body_reply_streams_its_text_through_invoke_model_with_response_stream(rt, script):
    script(doc({"reply": {"body": NATIVE_BODY}}))
    response = rt.invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body("hi"))
    assert anthropic_stream_text(chunks(response)) == "A scripted native body."


SCRIPTED_EVENTS = [
    {"messageStart": {"role": "assistant"}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hand-"}}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "written."}}},
    {"contentBlockStop": {"contentBlockIndex": 0}},
    {"messageStop": {"stopReason": "end_turn"}},
    {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}, "metrics": {"latencyMs": 12}}},
]


def test_scripted_converse_stream_events_arrive_verbatim_and_in_order(rt, script):
    script(doc({"reply": {"stream": SCRIPTED_EVENTS}}))
    events = converse_stream(rt, "hi")
    assert [dict([e]) for e in events] == SCRIPTED_EVENTS


def test_an_exception_event_in_a_scripted_stream_raises_while_iterating_after_the_earlier_events(rt, script):
    script(
        doc(
            {
                "reply": {
                    "stream": [
                        {"messageStart": {"role": "assistant"}},
                        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "partial"}}},
                        {"exception": {"type": "ModelStreamErrorException", "message": "the model fell over"}},
                    ]
                }
            }
        )
    )
    response = rt.converse_stream(modelId=HAIKU, messages=[user("hi")])
    seen = []
    with pytest.raises(EventStreamError) as excinfo:
        for event in response["stream"]:
            seen.append(event)
    assert seen == SCRIPTED_EVENTS[:1] + [{"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "partial"}}}]
    assert error_of(excinfo) == ("modelStreamErrorException", "the model fell over")


def test_an_exception_type_no_event_stream_carries_is_refused_when_the_rules_are_loaded(emu):
    events = [{"messageStart": {"role": "assistant"}}, {"exception": {"type": "AccessDeniedException", "message": "nope"}}]
    response = admin(emu.url, "POST", "scenarios", doc({"reply": {"stream": events}}), name="bad-stream")
    assert response.status == 400
    assert "`AccessDeniedException` cannot be sent inside a stream" in response.json["message"]


def test_scripted_native_stream_chunks_are_base64_encoded_json_for_you(rt, script):
    payloads = [
        {"type": "message_start", "message": {"role": "assistant", "content": []}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "raw chunk"}},
        {"type": "message_stop"},
    ]
    script(doc({"reply": {"stream": [{"chunk": {"bytes": p}} for p in payloads]}}))
    response = rt.invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body("hi"))
    assert chunks(response) == payloads


def test_an_exception_event_in_a_native_stream_raises_the_modelled_error_while_iterating(rt, script):
    first = {"type": "message_start", "message": {"role": "assistant", "content": []}}
    script(doc({"reply": {"stream": [{"chunk": {"bytes": first}}, {"exception": {"type": "ThrottlingException"}}]}}))
    response = rt.invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body("hi"))
    seen = []
    with pytest.raises(EventStreamError) as excinfo:
        for event in response["body"]:
            seen.append(json.loads(event["chunk"]["bytes"]))
    assert seen == [first]
    code, message = error_of(excinfo)
    assert code == "throttlingException"
    assert message == "Too many requests, please wait before trying again. You have sent too many requests.  Wait before trying again."


def test_an_error_reply_raises_the_modelled_exception_with_its_status_and_usual_message(rt, script):
    script(doc({"reply": {"error": {"type": "ThrottlingException"}}}))
    with pytest.raises(rt.exceptions.ThrottlingException) as excinfo:
        converse(rt, "hi")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error_of(excinfo) == ("ThrottlingException", "Too many requests, please wait before trying again. You have sent too many requests.  Wait before trying again.")


def test_an_error_reply_carries_a_custom_message_and_the_members_of_its_type(rt, script):
    script(doc({"reply": {"error": {"type": "ModelErrorException", "message": "upstream model crashed"}}}))
    with pytest.raises(rt.exceptions.ModelErrorException) as excinfo:
        converse(rt, "hi")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert excinfo.value.response["Error"]["Message"] == "upstream model crashed"
    assert excinfo.value.response["originalStatusCode"] == 500
    assert excinfo.value.response["resourceName"] == "model"


def test_an_error_reply_fails_a_converse_stream_call_before_any_event(rt, script):
    script(doc({"reply": {"error": {"type": "ServiceUnavailableException"}}}))
    with pytest.raises(rt.exceptions.ServiceUnavailableException) as excinfo:
        rt.converse_stream(modelId=HAIKU, messages=[user("hi")])
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_an_error_reply_fails_invoke_model_with_the_modelled_exception(rt, script):
    script(doc({"reply": {"error": {"type": "ModelTimeoutException", "message": "too slow"}}}))
    with pytest.raises(rt.exceptions.ModelTimeoutException) as excinfo:
        rt.invoke_model(modelId=HAIKU, body=anthropic_body("hi"))
    assert error_of(excinfo) == ("ModelTimeoutException", "too slow")


def test_a_json_reply_answers_a_control_plane_operation(bc, emu, script):
    summary = {
        "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/acme.only-model-v1",
        "modelId": "acme.only-model-v1",
        "modelName": "Only Model",
        "providerName": "Acme",
    }
    script(doc({"name": "models", "match": {"operation": "ListFoundationModels"}, "reply": {"json": {"modelSummaries": [summary]}}}))
    assert bc.list_foundation_models()["modelSummaries"] == [summary]
    assert answered_by(emu) == "scenario:test/models"


def test_a_json_reply_answers_a_control_plane_operation_the_emulator_does_not_implement(bc, emu, script):
    script(doc({"match": {"operation": "ListCustomModels"}, "reply": {"json": {"modelSummaries": [], "nextToken": "t2"}}}))
    response = bc.list_custom_models()
    assert (response["modelSummaries"], response["nextToken"]) == ([], "t2")


def test_an_unscripted_control_plane_operation_is_answered_by_the_builtin_operation(bc, emu, script):
    script(doc({"match": {"operation": "ListCustomModels"}, "reply": {"json": {"modelSummaries": []}}}))
    assert bc.list_foundation_models()["modelSummaries"]
    assert answered_by(emu) == "builtin"


def test_an_error_reply_answers_a_control_plane_operation(bc, script):
    script(
        doc(
            {
                "match": {"operation": "GetFoundationModel"},
                "reply": {"error": {"type": "ResourceNotFoundException", "message": "gone for the test"}},
            }
        )
    )
    with pytest.raises(bc.exceptions.ResourceNotFoundException) as excinfo:
        bc.get_foundation_model(modelIdentifier=HAIKU)
    assert error_of(excinfo) == ("ResourceNotFoundException", "gone for the test")


def test_a_json_reply_with_an_error_status_reaches_boto3_as_that_error(rt, script):
    script(
        doc(
            {
                "reply": {
                    "json": {"message": "raw scripted failure"},
                    "status": 400,
                    "headers": {"x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
                }
            }
        )
    )
    with pytest.raises(rt.exceptions.ValidationException) as excinfo:
        converse(rt, "hi")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert excinfo.value.response["Error"]["Message"] == "raw scripted failure"


def test_count_tokens_can_be_scripted_with_a_json_reply(rt, script):
    script(doc({"match": {"operation": "CountTokens"}, "reply": {"json": {"inputTokens": 4242}}}))
    response = rt.count_tokens(modelId=HAIKU, input={"converse": {"messages": [user("hello")]}})
    assert response["inputTokens"] == 4242


def test_count_tokens_can_be_scripted_with_an_error_reply(rt, script):
    script(doc({"match": {"operation": "CountTokens"}, "reply": {"error": {"type": "ThrottlingException"}}}))
    with pytest.raises(rt.exceptions.ThrottlingException):
        rt.count_tokens(modelId=HAIKU, input={"converse": {"messages": [user("hello")]}})


def test_count_tokens_rules_can_match_the_conversation_being_counted(rt, script):
    script(doc({"match": {"operation": "CountTokens", "lastUserMessage": "long"}, "reply": {"json": {"inputTokens": 9999}}}))
    assert rt.count_tokens(modelId=HAIKU, input={"converse": {"messages": [user("a long text")]}})["inputTokens"] == 9999
    assert rt.count_tokens(modelId=HAIKU, input={"converse": {"messages": [user("short")]}})["inputTokens"] < 9999


def test_reply_headers_are_added_to_the_response(rt, script):
    script(doc({"reply": {"text": "with headers", "headers": {"x-test-trace": "abc123"}}}))
    response = converse(rt, "hi")
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-test-trace"] == "abc123"


def test_usage_overrides_set_the_converse_token_counts(rt, script):
    script(doc({"reply": {"text": "short", "usage": {"inputTokens": 1000, "outputTokens": 250}}}))
    assert converse(rt, "hi")["usage"] == {"inputTokens": 1000, "outputTokens": 250, "totalTokens": 1250}


def test_a_partial_usage_override_keeps_the_counted_value_of_the_other_field(rt, script):
    script(doc({"reply": {"text": "short", "usage": {"outputTokens": 250}}}))
    usage = converse(rt, "hello there")["usage"]
    assert usage["outputTokens"] == 250
    assert 0 < usage["inputTokens"] < 250


def test_usage_overrides_reach_the_converse_stream_metadata_event(rt, script):
    script(doc({"reply": {"text": "short", "usage": {"inputTokens": 1000, "outputTokens": 250}}}))
    usage = dict(converse_stream(rt, "hi"))["metadata"]["usage"]
    assert (usage["inputTokens"], usage["outputTokens"]) == (1000, 250)


def test_usage_overrides_reach_the_invoke_model_body_and_token_count_headers(rt, script):
    script(doc({"reply": {"text": "short", "usage": {"inputTokens": 1000, "outputTokens": 250}}}))
    response = rt.invoke_model(modelId=HAIKU, body=anthropic_body("hi"))
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert (headers["x-amzn-bedrock-input-token-count"], headers["x-amzn-bedrock-output-token-count"]) == ("1000", "250")
    assert json.loads(response["body"].read())["usage"] == {"input_tokens": 1000, "output_tokens": 250}


def test_a_rule_naming_an_operation_its_reply_cannot_answer_is_refused_naming_the_rule(rt, script):
    script(doc({"name": "native-only", "match": {"operation": ["Converse", "InvokeModel"]}, "reply": {"body": NATIVE_BODY}}))
    with pytest.raises(rt.exceptions.ValidationException) as excinfo:
        converse(rt, "hi")
    message = excinfo.value.response["Error"]["Message"]
    assert "test/native-only" in message and "`body`" in message


def test_a_rule_naming_no_operation_is_skipped_where_its_reply_cannot_answer(rt, emu, script):
    script(doc({"name": "native-only", "reply": {"body": NATIVE_BODY}}))
    assert json.loads(rt.invoke_model(modelId=HAIKU, body=anthropic_body("hi"))["body"].read()) == NATIVE_BODY
    converse(rt, "hi")
    assert answered_by(emu) == "synthetic"


def test_a_catch_all_text_rule_leaves_control_plane_calls_and_count_tokens_alone(rt, bc, emu, script):
    script(doc({"name": "catch-all", "reply": {"text": "scripted"}}))
    assert bc.list_foundation_models()["modelSummaries"]
    assert answered_by(emu) == "builtin"
    assert rt.count_tokens(modelId=HAIKU, input={"converse": {"messages": [user("hello")]}})["inputTokens"] > 0
    assert answered_by(emu) == "synthetic"
    assert text_of(converse(rt, "hi")) == "scripted"


# ---------------------------------------------------------------------------------------------
# Priorities and declaration order.


def test_a_higher_priority_rule_wins_over_an_earlier_declared_one(rt, emu, script):
    script(doc({"name": "early", "reply": {"text": "early"}}, {"name": "urgent", "priority": 5, "reply": {"text": "urgent"}}))
    assert text_of(converse(rt, "hi")) == "urgent"
    assert answered_by(emu) == "scenario:test/urgent"


def test_rules_of_equal_priority_answer_in_declaration_order(rt, script):
    script(doc({"name": "a", "reply": {"text": "first declared"}}, {"name": "b", "reply": {"text": "second declared"}}))
    assert text_of(converse(rt, "hi")) == "first declared"


def test_a_negative_priority_rule_is_a_fallback_for_requests_no_other_rule_matches(rt, script):
    script(
        doc(
            {"name": "fallback", "priority": -10, "reply": {"text": "fallback"}},
            {"name": "specific", "match": {"lastUserMessage": "specific"}, "reply": {"text": "specific"}},
        )
    )
    assert text_of(converse(rt, "a specific question")) == "specific"
    assert text_of(converse(rt, "anything else")) == "fallback"


def test_sources_loaded_later_come_after_earlier_sources_of_equal_priority(rt, script):
    script(doc({"reply": {"text": "from the first source"}}), name="first")
    script(doc({"reply": {"text": "from the second source"}}), name="second")
    assert text_of(converse(rt, "hi")) == "from the first source"
    script(doc({"priority": 1, "reply": {"text": "second, prioritised"}}), name="second")
    assert text_of(converse(rt, "hi")) == "second, prioritised"


# ---------------------------------------------------------------------------------------------
# Sequences.


def test_a_reply_sequence_answers_in_order_then_repeats_the_last_by_default(rt, script):
    script(doc({"replies": [{"text": "one"}, {"text": "two"}, {"text": "three"}]}))
    assert [text_of(converse(rt, "hi")) for _ in range(5)] == ["one", "two", "three", "three", "three"]


def test_then_repeat_last_can_be_written_explicitly(rt, script):
    script(doc({"replies": [{"text": "one"}, {"text": "two"}], "then": "repeatLast"}))
    assert [text_of(converse(rt, "hi")) for _ in range(3)] == ["one", "two", "two"]


def test_then_cycle_starts_the_sequence_again(rt, script):
    script(doc({"replies": [{"text": "one"}, {"text": "two"}], "then": "cycle"}))
    assert [text_of(converse(rt, "hi")) for _ in range(5)] == ["one", "two", "one", "two", "one"]


def test_then_fall_through_hands_later_requests_to_the_next_rule(rt, emu, script):
    script(
        doc(
            {"name": "limited", "replies": [{"text": "one"}, {"text": "two"}], "then": "fallThrough"},
            {"name": "after", "reply": {"text": "next rule"}},
        )
    )
    assert [text_of(converse(rt, "hi")) for _ in range(4)] == ["one", "two", "next rule", "next rule"]
    assert answered_by(emu) == "scenario:test/after"


def test_then_fall_through_with_no_other_rule_reaches_the_synthetic_model(rt, emu, script):
    script(doc({"replies": [{"text": "only once"}], "then": "fallThrough"}))
    assert text_of(converse(rt, "hi")) == "only once"
    assert text_of(converse(rt, "hi")) != "only once"
    assert answered_by(emu) == "synthetic"


def test_a_sequence_advances_across_converse_and_converse_stream(rt, script):
    script(doc({"replies": [{"text": "one"}, {"text": "two"}, {"text": "three"}]}))
    assert text_of(converse(rt, "hi")) == "one"
    assert streamed_text(converse_stream(rt, "hi")) == "two"
    assert text_of(converse(rt, "hi")) == "three"


def test_a_sequence_may_mix_errors_and_replies(rt, script):
    script(doc({"replies": [{"error": {"type": "ModelNotReadyException"}}, {"text": "ready now"}]}))
    with pytest.raises(rt.exceptions.ModelNotReadyException):
        converse(rt, "hi")
    assert text_of(converse(rt, "hi")) == "ready now"


def test_reset_restarts_sequences_from_the_first_reply(rt, emu, script):
    script(doc({"replies": [{"text": "one"}, {"text": "two"}]}))
    assert [text_of(converse(rt, "hi")) for _ in range(2)] == ["one", "two"]
    reset(emu.url)
    assert text_of(converse(rt, "hi")) == "one"


# ---------------------------------------------------------------------------------------------
# Named scenarios and states.

AGENT_LOOP = doc(
    {
        "name": "call-tool",
        "scenario": "agent",
        "whenState": "Started",
        "setState": "tool-called",
        "match": {"tool": "get_weather"},
        "reply": {"toolUse": {"name": "get_weather", "input": {"city": "Paris"}, "id": "tooluse_agent_1"}},
    },
    {
        "name": "final-answer",
        "scenario": "agent",
        "whenState": "tool-called",
        "setState": "done",
        "match": {"json": [{"path": "/messages/2/content/0/toolResult/toolUseId", "equals": "tooluse_agent_1"}]},
        "reply": {"text": "It is 18 °C in Paris."},
    },
)


def run_agent_loop(rt, question="What's the weather in Paris?"):
    """An application's agent loop: call the model, run tools it asks for, repeat until it answers."""
    messages = [user(question)]
    turns = []
    for _ in range(5):
        response = rt.converse(modelId=HAIKU, messages=messages, toolConfig={"tools": [WEATHER_TOOL]})
        turns.append(response["stopReason"])
        message = response["output"]["message"]
        messages.append(message)
        if response["stopReason"] != "tool_use":
            return turns, text_of(response)
        results = [
            {"toolResult": {"toolUseId": b["toolUse"]["toolUseId"], "content": [{"json": {"temperature": 18}}]}}
            for b in message["content"]
            if "toolUse" in b
        ]
        messages.append({"role": "user", "content": results})
    raise AssertionError(f"the agent loop did not finish: {turns}")


def test_an_agent_loop_moves_a_named_scenario_through_its_states(rt, emu, script):
    script(AGENT_LOOP)
    turns, answer = run_agent_loop(rt)
    assert turns == ["tool_use", "end_turn"]
    assert answer == "It is 18 °C in Paris."
    assert listing(emu.url)["states"] == {"agent": "done"}


def test_the_listing_shows_the_state_a_named_scenario_has_reached(rt, emu, script):
    script(AGENT_LOOP)
    assert listing(emu.url)["states"] == {}
    converse(rt, "weather?", toolConfig={"tools": [WEATHER_TOOL]})
    assert listing(emu.url)["states"] == {"agent": "tool-called"}


def test_a_rule_gated_by_when_state_does_not_answer_in_other_states(rt, emu, script):
    script(AGENT_LOOP)
    run_agent_loop(rt)
    # The scenario is now `done`: neither rule answers, the synthetic model does.
    converse(rt, "weather again?", toolConfig={"tools": [WEATHER_TOOL]})
    assert answered_by(emu) == "synthetic"


def test_reset_returns_every_named_scenario_to_started(rt, emu, script):
    script(AGENT_LOOP)
    run_agent_loop(rt)
    reset(emu.url)
    assert listing(emu.url)["states"] == {}
    turns, _ = run_agent_loop(rt)
    assert turns == ["tool_use", "end_turn"]


def test_named_scenarios_keep_separate_states(rt, script):
    script(
        doc(
            {"scenario": "a", "whenState": "Started", "setState": "a2", "match": {"lastUserMessage": "a"}, "reply": {"text": "a1"}},
            {"scenario": "a", "whenState": "a2", "match": {"lastUserMessage": "a"}, "reply": {"text": "a2"}},
            {"scenario": "b", "whenState": "Started", "setState": "b2", "match": {"lastUserMessage": "b"}, "reply": {"text": "b1"}},
            {"scenario": "b", "whenState": "b2", "match": {"lastUserMessage": "b"}, "reply": {"text": "b2"}},
        )
    )
    assert [text_of(converse(rt, t)) for t in ["a", "a", "b", "a", "b"]] == ["a1", "a2", "b1", "a2", "b2"]


def test_set_state_without_when_state_moves_the_scenario_from_any_state(rt, emu, script):
    script(
        doc(
            {"name": "login", "scenario": "session", "setState": "logged-in", "match": {"lastUserMessage": "login"}, "reply": {"text": "welcome"}},
            {"scenario": "session", "whenState": "logged-in", "match": {"lastUserMessage": "balance"}, "reply": {"text": "42 EUR"}},
        )
    )
    converse(rt, "balance")
    assert answered_by(emu) == "synthetic"
    assert text_of(converse(rt, "login")) == "welcome"
    assert text_of(converse(rt, "balance")) == "42 EUR"


# ---------------------------------------------------------------------------------------------
# Retries: boto3's own retry logic against scripted throttling.

THROTTLED_TWICE = doc(
    {
        "name": "flaky",
        "replies": [
            {"error": {"type": "ThrottlingException"}},
            {"error": {"type": "ThrottlingException"}},
            {"text": "Third time lucky."},
        ],
    }
)


def test_throttled_twice_then_succeeds_through_boto3s_own_retries(emu, script):
    script(THROTTLED_TWICE)
    response = converse(retrying_client(emu.url), "hi")
    assert text_of(response) == "Third time lucky."
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert [e["status"] for e in entries(emu.url, operation="Converse")] == [429, 429, 200]


def test_without_retries_the_first_throttle_reaches_the_caller(rt, script):
    script(THROTTLED_TWICE)
    with pytest.raises(rt.exceptions.ThrottlingException):
        converse(rt, "hi")


def test_retries_of_invoke_model_also_reach_the_scripted_success(emu, script):
    script(THROTTLED_TWICE)
    response = retrying_client(emu.url).invoke_model(modelId=HAIKU, body=anthropic_body("hi"))
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert json.loads(response["body"].read())["content"][0]["text"] == "Third time lucky."


# ---------------------------------------------------------------------------------------------
# Timing. No wall-clock assertions: only that paced replies arrive whole and that the timing
# is recorded.

PACED_TEXT = "Paced words arrive one small group at a time, and every one of them arrives."


def test_a_paced_converse_stream_still_delivers_every_event_and_the_whole_text(rt, script):
    script(doc({"reply": {"text": PACED_TEXT}}))
    unpaced = converse_stream(rt, "hi")
    script(doc({"reply": {"text": PACED_TEXT, "timing": {"firstTokenMs": 30, "tokensPerSecond": 500}}}))
    paced = converse_stream(rt, "hi")
    assert streamed_text(paced) == PACED_TEXT
    assert [k for k, _ in paced] == [k for k, _ in unpaced]
    assert [k for k, _ in paced][-2:] == ["messageStop", "metadata"]


def test_a_paced_native_stream_still_delivers_every_chunk(rt, script):
    script(doc({"reply": {"text": PACED_TEXT, "timing": {"firstTokenMs": 20, "tokensPerSecond": 500}}}))
    response = rt.invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body("hi"))
    got = chunks(response)
    assert anthropic_stream_text(got) == PACED_TEXT
    assert got[-1]["type"] == "message_stop"


def test_paced_scripted_stream_events_all_arrive(rt, script):
    script(doc({"reply": {"stream": SCRIPTED_EVENTS, "timing": {"firstTokenMs": 20, "tokensPerSecond": 200}}}))
    assert [dict([e]) for e in converse_stream(rt, "hi")] == SCRIPTED_EVENTS


def test_a_unary_reply_with_latency_records_at_least_that_latency_in_the_journal(rt, emu, script):
    script(doc({"reply": {"text": "slowly", "timing": {"latencyMs": 150}}}))
    assert text_of(converse(rt, "hi")) == "slowly"
    assert last_entry(emu.url)["durationMs"] >= 150


def test_unary_pacing_adds_first_token_and_output_tokens_at_the_rate_to_the_recorded_duration(rt, emu, script):
    # 50 ms to the first token, then 10 output tokens at 100 tokens a second: at least 150 ms.
    timing = {"firstTokenMs": 50, "tokensPerSecond": 100}
    script(doc({"reply": {"text": "paced unary", "usage": {"outputTokens": 10}, "timing": timing}}))
    assert text_of(converse(rt, "hi")) == "paced unary"
    assert last_entry(emu.url)["durationMs"] >= 150


def test_the_listing_keeps_the_timing_of_a_rule(emu, script):
    script(doc({"reply": {"text": "paced", "timing": {"firstTokenMs": 400, "tokensPerSecond": 30}}}))
    (source,) = listing(emu.url)["sources"]
    (reply,) = source["rules"][0]["rule"]["replies"]
    assert reply["timing"] == {"firstTokenMs": 400, "tokensPerSecond": 30.0, "latencyMs": 0}


# ---------------------------------------------------------------------------------------------
# Strict mode.


@pytest.fixture(scope="module")
def strict():
    running = RunningEmulator("--strict")
    yield running
    running.stop()


@pytest.fixture
def strict_rt(strict):
    clear_scenarios(strict.url)
    reset(strict.url)
    load_scenario(
        strict.url,
        doc(
            {"name": "greeting", "match": {"operation": "Converse", "lastUserMessage": "hello"}, "reply": {"text": "Hi!"}},
            {"name": "stream-only", "match": {"operation": "ConverseStream", "model": "*nova*"}, "reply": {"text": "s"}},
        ),
        name="strict",
    )
    return client("bedrock-runtime", strict.url)


def test_strict_mode_refuses_an_unmatched_request_naming_the_closest_rule_and_why(strict_rt):
    with pytest.raises(strict_rt.exceptions.ValidationException) as excinfo:
        converse(strict_rt, "goodbye")
    message = excinfo.value.response["Error"]["Message"]
    assert "strict mode" in message
    assert "strict/greeting" in message
    assert 'last user message "goodbye" does not satisfy: contains "hello"' in message


def test_strict_mode_still_answers_a_matched_request(strict_rt):
    assert text_of(converse(strict_rt, "hello there")) == "Hi!"


def test_strict_mode_refuses_unmatched_streams_and_native_invocations_too(strict_rt):
    with pytest.raises(strict_rt.exceptions.ValidationException):
        strict_rt.converse_stream(modelId=HAIKU, messages=[user("hello")])
    with pytest.raises(strict_rt.exceptions.ValidationException):
        strict_rt.invoke_model(modelId=HAIKU, body=anthropic_body("hello"))
    with pytest.raises(strict_rt.exceptions.ValidationException):
        strict_rt.invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body("hello"))


def test_strict_mode_leaves_control_plane_operations_to_the_builtin_answers(strict, strict_rt):
    assert client("bedrock", strict.url).list_foundation_models()["modelSummaries"]


def test_strict_mode_with_no_rules_says_none_are_loaded(strict, strict_rt):
    clear_scenarios(strict.url)
    with pytest.raises(strict_rt.exceptions.ValidationException) as excinfo:
        converse(strict_rt, "hello")
    assert "No scenario rules are loaded." in excinfo.value.response["Error"]["Message"]


def test_strict_mode_records_the_refusal_in_the_journal(strict, strict_rt):
    with pytest.raises(ClientError):
        converse(strict_rt, "goodbye")
    entry = last_entry(strict.url)
    assert (entry["answeredBy"], entry["status"]) == ("error", 400)


# ---------------------------------------------------------------------------------------------
# The shipped example stories, from `--scenarios scenarios/examples`.


@pytest.fixture(scope="module")
def examples():
    running = RunningEmulator("--scenarios", str(EXAMPLES))
    yield running
    running.stop()


@pytest.fixture
def ex(examples):
    """The examples emulator, with counters, states and the journal reset."""
    reset(examples.url)
    return examples


def example_rule(ex):
    """The rule name of the last answer (`…/<file>/<rule>` → `<rule>`)."""
    return answered_by(ex).rsplit("/", 1)[-1]


SUPPORT = [{"text": "You are the support assistant of a bakery."}]


def test_every_example_file_is_loaded_with_its_rules(ex):
    current = listing(ex.url)
    assert [s["name"] for s in current["sources"]] == [
        "agent-loop",
        "chat-app",
        "faults-latency",
        "faults-pace",
        "faults-reset",
        "faults-stall",
        "faults-stream-breaks",
        "faults-throttle-first-attempts",
        "quotas",
        "streaming-ui",
        "throttled-twice",
    ]
    assert {s["origin"] for s in current["sources"]} == {"file"}
    rule_names = [r["label"].rsplit("/", 1)[-1] for s in current["sources"] for r in s["rules"]]
    assert sorted(rule_names) == sorted(
        ["call-the-tool", "answer-with-the-result", "greeting", "opening-hours", "fallback", "story", "flaky-model"]
    )
    assert current["errors"] == []


def test_the_chat_app_example_greets_answers_opening_hours_and_falls_back(ex):
    rt = client("bedrock-runtime", ex.url)
    assert text_of(converse(rt, "Hello!", model=NOVA_MICRO)) == "Hello! How can I help you today?"
    assert example_rule(ex) == "greeting"
    hours = converse(rt, "What are your OPENING HOURS?", model=NOVA_MICRO, system=SUPPORT)
    assert text_of(hours) == "We are open Monday to Friday, 9:00 to 17:00."
    assert hours["usage"]["outputTokens"] == 14
    fallback = text_of(converse(rt, "Can I order a cake?", model=NOVA_MICRO))
    assert fallback == "I'm sorry, I can only answer questions about our opening hours."
    assert example_rule(ex) == "fallback"


def test_the_chat_app_example_needs_the_support_system_prompt_for_opening_hours(ex):
    rt = client("bedrock-runtime", ex.url)
    converse(rt, "What are your opening hours?", model=NOVA_MICRO)
    assert example_rule(ex) == "fallback"


def test_the_chat_app_example_streams_the_same_greeting(ex):
    rt = client("bedrock-runtime", ex.url)
    assert streamed_text(converse_stream(rt, "hey there", model=NOVA_MICRO)) == "Hello! How can I help you today?"


def test_the_agent_loop_example_calls_the_tool_then_answers_with_the_result(ex):
    rt = client("bedrock-runtime", ex.url)
    messages = [user("What's the weather in Paris?")]
    first = rt.converse(modelId=NOVA_MICRO, messages=messages, toolConfig={"tools": [WEATHER_TOOL]})
    assert first["stopReason"] == "tool_use"
    assert text_of(first) == "Let me check the weather for you."
    (call,) = tool_uses(first)
    assert (call["name"], call["input"]) == ("get_weather", {"city": "Paris", "unit": "celsius"})
    assert listing(ex.url)["states"]["weather"] == "tool-called"
    messages += [
        first["output"]["message"],
        {"role": "user", "content": [{"toolResult": {"toolUseId": call["toolUseId"], "content": [{"text": "21 C, sunny"}]}}]},
    ]
    second = rt.converse(modelId=NOVA_MICRO, messages=messages, toolConfig={"tools": [WEATHER_TOOL]})
    assert text_of(second) == "It is 21 °C and sunny in Paris."
    assert second["stopReason"] == "end_turn"
    assert listing(ex.url)["states"]["weather"] == "Started"


def test_the_throttled_twice_example_succeeds_on_boto3s_third_attempt(ex):
    response = converse(retrying_client(ex.url), "Summarise this report.", model=HAIKU)
    assert text_of(response) == "Third time lucky."
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert [e["status"] for e in entries(ex.url, operation="Converse")] == [429, 429, 200]


def test_the_throttled_twice_example_keeps_succeeding_after_the_third_call(ex):
    rt = client("bedrock-runtime", ex.url)
    for _ in range(2):
        with pytest.raises(rt.exceptions.ThrottlingException):
            converse(rt, "Summarise this report.")
    assert [text_of(converse(rt, "Summarise this report.")) for _ in range(2)] == ["Third time lucky."] * 2


STORY = (
    "Once upon a time, a lighthouse keeper counted the ships that passed each night. "
    "One foggy evening a small boat without lights drifted towards the rocks, and the "
    "keeper lit every lamp in the tower until the boat turned safely into the harbour."
)


def test_the_streaming_ui_example_streams_the_whole_paced_story(ex):
    rt = client("bedrock-runtime", ex.url)
    events = converse_stream(rt, "Tell me a story", model=NOVA_MICRO)
    assert streamed_text(events) == STORY
    assert [k for k, _ in events][-2:] == ["messageStop", "metadata"]
    assert example_rule(ex) == "story"


def test_the_streaming_ui_example_answers_converse_with_the_same_story(ex):
    rt = client("bedrock-runtime", ex.url)
    assert text_of(converse(rt, "Tell me a story", model=NOVA_MICRO)) == STORY


def test_answered_by_names_a_file_rule_by_the_files_declared_name(ex):
    rt = client("bedrock-runtime", ex.url)
    converse(rt, "Hello!", model=NOVA_MICRO)
    assert answered_by(ex) == "scenario:chat-app/greeting"


def test_a_scripted_abort_cuts_the_stream_after_the_events_before_it(rt, script):
    script("""
version: 1
rules:
  - name: dropped
    match: {operation: ConverseStream}
    reply:
      stream:
        - messageStart: {role: assistant}
        - contentBlockDelta: {contentBlockIndex: 0, delta: {text: "Partial"}}
        - abort: {}
        - messageStop: {stopReason: end_turn}
""")
    response = rt.converse_stream(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    seen = []
    with pytest.raises(Exception) as cut:
        for event in response["stream"]:
            seen.append(next(iter(event)))
    assert seen == ["messageStart", "contentBlockDelta"]
    assert "messageStop" not in seen
    assert cut.value is not None
