//! Embedding models: Amazon Titan Embeddings (text v1, text v2, multimodal) and Cohere Embed
//! (v3, v4), SPEC §7.3.
//!
//! Vectors are deterministic feature hashes: every lower-cased word and every character
//! trigram of the text adds ±1 to one dimension (chosen by a stable hash), plus a faint
//! seeded component so that no vector is zero. Texts sharing words therefore have a higher
//! cosine similarity than unrelated texts — enough for retrieval tests to behave.

use base64::Engine;
use serde_json::{json, Value};

use super::native_schema::validate;
use super::{Embedded, EmbeddingFamily, INPUT_TOO_LONG};
use crate::backend::catalog::FoundationModel;
use crate::rng::{stable_hash, SplitMix64};
use crate::synthetic::tokenizer;
use crate::wire::error::BedrockError;

/// A deterministic embedding of `text` with `dims` dimensions, unit length when `normalize`.
pub fn embed_text(text: &str, dims: usize, normalize: bool, seed: u64) -> Vec<f64> {
    let mut v = vec![0.0f64; dims.max(1)];
    let lower = text.to_lowercase();
    let mut add = |feature: &str, weight: f64| {
        let h = stable_hash(0x5eed, feature.as_bytes());
        let idx = (h % v.len() as u64) as usize;
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[idx] += sign * weight;
    };
    for word in lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        add(word, 1.0);
        let chars: Vec<char> = format!(" {word} ").chars().collect();
        for tri in chars.windows(3) {
            add(&tri.iter().collect::<String>(), 0.25);
        }
    }
    let mut rng = SplitMix64::new(stable_hash(seed, lower.as_bytes()));
    for x in v.iter_mut() {
        *x += ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.01;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    // Un-normalised vectors keep a realistic magnitude rather than the raw counts.
    let scale = if normalize { 1.0 / norm } else { 0.8 / norm * (dims as f64).sqrt() / 8.0 };
    v.iter().map(|x| ((x * scale) * 1e6).round() / 1e6).collect()
}

fn int8(v: &[f64]) -> Vec<i64> {
    let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(f64::MIN_POSITIVE);
    v.iter().map(|x| (x / max * 127.0).round() as i64).collect()
}

fn packed_bits(v: &[f64], signed: bool) -> Vec<i64> {
    v.chunks(8)
        .map(|c| {
            let byte = c.iter().enumerate().fold(0u8, |b, (i, x)| if *x > 0.0 { b | (0x80 >> i) } else { b });
            if signed {
                i64::from(byte as i8)
            } else {
                i64::from(byte)
            }
        })
        .collect()
}

/// Amazon Titan Embeddings.
#[derive(Debug, Clone, Copy)]
pub struct TitanEmbed;

impl EmbeddingFamily for TitanEmbed {
    fn embed(&self, body: &Value, model: &FoundationModel, seed: u64) -> Result<Embedded, BedrockError> {
        let id = model.model_id.as_str();
        let (schema, default_dims) = if id.contains("embed-image") {
            (
                json!({"type": "object", "additionalProperties": false, "properties": {
                    "inputText": {"type": "string"}, "inputImage": {"type": "string"},
                    "embeddingConfig": {"type": "object", "additionalProperties": false, "properties": {
                        "outputEmbeddingLength": {"type": "integer", "enum": [256, 384, 1024]}}}
                }}),
                1024,
            )
        } else if id.contains("embed-text-v2") {
            (
                json!({"type": "object", "additionalProperties": false, "required": ["inputText"], "properties": {
                    "inputText": {"type": "string", "minLength": 1},
                    "dimensions": {"type": "integer", "enum": [256, 512, 1024]},
                    "normalize": {"type": "boolean"},
                    "embeddingTypes": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["float", "binary"]}}
                }}),
                1024,
            )
        } else {
            (
                json!({"type": "object", "additionalProperties": false, "required": ["inputText"], "properties": {
                    "inputText": {"type": "string", "minLength": 1}
                }}),
                1536,
            )
        };
        validate(body, &schema)?;
        let text = body.get("inputText").and_then(Value::as_str).unwrap_or_default();
        let image = body.get("inputImage").and_then(Value::as_str);
        if id.contains("embed-image") && text.is_empty() && image.is_none() {
            return Err(BedrockError::validation(
                "Malformed input request: At least one of inputText or inputImage must be provided, please reformat your input and try again.",
            ));
        }
        if let Some(img) = image {
            base64::engine::general_purpose::STANDARD
                .decode(img)
                .map_err(|_| BedrockError::validation("Malformed input request: #/inputImage: invalid base64 image, please reformat your input and try again."))?;
        }
        let dims = body
            .get("dimensions")
            .or_else(|| body.get("embeddingConfig").and_then(|c| c.get("outputEmbeddingLength")))
            .and_then(|d| super::native_schema::count(Some(d)))
            .map_or(default_dims, |d| d as usize);
        let v2 = id.contains("embed-text-v2");
        let normalize = body.get("normalize").and_then(Value::as_bool).unwrap_or(v2);
        let source =
            format!("{text}{}", image.map(|i| format!(" image:{}", stable_hash(0, i.as_bytes()))).unwrap_or_default());
        let tokens = tokenizer::count(text);
        let window = model.emulator.context_window;
        if window > 0 && tokens > window {
            // Titan's own wording (reported by Bedrock users), checked before any vector is made.
            return Err(BedrockError::validation(format!(
                "400 Bad Request: Too many input tokens. Max input tokens: {window}, request input token count: {tokens}"
            )));
        }
        let vector = embed_text(&source, dims, normalize, seed);
        let mut out = json!({"embedding": vector, "inputTextTokenCount": tokens});
        if v2 {
            let types: Vec<String> = body
                .get("embeddingTypes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_else(|| vec!["float".into()]);
            let mut by_type = serde_json::Map::new();
            for t in types {
                let value = if t == "binary" {
                    json!(vector.iter().map(|x| u8::from(*x > 0.0)).collect::<Vec<_>>())
                } else {
                    json!(vector)
                };
                by_type.insert(t, value);
            }
            out["embeddingsByType"] = Value::Object(by_type);
        }
        Ok(Embedded { body: out, input_tokens: tokens })
    }
}

