//! Converse: request parsing and validation with Bedrock's messages (SPEC §6), and the
//! response body. ConverseStream shares the parser (`converse_stream` renders events).

use base64::Engine;
use serde_json::{json, Map, Value};

use super::validate::{
    body_object, check_enum, check_len, check_pattern, check_tool_name, constraint, field, member, opt_array,
    opt_number, opt_object, opt_str, req_str, union_member, wrong_type, GUARDRAIL_IDENTIFIER_PATTERN,
    GUARDRAIL_VERSION_PATTERN,
};
use crate::backend::catalog::FoundationModel;
use crate::canonical::{Block, Conversation, InferenceConfig, Message, Reply, ReplyBlock, Role, ToolChoice, ToolSpec};
use crate::wire::error::BedrockError;
use crate::wire::json::{push_integer, push_string, push_value};

/// Maximum decoded image size (3.75 MB, API reference for `ImageBlock`).
pub const MAX_IMAGE_BYTES: usize = 3_750_000;
/// Maximum decoded document size (4.5 MB).
pub const MAX_DOCUMENT_BYTES: usize = 4_500_000;
/// Images per request.
pub const MAX_IMAGES: usize = 20;
/// Documents per request.
pub const MAX_DOCUMENTS: usize = 5;

const IMAGE_FORMATS: &[&str] = &["png", "jpeg", "gif", "webp"];
const DOCUMENT_FORMATS: &[&str] = &["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"];
const VIDEO_FORMATS: &[&str] = &["mkv", "mov", "mp4", "webm", "flv", "mpeg", "mpg", "wmv", "three_gp"];
/// Families whose Converse integration accepts `toolChoice` `any` / `tool`.
const FORCED_TOOL_CHOICE_FAMILIES: &[&str] = &["anthropic", "nova", "mistral-chat"];

/// Which of the two operations is being parsed (they validate a few things differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Converse.
    Unary,
    /// ConverseStream.
    Stream,
}

/// A parsed, validated Converse / ConverseStream request.
#[derive(Debug, Clone, PartialEq)]
pub struct ConverseRequest {
    /// The canonical conversation.
    pub conversation: Conversation,
    /// `additionalModelResponseFieldPaths`.
    pub response_field_paths: Vec<String>,
    /// `guardrailConfig`, when it names a guardrail (boxed: rarely there, and large).
    pub guardrail: Option<Box<GuardrailRequest>>,
    /// The text of every `guardContent` block (messages, then system), in order: when there
    /// are any, only they are evaluated by the guardrail.
    pub guard_content: Vec<String>,
    /// How many of `guard_content` come from messages (the rest are system prompts).
    pub message_guard_count: usize,
    /// The account's enforced guardrail, when one applies (read when the request is prepared).
    pub enforced: Option<Box<super::guardrail_inference::Enforced>>,
    /// The model a prompt router chose, as its `trace.promptRouter.invokedModelId`.
    pub invoked_model: Option<Box<String>>,
}

/// A `guardrailConfig` naming a guardrail.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailRequest {
    /// `guardrailIdentifier` (id or ARN).
    pub identifier: String,
    /// `guardrailVersion` (`DRAFT` or a number).
    pub version: String,
    /// `trace`: `enabled`, `enabled_full` or `disabled` (the default).
    pub trace: String,
    /// The guardrail version as stored (`GetGuardrail`'s shape), read when the request is
    /// prepared (`null` until then).
    pub doc: Value,
    /// ConverseStream's `streamProcessingMode: async`.
    pub asynchronous: bool,
}

/// The text of a `guardContent` union (`{"text": {"text": …}}`); images carry none.
fn guard_text(value: &Value) -> Option<String> {
    value.get("text")?.get("text")?.as_str().map(str::to_string)
}

fn decode_b64(s: &str, path: &str) -> Result<usize, BedrockError> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map(|b| b.len())
        .map_err(|_| wrong_type(path, "a base64-encoded blob"))
}

/// Decoded size of a `{bytes}|{s3Location}|…` source union, checking the member is allowed.
fn source_size(source: &Value, path: &str, allowed: &[&str]) -> Result<usize, BedrockError> {
    let (kind, value) = union_member(source, path)?;
    if !allowed.contains(&kind) {
        return Err(BedrockError::validation(format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: Member must be one of [{}]",
            allowed.join(", ")
        )));
    }
    match kind {
        "bytes" => value.as_str().map_or_else(
            || Err(wrong_type(&format!("{path}.bytes"), "a blob")),
            |s| decode_b64(s, &format!("{path}.bytes")),
        ),
        "s3Location" => {
            let loc = value.as_object().ok_or_else(|| wrong_type(&format!("{path}.s3Location"), "a structure"))?;
            let uri = req_str(loc, "uri", &format!("{path}.s3Location.uri"))?;
            if !uri.starts_with("s3://") {
                return Err(constraint(
                    &json!(uri),
                    &format!("{path}.s3Location.uri"),
                    "satisfy regular expression pattern: s3://.*",
                ));
            }
            Ok(0)
        }
        "text" => value.as_str().map(str::len).ok_or_else(|| wrong_type(&format!("{path}.text"), "a string")),
        _ => Ok(value.to_string().len()),
    }
}

struct Counters {
    images: usize,
    documents: usize,
    guard_content: Vec<String>,
}

