//! Amazon Nova Sonic's speech-to-speech event protocol (`InvokeModelWithBidirectionalStream`):
//! the input events a client sends, validated in order, and the output events a turn is
//! answered with. Each event is one JSON document `{"event": {<name>: {…}}}`; `api::bidi_stream`
//! carries them in event-stream `chunk` frames.
//!
//! A session is `sessionStart`, then prompts (`promptStart` … `promptEnd`), each holding content
//! blocks (`contentStart`, `textInput` / `audioInput` / `toolResult`, `contentEnd`), then
//! `sessionEnd`. A user turn ends — and the model answers — when:
//! * an interactive USER text block ends (cross-modal text input);
//! * the user's audio, after at least [`MIN_SPEECH_MS`] of speech, falls silent for
//!   [`END_OF_TURN_SILENCE_MS`] (clients keep one audio block open all session, as the AWS
//!   samples do), or its block ends with speech not yet answered;
//! * a tool result block ends (the model goes on after its tool use).
//!
//! Audio is 16-bit little-endian mono LPCM, as Nova Sonic takes it. The emulator does not
//! recognise speech: the user's transcript is a placeholder naming how much speech was heard,
//! and the spoken answer is a quiet tone as long as its words would take to say. Output JSON
//! keys are in alphabetical order, as the service writes them.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::canonical::{Block, Conversation, InferenceConfig, Message, Reply, ReplyBlock, Role, ToolSpec};
use crate::rng::SplitMix64;
use crate::synthetic::tokenizer;
use crate::wire::error::{BedrockError, ErrorCode};

/// Speech the user must have spoken before silence can end their turn.
pub const MIN_SPEECH_MS: u32 = 100;
/// Silence after speech that ends a user's turn.
pub const END_OF_TURN_SILENCE_MS: u32 = 600;
/// Mean absolute sample value of a 20 ms frame above which it counts as speech (about −40 dBFS).
pub const SPEECH_LEVEL: u32 = 300;
/// How long the spoken answer takes per word.
pub const SPOKEN_MS_PER_WORD: u32 = 300;
/// Speech tokens per second of audio, for usage events.
pub const SPEECH_TOKENS_PER_SECOND: u32 = 25;
/// Audio in one `audioOutput` event.
pub const AUDIO_CHUNK_MS: u32 = 100;
/// Content blocks a prompt may hold open at once.
pub const MAX_OPEN_CONTENTS: usize = 16;
/// Text a content block may gather (its events are bounded by the frame limit; this bounds
/// their sum).
pub const MAX_CONTENT_TEXT: usize = 1_000_000;
/// Text a whole session's conversation may hold (system prompt, history and turns): past it
/// the session ends, so one client cannot make it hold or re-read without bound.
pub const MAX_SESSION_TEXT: usize = 2_000_000;
/// The message Nova Sonic sends for input it cannot read.
pub const INVALID_INPUT: &str = "Invalid input request, please fix your input and try again.";

/// The voices of `audioOutputConfiguration.voiceId`.
const VOICES: &[&str] =
    &["matthew", "tiffany", "amy", "lupe", "carlos", "ambre", "florian", "greta", "lennart", "beatrice", "lorenzo"];
const SAMPLE_RATES: &[u64] = &[8000, 16000, 24000];

fn invalid(message: impl Into<String>) -> BedrockError {
    BedrockError::new(ErrorCode::ValidationException, message)
}

/// One output event and the generated tokens it carries (for pacing).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputEvent {
    /// `{"event": {…}}`.
    pub json: Value,
    /// Text or speech tokens in it (0 for bookkeeping events).
    pub tokens: u32,
}

/// What an input event led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Send these (often none).
    Events(Vec<OutputEvent>),
    /// The user's turn ended: send `before`, then answer `conversation` and call
    /// [`Session::answer`].
    Turn {
        /// What precedes the answer (`completionStart`, the user's transcript).
        before: Vec<OutputEvent>,
        /// The whole conversation so far, the user's turn last.
        conversation: Box<Conversation>,
    },
    /// `sessionEnd`: send these, then end the stream.
    End(Vec<OutputEvent>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Audio,
    Tool,
}

