//! Amazon's image generators: Titan Image Generator G1 (v1, v2) and Nova Canvas. Both take
//! `{taskType, <task>Params, imageGenerationConfig}` and answer `{"images": [base64 PNG…]}`
//! (Titan adds `"error": null`; Nova leaves `error` out unless images were filtered).
//!
//! Requests are validated with each model's documented limits (AWS user guide,
//! model-parameters-titan-image and the Nova "image generation request and response
//! structure"), in Bedrock's schema-violation wording. The images are deterministic
//! placeholders ([`crate::synthetic::png`]): one solid colour each, from the model, task,
//! prompt, seed and image index, at the requested size, or the input image's size for the
//! editing tasks. A prompt that hits the content lexicons of the guardrail evaluator's
//! SEXUAL or HATE categories is refused as Bedrock's content filters refuse it.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::native_schema::{self, count};
use super::{Generated, ImageFamily};
use crate::backend::catalog::FoundationModel;
use crate::backend::guardrail_eval;
use crate::rng::StableHasher;
use crate::synthetic::{png, tokenizer};
use crate::wire::error::BedrockError;

/// Titan's permitted output sizes (width × height), from its user-guide table.
pub const TITAN_SIZES: &[(u32, u32)] = &[
    (1024, 1024),
    (768, 768),
    (512, 512),
    (768, 1152),
    (384, 576),
    (1152, 768),
    (576, 384),
    (768, 1280),
    (384, 640),
    (1280, 768),
    (640, 384),
    (896, 1152),
    (448, 576),
    (1152, 896),
    (576, 448),
    (768, 1408),
    (384, 704),
    (1408, 768),
    (704, 384),
    (640, 1408),
    (320, 704),
    (1408, 640),
    (704, 320),
    (1152, 640),
    (1173, 640),
];

/// Nova Canvas's size rule: each side 320–4096 and a multiple of 16, aspect ratio within
/// 1:4 … 4:1, and at most this many pixels (the guide says "less than", but 2048 × 2048 is a
/// priced size).
pub const NOVA_MAX_PIXELS: u64 = 4_194_304;

/// Titan's refusal of a prompt its content filters flag.
pub const TITAN_BLOCKED: &str = "This request has been blocked by our content filters. Our filters automatically flagged this prompt because it may conflict our AUP or AWS Responsible AI Policy. Please adjust your text prompt to submit a new request.";

/// Nova Canvas's refusal of a prompt its content filters flag.
pub const NOVA_BLOCKED: &str =
    "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request.";

/// Every task type, in the order the models gained them.
const TASKS: [&str; 7] = [
    "TEXT_IMAGE",
    "INPAINTING",
    "OUTPAINTING",
    "IMAGE_VARIATION",
    "COLOR_GUIDED_GENERATION",
    "BACKGROUND_REMOVAL",
    "VIRTUAL_TRY_ON",
];

/// The Titan family (v1 and v2: v2 adds colour-guided generation, background removal and
/// image conditioning).
pub struct TitanImage;

/// Nova Canvas.
pub struct NovaCanvas;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Model {
    TitanV1,
    TitanV2,
    Nova,
}

impl Model {
    fn text_max(self) -> u64 {
        if self == Model::Nova {
            1024
        } else {
            512
        }
    }

    /// Its task types: a prefix of [`TASKS`] (v2 adds two to v1's, Nova one more).
    fn tasks(self) -> &'static [&'static str] {
        match self {
            Model::TitanV1 => &TASKS[..4],
            Model::TitanV2 => &TASKS[..6],
            Model::Nova => &TASKS[..],
        }
    }

    fn seed_default(self) -> i64 {
        if self == Model::Nova {
            12
        } else {
            42
        }
    }
}

/// The params member of each task type.
fn params_key(task: &str) -> &'static str {
    match task {
        "TEXT_IMAGE" => "textToImageParams",
        "INPAINTING" => "inPaintingParams",
        "OUTPAINTING" => "outPaintingParams",
        "IMAGE_VARIATION" => "imageVariationParams",
        "COLOR_GUIDED_GENERATION" => "colorGuidedGenerationParams",
        "BACKGROUND_REMOVAL" => "backgroundRemovalParams",
        _ => "virtualTryOnParams",
    }
}