fn parse_block(
    block: &Value,
    i: usize,
    j: usize,
    role: Role,
    model: &FoundationModel,
    counters: &mut Counters,
) -> Result<Block, BedrockError> {
    // The common case, a non-blank text block, is decided without building a location:
    // only errors need one, and this runs for every block of every request.
    if let Some(Value::String(text)) = block.as_object().filter(|o| o.len() == 1).and_then(|o| field(o, "text")) {
        if !text.trim().is_empty() {
            return Ok(Block::Text(text.clone()));
        }
    }
    let path = format!("{}.content.{}.member", member("messages", i), j + 1);
    let (kind, value) = union_member(block, &path)?;
    let sub = format!("{path}.{kind}");
    let obj = || value.as_object().ok_or_else(|| wrong_type(&sub, "a structure"));
    Ok(match kind {
        "text" => {
            let text = value.as_str().ok_or_else(|| wrong_type(&sub, "a string"))?;
            if text.trim().is_empty() {
                return Err(BedrockError::validation(format!(
                    "The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again."
                )));
            }
            Block::Text(text.to_string())
        }
        "image" => {
            let o = obj()?;
            let format = req_str(o, "format", &format!("{sub}.format"))?;
            check_enum(format, &format!("{sub}.format"), IMAGE_FORMATS)?;
            let source = field(o, "source").ok_or_else(|| constraint(&Value::Null, &format!("{sub}.source"), "not be null"))?;
            let size = source_size(source, &format!("{sub}.source"), &["bytes", "s3Location"])?;
            if !model.emulator.vision {
                return Err(BedrockError::validation(
                    "This model doesn't support the image content block that you provided. Try again with a supported content block.",
                ));
            }
            if role != Role::User {
                return Err(BedrockError::validation(format!(
                    "The image content block at messages.{i}.content.{j} is only supported in user messages. Move it to a user message and try again."
                )));
            }
            if size > MAX_IMAGE_BYTES {
                return Err(BedrockError::validation(format!(
                    "The image at messages.{i}.content.{j} is {size} bytes, which exceeds the maximum of {MAX_IMAGE_BYTES} bytes. Reduce the image size and try again."
                )));
            }
            counters.images += 1;
            Block::Image { format: format.to_string(), size }
        }
        "document" => {
            let o = obj()?;
            let name = req_str(o, "name", &format!("{sub}.name"))?;
            check_len(name, &format!("{sub}.name"), 1, Some(200))?;
            let format = opt_str(o, "format", &format!("{sub}.format"))?.unwrap_or("txt");
            check_enum(format, &format!("{sub}.format"), DOCUMENT_FORMATS)?;
            let source = field(o, "source").ok_or_else(|| constraint(&Value::Null, &format!("{sub}.source"), "not be null"))?;
            let size = source_size(source, &format!("{sub}.source"), &["bytes", "s3Location", "text", "content"])?;
            if !model.emulator.documents {
                return Err(BedrockError::validation(
                    "This model doesn't support the document content block that you provided. Try again with a supported content block.",
                ));
            }
            if role != Role::User {
                return Err(BedrockError::validation(format!(
                    "The document content block at messages.{i}.content.{j} is only supported in user messages. Move it to a user message and try again."
                )));
            }
            if size > MAX_DOCUMENT_BYTES {
                return Err(BedrockError::validation(format!(
                    "The document at messages.{i}.content.{j} is {size} bytes, which exceeds the maximum of {MAX_DOCUMENT_BYTES} bytes. Reduce the document size and try again."
                )));
            }
            counters.documents += 1;
            Block::Document { name: name.to_string(), format: format.to_string(), size }
        }
        "video" => {
            let o = obj()?;
            let format = req_str(o, "format", &format!("{sub}.format"))?;
            check_enum(format, &format!("{sub}.format"), VIDEO_FORMATS)?;
            let source = field(o, "source").ok_or_else(|| constraint(&Value::Null, &format!("{sub}.source"), "not be null"))?;
            source_size(source, &format!("{sub}.source"), &["bytes", "s3Location"])?;
            if !model.input_modalities.iter().any(|m| m == "VIDEO") {
                return Err(BedrockError::validation(
                    "This model doesn't support the video content block that you provided. Try again with a supported content block.",
                ));
            }
            Block::Other("video".into())
        }
        "toolUse" => {
            let o = obj()?;
            let id = req_str(o, "toolUseId", &format!("{sub}.toolUseId"))?;
            check_len(id, &format!("{sub}.toolUseId"), 1, Some(64))?;
            let name = req_str(o, "name", &format!("{sub}.name"))?;
            check_tool_name(name, &format!("{sub}.name"))?;
            let input = field(o, "input").cloned().ok_or_else(|| constraint(&Value::Null, &format!("{sub}.input"), "not be null"))?;
            Block::ToolUse { id: id.to_string(), name: name.to_string(), input }
        }
        "toolResult" => {
            let o = obj()?;
            let id = req_str(o, "toolUseId", &format!("{sub}.toolUseId"))?;
            check_len(id, &format!("{sub}.toolUseId"), 1, Some(64))?;
            let status = opt_str(o, "status", &format!("{sub}.status"))?;
            if let Some(s) = status {
                check_enum(s, &format!("{sub}.status"), &["success", "error"])?;
            }
            let content = opt_array(o, "content", &format!("{sub}.content"))?
                .ok_or_else(|| constraint(&Value::Null, &format!("{sub}.content"), "not be null"))?;
            let is_error = status == Some("error");
            if is_error && content.is_empty() {
                return Err(BedrockError::validation(format!(
                    "The content field at messages.{i}.content.{j}.toolResult cannot be empty when status value is error."
                )));
            }
            let mut text = Vec::new();
            for (k, c) in content.iter().enumerate() {
                let cpath = format!("{}.content", sub);
                let (ckind, cvalue) = union_member(c, &member(&cpath, k))?;
                match ckind {
                    "text" => {
                        let t = cvalue
                            .as_str()
                            .ok_or_else(|| wrong_type(&format!("{}.text", member(&cpath, k)), "a string"))?;
                        text.push(t.to_string());
                    }
                    "json" => text.push(cvalue.to_string()),
                    "image" | "document" | "video" | "searchResult" => {}
                    other => {
                        return Err(BedrockError::validation(format!(
                            "The toolResult content block type {other} at messages.{i}.content.{j} is not supported."
                        )))
                    }
                }
            }
            if role != Role::User {
                return Err(BedrockError::validation(format!(
                    "The toolResult block at messages.{i}.content.{j} must be in a user message."
                )));
            }
            Block::ToolResult { id: id.to_string(), text: text.join(" "), is_error }
        }
        "reasoningContent" => {
            let (rkind, rvalue) = union_member(value, &sub)?;
            match rkind {
                "reasoningText" => Block::Reasoning(rvalue.get("text").and_then(Value::as_str).unwrap_or_default().to_string()),
                "redactedContent" => Block::Reasoning(String::new()),
                other => return Err(wrong_type(&format!("{sub}.{other}"), "reasoningText or redactedContent")),
            }
        }
        "cachePoint" | "guardContent" | "audio" | "citationsContent" | "searchResult" | "toolAddition" | "toolRemoval" => {
            if !value.is_object() {
                return Err(wrong_type(&sub, "a structure"));
            }
            if kind == "guardContent" {
                counters.guard_content.extend(guard_text(value));
            }
            Block::Other(kind.to_string())
        }
        other => {
            return Err(BedrockError::validation(format!(
                "1 validation error detected: Value at '{path}' failed to satisfy constraint: Member must be a known ContentBlock member, but '{other}' is not"
            )))
        }
    })
}