#[derive(Debug)]
struct Content {
    name: String,
    kind: Kind,
    role: String,
    interactive: bool,
    text: String,
    tool_use_id: String,
    voice: Voice,
}

/// Turn detection over one audio block.
#[derive(Debug, Default)]
struct Voice {
    sample_rate: u32,
    /// A byte left over from an odd-length chunk.
    odd: Option<u8>,
    /// Samples of the 20 ms frame being measured, and their absolute sum.
    frame_samples: u32,
    frame_level: u64,
    /// Speech heard since the last answered turn, and the silence after it.
    speech_ms: u32,
    silence_ms: u32,
}

impl Voice {
    fn frame_len(&self) -> u32 {
        (self.sample_rate / 50).max(1)
    }

    /// Feeds samples; true when they end a turn.
    fn hear(&mut self, bytes: &[u8]) -> bool {
        let mut ended = false;
        let mut i = 0;
        let sample = |lo: u8, hi: u8, v: &mut Voice| {
            v.frame_level += u64::from(i16::from_le_bytes([lo, hi]).unsigned_abs());
            v.frame_samples += 1;
            if v.frame_samples == v.frame_len() {
                let speech = v.frame_level / u64::from(v.frame_samples) >= u64::from(SPEECH_LEVEL);
                v.frame_samples = 0;
                v.frame_level = 0;
                if speech {
                    v.speech_ms = v.speech_ms.saturating_add(20);
                    v.silence_ms = 0;
                } else if v.speech_ms >= MIN_SPEECH_MS {
                    v.silence_ms = v.silence_ms.saturating_add(20);
                    if v.silence_ms >= END_OF_TURN_SILENCE_MS {
                        return true;
                    }
                }
            }
            false
        };
        if let Some(lo) = self.odd.take() {
            if let Some(&hi) = bytes.first() {
                ended |= sample(lo, hi, self);
                i = 1;
            } else {
                self.odd = Some(lo);
            }
        }
        while i + 1 < bytes.len() {
            ended |= sample(bytes[i], bytes[i + 1], self);
            i += 2;
        }
        if i < bytes.len() {
            self.odd = Some(bytes[i]);
        }
        ended
    }

    /// The speech heard since the last turn, forgotten.
    fn take_speech(&mut self) -> u32 {
        self.silence_ms = 0;
        std::mem::take(&mut self.speech_ms)
    }
}

#[derive(Debug)]
struct Prompt {
    name: String,
    /// The echoed `audioOutputConfiguration` (without `voiceId` and `audioType`).
    audio_out: Value,
    sample_rate: u32,
    completion_id: Option<String>,
    contents: Vec<Content>,
    /// Tool uses answered with no result yet.
    pending_tools: Vec<String>,
}

/// Token counts of a prompt so far.
#[derive(Debug, Default, Clone, Copy)]
struct Tokens {
    input_speech: u32,
    input_text: u32,
    output_speech: u32,
    output_text: u32,
}

/// One bidirectional session's protocol state.
#[derive(Debug)]
pub struct Session {
    rng: SplitMix64,
    session_id: String,
    started: bool,
    ended: bool,
    inference: InferenceConfig,
    prompt: Option<Prompt>,
    conversation: Conversation,
    total: Tokens,
    /// Input tokens not yet reported in a usage event.
    unreported_input: Tokens,
    /// Bytes of text the conversation holds.
    text_bytes: usize,
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, BedrockError> {
    v.as_object().ok_or_else(|| invalid(format!("{what} must be a JSON object. {INVALID_INPUT}")))
}

fn string<'a>(m: &'a Map<String, Value>, key: &str, event: &str) -> Result<&'a str, BedrockError> {
    match m.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(invalid(format!("{event}.{key} must be a non-empty string. {INVALID_INPUT}"))),
    }
}

