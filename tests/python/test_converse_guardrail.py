"""Converse and ConverseStream with a `guardrailConfig` naming a created guardrail, through
boto3: blocked input, blocked and masked output (synthetic and scripted replies alike),
guardContent blocks, traces, streams, and a guardrail that does not exist."""
import pytest

from conftest import make_client
from emulator_admin import load_scenario, reset

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
GUARDRAIL = dict(
    name="chat-guard",
    topicPolicyConfig={"topicsConfig": [{
        "name": "InvestmentAdvice",
        "definition": "Recommendations about stocks, bonds, funds or other investments",
        "examples": ["Which stocks should I buy?"],
        "type": "DENY",
    }]},
    sensitiveInformationPolicyConfig={"piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
    wordPolicyConfig={"wordsConfig": [{"text": "frobnicate"}]},
    blockedInputMessaging="I can't discuss that.",
    blockedOutputsMessaging="I can't share that answer.",
)


@pytest.fixture
def env(server):
    reset(server.url)
    bedrock = make_client("bedrock", server.url)
    runtime = make_client("bedrock-runtime", server.url)
    g = bedrock.create_guardrail(**GUARDRAIL)
    return server, runtime, g


def converse(runtime, g, text, trace="disabled", content=None, **kwargs):
    return runtime.converse(
        modelId=HAIKU,
        messages=[{"role": "user", "content": content or [{"text": text}]}],
        guardrailConfig={"guardrailIdentifier": g["guardrailId"], "guardrailVersion": "DRAFT", "trace": trace},
        **kwargs,
    )


def test_blocked_input_answers_the_blocked_message(env):
    _, runtime, g = env
    r = converse(runtime, g, "Which stocks should I buy this year?", trace="enabled")
    assert r["stopReason"] == "guardrail_intervened"
    assert r["output"]["message"]["content"] == [{"text": "I can't discuss that."}]
    assert r["usage"]["outputTokens"] == 0
    trace = r["trace"]["guardrail"]
    assert trace["actionReason"] == "Guardrail blocked."
    topics = trace["inputAssessment"][g["guardrailId"]]["topicPolicy"]["topics"]
    assert topics == [{"name": "InvestmentAdvice", "type": "DENY", "action": "BLOCKED", "detected": True}]
    assert "outputAssessments" not in trace


def test_a_passing_conversation_is_answered_and_traced(env):
    _, runtime, g = env
    plain = runtime.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "Tell me about the sea."}]}])
    r = converse(runtime, g, "Tell me about the sea.", trace="enabled")
    assert r["stopReason"] == plain["stopReason"] == "end_turn"
    assert r["output"] == plain["output"]
    assert r["trace"]["guardrail"]["actionReason"] == "No action."
    assert g["guardrailId"] in r["trace"]["guardrail"]["outputAssessments"]
    assert "trace" not in converse(runtime, g, "Tell me about the sea.")


def test_scripted_output_is_blocked_or_masked(env):
    server, runtime, g = env
    load_scenario(server.url, """version: 1
rules:
  - name: leaky
    match: {lastUserMessage: {contains: secret}}
    reply: {text: "Write to boss@example.com for the secret."}
  - name: rude
    match: {lastUserMessage: {contains: word}}
    reply: {text: "The word is frobnicate."}
""")
    masked = converse(runtime, g, "What is the secret?", trace="enabled_full")
    assert masked["stopReason"] == "guardrail_intervened"
    assert masked["output"]["message"]["content"] == [{"text": "Write to {EMAIL} for the secret."}]
    assert masked["trace"]["guardrail"]["modelOutput"] == ["Write to boss@example.com for the secret."]
    blocked = converse(runtime, g, "Say the word.")
    assert blocked["stopReason"] == "guardrail_intervened"
    assert blocked["output"]["message"]["content"] == [{"text": "I can't share that answer."}]


def test_only_guard_content_is_evaluated_when_present(env):
    _, runtime, g = env
    content = [
        {"text": "Which stocks should I buy this year?"},
        {"guardContent": {"text": {"text": "Tell me about the sea."}}},
    ]
    # The input passes (only the guard content is checked); the reply, which echoes the
    # prompt, is still assessed as output.
    passed = converse(runtime, g, None, content=content, trace="enabled")["trace"]["guardrail"]
    assert "topicPolicy" not in passed["inputAssessment"][g["guardrailId"]]
    guarded = [{"text": "Tell me about the sea."}, {"guardContent": {"text": {"text": "Which stocks should I buy?"}}}]
    r = converse(runtime, g, None, content=guarded, trace="enabled")
    assert r["stopReason"] == "guardrail_intervened"
    assert r["output"]["message"]["content"] == [{"text": "I can't discuss that."}]


