//! The emulator's validity check of an automated-reasoning test case against a policy
//! definition — deterministic and small, in place of AWS's translation by a language model
//! and its SMT solver:
//!
//! * *Translation*: a variable of the definition is assigned where the text says
//!   `<variable> is|=|:|equals <value>` (the name as written, or with `_` read as a space;
//!   case ignored): `true`/`false`/`yes`/`no`, a number, or any other word (an enum value).
//!   The query's assignments are the premises, the guarded content's the claims (a claim
//!   overrides a premise of the same variable).
//! * *Check*: each rule's SMT-LIB expression (`and`, `or`, `not`, `=>`, `=`, `distinct`,
//!   `<`, `<=`, `>`, `>=`, `+`, `-`, `*`, `/`, `ite`, numbers, `true`/`false`, variables and
//!   enum values) is evaluated under the assignment, three-valued (a variable not assigned is
//!   unknown).
//! * *Finding*: no assignment at all → `NO_TRANSLATION`; a rule false under the premises alone →
//!   `IMPOSSIBLE`; a rule false once the claims are added → `INVALID` (those rules contradict);
//!   every rule true → `VALID` (all support it); else `SATISFIABLE`.

use serde_json::{json, Value};

/// A value in the check.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Bool(bool),
    Num(f64),
    Sym(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Atom(String),
    List(Vec<Expr>),
}

/// Expressions nest at most this deep (deeper ones are left unknown).
const MAX_DEPTH: usize = 64;

fn parse(text: &str) -> Option<Expr> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' => {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
                tokens.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    let mut at = 0;
    let expr = read(&tokens, &mut at, 0)?;
    (at == tokens.len()).then_some(expr)
}

fn read(tokens: &[String], at: &mut usize, depth: usize) -> Option<Expr> {
    if depth > MAX_DEPTH {
        return None;
    }
    let token = tokens.get(*at)?;
    *at += 1;
    match token.as_str() {
        "(" => {
            let mut items = Vec::new();
            while tokens.get(*at)? != ")" {
                items.push(read(tokens, at, depth + 1)?);
            }
            *at += 1;
            Some(Expr::List(items))
        }
        ")" => None,
        atom => Some(Expr::Atom(atom.to_string())),
    }
}

fn value_of(word: &str) -> V {
    match word.to_lowercase().as_str() {
        "true" | "yes" => V::Bool(true),
        "false" | "no" => V::Bool(false),
        w => w.parse::<f64>().map(V::Num).unwrap_or_else(|_| V::Sym(w.to_string())),
    }
}

/// `None`: unknown.
fn eval(e: &Expr, env: &Env) -> Option<V> {
    match e {
        // A variable not assigned is unknown (enum values are read by `eval_or_symbol`).
        Expr::Atom(a) => match env.values.iter().find(|(n, _)| n.eq_ignore_ascii_case(a)) {
            Some((_, v)) => Some(v.clone()),
            None if is_literal(a) => Some(value_of(a)),
            None => None,
        },
        Expr::List(items) => {
            let (Some(Expr::Atom(op)), args) = (items.first(), &items[1.min(items.len())..]) else { return None };
            let bools =
                || args.iter().map(|a| eval(a, env).and_then(|v| if let V::Bool(b) = v { Some(b) } else { None }));
            let nums = || -> Option<Vec<f64>> {
                args.iter().map(|a| eval(a, env).and_then(|v| if let V::Num(n) = v { Some(n) } else { None })).collect()
            };
            match op.as_str() {
                "and" => three(bools(), false),
                "or" => three(bools(), true),
                "not" => bools().next()?.map(|b| V::Bool(!b)),
                "=>" => {
                    let mut b = bools();
                    let (p, q) = (b.next()?, b.next()?);
                    match (p, q) {
                        (Some(false), _) | (_, Some(true)) => Some(V::Bool(true)),
                        (Some(true), Some(false)) => Some(V::Bool(false)),
                        _ => None,
                    }
                }
                "=" | "distinct" => {
                    let values: Option<Vec<V>> = args.iter().map(|a| eval_or_symbol(a, env)).collect();
                    let values = values?;
                    let same = values.windows(2).all(|w| w[0] == w[1]);
                    Some(V::Bool(if op == "=" { same } else { !same }))
                }
                "<" | "<=" | ">" | ">=" => {
                    let n = nums()?;
                    let ok = n.windows(2).all(|w| match op.as_str() {
                        "<" => w[0] < w[1],
                        "<=" => w[0] <= w[1],
                        ">" => w[0] > w[1],
                        _ => w[0] >= w[1],
                    });
                    Some(V::Bool(ok))
                }
                "+" => Some(V::Num(nums()?.iter().sum())),
                "*" => Some(V::Num(nums()?.iter().product())),
                "-" => {
                    let n = nums()?;
                    match n.split_first()? {
                        (first, []) => Some(V::Num(-first)),
                        (first, rest) => Some(V::Num(rest.iter().fold(*first, |a, b| a - b))),
                    }
                }
                "/" => {
                    let n = nums()?;
                    let (first, rest) = n.split_first()?;
                    rest.iter().try_fold(*first, |a, b| (*b != 0.0).then(|| a / b)).map(V::Num)
                }
                "ite" => match eval(args.first()?, env)? {
                    V::Bool(true) => eval_or_symbol(args.get(1)?, env),
                    V::Bool(false) => eval_or_symbol(args.get(2)?, env),
                    _ => None,
                },
                _ => None,
            }
        }
    }
}

