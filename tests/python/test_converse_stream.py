"""ConverseStream through boto3: event order, text and tool-use deltas, parity with Converse,
and errors raised before the stream starts (SPEC §3, §4.4)."""
import json

import pytest

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
LLAMA_PROFILE = "us.meta.llama3-1-8b-instruct-v1:0"

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
WEATHER_TOOL = {
    "toolSpec": {"name": "get_weather", "description": "Current weather for a city", "inputSchema": {"json": WEATHER_SCHEMA}}
}


def user(text):
    return {"role": "user", "content": [{"text": text}]}


def events(response):
    """Every event of a ConverseStream response as (kind, payload) pairs."""
    out = []
    for event in response["stream"]:
        assert len(event) == 1, event
        ((kind, payload),) = event.items()
        out.append((kind, payload))
    return out


def kinds(evs):
    return [k for k, _ in evs]


def streamed_text(evs):
    return "".join(p["delta"]["text"] for k, p in evs if k == "contentBlockDelta" and "text" in p["delta"])


def streamed_tool_input(evs):
    return "".join(p["delta"]["toolUse"]["input"] for k, p in evs if k == "contentBlockDelta" and "toolUse" in p["delta"])


def only(evs, kind):
    (payload,) = [p for k, p in evs if k == kind]
    return payload


def text_of(response):
    return "".join(b["text"] for b in response["output"]["message"]["content"] if "text" in b)


def stream(runtime, text, **kwargs):
    return events(runtime.converse_stream(modelId=HAIKU, messages=[user(text)], **kwargs))


@pytest.fixture(scope="module")
def text_events(runtime):
    return stream(runtime, "Count to five.")


@pytest.fixture(scope="module")
def tool_events(runtime):
    return stream(runtime, "What is the weather in Paris?", toolConfig={"tools": [WEATHER_TOOL], "toolChoice": {"any": {}}})


# --- event order ------------------------------------------------------------------------


def test_message_start_is_the_first_event(text_events):
    assert text_events[0] == ("messageStart", {"role": "assistant"})


def test_metadata_is_the_last_event(text_events):
    assert kinds(text_events)[-1] == "metadata"


def test_message_stop_comes_just_before_metadata(text_events):
    assert kinds(text_events)[-2] == "messageStop"


def test_content_block_stop_comes_just_before_message_stop(text_events):
    assert kinds(text_events)[-3] == "contentBlockStop"


def test_each_event_kind_but_deltas_appears_once_for_a_text_reply(text_events):
    k = kinds(text_events)
    assert k.count("contentBlockDelta") >= 1
    for kind in ("messageStart", "contentBlockStop", "messageStop", "metadata"):
        assert k.count(kind) == 1, k


def test_text_blocks_have_no_content_block_start(text_events):
    assert "contentBlockStart" not in kinds(text_events)


def test_text_deltas_all_belong_to_block_zero(text_events):
    indexes = {p["contentBlockIndex"] for k, p in text_events if k in ("contentBlockDelta", "contentBlockStop")}
    assert indexes == {0}


def test_a_text_reply_stops_with_end_turn(text_events):
    assert only(text_events, "messageStop")["stopReason"] == "end_turn"


