"""Control-plane catalog through boto3: foundation models and system-defined inference
profiles (SPEC §8.1, §8.2), plus the emulator's health endpoint."""
import json
import re
import urllib.request

import boto3
import pytest
from botocore.config import Config

from conftest import ROOT

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_PROFILE = f"us.{HAIKU}"
MODEL_ARN = re.compile(r"^arn:aws:bedrock:us-east-1::foundation-model/(?P<id>.+)$")
PROFILE_ARN = re.compile(r"^arn:aws:bedrock:us-east-1:\d{12}:inference-profile/(?P<id>.+)$")
CATALOG = json.loads((ROOT / "emulator" / "data" / "catalog.json").read_text())


def not_found(client, call, **kwargs):
    with pytest.raises(client.exceptions.ResourceNotFoundException) as e:
        call(**kwargs)
    response = e.value.response
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"].split(":", 1)[0] == "ResourceNotFoundException"
    return response["Error"]["Message"]


def invalid(client, call, **kwargs):
    with pytest.raises(client.exceptions.ValidationException) as e:
        call(**kwargs)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return e.value.response["Error"]["Message"]


@pytest.fixture(scope="module")
def models(control):
    return control.list_foundation_models()["modelSummaries"]


def all_profiles(control, **kwargs):
    return [p for page in control.get_paginator("list_inference_profiles").paginate(**kwargs) for p in page["inferenceProfileSummaries"]]


# --- ListFoundationModels ---------------------------------------------------------------


def test_list_foundation_models_returns_the_whole_catalog(models):
    assert sorted(m["modelId"] for m in models) == sorted(m["modelId"] for m in CATALOG["models"])


def test_every_foundation_model_arn_is_well_formed(models):
    for m in models:
        match = MODEL_ARN.match(m["modelArn"])
        assert match and match["id"] == m["modelId"], m["modelArn"]


def test_every_foundation_model_has_provider_and_model_names(models):
    for m in models:
        assert m["providerName"] and m["modelName"], m["modelId"]


def test_every_foundation_model_lists_its_modalities(models):
    for m in models:
        assert m["inputModalities"] and m["outputModalities"], m["modelId"]


def test_every_foundation_model_has_a_lifecycle_status(models):
    for m in models:
        assert m["modelLifecycle"]["status"] in ("ACTIVE", "LEGACY"), m["modelId"]


def test_the_text_model_is_listed_with_its_capabilities(models):
    (haiku,) = [m for m in models if m["modelId"] == HAIKU]
    assert haiku["providerName"] == "Anthropic"
    assert "TEXT" in haiku["outputModalities"]
    assert "IMAGE" in haiku["inputModalities"]
    assert "ON_DEMAND" in haiku["inferenceTypesSupported"]
    assert haiku["responseStreamingSupported"] is True


def test_filtering_by_provider_keeps_only_that_provider(control):
    summaries = control.list_foundation_models(byProvider="Anthropic")["modelSummaries"]
    assert summaries
    assert {m["providerName"] for m in summaries} == {"Anthropic"}


def test_filtering_by_provider_ignores_case(control):
    upper = control.list_foundation_models(byProvider="Anthropic")["modelSummaries"]
    lower = control.list_foundation_models(byProvider="anthropic")["modelSummaries"]
    assert [m["modelId"] for m in lower] == [m["modelId"] for m in upper]


def test_filtering_by_output_modality_keeps_only_matching_models(control):
    summaries = control.list_foundation_models(byOutputModality="EMBEDDING")["modelSummaries"]
    assert "amazon.titan-embed-text-v2:0" in [m["modelId"] for m in summaries]
    for m in summaries:
        assert "EMBEDDING" in m["outputModalities"], m["modelId"]


def test_filtering_by_inference_type_keeps_only_matching_models(control):
    summaries = control.list_foundation_models(byInferenceType="ON_DEMAND")["modelSummaries"]
    ids = [m["modelId"] for m in summaries]
    assert HAIKU in ids
    assert "anthropic.claude-sonnet-4-20250514-v1:0" not in ids
    for m in summaries:
        assert "ON_DEMAND" in m["inferenceTypesSupported"], m["modelId"]


def test_filtering_by_customization_type_keeps_only_matching_models(control):
    summaries = control.list_foundation_models(byCustomizationType="FINE_TUNING")["modelSummaries"]
    ids = [m["modelId"] for m in summaries]
    assert "amazon.titan-text-express-v1" in ids
    assert HAIKU not in ids
    for m in summaries:
        assert "FINE_TUNING" in m["customizationsSupported"], m["modelId"]


def test_filters_combine(control):
    summaries = control.list_foundation_models(byProvider="Amazon", byOutputModality="EMBEDDING")["modelSummaries"]
    assert summaries
    for m in summaries:
        assert m["providerName"] == "Amazon" and "EMBEDDING" in m["outputModalities"]


def test_an_invalid_filter_value_is_a_validation_error(control):
    message = invalid(control, control.list_foundation_models, byOutputModality="AUDIO")
    assert "byOutputModality" in message


# --- GetFoundationModel -----------------------------------------------------------------


