"""Anthropic's own Python client end to end: `anthropic.AnthropicBedrock` pointed at the
emulator, which it drives through InvokeModel (`messages.create`) and
InvokeModelWithResponseStream (`messages.stream`) with SigV4-signed Messages API bodies
(SPEC §7.1). Everything is read back through the SDK's own types.

Every test runs twice, once per `anthropic_version` body value a real client sends:
`bedrock-2023-05-31` (the Bedrock docs, SPEC §7.1, and anthropic<2.0) and the SDK's own default
(anthropic>=2.0 sends its API version, `anthropic._constants.ANTHROPIC_API_VERSION`, e.g.
`2026-10-21`). The documented value is sent through `extra_body`, which the SDK merges before it
fills in its default."""
import json
from contextlib import contextmanager

import anthropic
import pytest
from anthropic import AnthropicBedrock
from anthropic._constants import ANTHROPIC_API_VERSION

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET_37_PROFILE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
PROMPT = "Describe a quiet harbor at dawn."

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
}

# Test id -> the anthropic_version to send explicitly (None: leave the SDK's default).
VERSIONS = {"sdk-default-version": None, "bedrock-2023-05-31": "bedrock-2023-05-31"}


class Sdk:
    """The client, plus the anthropic_version this run sends and the bodies it sent."""

    def __init__(self, endpoint_url, version):
        self.version = version
        self.sent = []
        # The SDK's own default HTTP client (its timeouts and limits), plus a hook that records
        # what is sent.
        http = anthropic.DefaultHttpxClient(event_hooks={"request": [self._record]})
        # No retries: errors are deterministic and a retry would hide what a test asserts.
        self.client = AnthropicBedrock(aws_region="us-east-1", aws_access_key="x", aws_secret_key="y",
                                       base_url=endpoint_url, max_retries=0, http_client=http)

    def _record(self, request):
        self.sent.append((request.url.path, json.loads(request.read() or b"null")))

    def _kwargs(self, kwargs):
        kwargs.setdefault("model", HAIKU)
        kwargs.setdefault("max_tokens", 300)
        if self.version:
            kwargs["extra_body"] = {"anthropic_version": self.version, **kwargs.get("extra_body", {})}
        return kwargs

    def create(self, prompt=PROMPT, **kwargs):
        kwargs.setdefault("messages", [{"role": "user", "content": prompt}])
        return self.client.messages.create(**self._kwargs(kwargs))

    @contextmanager
    def stream(self, prompt=PROMPT, **kwargs):
        kwargs.setdefault("messages", [{"role": "user", "content": prompt}])
        with self.client.messages.stream(**self._kwargs(kwargs)) as s:
            yield s


@pytest.fixture(scope="module", params=list(VERSIONS.values()), ids=list(VERSIONS))
def sdk(request, endpoint_url):
    return Sdk(endpoint_url, request.param)


def text_of(message):
    return "".join(b.text for b in message.content if b.type == "text")


@pytest.fixture(scope="module")
def message(sdk):
    return sdk.create()


def test_the_sdk_sends_invoke_model_with_the_expected_anthropic_version(sdk):
    sdk.sent.clear()
    try:
        sdk.create()
    except anthropic.APIStatusError:
        pass  # what the emulator answers is for the other tests
    ((path, body),) = sdk.sent
    assert path == f"/model/{HAIKU}/invoke"
    assert body["anthropic_version"] == (sdk.version or ANTHROPIC_API_VERSION)
    assert "model" not in body and "stream" not in body


# --- messages.create ----------------------------------------------------------------------


def test_create_returns_an_assistant_message_with_text(message):
    assert isinstance(message, anthropic.types.Message)
    assert message.type == "message"
    assert message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert text_of(message).strip()
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None


def test_create_names_the_model_and_a_bedrock_message_id(message):
    assert message.model == "claude-3-haiku-20240307"
    assert message.id.startswith("msg_bdrk_")


def test_create_reports_usage(message):
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0


def test_create_text_equals_converse_text(runtime, message):
    r = runtime.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": PROMPT}]}],
                         inferenceConfig={"maxTokens": 300})
    assert text_of(message) == "".join(b["text"] for b in r["output"]["message"]["content"] if "text" in b)


def test_create_reply_quotes_the_prompt(message):
    assert text_of(message).startswith(f'You said: "{PROMPT}". ')


def test_a_system_prompt_is_billed_as_input(sdk, message):
    with_system = sdk.create(system="You are a terse harbor pilot who answers in one line.")
    assert with_system.usage.input_tokens > message.usage.input_tokens
    assert with_system.stop_reason == "end_turn"


def test_a_system_prompt_as_text_blocks_is_accepted(sdk):
    r = sdk.create(system=[{"type": "text", "text": "You are a terse harbor pilot."}])
    assert text_of(r).strip()


def test_a_multi_turn_conversation_answers_the_last_user_turn(sdk):
    r = sdk.create(messages=[
        {"role": "user", "content": "Where is the lighthouse?"},
        {"role": "assistant", "content": "North of the breakwater."},
        {"role": "user", "content": [{"type": "text", "text": "And the fish market?"}]},
    ])
    assert text_of(r).startswith('You said: "And the fish market?". ')
    assert r.stop_reason == "end_turn"


