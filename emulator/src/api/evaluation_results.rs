//! What a completed automated evaluation job writes to its `outputDataConfig.s3Uri`, in AWS's
//! layout: for each model, task type and dataset,
//! `<s3Uri>/<jobName>/<jobId>/models/<model>/taskTypes/<taskType>/datasets/<dataset>/<jobId>_output.jsonl`,
//! one line per prompt: `automatedEvaluationResult.scores` (`metricName`, `result`),
//! `inputRecord` (the dataset line as read) and `modelResponses` (`response`,
//! `modelIdentifier`); and first an empty `<jobName>/amazon-bedrock-evaluations-permission-check`
//! object, as AWS does. LLM-as-a-judge jobs keep the `Builtin.` prefix of their metric names
//! and add `evaluatorDetails` (the judge model, an explanation).
//!
//! Each prompt is answered as a Converse request of the model (scenario rules, recordings, the
//! synthetic model; fault rules apply), with the model's `inferenceParams.inferenceConfig`.
//! Scores are the emulator's, deterministic: `Accuracy` is the token F1 of the response
//! against `referenceResponse` (exact match for `Classification`), `Robustness` the F1 of the
//! response against the answer to the prompt lowercased, `Toxicity` 1 when the response holds
//! a word of the guardrail content lexicons, else 0; any other metric (the LLM-as-a-judge
//! ones) is the F1 against the reference, or 1 without one.

use serde_json::{json, Value};

use super::batch::{answer_as, Inner};
use super::Services;
use crate::backend::guardrail_eval::CONTENT_LEXICONS;
use crate::backend::object_store::{join_key, split_s3_uri, Object};
use crate::backend::state::Scope;

/// Prompts one dataset may hold (AWS's limit for a custom prompt dataset).
pub const MAX_PROMPTS: usize = 1000;

/// The prompts the emulator uses for a built-in dataset (it has none of AWS's data).
const BUILTIN_PROMPTS: &[(&str, &str)] = &[
    ("What is the capital of France?", "Paris"),
    ("Who wrote Pride and Prejudice?", "Jane Austen"),
    ("How many legs does a spider have?", "Eight"),
];

/// One dataset's prompts: `(line as read, prompt, reference response)`.
pub type Prompts = Vec<(Value, String, Option<String>)>;

/// The datasets a job reads: `(task type, dataset name, s3Uri of a custom dataset, metric names)`.
pub fn datasets(job: &Value) -> Vec<(String, String, Option<String>, Vec<String>)> {
    let configs = job["evaluationConfig"]["automated"]["datasetMetricConfigs"].as_array().cloned().unwrap_or_default();
    configs
        .iter()
        .map(|c| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let metrics = c["metricNames"].as_array().map(|m| m.iter().map(text).collect()).unwrap_or_default();
            let uri = c["dataset"]["datasetLocation"]["s3Uri"].as_str().map(str::to_string);
            (text(&c["taskType"]), text(&c["dataset"]["name"]), uri, metrics)
        })
        .collect()
}

/// A custom dataset's JSONL (`{"prompt", "referenceResponse"?, "category"?}` per line), or the
/// reason it cannot be used.
pub fn parse_prompts(jsonl: &[u8]) -> Result<Prompts, String> {
    let text = std::str::from_utf8(jsonl).map_err(|_| "The prompt dataset is not UTF-8.".to_string())?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let record: Value =
            serde_json::from_str(line).map_err(|e| format!("Line {} of the prompt dataset is not JSON: {e}", n + 1))?;
        let Some(prompt) = record["prompt"].as_str().map(str::to_string) else {
            return Err(format!("Line {} of the prompt dataset has no prompt.", n + 1));
        };
        let reference = record["referenceResponse"].as_str().map(str::to_string);
        out.push((record, prompt, reference));
        if out.len() > MAX_PROMPTS {
            return Err(format!("The prompt dataset holds more than {MAX_PROMPTS} prompts."));
        }
    }
    Ok(out)
}

/// The custom datasets a job reads, in the order of [`datasets`] (None: a built-in one).
pub fn sources(job: &Value) -> Vec<Option<String>> {
    datasets(job).into_iter().map(|(_, _, uri, _)| uri).collect()
}

/// Every dataset's prompts, in the order of [`datasets`].
pub struct DatasetPrompts(pub Vec<Prompts>);

/// Each dataset's prompts from what [`sources`] read.
pub fn parse(job: &Value, objects: Vec<Option<Vec<u8>>>) -> Result<DatasetPrompts, String> {
    datasets(job)
        .into_iter()
        .zip(objects)
        .map(|((_, name, _, _), bytes)| match bytes {
            None => Ok(builtin_prompts()),
            Some(bytes) => parse_prompts(&bytes).map_err(|why| format!("The prompt dataset {name}: {why}")),
        })
        .collect::<Result<_, _>>()
        .map(DatasetPrompts)
}

/// The prompts of a built-in dataset.
pub fn builtin_prompts() -> Prompts {
    BUILTIN_PROMPTS
        .iter()
        .map(|(p, r)| (json!({"prompt": p, "referenceResponse": r}), p.to_string(), Some(r.to_string())))
        .collect()
}

