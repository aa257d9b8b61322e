"""Marketplace model endpoints through boto3: created (Creating → InService on the clock),
read, listed, updated, registered and deregistered, deleted; the endpoint's SageMaker ARN as an
InvokeModel modelId answered in its source model's native format."""
import json
import time

import pytest

from conftest import RunningEmulator, make_client
from emulator_admin import reset

SOURCE = "arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub/Model/huggingface-llm-mistral-7b-instruct/1.0.0"
CONFIG = {"sageMaker": {"initialInstanceCount": 1, "instanceType": "ml.g5.2xlarge",
                        "executionRole": "arn:aws:iam::123456789012:role/SageMaker"}}


@pytest.fixture(scope="module")
def server():
    running = RunningEmulator("--async-duration-ms", "150")
    yield running
    running.stop()


@pytest.fixture
def clients(server):
    reset(server.url)
    return make_client("bedrock", server.url), make_client("bedrock-runtime", server.url)


def test_an_endpoint_is_created_goes_in_service_and_answers(clients):
    bedrock, runtime = clients
    created = bedrock.create_marketplace_model_endpoint(modelSourceIdentifier=SOURCE, endpointConfig=CONFIG,
                                                        endpointName="mistral-endpoint", acceptEula=True)["marketplaceModelEndpoint"]
    arn = created["endpointArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mistral-endpoint"
    assert (created["status"], created["endpointStatus"]) == ("REGISTERED", "Creating")
    body = json.dumps({"prompt": "<s>[INST] hello [/INST]", "max_tokens": 20})
    with pytest.raises(runtime.exceptions.ValidationException):
        runtime.invoke_model(modelId=arn, body=body)
    time.sleep(0.2)
    assert bedrock.get_marketplace_model_endpoint(endpointArn=arn)["marketplaceModelEndpoint"]["endpointStatus"] == "InService"
    answer = json.loads(runtime.invoke_model(modelId=arn, body=body)["body"].read())
    assert answer["outputs"][0]["text"], "Mistral's native format"
    (listed,) = bedrock.list_marketplace_model_endpoints()["marketplaceModelEndpoints"]
    assert listed["endpointArn"] == arn and listed["modelSourceIdentifier"] == SOURCE
    updated = bedrock.update_marketplace_model_endpoint(endpointArn=arn, endpointConfig=CONFIG)["marketplaceModelEndpoint"]
    assert updated["endpointStatus"] == "Updating"
    bedrock.delete_marketplace_model_endpoint(endpointArn=arn)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_marketplace_model_endpoint(endpointArn=arn)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.invoke_model(modelId=arn, body=body)


def test_an_existing_sagemaker_endpoint_is_registered_and_deregistered(clients):
    bedrock, _ = clients
    arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-own"
    registered = bedrock.register_marketplace_model_endpoint(endpointIdentifier=arn, modelSourceIdentifier=SOURCE)["marketplaceModelEndpoint"]
    assert (registered["status"], registered["endpointStatus"]) == ("REGISTERED", "InService")
    assert [e["endpointArn"] for e in bedrock.list_marketplace_model_endpoints(modelSourceEquals=SOURCE)["marketplaceModelEndpoints"]] == [arn]
    bedrock.deregister_marketplace_model_endpoint(endpointArn=arn)
    assert bedrock.list_marketplace_model_endpoints()["marketplaceModelEndpoints"] == []
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.deregister_marketplace_model_endpoint(endpointArn=arn)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_marketplace_model_endpoint(endpointArn="arn:aws:sagemaker:eu-west-1:999999999999:endpoint/elsewhere")
