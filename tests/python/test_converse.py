"""Converse happy paths through boto3: text and usage, limits, system prompts and history,
tools, model id forms, request ids, seeds and structured output (SPEC §4.3, §6)."""
import json
import re

import pytest

from conftest import RunningEmulator, make_client

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_PROFILE = f"us.{HAIKU}"
SONNET_4 = "anthropic.claude-sonnet-4-20250514-v1:0"
# x-amzn-RequestId is a version-4 UUID (SPEC §1, §10).
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
WEATHER_TOOL = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {"json": WEATHER_SCHEMA},
    }
}
TIME_TOOL = {
    "toolSpec": {
        "name": "get_time",
        "description": "Current time in a timezone",
        "inputSchema": {
            "json": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}
        },
    }
}


def user(text):
    return {"role": "user", "content": [{"text": text}]}


def assistant(text):
    return {"role": "assistant", "content": [{"text": text}]}


def text_of(response):
    return "".join(b["text"] for b in response["output"]["message"]["content"] if "text" in b)


def tool_uses(response):
    return [b["toolUse"] for b in response["output"]["message"]["content"] if "toolUse" in b]


def conforms(value, schema):
    """A small JSON-schema check covering what these tests use: type, properties, required,
    enum, minimum/maximum, items/minItems."""
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return False
        if any(key not in value for key in schema.get("required", [])):
            return False
        props = schema.get("properties", {})
        return all(conforms(v, props[k]) for k, v in value.items() if k in props)
    if kind == "array":
        if not isinstance(value, list) or len(value) < schema.get("minItems", 0):
            return False
        return all(conforms(v, schema.get("items", {})) for v in value)
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "boolean":
        return isinstance(value, bool)
    else:
        return True
    return ok and schema.get("minimum", value) <= value <= schema.get("maximum", value)


def ask(runtime, text, model=HAIKU, **kwargs):
    return runtime.converse(modelId=model, messages=[user(text)], **kwargs)


# --- text, usage, metrics ---------------------------------------------------------------


def test_converse_returns_an_assistant_message_with_text(runtime):
    r = ask(runtime, "Say hello in five words.")
    assert r["output"]["message"]["role"] == "assistant"
    assert text_of(r).strip()
    assert r["stopReason"] == "end_turn"


