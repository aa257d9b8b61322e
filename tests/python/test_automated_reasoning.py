"""Automated reasoning policies through boto3: create (DRAFT), get, update, versions guarded
by the definition hash, export, list (drafts, and one policy's versions), delete with force;
test cases guarded by their updatedAt, and test workflows that check each case's claims against
the policy's rules (VALID, INVALID, SATISFIABLE, IMPOSSIBLE, NO_TRANSLATION; PASSED only when
expected)."""
import pytest

from conftest import make_client
from emulator_admin import reset

DEFINITION = {"version": "1.0", "types": [], "variables": [
    {"name": "isFullTime", "type": "BOOL", "description": "Works full time"}], "rules": [
    {"id": "A1B2C3D4E5F6", "expression": "(=> isFullTime true)"}]}


@pytest.fixture
def bedrock(server):
    reset(server.url)
    return make_client("bedrock", server.url)


def test_a_policy_is_drafted_versioned_exported_and_deleted(bedrock):
    created = bedrock.create_automated_reasoning_policy(name="hr policy", description="leave rules", policyDefinition=DEFINITION)
    arn = created["policyArn"]
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:automated-reasoning-policy/")
    assert created["version"] == "DRAFT" and len(created["definitionHash"]) == 128
    got = bedrock.get_automated_reasoning_policy(policyArn=arn)
    assert (got["name"], got["policyId"], got["definitionHash"]) == ("hr policy", arn.rsplit("/", 1)[1], created["definitionHash"])
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.create_automated_reasoning_policy_version(policyArn=arn, lastUpdatedDefinitionHash="0" * 128)
    v1 = bedrock.create_automated_reasoning_policy_version(policyArn=arn, lastUpdatedDefinitionHash=created["definitionHash"])
    assert (v1["version"], v1["policyArn"]) == ("1", f"{arn}:1")
    changed = dict(DEFINITION, variables=DEFINITION["variables"] + [{"name": "tenure", "type": "INT", "description": "Years"}])
    updated = bedrock.update_automated_reasoning_policy(policyArn=arn, policyDefinition=changed)
    assert updated["definitionHash"] != created["definitionHash"]
    assert bedrock.export_automated_reasoning_policy_version(policyArn=f"{arn}:1")["policyDefinition"] == DEFINITION
    assert bedrock.export_automated_reasoning_policy_version(policyArn=arn)["policyDefinition"]["variables"][1]["name"] == "tenure"
    assert [p["policyArn"] for p in bedrock.list_automated_reasoning_policies()["automatedReasoningPolicySummaries"]] == [arn]
    versions = bedrock.list_automated_reasoning_policies(policyArn=arn)["automatedReasoningPolicySummaries"]
    assert [v["version"] for v in versions] == ["1"]
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.delete_automated_reasoning_policy(policyArn=arn)
    bedrock.delete_automated_reasoning_policy(policyArn=arn, force=True)
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_automated_reasoning_policy(policyArn=arn)


def test_test_cases_are_guarded_by_their_update_time(bedrock):
    arn = bedrock.create_automated_reasoning_policy(name="tests", policyDefinition=DEFINITION)["policyArn"]
    case_id = bedrock.create_automated_reasoning_policy_test_case(
        policyArn=arn, guardContent="Full-time staff get 20 days.", queryContent="How much leave?",
        expectedAggregatedFindingsResult="VALID")["testCaseId"]
    assert len(case_id) == 12 and case_id.isupper() or case_id.isdigit()
    case = bedrock.get_automated_reasoning_policy_test_case(policyArn=arn, testCaseId=case_id)["testCase"]
    assert case["expectedAggregatedFindingsResult"] == "VALID"
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.update_automated_reasoning_policy_test_case(policyArn=arn, testCaseId=case_id, guardContent="x",
                                                            lastUpdatedAt="2020-01-01T00:00:00Z", expectedAggregatedFindingsResult="INVALID")
    bedrock.update_automated_reasoning_policy_test_case(policyArn=arn, testCaseId=case_id, guardContent="Part-time staff get 10 days.",
                                                        lastUpdatedAt=case["updatedAt"], expectedAggregatedFindingsResult="INVALID")
    (listed,) = bedrock.list_automated_reasoning_policy_test_cases(policyArn=arn)["testCases"]
    assert listed["guardContent"] == "Part-time staff get 10 days." and listed["expectedAggregatedFindingsResult"] == "INVALID"
    bedrock.delete_automated_reasoning_policy_test_case(policyArn=arn, testCaseId=case_id, lastUpdatedAt=listed["updatedAt"])
    assert bedrock.list_automated_reasoning_policy_test_cases(policyArn=arn)["testCases"] == []
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_automated_reasoning_policy_test_case(policyArn=arn, testCaseId=case_id)


