"""StartAsyncInvoke / GetAsyncInvoke / ListAsyncInvokes through boto3: Nova Reel jobs go
InProgress → Completed on the clock and write their output into the S3 stand-in folder;
filters, sorting and boto3's paginator; idempotency; bad input and unknown invocations."""
import json
import time

import pytest

from conftest import RunningEmulator, make_client
from emulator_admin import reset

REEL = "amazon.nova-reel-v1:0"
VIDEO = {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "A lighthouse at dawn"},
         "videoGenerationConfig": {"durationSeconds": 6, "fps": 24, "dimension": "1280x720", "seed": 7}}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    return tmp_path_factory.mktemp("s3")


@pytest.fixture(scope="module")
def server(s3):
    running = RunningEmulator("--s3-dir", str(s3), "--async-duration-ms", "300")
    yield running
    running.stop()


@pytest.fixture
def runtime(server):
    reset(server.url)
    return make_client("bedrock-runtime", server.url)


def start(runtime, uri="s3://my-videos/runs", **kwargs):
    return runtime.start_async_invoke(
        modelId=REEL, modelInput=VIDEO, outputDataConfig={"s3OutputDataConfig": {"s3Uri": uri}}, **kwargs
    )["invocationArn"]


def wait_done(runtime, arn):
    for _ in range(50):
        job = runtime.get_async_invoke(invocationArn=arn)
        if job["status"] != "InProgress":
            return job
        time.sleep(0.05)
    raise AssertionError("still InProgress")


def test_a_job_completes_and_writes_its_output(runtime, s3):
    arn = start(runtime)
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:async-invoke/") and len(arn.rsplit("/", 1)[1]) == 12
    job = runtime.get_async_invoke(invocationArn=arn)
    assert job["status"] == "InProgress" and "endTime" not in job
    assert job["modelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{REEL}"
    assert job["outputDataConfig"] == {"s3OutputDataConfig": {"s3Uri": "s3://my-videos/runs"}}
    done = wait_done(runtime, arn)
    assert done["status"] == "Completed" and done["endTime"] >= done["submitTime"]
    folder = s3 / "my-videos" / "runs" / arn.rsplit("/", 1)[1]
    video = (folder / "output.mp4").read_bytes()
    assert video[4:8] == b"ftyp" and b"moov" in video
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["invocationArn"] == arn


def test_listing_filters_sorts_and_pages(runtime):
    arns = [start(runtime, uri=f"s3://my-videos/list/{i}") for i in range(5)]
    listed = runtime.list_async_invokes()["asyncInvokeSummaries"]
    assert [s["invocationArn"] for s in listed] == arns[::-1]
    ascending = runtime.list_async_invokes(sortOrder="Ascending")["asyncInvokeSummaries"]
    assert [s["invocationArn"] for s in ascending] == arns
    pages = list(runtime.get_paginator("list_async_invokes").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["asyncInvokeSummaries"]) for p in pages] == [2, 2, 1]
    assert runtime.list_async_invokes(statusEquals="Completed")["asyncInvokeSummaries"] == []
    wait_done(runtime, arns[-1])
    assert len(runtime.list_async_invokes(statusEquals="Completed")["asyncInvokeSummaries"]) == 5
    future = runtime.list_async_invokes(submitTimeAfter="2100-01-01T00:00:00Z")["asyncInvokeSummaries"]
    assert future == []


def test_a_client_request_token_starts_one_job(runtime):
    first = start(runtime, clientRequestToken="reel-1")
    assert start(runtime, clientRequestToken="reel-1") == first
    assert len(runtime.list_async_invokes()["asyncInvokeSummaries"]) == 1


def test_bad_input_and_unknown_jobs_are_refused(runtime):
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        start(runtime, uri="https://not-s3")
    assert "s3OutputDataConfig.s3Uri" in e.value.response["Error"]["Message"]
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        runtime.start_async_invoke(modelId="anthropic.claude-3-haiku-20240307-v1:0", modelInput=VIDEO,
                                   outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bkt/p"}})
    assert "doesn't support asynchronous invocation" in e.value.response["Error"]["Message"]
    with pytest.raises(runtime.exceptions.ValidationException):
        runtime.start_async_invoke(modelId=REEL, modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": ""}},
                                   outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bkt/p"}})
    # GetAsyncInvoke's model has no ResourceNotFoundException.
    with pytest.raises(runtime.exceptions.ValidationException):
        runtime.get_async_invoke(invocationArn="arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdefghijkl")
    with pytest.raises(runtime.exceptions.ValidationException):
        runtime.list_async_invokes(statusEquals="Sideways")


FAILING = """
version: 1
name: failing-videos
rules:
  - name: fail-volcano
    match:
      operation: StartAsyncInvoke
      json: [{path: /modelInput/textToVideoParams/text, text: {contains: volcano}}]
    reply:
      failure: "The video could not be generated: the input was filtered."
"""


def test_a_scenario_rule_makes_a_job_fail_with_its_message(runtime, server, s3):
    from emulator_admin import clear_scenarios, load_scenario, last_entry

    load_scenario(server.url, FAILING)
    try:
        volcano = dict(VIDEO, textToVideoParams={"text": "A volcano erupting at night"})
        arn = runtime.start_async_invoke(
            modelId=REEL, modelInput=volcano, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bkt/fails"}}
        )["invocationArn"]
        assert last_entry(server.url)["answeredBy"] == "scenario:test/fail-volcano"
        assert runtime.get_async_invoke(invocationArn=arn)["status"] == "InProgress"
        job = wait_done(runtime, arn)
        assert job["status"] == "Failed"
        assert job["failureMessage"] == "The video could not be generated: the input was filtered."
        assert job["endTime"] >= job["submitTime"]
        assert not (s3 / "bkt" / "fails").exists(), "a failed job writes no output"
        listed = runtime.list_async_invokes(statusEquals="Failed")["asyncInvokeSummaries"]
        assert [j["invocationArn"] for j in listed] == [arn]
        assert listed[0]["failureMessage"] == job["failureMessage"]
        # Other jobs are not touched by the rule.
        assert wait_done(runtime, start(runtime))["status"] == "Completed"
    finally:
        clear_scenarios(server.url)


def test_a_failure_reply_is_only_chosen_for_start_async_invoke(runtime, server):
    from emulator_admin import clear_scenarios, load_scenario, last_entry

    catch_all = """
version: 1
name: fail-everything
rules:
  - name: fail-all
    reply: {failure: "no"}
"""
    load_scenario(server.url, catch_all)
    try:
        runtime.converse(modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])
        assert last_entry(server.url)["answeredBy"] == "synthetic"
        assert wait_done(runtime, start(runtime))["status"] == "Failed"
    finally:
        clear_scenarios(server.url)
