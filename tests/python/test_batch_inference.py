"""Batch inference through boto3: CreateModelInvocationJob reads JSONL records from the S3
folder, answers each modelInput as InvokeModel would (scenario rules, else the synthetic
model, recorded cassettes under --replay), and writes `<input>.jsonl.out` and `manifest.json.out`; the job moves Submitted →
InProgress → Completed / PartiallyCompleted / Failed on the clock; Get, List (filters, sort,
boto3's paginator), Stop, tags and errors."""
import json
import os
import time

import pytest

from conftest import RunningEmulator, make_client
from emulator_admin import load_scenario, reset

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = "arn:aws:iam::123456789012:role/BatchRole"


def record(i, text):
    return {"recordId": f"CALL{i:07}", "modelInput": {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": text}]}}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    return tmp_path_factory.mktemp("s3")


@pytest.fixture(scope="module")
def server(s3):
    running = RunningEmulator("--s3-dir", str(s3), "--async-duration-ms", "100")
    yield running
    running.stop()


@pytest.fixture
def bedrock(server):
    reset(server.url)
    return make_client("bedrock", server.url)


def put_input(s3, key, records):
    path = s3 / "in-bucket" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def create(bedrock, name, input_uri, output_uri="s3://out-bucket/results/", **kwargs):
    return bedrock.create_model_invocation_job(
        jobName=name, roleArn=ROLE, modelId=HAIKU,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}}, **kwargs,
    )["jobArn"]


def wait_done(bedrock, arn):
    for _ in range(200):
        job = bedrock.get_model_invocation_job(jobIdentifier=arn)
        if job["status"] not in ("Submitted", "InProgress"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"still {job['status']}")


def test_a_job_answers_every_record_and_writes_aws_output_files(server, bedrock, s3):
    put_input(s3, "batch/input.jsonl", [record(1, "hello"), record(2, "Describe the sea."), {"recordId": "CALL0000003", "modelInput": {"max_tokens": 5}}])
    arn = create(bedrock, "nightly-run", "s3://in-bucket/batch/input.jsonl", tags=[{"key": "team", "value": "ml"}])
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/")
    job = bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "Submitted" and job["jobName"] == "nightly-run" and job["roleArn"] == ROLE
    assert job["modelId"] == HAIKU and job["timeoutDurationInHours"] == 24
    done = wait_done(bedrock, arn)
    assert done["status"] == "PartiallyCompleted", done
    counts = {k: done[k] for k in ("totalRecordCount", "processedRecordCount", "successRecordCount", "errorRecordCount")}
    assert counts == {"totalRecordCount": 3, "processedRecordCount": 3, "successRecordCount": 2, "errorRecordCount": 1}
    assert done["endTime"] >= done["submitTime"]
    job_id = arn.rsplit("/", 1)[1]
    out = s3 / "out-bucket" / "results" / job_id
    lines = [json.loads(l) for l in (out / "input.jsonl.out").read_text().splitlines()]
    assert [l["recordId"] for l in lines] == ["CALL0000001", "CALL0000002", "CALL0000003"]
    assert lines[0]["modelInput"] == record(1, "hello")["modelInput"]
    assert lines[0]["modelOutput"]["type"] == "message" and lines[0]["modelOutput"]["content"][0]["text"]
    assert lines[2]["error"]["errorCode"] == 400 and lines[2]["error"]["errorMessage"]
    # The same answer InvokeModel gives.
    runtime = make_client("bedrock-runtime", server.url)
    direct = json.loads(runtime.invoke_model(modelId=HAIKU, body=json.dumps(record(2, "Describe the sea.")["modelInput"]))["body"].read())
    assert lines[1]["modelOutput"]["content"] == direct["content"]
    manifest = json.loads((out / "manifest.json.out").read_text())
    assert manifest["totalRecordCount"] == 3 and manifest["successRecordCount"] == 2 and manifest["errorRecordCount"] == 1
    assert manifest["inputTokenCount"] > 0 and manifest["outputTokenCount"] > 0
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "ml"}]


def test_a_prefix_is_every_jsonl_object_under_it_and_scenarios_answer_records(server, bedrock, s3):
    load_scenario(server.url, """version: 1
rules:
  - name: batch-answer
    match: {operation: InvokeModel, lastUserMessage: {contains: classify}}
    reply: {text: "POSITIVE"}
""")
    put_input(s3, "many/a.jsonl", [record(1, "classify: great product")])
    put_input(s3, "many/b.jsonl", [record(2, "classify: works fine")])
    put_input(s3, "many/notes.txt", [{"ignored": True}])
    # Ids repeat after a reset (they are deterministic): a folder of its own.
    arn = create(bedrock, "prefix-run", "s3://in-bucket/many/", output_uri="s3://out-bucket/prefix-run")
    done = wait_done(bedrock, arn)
    assert done["status"] == "Completed" and done["totalRecordCount"] == 2
    out = s3 / "out-bucket" / "prefix-run" / arn.rsplit("/", 1)[1]
    assert sorted(p.name for p in out.iterdir()) == ["a.jsonl.out", "b.jsonl.out", "manifest.json.out"]
    answer = json.loads((out / "a.jsonl.out").read_text())["modelOutput"]
    assert answer["content"] == [{"type": "text", "text": "POSITIVE"}]


def test_missing_input_fails_the_job_with_a_message(bedrock):
    arn = create(bedrock, "no-input", "s3://in-bucket/nothing-here.jsonl")
    done = wait_done(bedrock, arn)
    assert done["status"] == "Failed" and "nothing-here.jsonl" in done["message"]


