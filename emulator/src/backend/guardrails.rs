//! Guardrails as the control plane keeps them: a working draft (`DRAFT`) and numbered,
//! immutable versions, per (account, region).
//!
//! A guardrail is stored as one document: `draft` and each of `versions` hold exactly what
//! `GetGuardrail` answers for that version, so reading is a lookup. Policy configurations are
//! turned into their stored shapes once, when written: `…PolicyConfig` / `…Config` members
//! lose their suffix (`topicPolicyConfig.topicsConfig` → `topicPolicy.topics`), and the
//! members AWS fills in when a caller leaves them out are filled the same way (actions
//! `BLOCK` or the entity's `action`, every direction enabled, text modality, the `CLASSIC`
//! tier). Guardrails are `READY` as soon as they are created or updated (AWS takes a few
//! seconds; nothing a client can do in between differs).

use serde_json::{json, Map, Value};

use super::state::{Scope, Space};
use crate::wire::error::{BedrockError, ErrorCode};

/// The state kind guardrails are kept under.
pub const KIND: &str = "guardrail";

/// Guardrails one account may hold per region (AWS's default quota).
pub const MAX_GUARDRAILS: usize = 100;

/// Numbered versions one guardrail may have (AWS's default quota).
pub const MAX_VERSIONS: u64 = 20;

fn not_found(identifier: &str) -> BedrockError {
    BedrockError::not_found(format!("The guardrail {identifier} could not be found."))
}

fn version_not_found(identifier: &str, version: &str) -> BedrockError {
    BedrockError::not_found(format!("Version {version} of guardrail {identifier} could not be found."))
}

/// The id an identifier names: the id itself, or the last part of a guardrail ARN of this
/// scope (an ARN of another region or account names nothing here).
pub fn resolve(scope: &Scope, identifier: &str) -> Result<String, BedrockError> {
    match identifier.strip_prefix(&scope.arn("guardrail/")) {
        Some(id) => Ok(id.to_string()),
        None if identifier.starts_with("arn:") => Err(not_found(identifier)),
        None => Ok(identifier.to_string()),
    }
}

/// `member` of `input` when it is present and not null.
fn given<'a>(input: &'a Map<String, Value>, member: &str) -> Option<&'a Value> {
    input.get(member).filter(|v| !v.is_null())
}

/// A configuration subtree in its stored shape: `…Config` members renamed, recursively.
fn stored_shape(config: &Value) -> Value {
    match config {
        Value::Object(o) => Value::Object(
            o.iter().map(|(k, v)| (k.strip_suffix("Config").unwrap_or(k).to_string(), stored_shape(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(stored_shape).collect()),
        other => other.clone(),
    }
}

/// Fills `defaults` into every element of `policy[list]` that lacks them.
fn fill(policy: &mut Value, list: &str, defaults: &[(&str, Value)]) {
    if let Some(items) = policy.get_mut(list).and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            for (k, v) in defaults {
                item.entry(k.to_string()).or_insert_with(|| v.clone());
            }
        }
    }
}

/// The policies of a Create/UpdateGuardrail input as GetGuardrail shows them.
pub fn policies(input: &Map<String, Value>, scope: &Scope) -> Map<String, Value> {
    let enabled = || [("inputEnabled", json!(true)), ("outputEnabled", json!(true))];
    let classic = || json!({"tierName": "CLASSIC"});
    let mut out = Map::new();
    if let Some(c) = given(input, "topicPolicyConfig") {
        let mut p = stored_shape(c);
        let mut d = vec![("type", json!("DENY")), ("inputAction", json!("BLOCK")), ("outputAction", json!("BLOCK"))];
        d.extend(enabled());
        fill(&mut p, "topics", &d);
        p.as_object_mut().map(|o| o.entry("tier").or_insert_with(classic));
        out.insert("topicPolicy".into(), p);
    }
    if let Some(c) = given(input, "contentPolicyConfig") {
        let mut p = stored_shape(c);
        let mut d = vec![
            ("inputModalities", json!(["TEXT"])),
            ("outputModalities", json!(["TEXT"])),
            ("inputAction", json!("BLOCK")),
            ("outputAction", json!("BLOCK")),
        ];
        d.extend(enabled());
        fill(&mut p, "filters", &d);
        p.as_object_mut().map(|o| o.entry("tier").or_insert_with(classic));
        out.insert("contentPolicy".into(), p);
    }
    if let Some(c) = given(input, "wordPolicyConfig") {
        let mut p = stored_shape(c);
        let mut d = vec![("inputAction", json!("BLOCK")), ("outputAction", json!("BLOCK"))];
        d.extend(enabled());
        fill(&mut p, "words", &d);
        fill(&mut p, "managedWordLists", &d);
        out.insert("wordPolicy".into(), p);
    }
    if let Some(c) = given(input, "sensitiveInformationPolicyConfig") {
        let mut p = stored_shape(c);
        // Each direction's action defaults to the entity's (or regex's) own `action`.
        for list in ["piiEntities", "regexes"] {
            if let Some(items) = p.get_mut(list).and_then(Value::as_array_mut) {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    let action = item.get("action").cloned().unwrap_or(json!("BLOCK"));
                    item.entry("inputAction").or_insert_with(|| action.clone());
                    item.entry("outputAction").or_insert(action);
                    for (k, v) in enabled() {
                        item.entry(k).or_insert(v);
                    }
                }
            }
        }
        out.insert("sensitiveInformationPolicy".into(), p);
    }
    if let Some(c) = given(input, "contextualGroundingPolicyConfig") {
        let mut p = stored_shape(c);
        fill(&mut p, "filters", &[("action", json!("BLOCK")), ("enabled", json!(true))]);
        p.as_object_mut().map(|o| o.entry("tier").or_insert_with(classic));
        out.insert("contextualGroundingPolicy".into(), p);
    }
    if let Some(c) = given(input, "automatedReasoningPolicyConfig") {
        out.insert("automatedReasoningPolicy".into(), stored_shape(c));
    }
    if let Some(profile) = given(input, "crossRegionConfig").and_then(|c| c.get("guardrailProfileIdentifier")) {
        let profile = profile.as_str().unwrap_or_default();
        let id = profile.rsplit('/').next().unwrap_or(profile);
        let arn = if profile.starts_with("arn:") {
            profile.to_string()
        } else {
            scope.arn(&format!("guardrail-profile/{id}"))
        };
        out.insert("crossRegionDetails".into(), json!({"guardrailProfileId": id, "guardrailProfileArn": arn}));
    }
    if let Some(key) = given(input, "kmsKeyId").and_then(Value::as_str) {
        let arn = if key.starts_with("arn:") {
            key.to_string()
        } else {
            format!("arn:aws:kms:{}:{}:key/{key}", scope.region, scope.account)
        };
        out.insert("kmsKeyArn".into(), json!(arn));
    }
    out
}

