"""Custom model import and model copy through boto3: an import job reads config.json from the
weights folder in the S3 folder, makes an imported model of that architecture (Llama, Mistral,
Mixtral; others fail the job), which answers ModelNotReadyException while it warms up and then
in its architecture's native format; Get/List/Delete; copy jobs across regions."""
import json
import time

import boto3
import pytest
from botocore.config import Config

from conftest import RunningEmulator, make_client
from emulator_admin import reset

ROLE = "arn:aws:iam::123456789012:role/Import"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    return tmp_path_factory.mktemp("s3")


@pytest.fixture(scope="module")
def server(s3):
    running = RunningEmulator("--s3-dir", str(s3), "--async-duration-ms", "200")
    yield running
    running.stop()


@pytest.fixture
def bedrock(server):
    reset(server.url)
    return make_client("bedrock", server.url)


def weights(s3, folder, architecture):
    path = s3 / "weights" / folder
    path.mkdir(parents=True, exist_ok=True)
    if architecture:
        (path / "config.json").write_text(json.dumps({"architectures": [architecture], "model_type": "x"}))
    return f"s3://weights/{folder}/"


def import_job(bedrock, name, uri):
    return bedrock.create_model_import_job(jobName=name, importedModelName=f"{name}-model", roleArn=ROLE,
                                           modelDataSource={"s3DataSource": {"s3Uri": uri}})["jobArn"]


def wait_job(get):
    for _ in range(200):
        job = get()
        if job["status"] != "InProgress":
            return job
        time.sleep(0.02)
    raise AssertionError("still InProgress")


def test_an_imported_llama_warms_up_then_answers_in_llamas_format(server, bedrock, s3):
    arn = import_job(bedrock, "llama-import", weights(s3, "llama", "LlamaForCausalLM"))
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:model-import-job/")
    assert bedrock.get_model_import_job(jobIdentifier=arn)["status"] == "InProgress"
    job = wait_job(lambda: bedrock.get_model_import_job(jobIdentifier="llama-import"))
    assert job["status"] == "Completed", job
    model_arn = job["importedModelArn"]
    model = bedrock.get_imported_model(modelIdentifier=model_arn)
    assert (model["modelName"], model["modelArchitecture"], model["instructSupported"]) == ("llama-import-model", "llama", True)
    assert bedrock.get_imported_model(modelIdentifier="llama-import-model")["modelArn"] == model_arn
    assert [m["modelArn"] for m in bedrock.list_imported_models()["modelSummaries"]] == [model_arn]

    runtime = make_client("bedrock-runtime", server.url)
    body = json.dumps({"prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "max_gen_len": 30})
    with pytest.raises(runtime.exceptions.ModelNotReadyException) as e:
        runtime.invoke_model(modelId=model_arn, body=body)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    time.sleep(0.3)
    answer = json.loads(runtime.invoke_model(modelId=model_arn, body=body)["body"].read())
    assert answer["generation"] and answer["stop_reason"] in ("stop", "length")
    bedrock.delete_imported_model(modelIdentifier=model_arn)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.invoke_model(modelId=model_arn, body=body)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_imported_model(modelIdentifier=model_arn)


def test_the_sdks_retries_carry_a_cold_model_through_its_warm_up(server, bedrock, s3):
    arn = import_job(bedrock, "warm", weights(s3, "warm", "MistralForCausalLM"))
    job = wait_job(lambda: bedrock.get_model_import_job(jobIdentifier=arn))
    retrying = boto3.client("bedrock-runtime", endpoint_url=server.url, region_name="us-east-1",
                            aws_access_key_id="AKIDEMULATOR", aws_secret_access_key="emulator-secret",
                            config=Config(retries={"total_max_attempts": 10, "mode": "standard"}))
    answer = json.loads(retrying.invoke_model(modelId=job["importedModelArn"], body=json.dumps({"prompt": "<s>[INST] hi [/INST]", "max_tokens": 20}))["body"].read())
    assert answer["outputs"][0]["text"], "answered in Mistral's format"


def test_unsupported_or_missing_weights_fail_the_job(bedrock, s3):
    qwen_arn = import_job(bedrock, "qwen", weights(s3, "qwen", "Qwen2ForCausalLM"))
    qwen = wait_job(lambda: bedrock.get_model_import_job(jobIdentifier=qwen_arn))
    assert qwen["status"] == "Failed" and "Qwen2ForCausalLM" in qwen["failureMessage"]
    empty_arn = import_job(bedrock, "empty", weights(s3, "empty", None))
    empty = wait_job(lambda: bedrock.get_model_import_job(jobIdentifier=empty_arn))
    assert empty["status"] == "Failed" and "config.json" in empty["failureMessage"]
    statuses = {j["jobName"]: j["status"] for j in bedrock.list_model_import_jobs()["modelImportJobSummaries"]}
    assert statuses == {"qwen": "Failed", "empty": "Failed"}
    assert bedrock.list_model_import_jobs(statusEquals="Completed")["modelImportJobSummaries"] == []


def test_a_custom_model_is_copied_to_another_region(server, bedrock):
    source = bedrock.create_custom_model(modelName="to-copy", modelSourceConfig={"s3DataSource": {"s3Uri": "s3://models/a/"}})["modelArn"]
    west = boto3.client("bedrock", endpoint_url=server.url, region_name="us-west-2", aws_access_key_id="AKIDEMULATOR",
                        aws_secret_access_key="emulator-secret", config=Config(retries={"total_max_attempts": 1}))
    job_arn = west.create_model_copy_job(sourceModelArn=source, targetModelName="copied")["jobArn"]
    assert job_arn.startswith("arn:aws:bedrock:us-west-2:123456789012:model-copy-job/")
    job = wait_job(lambda: west.get_model_copy_job(jobArn=job_arn))
    assert job["status"] == "Completed" and job["sourceModelArn"] == source and job["sourceAccountId"] == "123456789012"
    copied = west.get_custom_model(modelIdentifier="copied")
    assert copied["modelArn"] == job["targetModelArn"] and copied["modelArn"].startswith("arn:aws:bedrock:us-west-2:")
    assert [j["jobArn"] for j in west.list_model_copy_jobs()["modelCopyJobSummaries"]] == [job_arn]
    with pytest.raises(west.exceptions.ResourceNotFoundException):
        west.create_model_copy_job(sourceModelArn="arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0/zzzzzzzzzzzz", targetModelName="nope")