/// What the check knows: the assigned variables, and every variable's name.
struct Env {
    values: Vec<(String, V)>,
    names: Vec<String>,
}

/// A bare name that is no variable is an enum value (in `=` and `ite`).
fn eval_or_symbol(e: &Expr, env: &Env) -> Option<V> {
    match e {
        Expr::Atom(a) if !env.names.iter().any(|n| n.eq_ignore_ascii_case(a)) && !is_literal(a) => {
            Some(V::Sym(a.to_lowercase()))
        }
        _ => eval(e, env),
    }
}

fn is_literal(a: &str) -> bool {
    matches!(a, "true" | "false") || a.parse::<f64>().is_ok()
}

/// `and` (`short` false) or `or` (`short` true), three-valued.
fn three(values: impl Iterator<Item = Option<bool>>, short: bool) -> Option<V> {
    let mut unknown = false;
    for v in values {
        match v {
            Some(b) if b == short => return Some(V::Bool(short)),
            Some(_) => {}
            None => unknown = true,
        }
    }
    (!unknown).then_some(V::Bool(!short))
}

/// The variables `text` assigns, of those `names`.
fn assignments(text: &str, names: &[String]) -> Vec<(String, V)> {
    let lower = text.to_lowercase();
    let mut out: Vec<(String, V)> = Vec::new();
    for name in names {
        for spelled in [name.to_lowercase(), name.to_lowercase().replace('_', " ")] {
            let Some(at) = lower.find(&spelled) else { continue };
            let rest = lower[at + spelled.len()..].trim_start();
            let rest = ["is ", "was ", "equals ", "= ", "=", ": ", ":"]
                .iter()
                .find_map(|sep| rest.strip_prefix(sep))
                .map(str::trim_start);
            let Some(rest) = rest else { continue };
            let word: String =
                rest.chars().take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-')).collect();
            let word = word.trim_end_matches('.');
            if !word.is_empty() && !out.iter().any(|(n, _)| n == name) {
                out.push((name.clone(), value_of(word)));
            }
        }
    }
    out
}

fn show(v: &V) -> String {
    match v {
        V::Bool(b) => b.to_string(),
        V::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        V::Num(n) => n.to_string(),
        V::Sym(s) => s.clone(),
    }
}

fn statements(list: &[(String, V)]) -> Vec<Value> {
    list.iter()
        .map(
            |(n, v)| json!({"logic": format!("(= {n} {})", show(v)), "naturalLanguage": format!("{n} is {}", show(v))}),
        )
        .collect()
}