def test_get_foundation_model_by_id(control):
    details = control.get_foundation_model(modelIdentifier=HAIKU)["modelDetails"]
    assert details["modelId"] == HAIKU
    assert details["modelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"


def test_get_foundation_model_by_arn(control):
    details = control.get_foundation_model(modelIdentifier=f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}")["modelDetails"]
    assert details["modelId"] == HAIKU


def test_get_foundation_model_matches_the_listed_summary(control, models):
    (summary,) = [m for m in models if m["modelId"] == HAIKU]
    assert control.get_foundation_model(modelIdentifier=HAIKU)["modelDetails"] == summary


def test_get_foundation_model_of_an_unknown_id_is_not_found(control):
    not_found(control, control.get_foundation_model, modelIdentifier="anthropic.claude-nonexistent-v9:0")


# --- ListInferenceProfiles --------------------------------------------------------------


def test_list_inference_profiles_pages_by_max_results_without_duplicates(control):
    seen, pages, token = [], 0, None
    while True:
        kwargs = {"maxResults": 5, **({"nextToken": token} if token else {})}
        page = control.list_inference_profiles(**kwargs)
        pages += 1
        assert len(page["inferenceProfileSummaries"]) <= 5
        seen += [p["inferenceProfileId"] for p in page["inferenceProfileSummaries"]]
        token = page.get("nextToken")
        if not token or pages > 200:
            break
    assert pages > 1
    assert len(seen) == len(set(seen))
    assert HAIKU_PROFILE in seen


def test_paging_returns_the_same_profiles_as_one_big_page(control):
    unpaged = [p["inferenceProfileId"] for p in control.list_inference_profiles(maxResults=1000)["inferenceProfileSummaries"]]
    paged = [p["inferenceProfileId"] for p in all_profiles(control, PaginationConfig={"PageSize": 5})]
    assert paged == unpaged


def test_the_boto3_paginator_walks_every_page(control):
    pages = list(control.get_paginator("list_inference_profiles").paginate(PaginationConfig={"PageSize": 5}))
    assert len(pages) > 1
    assert all(len(p["inferenceProfileSummaries"]) <= 5 for p in pages)
    ids = [s["inferenceProfileId"] for p in pages for s in p["inferenceProfileSummaries"]]
    assert len(ids) == len(set(ids))


def test_listed_profiles_are_system_defined_and_active(control):
    for p in all_profiles(control, typeEquals="SYSTEM_DEFINED"):
        assert p["type"] == "SYSTEM_DEFINED" and p["status"] == "ACTIVE", p["inferenceProfileId"]


def test_listed_profiles_route_to_foundation_models(control):
    for p in all_profiles(control):
        assert 1 <= len(p["models"]) <= 5, p["inferenceProfileId"]
        for m in p["models"]:
            assert m["modelArn"].startswith("arn:aws:bedrock:") and "::foundation-model/" in m["modelArn"]


def test_there_are_no_application_profiles(control):
    assert control.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []


# --- GetInferenceProfile ----------------------------------------------------------------


def test_get_inference_profile_by_id(control):
    p = control.get_inference_profile(inferenceProfileIdentifier=HAIKU_PROFILE)
    assert p["inferenceProfileId"] == HAIKU_PROFILE
    match = PROFILE_ARN.match(p["inferenceProfileArn"])
    assert match and match["id"] == HAIKU_PROFILE, p["inferenceProfileArn"]
    assert p["type"] == "SYSTEM_DEFINED" and p["status"] == "ACTIVE"
    assert p["inferenceProfileName"]


def test_get_inference_profile_by_arn(control):
    arn = control.get_inference_profile(inferenceProfileIdentifier=HAIKU_PROFILE)["inferenceProfileArn"]
    assert control.get_inference_profile(inferenceProfileIdentifier=arn)["inferenceProfileId"] == HAIKU_PROFILE


def test_an_inference_profile_routes_to_its_model_in_us_regions(control):
    p = control.get_inference_profile(inferenceProfileIdentifier=HAIKU_PROFILE)
    arns = [m["modelArn"] for m in p["models"]]
    assert f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}" in arns
    assert all(a.endswith(f"::foundation-model/{HAIKU}") and ":us-" in a for a in arns), arns


def test_get_inference_profile_of_an_unknown_id_is_not_found(control):
    not_found(control, control.get_inference_profile, inferenceProfileIdentifier="us.no-such-model-v1:0")


def test_a_model_without_a_profile_in_that_geography_is_not_found(control):
    # Titan Text Express has no cross-region profiles at all.
    not_found(control, control.get_inference_profile, inferenceProfileIdentifier="us.amazon.titan-text-express-v1")


# --- regions ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eu_west_control(endpoint_url):
    """A control-plane client signing for eu-west-1 (the emulator reads the SigV4 scope)."""
    return boto3.client(
        "bedrock",
        endpoint_url=endpoint_url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDEMULATOR",
        aws_secret_access_key="emulator-secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def test_profile_arns_follow_the_client_region(eu_west_control):
    p = eu_west_control.get_inference_profile(inferenceProfileIdentifier=f"eu.{HAIKU}")
    assert ":eu-west-1:" in p["inferenceProfileArn"]
    assert p["inferenceProfileArn"].startswith("arn:aws:bedrock:eu-west-1:")


def test_foundation_model_arns_follow_the_client_region(eu_west_control):
    details = eu_west_control.get_foundation_model(modelIdentifier=HAIKU)["modelDetails"]
    assert details["modelArn"] == f"arn:aws:bedrock:eu-west-1::foundation-model/{HAIKU}"


# --- health -----------------------------------------------------------------------------


def test_the_health_endpoint_reports_status_version_and_uptime(endpoint_url):
    with urllib.request.urlopen(f"{endpoint_url}/_emulator/health", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        health = json.loads(response.read())
    assert health["status"] == "ok"
    assert isinstance(health["version"], str) and health["version"]
    assert isinstance(health["uptimeSeconds"], (int, float)) and health["uptimeSeconds"] >= 0