def test_total_tokens_equal_input_plus_output_tokens(runtime):
    usage = ask(runtime, "Say hello in five words.")["usage"]
    assert usage["inputTokens"] > 0
    assert usage["outputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]


def test_metrics_report_a_non_negative_latency(runtime):
    metrics = ask(runtime, "Say hello in five words.")["metrics"]
    assert isinstance(metrics["latencyMs"], int)
    assert metrics["latencyMs"] >= 0


def test_the_reply_quotes_the_first_twelve_words_of_the_prompt(runtime):
    prompt = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    text = text_of(ask(runtime, prompt))
    assert text.startswith('You said: "one two three four five six seven eight nine ten eleven twelve". ')


def test_the_same_request_gets_the_same_reply(runtime):
    first = ask(runtime, "Tell me about rivers")
    second = ask(runtime, "Tell me about rivers")
    assert text_of(first) == text_of(second)
    assert first["usage"] == second["usage"]


def test_a_different_prompt_gets_a_different_reply(runtime):
    assert text_of(ask(runtime, "Tell me about rivers")) != text_of(ask(runtime, "Tell me about mountains"))


# --- limits -----------------------------------------------------------------------------


def test_max_tokens_truncates_the_reply(runtime):
    r = ask(runtime, "Write a long story about a lighthouse keeper.", inferenceConfig={"maxTokens": 5})
    assert r["stopReason"] == "max_tokens"
    assert r["usage"]["outputTokens"] <= 5


def test_a_truncated_reply_keeps_whole_tokens_from_the_start(runtime):
    prompt = "Write a long story about a lighthouse keeper."
    cut = text_of(ask(runtime, prompt, inferenceConfig={"maxTokens": 5}))
    # Five tokens of `You said: "Write a long story...`: You, said, :, ", Write.
    assert cut == 'You said: "Write'


def test_a_stop_sequence_ends_the_reply_before_it(runtime):
    # The synthetic model echoes the prompt, so a prompt word is a stop sequence it will meet.
    r = ask(runtime, "alpha beta gamma delta", inferenceConfig={"stopSequences": ["gamma"]})
    assert r["stopReason"] == "stop_sequence"
    text = text_of(r)
    assert "gamma" not in text
    assert text.startswith('You said: "alpha beta')


def test_a_stop_sequence_that_never_occurs_leaves_the_reply_alone(runtime):
    r = ask(runtime, "alpha beta gamma delta", inferenceConfig={"stopSequences": ["zzz-not-there"]})
    assert r["stopReason"] == "end_turn"
    assert text_of(r).startswith('You said: "alpha beta gamma delta". ')


# --- system prompt and history ----------------------------------------------------------


def test_a_system_prompt_raises_input_tokens(runtime):
    base = ask(runtime, "Hi")["usage"]["inputTokens"]
    with_system = ask(runtime, "Hi", system=[{"text": "You are a terse assistant who answers in one word."}])
    assert with_system["usage"]["inputTokens"] > base


def test_conversation_history_raises_input_tokens(runtime):
    base = ask(runtime, "Hi")["usage"]["inputTokens"]
    r = runtime.converse(
        modelId=HAIKU,
        messages=[user("My name is Ada and I like rivers."), assistant("Nice to meet you, Ada."), user("Hi")],
    )
    assert r["usage"]["inputTokens"] > base


def test_the_reply_answers_the_last_user_message(runtime):
    r = runtime.converse(
        modelId=HAIKU,
        messages=[user("My name is Ada."), assistant("Nice to meet you, Ada."), user("What rhymes with orange?")],
    )
    assert text_of(r).startswith('You said: "What rhymes with orange?". ')


# --- tools ------------------------------------------------------------------------------


def test_tool_choice_any_returns_a_tool_use_matching_the_schema(runtime):
    r = ask(
        runtime,
        "What is the weather in Paris?",
        toolConfig={"tools": [WEATHER_TOOL], "toolChoice": {"any": {}}},
    )
    assert r["stopReason"] == "tool_use"
    (call,) = tool_uses(r)
    assert call["name"] == "get_weather"
    assert call["toolUseId"]
    assert isinstance(call["input"]["city"], str)
    assert call["input"]["unit"] in ("celsius", "fahrenheit")
    assert conforms(call["input"], WEATHER_SCHEMA)


def test_tool_use_ids_follow_the_bedrock_format(runtime):
    r = ask(runtime, "What is the weather in Paris?", toolConfig={"tools": [WEATHER_TOOL], "toolChoice": {"any": {}}})
    (call,) = tool_uses(r)
    assert re.fullmatch(r"tooluse_[A-Za-z0-9_-]{22}", call["toolUseId"]), call["toolUseId"]


def test_a_named_tool_choice_calls_that_tool(runtime):
    r = ask(
        runtime,
        "Hello",
        toolConfig={"tools": [TIME_TOOL, WEATHER_TOOL], "toolChoice": {"tool": {"name": "get_weather"}}},
    )
    assert r["stopReason"] == "tool_use"
    assert [c["name"] for c in tool_uses(r)] == ["get_weather"]
    assert conforms(tool_uses(r)[0]["input"], WEATHER_SCHEMA)


def test_a_tool_input_satisfies_a_richer_schema(runtime):
    schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "limit": {"type": "integer", "minimum": 5, "maximum": 50},
            "sort": {"type": "string", "enum": ["relevance", "date"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "exact": {"type": "boolean"},
        },
        "required": ["query", "limit", "sort", "tags", "exact"],
    }
    tool = {"toolSpec": {"name": "search_docs", "inputSchema": {"json": schema}}}
    r = ask(runtime, "Find the docs", toolConfig={"tools": [tool], "toolChoice": {"any": {}}})
    (call,) = tool_uses(r)
    assert call["name"] == "search_docs"
    assert conforms(call["input"], schema), call["input"]


def test_a_tool_result_continues_the_conversation_with_text(runtime):
    config = {"tools": [WEATHER_TOOL], "toolChoice": {"any": {}}}
    first = ask(runtime, "What is the weather in Paris?", toolConfig=config)
    (call,) = tool_uses(first)
    r = runtime.converse(
        modelId=HAIKU,
        messages=[
            user("What is the weather in Paris?"),
            first["output"]["message"],
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": call["toolUseId"], "content": [{"text": "sunny and 21C"}]}}],
            },
        ],
        toolConfig={"tools": [WEATHER_TOOL]},
    )
    assert r["stopReason"] == "end_turn"
    assert not tool_uses(r)
    assert text_of(r) == "The get_weather tool returned: sunny and 21C."


