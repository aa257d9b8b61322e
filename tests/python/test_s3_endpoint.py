"""`--s3-endpoint`: asynchronous-invocation output and invocation-log records written to a real
S3-compatible server (moto's server, started here on loopback) instead of the S3 folder, and
read back with boto3's S3 client. The emulator runs without AWS credentials in its
environment: it falls back to test/test, which local S3 servers accept. Batch, evaluation and
prompt-optimization jobs read their inputs there and write their results there too."""
import json
import os
import socket
import time

import pytest

from conftest import RunningEmulator, make_client

moto_server = pytest.importorskip("moto.server", reason="moto[server] is in tests/python/requirements.txt")

REEL = "amazon.nova-reel-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
VIDEO = {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "A lighthouse at dawn"},
         "videoGenerationConfig": {"durationSeconds": 6, "fps": 24, "dimension": "1280x720", "seed": 7}}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_url():
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3(s3_url):
    client = make_client("s3", s3_url)
    for bucket in ("videos", "call-logs", "batch-in", "batch-out", "jobs-in", "jobs-out"):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture(scope="module")
def server(s3, s3_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # No credentials, profile or IMDS for the emulator's own S3 client to find.
    env.update({"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    running = RunningEmulator("--s3-endpoint", s3_url, "--async-duration-ms", "100", env=env)
    yield running
    running.stop()


def wait_done(runtime, arn):
    for _ in range(100):
        job = runtime.get_async_invoke(invocationArn=arn)
        if job["status"] != "InProgress":
            return job
        time.sleep(0.05)
    raise AssertionError("still InProgress")


def test_a_jobs_output_lands_in_the_real_s3_server(server, s3):
    runtime = make_client("bedrock-runtime", server.url)
    arn = runtime.start_async_invoke(
        modelId=REEL, modelInput=VIDEO, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://videos/runs/"}}
    )["invocationArn"]
    done = wait_done(runtime, arn)
    assert done["status"] == "Completed", done
    job_id = arn.rsplit("/", 1)[1]
    video = s3.get_object(Bucket="videos", Key=f"runs/{job_id}/output.mp4")
    assert video["ContentType"] == "video/mp4"
    assert video["Body"].read()[4:8] == b"ftyp"
    manifest = json.loads(s3.get_object(Bucket="videos", Key=f"runs/{job_id}/manifest.json")["Body"].read())
    assert manifest["invocationArn"] == arn
    assert manifest["outputs"] == [f"s3://videos/runs/{job_id}/output.mp4"]


def test_a_bucket_the_server_lacks_fails_the_job_with_s3s_reason(server):
    runtime = make_client("bedrock-runtime", server.url)
    arn = runtime.start_async_invoke(
        modelId=REEL, modelInput=VIDEO, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://no-such-bucket/x"}}
    )["invocationArn"]
    done = wait_done(runtime, arn)
    assert done["status"] == "Failed"
    assert done["failureMessage"].startswith("The output could not be written to s3://no-such-bucket/x: ")
    assert "NoSuchBucket" in done["failureMessage"]


def test_invocation_log_records_are_written_to_the_real_s3_server(server, s3):
    control = make_client("bedrock", server.url)
    runtime = make_client("bedrock-runtime", server.url)
    control.put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "call-logs", "keyPrefix": "team"}, "textDataDeliveryEnabled": True}
    )
    try:
        answer = runtime.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "hello"}]}])
        request_id = answer["ResponseMetadata"]["RequestId"]
        for _ in range(100):
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="call-logs").get("Contents", [])]
            if keys:
                break
            time.sleep(0.05)
        assert len(keys) == 1, keys
        assert keys[0].startswith("team/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/")
        assert keys[0].endswith(f"_{request_id}.json")
        record = json.loads(s3.get_object(Bucket="call-logs", Key=keys[0])["Body"].read())
        assert record["requestId"] == request_id and record["operation"] == "Converse"
    finally:
        control.delete_model_invocation_logging_configuration()


