"""Guardrails on the control plane through boto3: the whole lifecycle (create → get → list →
update → version → delete → not found), every policy config stored and answered in the Get
shapes, Coral validation messages, idempotency by clientRequestToken, boto3's paginator,
(account, region) scopes, POST /_emulator/reset, and concurrent creates losing nothing."""
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from conftest import RunningEmulator, make_client
from emulator_admin import reset

FULL = dict(
    name="support-bot",
    description="Keeps the support bot on topic",
    topicPolicyConfig={
        "topicsConfig": [
            {"name": "Investing", "definition": "Advice about investments or stocks", "examples": ["Which stocks should I buy?"], "type": "DENY"}
        ],
        "tierConfig": {"tierName": "STANDARD"},
    },
    contentPolicyConfig={"filtersConfig": [{"type": "HATE", "inputStrength": "HIGH", "outputStrength": "MEDIUM"}]},
    wordPolicyConfig={"wordsConfig": [{"text": "frobnicate"}], "managedWordListsConfig": [{"type": "PROFANITY"}]},
    sensitiveInformationPolicyConfig={
        "piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}],
        "regexesConfig": [{"name": "ticket", "pattern": "TK-[0-9]+", "action": "BLOCK", "description": "ticket ids"}],
    },
    contextualGroundingPolicyConfig={"filtersConfig": [{"type": "GROUNDING", "threshold": 0.7}, {"type": "RELEVANCE", "threshold": 0.5, "action": "NONE"}]},
    blockedInputMessaging="Sorry, I can't help with that.",
    blockedOutputsMessaging="Sorry, I can't answer that.",
    tags=[{"key": "team", "value": "support"}],
)


@pytest.fixture
def bedrock(server):
    reset(server.url)
    return make_client("bedrock", server.url)


def error_of(call, **kwargs):
    with pytest.raises(Exception) as e:
        call(**kwargs)
    response = e.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_the_whole_lifecycle(bedrock):
    created = bedrock.create_guardrail(**FULL)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    gid, arn = created["guardrailId"], created["guardrailArn"]
    assert created["version"] == "DRAFT"
    assert arn == f"arn:aws:bedrock:us-east-1:123456789012:guardrail/{gid}"
    assert len(gid) == 12 and all(c.islower() or c.isdigit() for c in gid)

    got = bedrock.get_guardrail(guardrailIdentifier=gid)
    assert got["name"] == "support-bot" and got["status"] == "READY" and got["version"] == "DRAFT"
    assert got["topicPolicy"]["topics"][0] == {
        "name": "Investing",
        "definition": "Advice about investments or stocks",
        "examples": ["Which stocks should I buy?"],
        "type": "DENY",
        "inputAction": "BLOCK",
        "outputAction": "BLOCK",
        "inputEnabled": True,
        "outputEnabled": True,
    }
    assert got["topicPolicy"]["tier"] == {"tierName": "STANDARD"}
    hate = got["contentPolicy"]["filters"][0]
    assert (hate["type"], hate["inputStrength"], hate["outputStrength"]) == ("HATE", "HIGH", "MEDIUM")
    assert hate["inputModalities"] == ["TEXT"] and hate["inputAction"] == "BLOCK"
    assert got["wordPolicy"]["words"][0]["text"] == "frobnicate"
    assert got["wordPolicy"]["managedWordLists"][0]["type"] == "PROFANITY"
    email = got["sensitiveInformationPolicy"]["piiEntities"][0]
    assert (email["type"], email["action"], email["inputAction"], email["outputAction"]) == ("EMAIL", "ANONYMIZE", "ANONYMIZE", "ANONYMIZE")
    assert got["sensitiveInformationPolicy"]["regexes"][0]["pattern"] == "TK-[0-9]+"
    grounding = got["contextualGroundingPolicy"]["filters"]
    assert grounding[0] == {"type": "GROUNDING", "threshold": 0.7, "action": "BLOCK", "enabled": True}
    assert grounding[1]["action"] == "NONE"
    assert got["blockedInputMessaging"] == "Sorry, I can't help with that."
    assert got["createdAt"] == got["updatedAt"]
    assert bedrock.get_guardrail(guardrailIdentifier=arn)["guardrailId"] == gid

    listed = bedrock.list_guardrails()["guardrails"]
    assert [(g["id"], g["version"], g["name"]) for g in listed] == [(gid, "DRAFT", "support-bot")]

    v1 = bedrock.create_guardrail_version(guardrailIdentifier=gid, description="first release")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 202 and v1["version"] == "1"
    update = {k: v for k, v in FULL.items() if k not in ("tags", "topicPolicyConfig")}
    updated = bedrock.update_guardrail(guardrailIdentifier=gid, **{**update, "name": "support-bot-2"})
    assert updated["version"] == "DRAFT" and updated["guardrailArn"] == arn
    draft = bedrock.get_guardrail(guardrailIdentifier=gid)
    assert draft["name"] == "support-bot-2" and "topicPolicy" not in draft
    assert draft["updatedAt"] >= draft["createdAt"]
    one = bedrock.get_guardrail(guardrailIdentifier=gid, guardrailVersion="1")
    assert one["version"] == "1" and one["name"] == "support-bot" and "topicPolicy" in one
    assert one["description"] == "first release"
    assert bedrock.create_guardrail_version(guardrailIdentifier=gid)["version"] == "2"
    versions = bedrock.list_guardrails(guardrailIdentifier=gid)["guardrails"]
    assert [v["version"] for v in versions] == ["DRAFT", "1", "2"]

    assert bedrock.delete_guardrail(guardrailIdentifier=gid, guardrailVersion="1")["ResponseMetadata"]["HTTPStatusCode"] == 202
    code, status, message = error_of(bedrock.get_guardrail, guardrailIdentifier=gid, guardrailVersion="1")
    assert (code, status) == ("ResourceNotFoundException", 404)
    bedrock.delete_guardrail(guardrailIdentifier=gid)
    code, status, message = error_of(bedrock.get_guardrail, guardrailIdentifier=gid)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert gid in message
    assert error_of(bedrock.delete_guardrail, guardrailIdentifier=gid)[:2] == ("ResourceNotFoundException", 404)
    assert bedrock.list_guardrails()["guardrails"] == []