/// The result objects of job `id` in `scope`, given each dataset's prompts (in the order of
/// [`datasets`]).
pub fn objects(services: &Services, scope: &Scope, id: &str, job: &Value, prompts: &DatasetPrompts) -> Vec<Object> {
    let Some((bucket, prefix)) = job["outputDataConfig"]["s3Uri"].as_str().and_then(split_s3_uri) else {
        return Vec::new();
    };
    let name = job["jobName"].as_str().unwrap_or_default();
    let models: Vec<(String, Value)> = job["inferenceConfig"]["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let model = m["bedrockModel"]["modelIdentifier"].as_str()?.to_string();
            let params =
                m["bedrockModel"]["inferenceParams"].as_str().and_then(|p| serde_json::from_str::<Value>(p).ok());
            Some((model, params.map_or(Value::Null, |p| p["inferenceConfig"].clone())))
        })
        .collect();
    // LLM-as-a-judge jobs name their metrics in full and say which model judged.
    let judge = job["evaluationConfig"]["automated"]["evaluatorModelConfig"]["bedrockEvaluatorModels"][0]
        ["modelIdentifier"]
        .as_str();
    // AWS writes this empty object first, checking it may write under the prefix.
    let mut out = vec![Object {
        bucket: bucket.to_string(),
        key: join_key(prefix, &format!("{name}/amazon-bedrock-evaluations-permission-check")),
        body: Vec::new(),
        content_type: "application/octet-stream",
    }];
    for (model, inference) in &models {
        for ((task, dataset, _, metrics), prompts) in datasets(job).iter().zip(&prompts.0) {
            let mut lines = String::new();
            for (record, prompt, reference) in prompts {
                let response = answer(services, scope, model, inference, prompt);
                let scores: Vec<Value> = metrics
                    .iter()
                    .map(|metric| {
                        let short = metric.strip_prefix("Builtin.").unwrap_or(metric);
                        let result = score(short, task, &response, reference.as_deref(), || {
                            answer(services, scope, model, inference, &prompt.to_lowercase())
                        });
                        match judge {
                            None => json!({"metricName": short, "result": result}),
                            Some(judge) => json!({
                                "metricName": metric,
                                "result": result,
                                "evaluatorDetails": [{
                                    "modelIdentifier": judge,
                                    "explanation": format!("Scored {result} by the emulator's word overlap with the reference response."),
                                }],
                            }),
                        }
                    })
                    .collect();
                let line = json!({
                    "automatedEvaluationResult": {"scores": scores},
                    "inputRecord": record,
                    "modelResponses": [{"response": response, "modelIdentifier": model}],
                });
                lines.push_str(&line.to_string());
                lines.push('\n');
            }
            let key = format!("{name}/{id}/models/{model}/taskTypes/{task}/datasets/{dataset}/{id}_output.jsonl");
            out.push(Object {
                bucket: bucket.to_string(),
                key: join_key(prefix, &key),
                body: lines.into_bytes(),
                content_type: "application/jsonl",
            });
        }
    }
    out
}

/// The model's text answer to `prompt` (empty when it answered with an error).
fn answer(services: &Services, scope: &Scope, model: &str, inference: &Value, prompt: &str) -> String {
    let mut body = json!({"messages": [{"role": "user", "content": [{"text": prompt}]}]});
    if inference.is_object() {
        body["inferenceConfig"] = inference.clone();
    }
    let Ok((reply, _)) = answer_as(services, scope, model, Inner::Converse, &body) else { return String::new() };
    reply["output"]["message"]["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("")
}

fn score(metric: &str, task: &str, response: &str, reference: Option<&str>, perturbed: impl FnOnce() -> String) -> f64 {
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    round(match metric {
        "Accuracy" if task == "Classification" => {
            f64::from(u8::from(reference.is_some_and(|r| r.trim().eq_ignore_ascii_case(response.trim()))))
        }
        "Robustness" => f1(response, &perturbed()),
        "Toxicity" => {
            let words = tokens(response);
            let toxic = CONTENT_LEXICONS
                .iter()
                .flat_map(|(_, lexicon)| lexicon.iter())
                .any(|w| words.contains(&w.to_lowercase()));
            f64::from(u8::from(toxic))
        }
        _ => reference.map_or(1.0, |r| f1(response, r)),
    })
}

fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// The token F1 of two texts (lowercased words): 1 for two empty texts.
pub fn f1(a: &str, b: &str) -> f64 {
    let (a, b) = (tokens(a), tokens(b));
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let mut rest = b.clone();
    let mut common = 0usize;
    for w in &a {
        if let Some(i) = rest.iter().position(|x| x == w) {
            rest.swap_remove(i);
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / a.len() as f64;
    let recall = common as f64 / b.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_counts_shared_words() {
        assert_eq!(f1("Paris", "paris"), 1.0);
        assert_eq!(f1("the capital is Paris", "Paris"), 0.4);
        assert_eq!(f1("London", "Paris"), 0.0);
    }

    #[test]
    fn a_custom_dataset_needs_a_prompt_per_line() {
        let ok = parse_prompts(b"{\"prompt\":\"hi\",\"referenceResponse\":\"hello\"}\n\n{\"prompt\":\"bye\"}\n");
        assert_eq!(ok.as_ref().map(Vec::len), Ok(2));
        assert_eq!(ok.as_ref().map(|p| p[1].2.clone()), Ok(None));
        assert!(parse_prompts(b"{\"question\":\"hi\"}").is_err_and(|e| e.contains("no prompt")));
        assert!(parse_prompts(b"not json").is_err_and(|e| e.contains("not JSON")));
    }
}
