//! Stability AI's image models on Bedrock: Stable Diffusion 3.5 Large, Stable Image Core and
//! Stable Image Ultra. A flat request (`prompt`, `aspect_ratio`, `seed`, `output_format`, …;
//! image-to-image with `image` and `strength`) answered `{"seeds": [n], "finish_reasons":
//! [null], "images": [base64]}`, one image per call.
//!
//! Limits are those of the AWS user guide's pages for each model. The image is a solid-colour
//! placeholder in the requested `output_format` (PNG by default, JPEG, WebP), at the size the
//! aspect ratio gives (SD3.5: the SD3 sizes, 1024 × 1024 for 1:1; Core and Ultra 1.5 times
//! those, as a real Core answer at 16:9 was 2016 × 1152), or at the input image's size for
//! image-to-image. A seed of 0 (or none) is "random": one derived from the prompt, reported
//! in `seeds`. A prompt that hits the SEXUAL or HATE lexicon is filtered as these models
//! filter: HTTP 200 with `finish_reasons: ["Filter reason: prompt"]`.

use base64::Engine as _;
use serde_json::{json, Value};

use super::amazon_image::{colour, flagged};
use super::native_schema;
use super::{Generated, ImageFamily};
use crate::backend::catalog::FoundationModel;
use crate::rng::StableHasher;
use crate::synthetic::{jpeg, png, tokenizer, webp};
use crate::wire::error::BedrockError;

/// The aspect ratios every model takes, with SD3.5 Large's output size for each.
pub const ASPECT_RATIOS: &[(&str, (u32, u32))] = &[
    ("16:9", (1344, 768)),
    ("1:1", (1024, 1024)),
    ("21:9", (1536, 640)),
    ("2:3", (832, 1216)),
    ("3:2", (1216, 832)),
    ("4:5", (896, 1088)),
    ("5:4", (1088, 896)),
    ("9:16", (768, 1344)),
    ("9:21", (640, 1536)),
];

/// Core's `style_preset` values.
pub const STYLE_PRESETS: &[&str] = &[
    "3d-model",
    "analog-film",
    "anime",
    "cinematic",
    "comic-book",
    "digital-art",
    "enhance",
    "fantasy-art",
    "isometric",
    "line-art",
    "low-poly",
    "modeling-compound",
    "neon-punk",
    "origami",
    "photographic",
    "pixel-art",
    "tile-texture",
];

/// The Stability family.
pub struct Stability;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Model {
    Sd35Large,
    Core,
    Ultra,
}

fn model_of(model: &FoundationModel) -> Model {
    if model.model_id.contains("stable-image-core") {
        Model::Core
    } else if model.model_id.contains("stable-image-ultra") {
        Model::Ultra
    } else {
        Model::Sd35Large
    }
}

fn schema(model: Model) -> Value {
    let text = json!({"type": "string", "maxLength": 10_000});
    let ratios: Vec<&str> = ASPECT_RATIOS.iter().map(|(r, _)| *r).collect();
    let mut properties = json!({
        "prompt": text,
        "negative_prompt": text,
        "aspect_ratio": {"type": "string", "enum": ratios},
        "seed": {"type": "integer", "minimum": 0,
            "maximum": if model == Model::Sd35Large { 4_294_967_294u64 } else { 4_294_967_295u64 }},
        "output_format": {"type": "string",
            "enum": if model == Model::Sd35Large { vec!["jpeg", "png", "webp"] } else { vec!["jpeg", "png"] }},
    });
    match model {
        Model::Core => {
            properties["style_preset"] = json!({"type": "string", "enum": STYLE_PRESETS});
            properties["mode"] = json!({"type": "string", "enum": ["text-to-image"]});
        }
        Model::Sd35Large | Model::Ultra => {
            properties["mode"] = json!({"type": "string", "enum": ["text-to-image", "image-to-image"]});
            properties["image"] = json!({"type": "string"});
            properties["strength"] = json!({"type": "number", "minimum": 0, "maximum": 1});
        }
    }
    json!({"type": "object", "required": ["prompt"], "properties": properties})
}