def test_bad_input_gets_coral_messages(bedrock):
    code, status, message = error_of(bedrock.create_guardrail, **{**FULL, "name": "bad name!"})
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        # The model marks guardrail names sensitive: Coral leaves their value out.
        "1 validation error detected: Value at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [0-9a-zA-Z-_]+"
    )
    many_topics = {"topicsConfig": [{"name": f"t{i}", "definition": "d", "type": "DENY"} for i in range(31)]}
    code, _, message = error_of(bedrock.create_guardrail, **{**FULL, "topicPolicyConfig": many_topics})
    assert code == "ValidationException"
    assert "at 'topicPolicyConfig.topicsConfig' failed to satisfy constraint: Member must have length less than or equal to 30" in message
    bad_filter = {"filtersConfig": [{"type": "HATE", "inputStrength": "EXTREME", "outputStrength": "LOW"}]}
    code, _, message = error_of(bedrock.create_guardrail, **{**FULL, "contentPolicyConfig": bad_filter})
    assert "at 'contentPolicyConfig.filtersConfig.1.member.inputStrength' failed to satisfy constraint: Member must satisfy enum value set" in message
    code, _, message = error_of(bedrock.list_guardrails, maxResults=1001)
    assert code == "ValidationException" and "maxResults" in message
    code, status, _ = error_of(bedrock.get_guardrail, guardrailIdentifier="nope")
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert error_of(bedrock.list_guardrails, nextToken="not-a-token")[0] == "ValidationException"
    bedrock.create_guardrail(**FULL)
    code, status, _ = error_of(bedrock.create_guardrail, **FULL)
    assert (code, status) == ("ConflictException", 400)