def wait_completed(bedrock, arn, workflow_id):
    import time
    for _ in range(200):
        got = bedrock.get_automated_reasoning_policy_build_workflow(policyArn=arn, buildWorkflowId=workflow_id)
        if got["status"] != "SCHEDULED":
            return got
        time.sleep(0.02)
    raise AssertionError("still SCHEDULED")


def test_a_build_workflow_yields_assets_annotations_scenarios_and_test_results(server, bedrock):
    import boto3
    arn = bedrock.create_automated_reasoning_policy(name="built", policyDefinition=DEFINITION)["policyArn"]
    started = bedrock.start_automated_reasoning_policy_build_workflow(
        policyArn=arn, buildWorkflowType="IMPORT_POLICY", sourceContent={"policyDefinition": DEFINITION})
    workflow_id = started["buildWorkflowId"]
    assert len(workflow_id) == 36
    done = wait_completed(bedrock, arn, workflow_id)
    assert (done["status"], done["buildWorkflowType"]) == ("COMPLETED", "IMPORT_POLICY")
    (summary,) = bedrock.list_automated_reasoning_policy_build_workflows(policyArn=arn)["automatedReasoningPolicyBuildWorkflowSummaries"]
    assert summary["buildWorkflowId"] == workflow_id
    definition = bedrock.get_automated_reasoning_policy_build_workflow_result_assets(
        policyArn=arn, buildWorkflowId=workflow_id, assetType="POLICY_DEFINITION")["buildWorkflowAssets"]["policyDefinition"]
    assert definition == DEFINITION
    report = bedrock.get_automated_reasoning_policy_build_workflow_result_assets(
        policyArn=arn, buildWorkflowId=workflow_id, assetType="QUALITY_REPORT")["buildWorkflowAssets"]["qualityReport"]
    assert (report["variableCount"], report["ruleCount"]) == (1, 1)
    scenario = bedrock.get_automated_reasoning_policy_next_scenario(policyArn=arn, buildWorkflowId=workflow_id)["scenario"]
    assert scenario["ruleIds"] == ["A1B2C3D4E5F6"]

    notes = bedrock.get_automated_reasoning_policy_annotations(policyArn=arn, buildWorkflowId=workflow_id)
    assert notes["annotations"] == []
    added = [{"addVariable": {"name": "tenure", "type": "INT", "description": "Years employed"}}]
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.update_automated_reasoning_policy_annotations(policyArn=arn, buildWorkflowId=workflow_id, annotations=added,
                                                              lastUpdatedAnnotationSetHash="0" * 128)
    updated = bedrock.update_automated_reasoning_policy_annotations(
        policyArn=arn, buildWorkflowId=workflow_id, annotations=added, lastUpdatedAnnotationSetHash=notes["annotationSetHash"])
    assert updated["annotationSetHash"] != notes["annotationSetHash"]
    assert bedrock.get_automated_reasoning_policy_annotations(policyArn=arn, buildWorkflowId=workflow_id)["annotations"] == added

    case_id = bedrock.create_automated_reasoning_policy_test_case(
        policyArn=arn, guardContent="The employee isFullTime is true.", expectedAggregatedFindingsResult="VALID")["testCaseId"]
    bedrock.start_automated_reasoning_policy_test_workflow(policyArn=arn, buildWorkflowId=workflow_id)
    result = bedrock.get_automated_reasoning_policy_test_result(policyArn=arn, buildWorkflowId=workflow_id, testCaseId=case_id)["testResult"]
    assert (result["testRunStatus"], result["testRunResult"], result["aggregatedTestFindingsResult"]) == ("COMPLETED", "PASSED", "VALID")
    (listed,) = bedrock.list_automated_reasoning_policy_test_results(policyArn=arn, buildWorkflowId=workflow_id)["testResults"]
    assert listed["testCase"]["testCaseId"] == case_id

    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.cancel_automated_reasoning_policy_build_workflow(policyArn=arn, buildWorkflowId=workflow_id)
    bedrock.delete_automated_reasoning_policy_build_workflow(policyArn=arn, buildWorkflowId=workflow_id, lastUpdatedAt=updated["updatedAt"])
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.get_automated_reasoning_policy_build_workflow(policyArn=arn, buildWorkflowId=workflow_id)


