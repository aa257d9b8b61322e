"""Model customization through boto3: a fine-tuning job (InProgress → Completed on the clock)
makes its custom model and writes training metrics; CreateCustomModel; deployments (Creating →
Active, updates, deletes); the deployment's ARN as a Converse / InvokeModel modelId answered by
the base model; listings, paginators, stops, conflicts, tags and not-found cases."""
import time

import pytest

from conftest import RunningEmulator, make_client
from emulator_admin import reset

BASE = "amazon.nova-micro-v1:0"
ROLE = "arn:aws:iam::123456789012:role/Customization"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    return tmp_path_factory.mktemp("s3")


@pytest.fixture(scope="module")
def server(s3):
    running = RunningEmulator("--s3-dir", str(s3), "--async-duration-ms", "150")
    yield running
    running.stop()


@pytest.fixture
def clients(server):
    reset(server.url)
    return make_client("bedrock", server.url), make_client("bedrock-runtime", server.url)


def start_job(bedrock, name, model_name, **kwargs):
    return bedrock.create_model_customization_job(
        jobName=name, customModelName=model_name, roleArn=ROLE, baseModelIdentifier=BASE,
        trainingDataConfig={"s3Uri": "s3://training/data.jsonl"}, outputDataConfig={"s3Uri": "s3://training-out/runs"},
        hyperParameters={"epochCount": "2"}, **kwargs,
    )["jobArn"]


def wait(get, key, want):
    for _ in range(200):
        got = get()
        if got[key] == want:
            return got
        time.sleep(0.02)
    raise AssertionError(f"{key} never {want}: {got[key]}")


def hello(runtime, model_id):
    return runtime.converse(modelId=model_id, messages=[{"role": "user", "content": [{"text": "hello"}]}])


def test_a_job_makes_a_custom_model_that_a_deployment_serves(clients, s3):
    bedrock, runtime = clients
    arn = start_job(bedrock, "tune-1", "my-tuned-micro", customModelTags=[{"key": "team", "value": "ml"}])
    assert arn.startswith(f"arn:aws:bedrock:us-east-1:123456789012:model-customization-job/{BASE}/")
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "InProgress" and job["customizationType"] == "FINE_TUNING"
    assert job["baseModelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{BASE}"
    done = wait(lambda: bedrock.get_model_customization_job(jobIdentifier="tune-1"), "status", "Completed")
    model_arn = done["outputModelArn"]
    assert model_arn.startswith(f"arn:aws:bedrock:us-east-1:123456789012:custom-model/{BASE}/")
    assert done["trainingMetrics"]["trainingLoss"] > 0 and "endTime" in done
    job_id = arn.rsplit("/", 1)[1]
    metrics = s3 / "training-out" / "runs" / f"model-customization-job-{job_id}" / "training_artifacts" / "step_wise_training_metrics.csv"
    assert metrics.read_text().startswith("step_number,epoch_number,training_loss\n")

    model = bedrock.get_custom_model(modelIdentifier=model_arn)
    assert (model["modelName"], model["modelStatus"], model["jobArn"]) == ("my-tuned-micro", "Active", arn)
    assert bedrock.get_custom_model(modelIdentifier="my-tuned-micro")["modelArn"] == model_arn
    (summary,) = bedrock.list_custom_models()["modelSummaries"]
    assert (summary["baseModelName"], summary["ownerAccountId"]) == (BASE, "123456789012")
    assert bedrock.list_tags_for_resource(resourceARN=model_arn)["tags"] == [{"key": "team", "value": "ml"}]
    with pytest.raises(runtime.exceptions.ValidationException):
        hello(runtime, model_arn)

    deployment = bedrock.create_custom_model_deployment(modelDeploymentName="tuned-live", modelArn=model_arn)["customModelDeploymentArn"]
    assert bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=deployment)["status"] == "Creating"
    with pytest.raises(runtime.exceptions.ValidationException):
        hello(runtime, deployment)
    wait(lambda: bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=deployment), "status", "Active")
    assert hello(runtime, deployment)["output"] == hello(runtime, BASE)["output"]
    (listed,) = bedrock.list_custom_model_deployments()["modelDeploymentSummaries"]
    assert (listed["customModelDeploymentName"], listed["modelArn"]) == ("tuned-live", model_arn)
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.delete_custom_model(modelIdentifier=model_arn)
    bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=deployment)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        hello(runtime, deployment)
    bedrock.delete_custom_model(modelIdentifier=model_arn)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_custom_model(modelIdentifier=model_arn)


