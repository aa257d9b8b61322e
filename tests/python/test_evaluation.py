"""Model evaluation jobs through boto3: an automated job InProgress → Completed on the clock, a
human job waiting until stopped, the results a completed job writes (custom and built-in
datasets, AWS's folder layout and record shape), a dataset that cannot be read failing the job,
listings (filters, paginator), stop and batch delete, unknown models and names already used."""
import json
import time

import pytest

from conftest import RunningEmulator, make_client
from emulator_admin import ended, load_scenario, reset

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = "arn:aws:iam::123456789012:role/Evaluation"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    return tmp_path_factory.mktemp("s3")


@pytest.fixture(scope="module")
def server(s3):
    running = RunningEmulator("--async-duration-ms", "150", "--s3-dir", str(s3))
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


def wait_ended(bedrock, arn):
    return ended(lambda: bedrock.get_evaluation_job(jobIdentifier=arn), "status")


def test_a_completed_job_writes_scored_results_for_each_model_task_and_dataset(server, bedrock, s3):
    load_scenario(server.url, """version: 1
rules:
  - name: capital
    match: {operation: Converse, lastUserMessage: {contains: capital of Italy}}
    reply: {text: "Rome"}
""")
    data = s3 / "eval-data" / "custom" / "prompts.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(json.dumps({"prompt": "What is the capital of Italy?", "referenceResponse": "Rome", "category": "geo"}) + "\n"
                    + json.dumps({"prompt": "Name a colour.", "referenceResponse": "blue"}) + "\n")
    nova = "amazon.nova-micro-v1:0"
    arn = bedrock.create_evaluation_job(
        jobName="scored", roleArn=ROLE,
        evaluationConfig={"automated": {"datasetMetricConfigs": [
            {"taskType": "QuestionAndAnswer", "dataset": {"name": "geo", "datasetLocation": {"s3Uri": "s3://eval-data/custom/prompts.jsonl"}},
             "metricNames": ["Builtin.Accuracy", "Builtin.Robustness", "Builtin.Toxicity"]},
            {"taskType": "QuestionAndAnswer", "dataset": {"name": "Builtin.TriviaQA"}, "metricNames": ["Builtin.Accuracy"]},
        ]}},
        inferenceConfig={"models": [
            {"bedrockModel": {"modelIdentifier": HAIKU, "inferenceParams": json.dumps({"inferenceConfig": {"maxTokens": 100}})}},
            {"bedrockModel": {"modelIdentifier": nova, "inferenceParams": "{}"}},
        ]},
        outputDataConfig={"s3Uri": "s3://eval-results/scored/"},
    )["jobArn"]
    assert wait_ended(bedrock, arn)["status"] == "Completed"
    job_id = arn.rsplit("/", 1)[1]
    assert (s3 / "eval-results" / "scored" / "scored" / "amazon-bedrock-evaluations-permission-check").read_bytes() == b""
    base = s3 / "eval-results" / "scored" / "scored" / job_id / "models"
    for model in (HAIKU, nova):
        custom = base / model / "taskTypes" / "QuestionAndAnswer" / "datasets" / "geo" / f"{job_id}_output.jsonl"
        lines = [json.loads(l) for l in custom.read_text().splitlines()]
        assert [l["inputRecord"]["prompt"] for l in lines] == ["What is the capital of Italy?", "Name a colour."]
        assert lines[0]["inputRecord"]["category"] == "geo"
        first = lines[0]
        assert first["modelResponses"] == [{"response": "Rome", "modelIdentifier": model}]
        scores = {s["metricName"]: s["result"] for s in first["automatedEvaluationResult"]["scores"]}
        assert scores == {"Accuracy": 1.0, "Robustness": 0.0, "Toxicity": 0.0}
        assert 0.0 <= {s["metricName"]: s["result"] for s in lines[1]["automatedEvaluationResult"]["scores"]}["Accuracy"] < 1.0
        builtin = base / model / "taskTypes" / "QuestionAndAnswer" / "datasets" / "Builtin.TriviaQA" / f"{job_id}_output.jsonl"
        assert len(builtin.read_text().splitlines()) == 3


def test_a_dataset_that_cannot_be_read_fails_the_job(bedrock):
    arn = bedrock.create_evaluation_job(
        jobName="no-data", roleArn=ROLE,
        evaluationConfig={"automated": {"datasetMetricConfigs": [{
            "taskType": "Generation", "dataset": {"name": "missing", "datasetLocation": {"s3Uri": "s3://eval-data/none.jsonl"}},
            "metricNames": ["Builtin.Accuracy"]}]}},
        inferenceConfig={"models": [{"bedrockModel": {"modelIdentifier": HAIKU, "inferenceParams": "{}"}}]},
        outputDataConfig={"s3Uri": "s3://eval-results/none/"},
    )["jobArn"]
    job = wait_ended(bedrock, arn)
    assert job["status"] == "Failed"
    assert job["failureMessages"] == ["The input s3://eval-data/none.jsonl could not be read."]


def test_a_judged_job_names_its_metrics_in_full_and_its_judge(bedrock, s3):
    judge = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    arn = bedrock.create_evaluation_job(
        jobName="judged", roleArn=ROLE,
        evaluationConfig={"automated": {
            "datasetMetricConfigs": [{"taskType": "Generation", "dataset": {"name": "Builtin.TriviaQA"},
                                      "metricNames": ["Builtin.Correctness", "Builtin.Helpfulness"]}],
            "evaluatorModelConfig": {"bedrockEvaluatorModels": [{"modelIdentifier": judge}]}}},
        inferenceConfig={"models": [{"bedrockModel": {"modelIdentifier": HAIKU, "inferenceParams": "{}"}}]},
        outputDataConfig={"s3Uri": "s3://eval-results/judged/"},
    )["jobArn"]
    assert wait_ended(bedrock, arn)["status"] == "Completed"
    job_id = arn.rsplit("/", 1)[1]
    out = s3 / "eval-results" / "judged" / "judged" / job_id / "models" / HAIKU / "taskTypes" / "Generation" / "datasets" / "Builtin.TriviaQA" / f"{job_id}_output.jsonl"
    scores = json.loads(out.read_text().splitlines()[0])["automatedEvaluationResult"]["scores"]
    assert [s["metricName"] for s in scores] == ["Builtin.Correctness", "Builtin.Helpfulness"]
    assert all(s["evaluatorDetails"][0]["modelIdentifier"] == judge and 0.0 <= s["result"] <= 1.0 for s in scores)
