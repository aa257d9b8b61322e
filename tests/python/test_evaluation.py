"""Model evaluation jobs through boto3: an automated job InProgress → Completed on the clock, a
human job waiting until stopped, listings (filters, paginator), stop and batch delete, unknown
models and names already used."""
import time

import pytest

from conftest import RunningEmulator, make_client
from emulator_admin import reset

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = "arn:aws:iam::123456789012:role/Evaluation"


@pytest.fixture(scope="module")
def server():
    running = RunningEmulator("--async-duration-ms", "150")
    yield running
    running.stop()


@pytest.fixture
def bedrock(server):
    reset(server.url)
    return make_client("bedrock", server.url)


def automated(bedrock, name, model=HAIKU):
    return bedrock.create_evaluation_job(
        jobName=name, roleArn=ROLE,
        evaluationConfig={"automated": {"datasetMetricConfigs": [{
            "taskType": "Summarization", "dataset": {"name": "Builtin.Gigaword"}, "metricNames": ["Builtin.Accuracy"]}]}},
        inferenceConfig={"models": [{"bedrockModel": {"modelIdentifier": model, "inferenceParams": "{}"}}]},
        outputDataConfig={"s3Uri": "s3://eval-results/out/"},
    )["jobArn"]


def human(bedrock, name):
    return bedrock.create_evaluation_job(
        jobName=name, roleArn=ROLE,
        evaluationConfig={"human": {"datasetMetricConfigs": [{
            "taskType": "Generation", "dataset": {"name": "custom", "datasetLocation": {"s3Uri": "s3://eval-data/prompts.jsonl"}},
            "metricNames": ["Helpfulness"]}], "customMetrics": [{"name": "Helpfulness", "ratingMethod": "ThumbsUpDown"}],
            "humanWorkflowConfig": {"flowDefinitionArn": "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/eval", "instructions": "Rate it"}}},
        inferenceConfig={"models": [{"bedrockModel": {"modelIdentifier": HAIKU, "inferenceParams": "{}"}}]},
        outputDataConfig={"s3Uri": "s3://eval-results/human/"},
    )["jobArn"]


def test_an_automated_job_completes_and_a_human_one_waits(bedrock):
    a = automated(bedrock, "auto-eval")
    assert a.startswith("arn:aws:bedrock:us-east-1:123456789012:evaluation-job/")
    job = bedrock.get_evaluation_job(jobIdentifier=a)
    assert (job["status"], job["jobType"], job["applicationType"]) == ("InProgress", "Automated", "ModelEvaluation")
    h = human(bedrock, "human-eval")
    time.sleep(0.2)
    assert bedrock.get_evaluation_job(jobIdentifier=a)["status"] == "Completed"
    assert bedrock.get_evaluation_job(jobIdentifier=h)["status"] == "InProgress"
    summaries = {s["jobName"]: s for s in bedrock.list_evaluation_jobs()["jobSummaries"]}
    assert summaries["auto-eval"]["evaluationTaskTypes"] == ["Summarization"]
    assert summaries["auto-eval"]["modelIdentifiers"] == [HAIKU]
    assert summaries["human-eval"]["jobType"] == "Human"
    assert [s["jobName"] for s in bedrock.list_evaluation_jobs(statusEquals="Completed")["jobSummaries"]] == ["auto-eval"]
    bedrock.stop_evaluation_job(jobIdentifier=h)
    assert bedrock.get_evaluation_job(jobIdentifier=h)["status"] == "Stopped"
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.stop_evaluation_job(jobIdentifier=a)


def test_jobs_page_and_are_deleted_in_batches(bedrock):
    arns = [automated(bedrock, f"e{i}") for i in range(3)]
    pages = bedrock.get_paginator("list_evaluation_jobs").paginate(sortOrder="Ascending", PaginationConfig={"PageSize": 2})
    assert [s["jobArn"] for page in pages for s in page["jobSummaries"]] == arns
    missing = "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/zzzzzzzzzzzz"
    result = bedrock.batch_delete_evaluation_job(jobIdentifiers=[arns[0], missing])
    assert [e["code"] for e in result["errors"]] == ["ConflictException", "ResourceNotFoundException"], "in progress, unknown"
    time.sleep(0.2)
    result = bedrock.batch_delete_evaluation_job(jobIdentifiers=arns[:2])
    assert result["evaluationJobs"] == [{"jobIdentifier": a, "jobStatus": "Deleting"} for a in arns[:2]] and result["errors"] == []
    assert [s["jobArn"] for s in bedrock.list_evaluation_jobs()["jobSummaries"]] == [arns[2]]
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_evaluation_job(jobIdentifier=arns[0])


def test_bad_evaluation_input_is_refused(bedrock):
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        automated(bedrock, "unknown-model", model="acme.none-v1")
    automated(bedrock, "taken")
    with pytest.raises(bedrock.exceptions.ConflictException):
        automated(bedrock, "taken")
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        automated(bedrock, "Bad_Name")
    assert e.value.response["Error"]["Message"].startswith("1 validation error detected: Value 'Bad_Name' at 'jobName'")