def test_tool_choice_any_returns_a_tool_use_block(sdk):
    r = sdk.create("What is the weather in Paris?", tools=[WEATHER_TOOL], tool_choice={"type": "any"})
    assert r.stop_reason == "tool_use"
    (call,) = [b for b in r.content if b.type == "tool_use"]
    assert isinstance(call, anthropic.types.ToolUseBlock)
    assert call.name == "get_weather"
    assert call.id.startswith("toolu_bdrk_")
    assert isinstance(call.input["city"], str)
    assert call.input["unit"] in ("celsius", "fahrenheit")


def test_a_named_tool_choice_calls_that_tool_without_text(sdk):
    r = sdk.create("Hello", tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "get_weather"})
    assert [b.type for b in r.content] == ["tool_use"]
    assert r.content[0].name == "get_weather"


def test_a_tool_result_turn_gets_a_text_reply(sdk):
    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = sdk.create(messages=[question], tools=[WEATHER_TOOL], tool_choice={"type": "any"})
    (call,) = [b for b in first.content if b.type == "tool_use"]
    r = sdk.create(tools=[WEATHER_TOOL], messages=[
        question,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 degrees and sunny"}]},
    ])
    assert r.stop_reason == "end_turn"
    assert text_of(r).startswith("The get_weather tool returned: 18 degrees and sunny")


def test_a_stop_sequence_ends_the_reply_with_stop_sequence(sdk):
    # The reply quotes the prompt, so a word of the prompt is met.
    r = sdk.create("Tell me about the harbor at dawn", stop_sequences=["harbor"])
    assert r.stop_reason == "stop_sequence"
    assert r.stop_sequence == "harbor"
    assert "harbor" not in text_of(r)


def test_max_tokens_ends_the_reply_with_max_tokens(sdk):
    r = sdk.create("Write a long story about a lighthouse keeper and the sea.", max_tokens=5)
    assert r.stop_reason == "max_tokens"
    assert r.usage.output_tokens <= 5


def test_thinking_returns_a_thinking_block_before_the_text(sdk):
    r = sdk.create("Is 1,001 a prime number?", model=SONNET_37_PROFILE, max_tokens=2048,
                   thinking={"type": "enabled", "budget_tokens": 1024})
    assert [b.type for b in r.content] == ["thinking", "text"]
    assert isinstance(r.content[0], anthropic.types.ThinkingBlock)
    assert r.content[0].thinking.strip() and r.content[0].signature


# --- messages.stream ----------------------------------------------------------------------


def test_streamed_text_equals_create_text(sdk, message):
    with sdk.stream() as s:
        streamed = "".join(s.text_stream)
    assert streamed == text_of(message)


def test_the_final_streamed_message_equals_the_created_message(sdk, message):
    with sdk.stream() as s:
        final = s.get_final_message()
    assert final.id == message.id
    # The stream accumulates its own block classes (ParsedTextBlock): compare what they hold.
    assert [(b.type, b.text) for b in final.content] == [(b.type, b.text) for b in message.content]
    assert final.stop_reason == message.stop_reason == "end_turn"
    assert final.usage.input_tokens == message.usage.input_tokens
    assert final.usage.output_tokens == message.usage.output_tokens


def test_the_stream_sends_the_message_events_in_order(sdk):
    with sdk.stream() as s:
        kinds = [event.type for event in s]
    # The SDK adds its own `text` events beside each raw text delta.
    raw = [k for k in kinds if k not in ("text",)]
    assert raw[:2] == ["message_start", "content_block_start"]
    assert set(raw[2:-3]) == {"content_block_delta"}
    assert raw[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_a_streamed_tool_call_arrives_as_parsed_input(sdk):
    with sdk.stream("What is the weather in Paris?", tools=[WEATHER_TOOL], tool_choice={"type": "any"}) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    (call,) = [b for b in final.content if b.type == "tool_use"]
    assert call.name == "get_weather"
    assert set(call.input) == {"city", "unit"}


def test_streamed_thinking_arrives_before_the_text(sdk):
    with sdk.stream("Is 1,001 a prime number?", model=SONNET_37_PROFILE, max_tokens=2048,
                    thinking={"type": "enabled", "budget_tokens": 1024}) as s:
        final = s.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].signature


# --- errors -------------------------------------------------------------------------------


def test_a_malformed_body_raises_bad_request_with_the_emulator_message(sdk):
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.create(extra_body={"not_a_parameter": 1})
    assert info.value.status_code == 400
    message = info.value.body["message"]
    assert message.startswith("Malformed input request: ")
    assert "extraneous key [not_a_parameter] is not permitted" in message
    assert message in str(info.value)


def test_an_unknown_model_raises_bad_request(sdk):
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.create(model="anthropic.claude-does-not-exist-v1:0")
    assert info.value.body["message"] == "The provided model identifier is invalid."


def test_a_thinking_budget_below_1024_raises_bad_request(sdk):
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.create(model=SONNET_37_PROFILE, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1000})
    assert "budget_tokens" in info.value.body["message"]


def test_a_malformed_streaming_body_raises_before_any_event(sdk):
    with pytest.raises(anthropic.BadRequestError) as info:
        with sdk.stream(extra_body={"not_a_parameter": 1}) as s:
            list(s)
    assert info.value.body["message"].startswith("Malformed input request: ")
