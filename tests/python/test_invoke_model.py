"""InvokeModel, InvokeModelWithResponseStream and CountTokens through boto3: every text family's
native request and response body, its token/latency headers, its stream chunks, the same text
as Converse, native validation, embeddings, token counting and Anthropic thinking blocks
(SPEC §4.1, §4.2, §4.5, §7; shapes cross-checked against ../shared/real-traffic).

Formats marked "(docs)" below were not recorded from real Bedrock (SPEC §11): Mistral, Cohere
and Jamba streams, Mistral Large 2 chat bodies; their tests follow SPEC §7, the AWS docs and
the providers' own Bedrock clients where SPEC §7 leaves a choice open:

* Cohere Command streams token chunks only when the body sets `"stream": true` (the Bedrock
  parameter docs call it "required to support streaming"; AWS's own IMWRS example reads
  `generations[0].text` from a single chunk without it).
* Jamba ends its stream with a separate chunk carrying only the invocation metrics (AI21's
  Bedrock client, ai21-python `ai21/clients/bedrock/_stream_decoder.py`, merges that "Bedrock
  metering chunk" into the preceding finish chunk itself), not merged into a provider chunk."""
import json
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import pytest
from botocore.exceptions import ClientError

from conftest import make_client

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET_37_PROFILE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
PROMPT = "Describe a quiet harbor at dawn."
MAX_TOKENS = 300
METRIC_KEYS = {"inputTokenCount", "outputTokenCount", "invocationLatency", "firstByteLatency"}
# A 1x1 transparent PNG (what the recorded multimodal requests sent).
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


# --- the families -----------------------------------------------------------------------


@dataclass
class Family:
    """One native format: how to ask, and where its answer keeps the text and the counts."""

    name: str
    model: str
    request: Callable[[str, int], dict]
    text: Callable[[dict], str]
    stop_reason: Callable[[dict], Optional[str]]
    finished: str  # the native stop reason of a reply that ended by itself
    truncated: str  # ... and of one cut by the max-token limit
    check_body: Callable[[dict], None]
    stream_text: Callable[[list], str]
    check_chunks: Callable[[list], None]
    # (input tokens, output tokens) as the body reports them, for formats that report them.
    tokens: Optional[Callable[[dict], tuple]] = None
    required_key: str = ""  # a required request key, for the malformed-body test
    extra_headers: tuple = field(default_factory=tuple)


def nonfinal_have_no_metrics(chunks):
    for i, chunk in enumerate(chunks[:-1]):
        assert "amazon-bedrock-invocationMetrics" not in chunk, f"chunk {i} of {len(chunks)}: {chunk}"


# Anthropic Messages API (SPEC §7.1; recorded)


def anthropic_request(prompt, max_tokens):
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": prompt}]}


def anthropic_text(body):
    return "".join(b["text"] for b in body["content"] if b["type"] == "text")


def anthropic_body(body):
    assert set(body) == {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}, body
    assert body["id"].startswith("msg_bdrk_01")
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["model"] == "claude-3-haiku-20240307"
    assert [b["type"] for b in body["content"]] == ["text"]
    assert set(body["content"][0]) == {"type", "text"}
    assert body["stop_sequence"] is None
    assert set(body["usage"]) >= {"input_tokens", "output_tokens"}


def anthropic_chunk_kinds(chunks):
    return [c["type"] for c in chunks]


def anthropic_stream_text(chunks):
    return "".join(c["delta"]["text"] for c in chunks
                   if c["type"] == "content_block_delta" and c["delta"]["type"] == "text_delta")


