//! Automated reasoning policies (Create/Get/List/Update/Delete, CreateVersion, Export) and
//! their test cases (Create/Get/List/Update/Delete). A policy's working copy is `DRAFT`;
//! each version freezes the definition (`…/ID:N`). Changes are guarded as on AWS: a version
//! names the definition hash it was made from, a test case's update or delete names its
//! `updatedAt`; a stale one is a `ConflictException`.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};

use super::catalog::parse_arn;
use super::state::{public, Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// Policies, by id.
pub const KIND: &str = "automated-reasoning-policy";

fn not_found(what: &str, identifier: &str) -> BedrockError {
    BedrockError::not_found(format!("The {what} {identifier} could not be found."))
}

fn conflict(message: String) -> BedrockError {
    BedrockError::new(ErrorCode::ConflictException, message)
}

/// (policy id, version) of a policy ARN in `scope` (`None` version: the draft).
pub fn parse(scope: &Scope, arn: &str) -> Option<(String, Option<String>)> {
    let a = parse_arn(arn)?;
    if a.resource_type != KIND || a.account != scope.account || a.region != scope.region {
        return None;
    }
    match a.resource_id.split_once(':') {
        Some((id, v)) => Some((id.to_string(), Some(v.to_string()))),
        None => Some((a.resource_id.to_string(), None)),
    }
}

/// The SHA-512 of a definition's JSON, as the 128 hex digits AWS reports.
pub fn hash(definition: &Value) -> String {
    let digest = Sha512::digest(definition.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn empty_definition() -> Value {
    json!({"version": "1.0", "types": [], "rules": [], "variables": []})
}

/// CreateAutomatedReasoningPolicy (input validated).
pub fn create(space: &mut Space, scope: &Scope, input: &Map<String, Value>, now: &str) -> Result<Value, BedrockError> {
    let name = input["name"].as_str().unwrap_or_default();
    if space.all(KIND).any(|(_, d)| d["name"] == name) {
        return Err(conflict(format!("An automated reasoning policy named {name} already exists.")));
    }
    let id = space.mint_id(KIND, 12);
    let arn = scope.arn(&format!("{KIND}/{id}"));
    let definition = input.get("policyDefinition").cloned().unwrap_or_else(empty_definition);
    let mut doc = json!({
        "policyArn": arn,
        "policyId": id,
        "name": name,
        "definition": definition,
        "definitionHash": hash(&definition),
        "createdAt": now,
        "updatedAt": now,
        "versions": {},
        "testCases": {},
        "workflows": {},
        "testResults": {},
        "_tags": input.get("tags").cloned().unwrap_or_else(|| json!([])),
    });
    if let Some(d) = input.get("description") {
        doc["description"] = d.clone();
    }
    space.put(KIND, &id, doc.clone());
    let mut out = view(&doc, None);
    if let Some(o) = out.as_object_mut() {
        o.remove("policyId");
    }
    Ok(out)
}

/// A policy (its draft or a version) as Get answers it.
fn view(doc: &Value, version: Option<&str>) -> Value {
    let source = match version {
        Some(v) => &doc["versions"][v],
        None => doc,
    };
    let mut out = json!({
        "policyArn": source["policyArn"],
        "name": source["name"],
        "version": version.unwrap_or("DRAFT"),
        "policyId": doc["policyId"],
        "definitionHash": source["definitionHash"],
        "createdAt": source["createdAt"],
        "updatedAt": source.get("updatedAt").unwrap_or(&source["createdAt"]),
    });
    if let Some(d) = source.get("description") {
        out["description"] = d.clone();
    }
    out
}

fn find<'s>(space: &'s Space, scope: &Scope, arn: &str) -> Result<(&'s Value, Option<String>), BedrockError> {
    let (id, version) = parse(scope, arn).ok_or_else(|| not_found("automated reasoning policy", arn))?;
    let doc = space.get(KIND, &id).ok_or_else(|| not_found("automated reasoning policy", arn))?;
    if let Some(v) = &version {
        if doc["versions"].get(v).is_none() {
            return Err(not_found("automated reasoning policy", arn));
        }
    }
    Ok((doc, version))
}

/// GetAutomatedReasoningPolicy.
pub fn get(space: &Space, scope: &Scope, arn: &str) -> Result<Value, BedrockError> {
    let (doc, version) = find(space, scope, arn)?;
    Ok(view(doc, version.as_deref()))
}

/// ExportAutomatedReasoningPolicyVersion: the definition itself is the response body (the
/// output's `payload` member).
pub fn export(space: &Space, scope: &Scope, arn: &str) -> Result<Value, BedrockError> {
    let (doc, version) = find(space, scope, arn)?;
    let definition = match &version {
        Some(v) => doc["versions"][v]["definition"].clone(),
        None => doc["definition"].clone(),
    };
    Ok(definition)
}

/// ListAutomatedReasoningPolicies: every draft, or one policy's versions.
pub fn list(space: &Space, scope: &Scope, of: Option<&str>) -> Result<Vec<(String, Value)>, BedrockError> {
    let summary = |v: Value| {
        let mut s = v;
        if let Some(o) = s.as_object_mut() {
            o.remove("definitionHash");
        }
        s
    };
    if let Some(arn) = of {
        let (doc, _) = find(space, scope, arn)?;
        let versions = doc["versions"].as_object().cloned().unwrap_or_default();
        let mut out: Vec<(String, Value)> = versions
            .keys()
            .map(|v| (format!("{:012}", v.parse::<u64>().unwrap_or(0)), summary(view(doc, Some(v)))))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        return Ok(out);
    }
    let mut out: Vec<(String, Value)> = space
        .all(KIND)
        .map(|(id, d)| (format!("{}/{id}", d["createdAt"].as_str().unwrap_or_default()), summary(view(d, None))))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn draft_mut<'s>(space: &'s mut Space, scope: &Scope, arn: &str) -> Result<&'s mut Value, BedrockError> {
    let (id, version) = parse(scope, arn).ok_or_else(|| not_found("automated reasoning policy", arn))?;
    if version.is_some() {
        return Err(BedrockError::validation(format!("{arn} names a version, which cannot change: name the policy.")));
    }
    space.get_mut(KIND, &id).ok_or_else(|| not_found("automated reasoning policy", arn))
}

/// UpdateAutomatedReasoningPolicy (the draft).
pub fn update(
    space: &mut Space,
    scope: &Scope,
    arn: &str,
    input: &Map<String, Value>,
    now: &str,
) -> Result<Value, BedrockError> {
    let doc = draft_mut(space, scope, arn)?;
    doc["definition"] = input["policyDefinition"].clone();
    doc["definitionHash"] = json!(hash(&input["policyDefinition"]));
    for key in ["name", "description"] {
        if let Some(v) = input.get(key) {
            doc[key] = v.clone();
        }
    }
    doc["updatedAt"] = json!(now);
    Ok(
        json!({"policyArn": doc["policyArn"], "name": doc["name"], "definitionHash": doc["definitionHash"], "updatedAt": now}),
    )
}

/// CreateAutomatedReasoningPolicyVersion: the draft frozen as the next version, if it is
/// still the definition the caller last saw.
pub fn create_version(
    space: &mut Space,
    scope: &Scope,
    arn: &str,
    seen_hash: &str,
    now: &str,
) -> Result<Value, BedrockError> {
    let doc = draft_mut(space, scope, arn)?;
    if doc["definitionHash"] != seen_hash {
        return Err(conflict("The policy definition changed since lastUpdatedDefinitionHash: read it again.".into()));
    }
    let next = doc["versions"].as_object().map_or(1, |v| v.len() + 1).to_string();
    let version_arn = format!("{}:{next}", doc["policyArn"].as_str().unwrap_or_default());
    let mut frozen = json!({
        "policyArn": version_arn,
        "name": doc["name"],
        "definition": doc["definition"],
        "definitionHash": doc["definitionHash"],
        "createdAt": now,
    });
    if let Some(d) = doc.get("description") {
        frozen["description"] = d.clone();
    }
    doc["versions"][&next] = frozen.clone();
    let mut out = json!({"policyArn": version_arn, "version": next, "name": frozen["name"],
        "definitionHash": frozen["definitionHash"], "createdAt": now});
    if let Some(d) = frozen.get("description") {
        out["description"] = d.clone();
    }
    Ok(out)
}

/// DeleteAutomatedReasoningPolicy (a policy with versions needs `force`).
pub fn delete(space: &mut Space, scope: &Scope, arn: &str, force: bool) -> Result<(), BedrockError> {
    let (id, version) = parse(scope, arn).ok_or_else(|| not_found("automated reasoning policy", arn))?;
    let doc = space.get_mut(KIND, &id).ok_or_else(|| not_found("automated reasoning policy", arn))?;
    if let Some(v) = version {
        let versions = doc["versions"].as_object_mut().ok_or_else(|| not_found("automated reasoning policy", arn))?;
        return versions.remove(&v).map(|_| ()).ok_or_else(|| not_found("automated reasoning policy", arn));
    }
    if !force && doc["versions"].as_object().is_some_and(|v| !v.is_empty()) {
        return Err(conflict(format!("The policy {arn} has versions: delete them first, or pass force=true.")));
    }
    space.remove(KIND, &id);
    Ok(())
}

fn test_case_id(space: &mut Space) -> String {
    space.mint_id("automated-reasoning-test-case", 12).to_ascii_uppercase()
}

/// CreateAutomatedReasoningPolicyTestCase.
pub fn create_test(
    space: &mut Space,
    scope: &Scope,
    arn: &str,
    input: &Map<String, Value>,
    now: &str,
) -> Result<Value, BedrockError> {
    let id = test_case_id(space);
    let doc = draft_mut(space, scope, arn)?;
    let mut case = json!({"testCaseId": id, "guardContent": input["guardContent"], "createdAt": now, "updatedAt": now,
        "expectedAggregatedFindingsResult": input["expectedAggregatedFindingsResult"]});
    for key in ["queryContent", "confidenceThreshold"] {
        if let Some(v) = input.get(key) {
            case[key] = v.clone();
        }
    }
    doc["testCases"][&id] = case;
    Ok(json!({"policyArn": doc["policyArn"], "testCaseId": id}))
}

fn case_mut<'s>(doc: &'s mut Value, arn: &str, id: &str) -> Result<&'s mut Value, BedrockError> {
    doc["testCases"]
        .get_mut(id)
        .filter(|c| c.is_object())
        .ok_or_else(|| not_found("test case", &format!("{id} of {arn}")))
}