def test_a_client_request_token_makes_create_idempotent(bedrock):
    first = bedrock.create_guardrail(**FULL, clientRequestToken="token-1")
    again = bedrock.create_guardrail(**FULL, clientRequestToken="token-1")
    assert again["guardrailId"] == first["guardrailId"] and again["createdAt"] == first["createdAt"]
    assert len(bedrock.list_guardrails()["guardrails"]) == 1
    code, status, _ = error_of(bedrock.create_guardrail, **{**FULL, "name": "other"}, clientRequestToken="token-1")
    assert (code, status) == ("ConflictException", 400)
    gid = first["guardrailId"]
    v = bedrock.create_guardrail_version(guardrailIdentifier=gid, clientRequestToken="v-1")
    assert bedrock.create_guardrail_version(guardrailIdentifier=gid, clientRequestToken="v-1")["version"] == v["version"]
    assert [g["version"] for g in bedrock.list_guardrails(guardrailIdentifier=gid)["guardrails"]] == ["DRAFT", "1"]


def test_boto3s_paginator_walks_every_guardrail(bedrock):
    ids = {bedrock.create_guardrail(**{**FULL, "name": f"g{i:02d}"})["guardrailId"] for i in range(7)}
    pages = list(bedrock.get_paginator("list_guardrails").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["guardrails"]) for p in pages] == [3, 3, 1]
    assert {g["id"] for p in pages for g in p["guardrails"]} == ids
    assert "nextToken" in pages[0] and "nextToken" not in pages[-1]


def test_guardrails_live_in_their_region_and_reset_clears_them(server, bedrock):
    gid = bedrock.create_guardrail(**FULL)["guardrailId"]
    west = boto3.client(
        "bedrock", endpoint_url=server.url, region_name="us-west-2",
        aws_access_key_id="AKIDEMULATOR", aws_secret_access_key="emulator-secret",
    )
    assert west.list_guardrails()["guardrails"] == []
    assert error_of(west.get_guardrail, guardrailIdentifier=gid)[0] == "ResourceNotFoundException"
    reset(server.url)
    assert bedrock.list_guardrails()["guardrails"] == []


def test_concurrent_creates_and_versions_lose_nothing(bedrock):
    def create(i):
        return bedrock.create_guardrail(**{**FULL, "name": f"c{i:03d}"})["guardrailId"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(40)))
    assert len(set(ids)) == 40
    listed = list(bedrock.get_paginator("list_guardrails").paginate())
    assert sum(len(p["guardrails"]) for p in listed) == 40

    gid = ids[0]
    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(lambda _: bedrock.create_guardrail_version(guardrailIdentifier=gid)["version"], range(16)))
    assert sorted(int(v) for v in versions) == list(range(1, 17))


def test_a_state_dir_keeps_guardrails_across_a_restart_until_reset(tmp_path):
    first = RunningEmulator("--state-dir", str(tmp_path))
    try:
        client = make_client("bedrock", first.url)
        gid = client.create_guardrail(**FULL)["guardrailId"]
        client.create_guardrail_version(guardrailIdentifier=gid, description="kept")
    finally:
        first.stop()
    assert (tmp_path / "state.redb").is_file()
    second = RunningEmulator("--state-dir", str(tmp_path))
    try:
        client = make_client("bedrock", second.url)
        assert client.get_guardrail(guardrailIdentifier=gid, guardrailVersion="1")["description"] == "kept"
        # Ids carry on: the next guardrail does not reuse the first one's.
        assert client.create_guardrail(**{**FULL, "name": "second"})["guardrailId"] != gid
        reset(second.url)
    finally:
        second.stop()
    third = RunningEmulator("--state-dir", str(tmp_path))
    try:
        assert make_client("bedrock", third.url).list_guardrails()["guardrails"] == []
    finally:
        third.stop()


def test_a_state_dir_in_use_by_another_emulator_stops_startup(tmp_path):
    first = RunningEmulator("--state-dir", str(tmp_path))
    try:
        with pytest.raises(RuntimeError) as e:
            RunningEmulator("--state-dir", str(tmp_path), capture_stderr=True)
        assert "--state-dir" in str(e.value)
    finally:
        first.stop()