/// The members every version's GetGuardrail answer shares, from a Create/Update input.
fn describe(input: &Map<String, Value>, scope: &Scope, id: &str, created_at: &str, now: &str) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("name".into(), input.get("name").cloned().unwrap_or(Value::Null));
    if let Some(d) = given(input, "description") {
        doc.insert("description".into(), d.clone());
    }
    doc.insert("guardrailId".into(), json!(id));
    doc.insert("guardrailArn".into(), json!(scope.arn(&format!("guardrail/{id}"))));
    doc.insert("version".into(), json!("DRAFT"));
    doc.insert("status".into(), json!("READY"));
    doc.extend(policies(input, scope));
    doc.insert("createdAt".into(), json!(created_at));
    doc.insert("updatedAt".into(), json!(now));
    for m in ["blockedInputMessaging", "blockedOutputsMessaging"] {
        doc.insert(m.into(), input.get(m).cloned().unwrap_or(Value::Null));
    }
    doc
}

fn name_taken(space: &Space, name: &Value, except: Option<&str>) -> bool {
    space.all(KIND).any(|(id, g)| Some(id.as_str()) != except && g["draft"]["name"] == *name)
}

fn name_conflict(name: &Value) -> BedrockError {
    BedrockError::new(
        ErrorCode::ConflictException,
        format!("A guardrail named {} already exists. Choose another name.", name.as_str().unwrap_or_default()),
    )
}

/// CreateGuardrail: the new guardrail's DRAFT (`now` is the RFC 3339 time of the request).
pub fn create(space: &mut Space, scope: &Scope, input: &Map<String, Value>, now: &str) -> Result<Value, BedrockError> {
    let name = input.get("name").cloned().unwrap_or(Value::Null);
    if name_taken(space, &name, None) {
        return Err(name_conflict(&name));
    }
    if space.count(KIND) >= MAX_GUARDRAILS {
        return Err(BedrockError::new(
            ErrorCode::ServiceQuotaExceededException,
            format!("You have reached the maximum of {MAX_GUARDRAILS} guardrails in this account and region."),
        ));
    }
    let id = space.mint_id(KIND, 12);
    let draft = describe(input, scope, &id, now, now);
    let arn = draft["guardrailArn"].clone();
    let tags = given(input, "tags").cloned().unwrap_or(json!([]));
    space.put(KIND, &id, json!({"draft": draft, "versions": {}, "nextVersion": 1, "tags": tags}));
    Ok(json!({"guardrailId": id, "guardrailArn": arn, "version": "DRAFT", "createdAt": now}))
}