/// The `updatedAt` a caller names must be the stored one (RFC 3339 times compared as instants).
fn check_fresh(case: &Value, seen: &str) -> Result<(), BedrockError> {
    let parse = crate::backend::async_invoke::parse_time;
    match (case["updatedAt"].as_str().and_then(parse), parse(seen)) {
        (Some(a), Some(b)) if (a - b).abs() < 0.001 => Ok(()),
        _ => Err(conflict("The test case changed since lastUpdatedAt: read it again.".into())),
    }
}

/// UpdateAutomatedReasoningPolicyTestCase.
pub fn update_test(
    space: &mut Space,
    scope: &Scope,
    arn: &str,
    id: &str,
    input: &Map<String, Value>,
    now: &str,
) -> Result<Value, BedrockError> {
    let doc = draft_mut(space, scope, arn)?;
    let policy_arn = doc["policyArn"].clone();
    let case = case_mut(doc, arn, id)?;
    check_fresh(case, input["lastUpdatedAt"].as_str().unwrap_or_default())?;
    for key in ["guardContent", "queryContent", "expectedAggregatedFindingsResult", "confidenceThreshold"] {
        if let Some(v) = input.get(key) {
            case[key] = v.clone();
        }
    }
    case["updatedAt"] = json!(now);
    Ok(json!({"policyArn": policy_arn, "testCaseId": id}))
}