/// The aggregated result and the findings of a test case (`query`, `guarded`) against
/// `definition`; rules are named with `policy_arn`.
pub fn check(definition: &Value, query: &str, guarded: &str, policy_arn: &str) -> (&'static str, Vec<Value>) {
    let names: Vec<String> = definition["variables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    let premises = assignments(query, &names);
    let claims = assignments(guarded, &names);
    if premises.is_empty() && claims.is_empty() {
        return ("NO_TRANSLATION", vec![json!({"noTranslations": {}})]);
    }
    let mut values = claims.clone();
    values.extend(premises.iter().filter(|(n, _)| !claims.iter().any(|(c, _)| c == n)).cloned());
    let translation = json!({"premises": statements(&premises), "claims": statements(&claims), "confidence": 1.0});
    let rules: Vec<(Value, Option<Expr>)> = definition["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let named = json!({"id": r["id"].as_str().unwrap_or_default(), "policyVersionArn": policy_arn});
            (named, r["expression"].as_str().and_then(parse))
        })
        .collect();
    // Premises the rules already contradict, before any claim: nothing can be concluded.
    let premises_only = Env { values: premises.clone(), names: names.clone() };
    let contradicted: Vec<Value> = rules
        .iter()
        .filter(|(_, e)| e.as_ref().and_then(|e| eval(e, &premises_only)) == Some(V::Bool(false)))
        .map(|(named, _)| named.clone())
        .collect();
    if !contradicted.is_empty() {
        return (
            "IMPOSSIBLE",
            vec![json!({"impossible": {"translation": translation, "contradictingRules": contradicted}})],
        );
    }
    let env = Env { values, names };
    let mut holding = Vec::new();
    let mut broken = Vec::new();
    let mut unknown = false;
    for (named, expr) in rules {
        match expr.and_then(|e| eval(&e, &env)) {
            Some(V::Bool(true)) => holding.push(named),
            Some(V::Bool(false)) => broken.push(named),
            _ => unknown = true,
        }
    }
    if !broken.is_empty() {
        ("INVALID", vec![json!({"invalid": {"translation": translation, "contradictingRules": broken}})])
    } else if !unknown {
        ("VALID", vec![json!({"valid": {"translation": translation, "supportingRules": holding}})])
    } else {
        ("SATISFIABLE", vec![json!({"satisfiable": {"translation": translation}})])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition() -> Value {
        json!({
            "variables": [{"name": "age", "type": "INT"}, {"name": "is_adult", "type": "BOOL"}, {"name": "plan", "type": "Plan"}],
            "rules": [
                {"id": "A1", "expression": "(=> (>= age 18) is_adult)"},
                {"id": "P1", "expression": "(=> (= plan premium) is_adult)"}
            ]
        })
    }

    #[test]
    fn claims_that_follow_are_valid_and_those_that_break_a_rule_invalid() {
        let d = definition();
        assert_eq!(check(&d, "The customer's age is 30.", "is adult is true", "arn").0, "VALID");
        let (result, findings) = check(&d, "age: 30", "is_adult = false", "arn");
        assert_eq!(result, "INVALID");
        assert_eq!(findings[0]["invalid"]["contradictingRules"][0]["id"], "A1");
        assert_eq!(check(&d, "age is 12", "", "arn").0, "SATISFIABLE");
        assert_eq!(check(&d, "Hello there", "Nothing to see", "arn").0, "NO_TRANSLATION");
        assert_eq!(check(&d, "age is 12, plan is premium", "is_adult is false", "arn").0, "INVALID");
        // The premises alone break A1 (an adult age, not an adult): nothing follows.
        let (result, findings) = check(&d, "age is 40 and is_adult is false", "plan is basic", "arn");
        assert_eq!(result, "IMPOSSIBLE");
        assert_eq!(findings[0]["impossible"]["contradictingRules"][0]["id"], "A1");
    }

    #[test]
    fn expressions_are_three_valued_and_bounded() {
        let env = Env { values: vec![("x".to_string(), V::Num(2.0))], names: vec!["x".into(), "y".into()] };
        let e = |s: &str| parse(s).and_then(|e| eval(&e, &env));
        assert_eq!(e("(and (> x 1) (< x 3))"), Some(V::Bool(true)));
        assert_eq!(e("(or (> y 1) (> x 1))"), Some(V::Bool(true)));
        assert_eq!(e("(and (> y 1) (> x 1))"), None);
        assert_eq!(e("(= (+ x 1) 3)"), Some(V::Bool(true)));
        assert_eq!(e("(/ x 0)"), None);
        assert!(parse(&format!("{}x{}", "(".repeat(100), ")".repeat(100))).is_none());
        assert!(parse("(and").is_none());
    }
}