def anthropic_chunks(chunks):
    kinds = anthropic_chunk_kinds(chunks)
    # Recorded order; Bedrock sends no `ping` events.
    assert kinds[0] == "message_start"
    assert kinds[1] == "content_block_start"
    assert set(kinds[2:-3]) == {"content_block_delta"}, kinds
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = chunks[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["stop_sequence"] is None
    assert start["id"].startswith("msg_bdrk_01") and start["role"] == "assistant"
    assert chunks[1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert all(c["index"] == 0 and c["delta"]["type"] == "text_delta" for c in chunks[2:-3])
    assert chunks[-3] == {"type": "content_block_stop", "index": 0}
    delta = chunks[-2]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert set(delta["usage"]) >= {"output_tokens"}
    assert set(chunks[-1]) == {"type", "amazon-bedrock-invocationMetrics"}


# Amazon Titan Text (SPEC §7.2; recorded)

TITAN_CHUNK_KEYS = {"outputText", "index", "totalOutputTextTokenCount", "completionReason", "inputTextTokenCount"}


def titan_body(body):
    assert set(body) == {"inputTextTokenCount", "results"}, body
    (result,) = body["results"]
    assert set(result) == {"tokenCount", "outputText", "completionReason"}, result
    assert result["completionReason"] == "FINISH"


def titan_chunks(chunks):
    for i, chunk in enumerate(chunks):
        first, last = i == 0, i == len(chunks) - 1
        assert set(chunk) - {"amazon-bedrock-invocationMetrics"} == TITAN_CHUNK_KEYS, chunk
        assert chunk["index"] == 0
        # The first chunk carries the prompt count, the last the output count and the reason
        # (a one-chunk reply carries both, as recorded).
        assert is_int(chunk["inputTextTokenCount"]) if first else chunk["inputTextTokenCount"] is None, (i, chunk)
        assert is_int(chunk["totalOutputTextTokenCount"]) if last else chunk["totalOutputTextTokenCount"] is None
        assert chunk["completionReason"] == ("FINISH" if last else None), (i, chunk)


# Amazon Nova (SPEC §7.4; recorded)


def nova_request(prompt, max_tokens):
    return {"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"max_new_tokens": max_tokens}}


def nova_body(body):
    assert set(body) == {"output", "stopReason", "usage"}, body
    assert body["output"]["message"]["role"] == "assistant"
    assert [list(b) for b in body["output"]["message"]["content"]] == [["text"]]
    usage = body["usage"]
    assert set(usage) == {"inputTokens", "outputTokens", "totalTokens",
                          "cacheReadInputTokenCount", "cacheWriteInputTokenCount"}, usage
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]


def nova_kind(chunk):
    (kind,) = set(chunk) - {"amazon-bedrock-invocationMetrics"}
    return kind


def nova_stream_text(chunks):
    return "".join(c["contentBlockDelta"]["delta"].get("text", "") for c in chunks if "contentBlockDelta" in c)


def nova_chunks(chunks):
    kinds = [nova_kind(c) for c in chunks]
    assert chunks[0] == {"messageStart": {"role": "assistant"}}
    assert kinds[-2:] == ["messageStop", "metadata"], kinds
    assert chunks[-2] == {"messageStop": {"stopReason": "end_turn"}}
    # Recorded: no contentBlockStart for text, and every text delta is its own block, closed
    # at once, with increasing indexes.
    body = chunks[1:-2]
    assert len(body) >= 2 and len(body) % 2 == 0, kinds
    indexes = []
    for delta, stop in zip(body[::2], body[1::2]):
        index = delta["contentBlockDelta"]["contentBlockIndex"]
        assert list(delta["contentBlockDelta"]["delta"]) == ["text"], delta
        assert stop == {"contentBlockStop": {"contentBlockIndex": index}}, (delta, stop)
        indexes.append(index)
    assert indexes == sorted(set(indexes)), indexes
    metadata = chunks[-1]["metadata"]
    assert set(metadata) == {"usage", "metrics", "trace"}, metadata
    assert set(metadata["usage"]) == {"inputTokens", "outputTokens",
                                      "cacheReadInputTokenCount", "cacheWriteInputTokenCount"}, metadata
    # Nova adds the cache counters to the invocation metrics.
    assert set(chunks[-1]["amazon-bedrock-invocationMetrics"]) == METRIC_KEYS | {
        "cacheReadInputTokenCount", "cacheWriteInputTokenCount"}


# Meta Llama (SPEC §7.5; recorded)


def llama_request(prompt, max_tokens):
    return {"prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
                      f"{prompt}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            "max_gen_len": max_tokens}


def llama_body(body):
    assert set(body) == {"generation", "prompt_token_count", "generation_token_count", "stop_reason"}, body


def llama_chunks(chunks):
    counts = []
    for i, chunk in enumerate(chunks):
        first, last = i == 0, i == len(chunks) - 1
        assert set(chunk) - {"amazon-bedrock-invocationMetrics"} == {
            "generation", "prompt_token_count", "generation_token_count", "stop_reason"}, chunk
        assert is_int(chunk["prompt_token_count"]) if first else chunk["prompt_token_count"] is None, (i, chunk)
        assert chunk["stop_reason"] == ("stop" if last else None), (i, chunk)
        counts.append(chunk["generation_token_count"])
    # A running count of generated tokens, ending at the total.
    assert counts == sorted(counts) and counts[-1] == chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"]


# Mistral text completion (SPEC §7.6; body recorded, stream (docs))


def mistral_request(prompt, max_tokens):
    return {"prompt": f"<s>[INST] {prompt} [/INST]", "max_tokens": max_tokens}


def mistral_body(body):
    assert set(body) == {"outputs"}, body
    (output,) = body["outputs"]
    assert set(output) == {"text", "stop_reason"}, output


def mistral_chunks(chunks):
    for i, chunk in enumerate(chunks):
        assert set(chunk) - {"amazon-bedrock-invocationMetrics"} == {"outputs"}, chunk
        (output,) = chunk["outputs"]
        assert output["stop_reason"] == ("stop" if i == len(chunks) - 1 else None), (i, chunk)


# Mistral Large 2 chat completion (SPEC §7.6; (docs): `choices[].message`; the docs name the
# choice's reason `stop_reason`, OpenAI-style clients `finish_reason`: either is accepted)


def choice_reason(choice):
    return choice["stop_reason"] if "stop_reason" in choice else choice.get("finish_reason")


def chat_request(prompt, max_tokens):
    return {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}


def mistral_chat_body(body):
    (choice,) = body["choices"]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert "stop_reason" in choice or "finish_reason" in choice, choice


def chunk_choice_text(chunk):
    choice = chunk["choices"][0]
    part = choice.get("delta") or choice.get("message") or {}
    return part.get("content") or ""


def mistral_chat_chunks(chunks):
    for i, chunk in enumerate(chunks):
        (choice,) = chunk["choices"]
        assert "delta" in choice or "message" in choice, chunk
        assert choice_reason(choice) == ("stop" if i == len(chunks) - 1 else None), (i, chunk)


# Cohere Command (SPEC §7.7; body recorded, stream (docs): Cohere's own stream format)


def cohere_body(body):
    assert set(body) == {"id", "generations", "prompt"}, body
    (generation,) = body["generations"]
    assert {"id", "text", "finish_reason"} <= set(generation), generation
    assert body["prompt"] == PROMPT


def without_metrics(chunk):
    return {k: v for k, v in chunk.items() if k != "amazon-bedrock-invocationMetrics"}


def cohere_chunks(chunks):
    # Without `"stream": true` the whole response body comes as one chunk.
    (chunk,) = chunks
    cohere_body(without_metrics(chunk))


def cohere_token_chunks(chunks):
    assert [c["is_finished"] for c in chunks] == [False] * (len(chunks) - 1) + [True], chunks
    assert all(set(c) == {"text", "is_finished"} for c in chunks[:-1]), chunks
    last = chunks[-1]
    assert last["finish_reason"] == "COMPLETE"
    cohere_body(last["response"])


# Cohere Command R (SPEC §7.7; body recorded, stream (docs))


def command_r_body(body):
    assert {"response_id", "text", "generation_id", "chat_history", "finish_reason"} <= set(body), body
    assert [m["role"] for m in body["chat_history"]] == ["USER", "CHATBOT"]
    assert body["chat_history"] == [{"role": "USER", "message": PROMPT}, {"role": "CHATBOT", "message": body["text"]}]


def command_r_stream_text(chunks):
    return "".join(c["text"] for c in chunks if c["event_type"] == "text-generation")


def command_r_chunks(chunks):
    kinds = [c["event_type"] for c in chunks]
    assert kinds[0] == "stream-start" and kinds[-1] == "stream-end", kinds
    assert set(kinds[1:-1]) == {"text-generation"}, kinds
    assert [c["is_finished"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert isinstance(chunks[0]["generation_id"], str)
    assert chunks[-1]["finish_reason"] == "COMPLETE"


# AI21 Jamba (SPEC §7.8; body recorded, stream (docs): OpenAI chat.completion.chunk style)


def jamba_body(body):
    assert set(body) >= {"id", "choices", "usage", "model"}, body
    assert body["id"].startswith("chatcmpl-")
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert body["model"] == "jamba-1.5-mini"


def jamba_chunks(chunks):
    *model_chunks, metering = chunks
    assert set(metering) == {"amazon-bedrock-invocationMetrics"}, metering
    assert model_chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    for i, chunk in enumerate(model_chunks):
        (choice,) = chunk["choices"]
        assert "delta" in choice, chunk
        assert choice["finish_reason"] == ("stop" if i == len(model_chunks) - 1 else None), (i, chunk)
    usage = model_chunks[-1]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def jamba_stream_text(chunks):
    return "".join(chunk_choice_text(c) for c in chunks if "choices" in c)


FAMILIES = [
    Family(
        "anthropic", HAIKU, anthropic_request, anthropic_text, lambda b: b["stop_reason"], "end_turn", "max_tokens",
        anthropic_body, anthropic_stream_text, anthropic_chunks,
        tokens=lambda b: (b["usage"]["input_tokens"], b["usage"]["output_tokens"]), required_key="messages",
    ),
    Family(
        "titan-text", "amazon.titan-text-express-v1",
        lambda p, n: {"inputText": p, "textGenerationConfig": {"maxTokenCount": n}},
        lambda b: b["results"][0]["outputText"], lambda b: b["results"][0]["completionReason"], "FINISH", "LENGTH",
        titan_body, lambda cs: "".join(c["outputText"] for c in cs), titan_chunks,
        tokens=lambda b: (b["inputTextTokenCount"], b["results"][0]["tokenCount"]), required_key="inputText",
    ),
    Family(
        "nova", "amazon.nova-micro-v1:0", nova_request,
        lambda b: "".join(c.get("text", "") for c in b["output"]["message"]["content"]),
        lambda b: b["stopReason"], "end_turn", "max_tokens", nova_body, nova_stream_text, nova_chunks,
        tokens=lambda b: (b["usage"]["inputTokens"], b["usage"]["outputTokens"]), required_key="messages",
        extra_headers=("x-amzn-bedrock-cache-read-input-token-count", "x-amzn-bedrock-cache-write-input-token-count"),
    ),
    Family(
        "llama", "meta.llama3-8b-instruct-v1:0", llama_request, lambda b: b["generation"],
        lambda b: b["stop_reason"], "stop", "length", llama_body,
        lambda cs: "".join(c["generation"] for c in cs), llama_chunks,
        tokens=lambda b: (b["prompt_token_count"], b["generation_token_count"]), required_key="prompt",
    ),
    Family(
        "mistral", "mistral.mistral-7b-instruct-v0:2", mistral_request, lambda b: b["outputs"][0]["text"],
        lambda b: b["outputs"][0]["stop_reason"], "stop", "length", mistral_body,
        lambda cs: "".join(c["outputs"][0]["text"] for c in cs), mistral_chunks, required_key="prompt",
    ),
    Family(
        "mistral-chat", "mistral.mistral-large-2407-v1:0", chat_request,
        lambda b: b["choices"][0]["message"]["content"], lambda b: choice_reason(b["choices"][0]), "stop", "length",
        mistral_chat_body, lambda cs: "".join(chunk_choice_text(c) for c in cs), mistral_chat_chunks,
        required_key="messages",
    ),
    Family(
        "cohere-command", "cohere.command-text-v14", lambda p, n: {"prompt": p, "max_tokens": n},
        lambda b: b["generations"][0]["text"], lambda b: b["generations"][0]["finish_reason"], "COMPLETE", "MAX_TOKENS",
        cohere_body, lambda cs: cs[0]["generations"][0]["text"], cohere_chunks, required_key="prompt",
    ),
    Family(
        "cohere-command-r", "cohere.command-r-v1:0", lambda p, n: {"message": p, "max_tokens": n},
        lambda b: b["text"], lambda b: b["finish_reason"], "COMPLETE", "MAX_TOKENS",
        command_r_body, command_r_stream_text, command_r_chunks, required_key="message",
    ),
    Family(
        "ai21-jamba", "ai21.jamba-1-5-mini-v1:0", chat_request, lambda b: b["choices"][0]["message"]["content"],
        lambda b: b["choices"][0]["finish_reason"], "stop", "length", jamba_body, jamba_stream_text, jamba_chunks,
        tokens=lambda b: (b["usage"]["prompt_tokens"], b["usage"]["completion_tokens"]), required_key="messages",
    ),
]
BY_NAME = {f.name: f for f in FAMILIES}


def each_family(families=FAMILIES):
    return pytest.mark.parametrize("family", families, ids=[f.name for f in families])


# --- calling ------------------------------------------------------------------------------


class Invoked:
    def __init__(self, response):
        self.response = response
        self.raw = response["body"].read()
        self.body = json.loads(self.raw)
        self.headers = response["ResponseMetadata"]["HTTPHeaders"]

    def header_int(self, name):
        return int(self.headers[name])


def invoke(runtime, model, body, **kwargs):
    kwargs.setdefault("contentType", "application/json")
    kwargs.setdefault("accept", "application/json")
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Invoked(runtime.invoke_model(modelId=model, body=raw, **kwargs))


class Streamed:
    def __init__(self, response):
        self.response = response
        self.headers = response["ResponseMetadata"]["HTTPHeaders"]
        self.events = list(response["body"])
        self.chunks = [json.loads(e["chunk"]["bytes"]) for e in self.events if "chunk" in e]

    @property
    def metrics(self):
        return self.chunks[-1]["amazon-bedrock-invocationMetrics"]


def stream(runtime, model, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Streamed(runtime.invoke_model_with_response_stream(modelId=model, body=raw, contentType="application/json"))


def converse_text(runtime, model, prompt, max_tokens):
    r = runtime.converse(modelId=model, messages=[{"role": "user", "content": [{"text": prompt}]}],
                         inferenceConfig={"maxTokens": max_tokens})
    return "".join(b["text"] for b in r["output"]["message"]["content"] if "text" in b), r


def error_of(call):
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


_invoked, _streamed = {}, {}


@pytest.fixture
def invoked(runtime, family):
    """The family's InvokeModel answer to PROMPT (one call per family per session)."""
    if family.name not in _invoked:
        _invoked[family.name] = invoke(runtime, family.model, family.request(PROMPT, MAX_TOKENS))
    return _invoked[family.name]


@pytest.fixture
def streamed(runtime, family):
    """The family's InvokeModelWithResponseStream answer to PROMPT."""
    if family.name not in _streamed:
        _streamed[family.name] = stream(runtime, family.model, family.request(PROMPT, MAX_TOKENS))
    return _streamed[family.name]


# --- InvokeModel: body and headers ---------------------------------------------------------


@each_family()
def test_invoke_model_answers_in_the_family_native_format(family, invoked):
    family.check_body(invoked.body)
    assert family.text(invoked.body).strip()
    assert family.stop_reason(invoked.body) == family.finished


@each_family()
def test_invoke_model_answers_with_content_type_json(family, invoked):
    assert invoked.response["contentType"] == "application/json"
    assert invoked.headers["content-type"] == "application/json"


@each_family()
def test_invoke_model_sends_token_and_latency_headers(family, invoked):
    assert invoked.header_int("x-amzn-bedrock-input-token-count") > 0
    assert invoked.header_int("x-amzn-bedrock-output-token-count") > 0
    assert invoked.header_int("x-amzn-bedrock-invocation-latency") >= 0


@each_family([f for f in FAMILIES if f.tokens])
def test_token_headers_equal_the_token_counts_of_the_body(family, invoked):
    assert family.tokens(invoked.body) == (
        invoked.header_int("x-amzn-bedrock-input-token-count"),
        invoked.header_int("x-amzn-bedrock-output-token-count"),
    )


@each_family([f for f in FAMILIES if f.extra_headers])
def test_nova_invoke_model_sends_cache_token_headers(family, invoked):
    # Recorded on Nova responses (as "0"), next to the cache counters of the body's usage.
    for name in family.extra_headers:
        assert invoked.header_int(name) == 0


@each_family()
def test_a_small_token_limit_cuts_the_reply_with_the_family_length_reason(runtime, family):
    r = invoke(runtime, family.model, family.request("Write a long story about a lighthouse keeper and the sea.", 5))
    assert family.stop_reason(r.body) == family.truncated
    assert r.header_int("x-amzn-bedrock-output-token-count") <= 5


@each_family()
def test_a_missing_content_type_is_accepted(endpoint_url, family, invoked):
    client = make_client("bedrock-runtime", endpoint_url)
    sent = {}
    client.meta.events.register("before-send.bedrock-runtime.InvokeModel",
                                lambda request, **_: sent.update({k.lower(): v for k, v in request.headers.items()}))
    r = Invoked(client.invoke_model(modelId=family.model, body=json.dumps(family.request(PROMPT, MAX_TOKENS))))
    assert "content-type" not in sent  # boto3 sends none when contentType is not given
    assert r.body == invoked.body


def test_consecutive_user_turns_are_accepted(runtime):
    # Recorded (openinference-py-vcr TestInvokeModelWithStreamResponse.test_invoke): real Bedrock
    # answered 200 to a tool_result turn followed by a second user turn. Anthropic's Messages
    # API combines consecutive turns of the same role instead of refusing them.
    body = dict(anthropic_request(PROMPT, MAX_TOKENS), messages=[
        {"role": "user", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
    ])
    r = invoke(runtime, HAIKU, body)
    assert anthropic_text(r.body).strip()
    assert r.body["stop_reason"] == "end_turn"


def test_an_inference_profile_id_answers_through_its_model(runtime):
    r = invoke(runtime, f"us.{HAIKU}", anthropic_request(PROMPT, MAX_TOKENS))
    assert r.body["model"] == "claude-3-haiku-20240307"
    assert anthropic_text(r.body).strip()


# --- InvokeModelWithResponseStream ----------------------------------------------------------


@each_family()
def test_the_stream_declares_json_chunks(family, streamed):
    assert streamed.response["contentType"] == "application/json"
    assert streamed.headers["x-amzn-bedrock-content-type"] == "application/json"
    assert streamed.headers["content-type"] == "application/vnd.amazon.eventstream"


@each_family()
def test_the_stream_sends_only_chunk_events(family, streamed):
    assert streamed.events and all(list(e) == ["chunk"] for e in streamed.events)


@each_family()
def test_stream_chunks_follow_the_family_sequence(family, streamed):
    family.check_chunks(streamed.chunks)


@each_family()
def test_invocation_metrics_come_only_in_the_last_chunk(family, streamed):
    nonfinal_have_no_metrics(streamed.chunks)
    metrics = streamed.metrics
    assert set(metrics) >= METRIC_KEYS
    assert all(is_int(v) and v >= 0 for v in metrics.values()), metrics
    assert metrics["firstByteLatency"] <= metrics["invocationLatency"]


@each_family([f for f in FAMILIES if f.name != "ai21-jamba"])
def test_invocation_metrics_ride_on_the_last_provider_chunk(family, streamed):
    assert without_metrics(streamed.chunks[-1])


@each_family()
def test_stream_metrics_equal_the_invoke_model_token_headers(family, streamed, invoked):
    assert (streamed.metrics["inputTokenCount"], streamed.metrics["outputTokenCount"]) == (
        invoked.header_int("x-amzn-bedrock-input-token-count"),
        invoked.header_int("x-amzn-bedrock-output-token-count"),
    )


@each_family()
def test_the_stream_sends_no_token_count_headers(family, streamed):
    assert not {h for h in streamed.headers if h.endswith("-token-count")}


def test_cohere_command_streams_token_chunks_when_asked_to(runtime):
    family = BY_NAME["cohere-command"]
    body = dict(family.request(PROMPT, MAX_TOKENS), stream=True)
    chunks = stream(runtime, family.model, body).chunks
    cohere_token_chunks(chunks)
    streamed_text = "".join(c["text"] for c in chunks[:-1])
    assert streamed_text == family.text(invoke(runtime, family.model, family.request(PROMPT, MAX_TOKENS)).body)


# --- the same text everywhere -------------------------------------------------------------


@each_family()
def test_streamed_text_equals_invoke_model_text(family, streamed, invoked):
    assert family.stream_text(streamed.chunks) == family.text(invoked.body)


@each_family()
def test_invoke_model_text_equals_converse_text(runtime, family, invoked):
    text, _ = converse_text(runtime, family.model, PROMPT, MAX_TOKENS)
    assert family.text(invoked.body) == text


# --- malformed native bodies ----------------------------------------------------------------


def test_an_anthropic_body_with_a_model_key_is_malformed(runtime):
    body = dict(anthropic_request(PROMPT, 100), model="claude-3-haiku-20240307")
    code, message = error_of(lambda: invoke(runtime, HAIKU, body))
    assert code == "ValidationException"
    assert message.startswith("Malformed input request: ")
    assert "#: extraneous key [model] is not permitted" in message


def test_an_anthropic_body_with_a_stream_key_is_malformed(runtime):
    body = dict(anthropic_request(PROMPT, 100), stream=True)
    code, message = error_of(lambda: invoke(runtime, HAIKU, body))
    assert code == "ValidationException"
    assert message.startswith("Malformed input request: ")
    assert "#: extraneous key [stream] is not permitted" in message


def test_a_titan_body_without_input_text_is_malformed(runtime):
    code, message = error_of(lambda: invoke(runtime, "amazon.titan-text-express-v1",
                                            {"textGenerationConfig": {"maxTokenCount": 10}}))
    assert code == "ValidationException"
    assert message.startswith("Malformed input request: ")
    assert "required key [inputText] not found" in message


@each_family()
def test_a_body_without_its_required_key_is_malformed(runtime, family):
    body = family.request(PROMPT, 50)
    del body[family.required_key]
    code, message = error_of(lambda: invoke(runtime, family.model, body))
    assert code == "ValidationException"
    assert message.startswith("Malformed input request: ")
    assert f"required key [{family.required_key}] not found" in message


@each_family()
def test_a_body_with_an_unknown_key_is_malformed(runtime, family):
    body = dict(family.request(PROMPT, 50), not_a_parameter=1)
    code, message = error_of(lambda: invoke(runtime, family.model, body))
    assert code == "ValidationException"
    assert message.startswith("Malformed input request: ")
    assert "extraneous key [not_a_parameter] is not permitted" in message


@each_family()
def test_a_malformed_body_is_refused_before_the_stream_starts(runtime, family):
    body = family.request(PROMPT, 50)
    del body[family.required_key]
    code, message = error_of(lambda: stream(runtime, family.model, body))
    assert code == "ValidationException"
    assert message.startswith("Malformed input request: ")


def test_a_body_that_is_not_json_is_refused(runtime):
    code, _ = error_of(lambda: invoke(runtime, HAIKU, b"this is not json"))
    assert code == "ValidationException"


# --- embeddings -------------------------------------------------------------------------------


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / (norm(a) * norm(b))


SIMILAR = ("The cat sat on the warm mat.", "A cat is sitting on the warm mat.")
UNRELATED = "Quarterly revenue grew by eight percent in Europe."


def titan_embedding(runtime, model, text, **options):
    return invoke(runtime, model, {"inputText": text, **options}).body["embedding"]


def test_titan_text_v1_embeds_in_1536_dimensions(runtime):
    r = invoke(runtime, "amazon.titan-embed-text-v1", {"inputText": "hello world"})
    assert set(r.body) == {"embedding", "inputTextTokenCount"}
    assert len(r.body["embedding"]) == 1536
    assert all(isinstance(x, float) for x in r.body["embedding"])
    assert is_int(r.body["inputTextTokenCount"]) and r.body["inputTextTokenCount"] > 0


def test_an_embedding_answer_reports_its_input_tokens_in_the_header(runtime):
    r = invoke(runtime, "amazon.titan-embed-text-v1", {"inputText": "hello world"})
    assert r.header_int("x-amzn-bedrock-input-token-count") == r.body["inputTextTokenCount"]
    assert r.header_int("x-amzn-bedrock-invocation-latency") >= 0
    assert r.response["contentType"] == "application/json"


@pytest.mark.parametrize("dimensions", [256, 512, 1024])
def test_titan_text_v2_embeds_in_the_requested_dimensions_with_unit_length(runtime, dimensions):
    v = titan_embedding(runtime, "amazon.titan-embed-text-v2:0", "hello world", dimensions=dimensions, normalize=True)
    assert len(v) == dimensions
    assert norm(v) == pytest.approx(1.0, abs=1e-3)


def test_titan_text_v2_defaults_to_1024_dimensions(runtime):
    r = invoke(runtime, "amazon.titan-embed-text-v2:0", {"inputText": "hello world"})
    assert len(r.body["embedding"]) == 1024
    assert set(r.body) == {"embedding", "inputTextTokenCount", "embeddingsByType"}
    assert r.body["embeddingsByType"]["float"] == r.body["embedding"]


def test_titan_text_v2_answers_every_requested_embedding_type(runtime):
    body = invoke(runtime, "amazon.titan-embed-text-v2:0",
                  {"inputText": "hello world", "dimensions": 256, "embeddingTypes": ["float", "binary"]}).body
    by_type = body["embeddingsByType"]
    assert set(by_type) == {"float", "binary"}
    assert len(by_type["float"]) == len(by_type["binary"]) == 256
    assert set(by_type["binary"]) <= {0, 1}


def test_titan_text_v2_refuses_unsupported_dimensions(runtime):
    code, message = error_of(lambda: invoke(runtime, "amazon.titan-embed-text-v2:0",
                                            {"inputText": "hello", "dimensions": 300}))
    assert code == "ValidationException"
    assert message.startswith("Malformed input request: ")


def test_titan_text_v2_refuses_a_text_generation_config(runtime):
    code, message = error_of(lambda: invoke(runtime, "amazon.titan-embed-text-v2:0",
                                            {"inputText": "hello", "textGenerationConfig": {}}))
    assert code == "ValidationException"
    # Recorded wording (SPEC §6.4).
    assert message.startswith("Malformed input request: ")
    assert "extraneous key [textGenerationConfig] is not permitted" in message


def test_titan_multimodal_embeds_text_in_1024_dimensions_by_default(runtime):
    v = titan_embedding(runtime, "amazon.titan-embed-image-v1", "a red bicycle")
    assert len(v) == 1024


@pytest.mark.parametrize("length", [256, 384, 1024])
def test_titan_multimodal_embeds_an_image_in_the_requested_length(runtime, length):
    body = invoke(runtime, "amazon.titan-embed-image-v1",
                  {"inputImage": PNG_B64, "embeddingConfig": {"outputEmbeddingLength": length}}).body
    assert len(body["embedding"]) == length


def test_titan_multimodal_needs_text_or_an_image(runtime):
    code, _ = error_of(lambda: invoke(runtime, "amazon.titan-embed-image-v1", {}))
    assert code == "ValidationException"


def test_cohere_embed_returns_one_float_vector_per_text(runtime):
    texts = ["first text", "second text", "third"]
    body = invoke(runtime, "cohere.embed-english-v3", {"texts": texts, "input_type": "search_document"}).body
    assert set(body) == {"id", "embeddings", "response_type", "texts"}
    assert body["response_type"] == "embeddings_floats"
    assert body["texts"] == texts
    assert len(body["embeddings"]) == 3
    assert all(len(v) == 1024 and all(isinstance(x, float) for x in v) for v in body["embeddings"])


def test_cohere_embed_answers_by_type_when_embedding_types_are_given(runtime):
    body = invoke(runtime, "cohere.embed-english-v3",
                  {"texts": ["one", "two"], "input_type": "search_query", "embedding_types": ["int8", "binary"]}).body
    assert body["response_type"] == "embeddings_by_type"
    assert set(body["embeddings"]) == {"int8", "binary"}
    int8, binary = body["embeddings"]["int8"], body["embeddings"]["binary"]
    assert len(int8) == len(binary) == 2
    assert all(len(v) == 1024 and all(is_int(x) and -128 <= x <= 127 for x in v) for v in int8)
    # Packed bits: one signed byte per 8 dimensions.
    assert all(len(v) == 128 and all(is_int(x) and -128 <= x <= 127 for x in v) for v in binary)


def test_cohere_embed_needs_an_input_type(runtime):
    code, message = error_of(lambda: invoke(runtime, "cohere.embed-english-v3", {"texts": ["hi"]}))
    assert code == "ValidationException"
    assert message.startswith("Malformed input request: ")
    assert "required key [input_type] not found" in message


@pytest.mark.parametrize("model", ["amazon.titan-embed-text-v1", "amazon.titan-embed-text-v2:0", "amazon.titan-embed-image-v1"])
def test_similar_titan_texts_are_closer_than_unrelated_ones(runtime, model):
    a, b, c = (titan_embedding(runtime, model, t) for t in (*SIMILAR, UNRELATED))
    assert cosine(a, b) > cosine(a, c)
    assert cosine(a, b) > cosine(b, c)


def test_similar_cohere_texts_are_closer_than_unrelated_ones(runtime):
    a, b, c = invoke(runtime, "cohere.embed-english-v3",
                     {"texts": [*SIMILAR, UNRELATED], "input_type": "clustering"}).body["embeddings"]
    assert cosine(a, b) > cosine(a, c)
    assert cosine(a, b) > cosine(b, c)


def test_the_same_text_gets_the_same_embedding(runtime):
    assert titan_embedding(runtime, "amazon.titan-embed-text-v2:0", "repeatable") == \
        titan_embedding(runtime, "amazon.titan-embed-text-v2:0", "repeatable")


@pytest.mark.parametrize(("model", "body"), [
    ("amazon.titan-embed-text-v2:0", {"inputText": "hello"}),
    ("cohere.embed-english-v3", {"texts": ["hello"], "input_type": "search_query"}),
])
def test_streaming_an_embedding_model_is_refused(runtime, model, body):
    code, message = error_of(lambda: stream(runtime, model, body))
    assert code == "ValidationException"
    assert message == "The model is unsupported for streaming."


# --- CountTokens --------------------------------------------------------------------------------


def test_count_tokens_for_a_converse_input_equals_converse_input_tokens(runtime):
    request = {
        "system": [{"text": "You are a terse harbor pilot."}],
        "messages": [
            {"role": "user", "content": [{"text": "Where is the lighthouse?"}]},
            {"role": "assistant", "content": [{"text": "North of the breakwater."}]},
            {"role": "user", "content": [{"text": PROMPT}]},
        ],
    }
    billed = runtime.converse(modelId=HAIKU, **request)["usage"]["inputTokens"]
    counted = runtime.count_tokens(modelId=HAIKU, input={"converse": request})["inputTokens"]
    assert counted == billed


def test_count_tokens_for_an_invoke_model_body_equals_the_input_token_header(runtime):
    body = json.dumps(dict(anthropic_request(PROMPT, MAX_TOKENS), system="You are a terse harbor pilot.")).encode()
    billed = invoke(runtime, HAIKU, body).header_int("x-amzn-bedrock-input-token-count")
    counted = runtime.count_tokens(modelId=HAIKU, input={"invokeModel": {"body": body}})["inputTokens"]
    assert counted == billed


def test_count_tokens_counts_the_same_prompt_alike_in_both_forms(runtime):
    native = json.dumps(anthropic_request(PROMPT, MAX_TOKENS)).encode()
    as_native = runtime.count_tokens(modelId=HAIKU, input={"invokeModel": {"body": native}})["inputTokens"]
    as_converse = runtime.count_tokens(
        modelId=HAIKU, input={"converse": {"messages": [{"role": "user", "content": [{"text": PROMPT}]}]}})["inputTokens"]
    assert as_native == as_converse > 0


def test_count_tokens_validates_the_native_body(runtime):
    body = json.dumps(dict(anthropic_request(PROMPT, 10), model="claude")).encode()
    code, message = error_of(lambda: runtime.count_tokens(modelId=HAIKU, input={"invokeModel": {"body": body}}))
    assert code == "ValidationException"
    assert message.startswith("Malformed input request: ")


# --- Anthropic extended thinking -----------------------------------------------------------------


def thinking_request(budget, max_tokens=2048):
    return dict(anthropic_request("Is 1,001 a prime number?", max_tokens),
                thinking={"type": "enabled", "budget_tokens": budget})


def test_thinking_puts_a_thinking_block_before_the_text(runtime):
    body = invoke(runtime, SONNET_37_PROFILE, thinking_request(1024)).body
    assert [b["type"] for b in body["content"]] == ["thinking", "text"]
    thinking = body["content"][0]
    assert set(thinking) == {"type", "thinking", "signature"}
    assert thinking["thinking"].strip() and thinking["signature"]
    assert body["model"] == "claude-3-7-sonnet-20250219"
    assert body["stop_reason"] == "end_turn"


def test_thinking_streams_thinking_and_signature_deltas_before_the_text(runtime):
    chunks = stream(runtime, SONNET_37_PROFILE, thinking_request(1024)).chunks
    starts = [c["content_block"]["type"] for c in chunks if c["type"] == "content_block_start"]
    assert starts == ["thinking", "text"]
    deltas = [c["delta"]["type"] for c in chunks if c["type"] == "content_block_delta"]
    first_text = deltas.index("text_delta")
    assert set(deltas[:first_text]) == {"thinking_delta", "signature_delta"}
    assert deltas[first_text - 1] == "signature_delta"


def test_streamed_thinking_equals_the_invoke_model_thinking(runtime):
    body = invoke(runtime, SONNET_37_PROFILE, thinking_request(1024)).body
    chunks = stream(runtime, SONNET_37_PROFILE, thinking_request(1024)).chunks
    deltas = [c["delta"] for c in chunks if c["type"] == "content_block_delta"]
    assert "".join(d.get("thinking", "") for d in deltas) == body["content"][0]["thinking"]
    assert "".join(d.get("signature", "") for d in deltas) == body["content"][0]["signature"]
    assert "".join(d.get("text", "") for d in deltas) == body["content"][1]["text"]


def test_a_thinking_budget_below_1024_is_refused(runtime):
    code, message = error_of(lambda: invoke(runtime, SONNET_37_PROFILE, thinking_request(1000)))
    assert code == "ValidationException"
    assert "budget_tokens" in message and "1024" in message


def test_a_thinking_budget_not_below_max_tokens_is_refused(runtime):
    code, message = error_of(lambda: invoke(runtime, SONNET_37_PROFILE, thinking_request(2048, max_tokens=2048)))
    assert code == "ValidationException"
    assert "max_tokens" in message and "budget_tokens" in message
