//! Limits of the documents users hand the emulator (scenario files, fault rules, quota and
//! credentials files, recordings to import), checked before a parser sees them:
//!
//! * size: [`MAX_DOCUMENT_BYTES`]; files are read through [`read_bounded`], which stops at the
//!   limit whatever the file claims (a FIFO or `/dev/zero` included);
//! * nesting: at most [`MAX_NESTING`] flow collections (`[…]`, `{…}`) inside one another.
//!   The YAML parser's work grows with the square of the flow nesting (`[[[[…]]]]` eight
//!   thousand deep took seconds), so the depth is measured first (`yaml_depth`), by a pass
//!   that stops at the first collection past the limit and so stays linear. Block nesting
//!   (indentation) costs the parser nothing extra; serde's own recursion limit bounds it.
//!   JSON, all of whose collections are flow and which serde_json reads in linear time, is
//!   held to the same depth for one rule.
//!
//! Refusals are [`LoadError`]s naming the file, and for nesting the line and column.

use std::io::Read as _;
use std::path::Path;

use super::format::LoadError;

/// Largest scenario document, fault rule, quota file or credentials file (a hand-written file
/// is a few KiB; embedded native bodies and stream scripts fit many times over).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// Deepest nesting of flow collections (a scenario file nests its flow mappings a few deep;
/// JSON bodies and schemas inside replies rarely pass twenty).
pub const MAX_NESTING: usize = 64;

fn error(source: &str, line: Option<usize>, column: Option<usize>, message: String) -> LoadError {
    LoadError { file: source.to_string(), line, column, message }
}

/// Refuses `text` past `max` bytes.
pub fn check_size(source: &str, text: &str, max: usize) -> Result<(), LoadError> {
    if text.len() > max {
        return Err(error(
            source,
            None,
            None,
            format!("the document is {} bytes, more than the {max} bytes bedrock-emulator reads", text.len()),
        ));
    }
    Ok(())
}

fn too_deep(source: &str, line: usize, column: usize) -> LoadError {
    error(
        source,
        Some(line),
        Some(column),
        format!(
            "line {line} column {column}: collections are nested more than {MAX_NESTING} deep; bedrock-emulator reads documents nested at most {MAX_NESTING} deep"
        ),
    )
}

/// Refuses JSON `text` nested deeper than [`MAX_NESTING`]. Exact for JSON (strings and
/// escapes are skipped); text that is not JSON is left to the parser to refuse.
pub fn check_json_depth(source: &str, text: &str) -> Result<(), LoadError> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            column = 0;
        } else {
            column += 1;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep(source, line, column));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Refuses YAML `text` whose flow collections nest deeper than [`MAX_NESTING`], measured as
/// libyaml's scanner reads them (`yaml_depth`), in one pass that stops where the limit is
/// passed. Block nesting costs the parser nothing extra and is left to its own limits.
pub fn check_yaml_depth(source: &str, text: &str) -> Result<(), LoadError> {
    match super::yaml_depth::check(text, MAX_NESTING) {
        Ok(()) => Ok(()),
        Err(e) if e.after_error => Err(error(
            source,
            Some(e.line),
            Some(e.column),
            format!(
                "line {} column {}: more than {MAX_NESTING} flow collections may be open here, after text the YAML parser refuses earlier in the document; bedrock-emulator reads documents nested at most {MAX_NESTING} deep",
                e.line, e.column
            ),
        )),
        Err(e) => Err(too_deep(source, e.line, e.column)),
    }
}

/// Reads a text file of at most `max` bytes; a longer one is refused without being read
/// whole.
pub fn read_bounded(path: &Path, max: usize) -> Result<String, LoadError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| error(&name, None, None, e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1).read_to_end(&mut bytes).map_err(|e| error(&name, None, None, e.to_string()))?;
    if bytes.len() > max {
        return Err(error(&name, None, None, format!("the file is more than the {max} bytes bedrock-emulator reads")));
    }
    String::from_utf8(bytes).map_err(|_| error(&name, None, None, "the file is not UTF-8 text".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_flow(depth: usize) -> String {
        format!("version: 1\ndescription: {}x{}\n", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn a_document_nested_past_the_limit_is_refused_where_it_passes_it() {
        assert!(check_yaml_depth("ok.yaml", &nested_flow(MAX_NESTING - 1)).is_ok());
        let e = check_yaml_depth("deep.yaml", &nested_flow(100_000)).expect_err("too deep");
        assert_eq!((e.line, e.column), (Some(2), Some("description: ".len() + MAX_NESTING + 1)));
        assert!(e.message.contains("nested more than 64 deep"), "{}", e.message);
        let mapping = format!("version: 1\ndescription: {}x{}\n", "{a: ".repeat(50_000), "}".repeat(50_000));
        assert!(check_yaml_depth("deep.yaml", &mapping).is_err());
    }

    #[test]
    fn json_nesting_skips_strings_and_escapes() {
        assert!(check_json_depth("a.json", &format!("{{\"a\": \"{}\\\"\"}}", "[".repeat(200))).is_ok());
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let e = check_json_depth("a.json", &deep).expect_err("too deep");
        assert_eq!((e.line, e.column), (Some(1), Some(65)));
        assert!(check_json_depth("a.json", &format!("{}{}", "[".repeat(64), "]".repeat(64))).is_ok());
    }

    #[test]
    fn reading_stops_at_the_limit() {
        let dir = std::env::temp_dir().join(format!("bedrock-emulator-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("big.yaml");
        std::fs::write(&path, "x".repeat(101)).expect("write");
        assert!(read_bounded(&path, 100).is_err());
        assert_eq!(read_bounded(&path, 101).expect("fits").len(), 101);
        let _ = std::fs::remove_dir_all(&dir);
        #[cfg(unix)]
        assert!(read_bounded(Path::new("/dev/zero"), 1000).is_err(), "an endless file is refused at the limit");
    }
}
