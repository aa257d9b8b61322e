"""Advanced prompt optimization jobs through boto3: InProgress → Completed on the clock, list
(paginator), stop, batch delete, unknown models and names already used."""
import time

import pytest

from conftest import RunningEmulator, make_client
from emulator_admin import reset

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def server():
    running = RunningEmulator("--async-duration-ms", "150")
    yield running
    running.stop()


@pytest.fixture
def bedrock(server):
    reset(server.url)
    return make_client("bedrock", server.url)


def create(bedrock, name, model=HAIKU):
    return bedrock.create_advanced_prompt_optimization_job(
        jobName=name, inputConfig={"s3Uri": "s3://prompts-in/prompts.jsonl"}, outputConfig={"s3Uri": "s3://prompts-out/"},
        modelConfigurations=[{"modelId": model}])["jobArn"]


def test_a_job_completes_and_lists_stops_and_deletes(bedrock):
    arns = [create(bedrock, f"opt-{i}") for i in range(3)]
    assert arns[0].startswith("arn:aws:bedrock:us-east-1:123456789012:advanced-prompt-optimization-job/")
    assert bedrock.get_advanced_prompt_optimization_job(jobIdentifier=arns[0])["jobStatus"] == "InProgress"
    bedrock.stop_advanced_prompt_optimization_job(jobIdentifier=arns[2])
    time.sleep(0.2)
    job = bedrock.get_advanced_prompt_optimization_job(jobIdentifier=arns[0])
    assert job["jobStatus"] == "Completed" and job["modelConfigurations"] == [{"modelId": HAIKU}]
    assert bedrock.get_advanced_prompt_optimization_job(jobIdentifier=arns[2])["jobStatus"] == "Stopped"
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.stop_advanced_prompt_optimization_job(jobIdentifier=arns[0])
    pages = bedrock.get_paginator("list_advanced_prompt_optimization_jobs").paginate(
        sortOrder="Ascending", PaginationConfig={"PageSize": 2})
    assert [j["jobArn"] for page in pages for j in page["jobSummaries"]] == arns
    result = bedrock.batch_delete_advanced_prompt_optimization_job(jobIdentifiers=[arns[0], "zzzzzzzzzzzz"])
    assert result["advancedPromptOptimizationJobs"] == [{"jobIdentifier": arns[0], "jobStatus": "Deleting"}]
    assert [e["jobIdentifier"] for e in result["errors"]] == ["zzzzzzzzzzzz"]
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_advanced_prompt_optimization_job(jobIdentifier=arns[0])


def test_bad_jobs_are_refused(bedrock):
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        create(bedrock, "nope", model="acme.none-v1")
    create(bedrock, "once")
    with pytest.raises(bedrock.exceptions.ConflictException):
        create(bedrock, "once")
