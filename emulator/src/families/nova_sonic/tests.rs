use super::*;
use crate::canonical::{StopReason, Usage};

const PROMPT: &str = "p";

fn send(s: &mut Session, event: Value) -> Result<Progress, BedrockError> {
    s.accept(&serde_json::to_vec(&json!({ "event": event })).expect("json"))
}

fn ok(s: &mut Session, event: Value) -> Progress {
    send(s, event.clone()).unwrap_or_else(|e| panic!("{event}: {}", e.message))
}

fn opened() -> Session {
    let mut s = Session::new(7);
    ok(
        &mut s,
        json!({"sessionStart": {"inferenceConfiguration": {"maxTokens": 1024, "topP": 0.9, "temperature": 0.7}}}),
    );
    ok(
        &mut s,
        json!({"promptStart": {
            "promptName": PROMPT,
            "textOutputConfiguration": {"mediaType": "text/plain"},
            "audioOutputConfiguration": {"mediaType": "audio/lpcm", "sampleRateHertz": 24000, "sampleSizeBits": 16,
                "channelCount": 1, "voiceId": "matthew", "encoding": "base64", "audioType": "SPEECH"},
        }}),
    );
    s
}

fn audio_block(s: &mut Session, name: &str) {
    ok(
        s,
        json!({"contentStart": {"promptName": PROMPT, "contentName": name, "type": "AUDIO", "interactive": true, "role": "USER",
            "audioInputConfiguration": {"mediaType": "audio/lpcm", "sampleRateHertz": 16000, "sampleSizeBits": 16,
                "channelCount": 1, "audioType": "SPEECH", "encoding": "base64"}}}),
    );
}