/// The size, in pixels, of a decoded input image of any format the models take.
fn input_size(b64: &str) -> Result<(u32, u32), BedrockError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| BedrockError::validation("The image is not valid base64."))?;
    let size = png::dimensions(&bytes)
        .or_else(|| webp::dimensions(&bytes))
        .ok_or_else(|| BedrockError::validation("The image must be a JPEG, PNG or WebP image."))?;
    if size.0 < 64 || size.1 < 64 || size.0 > png::MAX_SIDE || size.1 > png::MAX_SIDE {
        return Err(BedrockError::validation(format!(
            "The image is {}x{}: each side must be 64 to {} pixels.",
            size.0,
            size.1,
            png::MAX_SIDE
        )));
    }
    Ok(size)
}

fn generate(
    model: Model,
    body: &Value,
    foundation: &FoundationModel,
    service_seed: u64,
) -> Result<Generated, BedrockError> {
    native_schema::validate(body, &schema(model))?;
    let prompt = body.get("prompt").and_then(Value::as_str).unwrap_or_default();
    let image = body.get("image").and_then(Value::as_str);
    // Core has no image-to-image; on SD3.5 and Ultra an `image` (or the mode) asks for it.
    let image_to_image =
        model != Model::Core && (body.get("mode").and_then(Value::as_str) == Some("image-to-image") || image.is_some());
    if model == Model::Core && image.is_some() {
        return Err(native_schema::malformed(&["#: extraneous key [image] is not permitted".to_string()]));
    }
    let size = if image_to_image {
        let missing: Vec<String> = ["image", "strength"]
            .iter()
            .filter(|k| body.get(**k).is_none())
            .map(|k| format!("#: required key [{k}] not found"))
            .collect();
        if !missing.is_empty() {
            return Err(native_schema::malformed(&missing));
        }
        input_size(image.unwrap_or_default())?
    } else {
        let ratio = body.get("aspect_ratio").and_then(Value::as_str).unwrap_or("1:1");
        let (w, h) = ASPECT_RATIOS.iter().find(|(r, _)| *r == ratio).map_or((1024, 1024), |(_, s)| *s);
        if model == Model::Sd35Large {
            (w, h)
        } else {
            (w * 3 / 2, h * 3 / 2)
        }
    };
    let input_tokens = tokenizer::count(prompt);
    if flagged(prompt) {
        return Ok(Generated { body: json!({"finish_reasons": ["Filter reason: prompt"]}), input_tokens });
    }
    let requested = body.get("seed").and_then(native_schema::whole_number).unwrap_or(0);
    let seed = if requested > 0 {
        requested
    } else {
        let mut h = StableHasher::new(service_seed);
        h.write(foundation.model_id.as_bytes());
        h.write(prompt.as_bytes());
        1 + (h.finish() % 4_294_967_294) as i64
    };
    let rgb = colour(&foundation.model_id, "stability", prompt, seed, 0, service_seed);
    let (w, h) = size;
    let bytes = match body.get("output_format").and_then(Value::as_str).unwrap_or("png") {
        "jpeg" => jpeg::solid_rgb(w, h, rgb),
        "webp" => webp::solid_rgb(w, h, rgb),
        _ => png::solid_rgb(w, h, rgb),
    };
    let image = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(Generated { body: json!({"seeds": [seed], "finish_reasons": [null], "images": [image]}), input_tokens })
}

impl ImageFamily for Stability {
    fn generate(&self, body: &Value, model: &FoundationModel, seed: u64) -> Result<Generated, BedrockError> {
        generate(model_of(model), body, model, seed)
    }