fn parse_messages(
    body: &Map<String, Value>,
    model: &FoundationModel,
) -> Result<(Vec<Message>, Vec<String>), BedrockError> {
    let raw = opt_array(body, "messages", "messages")?.map_or(&[][..], Vec::as_slice);
    if raw.is_empty() {
        return Err(BedrockError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    let mut counters = Counters { images: 0, documents: 0, guard_content: Vec::new() };
    let mut messages = Vec::with_capacity(raw.len());
    for (i, m) in raw.iter().enumerate() {
        let well_formed = m.as_object().and_then(|obj| {
            let role = match field(obj, "role")?.as_str()? {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                _ => return None,
            };
            Some((role, field(obj, "content")?.as_array()?))
        });
        // Locations are only formatted for a message that is wrong somewhere.
        let (role, content) = match well_formed {
            Some(ok) => ok,
            None => {
                let mpath = member("messages", i);
                let obj = m.as_object().ok_or_else(|| wrong_type(&mpath, "a structure"))?;
                let role = req_str(obj, "role", &format!("{mpath}.role"))?;
                check_enum(role, &format!("{mpath}.role"), &["user", "assistant"])?;
                let role = if role == "user" { Role::User } else { Role::Assistant };
                let content = opt_array(obj, "content", &format!("{mpath}.content"))?
                    .ok_or_else(|| constraint(&Value::Null, &format!("{mpath}.content"), "not be null"))?;
                (role, content)
            }
        };
        if content.is_empty() {
            return Err(BedrockError::validation(format!(
                "The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )));
        }
        let blocks = content
            .iter()
            .enumerate()
            .map(|(j, b)| parse_block(b, i, j, role, model, &mut counters))
            .collect::<Result<Vec<_>, _>>()?;
        let has_document = blocks.iter().any(|b| matches!(b, Block::Document { .. }));
        if has_document && !blocks.iter().any(|b| matches!(b, Block::Text(_))) {
            return Err(BedrockError::validation(format!(
                "The message at messages.{i} contains a document block but no text block. Add a text block that describes the document and try again."
            )));
        }
        messages.push(Message { role, content: blocks });
    }
    if counters.images > MAX_IMAGES {
        return Err(BedrockError::validation(format!(
            "The request contains {} images, which exceeds the maximum of {MAX_IMAGES}. Reduce the number of images and try again.",
            counters.images
        )));
    }
    if counters.documents > MAX_DOCUMENTS {
        return Err(BedrockError::validation(format!(
            "The request contains {} documents, which exceeds the maximum of {MAX_DOCUMENTS}. Reduce the number of documents and try again.",
            counters.documents
        )));
    }
    if messages[0].role != Role::User {
        return Err(BedrockError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    if messages.windows(2).any(|w| w[0].role == w[1].role) {
        return Err(BedrockError::validation(
            "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
        ));
    }
    Ok((messages, counters.guard_content))
}

/// toolUse ↔ toolResult pairing between adjacent turns (SPEC §6.4).
fn check_tool_pairing(messages: &[Message]) -> Result<(), BedrockError> {
    for (i, m) in messages.iter().enumerate() {
        if m.role != Role::User {
            continue;
        }
        let results: Vec<&str> = m
            .content
            .iter()
            .filter_map(|b| match b {
                Block::ToolResult { id, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        let uses: Vec<&str> = i
            .checked_sub(1)
            .map(|p| {
                messages[p]
                    .content
                    .iter()
                    .filter_map(|b| match b {
                        Block::ToolUse { id, .. } => Some(id.as_str()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if results.len() > uses.len() {
            return Err(BedrockError::validation(format!(
                "The number of toolResult blocks at messages.{i}.content exceeds the number of toolUse blocks of previous turn."
            )));
        }
        let missing: Vec<&str> = uses.iter().copied().filter(|u| !results.contains(u)).collect();
        if !missing.is_empty() {
            return Err(BedrockError::validation(format!(
                "Expected toolResult blocks at messages.{i}.content for the following Ids: {}",
                missing.join(", ")
            )));
        }
    }
    Ok(())
}

fn parse_system(
    body: &Map<String, Value>,
    model: &FoundationModel,
    guard_content: &mut Vec<String>,
) -> Result<Vec<String>, BedrockError> {
    let Some(raw) = opt_array(body, "system", "system")? else {
        return Ok(Vec::new());
    };
    let mut texts = Vec::new();
    for (k, block) in raw.iter().enumerate() {
        let path = member("system", k);
        let (kind, value) = union_member(block, &path)?;
        match kind {
            "text" => {
                let t = value.as_str().ok_or_else(|| wrong_type(&format!("{path}.text"), "a string"))?;
                check_len(t, &format!("{path}.text"), 1, None)?;
                texts.push(t.to_string());
            }
            "guardContent" => guard_content.extend(guard_text(value)),
            "cachePoint" => {}
            other => {
                return Err(BedrockError::validation(format!(
                    "1 validation error detected: Value at '{path}' failed to satisfy constraint: Member must be a known SystemContentBlock member, but '{other}' is not"
                )))
            }
        }
    }
    if !raw.is_empty() && !model.emulator.system_prompt {
        return Err(BedrockError::validation(
            "This model doesn't support system messages. Try again without a system message.",
        ));
    }
    Ok(texts)
}

fn parse_inference(body: &Map<String, Value>, model: &FoundationModel) -> Result<InferenceConfig, BedrockError> {
    let Some(cfg) = opt_object(body, "inferenceConfig", "inferenceConfig")? else {
        return Ok(InferenceConfig::default());
    };
    let max_tokens = opt_number(cfg, "maxTokens", "inferenceConfig.maxTokens", Some(1.0), None, true)?;
    let cap = model.emulator.max_output_tokens;
    if max_tokens.is_some_and(|m| m > f64::from(cap)) {
        return Err(BedrockError::validation(format!(
            "The maximum tokens you requested exceeds the model limit of {cap}. Try again with a maximum tokens value that is lower than {cap}."
        )));
    }
    let temperature = opt_number(cfg, "temperature", "inferenceConfig.temperature", Some(0.0), Some(1.0), false)?;
    let top_p = opt_number(cfg, "topP", "inferenceConfig.topP", Some(0.0), Some(1.0), false)?;
    let mut stop_sequences = Vec::new();
    if let Some(seqs) = opt_array(cfg, "stopSequences", "inferenceConfig.stopSequences")? {
        if seqs.len() > 2500 {
            return Err(constraint(
                &json!(seqs.len()),
                "inferenceConfig.stopSequences",
                "have length less than or equal to 2500",
            ));
        }
        for (k, s) in seqs.iter().enumerate() {
            let path = member("inferenceConfig.stopSequences", k);
            let s = s.as_str().ok_or_else(|| wrong_type(&path, "a string"))?;
            check_len(s, &path, 1, None)?;
            stop_sequences.push(s.to_string());
        }
    }
    Ok(InferenceConfig { max_tokens: max_tokens.map(|m| m as u32), temperature, top_p, stop_sequences })
}

fn parse_tools(
    body: &Map<String, Value>,
    model: &FoundationModel,
    mode: Mode,
) -> Result<Option<(Vec<ToolSpec>, ToolChoice)>, BedrockError> {
    let Some(cfg) = opt_object(body, "toolConfig", "toolConfig")? else {
        return Ok(None);
    };
    let raw = opt_array(cfg, "tools", "toolConfig.tools")?
        .ok_or_else(|| constraint(&Value::Null, "toolConfig.tools", "not be null"))?;
    if raw.is_empty() {
        return Err(constraint(&json!([]), "toolConfig.tools", "have length greater than or equal to 1"));
    }
    let mut tools: Vec<ToolSpec> = Vec::new();
    // Names seen so far: a linear check, however many tools a request offers.
    let mut names: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (k, t) in raw.iter().enumerate() {
        let path = member("toolConfig.tools", k);
        let (kind, value) = union_member(t, &path)?;
        match kind {
            "toolSpec" => {
                let o = value.as_object().ok_or_else(|| wrong_type(&format!("{path}.toolSpec"), "a structure"))?;
                let name = req_str(o, "name", &format!("{path}.toolSpec.name"))?;
                check_tool_name(name, &format!("{path}.toolSpec.name"))?;
                let description = opt_str(o, "description", &format!("{path}.toolSpec.description"))?;
                if let Some(d) = description {
                    check_len(d, &format!("{path}.toolSpec.description"), 1, None)?;
                }
                let schema_union = o
                    .get("inputSchema")
                    .ok_or_else(|| constraint(&Value::Null, &format!("{path}.toolSpec.inputSchema"), "not be null"))?;
                let (skind, schema) = union_member(schema_union, &format!("{path}.toolSpec.inputSchema"))?;
                if skind != "json" || !schema.is_object() {
                    return Err(wrong_type(&format!("{path}.toolSpec.inputSchema.json"), "a JSON object"));
                }
                if !names.insert(name.to_string()) {
                    return Err(BedrockError::validation(format!(
                        "The toolConfig field contains more than one tool named {name}. Tool names must be unique."
                    )));
                }
                tools.push(ToolSpec { name: name.to_string(), description: description.map(str::to_string), input_schema: schema.clone() });
            }
            "systemTool" | "cachePoint" => {}
            other => {
                return Err(BedrockError::validation(format!(
                    "1 validation error detected: Value at '{path}' failed to satisfy constraint: Member must be a known Tool member, but '{other}' is not"
                )))
            }
        }
    }
    let choice = match field(cfg, "toolChoice").filter(|v| !v.is_null()) {
        None => ToolChoice::Auto,
        Some(c) => {
            let (kind, value) = union_member(c, "toolConfig.toolChoice")?;
            // `auto` and `any` are (empty) structures: a string or number there is refused.
            if matches!(kind, "auto" | "any") && !value.is_object() {
                return Err(wrong_type(&format!("toolConfig.toolChoice.{kind}"), "a structure"));
            }
            let choice = match kind {
                "auto" => ToolChoice::Auto,
                "any" => ToolChoice::Any,
                "tool" => {
                    let o = value.as_object().ok_or_else(|| wrong_type("toolConfig.toolChoice.tool", "a structure"))?;
                    let name = req_str(o, "name", "toolConfig.toolChoice.tool.name")?;
                    check_tool_name(name, "toolConfig.toolChoice.tool.name")?;
                    if !tools.iter().any(|t| t.name == name) {
                        return Err(BedrockError::validation(format!(
                            "The tool {name} named in toolConfig.toolChoice.tool isn't defined in toolConfig.tools. Define the tool or choose another one and try again."
                        )));
                    }
                    ToolChoice::Tool(name.to_string())
                }
                other => return Err(wrong_type(&format!("toolConfig.toolChoice.{other}"), "auto, any or tool")),
            };
            if kind != "auto" && !FORCED_TOOL_CHOICE_FAMILIES.contains(&model.emulator.family.as_str()) {
                return Err(BedrockError::validation(format!(
                    "This model doesn't support the toolConfig.toolChoice.{kind} field. Remove toolConfig.toolChoice.{kind} and try again."
                )));
            }
            choice
        }
    };
    if !model.emulator.tools {
        return Err(BedrockError::validation("This model doesn't support tool use."));
    }
    if mode == Mode::Stream && !model.emulator.streaming_tools {
        return Err(BedrockError::validation("This model doesn't support tool use in streaming mode."));
    }
    Ok(Some((tools, choice)))
}

fn parse_output_schema(body: &Map<String, Value>) -> Result<Option<Value>, BedrockError> {
    let Some(cfg) = opt_object(body, "outputConfig", "outputConfig")? else {
        return Ok(None);
    };
    let Some(fmt) = opt_object(cfg, "textFormat", "outputConfig.textFormat")? else {
        return Ok(None);
    };
    let ty = req_str(fmt, "type", "outputConfig.textFormat.type")?;
    check_enum(ty, "outputConfig.textFormat.type", &["json_schema"])?;
    let structure = fmt
        .get("structure")
        .ok_or_else(|| constraint(&Value::Null, "outputConfig.textFormat.structure", "not be null"))?;
    let (_, def) = union_member(structure, "outputConfig.textFormat.structure")?;
    let def =
        def.as_object().ok_or_else(|| wrong_type("outputConfig.textFormat.structure.jsonSchema", "a structure"))?;
    let schema_text = req_str(def, "schema", "outputConfig.textFormat.structure.jsonSchema.schema")?;
    let schema: Value = serde_json::from_str(schema_text).map_err(|e| {
        BedrockError::validation(format!(
            "The JSON schema in outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON: {e}"
        ))
    })?;
    Ok(Some(schema))
}

type Members = (Vec<String>, Option<Box<GuardrailRequest>>);

fn check_other_members(body: &Map<String, Value>) -> Result<Members, BedrockError> {
    let mut guardrail = None;
    if let Some(v) = field(body, "additionalModelRequestFields").filter(|v| !v.is_null()) {
        if !v.is_object() {
            return Err(wrong_type("additionalModelRequestFields", "a JSON object"));
        }
    }
    let mut paths = Vec::new();
    if let Some(list) = opt_array(body, "additionalModelResponseFieldPaths", "additionalModelResponseFieldPaths")? {
        if list.len() > 10 {
            return Err(constraint(
                &json!(list.len()),
                "additionalModelResponseFieldPaths",
                "have length less than or equal to 10",
            ));
        }
        for (k, p) in list.iter().enumerate() {
            let path = member("additionalModelResponseFieldPaths", k);
            let p = p.as_str().ok_or_else(|| wrong_type(&path, "a string"))?;
            check_len(p, &path, 1, Some(256))?;
            paths.push(p.to_string());
        }
    }
    if let Some(g) = opt_object(body, "guardrailConfig", "guardrailConfig")? {
        let id = opt_str(g, "guardrailIdentifier", "guardrailConfig.guardrailIdentifier")?.unwrap_or("");
        let version = opt_str(g, "guardrailVersion", "guardrailConfig.guardrailVersion")?.unwrap_or("");
        if let Some(t) = opt_str(g, "trace", "guardrailConfig.trace")? {
            check_enum(t, "guardrailConfig.trace", &["enabled", "disabled", "enabled_full"])?;
        }
        if let Some(m) = opt_str(g, "streamProcessingMode", "guardrailConfig.streamProcessingMode")? {
            check_enum(m, "guardrailConfig.streamProcessingMode", &["sync", "async"])?;
        }
        check_len(id, "guardrailConfig.guardrailIdentifier", 0, Some(2048))?;
        check_pattern(id, "guardrailConfig.guardrailIdentifier", GUARDRAIL_IDENTIFIER_PATTERN)?;
        check_pattern(version, "guardrailConfig.guardrailVersion", GUARDRAIL_VERSION_PATTERN)?;
        // An empty identifier is no guardrail (the SDKs' default); one that names a guardrail
        // is looked up in the state when the request is prepared.
        if !id.is_empty() {
            let trace = opt_str(g, "trace", "guardrailConfig.trace")?.unwrap_or("disabled");
            guardrail = Some(Box::new(GuardrailRequest {
                identifier: id.to_string(),
                version: version.to_string(),
                trace: trace.to_string(),
                doc: Value::Null,
                asynchronous: opt_str(g, "streamProcessingMode", "guardrailConfig.streamProcessingMode")?
                    == Some("async"),
            }));
        }
    }
    if let Some(p) = opt_object(body, "performanceConfig", "performanceConfig")? {
        if let Some(l) = opt_str(p, "latency", "performanceConfig.latency")? {
            check_enum(l, "performanceConfig.latency", &["standard", "optimized"])?;
        }
    }
    if let Some(t) = opt_object(body, "serviceTier", "serviceTier")? {
        let ty = req_str(t, "type", "serviceTier.type")?;
        check_enum(ty, "serviceTier.type", &["priority", "default", "flex", "reserved"])?;
    }
    if let Some(meta) = opt_object(body, "requestMetadata", "requestMetadata")? {
        if meta.is_empty() || meta.len() > 16 {
            return Err(constraint(&json!(meta.len()), "requestMetadata", "have between 1 and 16 entries"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || c.is_whitespace() || ":_@$#=/+,-.".contains(c);
        for (k, v) in meta {
            let v = v.as_str().ok_or_else(|| wrong_type(&format!("requestMetadata.{k}"), "a string"))?;
            if k.is_empty() || k.len() > 256 || !k.chars().all(allowed) || v.len() > 256 || !v.chars().all(allowed) {
                return Err(constraint(
                    &json!(k),
                    "requestMetadata",
                    "satisfy regular expression pattern: [a-zA-Z0-9\\s:_@$#=/+,-.]{1,256}",
                ));
            }
        }
    }
    if opt_object(body, "promptVariables", "promptVariables")?.is_some() {
        return Err(BedrockError::validation(
            "The promptVariables field can only be used with a prompt from Prompt management. Remove promptVariables or use a prompt ARN and try again.",
        ));
    }
    Ok((paths, guardrail))
}

/// Extended thinking requested through `additionalModelRequestFields.thinking` (Anthropic's
/// shape, which Converse passes through to reasoning models).
fn thinking_budget(
    body: &Map<String, Value>,
    model: &FoundationModel,
    max_tokens: Option<u32>,
) -> Result<Option<u32>, BedrockError> {
    let Some(thinking) = field(body, "additionalModelRequestFields").and_then(|f| f.get("thinking")) else {
        return Ok(None);
    };
    if thinking.get("type").and_then(Value::as_str) != Some("enabled") || !model.emulator.reasoning {
        return Ok(None);
    }
    // Converse passes the field through: the model refuses what is not an integer.
    let budget = match thinking.get("budget_tokens") {
        None => 0,
        Some(v) => crate::families::native_schema::whole_number(v).ok_or_else(|| {
            BedrockError::validation(
                "The model returned the following errors: thinking.enabled.budget_tokens: Input should be a valid integer",
            )
        })?,
    };
    crate::families::anthropic::check_thinking_budget(budget, max_tokens.map(u64::from))?;
    Ok(Some(u32::try_from(budget).unwrap_or(u32::MAX)))
}

/// Parses and validates a Converse / ConverseStream body against `model`.
pub fn parse(body: &[u8], model: &FoundationModel, mode: Mode) -> Result<ConverseRequest, BedrockError> {
    parse_object(&body_object(body)?, model, mode)
}

/// [`parse`] for a body already parsed as a JSON object (the server parses each JSON body
/// once, for matching; CountTokens carries the request inside its own body).
pub fn parse_object(
    body: &Map<String, Value>,
    model: &FoundationModel,
    mode: Mode,
) -> Result<ConverseRequest, BedrockError> {
    if !model.emulator.converse {
        return Err(BedrockError::validation(
            "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
        ));
    }
    if mode == Mode::Stream && !model.response_streaming_supported {
        return Err(BedrockError::validation("The model is unsupported for streaming."));
    }
    let (messages, mut guard_content) = parse_messages(body, model)?;
    let message_guard_count = guard_content.len();
    let system = parse_system(body, model, &mut guard_content)?;
    let inference = parse_inference(body, model)?;
    let tools = parse_tools(body, model, mode)?;
    let uses_tool_blocks =
        messages.iter().flat_map(|m| &m.content).any(|b| matches!(b, Block::ToolUse { .. } | Block::ToolResult { .. }));
    if uses_tool_blocks && tools.is_none() {
        return Err(BedrockError::validation(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
        ));
    }
    check_tool_pairing(&messages)?;
    let output_schema = parse_output_schema(body)?;
    let (response_field_paths, mut guardrail) = check_other_members(body)?;
    if let (Some(g), Mode::Unary) = (&mut guardrail, mode) {
        // Only a stream has a processing mode.
        g.asynchronous = false;
    }
    let (tools, tool_choice) = tools.unwrap_or_default();
    let thinking_budget = thinking_budget(body, model, inference.max_tokens)?;
    Ok(ConverseRequest {
        conversation: Conversation { system, messages, inference, tools, tool_choice, output_schema, thinking_budget },
        response_field_paths,
        guardrail,
        guard_content,
        message_guard_count,
        enforced: None,
        invoked_model: None,
    })
}

/// One assistant content block as Converse JSON (serialised straight to bytes: the unary
/// reply is built on every request, and a `Value` tree costs more than the rest of it).
#[derive(serde::Serialize)]
enum BlockOut<'a> {
    #[serde(rename = "text")]
    Text(&'a str),
    #[serde(rename = "reasoningContent")]
    Reasoning {
        #[serde(rename = "reasoningText")]
        reasoning_text: ReasoningOut<'a>,
    },
    #[serde(rename = "toolUse")]
    ToolUse {
        input: &'a Value,
        name: &'a str,
        #[serde(rename = "toolUseId")]
        tool_use_id: &'a str,
    },
}

#[derive(serde::Serialize)]
struct ReasoningOut<'a> {
    signature: &'a str,
    text: &'a str,
}

impl<'a> BlockOut<'a> {
    fn of(block: &'a ReplyBlock) -> Self {
        match block {
            ReplyBlock::Text(t) => BlockOut::Text(t),
            ReplyBlock::Reasoning { text, signature } => {
                BlockOut::Reasoning { reasoning_text: ReasoningOut { signature, text } }
            }
            ReplyBlock::ToolUse { id, name, input } => BlockOut::ToolUse { input, name, tool_use_id: id },
        }
    }
}

/// The assistant content blocks of a reply, as Converse JSON.
pub fn content_json(reply: &Reply) -> Vec<Value> {
    reply.content.iter().map(|b| serde_json::to_value(BlockOut::of(b)).unwrap_or(Value::Null)).collect()
}

/// Converse's `usage` member.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageOut {
    input_tokens: u32,
    output_tokens: u32,
    total_tokens: u32,
}

impl UsageOut {
    /// The usage of `reply`.
    pub fn of(reply: &Reply) -> Self {
        let u = reply.usage;
        UsageOut {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            total_tokens: u.input_tokens.saturating_add(u.output_tokens),
        }
    }
}

/// The usage of `reply` as Converse JSON.
pub fn usage_json(reply: &Reply) -> Value {
    serde_json::to_value(UsageOut::of(reply)).unwrap_or(Value::Null)
}

/// The `ConverseResponse` body (keys in the alphabetical order real Bedrock uses).
pub struct ConverseResponse<'a> {
    additional_model_response_fields: Option<Value>,
    latency_ms: u64,
    content: &'a [ReplyBlock],
    stop_reason: &'static str,
    /// `trace` (the guardrail's assessments), when asked for.
    pub trace: Option<Value>,
    usage: UsageOut,
}

/// The `ConverseResponse` body of `reply` to `request`.
pub fn response_json<'a>(reply: &'a Reply, request: &ConverseRequest) -> ConverseResponse<'a> {
    ConverseResponse {
        additional_model_response_fields: (!request.response_field_paths.is_empty())
            .then(|| additional_fields(reply, &request.response_field_paths)),
        latency_ms: reply.latency_ms,
        content: &reply.content,
        stop_reason: reply.stop_reason.as_str(),
        trace: None,
        usage: UsageOut::of(reply),
    }
}

impl ConverseResponse<'_> {
    /// The body as JSON bytes. Written by hand: the keys are constants, and serde's
    /// per-member and per-string overhead was most of the cost of answering a short chat turn
    /// (callgrind). Tests parse it back and compare shapes (snapshots).
    pub fn to_bytes(&self) -> Vec<u8> {
        let text_len: usize = self
            .content
            .iter()
            .map(|b| match b {
                ReplyBlock::Text(t) => t.len(),
                ReplyBlock::Reasoning { text, signature } => text.len() + signature.len(),
                ReplyBlock::ToolUse { .. } => 256,
            })
            .sum();
        let mut out = Vec::with_capacity(200 + text_len);
        out.push(b'{');
        if let Some(fields) = &self.additional_model_response_fields {
            out.extend_from_slice(b"\"additionalModelResponseFields\":");
            push_value(&mut out, fields);
            out.push(b',');
        }
        out.extend_from_slice(b"\"metrics\":{\"latencyMs\":");
        push_integer(&mut out, self.latency_ms);
        out.extend_from_slice(b"},\"output\":{\"message\":{\"content\":[");
        for (i, block) in self.content.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match block {
                ReplyBlock::Text(t) => {
                    out.extend_from_slice(b"{\"text\":");
                    push_string(&mut out, t);
                }
                ReplyBlock::Reasoning { text, signature } => {
                    out.extend_from_slice(b"{\"reasoningContent\":{\"reasoningText\":{\"signature\":");
                    push_string(&mut out, signature);
                    out.extend_from_slice(b",\"text\":");
                    push_string(&mut out, text);
                    out.extend_from_slice(b"}}");
                }
                ReplyBlock::ToolUse { id, name, input } => {
                    out.extend_from_slice(b"{\"toolUse\":{\"input\":");
                    push_value(&mut out, input);
                    out.extend_from_slice(b",\"name\":");
                    push_string(&mut out, name);
                    out.extend_from_slice(b",\"toolUseId\":");
                    push_string(&mut out, id);
                    out.push(b'}');
                }
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"role\":\"assistant\"}},\"stopReason\":");
        push_string(&mut out, self.stop_reason);
        if let Some(trace) = &self.trace {
            out.extend_from_slice(b",\"trace\":");
            push_value(&mut out, trace);
        }
        out.extend_from_slice(b",\"usage\":{\"inputTokens\":");
        push_integer(&mut out, self.usage.input_tokens);
        out.extend_from_slice(b",\"outputTokens\":");
        push_integer(&mut out, self.usage.output_tokens);
        out.extend_from_slice(b",\"totalTokens\":");
        push_integer(&mut out, self.usage.total_tokens);
        out.extend_from_slice(b"}}");
        out
    }
}

/// `additionalModelResponseFields`: the requested JSON pointers resolved against the
/// Anthropic-style native response (the only fields callers ask for in practice are
/// `/stop_sequence` and `/stop_reason`).
pub fn additional_fields(reply: &Reply, paths: &[String]) -> Value {
    let native = json!({
        "stop_reason": reply.stop_reason.as_str(),
        "stop_sequence": reply.stop_sequence,
    });
    let mut out = Map::new();
    for p in paths {
        if let Some(v) = native.pointer(p) {
            out.insert(p.trim_start_matches('/').to_string(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::catalog::Catalog;
    use crate::synthetic::SyntheticModel;
    use proptest::prelude::*;

    fn haiku() -> &'static FoundationModel {
        Catalog::builtin().model("anthropic.claude-3-haiku-20240307-v1:0").expect("haiku in catalog")
    }

    fn response_value(reply: &Reply, req: &ConverseRequest) -> Value {
        serde_json::from_slice(&response_json(reply, req).to_bytes()).expect("the body is JSON")
    }

    #[test]
    fn the_hand_written_body_escapes_like_serde_json() {
        let tricky = "quote \" backslash \\ newline \n tab \t nul \u{0} del \u{7f} é 😀 </script>";
        let reply = Reply {
            content: vec![
                ReplyBlock::Reasoning { text: tricky.into(), signature: "sig\"".into() },
                ReplyBlock::Text(tricky.into()),
                ReplyBlock::ToolUse {
                    id: "t\n1".into(),
                    name: "f".into(),
                    input: json!({"a": [1, "\u{1}"], "b": null}),
                },
            ],
            stop_reason: crate::canonical::StopReason::ToolUse,
            stop_sequence: None,
            usage: crate::canonical::Usage { input_tokens: 3, output_tokens: u32::MAX },
            latency_ms: u64::MAX,
        };
        let req = ConverseRequest {
            conversation: Default::default(),
            response_field_paths: vec!["/stop_reason".into()],
            guardrail: None,
            guard_content: Vec::new(),
            message_guard_count: 0,
            enforced: None,
            invoked_model: None,
        };
        let bytes = response_json(&reply, &req).to_bytes();
        let expected = json!({
            "additionalModelResponseFields": {"stop_reason": "tool_use"},
            "metrics": {"latencyMs": u64::MAX},
            "output": {"message": {"content": [
                {"reasoningContent": {"reasoningText": {"signature": "sig\"", "text": tricky}}},
                {"text": tricky},
                {"toolUse": {"input": {"a": [1, "\u{1}"], "b": null}, "name": "f", "toolUseId": "t\n1"}}
            ], "role": "assistant"}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 3, "outputTokens": u32::MAX, "totalTokens": u32::MAX}
        });
        // Byte for byte what serde_json writes for the same document, key order included.
        assert_eq!(String::from_utf8(bytes).expect("utf-8"), serde_json::to_string(&expected).expect("json"));
    }

    fn reply_for(body: Value) -> (ConverseRequest, Reply) {
        let req = parse(body.to_string().as_bytes(), haiku(), Mode::Unary).expect("valid request");
        let reply = SyntheticModel::new(0).reply(&haiku().model_id, &req.conversation, 4096);
        (req, reply)
    }

    #[test]
    fn the_converse_response_shape_is_stable() {
        let (req, reply) = reply_for(json!({"messages": [{"role": "user", "content": [{"text": "Hello there"}]}]}));
        insta::assert_json_snapshot!(response_value(&reply, &req));
    }

    #[test]
    fn the_tool_use_response_shape_is_stable() {
        let (req, reply) = reply_for(json!({
            "messages": [{"role": "user", "content": [{"text": "Weather in Paris?"}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
                "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}],
                "toolChoice": {"any": {}}}
        }));
        insta::assert_json_snapshot!(response_value(&reply, &req));
    }

    fn refusal(body: Value) -> String {
        match parse(body.to_string().as_bytes(), haiku(), Mode::Unary) {
            Ok(_) => "(accepted)".into(),
            Err(e) => e.message,
        }
    }

    #[test]
    fn union_members_that_are_not_structures_and_mistyped_tool_results_are_refused() {
        let tools = json!([{"toolSpec": {"name": "t", "inputSchema": {"json": {"type": "object"}}}}]);
        let choice = refusal(json!({
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "toolConfig": {"tools": tools, "toolChoice": {"auto": "yes"}}
        }));
        assert!(choice.contains("'toolConfig.toolChoice.auto'") && choice.contains("a structure"), "{choice}");
        let result = refusal(json!({
            "messages": [
                {"role": "user", "content": [{"text": "hi"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "a", "name": "t", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "a", "content": [{"text": {"not": "a string"}}]}}]}
            ],
            "toolConfig": {"tools": tools}
        }));
        assert!(result.contains("toolResult.content.1.member.text") && result.contains("a string"), "{result}");
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-10.0f64..10.0).prop_map(|f| json!(f)),
            prop_oneof![
                Just("user".to_string()),
                Just("assistant".to_string()),
                Just("text".to_string()),
                ".{0,12}".prop_map(|s| s)
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            let keys = prop_oneof![
                Just("messages".to_string()),
                Just("role".to_string()),
                Just("content".to_string()),
                Just("text".to_string()),
                Just("toolUse".to_string()),
                Just("toolResult".to_string()),
                Just("image".to_string()),
                Just("document".to_string()),
                Just("source".to_string()),
                Just("toolConfig".to_string()),
                Just("tools".to_string()),
                Just("toolSpec".to_string()),
                Just("inferenceConfig".to_string()),
                Just("maxTokens".to_string()),
                Just("system".to_string()),
                "[a-z]{1,8}".prop_map(|s| s),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_parser_never_panics_on_arbitrary_json(body in arb_json(), stream in any::<bool>()) {
            let mode = if stream { Mode::Stream } else { Mode::Unary };
            let _ = parse(body.to_string().as_bytes(), haiku(), mode);
        }

        #[test]
        fn the_parser_never_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&body, haiku(), Mode::Unary);
        }

        #[test]
        fn any_valid_text_conversation_gets_a_reply_with_consistent_usage(texts in prop::collection::vec("[a-zA-Z ,.!?]{0,40}[a-z]", 1..6), max in 1u32..200) {
            let messages: Vec<Value> = texts.iter().enumerate().map(|(i, t)| json!({
                "role": if i % 2 == 0 { "user" } else { "assistant" },
                "content": [{"text": t}]
            })).collect();
            let mut messages = messages;
            if messages.len() % 2 == 0 { messages.pop(); }
            let body = json!({"messages": messages, "inferenceConfig": {"maxTokens": max}});
            let (_, reply) = reply_for(body);
            prop_assert!(reply.usage.output_tokens <= max);
            prop_assert!(reply.usage.input_tokens > 0);
        }
    }
}
