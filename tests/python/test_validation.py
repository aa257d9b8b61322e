"""Server-side validation through boto3: every error a bad request must get, with Bedrock's
code, HTTP status, x-amzn-ErrorType header and (where known) exact message (SPEC §2, §6.4).

botocore validates some members before sending (numeric minimums, required members); those
requests go through a client with `parameter_validation=False` so the emulator's answer is
what gets tested."""
import json
import urllib.error
import urllib.parse
import urllib.request

import boto3
import pytest
from botocore.config import Config

from conftest import make_client

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET_4 = "anthropic.claude-sonnet-4-20250514-v1:0"
TITAN_EMBED = "amazon.titan-embed-text-v2:0"
TITAN_TEXT = "amazon.titan-text-express-v1"
LLAMA_PROFILE = "us.meta.llama3-1-8b-instruct-v1:0"
ERROR_TYPE = "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"

WEATHER_TOOL = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                "required": ["city", "unit"],
            }
        },
    }
}
WEATHER_CONFIG = {"tools": [WEATHER_TOOL]}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def lenient_runtime(endpoint_url):
    """A runtime client that sends what botocore would refuse client-side."""
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEMULATOR",
        aws_secret_access_key="emulator-secret",
        config=Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"}),
    )


def user(text):
    return {"role": "user", "content": [{"text": text}]}


def assistant(text):
    return {"role": "assistant", "content": [{"text": text}]}


