"""Model invocation logging through boto3: Put/Get/Delete of the configuration, and while one
with an s3Config is set, one log record per answered Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream call in the S3 stand-in folder, in AWS's record format."""
import json

import pytest
from botocore.exceptions import ClientError

from conftest import RunningEmulator, make_client
from emulator_admin import reset

NOVA = "amazon.nova-micro-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    return tmp_path_factory.mktemp("s3")


@pytest.fixture(scope="module")
def server(s3):
    running = RunningEmulator("--s3-dir", str(s3))
    yield running
    running.stop()


@pytest.fixture
def clients(server):
    reset(server.url)
    return make_client("bedrock", server.url), make_client("bedrock-runtime", server.url)


def records(s3, bucket="invocation-logs"):
    files = sorted((s3 / bucket).rglob("*.json"))
    return [(f, json.loads(f.read_text())) for f in files]


CONFIG = {"s3Config": {"bucketName": "invocation-logs", "keyPrefix": "app"}, "textDataDeliveryEnabled": True}


def test_the_configuration_is_put_got_and_deleted(clients):
    bedrock, _ = clients
    assert "loggingConfig" not in bedrock.get_model_invocation_logging_configuration()
    bedrock.put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    assert bedrock.get_model_invocation_logging_configuration()["loggingConfig"] == CONFIG
    bedrock.delete_model_invocation_logging_configuration()
    assert "loggingConfig" not in bedrock.get_model_invocation_logging_configuration()


def test_each_inference_call_writes_a_record_while_configured(clients, s3):
    import shutil

    shutil.rmtree(s3 / "invocation-logs", ignore_errors=True)
    bedrock, runtime = clients
    runtime.converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": "not logged"}]}])
    assert records(s3) == []
    bedrock.put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    reply = runtime.converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": "Hello log"}]}])
    stream = runtime.converse_stream(modelId=NOVA, messages=[{"role": "user", "content": [{"text": "Stream log"}]}])
    events = list(stream["stream"])
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20,
                       "messages": [{"role": "user", "content": "Invoke log"}]})
    invoked = json.loads(runtime.invoke_model(modelId=HAIKU, body=body)["body"].read())
    chunks = list(runtime.invoke_model_with_response_stream(modelId=HAIKU, body=body)["body"])
    logged = records(s3)
    assert sorted(r["operation"] for _, r in logged) == [
        "Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"]
    by_op = {r["operation"]: (f, r) for f, r in logged}
    assert len(by_op) == 4
    path, converse = by_op["Converse"]
    rel = path.relative_to(s3).parts
    assert rel[:6] == ("invocation-logs", "app", "AWSLogs", "123456789012", "BedrockModelInvocationLogs", "us-east-1")
    assert converse["schemaType"] == "ModelInvocationLog" and converse["schemaVersion"] == "1.0"
    assert converse["modelId"] == NOVA and converse["accountId"] == "123456789012"
    assert converse["requestId"] == reply["ResponseMetadata"]["RequestId"]
    assert converse["input"]["inputBodyJson"]["messages"][0]["content"][0]["text"] == "Hello log"
    assert converse["output"]["outputBodyJson"]["output"] == reply["output"]
    assert converse["output"]["outputTokenCount"] == reply["usage"]["outputTokens"]
    streamed = by_op["ConverseStream"][1]["output"]["outputBodyJson"]
    assert [list(e)[0] for e in streamed] == [list(e)[0] for e in events]
    assert by_op["InvokeModel"][1]["output"]["outputBodyJson"] == invoked
    native = by_op["InvokeModelWithResponseStream"][1]["output"]["outputBodyJson"]
    assert len(native) == len(chunks) and native[0]["chunk"]["type"] == "message_start"


def test_without_text_delivery_the_bodies_are_left_out(clients, s3):
    import shutil

    shutil.rmtree(s3 / "quiet-logs", ignore_errors=True)
    bedrock, runtime = clients
    bedrock.put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "quiet-logs"}, "textDataDeliveryEnabled": False})
    runtime.converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": "secret"}]}])
    ((_, record),) = records(s3, "quiet-logs")
    assert "inputBodyJson" not in record["input"] and "outputBodyJson" not in record["output"]
    assert record["input"]["inputTokenCount"] > 0


def test_a_bucket_name_that_is_not_one_is_refused(clients):
    bedrock, _ = clients
    with pytest.raises(ClientError) as e:
        bedrock.put_model_invocation_logging_configuration(loggingConfig={"s3Config": {"bucketName": "../etc"}})
    assert e.value.response["Error"]["Code"] == "ValidationException"