def test_streams_carry_the_guarded_reply_and_the_trace(env):
    _, runtime, g = env
    r = runtime.converse_stream(
        modelId=HAIKU,
        messages=[{"role": "user", "content": [{"text": "Which stocks should I buy this year?"}]}],
        guardrailConfig={"guardrailIdentifier": g["guardrailId"], "guardrailVersion": "DRAFT", "trace": "enabled", "streamProcessingMode": "sync"},
    )
    events = list(r["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "I can't discuss that."
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["guardrail_intervened"]
    (metadata,) = [e["metadata"] for e in events if "metadata" in e]
    assert metadata["trace"]["guardrail"]["actionReason"] == "Guardrail blocked."


def test_versions_and_unknown_guardrails(env):
    server, runtime, g = env
    bedrock = make_client("bedrock", server.url)
    bedrock.create_guardrail_version(guardrailIdentifier=g["guardrailId"])
    r = runtime.converse(
        modelId=HAIKU,
        messages=[{"role": "user", "content": [{"text": "Which stocks should I buy this year?"}]}],
        guardrailConfig={"guardrailIdentifier": g["guardrailArn"], "guardrailVersion": "1"},
    )
    assert r["stopReason"] == "guardrail_intervened"
    for version in ("2", ""):
        with pytest.raises(runtime.exceptions.ValidationException) as e:
            runtime.converse(
                modelId=HAIKU,
                messages=[{"role": "user", "content": [{"text": "hi"}]}],
                guardrailConfig={"guardrailIdentifier": g["guardrailId"], "guardrailVersion": version},
            )
        assert e.value.response["Error"]["Message"] == "The guardrail identifier or version provided in the request does not exist."


def invoke(runtime, g, text, trace="DISABLED", stream=False):
    import json as _json
    body = _json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                        "messages": [{"role": "user", "content": text}]})
    call = runtime.invoke_model_with_response_stream if stream else runtime.invoke_model
    return call(modelId=HAIKU, body=body, contentType="application/json",
                guardrailIdentifier=g["guardrailId"], guardrailVersion="DRAFT", trace=trace)


def test_invoke_model_bodies_carry_the_guardrail_action_and_trace(env):
    import json as _json
    _, runtime, g = env
    blocked = _json.loads(invoke(runtime, g, "Which stocks should I buy this year?", trace="ENABLED")["body"].read())
    assert blocked["content"] == [{"type": "text", "text": "I can't discuss that."}]
    assert blocked["amazon-bedrock-guardrailAction"] == "INTERVENED"
    topics = blocked["amazon-bedrock-trace"]["guardrail"]["input"][g["guardrailId"]]["topicPolicy"]["topics"]
    assert topics[0]["action"] == "BLOCKED"
    passed = _json.loads(invoke(runtime, g, "Tell me about the sea.")["body"].read())
    assert passed["amazon-bedrock-guardrailAction"] == "NONE" and "amazon-bedrock-trace" not in passed