/// DeleteAutomatedReasoningPolicyTestCase.
pub fn delete_test(space: &mut Space, scope: &Scope, arn: &str, id: &str, seen: &str) -> Result<(), BedrockError> {
    let doc = draft_mut(space, scope, arn)?;
    check_fresh(case_mut(doc, arn, id)?, seen)?;
    if let Some(cases) = doc["testCases"].as_object_mut() {
        cases.remove(id);
    }
    Ok(())
}

/// GetAutomatedReasoningPolicyTestCase.
pub fn get_test(space: &Space, scope: &Scope, arn: &str, id: &str) -> Result<Value, BedrockError> {
    let (doc, _) = find(space, scope, arn)?;
    let case = doc["testCases"].get(id).filter(|c| c.is_object()).ok_or_else(|| not_found("test case", id))?;
    Ok(json!({"policyArn": doc["policyArn"], "testCase": case}))
}

/// ListAutomatedReasoningPolicyTestCases (by id).
pub fn list_tests(space: &Space, scope: &Scope, arn: &str) -> Result<Vec<(String, Value)>, BedrockError> {
    let (doc, _) = find(space, scope, arn)?;
    Ok(doc["testCases"]
        .as_object()
        .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

/// A build workflow as read at `clock_us`: `SCHEDULED` until its lifecycle step is due, then
/// `COMPLETED` (unless cancelled).
fn workflow_view(w: &Value, clock_us: u64) -> Value {
    let mut out = public(w);
    if w["status"] == "SCHEDULED" && w["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us) {
        out["status"] = json!("COMPLETED");
    }
    out
}

fn workflow<'s>(doc: &'s Value, arn: &str, id: &str) -> Result<&'s Value, BedrockError> {
    doc["workflows"]
        .get(id)
        .filter(|w| w.is_object())
        .ok_or_else(|| not_found("build workflow", &format!("{id} of {arn}")))
}