/// GetGuardrail of `version` (the DRAFT when absent).
pub fn get(space: &Space, scope: &Scope, identifier: &str, version: Option<&str>) -> Result<Value, BedrockError> {
    let id = resolve(scope, identifier)?;
    let g = space.get(KIND, &id).ok_or_else(|| not_found(identifier))?;
    match version.filter(|v| *v != "DRAFT") {
        None => Ok(g["draft"].clone()),
        Some(v) => g["versions"].get(v).cloned().ok_or_else(|| version_not_found(identifier, v)),
    }
}

/// The ListGuardrails summary of one version's document.
fn summary(doc: &Value) -> Value {
    let mut s = Map::new();
    s.insert("id".into(), doc["guardrailId"].clone());
    s.insert("arn".into(), doc["guardrailArn"].clone());
    s.insert("status".into(), doc["status"].clone());
    s.insert("name".into(), doc["name"].clone());
    if let Some(d) = doc.get("description") {
        s.insert("description".into(), d.clone());
    }
    s.insert("version".into(), doc["version"].clone());
    s.insert("createdAt".into(), doc["createdAt"].clone());
    s.insert("updatedAt".into(), doc["updatedAt"].clone());
    if let Some(c) = doc.get("crossRegionDetails") {
        s.insert("crossRegionDetails".into(), c.clone());
    }
    Value::Object(s)
}

/// ListGuardrails: every guardrail's DRAFT, or with `identifier` that guardrail's versions
/// (DRAFT first, then by number), each with its sort key for the paginator.
pub fn list(space: &Space, scope: &Scope, identifier: Option<&str>) -> Result<Vec<(String, Value)>, BedrockError> {
    let Some(identifier) = identifier.filter(|i| !i.is_empty()) else {
        return Ok(space.all(KIND).map(|(id, g)| (id.clone(), summary(&g["draft"]))).collect());
    };
    let id = resolve(scope, identifier)?;
    let g = space.get(KIND, &id).ok_or_else(|| not_found(identifier))?;
    let mut out = vec![(format!("{:08}", 0), summary(&g["draft"]))];
    if let Some(versions) = g["versions"].as_object() {
        let mut numbered: Vec<(u64, &Value)> =
            versions.iter().filter_map(|(v, doc)| Some((v.parse().ok()?, doc))).collect();
        numbered.sort_by_key(|(n, _)| *n);
        out.extend(numbered.into_iter().map(|(n, doc)| (format!("{n:08}"), summary(doc))));
    }
    Ok(out)
}

/// UpdateGuardrail: the DRAFT replaced by `input` (policies it leaves out are removed).
pub fn update(
    space: &mut Space,
    scope: &Scope,
    identifier: &str,
    input: &Map<String, Value>,
    now: &str,
) -> Result<Value, BedrockError> {
    let id = resolve(scope, identifier)?;
    let created_at = space
        .get(KIND, &id)
        .map(|g| g["draft"]["createdAt"].as_str().unwrap_or(now).to_string())
        .ok_or_else(|| not_found(identifier))?;
    let name = input.get("name").cloned().unwrap_or(Value::Null);
    if name_taken(space, &name, Some(&id)) {
        return Err(name_conflict(&name));
    }
    let draft = describe(input, scope, &id, &created_at, now);
    let arn = draft["guardrailArn"].clone();
    if let Some(g) = space.get_mut(KIND, &id) {
        g["draft"] = Value::Object(draft);
    }
    Ok(json!({"guardrailId": id, "guardrailArn": arn, "version": "DRAFT", "updatedAt": now}))
}

/// CreateGuardrailVersion: the DRAFT as it is now, kept as the next numbered version.
pub fn create_version(
    space: &mut Space,
    scope: &Scope,
    identifier: &str,
    description: Option<&str>,
    now: &str,
) -> Result<Value, BedrockError> {
    let id = resolve(scope, identifier)?;
    let g = space.get_mut(KIND, &id).ok_or_else(|| not_found(identifier))?;
    let number = g["nextVersion"].as_u64().unwrap_or(1);
    if g["versions"].as_object().map_or(0, Map::len) as u64 >= MAX_VERSIONS {
        return Err(BedrockError::new(
            ErrorCode::ServiceQuotaExceededException,
            format!("The guardrail {identifier} already has the maximum of {MAX_VERSIONS} versions."),
        ));
    }
    let mut doc = g["draft"].clone();
    doc["version"] = json!(number.to_string());
    doc["updatedAt"] = json!(now);
    match description {
        Some(d) => doc["description"] = json!(d),
        None => {
            if let Some(o) = doc.as_object_mut() {
                o.remove("description");
            }
        }
    }
    g["versions"][number.to_string()] = doc;
    g["nextVersion"] = json!(number + 1);
    Ok(json!({"guardrailId": id, "version": number.to_string()}))
}