def test_a_running_build_is_cancelled(bedrock):
    arn = bedrock.create_automated_reasoning_policy(name="cancelled", policyDefinition=DEFINITION)["policyArn"]
    workflow_id = bedrock.start_automated_reasoning_policy_build_workflow(
        policyArn=arn, buildWorkflowType="IMPORT_POLICY", sourceContent={"policyDefinition": DEFINITION})["buildWorkflowId"]
    bedrock.cancel_automated_reasoning_policy_build_workflow(policyArn=arn, buildWorkflowId=workflow_id)
    assert bedrock.get_automated_reasoning_policy_build_workflow(policyArn=arn, buildWorkflowId=workflow_id)["status"] == "CANCELLED"
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.get_automated_reasoning_policy_build_workflow_result_assets(policyArn=arn, buildWorkflowId=workflow_id, assetType="BUILD_LOG")


LEAVE = {"version": "1.0", "types": [], "variables": [
    {"name": "tenure", "type": "INT", "description": "Years of service"},
    {"name": "is_full_time", "type": "BOOL", "description": "Works full time"},
    {"name": "leave_days", "type": "INT", "description": "Days of paid leave"}], "rules": [
    {"id": "LEAVE1AAAAAA", "expression": "(=> (and is_full_time (>= tenure 2)) (= leave_days 25))"},
    {"id": "LEAVE2AAAAAA", "expression": "(=> (not is_full_time) (<= leave_days 10))"}]}


def test_a_test_workflow_checks_each_claim_against_the_rules(bedrock):
    import time
    arn = bedrock.create_automated_reasoning_policy(name="leave", policyDefinition=LEAVE)["policyArn"]
    workflow_id = bedrock.start_automated_reasoning_policy_build_workflow(
        policyArn=arn, buildWorkflowType="IMPORT_POLICY", sourceContent={"policyDefinition": LEAVE})["buildWorkflowId"]
    for _ in range(100):
        if bedrock.get_automated_reasoning_policy_build_workflow(policyArn=arn, buildWorkflowId=workflow_id)["status"] == "COMPLETED":
            break
        time.sleep(0.02)
    cases = {
        "valid": ("Tenure is 3 years and is full time is true.", "So leave days is 25.", "VALID"),
        "invalid": ("Tenure: 5, is_full_time = yes", "leave_days is 20", "INVALID"),
        "satisfiable": ("tenure is 1", "leave_days is 12", "SATISFIABLE"),
        "untranslated": ("How much leave do I get?", "Quite a lot.", "NO_TRANSLATION"),
        "impossible": ("Tenure is 4, is_full_time is true and leave_days is 5", "", "IMPOSSIBLE"),
        # Expects VALID, but the claim breaks LEAVE2: the case fails.
        "wrong": ("is_full_time is false", "leave_days is 15", "VALID"),
    }
    ids = {}
    for name, (query, claim, expected) in cases.items():
        ids[name] = bedrock.create_automated_reasoning_policy_test_case(
            policyArn=arn, queryContent=query, guardContent=claim, expectedAggregatedFindingsResult=expected)["testCaseId"]
    bedrock.start_automated_reasoning_policy_test_workflow(policyArn=arn, buildWorkflowId=workflow_id)
    results = {}
    for name, case_id in ids.items():
        r = bedrock.get_automated_reasoning_policy_test_result(policyArn=arn, buildWorkflowId=workflow_id, testCaseId=case_id)["testResult"]
        results[name] = (r["aggregatedTestFindingsResult"], r["testRunResult"])
    assert results == {
        "valid": ("VALID", "PASSED"), "invalid": ("INVALID", "PASSED"), "satisfiable": ("SATISFIABLE", "PASSED"),
        "untranslated": ("NO_TRANSLATION", "PASSED"), "impossible": ("IMPOSSIBLE", "PASSED"), "wrong": ("INVALID", "FAILED"),
    }
    wrong = bedrock.get_automated_reasoning_policy_test_result(policyArn=arn, buildWorkflowId=workflow_id, testCaseId=ids["wrong"])["testResult"]
    (finding,) = wrong["testFindings"]
    assert [r["id"] for r in finding["invalid"]["contradictingRules"]] == ["LEAVE2AAAAAA"]
    translation = finding["invalid"]["translation"]
    assert [p["logic"] for p in translation["premises"]] == ["(= is_full_time false)"]
    assert [c["logic"] for c in translation["claims"]] == ["(= leave_days 15)"]
    valid = bedrock.get_automated_reasoning_policy_test_result(policyArn=arn, buildWorkflowId=workflow_id, testCaseId=ids["valid"])["testResult"]
    assert sorted(r["id"] for r in valid["testFindings"][0]["valid"]["supportingRules"]) == ["LEAVE1AAAAAA", "LEAVE2AAAAAA"]