/// What starting a build workflow needs besides the input.
pub struct Start<'a> {
    /// RFC 3339 time of the request.
    pub now: &'a str,
    /// When it completes, in microseconds on the injected clock.
    pub due_us: u64,
    /// Its id (a UUID).
    pub id: String,
}

/// StartAutomatedReasoningPolicyBuildWorkflow: the workflow, and for an import the definition
/// it will offer as its POLICY_DEFINITION asset.
pub fn start_build(
    space: &mut Space,
    scope: &Scope,
    arn: &str,
    kind: &str,
    source: &Value,
    s: &Start<'_>,
) -> Result<Value, BedrockError> {
    let doc = draft_mut(space, scope, arn)?;
    let definition = source.get("policyDefinition").cloned().unwrap_or_else(|| doc["definition"].clone());
    let first_doc = &source["workflowContent"]["documents"][0];
    let mut w = json!({
        "policyArn": doc["policyArn"],
        "buildWorkflowId": s.id,
        "status": "SCHEDULED",
        "buildWorkflowType": kind,
        "createdAt": s.now,
        "updatedAt": s.now,
        "_dueMicros": s.due_us,
        "_definition": definition,
        "_annotations": [],
    });
    for (from, to) in [
        ("documentName", "documentName"),
        ("documentContentType", "documentContentType"),
        ("documentDescription", "documentDescription"),
    ] {
        if let Some(v) = first_doc.get(from) {
            w[to] = v.clone();
        }
    }
    doc["workflows"][&s.id] = w;
    Ok(json!({"policyArn": doc["policyArn"], "buildWorkflowId": s.id}))
}

/// GetAutomatedReasoningPolicyBuildWorkflow.
pub fn get_build(space: &Space, scope: &Scope, arn: &str, id: &str, clock_us: u64) -> Result<Value, BedrockError> {
    let (doc, _) = find(space, scope, arn)?;
    Ok(workflow_view(workflow(doc, arn, id)?, clock_us))
}