    fn prompt(&self, body: &Value) -> String {
        body.get("prompt").and_then(Value::as_str).unwrap_or_default().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::catalog::Catalog;

    fn run(id: &str, body: Value) -> Result<Generated, BedrockError> {
        let m = Catalog::builtin().model(id).expect("in the catalog");
        Stability.generate(&body, m, 7)
    }

    fn image(out: &Generated) -> Vec<u8> {
        let b64 = out.body["images"][0].as_str().expect("an image");
        base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
    }

    const SD35: &str = "stability.sd3-5-large-v1:0";
    const CORE: &str = "stability.stable-image-core-v1:1";
    const ULTRA: &str = "stability.stable-image-ultra-v1:1";

    #[test]
    fn text_to_image_answers_one_image_at_the_aspect_ratios_size_in_its_format() {
        let out = run(SD35, json!({"prompt": "a fox", "aspect_ratio": "16:9", "seed": 5})).expect("generated");
        assert_eq!(out.body["seeds"], json!([5]));
        assert_eq!(out.body["finish_reasons"], json!([null]));
        assert_eq!(
            out.body.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["seeds".into(), "finish_reasons".into(), "images".into()])
        );
        assert_eq!(png::dimensions(&image(&out)), Some((1344, 768)));
        let core =
            run(CORE, json!({"prompt": "a fox", "aspect_ratio": "16:9", "output_format": "jpeg"})).expect("core");
        assert_eq!(png::dimensions(&image(&core)), Some((2016, 1152)));
        assert!(image(&core).starts_with(&[0xFF, 0xD8]));
        let seed = core.body["seeds"][0].as_i64().expect("a seed");
        assert!(seed > 0, "a random seed is reported");
        let webp_out = run(SD35, json!({"prompt": "a fox", "output_format": "webp"})).expect("webp");
        assert_eq!(webp::dimensions(&image(&webp_out)), Some((1024, 1024)));
    }

    #[test]
    fn image_to_image_takes_the_input_size_and_needs_image_and_strength() {
        let input = base64::engine::general_purpose::STANDARD.encode(png::solid_rgb(640, 480, [1, 2, 3]));
        let out = run(ULTRA, json!({"prompt": "snow", "image": input, "strength": 0.4})).expect("generated");
        assert_eq!(png::dimensions(&image(&out)), Some((640, 480)));
        let e = run(SD35, json!({"prompt": "snow", "mode": "image-to-image"})).expect_err("no image");
        assert_eq!(
            e.message,
            "Malformed input request: #: required key [image] not found#: required key [strength] not found, please reformat your input and try again."
        );
        let tiny = base64::engine::general_purpose::STANDARD.encode(png::solid_rgb(32, 32, [1, 2, 3]));
        assert!(run(SD35, json!({"prompt": "x", "image": tiny, "strength": 0.5})).is_err());
        // A header claiming 5000 pixels: refused, not clamped.
        let mut huge = png::solid_rgb(64, 64, [1, 2, 3]);
        huge[16..20].copy_from_slice(&5000u32.to_be_bytes());
        let huge = base64::engine::general_purpose::STANDARD.encode(huge);
        let e = run(ULTRA, json!({"prompt": "x", "image": huge, "strength": 0.5})).expect_err("too large");
        assert!(e.message.contains("5000x64"), "{}", e.message);
        let e = run(CORE, json!({"prompt": "x", "image": input})).expect_err("Core has no image-to-image");
        assert!(e.message.contains("extraneous key [image]"), "{}", e.message);
    }

    #[test]
    fn bad_bodies_and_flagged_prompts() {
        let e = run(CORE, json!({"prompt": "x", "aspect_ratio": "4:3"})).expect_err("ratio");
        assert!(e.message.contains("#/aspect_ratio: 4:3 is not a valid enum value"), "{}", e.message);
        let e = run(ULTRA, json!({"prompt": "x", "output_format": "webp"})).expect_err("format");
        assert!(e.message.contains("#/output_format: webp is not a valid enum value"), "{}", e.message);
        let e = run(SD35, json!({"seed": 1})).expect_err("no prompt");
        assert!(e.message.contains("#: required key [prompt] not found"), "{}", e.message);
        let filtered = run(CORE, json!({"prompt": "explicit porn"})).expect("a 200");
        assert_eq!(filtered.body, json!({"finish_reasons": ["Filter reason: prompt"]}));
    }
}