def tool_use(tool_use_id):
    return {"toolUse": {"toolUseId": tool_use_id, "name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}}}


def tool_result(tool_use_id, content=None, status=None):
    block = {"toolUseId": tool_use_id, "content": [{"text": "sunny"}] if content is None else content}
    if status:
        block["status"] = status
    return {"toolResult": block}


def rejected(client, call, **kwargs):
    """Runs `call` expecting the typed ValidationException and checks the parts every
    validation error shares; returns the error message."""
    with pytest.raises(client.exceptions.ValidationException) as e:
        call(**kwargs)
    response = e.value.response
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == ERROR_TYPE
    assert response["ResponseMetadata"]["RequestId"]
    return response["Error"]["Message"]


def converse_rejected(client, model=HAIKU, **kwargs):
    return rejected(client, client.converse, modelId=model, **kwargs)


# --- model ids --------------------------------------------------------------------------


def test_an_unknown_model_id_is_invalid(runtime):
    message = converse_rejected(runtime, model="anthropic.claude-nonexistent-v9:0", messages=[user("Hi")])
    assert message == "The provided model identifier is invalid."


def test_an_unknown_model_id_is_invalid_for_converse_stream_before_the_stream(runtime):
    message = rejected(runtime, runtime.converse_stream, modelId="no-such-model", messages=[user("Hi")])
    assert message == "The provided model identifier is invalid."


def test_a_profile_only_model_by_bare_id_needs_an_inference_profile(runtime):
    message = converse_rejected(runtime, model=SONNET_4, messages=[user("Hi")])
    assert "with on-demand throughput isn\u2019t supported" in message
    assert SONNET_4 in message


def test_an_embedding_model_is_refused_by_converse(runtime):
    converse_rejected(runtime, model=TITAN_EMBED, messages=[user("Hi")])


# --- conversation shape -----------------------------------------------------------------


def test_a_conversation_must_start_with_a_user_message(runtime):
    message = converse_rejected(runtime, messages=[assistant("Hello"), user("Hi")])
    assert message == (
        "A conversation must start with a user message. Try again with a conversation that starts with a user message."
    )


def test_roles_must_alternate(runtime):
    message = converse_rejected(runtime, messages=[user("Hi"), user("Hello?")])
    assert message == (
        "A conversation must alternate between user and assistant roles. "
        "Make sure the conversation alternates between user and assistant roles and try again."
    )


def test_a_blank_text_block_is_rejected(runtime):
    message = converse_rejected(runtime, messages=[user("  ")])
    assert message == (
        "The text field in the ContentBlock object at messages.0.content.0 is blank. Add text to the text field, and try again."
    )


def test_a_blank_text_block_is_located_by_message_and_block_index(runtime):
    messages = [user("Hi"), assistant("Hello"), {"role": "user", "content": [{"text": "ok"}, {"text": "\n\t"}]}]
    message = converse_rejected(runtime, messages=messages)
    assert "at messages.2.content.1 is blank" in message


def test_an_empty_content_list_is_rejected(runtime):
    converse_rejected(runtime, messages=[{"role": "user", "content": []}])


# --- inference configuration ------------------------------------------------------------


def test_temperature_above_one_is_rejected(runtime):
    message = converse_rejected(runtime, messages=[user("Hi")], inferenceConfig={"temperature": 1.5})
    assert "Member must have value less than or equal to 1" in message
    assert "inferenceConfig.temperature" in message


def test_negative_top_p_is_rejected(lenient_runtime):
    message = converse_rejected(lenient_runtime, messages=[user("Hi")], inferenceConfig={"topP": -0.5})
    assert "Member must have value greater than or equal to 0" in message
    assert "inferenceConfig.topP" in message


def test_max_tokens_above_the_model_limit_is_rejected(runtime):
    message = converse_rejected(runtime, messages=[user("Hi")], inferenceConfig={"maxTokens": 1_000_000})
    assert message == (
        "The maximum tokens you requested exceeds the model limit of 4096. "
        "Try again with a maximum tokens value that is lower than 4096."
    )


def test_max_tokens_below_one_is_rejected(lenient_runtime):
    converse_rejected(lenient_runtime, messages=[user("Hi")], inferenceConfig={"maxTokens": 0})


# --- tools ------------------------------------------------------------------------------


def test_tool_blocks_without_tool_config_are_rejected(runtime):
    messages = [
        user("Weather?"),
        {"role": "assistant", "content": [tool_use("tooluse_1")]},
        {"role": "user", "content": [tool_result("tooluse_1")]},
    ]
    message = converse_rejected(runtime, messages=messages)
    assert message == "The toolConfig field must be defined when using toolUse and toolResult content blocks."


def test_more_tool_results_than_tool_uses_are_rejected(runtime):
    messages = [
        user("Weather?"),
        {"role": "assistant", "content": [tool_use("tooluse_1")]},
        {"role": "user", "content": [tool_result("tooluse_1"), tool_result("tooluse_2")]},
    ]
    message = converse_rejected(runtime, messages=messages, toolConfig=WEATHER_CONFIG)
    assert message == (
        "The number of toolResult blocks at messages.2.content exceeds the number of toolUse blocks of previous turn."
    )


def test_an_unanswered_tool_use_is_rejected(runtime):
    messages = [user("Weather?"), {"role": "assistant", "content": [tool_use("tooluse_1")]}, user("Never mind.")]
    message = converse_rejected(runtime, messages=messages, toolConfig=WEATHER_CONFIG)
    assert "tooluse_1" in message


def test_an_error_tool_result_needs_content(runtime):
    messages = [
        user("Weather?"),
        {"role": "assistant", "content": [tool_use("tooluse_1")]},
        {"role": "user", "content": [tool_result("tooluse_1", content=[], status="error")]},
    ]
    message = converse_rejected(runtime, messages=messages, toolConfig=WEATHER_CONFIG)
    assert message == "The content field at messages.2.content.0.toolResult cannot be empty when status value is error."


def test_a_tool_choice_naming_an_undefined_tool_is_rejected(runtime):
    config = {"tools": [WEATHER_TOOL], "toolChoice": {"tool": {"name": "get_time"}}}
    message = converse_rejected(runtime, messages=[user("Hi")], toolConfig=config)
    assert "get_time" in message


def test_tool_use_is_refused_by_models_without_tools(runtime):
    message = converse_rejected(runtime, model=TITAN_TEXT, messages=[user("Weather?")], toolConfig=WEATHER_CONFIG)
    assert message == "This model doesn't support tool use."


def test_streaming_tool_use_is_refused_by_models_without_it(runtime):
    message = rejected(
        runtime, runtime.converse_stream, modelId=LLAMA_PROFILE, messages=[user("Weather?")], toolConfig=WEATHER_CONFIG
    )
    assert message == "This model doesn't support tool use in streaming mode."


# --- images -----------------------------------------------------------------------------


def test_an_unknown_image_format_is_rejected(runtime):
    content = [{"image": {"format": "bmp", "source": {"bytes": PNG}}}, {"text": "What is this?"}]
    message = converse_rejected(runtime, messages=[{"role": "user", "content": content}])
    assert "bmp" in message


def test_images_are_only_accepted_in_user_messages(runtime):
    messages = [
        user("Draw"),
        {"role": "assistant", "content": [{"image": {"format": "png", "source": {"bytes": PNG}}}]},
        user("Thanks"),
    ]
    converse_rejected(runtime, messages=messages)


def test_an_image_in_a_user_message_is_accepted(runtime):
    content = [{"image": {"format": "png", "source": {"bytes": PNG}}}, {"text": "What is this?"}]
    r = runtime.converse(modelId=HAIKU, messages=[{"role": "user", "content": content}])
    assert r["stopReason"] == "end_turn"


# --- operations and bodies the SDK does not normally send -------------------------------


def raw_request(url, method="GET", body=None):
    """Sends a request with urllib and returns (status, headers, body bytes), errors included."""
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def converse_url(endpoint_url, model=HAIKU):
    return f"{endpoint_url}/model/{urllib.parse.quote(model, safe='')}/converse"


def test_an_unknown_route_is_a_404_unknown_operation(endpoint_url):
    status, headers, body = raw_request(f"{endpoint_url}/nothing-here")
    assert status == 404
    assert headers["x-amzn-ErrorType"].split(":", 1)[0] == "UnknownOperationException"
    assert headers["x-amzn-RequestId"]
    assert isinstance(json.loads(body)["message"], str)


def test_a_non_object_json_body_is_a_validation_error(endpoint_url):
    status, headers, body = raw_request(converse_url(endpoint_url), method="POST", body=b'[{"role": "user"}]')
    assert status == 400
    assert headers["x-amzn-ErrorType"] == ERROR_TYPE
    assert headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert list(document) == ["message"]
    assert document["message"]


def test_a_malformed_json_body_gets_a_json_message_body(endpoint_url):
    status, headers, body = raw_request(converse_url(endpoint_url), method="POST", body=b'{"messages": [')
    assert status == 400
    assert headers["x-amzn-ErrorType"] == ERROR_TYPE
    document = json.loads(body)
    assert list(document) == ["message"]
    assert document["message"]


def test_a_malformed_json_body_raises_the_typed_exception_in_boto3(endpoint_url):
    client = make_client("bedrock-runtime", endpoint_url)

    def corrupt_body(request, **_):
        request.body = b'{"messages": [{"role": "user", "content": [{"text": "Hi"}'
        request.headers["Content-Length"] = str(len(request.body))

    client.meta.events.register("before-send.bedrock-runtime.Converse", corrupt_body)
    rejected(client, client.converse, modelId=HAIKU, messages=[user("Hi")])


# --- constrained header members and union shapes (hardening) ------------------------------


ANTHROPIC_BODY = json.dumps(
    {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
)


@pytest.mark.parametrize(
    "member, value, allowed",
    [
        ("trace", "BOGUS", "[ENABLED, DISABLED, ENABLED_FULL]"),
        ("performanceConfigLatency", "fast", "[standard, optimized]"),
        ("serviceTier", "gold", "[priority, default, flex, reserved]"),
    ],
)
def test_enum_valued_invoke_model_headers_outside_their_set_are_refused(runtime, member, value, allowed):
    for call in (runtime.invoke_model, runtime.invoke_model_with_response_stream):
        message = rejected(runtime, call, modelId=HAIKU, body=ANTHROPIC_BODY, **{member: value})
        assert message == (
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: {allowed}"
        )


def test_an_enum_valued_header_inside_its_set_is_accepted(runtime):
    out = runtime.invoke_model(modelId=HAIKU, body=ANTHROPIC_BODY, trace="DISABLED", performanceConfigLatency="standard")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_tool_choice_member_that_is_not_a_structure_is_refused(endpoint_url):
    # No SDK can serialise a string where the model has a structure: a raw request is the only
    # way to send this malformed body.
    body = {"messages": [user("hi")], "toolConfig": {"tools": [WEATHER_TOOL], "toolChoice": {"auto": "yes"}}}
    request = urllib.request.Request(
        f"{endpoint_url}/model/{urllib.parse.quote(HAIKU, safe='')}/converse",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 400
    assert e.value.headers["x-amzn-errortype"] == ERROR_TYPE
    message = json.loads(e.value.read())["message"]
    assert "'toolConfig.toolChoice.auto'" in message and "Member must be a structure" in message


def test_a_tool_result_text_that_is_not_a_string_is_refused(lenient_runtime):
    messages = [
        user("Weather in Paris?"),
        {"role": "assistant", "content": [tool_use("t1")]},
        {"role": "user", "content": [tool_result("t1", content=[{"text": {"not": "a string"}}])]},
    ]
    message = converse_rejected(lenient_runtime, messages=messages, toolConfig=WEATHER_CONFIG)
    assert "toolResult.content.1.member.text" in message and "Member must be a string" in message


# --- context windows (hardening) -----------------------------------------------------------------

NOVA_MICRO = "amazon.nova-micro-v1:0"


def prompt_of(tokens):
    """A one-message prompt the emulator counts as `tokens`: each `a` is a token, and a message
    adds four."""
    return "a " * (tokens - 4)


def test_count_tokens_reports_the_count_the_context_window_is_compared_with(runtime):
    at = prompt_of(200_000)
    counted = runtime.count_tokens(modelId=HAIKU, input={"converse": {"messages": [user(at)]}})["inputTokens"]
    assert counted == 200_000
    assert runtime.converse(modelId=HAIKU, messages=[user(at)])["usage"]["inputTokens"] == 200_000
    message = rejected(runtime, runtime.count_tokens, modelId=HAIKU, input={"converse": {"messages": [user(at + "a")]}})
    assert message == "prompt is too long: 200001 tokens > 200000 maximum"


def test_one_token_over_a_claude_window_is_refused_by_converse_with_the_models_count(runtime):
    message = converse_rejected(runtime, messages=[user(prompt_of(200_001))])
    assert message == "The model returned the following errors: prompt is too long: 200001 tokens > 200000 maximum"


def test_one_token_over_the_window_is_refused_by_invoke_model(runtime):
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                       "messages": [{"role": "user", "content": prompt_of(200_001)}]})
    for call in (runtime.invoke_model, runtime.invoke_model_with_response_stream):
        assert rejected(runtime, call, modelId=HAIKU, body=body) == "Input is too long for requested model."


def test_other_models_over_their_window_get_bedrocks_own_refusal(runtime):
    message = converse_rejected(runtime, model=NOVA_MICRO, messages=[user(prompt_of(128_001))])
    assert message == "The model returned the following errors: Input is too long for requested model."
    body = json.dumps({"inputText": "a " * 9000})
    assert rejected(runtime, runtime.invoke_model, modelId=TITAN_TEXT, body=body) == "Input is too long for requested model."


def test_count_tokens_counts_past_the_window_of_models_it_has_no_refusal_for(runtime):
    over = prompt_of(128_001)
    counted = runtime.count_tokens(modelId=NOVA_MICRO, input={"converse": {"messages": [user(over)]}})["inputTokens"]
    assert counted == 128_001


def test_a_titan_embedding_over_its_input_window_is_refused_with_titans_message(runtime):
    body = json.dumps({"inputText": "a " * 8193})
    message = rejected(runtime, runtime.invoke_model, modelId=TITAN_EMBED, body=body)
    assert message == "400 Bad Request: Too many input tokens. Max input tokens: 8192, request input token count: 8193"


def test_a_cohere_embed_v3_text_over_2048_characters_is_refused_by_the_schema(runtime):
    body = json.dumps({"texts": ["ok", "x" * 2049], "input_type": "search_document"})
    message = rejected(runtime, runtime.invoke_model, modelId="cohere.embed-english-v3", body=body)
    assert message == (
        "Malformed input request: #/texts/1: expected maxLength: 2048, actual: 2049, please reformat your input and try again."
    )


def test_cohere_embed_refuses_a_text_over_its_window_unless_asked_to_truncate(runtime):
    text = "a " * 513
    body = {"texts": [text], "input_type": "search_document"}
    message = rejected(runtime, runtime.invoke_model, modelId="cohere.embed-english-v3", body=json.dumps(body))
    assert message == "Input is too long for requested model."
    out = runtime.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps(dict(body, truncate="END")))
    assert len(json.loads(out["body"].read())["embeddings"]) == 1


# --- native numeric members (hardening) ----------------------------------------------------------

CLAUDE_37_PROFILE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"


def claude_body(**members):
    return dict({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                 "messages": [{"role": "user", "content": "hi"}]}, **members)


NATIVE_INTEGER_MEMBERS = [
    (HAIKU, "#/max_tokens", lambda v: claude_body(max_tokens=v)),
    (HAIKU, "#/top_k", lambda v: claude_body(top_k=v)),
    ("meta.llama3-8b-instruct-v1:0", "#/max_gen_len", lambda v: {"prompt": "hi", "max_gen_len": v}),
    (TITAN_TEXT, "#/textGenerationConfig/maxTokenCount",
     lambda v: {"inputText": "hi", "textGenerationConfig": {"maxTokenCount": v}}),
    ("amazon.nova-micro-v1:0", "#/inferenceConfig/topK",
     lambda v: {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"topK": v}}),
    ("cohere.command-r-v1:0", "#/seed", lambda v: {"message": "hi", "seed": v}),
    ("cohere.command-text-v14", "#/k", lambda v: {"prompt": "hi", "k": v}),
    ("ai21.jamba-1-5-mini-v1:0", "#/n", lambda v: {"messages": [{"role": "user", "content": "hi"}], "n": v}),
    ("mistral.mistral-7b-instruct-v0:2", "#/top_k", lambda v: {"prompt": "<s>[INST] hi [/INST]", "top_k": v}),
]