/// ListAutomatedReasoningPolicyBuildWorkflows (by creation time).
pub fn list_builds(
    space: &Space,
    scope: &Scope,
    arn: &str,
    clock_us: u64,
) -> Result<Vec<(String, Value)>, BedrockError> {
    let (doc, _) = find(space, scope, arn)?;
    let mut out: Vec<(String, Value)> = doc["workflows"]
        .as_object()
        .map(|w| {
            w.iter()
                .map(|(id, w)| {
                    let v = workflow_view(w, clock_us);
                    let summary = json!({"policyArn": v["policyArn"], "buildWorkflowId": id, "status": v["status"],
                        "buildWorkflowType": v["buildWorkflowType"], "createdAt": v["createdAt"], "updatedAt": v["updatedAt"]});
                    (format!("{:020}/{id}", w["_dueMicros"].as_u64().unwrap_or(0)), summary)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// CancelAutomatedReasoningPolicyBuildWorkflow (a workflow that has not ended).
pub fn cancel_build(
    space: &mut Space,
    scope: &Scope,
    arn: &str,
    id: &str,
    now: &str,
    clock_us: u64,
) -> Result<(), BedrockError> {
    let doc = draft_mut(space, scope, arn)?;
    let w = doc["workflows"].get_mut(id).filter(|w| w.is_object()).ok_or_else(|| not_found("build workflow", id))?;
    if workflow_view(w, clock_us)["status"] != "SCHEDULED" {
        return Err(conflict(format!("The build workflow {id} has ended and cannot be cancelled.")));
    }
    w["status"] = json!("CANCELLED");
    w["updatedAt"] = json!(now);
    Ok(())
}

/// DeleteAutomatedReasoningPolicyBuildWorkflow (an ended one, named with its `updatedAt`).
pub fn delete_build(
    space: &mut Space,
    scope: &Scope,
    arn: &str,
    id: &str,
    seen: &str,
    clock_us: u64,
) -> Result<(), BedrockError> {
    let doc = draft_mut(space, scope, arn)?;
    let w = doc["workflows"].get(id).filter(|w| w.is_object()).ok_or_else(|| not_found("build workflow", id))?;
    check_fresh(w, seen)?;
    if workflow_view(w, clock_us)["status"] == "SCHEDULED" {
        return Err(conflict(format!("The build workflow {id} is still running: cancel it first.")));
    }
    if let Some(all) = doc["workflows"].as_object_mut() {
        all.remove(id);
    }
    if let Some(results) = doc["testResults"].as_object_mut() {
        results.remove(id);
    }
    Ok(())
}

fn completed<'s>(doc: &'s Value, arn: &str, id: &str, clock_us: u64) -> Result<&'s Value, BedrockError> {
    let w = workflow(doc, arn, id)?;
    if workflow_view(w, clock_us)["status"] != "COMPLETED" {
        return Err(BedrockError::validation(format!("The build workflow {id} has not completed.")));
    }
    Ok(w)
}

/// GetAutomatedReasoningPolicyBuildWorkflowResultAssets.
pub fn assets(
    space: &Space,
    scope: &Scope,
    arn: &str,
    id: &str,
    kind: &str,
    clock_us: u64,
) -> Result<Value, BedrockError> {
    let (doc, _) = find(space, scope, arn)?;
    let w = completed(doc, arn, id, clock_us)?;
    let definition = &w["_definition"];
    let count = |k: &str| definition[k].as_array().map_or(0, Vec::len);
    let asset = match kind {
        "POLICY_DEFINITION" => json!({"policyDefinition": definition}),
        "QUALITY_REPORT" => json!({"qualityReport": {
            "typeCount": count("types"), "variableCount": count("variables"), "ruleCount": count("rules"),
            "unusedTypes": [], "unusedTypeValues": [], "unusedVariables": [], "conflictingRules": [], "disjointRuleSets": []}}),
        "BUILD_LOG" => json!({"buildLog": {"entries": []}}),
        other => return Err(not_found("build result asset", &format!("{other} of workflow {id}"))),
    };
    Ok(json!({"policyArn": doc["policyArn"], "buildWorkflowId": id, "buildWorkflowAssets": asset}))
}

/// GetAutomatedReasoningPolicyAnnotations.
pub fn annotations(space: &Space, scope: &Scope, arn: &str, id: &str) -> Result<Value, BedrockError> {
    let (doc, _) = find(space, scope, arn)?;
    let w = workflow(doc, arn, id)?;
    Ok(json!({"policyArn": doc["policyArn"], "name": doc["name"], "buildWorkflowId": id,
        "annotations": w["_annotations"], "annotationSetHash": hash(&w["_annotations"]), "updatedAt": w["updatedAt"]}))
}

/// UpdateAutomatedReasoningPolicyAnnotations (guarded by the annotation set's hash).
pub fn update_annotations(
    space: &mut Space,
    scope: &Scope,
    arn: &str,
    id: &str,
    new: &Value,
    seen_hash: &str,
    now: &str,
) -> Result<Value, BedrockError> {
    let doc = draft_mut(space, scope, arn)?;
    let policy_arn = doc["policyArn"].clone();
    let w = doc["workflows"].get_mut(id).filter(|w| w.is_object()).ok_or_else(|| not_found("build workflow", id))?;
    if hash(&w["_annotations"]) != seen_hash {
        return Err(conflict("The annotations changed since lastUpdatedAnnotationSetHash: read them again.".into()));
    }
    w["_annotations"] = new.clone();
    w["updatedAt"] = json!(now);
    Ok(json!({"policyArn": policy_arn, "buildWorkflowId": id, "annotationSetHash": hash(new), "updatedAt": now}))
}

/// GetAutomatedReasoningPolicyNextScenario: a scenario from the workflow definition's first
/// rule (none when it has no rules).
pub fn next_scenario(space: &Space, scope: &Scope, arn: &str, id: &str, clock_us: u64) -> Result<Value, BedrockError> {
    let (doc, _) = find(space, scope, arn)?;
    let w = completed(doc, arn, id, clock_us)?;
    let mut out = json!({"policyArn": doc["policyArn"]});
    if let Some(rule) = w["_definition"]["rules"].get(0) {
        let expression = rule["expression"].as_str().unwrap_or_default();
        out["scenario"] = json!({
            "expression": expression,
            "alternateExpression": format!("When {expression} holds."),
            "expectedResult": "SATISFIABLE",
            "ruleIds": [rule["id"]],
        });
    }
    Ok(out)
}

/// StartAutomatedReasoningPolicyTestWorkflow: the named test cases (all without names) run
/// against the workflow's definition ([`super::reasoning_check`]); a case passes when its
/// aggregated finding is the one it expected.
pub fn start_tests(
    space: &mut Space,
    scope: &Scope,
    arn: &str,
    id: &str,
    ids: Option<Vec<String>>,
    now: &str,
    clock_us: u64,
) -> Result<Value, BedrockError> {
    let doc = draft_mut(space, scope, arn)?;
    completed(doc, arn, id, clock_us)?;
    let cases = doc["testCases"].as_object().cloned().unwrap_or_default();
    let wanted: Vec<String> = ids.unwrap_or_else(|| cases.keys().cloned().collect());
    let definition = match doc["workflows"][id].get("_definition") {
        Some(d) if d.is_object() => d.clone(),
        _ => doc["definition"].clone(),
    };
    let policy_arn = doc["policyArn"].as_str().unwrap_or_default().to_string();
    for case_id in &wanted {
        let case = cases.get(case_id).ok_or_else(|| not_found("test case", case_id))?;
        let text = |key: &str| case[key].as_str().unwrap_or_default();
        let (result, findings) =
            super::reasoning_check::check(&definition, text("queryContent"), text("guardContent"), &policy_arn);
        let passed = case["expectedAggregatedFindingsResult"] == result;
        doc["testResults"][id][case_id] = json!({
            "testCase": case,
            "policyArn": policy_arn,
            "testRunStatus": "COMPLETED",
            "testFindings": findings,
            "testRunResult": if passed { "PASSED" } else { "FAILED" },
            "aggregatedTestFindingsResult": result,
            "updatedAt": now,
        });
    }
    Ok(json!({"policyArn": doc["policyArn"]}))
}

/// GetAutomatedReasoningPolicyTestResult.
pub fn test_result(space: &Space, scope: &Scope, arn: &str, id: &str, case_id: &str) -> Result<Value, BedrockError> {
    let (doc, _) = find(space, scope, arn)?;
    workflow(doc, arn, id)?;
    doc["testResults"][id]
        .get(case_id)
        .filter(|r| r.is_object())
        .map(|r| json!({"testResult": r}))
        .ok_or_else(|| not_found("test result", &format!("{case_id} of workflow {id}")))
}

/// ListAutomatedReasoningPolicyTestResults (by test case id).
pub fn test_results(space: &Space, scope: &Scope, arn: &str, id: &str) -> Result<Vec<(String, Value)>, BedrockError> {
    let (doc, _) = find(space, scope, arn)?;
    workflow(doc, arn, id)?;
    Ok(doc["testResults"][id]
        .as_object()
        .map(|r| r.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}
