"""Application inference profiles and provisioned throughput through boto3: each lifecycle
(create → get → list → update → delete → not found), Coral validation, idempotency, tags,
boto3's paginators, and the runtime effect: the created resource's ARN is a modelId that
Converse, ConverseStream, InvokeModel and CountTokens accept, answered by the model behind it."""
import json
import time

import pytest

from conftest import RunningEmulator, make_client
from emulator_admin import reset

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"
NOVA = "amazon.nova-micro-v1:0"


@pytest.fixture(scope="module")
def server():
    running = RunningEmulator("--async-duration-ms", "300")
    yield running
    running.stop()


@pytest.fixture
def clients(server):
    reset(server.url)
    return make_client("bedrock", server.url), make_client("bedrock-runtime", server.url)


def hello(runtime, model_id):
    return runtime.converse(modelId=model_id, messages=[{"role": "user", "content": [{"text": "hello"}]}])


def test_an_application_profile_is_created_listed_invoked_and_deleted(clients):
    bedrock, runtime = clients
    created = bedrock.create_inference_profile(
        inferenceProfileName="team-a-haiku", description="Team A Haiku", modelSource={"copyFrom": HAIKU_ARN},
        tags=[{"key": "team", "value": "a"}],
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = created["inferenceProfileArn"]
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/")
    assert created["status"] == "ACTIVE"
    profile_id = arn.rsplit("/", 1)[1]
    got = bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    assert got == bedrock.get_inference_profile(inferenceProfileIdentifier=profile_id) | {"ResponseMetadata": got["ResponseMetadata"]}
    assert (got["type"], got["status"], got["inferenceProfileName"]) == ("APPLICATION", "ACTIVE", "team-a-haiku")
    assert got["models"] == [{"modelArn": HAIKU_ARN}] and got["description"] == "Team A Haiku"
    apps = bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    assert [p["inferenceProfileArn"] for p in apps] == [arn]
    everything = [p["inferenceProfileId"] for p in bedrock.list_inference_profiles(maxResults=1000)["inferenceProfileSummaries"]]
    assert profile_id in everything and f"us.{HAIKU}" in everything
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "a"}]

    # The runtime effect: the profile's ARN answers as its model does.
    assert hello(runtime, arn)["output"] == hello(runtime, HAIKU)["output"]
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]})
    assert json.loads(runtime.invoke_model(modelId=arn, body=body)["body"].read())["type"] == "message"
    events = list(runtime.converse_stream(modelId=arn, messages=[{"role": "user", "content": [{"text": "hi"}]}])["stream"])
    assert "messageStop" in events[-2]

    bedrock.delete_inference_profile(inferenceProfileIdentifier=arn)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        hello(runtime, arn)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.delete_inference_profile(inferenceProfileIdentifier=arn)


def test_a_profile_copies_a_system_profiles_routing(clients):
    bedrock, runtime = clients
    system_arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{HAIKU}"
    arn = bedrock.create_inference_profile(inferenceProfileName="cross-region", modelSource={"copyFrom": system_arn})["inferenceProfileArn"]
    models = bedrock.get_inference_profile(inferenceProfileIdentifier=arn)["models"]
    system = bedrock.get_inference_profile(inferenceProfileIdentifier=f"us.{HAIKU}")["models"]
    assert models == system and len(models) > 1
    assert runtime.count_tokens(modelId=arn, input={"converse": {"messages": [{"role": "user", "content": [{"text": "hello"}]}]}})["inputTokens"] > 0


def test_profile_inputs_are_validated(clients):
    bedrock, _ = clients
    bedrock.create_inference_profile(inferenceProfileName="dup", modelSource={"copyFrom": HAIKU_ARN})
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.create_inference_profile(inferenceProfileName="dup", modelSource={"copyFrom": HAIKU_ARN})
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.create_inference_profile(inferenceProfileName="nope",
                                         modelSource={"copyFrom": "arn:aws:bedrock:us-east-1::foundation-model/acme.no-such-model-v1"})
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.create_inference_profile(inferenceProfileName="bad name!", modelSource={"copyFrom": HAIKU_ARN})
    assert e.value.response["Error"]["Message"].startswith(
        "1 validation error detected: Value 'bad name!' at 'inferenceProfileName' failed to satisfy constraint: Member must satisfy regular expression pattern: ")
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.delete_inference_profile(inferenceProfileIdentifier=f"us.{HAIKU}")
    # The same token and input is one profile; the same token with other input a conflict.
    a = bedrock.create_inference_profile(inferenceProfileName="tok", modelSource={"copyFrom": HAIKU_ARN}, clientRequestToken="t-1")
    b = bedrock.create_inference_profile(inferenceProfileName="tok", modelSource={"copyFrom": HAIKU_ARN}, clientRequestToken="t-1")
    assert a["inferenceProfileArn"] == b["inferenceProfileArn"]
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.create_inference_profile(inferenceProfileName="tok2", modelSource={"copyFrom": HAIKU_ARN}, clientRequestToken="t-1")