impl Session {
    /// A session whose ids derive from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let session_id = rng.uuid();
        Session {
            rng,
            session_id,
            started: false,
            ended: false,
            inference: InferenceConfig::default(),
            prompt: None,
            conversation: Conversation::default(),
            total: Tokens::default(),
            unreported_input: Tokens::default(),
            text_bytes: 0,
        }
    }

    /// Whether `sessionEnd` was received.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Whether `sessionStart` was received.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Reads one input event (the decoded `bytes` of a `chunk`).
    pub fn accept(&mut self, bytes: &[u8]) -> Result<Progress, BedrockError> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|_| invalid(INVALID_INPUT))?;
        let event = doc.get("event").and_then(Value::as_object).ok_or_else(|| invalid(INVALID_INPUT))?;
        let mut members = event.iter();
        let (Some((name, body)), None) = (members.next(), members.next()) else {
            return Err(invalid(format!("An input event must hold exactly one event. {INVALID_INPUT}")));
        };
        if self.ended {
            return Err(invalid("An input event was sent after sessionEnd."));
        }
        if !self.started && name != "sessionStart" {
            return Err(invalid(format!("The first input event must be sessionStart, not {name}.")));
        }
        let body = object(body, name)?;
        match name.as_str() {
            "sessionStart" => self.session_start(body),
            "promptStart" => self.prompt_start(body),
            "contentStart" => self.content_start(body),
            "textInput" | "toolResult" => self.text_input(name, body),
            "audioInput" => self.audio_input(body),
            "contentEnd" => self.content_end(body),
            "promptEnd" => self.prompt_end(body),
            "sessionEnd" => {
                if let Some(p) = &self.prompt {
                    return Err(invalid(format!("sessionEnd was sent while prompt {} is open: end it first.", p.name)));
                }
                self.ended = true;
                Ok(Progress::End(Vec::new()))
            }
            other => Err(invalid(format!("Unknown input event {other}. {INVALID_INPUT}"))),
        }
    }

    fn session_start(&mut self, body: &Map<String, Value>) -> Result<Progress, BedrockError> {
        if self.started {
            return Err(invalid("sessionStart was sent twice."));
        }
        let config = match body.get("inferenceConfiguration") {
            Some(v) => object(v, "sessionStart.inferenceConfiguration")?.clone(),
            None => Map::new(),
        };
        let number = |key: &str, lo: f64, hi: f64| -> Result<Option<f64>, BedrockError> {
            match config.get(key) {
                None => Ok(None),
                Some(v) => match v.as_f64() {
                    Some(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
                    _ => Err(invalid(format!(
                        "sessionStart.inferenceConfiguration.{key} must be a number from {lo} to {hi}."
                    ))),
                },
            }
        };
        self.inference.max_tokens = match config.get("maxTokens") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=10_000) => Some(n as u32),
                _ => {
                    return Err(invalid(
                        "sessionStart.inferenceConfiguration.maxTokens must be an integer from 1 to 10000.",
                    ))
                }
            },
        };
        self.inference.temperature = number("temperature", 0.0, 1.0)?;
        self.inference.top_p = number("topP", 0.0, 1.0)?;
        self.conversation.inference = self.inference.clone();
        self.started = true;
        Ok(Progress::Events(Vec::new()))
    }

    fn prompt_start(&mut self, body: &Map<String, Value>) -> Result<Progress, BedrockError> {
        if let Some(p) = &self.prompt {
            return Err(invalid(format!("promptStart was sent while prompt {} is open.", p.name)));
        }
        let name = string(body, "promptName", "promptStart")?.to_string();
        let audio = match body.get("audioOutputConfiguration") {
            Some(v) => object(v, "promptStart.audioOutputConfiguration")?.clone(),
            None => return Err(invalid("promptStart.audioOutputConfiguration is required.")),
        };
        match audio.get("voiceId").and_then(Value::as_str) {
            Some(v) if !v.is_empty() => {
                if !VOICES.contains(&v) {
                    return Err(invalid(format!("Received invalid voiceId: {v} is not one of {}", VOICES.join(", "))));
                }
            }
            _ => return Err(invalid("Received invalid voiceId: value must not be empty")),
        }
        let sample_rate = audio_format(&audio, "promptStart.audioOutputConfiguration")?;
        let mut tools = Vec::new();
        if let Some(config) = body.get("toolConfiguration") {
            let specs = config.get("tools").and_then(Value::as_array).ok_or_else(|| invalid(INVALID_INPUT))?;
            for t in specs {
                let spec = t.get("toolSpec").and_then(Value::as_object).ok_or_else(|| invalid(INVALID_INPUT))?;
                let tool_name = string(spec, "name", "toolSpec")?;
                // The schema is JSON text (`inputSchema.json`), as Nova Sonic takes it.
                let schema = spec
                    .get("inputSchema")
                    .and_then(|s| s.get("json"))
                    .and_then(Value::as_str)
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    .filter(Value::is_object)
                    .ok_or_else(|| invalid(INVALID_INPUT))?;
                tools.push(ToolSpec {
                    name: tool_name.to_string(),
                    description: spec.get("description").and_then(Value::as_str).map(str::to_string),
                    input_schema: schema,
                });
            }
        }
        self.conversation.tools = tools;
        let audio_out = json!({
            "channelCount": 1,
            "encoding": "base64",
            "mediaType": "audio/lpcm",
            "sampleRateHertz": sample_rate,
            "sampleSizeBits": 16,
        });
        self.prompt = Some(Prompt {
            name,
            audio_out,
            sample_rate,
            completion_id: None,
            contents: Vec::new(),
            pending_tools: Vec::new(),
        });
        Ok(Progress::Events(Vec::new()))
    }

    fn open_prompt<'a>(
        prompt: &'a mut Option<Prompt>,
        body: &Map<String, Value>,
        event: &str,
    ) -> Result<&'a mut Prompt, BedrockError> {
        let name = string(body, "promptName", event)?;
        match prompt {
            Some(p) if p.name != name => {
                Err(invalid(format!("{event} names prompt {name}, but the open prompt is {}.", p.name)))
            }
            Some(p) => Ok(p),
            None => Err(invalid(format!("{event} was sent with no open prompt: send promptStart first."))),
        }
    }

    fn content_start(&mut self, body: &Map<String, Value>) -> Result<Progress, BedrockError> {
        let content_name = string(body, "contentName", "contentStart")?.to_string();
        let kind = match body.get("type").and_then(Value::as_str) {
            Some("TEXT") => Kind::Text,
            Some("AUDIO") => Kind::Audio,
            Some("TOOL") => Kind::Tool,
            _ => return Err(invalid("contentStart.type must be TEXT, AUDIO or TOOL.")),
        };
        let role = body.get("role").and_then(Value::as_str).unwrap_or_default().to_string();
        let allowed: &[&str] = match kind {
            Kind::Text => &["SYSTEM", "USER", "ASSISTANT"],
            Kind::Audio => &["USER"],
            Kind::Tool => &["TOOL"],
        };
        if !allowed.contains(&role.as_str()) {
            return Err(invalid(format!(
                "contentStart.role of a {} block must be {}.",
                body.get("type").and_then(Value::as_str).unwrap_or_default(),
                allowed.join(" or ")
            )));
        }
        let interactive = body.get("interactive").and_then(Value::as_bool).unwrap_or(false);
        let mut voice = Voice::default();
        let mut tool_use_id = String::new();
        match kind {
            Kind::Text => {
                if !body.get("textInputConfiguration").is_some_and(Value::is_object) {
                    return Err(invalid("contentStart.textInputConfiguration is required for a TEXT block."));
                }
            }
            Kind::Audio => {
                let config = body
                    .get("audioInputConfiguration")
                    .and_then(Value::as_object)
                    .ok_or_else(|| invalid("contentStart.audioInputConfiguration is required for an AUDIO block."))?;
                voice.sample_rate = audio_format(config, "contentStart.audioInputConfiguration")?;
            }
            Kind::Tool => {
                let config = body.get("toolResultInputConfiguration").and_then(Value::as_object).ok_or_else(|| {
                    invalid("contentStart.toolResultInputConfiguration is required for a TOOL block.")
                })?;
                tool_use_id = string(config, "toolUseId", "toolResultInputConfiguration")?.to_string();
            }
        }
        let prompt = Self::open_prompt(&mut self.prompt, body, "contentStart")?;
        if prompt.contents.iter().any(|c| c.name == content_name) {
            return Err(invalid(format!("Content {content_name} is already open.")));
        }
        if prompt.contents.len() >= MAX_OPEN_CONTENTS {
            return Err(invalid(format!("A prompt may hold at most {MAX_OPEN_CONTENTS} open content blocks.")));
        }
        if kind == Kind::Tool && !prompt.pending_tools.contains(&tool_use_id) {
            return Err(invalid(format!("No tool use {tool_use_id} awaits a result in this prompt.")));
        }
        prompt.contents.push(Content {
            name: content_name,
            kind,
            role,
            interactive,
            text: String::new(),
            tool_use_id,
            voice,
        });
        Ok(Progress::Events(Vec::new()))
    }

    fn open_content<'a>(
        prompt: &'a mut Prompt,
        body: &Map<String, Value>,
        event: &str,
    ) -> Result<&'a mut Content, BedrockError> {
        let name = string(body, "contentName", event)?;
        prompt
            .contents
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| invalid(format!("{event} names content {name}, which is not open.")))
    }

    fn text_input(&mut self, event: &str, body: &Map<String, Value>) -> Result<Progress, BedrockError> {
        let prompt = Self::open_prompt(&mut self.prompt, body, event)?;
        let content = Self::open_content(prompt, body, event)?;
        let want = if event == "toolResult" { Kind::Tool } else { Kind::Text };
        if content.kind != want {
            return Err(invalid(format!(
                "{event} was sent into content {}, which is not a {:?} block.",
                content.name, want
            )));
        }
        let text = body
            .get("content")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{event}.content must be a string. {INVALID_INPUT}")))?;
        if content.text.len() + text.len() > MAX_CONTENT_TEXT {
            return Err(invalid(format!("A content block may hold at most {MAX_CONTENT_TEXT} bytes of text.")));
        }
        content.text.push_str(text);
        Ok(Progress::Events(Vec::new()))
    }

    fn audio_input(&mut self, body: &Map<String, Value>) -> Result<Progress, BedrockError> {
        let prompt = Self::open_prompt(&mut self.prompt, body, "audioInput")?;
        let content = Self::open_content(prompt, body, "audioInput")?;
        if content.kind != Kind::Audio {
            return Err(invalid(format!(
                "audioInput was sent into content {}, which is not an AUDIO block.",
                content.name
            )));
        }
        let encoded = body.get("content").and_then(Value::as_str).unwrap_or_default();
        let audio = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| invalid(format!("audioInput.content must be base64-encoded audio. {INVALID_INPUT}")))?;
        if content.voice.hear(&audio) {
            let speech_ms = content.voice.take_speech();
            return Ok(self.user_turn(UserInput::Speech(speech_ms)));
        }
        Ok(Progress::Events(Vec::new()))
    }

    fn content_end(&mut self, body: &Map<String, Value>) -> Result<Progress, BedrockError> {
        let prompt = Self::open_prompt(&mut self.prompt, body, "contentEnd")?;
        let name = string(body, "contentName", "contentEnd")?;
        let at = prompt
            .contents
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| invalid(format!("contentEnd names content {name}, which is not open.")))?;
        let mut content = prompt.contents.remove(at);
        self.text_bytes = self.text_bytes.saturating_add(content.text.len());
        if self.text_bytes > MAX_SESSION_TEXT {
            return Err(invalid(format!(
                "The session's conversation holds more than {MAX_SESSION_TEXT} bytes of text. {}",
                crate::families::INPUT_TOO_LONG
            )));
        }
        match (content.kind, content.role.as_str()) {
            (Kind::Text, "SYSTEM") => {
                self.unreported_input.input_text += tokenizer::count(&content.text);
                self.conversation.system.push(content.text);
                Ok(Progress::Events(Vec::new()))
            }
            (Kind::Text, "USER") if content.interactive => Ok(self.user_turn(UserInput::Text(content.text))),
            (Kind::Text, role) => {
                // History: earlier turns given as text, answered by nothing.
                self.unreported_input.input_text += tokenizer::count(&content.text);
                let role = if role == "USER" { Role::User } else { Role::Assistant };
                self.conversation.messages.push(Message { role, content: vec![Block::Text(content.text)] });
                Ok(Progress::Events(Vec::new()))
            }
            (Kind::Audio, _) => {
                let speech_ms = content.voice.take_speech();
                if speech_ms >= MIN_SPEECH_MS {
                    Ok(self.user_turn(UserInput::Speech(speech_ms)))
                } else {
                    Ok(Progress::Events(Vec::new()))
                }
            }
            (Kind::Tool, _) => {
                prompt.pending_tools.retain(|id| id != &content.tool_use_id);
                self.unreported_input.input_text += tokenizer::count(&content.text);
                Ok(self.user_turn(UserInput::ToolResult { id: content.tool_use_id, text: content.text }))
            }
        }
    }

    fn prompt_end(&mut self, body: &Map<String, Value>) -> Result<Progress, BedrockError> {
        let prompt = Self::open_prompt(&mut self.prompt, body, "promptEnd")?;
        if !prompt.contents.is_empty() {
            return Err(invalid("Error(s):\nError 1 : All contents must be closed before ending prompt"));
        }
        let mut events = Vec::new();
        if let Some(completion) = prompt.completion_id.take() {
            let ids = Ids { session: &self.session_id, prompt: &prompt.name, completion: &completion };
            events.push(event(
                "completionEnd",
                json!({
                    "completionId": ids.completion,
                    "promptName": ids.prompt,
                    "sessionId": ids.session,
                    "stopReason": "END_TURN",
                }),
                0,
            ));
        }
        self.prompt = None;
        Ok(Progress::Events(events))
    }

    fn user_turn(&mut self, input: UserInput) -> Progress {
        let mut before = Vec::new();
        let Some(prompt) = &mut self.prompt else { return Progress::Events(before) };
        let completion = match &prompt.completion_id {
            Some(c) => c.clone(),
            None => {
                let c = self.rng.uuid();
                prompt.completion_id = Some(c.clone());
                before.push(event(
                    "completionStart",
                    json!({"completionId": c, "promptName": prompt.name, "sessionId": self.session_id}),
                    0,
                ));
                c
            }
        };
        let block = match input {
            UserInput::Speech(ms) => {
                let tokens = u64::from(ms) * u64::from(SPEECH_TOKENS_PER_SECOND) / 1000;
                self.unreported_input.input_speech =
                    self.unreported_input.input_speech.saturating_add(u32::try_from(tokens).unwrap_or(u32::MAX));
                let transcript = format!("[{:.1} seconds of speech]", f64::from(ms) / 1000.0);
                let content_id = self.rng.uuid();
                let ids = Ids { session: &self.session_id, prompt: &prompt.name, completion: &completion };
                before.extend(text_block(&ids, &content_id, "USER", "FINAL", &transcript, "PARTIAL_TURN"));
                Block::Text(transcript)
            }
            UserInput::Text(text) => {
                self.unreported_input.input_text += tokenizer::count(&text);
                Block::Text(text)
            }
            UserInput::ToolResult { id, text } => Block::ToolResult { id, text, is_error: false },
        };
        // Consecutive user blocks (a tool result after the user's words) share one message.
        match self.conversation.messages.last_mut() {
            Some(m) if m.role == Role::User && matches!(block, Block::ToolResult { .. }) => m.content.push(block),
            _ => self.conversation.messages.push(Message { role: Role::User, content: vec![block] }),
        }
        Progress::Turn { before, conversation: Box::new(self.conversation.clone()) }
    }

    /// The output events that answer the turn [`Progress::Turn`] announced.
    pub fn answer(&mut self, reply: &Reply) -> Vec<OutputEvent> {
        let Some(prompt) = &mut self.prompt else { return Vec::new() };
        let Some(completion) = prompt.completion_id.clone() else { return Vec::new() };
        let ids = Ids { session: &self.session_id, prompt: &prompt.name, completion: &completion };
        let mut events = Vec::new();
        let mut output = Tokens::default();
        let mut assistant = Vec::new();
        let text = reply.text();
        let sentences = sentences(&text);
        let mut whole_chunk: Option<String> = None;
        for (i, sentence) in sentences.iter().enumerate() {
            let last = i + 1 == sentences.len();
            let stop = if last { "END_TURN" } else { "PARTIAL_TURN" };
            output.output_text += tokenizer::count(sentence);
            events.extend(text_block(&ids, &self.rng.uuid(), "ASSISTANT", "SPECULATIVE", sentence, "PARTIAL_TURN"));
            let content_id = self.rng.uuid();
            events.push(event(
                "contentStart",
                json!({
                    "audioOutputConfiguration": prompt.audio_out,
                    "completionId": ids.completion,
                    "contentId": content_id,
                    "promptName": ids.prompt,
                    "role": "ASSISTANT",
                    "sessionId": ids.session,
                    "type": "AUDIO",
                }),
                0,
            ));
            let spoken_ms = words(sentence).saturating_mul(SPOKEN_MS_PER_WORD);
            let mut at = 0;
            while at < spoken_ms {
                let ms = AUDIO_CHUNK_MS.min(spoken_ms - at);
                let speech_tokens = (ms * SPEECH_TOKENS_PER_SECOND).div_ceil(1000);
                output.output_speech += speech_tokens;
                // Every whole chunk starts on a whole number of the tone's cycles, so all of
                // them are the same bytes: encode that chunk once per answer, not per chunk.
                let content = if ms == AUDIO_CHUNK_MS {
                    whole_chunk
                        .get_or_insert_with(|| {
                            base64::engine::general_purpose::STANDARD.encode(tone(prompt.sample_rate, 0, ms))
                        })
                        .clone()
                } else {
                    base64::engine::general_purpose::STANDARD.encode(tone(prompt.sample_rate, at, ms))
                };
                events.push(event(
                    "audioOutput",
                    json!({
                        "completionId": ids.completion,
                        "content": content,
                        "contentId": content_id,
                        "promptName": ids.prompt,
                        "role": "ASSISTANT",
                        "sessionId": ids.session,
                    }),
                    speech_tokens,
                ));
                at += ms;
            }
            events.push(content_end(&ids, &content_id, stop, "AUDIO"));
            let mut final_text = text_block(&ids, &self.rng.uuid(), "ASSISTANT", "FINAL", sentence, stop);
            // The transcript of what was said carries no new tokens: they were counted once.
            for e in &mut final_text {
                e.tokens = 0;
            }
            events.extend(final_text);
        }
        if !text.is_empty() {
            assistant.push(Block::Text(text.clone()));
        }
        for block in &reply.content {
            let ReplyBlock::ToolUse { id, name, input } = block else { continue };
            let content_id = self.rng.uuid();
            let arguments = input.to_string();
            output.output_text += tokenizer::count(name) + tokenizer::count(&arguments);
            events.push(event(
                "contentStart",
                json!({
                    "completionId": ids.completion,
                    "contentId": content_id,
                    "promptName": ids.prompt,
                    "role": "TOOL",
                    "sessionId": ids.session,
                    "toolUseOutputConfiguration": {"mediaType": "application/json"},
                    "type": "TOOL",
                }),
                0,
            ));
            events.push(event(
                "toolUse",
                json!({
                    "completionId": ids.completion,
                    "content": arguments,
                    "contentId": content_id,
                    "promptName": ids.prompt,
                    "sessionId": ids.session,
                    "toolName": name,
                    "toolUseId": id,
                }),
                tokenizer::count(&arguments).max(1),
            ));
            events.push(content_end(&ids, &content_id, "TOOL_USE", "TOOL"));
            prompt.pending_tools.push(id.clone());
            assistant.push(Block::ToolUse { id: id.clone(), name: name.clone(), input: input.clone() });
        }
        if !assistant.is_empty() {
            self.conversation.messages.push(Message { role: Role::Assistant, content: assistant });
        }
        let delta =
            Tokens { output_speech: output.output_speech, output_text: output.output_text, ..self.unreported_input };
        self.unreported_input = Tokens::default();
        self.total.input_speech = self.total.input_speech.saturating_add(delta.input_speech);
        self.total.input_text = self.total.input_text.saturating_add(delta.input_text);
        self.total.output_speech = self.total.output_speech.saturating_add(delta.output_speech);
        self.total.output_text = self.total.output_text.saturating_add(delta.output_text);
        events.push(usage_event(&ids, delta, self.total));
        events
    }
}