fn schema(model: Model) -> Value {
    let text = json!({"type": "string", "minLength": 1, "maxLength": model.text_max()});
    let image = json!({"type": "string"});
    let v2 = model != Model::TitanV1;
    let mut text_to_image = json!({"text": text, "negativeText": text});
    if v2 {
        text_to_image["conditionImage"] = image.clone();
        text_to_image["controlMode"] = json!({"type": "string", "enum": ["CANNY_EDGE", "SEGMENTATION"]});
        text_to_image["controlStrength"] = json!({"type": "number", "minimum": 0, "maximum": 1});
    }
    if model == Model::Nova {
        text_to_image["style"] = json!({"type": "string", "enum": [
            "3D_ANIMATED_FAMILY_FILM", "DESIGN_SKETCH", "FLAT_VECTOR_ILLUSTRATION", "GRAPHIC_NOVEL_ILLUSTRATION",
            "MAXIMALISM", "MIDCENTURY_RETRO", "PHOTOREALISM", "SOFT_DIGITAL_PAINTING"]});
    }
    let object = |required: &[&str], properties: Value| json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties});
    let mask_edit = |extra: Value| {
        let mut p = json!({"image": image, "text": text, "negativeText": text, "maskPrompt": text,
            "maskImage": image, "returnMask": {"type": "boolean"}});
        if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(extra.clone());
        }
        p
    };
    let mut properties = json!({
        "taskType": {"type": "string", "enum": model.tasks()},
        "textToImageParams": object(&["text"], text_to_image),
        "inPaintingParams": object(&["image"], mask_edit(json!({}))),
        "outPaintingParams": object(
            if model == Model::Nova { &["image"] } else { &["image", "text"] },
            mask_edit(json!({"outPaintingMode": {"type": "string", "enum": ["DEFAULT", "PRECISE"]}})),
        ),
        "imageVariationParams": object(&["images"], {
            let mut p = json!({
                "images": {"type": "array", "minItems": 1, "maxItems": 5, "items": image},
                "text": text, "negativeText": text,
                "similarityStrength": {"type": "number", "minimum": 0.2, "maximum": 1.0}});
            if model == Model::TitanV1 {
                p.as_object_mut().map(|o| o.remove("similarityStrength"));
            }
            p
        }),
        "imageGenerationConfig": object(&[], json!({
            "numberOfImages": {"type": "integer", "minimum": 1, "maximum": 5},
            "cfgScale": {"type": "number", "minimum": 1.1, "maximum": 10},
            "seed": {"type": "integer", "minimum": 0, "maximum": 2_147_483_646},
            "quality": {"type": "string", "enum": ["standard", "premium"]},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
        })),
    });
    if v2 {
        properties["colorGuidedGenerationParams"] = object(
            &["text", "colors"],
            json!({"text": text, "negativeText": text, "referenceImage": image,
                "colors": {"type": "array", "minItems": 1, "maxItems": 10, "items": {"type": "string"}}}),
        );
        properties["backgroundRemovalParams"] = object(&["image"], json!({"image": image}));
    }
    if model == Model::Nova {
        properties["virtualTryOnParams"] = object(
            &["sourceImage", "referenceImage", "maskType"],
            json!({"sourceImage": image, "referenceImage": image,
                "maskType": {"type": "string", "enum": ["IMAGE", "GARMENT", "PROMPT"]},
                "imageBasedMask": {"type": "object"}, "garmentBasedMask": {"type": "object"},
                "promptBasedMask": {"type": "object"}, "maskExclusions": {"type": "object"},
                "mergeStyle": {"type": "string", "enum": ["BALANCED", "SEAMLESS", "DETAILED"]},
                "returnMask": {"type": "boolean"}}),
        );
    }
    object(&["taskType"], properties)
}

fn model_of(model: &FoundationModel) -> Model {
    if model.emulator.family == "nova-canvas" {
        Model::Nova
    } else if model.model_id.contains("-v1") && !model.model_id.contains("v2") {
        Model::TitanV1
    } else {
        Model::TitanV2
    }
}

/// An input image decoded: its size, or Bedrock-style refusal.
fn input_size(params: &Map<String, Value>, key: &str, path: &str) -> Result<Option<(u32, u32)>, BedrockError> {
    let Some(b64) = params.get(key).and_then(Value::as_str) else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| BedrockError::validation(format!("The {path} is not valid base64.")))?;
    let (w, h) = png::dimensions(&bytes)
        .ok_or_else(|| BedrockError::validation(format!("The {path} must be a PNG or JPEG image.")))?;
    if w > png::MAX_SIDE || h > png::MAX_SIDE {
        return Err(BedrockError::validation(format!(
            "The {path} is {w}x{h}: each side must be at most {} pixels.",
            png::MAX_SIDE
        )));
    }
    Ok(Some((w, h)))
}