def test_profiles_page_through_boto3s_paginator(clients):
    bedrock, _ = clients
    for i in range(5):
        bedrock.create_inference_profile(inferenceProfileName=f"p{i}", modelSource={"copyFrom": HAIKU_ARN})
    pages = bedrock.get_paginator("list_inference_profiles").paginate(typeEquals="APPLICATION", PaginationConfig={"PageSize": 2})
    names = [p["inferenceProfileName"] for page in pages for p in page["inferenceProfileSummaries"]]
    assert names == [f"p{i}" for i in range(5)]


def wait_status(bedrock, arn, status):
    for _ in range(100):
        got = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
        if got["status"] == status:
            return got
        time.sleep(0.02)
    raise AssertionError(f"never {status}: {got['status']}")


def test_provisioned_throughput_goes_in_service_and_serves_its_model(clients):
    bedrock, runtime = clients
    created = bedrock.create_provisioned_model_throughput(
        modelUnits=2, provisionedModelName="haiku-pt", modelId=HAIKU, commitmentDuration="OneMonth",
        tags=[{"key": "cost-center", "value": "42"}],
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = created["provisionedModelArn"]
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/") and len(arn.rsplit("/", 1)[1]) == 12
    got = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert got["status"] == "Creating" and got["modelUnits"] == got["desiredModelUnits"] == 2
    assert got["modelArn"] == got["foundationModelArn"] == got["desiredModelArn"] == HAIKU_ARN
    assert got["commitmentDuration"] == "OneMonth" and got["commitmentExpirationTime"] > got["creationTime"]
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        hello(runtime, arn)
    assert "Creating" in e.value.response["Error"]["Message"]
    ready = wait_status(bedrock, arn, "InService")
    assert bedrock.get_provisioned_model_throughput(provisionedModelId="haiku-pt")["provisionedModelArn"] == arn
    assert hello(runtime, arn)["output"] == hello(runtime, HAIKU)["output"]
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "cost-center", "value": "42"}]

    # A rename is at once; throughput bought for a base model cannot change model (AWS's rule).
    bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredProvisionedModelName="renamed")
    renamed = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert (renamed["status"], renamed["provisionedModelName"]) == ("InService", "renamed")
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=NOVA)
    assert "base model" in e.value.response["Error"]["Message"]

    bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        hello(runtime, arn)


def test_throughput_for_a_custom_model_serves_as_its_base_and_moves_between_models_of_that_base(clients):
    bedrock, runtime = clients
    a = bedrock.create_custom_model(modelName="tuned-a", modelSourceConfig={"s3DataSource": {"s3Uri": "s3://models/a/"}})["modelArn"]
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="too-early", modelId=a)
    assert "Creating" in e.value.response["Error"]["Message"]
    b = bedrock.create_custom_model(modelName="tuned-b", modelSourceConfig={"s3DataSource": {"s3Uri": "s3://models/b/"}})["modelArn"]
    for model in (a, b):
        for _ in range(100):
            if bedrock.get_custom_model(modelIdentifier=model)["modelStatus"] == "Active":
                break
            time.sleep(0.02)
    nova_arn = f"arn:aws:bedrock:us-east-1::foundation-model/{NOVA}"
    # By name as well as by ARN, as AWS takes either.
    arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="tuned-pt", modelId="tuned-a")["provisionedModelArn"]
    got = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert (got["modelArn"], got["desiredModelArn"], got["foundationModelArn"]) == (a, a, nova_arn)
    wait_status(bedrock, arn, "InService")
    assert hello(runtime, arn)["output"] == hello(runtime, NOVA)["output"]
    with pytest.raises(runtime.exceptions.ValidationException):
        hello(runtime, a)  # the custom model itself is not invokable on demand

    # To another custom model of the same base: Updating (still serving) until it has moved.
    bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=b)
    updating = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert (updating["status"], updating["modelArn"], updating["desiredModelArn"]) == ("Updating", a, b)
    assert hello(runtime, arn)["output"] == hello(runtime, NOVA)["output"]
    moved = wait_status(bedrock, arn, "InService")
    assert (moved["modelArn"], moved["foundationModelArn"]) == (b, nova_arn)
    # Then to the base model itself; a model of another base is refused.
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=HAIKU)
    assert "not customized from the base model" in e.value.response["Error"]["Message"]
    bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=NOVA)
    assert wait_status(bedrock, arn, "InService")["modelArn"] == nova_arn
    assert hello(runtime, arn)["output"] == hello(runtime, NOVA)["output"]