enum UserInput {
    Speech(u32),
    Text(String),
    ToolResult { id: String, text: String },
}

struct Ids<'a> {
    session: &'a str,
    prompt: &'a str,
    completion: &'a str,
}

fn event(name: &str, body: Value, tokens: u32) -> OutputEvent {
    let mut inner = Map::new();
    inner.insert(name.to_string(), body);
    OutputEvent { json: json!({"event": Value::Object(inner)}), tokens }
}

fn content_end(ids: &Ids<'_>, content_id: &str, stop: &str, kind: &str) -> OutputEvent {
    event(
        "contentEnd",
        json!({
            "completionId": ids.completion,
            "contentId": content_id,
            "promptName": ids.prompt,
            "sessionId": ids.session,
            "stopReason": stop,
            "type": kind,
        }),
        0,
    )
}

fn text_block(ids: &Ids<'_>, content_id: &str, role: &str, stage: &str, text: &str, stop: &str) -> Vec<OutputEvent> {
    vec![
        event(
            "contentStart",
            json!({
                "additionalModelFields": format!("{{\"generationStage\":\"{stage}\"}}"),
                "completionId": ids.completion,
                "contentId": content_id,
                "promptName": ids.prompt,
                "role": role,
                "sessionId": ids.session,
                "textOutputConfiguration": {"mediaType": "text/plain"},
                "type": "TEXT",
            }),
            0,
        ),
        event(
            "textOutput",
            json!({
                "completionId": ids.completion,
                "content": text,
                "contentId": content_id,
                "promptName": ids.prompt,
                "role": role,
                "sessionId": ids.session,
            }),
            tokenizer::count(text),
        ),
        content_end(ids, content_id, stop, "TEXT"),
    ]
}