def test_a_batch_job_reads_and_writes_the_real_s3_server(server, s3):
    control = make_client("bedrock", server.url)
    line = {"recordId": "R1", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20,
                                             "messages": [{"role": "user", "content": "hello"}]}}
    s3.put_object(Bucket="batch-in", Key="jobs/input.jsonl", Body=(json.dumps(line) + "\n").encode())
    arn = control.create_model_invocation_job(
        jobName="on-real-s3", roleArn="arn:aws:iam::123456789012:role/Batch", modelId=HAIKU,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://batch-in/jobs/"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://batch-out/results/"}},
    )["jobArn"]
    for _ in range(200):
        job = control.get_model_invocation_job(jobIdentifier=arn)
        if job["status"] not in ("Submitted", "InProgress"):
            break
        time.sleep(0.02)
    assert job["status"] == "Completed", job
    job_id = arn.rsplit("/", 1)[1]
    out = s3.get_object(Bucket="batch-out", Key=f"results/{job_id}/input.jsonl.out")["Body"].read().decode()
    assert json.loads(out)["modelOutput"]["type"] == "message"
    manifest = json.loads(s3.get_object(Bucket="batch-out", Key=f"results/{job_id}/manifest.json.out")["Body"].read())
    assert manifest["successRecordCount"] == 1


def eventually(read, attempts=100):
    """What `read` returns once it stops raising (results land just after the job completes)."""
    for _ in range(attempts):
        try:
            return read()
        except Exception:  # noqa: BLE001 - S3's NoSuchKey until the task has written
            time.sleep(0.05)
    return read()


def test_evaluation_and_prompt_optimization_jobs_read_and_write_the_real_s3_server(server, s3):
    control = make_client("bedrock", server.url)
    s3.put_object(Bucket="jobs-in", Key="eval/prompts.jsonl", Body=b'{"prompt": "Hi there", "referenceResponse": "Hello"}\n')
    s3.put_object(Bucket="jobs-in", Key="apo/templates.jsonl", Body=b'{"templateId": "t", "promptTemplate": "Greet {{name}}", "evaluationSamples": [{"inputVariables": [{"name": "Ann"}]}]}\n')
    evaluation = control.create_evaluation_job(
        jobName="eval-on-s3", roleArn="arn:aws:iam::123456789012:role/Eval",
        evaluationConfig={"automated": {"datasetMetricConfigs": [{
            "taskType": "QuestionAndAnswer", "dataset": {"name": "mine", "datasetLocation": {"s3Uri": "s3://jobs-in/eval/prompts.jsonl"}},
            "metricNames": ["Builtin.Accuracy"]}]}},
        inferenceConfig={"models": [{"bedrockModel": {"modelIdentifier": HAIKU, "inferenceParams": "{}"}}]},
        outputDataConfig={"s3Uri": "s3://jobs-out/eval/"})["jobArn"]
    apo = control.create_advanced_prompt_optimization_job(
        jobName="apo-on-s3", inputConfig={"s3Uri": "s3://jobs-in/apo/templates.jsonl"}, outputConfig={"s3Uri": "s3://jobs-out/apo/"},
        modelConfigurations=[{"modelId": HAIKU}])["jobArn"]
    time.sleep(0.15)
    assert control.get_evaluation_job(jobIdentifier=evaluation)["status"] == "Completed"
    assert control.get_advanced_prompt_optimization_job(jobIdentifier=apo)["jobStatus"] == "Completed"
    eid, aid = evaluation.rsplit("/", 1)[1], apo.rsplit("/", 1)[1]
    key = f"eval/eval-on-s3/{eid}/models/{HAIKU}/taskTypes/QuestionAndAnswer/datasets/mine/{eid}_output.jsonl"
    record = json.loads(eventually(lambda: s3.get_object(Bucket="jobs-out", Key=key)["Body"].read()))
    assert record["inputRecord"] == {"prompt": "Hi there", "referenceResponse": "Hello"}
    assert record["automatedEvaluationResult"]["scores"][0]["metricName"] == "Accuracy"
    line = json.loads(eventually(lambda: s3.get_object(Bucket="jobs-out", Key=f"apo/{aid}/advanced_prompt_optimization_results.jsonl")["Body"].read()))
    assert line["promptOptimizationResults"][0]["dataset"][0]["inputVariables"] == [{"name": "Ann"}]