def test_a_json_tool_result_is_summarised_in_the_reply(runtime):
    r = runtime.converse(
        modelId=HAIKU,
        messages=[
            user("What is the weather in Paris?"),
            {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"conditions": "sunny", "temperature": 21}}]}}
                ],
            },
        ],
        toolConfig={"tools": [WEATHER_TOOL]},
    )
    assert r["stopReason"] == "end_turn"
    text = text_of(r)
    assert text.startswith("The get_weather tool returned: ")
    assert "sunny" in text


def test_auto_tool_choice_calls_a_tool_named_in_the_prompt(runtime):
    r = ask(runtime, "Please get weather for Paris", toolConfig={"tools": [TIME_TOOL, WEATHER_TOOL]})
    assert r["stopReason"] == "tool_use"
    assert [c["name"] for c in tool_uses(r)] == ["get_weather"]


def test_auto_tool_choice_answers_in_text_when_no_tool_is_named(runtime):
    r = ask(runtime, "Tell me a joke about rivers", toolConfig={"tools": [TIME_TOOL, WEATHER_TOOL]})
    assert r["stopReason"] == "end_turn"
    assert not tool_uses(r)
    assert text_of(r)


# --- model id forms ---------------------------------------------------------------------


def test_an_inference_profile_id_is_accepted(runtime):
    r = ask(runtime, "Hi", model=HAIKU_PROFILE)
    assert r["stopReason"] == "end_turn"
    assert text_of(r)


def test_an_inference_profile_arn_is_accepted(runtime, control):
    arn = control.get_inference_profile(inferenceProfileIdentifier=HAIKU_PROFILE)["inferenceProfileArn"]
    assert text_of(ask(runtime, "Hi", model=arn))


def test_a_foundation_model_arn_is_accepted(runtime, control):
    arn = control.get_foundation_model(modelIdentifier=HAIKU)["modelDetails"]["modelArn"]
    assert arn == f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"
    assert text_of(ask(runtime, "Hi", model=arn))


def test_a_profile_only_model_is_accepted_through_its_profile(runtime):
    assert text_of(ask(runtime, "Hi", model=f"us.{SONNET_4}"))


# --- request ids ------------------------------------------------------------------------


def test_a_response_carries_a_request_id(runtime):
    meta = ask(runtime, "Hi")["ResponseMetadata"]
    assert UUID.match(meta["RequestId"]), meta["RequestId"]
    assert meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]


def test_each_response_gets_its_own_request_id(runtime):
    ids = {ask(runtime, "Hi")["ResponseMetadata"]["RequestId"] for _ in range(3)}
    assert len(ids) == 3


def test_an_error_response_carries_a_request_id(runtime):
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        ask(runtime, "Hi", model="not-a-model")
    assert UUID.match(e.value.response["ResponseMetadata"]["RequestId"])


# --- seeds ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded_runtime():
    running = RunningEmulator("--seed", "7")
    yield make_client("bedrock-runtime", running.url)
    running.stop()


@pytest.fixture(scope="module")
def restarted_runtime():
    running = RunningEmulator()
    yield make_client("bedrock-runtime", running.url)
    running.stop()


def test_a_different_seed_changes_the_text(runtime, seeded_runtime):
    default = text_of(ask(runtime, "Tell me about rivers"))
    seeded = text_of(ask(seeded_runtime, "Tell me about rivers"))
    assert seeded != default
    # The echo of the prompt does not depend on the seed, only the filler after it.
    assert seeded.startswith('You said: "Tell me about rivers". ')


def test_the_same_seed_gives_the_same_text_after_a_restart(runtime, restarted_runtime):
    assert text_of(ask(runtime, "Tell me about rivers")) == text_of(ask(restarted_runtime, "Tell me about rivers"))


# --- structured output ------------------------------------------------------------------

PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 18, "maximum": 120},
        "role": {"type": "string", "enum": ["admin", "viewer"]},
        "emails": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["name", "age", "role", "emails"],
}


def structured(schema):
    return {
        "textFormat": {
            "type": "json_schema",
            "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "person", "description": "A person"}},
        }
    }


def test_structured_output_returns_json_text_matching_the_schema(runtime):
    r = ask(runtime, "Describe a user of the system.", outputConfig=structured(PERSON_SCHEMA))
    assert r["stopReason"] == "end_turn"
    document = json.loads(text_of(r))
    assert conforms(document, PERSON_SCHEMA), document