/// Cohere Embed v3 / v4.
#[derive(Debug, Clone, Copy)]
pub struct CohereEmbed;

impl EmbeddingFamily for CohereEmbed {
    fn embed(&self, body: &Value, model: &FoundationModel, seed: u64) -> Result<Embedded, BedrockError> {
        let v4 = model.model_id.contains("embed-v4");
        // Embed v3 texts are refused beyond 2048 characters by Bedrock's schema (as reported by
        // its users); v4 takes long texts.
        let text_schema = if v4 { json!({"type": "string"}) } else { json!({"type": "string", "maxLength": 2048}) };
        let schema = json!({"type": "object", "additionalProperties": false, "required": ["input_type"], "properties": {
            "texts": {"type": "array", "maxItems": 96, "items": text_schema},
            "images": {"type": "array", "items": {"type": "string"}},
            "inputs": {"type": "array"},
            "input_type": {"type": "string", "enum": ["search_document", "search_query", "classification", "clustering", "image"]},
            "truncate": {"type": "string", "enum": ["NONE", "START", "END", "LEFT", "RIGHT"]},
            "embedding_types": {"type": "array", "items": {"type": "string", "enum": ["float", "int8", "uint8", "binary", "ubinary", "base64"]}},
            "output_dimension": {"type": "integer", "enum": [256, 512, 1024, 1536]},
            "max_tokens": {"type": "integer", "minimum": 1}
        }});
        validate(body, &schema)?;
        let texts: Vec<String> = body
            .get("texts")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        let images: Vec<String> = body
            .get("images")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter().filter_map(Value::as_str).map(|s| format!("image:{}", stable_hash(0, s.as_bytes()))).collect()
            })
            .unwrap_or_default();
        let inputs: Vec<String> = if texts.is_empty() { images } else { texts.clone() };
        if inputs.is_empty() {
            return Err(BedrockError::validation(
                "Malformed input request: #: required key [texts] not found, please reformat your input and try again.",
            ));
        }
        // `truncate` NONE (Bedrock's default for Cohere Embed) refuses a text over the window;
        // the other modes cut it, as Cohere does.
        let truncates = body.get("truncate").and_then(Value::as_str).is_some_and(|t| t != "NONE");
        let window = model.emulator.context_window;
        if !truncates && window > 0 && texts.iter().any(|t| tokenizer::count(t) > window) {
            return Err(BedrockError::validation(INPUT_TOO_LONG));
        }
        let dims = super::native_schema::count(body.get("output_dimension"))
            .map_or(if v4 { 1536 } else { 1024 }, |d| d as usize);
        let vectors: Vec<Vec<f64>> = inputs.iter().map(|t| embed_text(t, dims, false, seed)).collect();
        let tokens: u32 = texts.iter().map(|t| tokenizer::count(t)).sum();
        let id = SplitMix64::new(stable_hash(seed, inputs.concat().as_bytes())).uuid();
        let types: Option<Vec<String>> = body
            .get("embedding_types")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect());
        let body = match types {
            None => json!({"id": id, "embeddings": vectors, "response_type": "embeddings_floats", "texts": texts}),
            Some(types) => {
                let mut by_type = serde_json::Map::new();
                for t in types {
                    let value = match t.as_str() {
                        "int8" => json!(vectors.iter().map(|v| int8(v)).collect::<Vec<_>>()),
                        "uint8" => json!(vectors
                            .iter()
                            .map(|v| int8(v).into_iter().map(|x| x + 128).collect::<Vec<_>>())
                            .collect::<Vec<_>>()),
                        "binary" => json!(vectors.iter().map(|v| packed_bits(v, true)).collect::<Vec<_>>()),
                        "ubinary" => json!(vectors.iter().map(|v| packed_bits(v, false)).collect::<Vec<_>>()),
                        _ => json!(vectors),
                    };
                    by_type.insert(t, value);
                }
                json!({"id": id, "embeddings": by_type, "response_type": "embeddings_by_type", "texts": texts})
            }
        };
        Ok(Embedded { body, input_tokens: tokens })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f64], b: &[f64]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
        let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
        dot / (na * nb)
    }

    #[test]
    fn similar_texts_are_closer_than_unrelated_ones() {
        let a = embed_text("The cat sat on the warm mat", 1024, true, 0);
        let b = embed_text("A cat sat on a mat", 1024, true, 0);
        let c = embed_text("Quarterly revenue grew in Europe", 1024, true, 0);
        assert!(cosine(&a, &b) > cosine(&a, &c) + 0.2, "{} vs {}", cosine(&a, &b), cosine(&a, &c));
    }

    #[test]
    fn normalised_vectors_have_unit_length_and_the_requested_size() {
        let v = embed_text("hello", 256, true, 3);
        assert_eq!(v.len(), 256);
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "{norm}");
    }

    #[test]
    fn embeddings_are_deterministic() {
        assert_eq!(embed_text("x y", 64, false, 1), embed_text("x y", 64, false, 1));
    }
}
