"""The account's Bedrock settings through boto3: the model-access use case, data retention,
resource policies, the enforced guardrail configuration, and foundation-model agreements with
their offers and availability; Coral messages and not-found cases."""
import json

import pytest

from conftest import make_client
from emulator_admin import reset

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture
def bedrock(server):
    reset(server.url)
    return make_client("bedrock", server.url)


def test_the_use_case_form_is_kept(bedrock):
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_use_case_for_model_access()
    form = json.dumps({"companyName": "Acme", "useCase": "testing"}).encode()
    assert bedrock.put_use_case_for_model_access(formData=form)["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert bedrock.get_use_case_for_model_access()["formData"] == form


def test_data_retention_defaults_and_changes(bedrock):
    assert bedrock.get_account_data_retention()["mode"] == "default"
    put = bedrock.put_account_data_retention(mode="none")
    assert put["mode"] == "none" and "updatedAt" in put
    assert bedrock.get_account_data_retention()["mode"] == "none"
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.put_account_data_retention(mode="forever")
    assert "Member must satisfy enum value set" in e.value.response["Error"]["Message"]


def test_resource_policies_are_put_read_and_deleted(bedrock):
    g = bedrock.create_guardrail(name="shared", blockedInputMessaging="no", blockedOutputsMessaging="no",
                                 wordPolicyConfig={"wordsConfig": [{"text": "x"}]})
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                                                 "Action": "bedrock:ApplyGuardrail", "Resource": g["guardrailArn"]}]})
    put = bedrock.put_resource_policy(resourceArn=g["guardrailArn"], resourcePolicy=policy)
    assert put["resourceArn"] == g["guardrailArn"]
    assert bedrock.get_resource_policy(resourceArn=g["guardrailArn"])["resourcePolicy"] == policy
    bedrock.delete_resource_policy(resourceArn=g["guardrailArn"])
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_resource_policy(resourceArn=g["guardrailArn"])
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.put_resource_policy(resourceArn=g["guardrailArn"], resourcePolicy="not json")
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.put_resource_policy(resourceArn="arn:aws:bedrock:eu-west-1:999999999999:guardrail/abc", resourcePolicy=policy)


def test_one_enforced_guardrail_configuration_per_account(bedrock):
    g = bedrock.create_guardrail(name="enforced", blockedInputMessaging="no", blockedOutputsMessaging="no",
                                 wordPolicyConfig={"wordsConfig": [{"text": "x"}]})
    v = bedrock.create_guardrail_version(guardrailIdentifier=g["guardrailId"])["version"]
    assert bedrock.list_enforced_guardrails_configuration()["guardrailsConfig"] == []
    put = bedrock.put_enforced_guardrail_configuration(
        guardrailInferenceConfig={"guardrailIdentifier": g["guardrailId"], "guardrailVersion": v})
    config_id = put["configId"]
    (listed,) = bedrock.list_enforced_guardrails_configuration()["guardrailsConfig"]
    assert (listed["configId"], listed["guardrailId"], listed["guardrailVersion"], listed["guardrailArn"]) == (
        config_id, g["guardrailId"], v, g["guardrailArn"])
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.put_enforced_guardrail_configuration(
            guardrailInferenceConfig={"guardrailIdentifier": g["guardrailId"], "guardrailVersion": v})
    bedrock.put_enforced_guardrail_configuration(
        configId=config_id, guardrailInferenceConfig={"guardrailIdentifier": g["guardrailId"], "guardrailVersion": v})
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.put_enforced_guardrail_configuration(
            guardrailInferenceConfig={"guardrailIdentifier": "zzzzzzzzzzzz", "guardrailVersion": "1"})
    bedrock.delete_enforced_guardrail_configuration(configId=config_id)
    assert bedrock.list_enforced_guardrails_configuration()["guardrailsConfig"] == []
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.delete_enforced_guardrail_configuration(configId=config_id)


def converse(runtime, model, text, system=None, **extra):
    kwargs = {"system": [{"text": system}]} if system else {}
    return runtime.converse(modelId=model, messages=[{"role": "user", "content": [{"text": text}]}], **kwargs, **extra)