def test_invoke_model_streams_carry_them_in_the_last_chunk(env):
    import json as _json
    _, runtime, g = env
    chunks = [_json.loads(e["chunk"]["bytes"]) for e in invoke(runtime, g, "Which stocks should I buy this year?", trace="ENABLED", stream=True)["body"]]
    text = "".join(c["delta"]["text"] for c in chunks if c.get("type") == "content_block_delta")
    assert text == "I can't discuss that."
    assert chunks[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert "amazon-bedrock-trace" in chunks[-1] and "amazon-bedrock-invocationMetrics" in chunks[-1]
    assert all("amazon-bedrock-guardrailAction" not in c for c in chunks[:-1])


def test_invoke_model_with_an_unknown_guardrail_is_refused(env):
    _, runtime, _ = env
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        invoke(runtime, {"guardrailId": "zzzzzzzzzzzz"}, "hi")
    assert e.value.response["Error"]["Message"] == "The guardrail identifier or version provided in the request does not exist."


LEAKY_STORY = """version: 1
rules:
  - name: story
    match: {lastUserMessage: {contains: story}}
    reply: {text: "Once upon a time all was calm. Then someone said frobnicate loudly and the rest of the tale went on and on."}
  - name: email
    match: {lastUserMessage: {contains: contact}}
    reply: {text: "Write to boss@example.com any time."}
  - name: scripted-output
    match: {operation: Converse, lastUserMessage: {contains: output}}
    reply:
      output:
        output: {message: {role: assistant, content: [{text: "The word is frobnicate."}]}}
        stopReason: end_turn
        usage: {inputTokens: 5, outputTokens: 5, totalTokens: 10}
        metrics: {latencyMs: 10}
  - name: scripted-body
    match: {operation: [InvokeModel, InvokeModelWithResponseStream], lastUserMessage: {contains: body}}
    reply:
      body: {id: msg_1, type: message, role: assistant, model: claude, stop_reason: end_turn, stop_sequence: null,
             content: [{type: text, text: "The word is frobnicate."}], usage: {input_tokens: 5, output_tokens: 5}}
"""


def stream_text(runtime, g, text, mode):
    r = runtime.converse_stream(
        modelId=HAIKU,
        messages=[{"role": "user", "content": [{"text": text}]}],
        guardrailConfig={"guardrailIdentifier": g["guardrailId"], "guardrailVersion": "DRAFT",
                         "trace": "enabled_full", "streamProcessingMode": mode},
    )
    events = list(r["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    (stop,) = [e["messageStop"]["stopReason"] for e in events if "messageStop" in e]
    (metadata,) = [e["metadata"] for e in events if "metadata" in e]
    return text, stop, metadata


def test_async_streams_send_the_reply_until_the_guardrail_blocks_it(env):
    server, runtime, g = env
    load_scenario(server.url, LEAKY_STORY)
    sync_text, sync_stop, _ = stream_text(runtime, g, "Tell me a story", "sync")
    assert (sync_text, sync_stop) == ("I can't share that answer.", "guardrail_intervened")
    text, stop, metadata = stream_text(runtime, g, "Tell me a story", "async")
    # What had streamed when the scan caught up: up to the blocked word, the rest withheld.
    assert text == "Once upon a time all was calm. Then someone said frobnicate"
    assert stop == "guardrail_intervened"
    trace = metadata["trace"]["guardrail"]
    assert trace["actionReason"] == "Guardrail blocked."
    assert trace["modelOutput"] == ["Once upon a time all was calm. Then someone said frobnicate loudly and the rest of the tale went on and on."]


def test_async_streams_do_not_mask(env):
    server, runtime, g = env
    load_scenario(server.url, LEAKY_STORY)
    assert stream_text(runtime, g, "Whom do I contact?", "sync")[0] == "Write to {EMAIL} any time."
    text, stop, _ = stream_text(runtime, g, "Whom do I contact?", "async")
    assert (text, stop) == ("Write to boss@example.com any time.", "end_turn")


def test_scripted_output_and_body_replies_are_guarded_too(env):
    import json as _json
    server, runtime, g = env
    load_scenario(server.url, LEAKY_STORY)
    r = converse(runtime, g, "Give me the output", trace="enabled")
    assert r["stopReason"] == "guardrail_intervened"
    assert r["output"]["message"]["content"] == [{"text": "I can't share that answer."}]
    # Without a guardrail the scripted output is sent exactly as written.
    plain = runtime.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "Give me the output"}]}])
    assert plain["output"]["message"]["content"] == [{"text": "The word is frobnicate."}]
    body = _json.loads(invoke(runtime, g, "Send the body")["body"].read())
    assert body["content"] == [{"type": "text", "text": "I can't share that answer."}]
    assert body["amazon-bedrock-guardrailAction"] == "INTERVENED"
    chunks = [_json.loads(e["chunk"]["bytes"]) for e in invoke(runtime, g, "Send the body", stream=True)["body"]]
    text = "".join(c["delta"]["text"] for c in chunks if c.get("type") == "content_block_delta")
    assert text == "I can't share that answer."


def test_native_streams_honour_the_asynchronous_mode(env):
    import json as _json
    server, runtime, g = env
    load_scenario(server.url, LEAKY_STORY)
    body = _json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                        "messages": [{"role": "user", "content": "Tell me a story"}],
                        "amazon-bedrock-guardrailConfig": {"streamProcessingMode": "ASYNCHRONOUS"}})
    r = runtime.invoke_model_with_response_stream(modelId=HAIKU, body=body, contentType="application/json",
                                                 guardrailIdentifier=g["guardrailId"], guardrailVersion="DRAFT")
    chunks = [_json.loads(e["chunk"]["bytes"]) for e in r["body"]]
    text = "".join(c["delta"]["text"] for c in chunks if c.get("type") == "content_block_delta")
    assert text == "Once upon a time all was calm. Then someone said frobnicate"
    assert chunks[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"