@pytest.mark.parametrize("model, path, body", NATIVE_INTEGER_MEMBERS, ids=[f"{m}{p[1:]}" for m, p, _ in NATIVE_INTEGER_MEMBERS])
def test_a_huge_float_in_a_native_integer_member_is_refused_like_a_fraction(runtime, model, path, body):
    expected = f"Malformed input request: {path}: expected type: Integer, found: Number, please reformat your input and try again."
    for value in (100.5, 1e30):
        assert rejected(runtime, runtime.invoke_model, modelId=model, body=json.dumps(body(value))) == expected


@pytest.mark.parametrize("model, path, body", NATIVE_INTEGER_MEMBERS, ids=[f"{m}{p[1:]}" for m, p, _ in NATIVE_INTEGER_MEMBERS])
def test_a_native_integer_member_past_a_java_int_or_its_cap_is_refused(runtime, model, path, body):
    message = rejected(runtime, runtime.invoke_model, modelId=model, body=json.dumps(body(3_000_000_000)))
    assert message.startswith(f"Malformed input request: {path}: 3000000000 is not less or equal to ")


def test_a_whole_number_written_as_a_float_counts_as_that_integer(runtime):
    out = runtime.invoke_model(modelId=HAIKU, body=json.dumps(claude_body(max_tokens=5.0)))
    assert json.loads(out["body"].read())["usage"]["output_tokens"] <= 5