def test_jobs_are_listed_filtered_paged_and_stopped(bedrock, s3):
    put_input(s3, "l/input.jsonl", [record(1, "hi")])
    arns = [create(bedrock, f"job-{i}", "s3://in-bucket/l/input.jsonl") for i in range(3)]
    listed = bedrock.list_model_invocation_jobs()["invocationJobSummaries"]
    assert [j["jobArn"] for j in listed] == arns[::-1]
    assert [j["jobName"] for j in bedrock.list_model_invocation_jobs(nameContains="job-1")["invocationJobSummaries"]] == ["job-1"]
    pages = bedrock.get_paginator("list_model_invocation_jobs").paginate(sortOrder="Ascending", PaginationConfig={"PageSize": 2})
    assert [j["jobArn"] for page in pages for j in page["invocationJobSummaries"]] == arns
    bedrock.stop_model_invocation_job(jobIdentifier=arns[0])
    assert bedrock.get_model_invocation_job(jobIdentifier=arns[0])["status"] == "Stopped"
    assert [j["jobArn"] for j in bedrock.list_model_invocation_jobs(statusEquals="Stopped")["invocationJobSummaries"]] == [arns[0]]
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.stop_model_invocation_job(jobIdentifier=arns[0])
    assert wait_done(bedrock, arns[0])["status"] == "Stopped", "a stopped job is not started later"


def test_bad_input_is_refused(bedrock):
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_model_invocation_job(jobIdentifier="abcdefghijkl")
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.create_model_invocation_job(
            jobName="bad", roleArn="not-a-role", modelId=HAIKU,
            inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://in-bucket/x.jsonl"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://out-bucket/"}})
    assert e.value.response["Error"]["Message"].startswith("1 validation error detected: Value 'not-a-role' at 'roleArn'")
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.create_model_invocation_job(
            jobName="bad", roleArn=ROLE, modelId="acme.no-such-model-v1",
            inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://in-bucket/x.jsonl"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://out-bucket/"}})


def test_fault_rules_apply_to_each_record(server, bedrock, s3):
    load_scenario(server.url, """version: 1
faults:
  - name: throttle-some-records
    match: {operation: InvokeModel, lastUserMessage: {contains: throttle-me}}
    inject:
      error: {type: ThrottlingException, message: "Too many tokens, please wait before trying again."}
""")
    put_input(s3, "faults/input.jsonl", [record(1, "hello"), record(2, "please throttle-me"), record(3, "bye")])
    arn = create(bedrock, "with-faults", "s3://in-bucket/faults/input.jsonl", output_uri="s3://out-bucket/with-faults")
    done = wait_done(bedrock, arn)
    assert (done["status"], done["successRecordCount"], done["errorRecordCount"]) == ("PartiallyCompleted", 2, 1)
    out = s3 / "out-bucket" / "with-faults" / arn.rsplit("/", 1)[1] / "input.jsonl.out"
    lines = {l["recordId"]: l for l in map(json.loads, out.read_text().splitlines())}
    assert lines["CALL0000002"]["error"] == {"errorCode": 429, "errorMessage": "Too many tokens, please wait before trying again."}
    assert "modelOutput" in lines["CALL0000001"] and "modelOutput" in lines["CALL0000003"]


def recorder_env():
    """A recording proxy's environment: keys of its own to sign what it forwards upstream."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="AKIDBATCHRECORDER", AWS_SECRET_ACCESS_KEY="batch-secret",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    return env


def test_recorded_interactions_answer_the_records_they_match(tmp_path):
    """A record answered live once (here by an upstream emulator with a scenario, through the
    recording proxy) is answered from the cassette by a replaying emulator's batch job; a
    record no cassette holds falls through to the synthetic model, as a request would."""
    upstream = RunningEmulator()
    load_scenario(upstream.url, """version: 1
rules:
  - name: live-answer
    match: {operation: InvokeModel}
    reply: {text: "RECORDED LIVE"}
""")
    cassettes = tmp_path / "cassettes"
    recorder = RunningEmulator("--record", str(cassettes), "--upstream", upstream.url, env=recorder_env())
    try:
        runtime = make_client("bedrock-runtime", recorder.url)
        live = json.loads(runtime.invoke_model(modelId=HAIKU, body=json.dumps(record(1, "from the tape")["modelInput"]))["body"].read())
        assert live["content"] == [{"type": "text", "text": "RECORDED LIVE"}]
    finally:
        recorder.stop()
        upstream.stop()
    s3 = tmp_path / "s3"
    put_input(s3, "replay/input.jsonl", [record(1, "from the tape"), record(2, "never recorded")])
    replayer = RunningEmulator("--replay", str(cassettes), "--s3-dir", str(s3), "--async-duration-ms", "100")
    try:
        bedrock = make_client("bedrock", replayer.url)
        arn = create(bedrock, "replayed", "s3://in-bucket/replay/input.jsonl", output_uri="s3://out-bucket/replayed")
        done = wait_done(bedrock, arn)
        assert (done["status"], done["successRecordCount"]) == ("Completed", 2), done
        out = s3 / "out-bucket" / "replayed" / arn.rsplit("/", 1)[1] / "input.jsonl.out"
        lines = {l["recordId"]: l for l in map(json.loads, out.read_text().splitlines())}
        assert lines["CALL0000001"]["modelOutput"] == live
        assert lines["CALL0000002"]["modelOutput"]["content"][0]["text"] != "RECORDED LIVE"
    finally:
        replayer.stop()