def test_a_deployment_moves_to_another_model(clients):
    bedrock, _ = clients
    a = bedrock.create_custom_model(modelName="imported-a", modelSourceConfig={"s3DataSource": {"s3Uri": "s3://models/a/"}})["modelArn"]
    b = bedrock.create_custom_model(modelName="imported-b", modelSourceConfig={"s3DataSource": {"s3Uri": "s3://models/b/"}})["modelArn"]
    assert bedrock.get_custom_model(modelIdentifier=a)["modelStatus"] == "Creating"
    wait(lambda: bedrock.get_custom_model(modelIdentifier=a), "modelStatus", "Active")
    d = bedrock.create_custom_model_deployment(modelDeploymentName="moving", modelArn=a)["customModelDeploymentArn"]
    wait(lambda: bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=d), "status", "Active")
    bedrock.update_custom_model_deployment(customModelDeploymentIdentifier=d, modelArn=b)
    updating = bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=d)
    assert updating["modelArn"] == a and updating["updateDetails"] == {"modelArn": b, "updateStatus": "Updating"}
    moved = wait(lambda: bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=d), "modelArn", b)
    assert "updateDetails" not in moved


def test_jobs_list_page_and_stop(clients):
    bedrock, _ = clients
    arns = [start_job(bedrock, f"job-{i}", f"model-{i}") for i in range(3)]
    bedrock.stop_model_customization_job(jobIdentifier=arns[0])
    assert bedrock.get_model_customization_job(jobIdentifier=arns[0])["status"] == "Stopped"
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.stop_model_customization_job(jobIdentifier=arns[0])
    pages = bedrock.get_paginator("list_model_customization_jobs").paginate(sortOrder="Ascending", PaginationConfig={"PageSize": 2})
    assert [j["jobArn"] for page in pages for j in page["modelCustomizationJobSummaries"]] == arns
    assert [j["jobName"] for j in bedrock.list_model_customization_jobs(statusEquals="Stopped")["modelCustomizationJobSummaries"]] == ["job-0"]
    wait(lambda: bedrock.get_model_customization_job(jobIdentifier=arns[1]), "status", "Completed")
    assert bedrock.get_model_customization_job(jobIdentifier=arns[0])["status"] == "Stopped", "a stopped job makes no model"
    assert {m["modelName"] for m in bedrock.list_custom_models()["modelSummaries"]} == {"model-1", "model-2"}


def test_bad_customization_input_is_refused(clients):
    bedrock, _ = clients
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.create_model_customization_job(
            jobName="x", customModelName="x", roleArn=ROLE, baseModelIdentifier="anthropic.claude-3-haiku-20240307-v1:0",
            trainingDataConfig={"s3Uri": "s3://tbucket/d.jsonl"}, outputDataConfig={"s3Uri": "s3://tbucket/o"})
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.create_model_customization_job(
            jobName="x", customModelName="x", roleArn=ROLE, baseModelIdentifier="acme.nothing-v1",
            trainingDataConfig={"s3Uri": "s3://tbucket/d.jsonl"}, outputDataConfig={"s3Uri": "s3://tbucket/o"})
    start_job(bedrock, "dup", "dup-model")
    with pytest.raises(bedrock.exceptions.ConflictException):
        start_job(bedrock, "dup", "other-model")
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        start_job(bedrock, "bad name!", "m")
    assert e.value.response["Error"]["Message"].startswith("1 validation error detected: Value 'bad name!' at 'jobName'")
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.create_custom_model_deployment(
            modelDeploymentName="d", modelArn="arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0/abcdefghijkl")
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_model_customization_job(jobIdentifier="no-such-job")