/// The output size: the request's (checked against the model's rule), else the input
/// image's for editing tasks, else 1024 × 1024.
fn output_size(
    model: Model,
    task: &str,
    body: &Value,
    params: &Map<String, Value>,
) -> Result<(u32, u32), BedrockError> {
    let config = body.get("imageGenerationConfig");
    let side = |k: &str| config.and_then(|c| c.get(k)).and_then(native_schema::whole_number);
    let from_input = match task {
        "INPAINTING" | "OUTPAINTING" | "BACKGROUND_REMOVAL" => input_size(params, "image", "input image")?,
        "VIRTUAL_TRY_ON" => input_size(params, "sourceImage", "source image")?,
        "IMAGE_VARIATION" => {
            let first = params.get("images").and_then(Value::as_array).and_then(|a| a.first()).cloned();
            match first {
                Some(img) => input_size(&Map::from_iter([("image".to_string(), img)]), "image", "input image")?,
                None => None,
            }
        }
        _ => None,
    };
    let (w, h) = match (side("width"), side("height")) {
        (None, None) => return Ok(from_input.unwrap_or((1024, 1024))),
        (w, h) => (w.unwrap_or(1024), h.unwrap_or(1024)),
    };
    let fits = match model {
        Model::Nova => {
            let ok_side = |s: i64| (320..=4096).contains(&s) && s % 16 == 0;
            ok_side(w) && ok_side(h) && w * 4 >= h && h * 4 >= w && (w as u64) * (h as u64) <= NOVA_MAX_PIXELS
        }
        _ => TITAN_SIZES.iter().any(|&(tw, th)| i64::from(tw) == w && i64::from(th) == h),
    };
    if !fits {
        let rule = match model {
            Model::Nova => "each side must be 320 to 4096 pixels and divisible by 16, the aspect ratio between 1:4 and 4:1, and the total at most 4,194,304 pixels".to_string(),
            _ => format!(
                "supported sizes are {}",
                TITAN_SIZES.iter().map(|(w, h)| format!("{w}x{h}")).collect::<Vec<_>>().join(", ")
            ),
        };
        return Err(BedrockError::validation(format!("The image size {w}x{h} is not supported: {rule}.")));
    }
    Ok((w as u32, h as u32))
}