def test_a_thinking_budget_that_is_not_an_integer_is_refused_through_converse(runtime):
    fields = {"thinking": {"type": "enabled", "budget_tokens": 1e30}}
    message = converse_rejected(runtime, model=CLAUDE_37_PROFILE, messages=[user("Hi")],
                                inferenceConfig={"maxTokens": 4096}, additionalModelRequestFields=fields)
    assert message == "The model returned the following errors: thinking.enabled.budget_tokens: Input should be a valid integer"


# --- model ids and ARNs against the service model's patterns (hardening) --------------------------

BAD_REGION_ARN = f"arn:aws:bedrock:US-EAST-1::foundation-model/{HAIKU}"


def pattern_refusal(value, member):
    return (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: ")


@pytest.mark.parametrize("region", ["US-EAST-1", "us_east_1", "a-region-name-longer-than-twenty", ""])
def test_an_arn_whose_region_does_not_fit_the_model_id_pattern_is_refused_by_every_runtime_operation(runtime, region):
    arn = f"arn:aws:bedrock:{region}::foundation-model/{HAIKU}"
    calls = [
        (runtime.converse, {"messages": [user("Hi")]}),
        (runtime.converse_stream, {"messages": [user("Hi")]}),
        (runtime.invoke_model, {"body": ANTHROPIC_BODY}),
        (runtime.invoke_model_with_response_stream, {"body": ANTHROPIC_BODY}),
    ]
    for call, kwargs in calls:
        message = rejected(runtime, call, modelId=arn, **kwargs)
        assert message.startswith(pattern_refusal(arn, "modelId") + "(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:"), message


def test_count_tokens_holds_its_model_id_to_its_own_pattern(runtime):
    converse_input = {"converse": {"messages": [user("Hi")]}}
    arn = f"arn:aws:bedrock:us east 1::foundation-model/{HAIKU}"
    message = rejected(runtime, runtime.count_tokens, modelId=arn, input=converse_input)
    assert message == pattern_refusal(arn, "modelId") + "[a-zA-Z_\\.\\-/0-9:]+"
    too_long = "a" * 257
    message = rejected(runtime, runtime.count_tokens, modelId=too_long, input=converse_input)
    assert message.endswith("at 'modelId' failed to satisfy constraint: Member must have length less than or equal to 256")


def test_a_model_id_past_2048_characters_is_refused_by_its_length(runtime):
    message = converse_rejected(runtime, model="a" * 2049, messages=[user("Hi")])
    assert message.endswith("at 'modelId' failed to satisfy constraint: Member must have length less than or equal to 2048")


def test_control_plane_identifiers_are_held_to_their_patterns_too(control):
    message = rejected(control, control.get_foundation_model, modelIdentifier=BAD_REGION_ARN)
    assert message.startswith(pattern_refusal(BAD_REGION_ARN, "modelIdentifier"))
    profile = f"arn:aws:bedrock:US-EAST-1:123456789012:inference-profile/us.{HAIKU}"
    message = rejected(control, control.get_inference_profile, inferenceProfileIdentifier=profile)
    assert message.startswith(pattern_refusal(profile, "inferenceProfileIdentifier"))


def test_an_arn_with_a_well_formed_region_still_resolves(runtime):
    arn = f"arn:aws:bedrock:us-west-2::foundation-model/{HAIKU}"
    assert runtime.converse(modelId=arn, messages=[user("Hi")])["stopReason"] == "end_turn"