def test_stream_metadata_usage_is_consistent(text_events):
    usage = only(text_events, "metadata")["usage"]
    assert usage["inputTokens"] > 0 and usage["outputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]


def test_stream_metadata_reports_latency(text_events):
    assert only(text_events, "metadata")["metrics"]["latencyMs"] >= 0


def test_the_stream_is_sent_as_an_aws_event_stream(runtime):
    response = runtime.converse_stream(modelId=HAIKU, messages=[user("Hi")])
    events(response)
    meta = response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert meta["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"


def test_the_stream_response_carries_a_request_id(runtime):
    response = runtime.converse_stream(modelId=HAIKU, messages=[user("Hi")])
    events(response)
    assert len(response["ResponseMetadata"]["RequestId"]) == 36


# --- parity with Converse ---------------------------------------------------------------


def test_streamed_text_equals_converse_text(runtime):
    unary = runtime.converse(modelId=HAIKU, messages=[user("Describe a harbor.")])
    evs = stream(runtime, "Describe a harbor.")
    assert streamed_text(evs) == text_of(unary)


def test_streamed_usage_equals_converse_usage(runtime):
    unary = runtime.converse(modelId=HAIKU, messages=[user("Describe a harbor.")])
    evs = stream(runtime, "Describe a harbor.")
    assert only(evs, "metadata")["usage"] == unary["usage"]


def test_text_arrives_in_several_deltas(runtime):
    evs = stream(runtime, "Describe a harbor in some detail please.")
    assert kinds(evs).count("contentBlockDelta") > 1


# --- tool use ---------------------------------------------------------------------------


def test_a_tool_block_opens_with_content_block_start(tool_events):
    start = only(tool_events, "contentBlockStart")
    tool = start["start"]["toolUse"]
    assert tool["name"] == "get_weather"
    assert tool["toolUseId"].startswith("tooluse_")


def test_tool_input_deltas_concatenate_to_json_matching_the_schema(tool_events):
    document = json.loads(streamed_tool_input(tool_events))
    assert isinstance(document["city"], str)
    assert document["unit"] in ("celsius", "fahrenheit")


def test_a_tool_call_stops_with_tool_use(tool_events):
    assert only(tool_events, "messageStop")["stopReason"] == "tool_use"


def test_tool_block_events_share_the_start_index(tool_events):
    index = only(tool_events, "contentBlockStart")["contentBlockIndex"]
    tool_block = [p["contentBlockIndex"] for k, p in tool_events if k in ("contentBlockDelta", "contentBlockStop")]
    assert tool_block and set(tool_block) == {index}


def test_the_streamed_tool_call_equals_the_converse_tool_call(runtime, tool_events):
    unary = runtime.converse(
        modelId=HAIKU,
        messages=[user("What is the weather in Paris?")],
        toolConfig={"tools": [WEATHER_TOOL], "toolChoice": {"any": {}}},
    )
    (call,) = [b["toolUse"] for b in unary["output"]["message"]["content"] if "toolUse" in b]
    start = only(tool_events, "contentBlockStart")["start"]["toolUse"]
    assert (start["name"], start["toolUseId"]) == (call["name"], call["toolUseId"])
    assert json.loads(streamed_tool_input(tool_events)) == call["input"]


def test_text_before_a_tool_call_is_block_zero_and_the_tool_block_one(runtime):
    evs = stream(runtime, "Please get weather for Paris", toolConfig={"tools": [WEATHER_TOOL]})
    assert only(evs, "contentBlockStart")["contentBlockIndex"] == 1
    stops = [p["contentBlockIndex"] for k, p in evs if k == "contentBlockStop"]
    assert stops == [0, 1]
    assert streamed_text(evs)
    assert only(evs, "messageStop")["stopReason"] == "tool_use"


# --- limits -----------------------------------------------------------------------------


def test_max_tokens_is_reported_in_message_stop(runtime):
    evs = stream(runtime, "Write a long story about a lighthouse keeper.", inferenceConfig={"maxTokens": 4})
    assert only(evs, "messageStop")["stopReason"] == "max_tokens"
    assert only(evs, "metadata")["usage"]["outputTokens"] <= 4


def test_a_stop_sequence_is_reported_in_message_stop(runtime):
    evs = stream(runtime, "alpha beta gamma delta", inferenceConfig={"stopSequences": ["gamma"]})
    assert only(evs, "messageStop")["stopReason"] == "stop_sequence"
    assert "gamma" not in streamed_text(evs)


# --- errors before the stream -----------------------------------------------------------


def test_an_unknown_model_raises_from_converse_stream_itself(runtime):
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        runtime.converse_stream(modelId="no-such-model", messages=[user("Hi")])
    assert e.value.response["Error"]["Message"] == "The provided model identifier is invalid."
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_invalid_request_raises_from_converse_stream_itself(runtime):
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        runtime.converse_stream(modelId=HAIKU, messages=[user("Hi"), user("Hello?")])
    assert "alternate between user and assistant roles" in e.value.response["Error"]["Message"]


def test_streaming_tool_use_on_a_model_without_it_raises_before_the_stream(runtime):
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        runtime.converse_stream(modelId=LLAMA_PROFILE, messages=[user("Weather?")], toolConfig={"tools": [WEATHER_TOOL]})
    assert e.value.response["Error"]["Message"] == "This model doesn't support tool use in streaming mode."


def test_the_same_model_streams_text_without_tools(runtime):
    evs = events(runtime.converse_stream(modelId=LLAMA_PROFILE, messages=[user("Hi")]))
    assert kinds(evs)[0] == "messageStart" and kinds(evs)[-1] == "metadata"
    assert streamed_text(evs)
