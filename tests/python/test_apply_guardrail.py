"""ApplyGuardrail through boto3 on guardrails created through the control plane: blocked and
passing input, anonymized output, contextual grounding, the response's real shape (members,
nulls, the undocumented `output`/`blockedResponse`), versions, and errors."""
import pytest

from conftest import make_client
from emulator_admin import reset

FILTERS = [
    {"type": t, "inputStrength": "HIGH", "outputStrength": "HIGH"}
    for t in ("SEXUAL", "VIOLENCE", "HATE", "INSULTS", "MISCONDUCT")
] + [{"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "NONE"}]

GUARDRAIL = dict(
    name="investment-guard",
    topicPolicyConfig={"topicsConfig": [{
        "name": "InvestmentObjectives",
        "definition": "Recommendations about stocks, bonds, funds or other investments",
        "examples": ["Which stocks should I buy?"],
        "type": "DENY",
    }]},
    contentPolicyConfig={"filtersConfig": FILTERS},
    sensitiveInformationPolicyConfig={"piiEntitiesConfig": [
        {"type": "EMAIL", "action": "BLOCK"},
        {"type": "PHONE", "action": "ANONYMIZE"},
    ]},
    contextualGroundingPolicyConfig={"filtersConfig": [
        {"type": "GROUNDING", "threshold": 0.75},
        {"type": "RELEVANCE", "threshold": 0.5},
    ]},
    blockedInputMessaging="Sorry, the model cannot answer this question.",
    blockedOutputsMessaging="Sorry, the model cannot share that.",
)


@pytest.fixture
def clients(server):
    reset(server.url)
    bedrock = make_client("bedrock", server.url)
    runtime = make_client("bedrock-runtime", server.url)
    g = bedrock.create_guardrail(**GUARDRAIL)
    bedrock.create_guardrail_version(guardrailIdentifier=g["guardrailId"])
    return bedrock, runtime, g


def apply(runtime, g, text, source="INPUT", version="1", **kwargs):
    content = text if isinstance(text, list) else [{"text": {"text": text}}]
    return runtime.apply_guardrail(
        guardrailIdentifier=g["guardrailId"], guardrailVersion=version, source=source, content=content, **kwargs
    )


def test_a_denied_topic_and_an_email_block_the_input(clients):
    _, runtime, g = clients
    r = apply(runtime, g, "Which stocks should I buy? Mail the answer to abc@pqrt.com please.", outputScope="FULL")
    assert r["action"] == "GUARDRAIL_INTERVENED" and r["actionReason"] == "Guardrail blocked."
    assert r["outputs"] == [{"text": "Sorry, the model cannot answer this question."}]
    (a,) = r["assessments"]
    assert a["topicPolicy"]["topics"] == [{"action": "BLOCKED", "detected": True, "name": "InvestmentObjectives", "type": "DENY"}]
    pii = a["sensitiveInformationPolicy"]["piiEntities"]
    assert {"action": "BLOCKED", "detected": True, "match": "abc@pqrt.com", "type": "EMAIL"} in pii
    assert [f["type"] for f in a["contentPolicy"]["filters"]] == [f["type"] for f in FILTERS]
    assert all(f["detected"] is False and f["confidence"] == "NONE" for f in a["contentPolicy"]["filters"])
    details = a["appliedGuardrailDetails"]
    assert (details["guardrailId"], details["guardrailVersion"], details["guardrailOwnership"]) == (g["guardrailId"], "1", "SELF")
    assert details["guardrailArn"] == g["guardrailArn"] and details["guardrailOrigin"] == ["REQUEST"]
    assert r["usage"]["topicPolicyUnits"] == 1 and r["usage"]["contentPolicyUnits"] == 1
    assert r["usage"]["sensitiveInformationPolicyUnits"] == 1 and r["usage"]["wordPolicyUnits"] == 0
    n = len("Which stocks should I buy? Mail the answer to abc@pqrt.com please.")
    assert r["guardrailCoverage"]["textCharacters"] == {"guarded": n, "total": n}
    assert a["invocationMetrics"]["usage"] == r["usage"]


def test_harmless_input_passes_with_no_outputs(clients):
    _, runtime, g = clients
    r = apply(runtime, g, "What a lovely afternoon for a walk in the park.")
    assert (r["action"], r["actionReason"], r["outputs"]) == ("NONE", "No action.", [])


def test_the_wire_shape_matches_real_bedrock(clients, server):
    """Members in alphabetical order, nulls for unconfigured policies, and the undocumented
    members real responses carry (read from the raw HTTP body, which boto3 would hide)."""
    _, runtime, g = clients
    seen = {}
    runtime.meta.events.register("after-call.bedrock-runtime.ApplyGuardrail", lambda http_response, **_: seen.update(body=http_response.content))
    apply(runtime, g, "Call me at 412-555-1212 about the weather.")
    import json
    body = json.loads(seen["body"])
    assert list(body) == sorted(body)
    assert list(body) == ["action", "actionReason", "assessments", "blockedResponse", "guardrailCoverage", "output", "outputs", "usage"]
    assert body["output"] == body["outputs"]
    assessment = body["assessments"][0]
    assert list(assessment) == sorted(assessment)
    assert assessment["wordPolicy"] is None and assessment["automatedReasoningPolicy"] is None
    assert body["guardrailCoverage"]["images"] is None


def test_an_anonymized_phone_number_is_masked(clients):
    _, runtime, g = clients
    r = apply(runtime, g, "Call me at 412-555-1212 about the weather.")
    assert r["action"] == "GUARDRAIL_INTERVENED"
    assert r["outputs"] == [{"text": "Call me at {PHONE} about the weather."}]
    pii = r["assessments"][0]["sensitiveInformationPolicy"]["piiEntities"]
    assert pii == [{"action": "ANONYMIZED", "detected": True, "match": "412-555-1212", "type": "PHONE"}]


def test_an_ungrounded_answer_is_blocked_on_output(clients):
    _, runtime, g = clients
    content = [
        {"text": {"text": "London is the capital of the United Kingdom.", "qualifiers": ["grounding_source"]}},
        {"text": {"text": "What is the capital of the United Kingdom?", "qualifiers": ["query"]}},
        {"text": {"text": "The capital is Paris, France."}},
    ]
    r = apply(runtime, g, content, source="OUTPUT")
    assert r["action"] == "GUARDRAIL_INTERVENED"
    assert r["outputs"] == [{"text": "Sorry, the model cannot share that."}]
    filters = {f["type"]: f for f in r["assessments"][0]["contextualGroundingPolicy"]["filters"]}
    assert filters["GROUNDING"]["action"] == "BLOCKED" and filters["GROUNDING"]["score"] < 0.75
    assert filters["GROUNDING"]["threshold"] == 0.75
    grounded = [
        content[0],
        content[1],
        {"text": {"text": "London is the capital of the United Kingdom."}},
    ]
    assert apply(runtime, g, grounded, source="OUTPUT")["action"] == "NONE"


def test_the_draft_and_versions_are_evaluated_as_they_were(clients):
    bedrock, runtime, g = clients
    update = {k: v for k, v in GUARDRAIL.items() if k != "topicPolicyConfig"}
    bedrock.update_guardrail(guardrailIdentifier=g["guardrailId"], **update)
    question = "Which stocks should I buy?"
    assert apply(runtime, g, question, version="1")["action"] == "GUARDRAIL_INTERVENED"
    assert apply(runtime, g, question, version="DRAFT")["action"] == "NONE"
    by_arn = runtime.apply_guardrail(guardrailIdentifier=g["guardrailArn"], guardrailVersion="1", source="INPUT",
                                     content=[{"text": {"text": question}}])
    assert by_arn["action"] == "GUARDRAIL_INTERVENED"


def test_unknown_guardrails_and_bad_input_are_refused(clients):
    _, runtime, g = clients
    with pytest.raises(runtime.exceptions.ResourceNotFoundException) as e:
        runtime.apply_guardrail(guardrailIdentifier="zzzzzzzzzzzz", guardrailVersion="1", source="INPUT", content=[{"text": {"text": "hi"}}])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        apply(runtime, g, "hi", version="7")
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        runtime.apply_guardrail(guardrailIdentifier=g["guardrailId"], guardrailVersion="1", source="SIDEWAYS", content=[{"text": {"text": "hi"}}])
    assert "Member must satisfy enum value set: [INPUT, OUTPUT]" in e.value.response["Error"]["Message"]