fn usage_event(ids: &Ids<'_>, delta: Tokens, total: Tokens) -> OutputEvent {
    let part = |t: Tokens| {
        json!({
            "input": {"speechTokens": t.input_speech, "textTokens": t.input_text},
            "output": {"speechTokens": t.output_speech, "textTokens": t.output_text},
        })
    };
    let input = u64::from(total.input_speech) + u64::from(total.input_text);
    let output = u64::from(total.output_speech) + u64::from(total.output_text);
    event(
        "usageEvent",
        json!({
            "completionId": ids.completion,
            "details": {"delta": part(delta), "total": part(total)},
            "promptName": ids.prompt,
            "sessionId": ids.session,
            "totalInputTokens": input,
            "totalOutputTokens": output,
            "totalTokens": input + output,
        }),
        0,
    )
}

/// Checks an LPCM audio configuration; its sample rate.
fn audio_format(config: &Map<String, Value>, what: &str) -> Result<u32, BedrockError> {
    if config.get("mediaType").and_then(Value::as_str) != Some("audio/lpcm") {
        return Err(invalid(format!("{what}.mediaType must be audio/lpcm.")));
    }
    if let Some(e) = config.get("encoding").and_then(Value::as_str).filter(|e| *e != "base64") {
        return Err(invalid(format!("{what}.encoding must be base64, not {e}.")));
    }
    for (key, want) in [("sampleSizeBits", 16), ("channelCount", 1)] {
        if config.get(key).is_some_and(|v| v.as_u64() != Some(want)) {
            return Err(invalid(format!("{what}.{key} must be {want}.")));
        }
    }
    match config.get("sampleRateHertz").and_then(Value::as_u64) {
        Some(rate) if SAMPLE_RATES.contains(&rate) => Ok(rate as u32),
        _ => Err(invalid(format!("{what}.sampleRateHertz must be 8000, 16000 or 24000."))),
    }
}

/// The reply's text cut after each sentence's closing punctuation (whitespace trimmed).
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        if matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|n| n.is_whitespace()) {
            let s = current.trim();
            if !s.is_empty() {
                out.push(s.to_string());
            }
            current.clear();
        }
    }
    let s = current.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
    out
}

fn words(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX).max(1)
}

/// `ms` milliseconds of a quiet 220 Hz tone starting `from_ms` in, as 16-bit LE samples.
/// [`AUDIO_CHUNK_MS`] holds 22 whole cycles, so a chunk starting at a multiple of it is the
/// same as the chunk starting at 0.
const _: () = assert!(AUDIO_CHUNK_MS * 220 % 1000 == 0);
fn tone(sample_rate: u32, from_ms: u32, ms: u32) -> Vec<u8> {
    let start = u64::from(sample_rate) * u64::from(from_ms) / 1000;
    let n = u64::from(sample_rate) * u64::from(ms) / 1000;
    let mut out = Vec::with_capacity(n as usize * 2);
    for i in start..start + n {
        let phase = (i as f64) * 220.0 * std::f64::consts::TAU / f64::from(sample_rate);
        let sample = (phase.sin() * 2000.0) as i16;
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests;
