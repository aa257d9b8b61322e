"""Accounts by access key through boto3: `--account-for KEY=ACCOUNT` (and `aws_account_id` in a
`--credentials` file) puts each caller's resources in its own account — ARNs carry it, and one
account does not see another's guardrails or jobs; unmapped keys get `--account-id`."""
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import RunningEmulator

ALICE, BOB = "AKIDALICE", "AKIDBOB"


@pytest.fixture(scope="module")
def server():
    running = RunningEmulator("--account-for", f"{ALICE}=111111111111", "--account-for", f"{BOB}=222222222222",
                              "--account-id", "999999999999")
    yield running
    running.stop()


def client(server, service, key, region="us-east-1"):
    return boto3.client(service, endpoint_url=server.url, region_name=region, aws_access_key_id=key,
                        aws_secret_access_key="secret", config=Config(retries={"total_max_attempts": 1}))


def test_each_key_has_its_own_account(server):
    alice, bob = client(server, "bedrock", ALICE), client(server, "bedrock", BOB)
    carol = client(server, "bedrock", "AKIDCAROL")
    made = alice.create_guardrail(name="alice-guard", blockedInputMessaging="no", blockedOutputsMessaging="no")
    assert made["guardrailArn"].startswith("arn:aws:bedrock:us-east-1:111111111111:guardrail/")
    assert [g["name"] for g in alice.list_guardrails()["guardrails"]] == ["alice-guard"]
    assert bob.list_guardrails()["guardrails"] == []
    with pytest.raises(ClientError) as e:
        bob.get_guardrail(guardrailIdentifier=made["guardrailId"])
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    made_by_carol = carol.create_guardrail(name="carol-guard", blockedInputMessaging="no", blockedOutputsMessaging="no")
    assert ":999999999999:guardrail/" in made_by_carol["guardrailArn"], "an unmapped key gets --account-id"


def test_the_account_shows_in_profile_arns_and_async_jobs(server):
    runtime = client(server, "bedrock-runtime", BOB)
    arn = runtime.start_async_invoke(
        modelId="amazon.nova-reel-v1:0",
        modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a fox"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bob-videos/p"}},
    )["invocationArn"]
    assert arn.startswith("arn:aws:bedrock:us-east-1:222222222222:async-invoke/")
    assert client(server, "bedrock-runtime", ALICE).list_async_invokes()["asyncInvokeSummaries"] == []
    profile = client(server, "bedrock", ALICE).get_inference_profile(
        inferenceProfileIdentifier="us.anthropic.claude-3-haiku-20240307-v1:0")
    assert ":111111111111:inference-profile/" in profile["inferenceProfileArn"]


def test_a_bad_mapping_stops_startup():
    import subprocess

    from conftest import emulator_binary

    r = subprocess.run([str(emulator_binary()), "serve", "--account-for", "AKID=12345"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2
    assert "twelve digits" in r.stderr