def test_the_enforced_guardrail_applies_at_inference_to_the_models_it_names(server, bedrock):
    runtime = make_client("bedrock-runtime", server.url)
    g = bedrock.create_guardrail(name="account-wide", blockedInputMessaging="Blocked by the account.",
                                 blockedOutputsMessaging="Output blocked by the account.",
                                 wordPolicyConfig={"wordsConfig": [{"text": "forbidden"}]})
    v = bedrock.create_guardrail_version(guardrailIdentifier=g["guardrailId"])["version"]
    nova = "amazon.nova-micro-v1:0"
    assert converse(runtime, HAIKU, "a forbidden word")["stopReason"] == "end_turn"
    config_id = bedrock.put_enforced_guardrail_configuration(guardrailInferenceConfig={
        "guardrailIdentifier": g["guardrailArn"], "guardrailVersion": v,
        "modelEnforcement": {"includedModels": ["ALL"], "excludedModels": [nova]},
        "selectiveContentGuarding": {"system": "SELECTIVE", "messages": "COMPREHENSIVE"},
    })["configId"]
    (listed,) = bedrock.list_enforced_guardrails_configuration()["guardrailsConfig"]
    assert listed["inputTags"] == "IGNORE" and listed["modelEnforcement"]["excludedModels"] == [nova]

    # Converse, with no guardrail named in the request: blocked like a request guardrail.
    blocked = converse(runtime, HAIKU, "a forbidden word")
    assert blocked["stopReason"] == "guardrail_intervened"
    assert blocked["output"]["message"]["content"] == [{"text": "Blocked by the account."}]
    assert converse(runtime, HAIKU, "a fine word")["stopReason"] == "end_turn"
    # An excluded model is not guarded; a SELECTIVE system prompt is read only where tagged.
    assert converse(runtime, nova, "a forbidden word")["stopReason"] == "end_turn"
    assert converse(runtime, HAIKU, "hello", system="forbidden")["stopReason"] == "end_turn"
    # COMPREHENSIVE messages ignore guardContent tags: untagged text is read too.
    tagged = runtime.converse(modelId=HAIKU, messages=[{"role": "user", "content": [
        {"guardContent": {"text": {"text": "fine"}}}, {"text": "forbidden"}]}])
    assert tagged["stopReason"] == "guardrail_intervened"

    # InvokeModel and streams alike.
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20,
                       "messages": [{"role": "user", "content": "forbidden"}]})
    native = json.loads(runtime.invoke_model(modelId=HAIKU, body=body)["body"].read())
    assert native["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert native["content"][0]["text"] == "Blocked by the account."
    events = list(runtime.converse_stream(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "forbidden"}]}])["stream"])
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["guardrail_intervened"]

    # Beside a guardrail the request names: both are assessed, each with its origin.
    own = bedrock.create_guardrail(name="own", blockedInputMessaging="own", blockedOutputsMessaging="own",
                                   wordPolicyConfig={"wordsConfig": [{"text": "unrelated"}]})
    traced = converse(runtime, HAIKU, "a forbidden word", guardrailConfig={
        "guardrailIdentifier": own["guardrailId"], "guardrailVersion": "DRAFT", "trace": "enabled"})
    assessments = traced["trace"]["guardrail"]["inputAssessment"]
    assert set(assessments) == {own["guardrailId"], g["guardrailId"]}
    origins = {k: a["appliedGuardrailDetails"]["guardrailOrigin"] for k, a in assessments.items()}
    assert origins == {own["guardrailId"]: ["REQUEST"], g["guardrailId"]: ["ACCOUNT_ENFORCED"]}
    assert traced["output"]["message"]["content"] == [{"text": "Blocked by the account."}]

    # Deleted, it no longer applies.
    bedrock.delete_enforced_guardrail_configuration(configId=config_id)
    assert converse(runtime, HAIKU, "a forbidden word")["stopReason"] == "end_turn"


def test_an_agreement_makes_a_third_party_model_available(bedrock):
    before = bedrock.get_foundation_model_availability(modelId=HAIKU)
    assert before["agreementAvailability"]["status"] == "NOT_AVAILABLE"
    assert (before["authorizationStatus"], before["entitlementAvailability"], before["regionAvailability"]) == (
        "AUTHORIZED", "AVAILABLE", "AVAILABLE")
    assert bedrock.get_foundation_model_availability(modelId="amazon.nova-micro-v1:0")["agreementAvailability"]["status"] == "AVAILABLE"
    (offer,) = bedrock.list_foundation_model_agreement_offers(modelId=HAIKU)["offers"]
    assert offer["termDetails"]["usageBasedPricingTerm"]["rateCard"]
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.create_foundation_model_agreement(modelId=HAIKU, offerToken="made-up")
    created = bedrock.create_foundation_model_agreement(modelId=HAIKU, offerToken=offer["offerToken"])
    assert created["modelId"] == HAIKU and created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert bedrock.get_foundation_model_availability(modelId=HAIKU)["agreementAvailability"]["status"] == "AVAILABLE"
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.create_foundation_model_agreement(modelId=HAIKU, offerToken=offer["offerToken"])
    bedrock.delete_foundation_model_agreement(modelId=HAIKU)
    assert bedrock.get_foundation_model_availability(modelId=HAIKU)["agreementAvailability"]["status"] == "NOT_AVAILABLE"
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_foundation_model_availability(modelId="acme.no-such-model-v1")