/// The text prompts of a request (for moderation, tokens and matchers).
pub fn prompt_text(body: &Value) -> String {
    let task = body.get("taskType").and_then(Value::as_str).unwrap_or_default();
    let params = body.get(params_key(task));
    ["text", "maskPrompt"]
        .iter()
        .filter_map(|k| params.and_then(|p| p.get(*k)).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `prompt` trips the emulated input content filter.
pub fn flagged(prompt: &str) -> bool {
    guardrail_eval::CONTENT_LEXICONS
        .iter()
        .filter(|(kind, _)| matches!(*kind, "SEXUAL" | "HATE"))
        .any(|(_, phrases)| guardrail_eval::phrase_hits(phrases, &[prompt]) > 0)
}

/// A solid colour per image, from everything that makes the request distinct.
pub fn colour(model_id: &str, task: &str, prompt: &str, seed: i64, index: usize, service_seed: u64) -> [u8; 3] {
    let mut h = StableHasher::new(service_seed);
    for part in [model_id, task, prompt] {
        h.write(part.as_bytes());
        h.write(b"\x1f");
    }
    h.write(&seed.to_le_bytes());
    h.write(&(index as u64).to_le_bytes());
    let v = h.finish().to_le_bytes();
    [v[0], v[1], v[2]]
}

fn generate(model: Model, body: &Value, foundation: &FoundationModel, seed: u64) -> Result<Generated, BedrockError> {
    native_schema::validate(body, &schema(model))?;
    let task = body.get("taskType").and_then(Value::as_str).unwrap_or_default();
    let key = params_key(task);
    let Some(params) = body.get(key).and_then(Value::as_object) else {
        return Err(native_schema::malformed(&[format!("#: required key [{key}] not found")]));
    };
    if matches!(task, "INPAINTING" | "OUTPAINTING")
        && params.contains_key("maskPrompt") == params.contains_key("maskImage")
    {
        return Err(native_schema::malformed(&[format!(
            "#/{key}: exactly one of [maskPrompt, maskImage] must be given"
        )]));
    }
    if task == "TEXT_IMAGE"
        && !params.contains_key("conditionImage")
        && (params.contains_key("controlMode") || params.contains_key("controlStrength"))
    {
        return Err(BedrockError::validation(
            "conditionImage must be provided when controlMode or controlStrength is given.",
        ));
    }
    let (width, height) = output_size(model, task, body, params)?;
    let prompt = prompt_text(body);
    if flagged(&prompt) {
        return Err(BedrockError::validation(if model == Model::Nova { NOVA_BLOCKED } else { TITAN_BLOCKED }));
    }
    let config = body.get("imageGenerationConfig");
    let n =
        if task == "BACKGROUND_REMOVAL" { 1 } else { count(config.and_then(|c| c.get("numberOfImages"))).unwrap_or(1) };
    let image_seed =
        config.and_then(|c| c.get("seed")).and_then(native_schema::whole_number).unwrap_or(model.seed_default());
    let images: Vec<Value> = (0..n as usize)
        .map(|i| {
            let [r, g, b] = colour(&foundation.model_id, task, &prompt, image_seed, i, seed);
            let png = if task == "BACKGROUND_REMOVAL" {
                // The subject kept, the background made transparent: here, all of it.
                png::solid_rgba(width, height, [r, g, b, 0])
            } else {
                png::solid_rgb(width, height, [r, g, b])
            };
            json!(base64::engine::general_purpose::STANDARD.encode(png))
        })
        .collect();
    let mut out = json!({ "images": images });
    if model != Model::Nova {
        out["error"] = Value::Null;
    }
    if model == Model::Nova && task == "VIRTUAL_TRY_ON" && params.get("returnMask") == Some(&Value::Bool(true)) {
        let mask = png::solid_rgb(width, height, [0, 0, 0]);
        out["maskImage"] = json!(base64::engine::general_purpose::STANDARD.encode(mask));
    }
    Ok(Generated { body: out, input_tokens: tokenizer::count(&prompt) })
}

impl ImageFamily for TitanImage {
    fn generate(&self, body: &Value, model: &FoundationModel, seed: u64) -> Result<Generated, BedrockError> {
        generate(model_of(model), body, model, seed)
    }

    fn prompt(&self, body: &Value) -> String {
        prompt_text(body)
    }
}

impl ImageFamily for NovaCanvas {
    fn generate(&self, body: &Value, model: &FoundationModel, seed: u64) -> Result<Generated, BedrockError> {
        generate(Model::Nova, body, model, seed)
    }

    fn prompt(&self, body: &Value) -> String {
        prompt_text(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::catalog::Catalog;

    fn model(id: &str) -> &'static FoundationModel {
        Catalog::builtin().model(id).expect("in the catalog")
    }

    fn run(id: &str, body: Value) -> Result<Generated, BedrockError> {
        let m = model(id);
        if m.emulator.family == "nova-canvas" {
            NovaCanvas.generate(&body, m, 7)
        } else {
            TitanImage.generate(&body, m, 7)
        }
    }

    fn decoded(out: &Generated, i: usize) -> Vec<u8> {
        let b64 = out.body["images"][i].as_str().expect("an image");
        base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
    }

    const TITAN: &str = "amazon.titan-image-generator-v2:0";
    const NOVA: &str = "amazon.nova-canvas-v1:0";

    #[test]
    fn text_to_image_answers_the_requested_number_and_size_of_pngs() {
        let body = json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a lighthouse at dawn"},
            "imageGenerationConfig": {"numberOfImages": 3, "width": 768, "height": 1152, "seed": 5}});
        let out = run(TITAN, body.clone()).expect("generated");
        assert_eq!(out.body["images"].as_array().map(Vec::len), Some(3));
        assert_eq!(out.body["error"], Value::Null);
        assert_eq!(png::dimensions(&decoded(&out, 0)), Some((768, 1152)));
        assert_ne!(decoded(&out, 0), decoded(&out, 1), "each image its own colour");
        assert_eq!(run(TITAN, body).expect("again").body, out.body, "deterministic");
        let nova = run(NOVA, json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"}})).expect("nova");
        assert!(nova.body.get("error").is_none(), "Nova leaves error out");
        assert_eq!(png::dimensions(&decoded(&nova, 0)), Some((1024, 1024)));
    }

    #[test]
    fn sizes_follow_each_models_rule() {
        let sized = |w: u32, h: u32| {
            json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"},
                "imageGenerationConfig": {"width": w, "height": h}})
        };
        assert!(run(TITAN, sized(1173, 640)).is_ok());
        let e = run(TITAN, sized(1000, 1000)).expect_err("not a Titan size");
        assert!(e.message.contains("1000x1000"), "{}", e.message);
        assert!(run(NOVA, sized(1280, 720)).is_ok());
        assert!(run(NOVA, sized(2048, 2048)).is_ok());
        for (w, h) in [(1000, 1008), (320, 1600), (4096, 2048), (304, 320)] {
            assert!(run(NOVA, sized(w, h)).is_err(), "{w}x{h}");
        }
    }

    #[test]
    fn bad_bodies_are_refused_in_bedrocks_wording() {
        let long = "a".repeat(513);
        let e = run(TITAN, json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": long}})).expect_err("long");
        assert_eq!(
            e.message,
            "Malformed input request: #/textToImageParams/text: expected maxLength: 512, actual: 513, please reformat your input and try again."
        );
        let e = run(NOVA, json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x", "images": []}}))
            .expect_err("extraneous");
        assert!(e.message.contains("#/textToImageParams: extraneous key [images] is not permitted"), "{}", e.message);
        let e = run(
            "amazon.titan-image-generator-v1",
            json!({"taskType": "BACKGROUND_REMOVAL",
            "backgroundRemovalParams": {"image": "x"}}),
        )
        .expect_err("v2 only");
        assert!(e.message.contains("#/taskType: BACKGROUND_REMOVAL is not a valid enum value"), "{}", e.message);
        let e = run(TITAN, json!({"taskType": "TEXT_IMAGE"})).expect_err("no params");
        assert!(e.message.contains("required key [textToImageParams] not found"), "{}", e.message);
        let e = run(
            TITAN,
            json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"},
            "imageGenerationConfig": {"numberOfImages": 6}}),
        )
        .expect_err("too many");
        assert!(e.message.contains("#/imageGenerationConfig/numberOfImages: 6 is not less or equal to 5"));
    }

    #[test]
    fn editing_tasks_answer_at_the_input_images_size() {
        let input = base64::engine::general_purpose::STANDARD.encode(png::solid_rgb(640, 384, [1, 2, 3]));
        let out = run(
            TITAN,
            json!({"taskType": "INPAINTING",
            "inPaintingParams": {"image": input, "maskPrompt": "the sky"}}),
        )
        .expect("inpainted");
        assert_eq!(png::dimensions(&decoded(&out, 0)), Some((640, 384)));
        let both = run(
            TITAN,
            json!({"taskType": "INPAINTING",
            "inPaintingParams": {"image": input, "maskPrompt": "sky", "maskImage": input}}),
        );
        assert!(both.expect_err("both masks").message.contains("exactly one of [maskPrompt, maskImage]"));
        let removed = run(NOVA, json!({"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": input}}))
            .expect("removed");
        let png = decoded(&removed, 0);
        assert_eq!(png[25], 6, "RGBA");
        let bad =
            run(NOVA, json!({"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": "aGVsbG8="}}));
        assert!(bad.expect_err("not an image").message.contains("PNG or JPEG"));
        let mut huge = png::solid_rgb(8, 8, [1, 2, 3]);
        huge[20..24].copy_from_slice(&9000u32.to_be_bytes());
        let huge = base64::engine::general_purpose::STANDARD.encode(huge);
        let e = run(TITAN, json!({"taskType": "INPAINTING", "inPaintingParams": {"image": huge, "maskPrompt": "x"}}))
            .expect_err("too large");
        assert!(e.message.contains("8x9000"), "{}", e.message);
    }

    #[test]
    fn flagged_prompts_are_blocked_like_bedrocks_content_filters() {
        let e = run(TITAN, json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a nude portrait"}}))
            .expect_err("blocked");
        assert_eq!(e.message, TITAN_BLOCKED);
        let e = run(NOVA, json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "white power rally"}}))
            .expect_err("blocked");
        assert_eq!(e.message, NOVA_BLOCKED);
        assert!(run(NOVA, json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a photo shoot"}})).is_ok());
    }
}
