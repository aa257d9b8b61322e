//! What a completed advanced prompt optimization job writes, in the layout and shape AWS's
//! own samples show: `<outputConfig.s3Uri><jobId>/advanced_prompt_optimization_results.jsonl`,
//! one line per prompt template of the input JSONL (`templateId`, `promptTemplate` with
//! `{{variable}}` placeholders, `steeringCriteria`, `evaluationSamples[{inputVariables,
//! referenceResponse}]`), each with a `promptOptimizationResults` entry per target model:
//! the optimized template, every sample answered with the original and the optimized prompt
//! (as Converse requests of that model: scenario rules, recordings, the synthetic model), and
//! their token counts, scores and latencies, per sample and on average.
//!
//! The emulator's "optimization" is deterministic: the template, prefixed with an instruction
//! to follow it carefully and followed by its steering criteria as a checklist, placeholders
//! kept. A score is the word-level F1 of the answer against `referenceResponse` (1 without one).

use serde_json::{json, Map, Value};

use super::batch::{answer_as, Inner};
use super::Services;
use crate::backend::object_store::{join_key, split_s3_uri, Object};
use crate::backend::state::Scope;

/// Samples a job may hold across its templates.
pub const MAX_SAMPLES: usize = 1000;

/// The input's templates, each a JSON object with a `promptTemplate`.
pub struct Templates(Vec<Map<String, Value>>);

/// The input file a job reads.
pub fn sources(job: &Value) -> Vec<Option<String>> {
    vec![job["inputConfig"]["s3Uri"].as_str().map(str::to_string)]
}

/// The templates of the input JSONL, or why it cannot be used.
pub fn parse(_job: &Value, objects: Vec<Option<Vec<u8>>>) -> Result<Templates, String> {
    let bytes = objects.into_iter().next().flatten().ok_or("The job has no input file.")?;
    let text = std::str::from_utf8(&bytes).map_err(|_| "The input file is not UTF-8.".to_string())?;
    let mut templates = Vec::new();
    let mut samples = 0;
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let Ok(Value::Object(t)) = serde_json::from_str::<Value>(line) else {
            return Err(format!("Line {} of the input file is not a JSON object.", n + 1));
        };
        if !t.get("promptTemplate").is_some_and(Value::is_string) {
            return Err(format!("Line {} of the input file has no promptTemplate.", n + 1));
        }
        samples += t.get("evaluationSamples").and_then(Value::as_array).map_or(0, Vec::len);
        if samples > MAX_SAMPLES {
            return Err(format!("The input file holds more than {MAX_SAMPLES} evaluation samples."));
        }
        templates.push(t);
    }
    if templates.is_empty() {
        return Err("The input file holds no prompt template.".into());
    }
    Ok(Templates(templates))
}

/// The template as the emulator optimizes it.
fn optimized(template: &str, criteria: &[&str]) -> String {
    let mut out = format!("Read the task below carefully and answer it exactly.\n\n{template}");
    if !criteria.is_empty() {
        out.push_str("\n\nBefore answering, make sure that:");
        for c in criteria {
            out.push_str("\n- ");
            out.push_str(c);
        }
    }
    out
}

/// `template` with each `{{name}}` replaced by its value in `variables` (`[{name: value}]`).
fn render(template: &str, variables: &Value) -> String {
    let mut out = template.to_string();
    for pair in variables.as_array().into_iter().flatten().filter_map(Value::as_object) {
        for (name, value) in pair {
            let value = value.as_str().map_or_else(|| value.to_string(), str::to_string);
            out = out.replace(&format!("{{{{{name}}}}}"), &value);
        }
    }
    out
}

