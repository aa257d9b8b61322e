"""TagResource / UntagResource / ListTagsForResource through boto3 on guardrails and async
invocations: tags given at creation, added, replaced and removed; AWS's 200-tag limit as
TooManyTagsException; unknown, foreign and deleted resources as ResourceNotFoundException."""
import pytest
from botocore.exceptions import ClientError

from conftest import make_client
from emulator_admin import reset


@pytest.fixture
def clients(server):
    reset(server.url)
    return make_client("bedrock", server.url), make_client("bedrock-runtime", server.url)


def guardrail(bedrock, **kwargs):
    return bedrock.create_guardrail(name="tagged", blockedInputMessaging="no", blockedOutputsMessaging="no", **kwargs)


def error(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response


def test_tags_given_at_creation_are_listed_added_replaced_and_removed(clients):
    bedrock, _ = clients
    arn = guardrail(bedrock, tags=[{"key": "team", "value": "search"}])["guardrailArn"]
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "search"}]
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": "env", "value": "ci"}, {"key": "team", "value": "ads"}])
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [
        {"key": "team", "value": "ads"}, {"key": "env", "value": "ci"}]
    bedrock.untag_resource(resourceARN=arn, tagKeys=["team", "not-there"])
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "env", "value": "ci"}]


def test_more_than_200_tags_is_too_many_and_changes_nothing(clients):
    bedrock, _ = clients
    arn = guardrail(bedrock)["guardrailArn"]
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(200)])
    r = error(bedrock.tag_resource, resourceARN=arn, tags=[{"key": "one-more", "value": "v"}])
    assert r["Error"]["Code"] == "TooManyTagsException" and r["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert r["resourceName"] == arn
    assert len(bedrock.list_tags_for_resource(resourceARN=arn)["tags"]) == 200


def test_async_invocations_are_taggable(clients):
    bedrock, runtime = clients
    arn = runtime.start_async_invoke(
        modelId="amazon.nova-reel-v1:0",
        modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a fox"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://tagged-videos/p"}},
        tags=[{"key": "job", "value": "1"}],
    )["invocationArn"]
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "job", "value": "1"}]


def test_unknown_foreign_and_deleted_resources_are_not_found(clients):
    bedrock, _ = clients
    made = guardrail(bedrock)
    for arn in [
        "arn:aws:bedrock:us-east-1:123456789012:guardrail/abcdefghijkl",
        made["guardrailArn"].replace(":us-east-1:", ":us-west-2:"),
        "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdefghijkl",
    ]:
        r = error(bedrock.list_tags_for_resource, resourceARN=arn)
        assert r["Error"]["Code"] == "ResourceNotFoundException", arn
    bedrock.delete_guardrail(guardrailIdentifier=made["guardrailId"])
    r = error(bedrock.tag_resource, resourceARN=made["guardrailArn"], tags=[{"key": "k", "value": "v"}])
    assert r["Error"]["Code"] == "ResourceNotFoundException"


def test_bad_input_gets_corals_messages(clients):
    bedrock, _ = clients
    arn = guardrail(bedrock)["guardrailArn"]
    r = error(bedrock.tag_resource, resourceARN=arn, tags=[{"key": "bad key!", "value": "v"}])
    assert r["Error"]["Code"] == "ValidationException"
    assert "tags.1.member.key" in r["Error"]["Message"]