fn pcm(speech_ms: u32, silence_ms: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..(speech_ms + silence_ms) * 16 {
        let v = if i < speech_ms * 16 { ((f64::from(i) * 0.17).sin() * 8000.0) as i16 } else { 0 };
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn audio(s: &mut Session, name: &str, bytes: &[u8]) -> Vec<Progress> {
    bytes
        .chunks(1024)
        .map(|c| {
            ok(
                s,
                json!({"audioInput": {"promptName": PROMPT, "contentName": name,
                    "content": base64::engine::general_purpose::STANDARD.encode(c)}}),
            )
        })
        .collect()
}

fn reply(text: &str) -> Reply {
    Reply {
        content: vec![ReplyBlock::Text(text.to_string())],
        stop_reason: StopReason::EndTurn,
        stop_sequence: None,
        usage: Usage { input_tokens: 1, output_tokens: 1 },
        latency_ms: 0,
    }
}

fn names(events: &[OutputEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.json["event"].as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default())
        .collect()
}

#[test]
fn speech_then_silence_ends_the_users_turn_and_the_answer_follows_the_documented_order() {
    let mut s = opened();
    audio_block(&mut s, "a");
    let progress = audio(&mut s, "a", &pcm(1200, 800));
    let turns: Vec<_> = progress.into_iter().filter(|p| matches!(p, Progress::Turn { .. })).collect();
    assert_eq!(turns.len(), 1, "one turn");
    let Progress::Turn { before, conversation } = &turns[0] else { unreachable!() };
    assert_eq!(names(before), ["completionStart", "contentStart", "textOutput", "contentEnd"]);
    assert_eq!(before[2].json["event"]["textOutput"]["content"], "[1.2 seconds of speech]");
    assert_eq!(conversation.last_user_text(), "[1.2 seconds of speech]");
    let answer = s.answer(&reply("Hello there. How are you?"));
    let n = names(&answer);
    // Per sentence: speculative text, audio, final text; then the usage.
    assert_eq!(n.iter().filter(|e| *e == "textOutput").count(), 4);
    assert_eq!(n.last().map(String::as_str), Some("usageEvent"));
    let ends: Vec<_> = answer.iter().filter_map(|e| e.json["event"]["contentEnd"]["stopReason"].as_str()).collect();
    assert_eq!(ends.last(), Some(&"END_TURN"));
    // Keys are alphabetical, as the service writes them.
    let start = &answer[0].json["event"]["contentStart"];
    let keys: Vec<_> = start.as_object().expect("object").keys().cloned().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    ok(&mut s, json!({"contentEnd": {"promptName": PROMPT, "contentName": "a"}}));
    let Progress::Events(end) = ok(&mut s, json!({"promptEnd": {"promptName": PROMPT}})) else { panic!("events") };
    assert_eq!(names(&end), ["completionEnd"]);
    assert!(matches!(ok(&mut s, json!({"sessionEnd": {}})), Progress::End(_)));
}

#[test]
fn silence_alone_is_no_turn_and_speech_is_answered_when_its_block_ends() {
    let mut s = opened();
    audio_block(&mut s, "a");
    assert!(audio(&mut s, "a", &pcm(0, 2000)).iter().all(|p| matches!(p, Progress::Events(e) if e.is_empty())));
    audio(&mut s, "a", &pcm(400, 0));
    assert!(matches!(
        ok(&mut s, json!({"contentEnd": {"promptName": PROMPT, "contentName": "a"}})),
        Progress::Turn { .. }
    ));
}

#[test]
fn out_of_order_and_malformed_events_are_refused() {
    let mut s = Session::new(1);
    let e = send(&mut s, json!({"promptStart": {"promptName": "x"}})).expect_err("first event");
    assert!(e.message.contains("sessionStart"), "{}", e.message);
    let mut s = opened();
    ok(
        &mut s,
        json!({"contentStart": {"promptName": PROMPT, "contentName": "t", "type": "TEXT", "role": "USER",
            "textInputConfiguration": {"mediaType": "text/plain"}}}),
    );
    let e = send(&mut s, json!({"promptEnd": {"promptName": PROMPT}})).expect_err("open content");
    assert_eq!(e.message, "Error(s):\nError 1 : All contents must be closed before ending prompt");
    assert!(s.accept(b"not json").is_err());
    assert!(send(&mut s, json!({"dance": {}})).is_err());
    let mut s = Session::new(1);
    ok(&mut s, json!({"sessionStart": {}}));
    let e = send(&mut s, json!({"promptStart": {"promptName": "x", "audioOutputConfiguration": {"mediaType": "audio/lpcm", "sampleRateHertz": 24000}}}))
        .expect_err("no voice");
    assert_eq!(e.message, "Received invalid voiceId: value must not be empty");
}

#[test]
fn a_tool_use_awaits_its_result_which_starts_the_next_turn() {
    let mut s = opened();
    ok(
        &mut s,
        json!({"contentStart": {"promptName": PROMPT, "contentName": "u", "type": "TEXT", "interactive": true, "role": "USER",
            "textInputConfiguration": {"mediaType": "text/plain"}}}),
    );
    ok(&mut s, json!({"textInput": {"promptName": PROMPT, "contentName": "u", "content": "weather?"}}));
    assert!(matches!(
        ok(&mut s, json!({"contentEnd": {"promptName": PROMPT, "contentName": "u"}})),
        Progress::Turn { .. }
    ));
    let answer = s.answer(&Reply {
        content: vec![ReplyBlock::ToolUse { id: "t1".into(), name: "w".into(), input: json!({"city": "Paris"}) }],
        stop_reason: StopReason::ToolUse,
        stop_sequence: None,
        usage: Usage::default(),
        latency_ms: 0,
    });
    assert_eq!(names(&answer), ["contentStart", "toolUse", "contentEnd", "usageEvent"]);
    let tool = |id: &str| {
        json!({"contentStart": {"promptName": PROMPT, "contentName": "r", "type": "TOOL", "role": "TOOL",
            "toolResultInputConfiguration": {"toolUseId": id, "type": "TEXT", "textInputConfiguration": {"mediaType": "text/plain"}}}})
    };
    assert!(send(&mut s, tool("nope")).is_err(), "a result for no tool use");
    ok(&mut s, tool("t1"));
    ok(&mut s, json!({"toolResult": {"promptName": PROMPT, "contentName": "r", "content": "{\"t\": 20}"}}));
    let Progress::Turn { conversation, .. } =
        ok(&mut s, json!({"contentEnd": {"promptName": PROMPT, "contentName": "r"}}))
    else {
        panic!("turn")
    };
    assert!(matches!(conversation.messages.last().and_then(|m| m.content.last()), Some(Block::ToolResult { .. })));
}

#[test]
fn the_spoken_answer_is_as_long_as_its_words_take_at_the_prompts_sample_rate() {
    let mut s = opened();
    ok(
        &mut s,
        json!({"contentStart": {"promptName": PROMPT, "contentName": "u", "type": "TEXT", "interactive": true, "role": "USER",
            "textInputConfiguration": {"mediaType": "text/plain"}}}),
    );
    ok(&mut s, json!({"contentEnd": {"promptName": PROMPT, "contentName": "u"}}));
    let answer = s.answer(&reply("one two three four"));
    let bytes: usize = answer
        .iter()
        .filter_map(|e| e.json["event"]["audioOutput"]["content"].as_str())
        .map(|c| base64::engine::general_purpose::STANDARD.decode(c).expect("base64").len())
        .sum();
    assert_eq!(bytes, (4 * SPOKEN_MS_PER_WORD * 24) as usize * 2);
}

#[test]
fn a_sessions_conversation_is_bounded() {
    let mut s = opened();
    let chunk = "x".repeat(MAX_CONTENT_TEXT);
    let mut refused = None;
    for i in 0..4 {
        let name = format!("h{i}");
        ok(
            &mut s,
            json!({"contentStart": {"promptName": PROMPT, "contentName": name, "type": "TEXT", "role": "USER",
                "textInputConfiguration": {"mediaType": "text/plain"}}}),
        );
        ok(&mut s, json!({"textInput": {"promptName": PROMPT, "contentName": name, "content": chunk}}));
        if let Err(e) = send(&mut s, json!({"contentEnd": {"promptName": PROMPT, "contentName": name}})) {
            refused = Some((i, e.message));
            break;
        }
    }
    let (at, message) = refused.expect("refused before 4 MB");
    assert_eq!(at, 2, "the third 1 MB block passes {MAX_SESSION_TEXT} bytes");
    assert!(message.contains("Input is too long"), "{message}");
}