/// One answer's `…Metrics`: tokens, score and time to first token (the reply's latency).
fn run(
    services: &Services,
    scope: &Scope,
    model: &str,
    inference: &Value,
    prompt: &str,
    reference: Option<&str>,
) -> (String, Value) {
    let mut body = json!({"messages": [{"role": "user", "content": [{"text": prompt}]}]});
    if inference.is_object() {
        body["inferenceConfig"] = inference.clone();
    }
    let (text, usage, latency_ms) = match answer_as(services, scope, model, Inner::Converse, &body) {
        Ok((reply, (input, output))) => {
            let text: String = reply["output"]["message"]["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b["text"].as_str())
                .collect();
            (text, (input, output), reply["metrics"]["latencyMs"].as_u64().unwrap_or(0))
        }
        Err(_) => (String::new(), (0, 0), 0),
    };
    let score = reference.map_or(1.0, |r| super::evaluation_results::f1(&text, r));
    let metrics = json!({
        "inputTokens": usage.0,
        "outputTokens": usage.1,
        "score": (score * 10_000.0).round() / 10_000.0,
        "ttftInSec": latency_ms as f64 / 1000.0,
    });
    (text, metrics)
}

fn averages(metrics: &[&Value]) -> Value {
    let avg = |key: &str| {
        if metrics.is_empty() {
            return 0.0;
        }
        let sum: f64 = metrics.iter().map(|m| m[key].as_f64().unwrap_or(0.0)).sum();
        (sum / metrics.len() as f64 * 10_000.0).round() / 10_000.0
    };
    json!({
        "averageInputTokens": avg("inputTokens"),
        "averageOutputTokens": avg("outputTokens"),
        "averageScore": avg("score"),
        "averageTtftInSec": avg("ttftInSec"),
    })
}

/// The result object of job `id`.
pub fn objects(services: &Services, scope: &Scope, id: &str, job: &Value, templates: &Templates) -> Vec<Object> {
    let Some((bucket, prefix)) = job["outputConfig"]["s3Uri"].as_str().and_then(split_s3_uri) else {
        return Vec::new();
    };
    let models: Vec<(&str, &Value)> = job["modelConfigurations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| Some((m["modelId"].as_str()?, &m["inferenceConfig"])))
        .collect();
    let mut lines = String::new();
    for (n, t) in templates.0.iter().enumerate() {
        let template = t["promptTemplate"].as_str().unwrap_or_default();
        let template_id =
            t.get("templateId").and_then(Value::as_str).map_or_else(|| format!("template-{}", n + 1), str::to_string);
        let criteria: Vec<&str> = t
            .get("steeringCriteria")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let better = optimized(template, &criteria);
        let samples = t.get("evaluationSamples").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut results = Vec::new();
        for (model, inference) in &models {
            let mut dataset = Vec::new();
            for sample in &samples {
                let reference = sample["referenceResponse"].as_str();
                let variables = &sample["inputVariables"];
                let (before, before_metrics) =
                    run(services, scope, model, inference, &render(template, variables), reference);
                let (after, after_metrics) =
                    run(services, scope, model, inference, &render(&better, variables), reference);
                let mut entry = json!({
                    "inputVariables": variables,
                    "originalPromptDetails": {"originalPromptModelResponse": before, "originalPromptMetrics": before_metrics},
                    "optimizedPromptDetails": {"optimizedPromptModelResponse": after, "optimizedPromptMetrics": after_metrics},
                });
                if let Some(r) = reference {
                    entry["referenceResponse"] = json!(r);
                }
                dataset.push(entry);
            }
            let of = |key: &str, metrics: &str| -> Vec<&Value> { dataset.iter().map(|d| &d[key][metrics]).collect() };
            let original = averages(&of("originalPromptDetails", "originalPromptMetrics"));
            let improved = averages(&of("optimizedPromptDetails", "optimizedPromptMetrics"));
            results.push(json!({
                "status": "SUCCESS",
                "optimizedPromptTemplate": better,
                "dataset": dataset,
                "modelId": model,
                "optimizedPromptTemplateId": format!("{template_id}-optimized-for-{model}"),
                "originalPromptMetrics": original,
                "optimizedPromptMetrics": improved,
            }));
        }
        let mut line =
            json!({"promptTemplateId": template_id, "promptTemplate": template, "promptOptimizationResults": results});
        for key in ["steeringCriteria", "customEvaluationMetricLabel"] {
            if let Some(v) = t.get(key) {
                line[key] = v.clone();
            }
        }
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    vec![Object {
        bucket: bucket.to_string(),
        key: join_key(prefix, &format!("{id}/advanced_prompt_optimization_results.jsonl")),
        body: lines.into_bytes(),
        content_type: "application/jsonl",
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_kept_through_optimization() {
        let vars = json!([{"city": "Paris"}, {"n": 3}]);
        assert_eq!(render("Visit {{city}} {{n}} times", &vars), "Visit Paris 3 times");
        let better = optimized("Visit {{city}}", &["Be brief"]);
        assert!(better.contains("{{city}}") && better.ends_with("- Be brief"));
    }

    #[test]
    fn input_lines_need_a_template() {
        assert!(parse(&Value::Null, vec![Some(b"{\"promptTemplate\":\"x\"}\n".to_vec())]).is_ok());
        assert!(
            parse(&Value::Null, vec![Some(b"{\"other\":1}".to_vec())]).is_err_and(|e| e.contains("no promptTemplate"))
        );
        assert!(parse(&Value::Null, vec![Some(b"[1]".to_vec())]).is_err_and(|e| e.contains("not a JSON object")));
        assert!(parse(&Value::Null, vec![Some(Vec::new())]).is_err_and(|e| e.contains("no prompt template")));
    }
}