/// DeleteGuardrail: one numbered version, or (without one) the guardrail and all versions.
pub fn delete(space: &mut Space, scope: &Scope, identifier: &str, version: Option<&str>) -> Result<(), BedrockError> {
    let id = resolve(scope, identifier)?;
    match version {
        None => space.remove(KIND, &id).map(|_| ()).ok_or_else(|| not_found(identifier)),
        Some(v) => {
            let g = space.get_mut(KIND, &id).ok_or_else(|| not_found(identifier))?;
            let versions = g["versions"].as_object_mut().ok_or_else(|| version_not_found(identifier, v))?;
            versions.remove(v).map(|_| ()).ok_or_else(|| version_not_found(identifier, v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::new("123456789012", "us-east-1")
    }

    fn input(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    fn full_input() -> Map<String, Value> {
        input(json!({
            "name": "support-bot",
            "description": "Keeps the bot on topic",
            "topicPolicyConfig": {"topicsConfig": [{"name": "Investing", "definition": "Advice on investments", "examples": ["Which stocks?"], "type": "DENY"}]},
            "contentPolicyConfig": {"filtersConfig": [{"type": "HATE", "inputStrength": "HIGH", "outputStrength": "MEDIUM"}]},
            "wordPolicyConfig": {"wordsConfig": [{"text": "frobnicate"}], "managedWordListsConfig": [{"type": "PROFANITY"}]},
            "sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}], "regexesConfig": [{"name": "ticket", "pattern": "TK-[0-9]+", "action": "BLOCK"}]},
            "contextualGroundingPolicyConfig": {"filtersConfig": [{"type": "GROUNDING", "threshold": 0.7}]},
            "blockedInputMessaging": "Sorry, I can't help with that.",
            "blockedOutputsMessaging": "Sorry, I can't answer that.",
            "kmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        }))
    }

    #[test]
    fn a_created_guardrail_reads_back_in_the_get_shape() {
        let mut space = Space::default();
        let created = create(&mut space, &scope(), &full_input(), "2026-12-02T00:00:00Z").expect("created");
        let id = created["guardrailId"].as_str().expect("id").to_string();
        let mut got = get(&space, &scope(), &id, None).expect("found");
        got["guardrailId"] = json!("ID");
        got["guardrailArn"] = json!("ARN");
        insta::assert_json_snapshot!(got);
    }

    #[test]
    fn versions_are_snapshots_of_the_draft() {
        let mut space = Space::default();
        let now = "2026-12-02T00:00:00Z";
        let id = create(&mut space, &scope(), &full_input(), now).expect("created")["guardrailId"]
            .as_str()
            .expect("id")
            .to_string();
        let v1 = create_version(&mut space, &scope(), &id, Some("first"), now).expect("v1");
        assert_eq!(v1["version"], "1");
        let mut changed = full_input();
        changed.remove("topicPolicyConfig");
        update(&mut space, &scope(), &id, &changed, "2026-12-02T00:01:00Z").expect("updated");
        assert!(get(&space, &scope(), &id, Some("1")).expect("v1")["topicPolicy"].is_object());
        assert!(get(&space, &scope(), &id, None).expect("draft").get("topicPolicy").is_none());
        assert_eq!(get(&space, &scope(), &id, Some("1")).expect("v1")["description"], "first");
        let versions: Vec<Value> = list(&space, &scope(), Some(&id))
            .expect("versions")
            .into_iter()
            .map(|(_, s)| s["version"].clone())
            .collect();
        assert_eq!(versions, vec![json!("DRAFT"), json!("1")]);
        delete(&mut space, &scope(), &id, Some("1")).expect("version deleted");
        assert_eq!(get(&space, &scope(), &id, Some("1")).expect_err("gone").code, ErrorCode::ResourceNotFoundException);
        let arn = scope().arn(&format!("guardrail/{id}"));
        delete(&mut space, &scope(), &arn, None).expect("deleted by ARN");
        assert_eq!(get(&space, &scope(), &id, None).expect_err("gone").code, ErrorCode::ResourceNotFoundException);
    }

    #[test]
    fn names_are_unique_and_foreign_arns_name_nothing() {
        let mut space = Space::default();
        let now = "2026-12-02T00:00:00Z";
        let id = create(&mut space, &scope(), &full_input(), now).expect("created")["guardrailId"]
            .as_str()
            .expect("id")
            .to_string();
        assert_eq!(
            create(&mut space, &scope(), &full_input(), now).expect_err("taken").code,
            ErrorCode::ConflictException
        );
        let foreign = Scope::new("123456789012", "eu-west-1").arn(&format!("guardrail/{id}"));
        assert_eq!(
            get(&space, &scope(), &foreign, None).expect_err("foreign").code,
            ErrorCode::ResourceNotFoundException
        );
    }
}
