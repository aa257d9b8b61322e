"""Advanced prompt optimization jobs through boto3: InProgress → Completed on the clock, the
results a completed job writes (per template and model, original against optimized prompt), an
unusable input failing the job, list (paginator), stop, batch delete, unknown models and names
already used."""
import json
import time

import pytest

from conftest import RunningEmulator, make_client
from emulator_admin import ended, load_scenario, reset

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    root = tmp_path_factory.mktemp("s3")
    (root / "prompts-in").mkdir()
    (root / "prompts-in" / "prompts.jsonl").write_text(json.dumps({"templateId": "t1", "promptTemplate": "Say {{word}}."}) + "\n")
    return root


@pytest.fixture(scope="module")
def server(s3):
    running = RunningEmulator("--async-duration-ms", "150", "--s3-dir", str(s3))
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


def wait_ended(bedrock, arn):
    return ended(lambda: bedrock.get_advanced_prompt_optimization_job(jobIdentifier=arn), "jobStatus")


def test_a_completed_job_writes_each_templates_optimized_prompt_and_scores(server, bedrock, s3):
    load_scenario(server.url, """version: 1
rules:
  - name: summary
    match: {operation: Converse, lastUserMessage: {contains: "Summarize: the cat sat"}}
    reply: {text: "A cat sat."}
""")
    template = {"templateId": "summarize", "promptTemplate": "Summarize: {{document}}", "steeringCriteria": ["Use one sentence."],
                "evaluationSamples": [{"inputVariables": [{"document": "the cat sat on the mat"}], "referenceResponse": "A cat sat."},
                                      {"inputVariables": [{"document": "rain fell all day"}]}]}
    (s3 / "prompts-in" / "summaries.jsonl").write_text(json.dumps(template) + "\n")
    nova = "amazon.nova-micro-v1:0"
    arn = bedrock.create_advanced_prompt_optimization_job(
        jobName="summaries", inputConfig={"s3Uri": "s3://prompts-in/summaries.jsonl"}, outputConfig={"s3Uri": "s3://prompts-out/runs/"},
        modelConfigurations=[{"modelId": HAIKU, "inferenceConfig": {"maxTokens": 200}}, {"modelId": nova}])["jobArn"]
    assert wait_ended(bedrock, arn)["jobStatus"] == "Completed"
    job_id = arn.rsplit("/", 1)[1]
    (line,) = [json.loads(l) for l in (s3 / "prompts-out" / "runs" / job_id / "advanced_prompt_optimization_results.jsonl").read_text().splitlines()]
    assert (line["promptTemplateId"], line["promptTemplate"], line["steeringCriteria"]) == ("summarize", "Summarize: {{document}}", ["Use one sentence."])
    results = line["promptOptimizationResults"]
    assert [r["modelId"] for r in results] == [HAIKU, nova]
    first = results[0]
    assert first["status"] == "SUCCESS" and first["optimizedPromptTemplateId"] == f"summarize-optimized-for-{HAIKU}"
    assert "{{document}}" in first["optimizedPromptTemplate"] and first["optimizedPromptTemplate"].endswith("- Use one sentence.")
    sample = first["dataset"][0]
    assert sample["inputVariables"] == [{"document": "the cat sat on the mat"}] and sample["referenceResponse"] == "A cat sat."
    original = sample["originalPromptDetails"]
    assert original["originalPromptModelResponse"] == "A cat sat." and original["originalPromptMetrics"]["score"] == 1.0
    assert original["originalPromptMetrics"]["inputTokens"] > 0 and original["originalPromptMetrics"]["outputTokens"] > 0
    assert set(sample["optimizedPromptDetails"]) == {"optimizedPromptModelResponse", "optimizedPromptMetrics"}
    assert first["dataset"][1]["originalPromptDetails"]["originalPromptMetrics"]["score"] == 1.0  # no reference
    assert set(first["originalPromptMetrics"]) == {"averageInputTokens", "averageOutputTokens", "averageScore", "averageTtftInSec"}


def test_an_input_without_templates_fails_the_job(bedrock, s3):
    (s3 / "prompts-in" / "broken.jsonl").write_text('{"notATemplate": true}\n')
    arn = bedrock.create_advanced_prompt_optimization_job(
        jobName="broken", inputConfig={"s3Uri": "s3://prompts-in/broken.jsonl"}, outputConfig={"s3Uri": "s3://prompts-out/"},
        modelConfigurations=[{"modelId": HAIKU}])["jobArn"]
    job = wait_ended(bedrock, arn)
    assert (job["jobStatus"], job["failureMessage"]) == ("Failed", "Line 1 of the input file has no promptTemplate.")
    missing = bedrock.create_advanced_prompt_optimization_job(
        jobName="missing", inputConfig={"s3Uri": "s3://prompts-in/none.jsonl"}, outputConfig={"s3Uri": "s3://prompts-out/"},
        modelConfigurations=[{"modelId": HAIKU}])["jobArn"]
    assert wait_ended(bedrock, missing)["failureMessage"] == "The input s3://prompts-in/none.jsonl could not be read."
