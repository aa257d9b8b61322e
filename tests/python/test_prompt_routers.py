"""Prompt routers through boto3: AWS's default routers listed and read, a router created over
two models, Get/List/Delete, Coral and model checks, and the router's ARN as a Converse and
ConverseStream (and InvokeModel) modelId: answered by the model it picks for the prompt (the emulator's predicted
quality gap against responseQualityDifference), named in trace.promptRouter."""
import json

import pytest

from conftest import make_client
from emulator_admin import reset

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROFILE = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{}"


@pytest.fixture
def clients(server):
    reset(server.url)
    return make_client("bedrock", server.url), make_client("bedrock-runtime", server.url)


def hello(runtime, model_id):
    return runtime.converse(modelId=model_id, messages=[{"role": "user", "content": [{"text": "hello"}]}])


def test_default_routers_are_listed_and_route(clients):
    bedrock, runtime = clients
    defaults = bedrock.list_prompt_routers(type="default")["promptRouterSummaries"]
    arns = [r["promptRouterArn"] for r in defaults]
    assert "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1" in arns
    claude = bedrock.get_prompt_router(promptRouterArn=arns[0])
    assert claude["type"] == "default" and claude["status"] == "AVAILABLE" and len(claude["models"]) == 2
    # A short plain prompt is predicted as good on the cheaper model: it answers.
    routed = hello(runtime, arns[0])
    assert routed["trace"]["promptRouter"] == {"invokedModelId": PROFILE.format(HAIKU)}
    assert routed["output"] == hello(runtime, f"us.{HAIKU}")["output"]
    # A hard one goes to the fallback model, in streams as well.
    hard = "Explain why the sky is blue, step by step, and compare it with sunsets."
    messages = [{"role": "user", "content": [{"text": hard}]}]
    routed = runtime.converse(modelId=arns[0], messages=messages)
    assert routed["trace"]["promptRouter"] == {"invokedModelId": PROFILE.format(SONNET)}
    assert routed["output"] == runtime.converse(modelId=f"us.{SONNET}", messages=messages)["output"]
    events = list(runtime.converse_stream(modelId=arns[0], messages=messages)["stream"])
    (metadata,) = [e["metadata"] for e in events if "metadata" in e]
    assert metadata["trace"]["promptRouter"] == {"invokedModelId": PROFILE.format(SONNET)}
    # Without a router there is no router trace.
    assert "trace" not in hello(runtime, HAIKU)
    # InvokeModel picks the same way (its answer names no model).
    def invoke(model_id, text):
        body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200, "messages": [{"role": "user", "content": text}]})
        return json.loads(runtime.invoke_model(modelId=model_id, body=body)["body"].read())["content"]
    assert invoke(arns[0], "hello") == invoke(f"us.{HAIKU}", "hello")
    assert invoke(arns[0], hard) == invoke(f"us.{SONNET}", hard)


def test_a_router_is_created_read_listed_invoked_and_deleted(clients):
    bedrock, runtime = clients
    models = [{"modelArn": PROFILE.format(SONNET)}, {"modelArn": PROFILE.format(HAIKU)}]
    arn = bedrock.create_prompt_router(
        promptRouterName="support-router", models=models, routingCriteria={"responseQualityDifference": 25},
        fallbackModel={"modelArn": PROFILE.format(HAIKU)}, description="cheap unless it matters",
        tags=[{"key": "app", "value": "support"}],
    )["promptRouterArn"]
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:prompt-router/")
    got = bedrock.get_prompt_router(promptRouterArn=arn)
    assert (got["type"], got["status"], got["routingCriteria"]) == ("custom", "AVAILABLE", {"responseQualityDifference": 25.0})
    assert got["models"] == models and got["fallbackModel"] == {"modelArn": PROFILE.format(HAIKU)}
    assert [r["promptRouterArn"] for r in bedrock.list_prompt_routers(type="custom")["promptRouterSummaries"]] == [arn]
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "app", "value": "support"}]
    # Within 25 points of the fallback (Haiku), the other model (Sonnet) answers; beyond, Haiku.
    routed = hello(runtime, arn)
    assert routed["trace"]["promptRouter"] == {"invokedModelId": PROFILE.format(SONNET)}
    assert routed["output"] == hello(runtime, SONNET)["output"]
    hard = [{"role": "user", "content": [{"text": "Why? Explain and derive the proof."}]}]
    assert runtime.converse(modelId=arn, messages=hard)["trace"]["promptRouter"] == {"invokedModelId": PROFILE.format(HAIKU)}
    bedrock.delete_prompt_router(promptRouterArn=arn)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_prompt_router(promptRouterArn=arn)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        hello(runtime, arn)


def test_router_input_is_checked(clients):
    bedrock, _ = clients
    models = [{"modelArn": PROFILE.format(SONNET)}, {"modelArn": PROFILE.format(HAIKU)}]
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.create_prompt_router(promptRouterName="r", models=models, routingCriteria={"responseQualityDifference": 10},
                                     fallbackModel={"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0"})
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.create_prompt_router(promptRouterName="r", models=[models[0], {"modelArn": PROFILE.format("acme.none-v1")}],
                                     routingCriteria={"responseQualityDifference": 10}, fallbackModel=models[0])
    bedrock.create_prompt_router(promptRouterName="dup", models=models, routingCriteria={"responseQualityDifference": 10}, fallbackModel=models[0])
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.create_prompt_router(promptRouterName="dup", models=models, routingCriteria={"responseQualityDifference": 10}, fallbackModel=models[0])
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.delete_prompt_router(promptRouterArn="arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1")