def test_provisioned_listings_filter_sort_and_page(clients):
    bedrock, _ = clients
    arns = [bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName=f"pt-{i}", modelId=HAIKU if i % 2 else NOVA)["provisionedModelArn"]
            for i in range(4)]
    listed = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    assert [s["provisionedModelArn"] for s in listed] == arns[::-1], "newest first by default"
    ascending = bedrock.list_provisioned_model_throughputs(sortBy="CreationTime", sortOrder="Ascending")["provisionedModelSummaries"]
    assert [s["provisionedModelArn"] for s in ascending] == arns
    haikus = bedrock.list_provisioned_model_throughputs(modelArnEquals=HAIKU_ARN)["provisionedModelSummaries"]
    assert {s["provisionedModelName"] for s in haikus} == {"pt-1", "pt-3"}
    assert [s["provisionedModelName"] for s in bedrock.list_provisioned_model_throughputs(nameContains="t-2")["provisionedModelSummaries"]] == ["pt-2"]
    assert bedrock.list_provisioned_model_throughputs(statusEquals="Failed")["provisionedModelSummaries"] == []
    pages = bedrock.get_paginator("list_provisioned_model_throughputs").paginate(PaginationConfig={"PageSize": 3})
    assert [s["provisionedModelArn"] for page in pages for s in page["provisionedModelSummaries"]] == arns[::-1]


def test_provisioned_inputs_are_validated(clients):
    bedrock, _ = clients
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="x", modelId="acme.no-such-model-v1")
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="bad name", modelId=HAIKU)
    assert e.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'bad name' at 'provisionedModelName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ([0-9a-zA-Z][_-]?)+")
    bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="same", modelId=HAIKU)
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="same", modelId=HAIKU)
    # A context-length variant provisions its base model.
    arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="long", modelId=f"{HAIKU}:200k")["provisionedModelArn"]
    assert bedrock.get_provisioned_model_throughput(provisionedModelId=arn)["modelArn"].endswith(":200k")
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredProvisionedModelName="too-soon")


def test_a_page_boundary_survives_a_profile_deleted_between_pages(clients):
    bedrock, _ = clients
    arns = [bedrock.create_inference_profile(inferenceProfileName=f"keep{i}", modelSource={"copyFrom": HAIKU_ARN})["inferenceProfileArn"]
            for i in range(3)]
    first = bedrock.list_inference_profiles(typeEquals="APPLICATION", maxResults=1)
    assert [p["inferenceProfileArn"] for p in first["inferenceProfileSummaries"]] == arns[:1]
    bedrock.delete_inference_profile(inferenceProfileIdentifier=arns[0])
    rest = bedrock.list_inference_profiles(typeEquals="APPLICATION", nextToken=first["nextToken"])
    assert [p["inferenceProfileArn"] for p in rest["inferenceProfileSummaries"]] == arns[1:]


def test_after_a_restart_with_a_state_dir_pending_lifecycles_are_due(tmp_path):
    # The injected clock starts again at zero in a new process: what was pending is due at once.
    first = RunningEmulator("--state-dir", str(tmp_path), "--async-duration-ms", "600000")
    try:
        bedrock = make_client("bedrock", first.url)
        arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="slow", modelId=HAIKU)["provisionedModelArn"]
        assert bedrock.get_provisioned_model_throughput(provisionedModelId=arn)["status"] == "Creating"
    finally:
        first.stop()
    second = RunningEmulator("--state-dir", str(tmp_path), "--async-duration-ms", "600000")
    try:
        bedrock = make_client("bedrock", second.url)
        assert bedrock.get_provisioned_model_throughput(provisionedModelId=arn)["status"] == "InService"
    finally:
        second.stop()
