//! How deep YAML flow collections (`[…]`, `{…}`) nest, measured the way the YAML parser sees
//! them, in one linear pass.
//!
//! libyaml (the parser under serde_yaml_ng) does work proportional to the current flow depth
//! for every token it scans, so a document of `[[[[…]]]]` eight thousand deep takes seconds.
//! Counting brackets is not enough to bound that depth: brackets inside quoted, plain and block
//! scalars and comments are text, and which text is which depends on YAML's indentation rules.
//! This module is a port of libyaml's *scanner* (`scanner.c`, as translated in unsafe-libyaml)
//! reduced to what decides token boundaries: the same character classes, simple keys, block
//! indentation, and quoted, plain and block scalar rules. It builds no tokens or values.
//!
//! Soundness: the depth reported is never below the one libyaml reaches. Where the port meets
//! something libyaml refuses (a scanner error, after which libyaml stops), it stops trusting
//! its own reading and from there counts every `[`/`{` as an opening and no `]`/`}` as a
//! closing, which over-counts whatever libyaml would have done.

/// Where a document's flow nesting first passes a limit (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    /// Line of the collection that passed the limit.
    pub line: usize,
    /// Its column.
    pub column: usize,
    /// Whether the count was only an upper bound at that point (the port had met text
    /// libyaml refuses before it).
    pub after_error: bool,
}

/// Checks that `text` never opens more than `limit` flow collections inside one another.
pub fn check(text: &str, limit: usize) -> Result<(), TooDeep> {
    let mut s = Scanner::new(text.as_bytes(), limit);
    match s.run() {
        Ok(()) => Ok(()),
        Err(Stop::TooDeep) => Err(TooDeep { line: s.line + 1, column: s.column + 1, after_error: false }),
        Err(Stop::Unsure) => s.saturate(),
    }
}

/// Why scanning stopped early.
enum Stop {
    /// The flow depth passed the limit.
    TooDeep,
    /// A scanner error in libyaml's terms: the rest is counted without trusting the reading.
    Unsure,
}

#[derive(Debug, Clone, Copy, Default)]
struct SimpleKey {
    possible: bool,
    required: bool,
    index: usize,
    line: usize,
    column: usize,
}

struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
    /// Characters read (libyaml's `mark.index`).
    index: usize,
    line: usize,
    column: usize,
    flow_level: usize,
    indent: i64,
    indents: Vec<i64>,
    simple_key_allowed: bool,
    /// One per flow level, plus the block level's.
    simple_keys: Vec<SimpleKey>,
    limit: usize,
}

type Step = Result<(), Stop>;

impl<'a> Scanner<'a> {
    fn new(b: &'a [u8], limit: usize) -> Self {
        Scanner {
            b,
            pos: 0,
            index: 0,
            line: 0,
            column: 0,
            flow_level: 0,
            indent: -1,
            indents: Vec::new(),
            simple_key_allowed: true,
            simple_keys: vec![SimpleKey::default()],
            limit,
        }
    }

    // --- characters (libyaml's macros) ----------------------------------------------------

    fn at(&self, k: usize) -> Option<u8> {
        self.b.get(self.pos + k).copied()
    }

    fn check(&self, c: u8) -> bool {
        self.at(0) == Some(c)
    }

    fn check_at(&self, c: u8, k: usize) -> bool {
        self.at(k) == Some(c)
    }

    fn is_z(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn is_blank_at(&self, k: usize) -> bool {
        matches!(self.at(k), Some(b' ' | b'\t'))
    }

    fn is_break_at(&self, k: usize) -> bool {
        match self.at(k) {
            Some(b'\r' | b'\n') => true,
            // NEL (C2 85), LINE SEPARATOR (E2 80 A8), PARAGRAPH SEPARATOR (E2 80 A9).
            Some(0xC2) => self.at(k + 1) == Some(0x85),
            Some(0xE2) => self.at(k + 1) == Some(0x80) && matches!(self.at(k + 2), Some(0xA8 | 0xA9)),
            _ => false,
        }
    }

    fn is_blankz_at(&self, k: usize) -> bool {
        self.pos + k >= self.b.len() || self.is_blank_at(k) || self.is_break_at(k)
    }

    fn is_break(&self) -> bool {
        self.is_break_at(0)
    }

    fn is_blank(&self) -> bool {
        self.is_blank_at(0)
    }

    fn is_blankz(&self) -> bool {
        self.is_blankz_at(0)
    }

    fn is_breakz(&self) -> bool {
        self.is_z() || self.is_break()
    }

    fn is_alpha(&self) -> bool {
        matches!(self.at(0), Some(b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'-'))
    }

    fn is_hex_at(&self, k: usize) -> bool {
        self.at(k).is_some_and(|c| c.is_ascii_hexdigit())
    }

    fn is_bom(&self) -> bool {
        self.b[self.pos.min(self.b.len())..].starts_with(&[0xEF, 0xBB, 0xBF])
    }

    fn width(&self) -> usize {
        match self.at(0) {
            Some(c) if c & 0x80 == 0 => 1,
            Some(c) if c & 0xE0 == 0xC0 => 2,
            Some(c) if c & 0xF0 == 0xE0 => 3,
            Some(c) if c & 0xF8 == 0xF0 => 4,
            _ => 1,
        }
    }

    fn skip(&mut self) {
        self.pos = (self.pos + self.width()).min(self.b.len());
        self.index += 1;
        self.column += 1;
    }

    fn skip_line(&mut self) {
        if self.check(b'\r') && self.check_at(b'\n', 1) {
            self.pos += 2;
            self.index += 2;
        } else if self.is_break() {
            self.pos += self.width();
            self.index += 1;
        } else {
            return;
        }
        self.column = 0;
        self.line += 1;
    }

    fn document_indicator(&self) -> bool {
        self.column == 0
            && ((self.check(b'-') && self.check_at(b'-', 1) && self.check_at(b'-', 2))
                || (self.check(b'.') && self.check_at(b'.', 1) && self.check_at(b'.', 2)))
            && self.is_blankz_at(3)
    }

    // --- simple keys, flow levels and indentation -------------------------------------------

    fn stale_simple_keys(&mut self) -> Step {
        let (line, index) = (self.line, self.index);
        for key in &mut self.simple_keys {
            if key.possible && (key.line < line || key.index + 1024 < index) {
                if key.required {
                    return Err(Stop::Unsure);
                }
                key.possible = false;
            }
        }
        Ok(())
    }

    fn top_key(&mut self) -> &mut SimpleKey {
        let last = self.simple_keys.len() - 1;
        &mut self.simple_keys[last]
    }

    fn remove_simple_key(&mut self) -> Step {
        let key = self.top_key();
        if key.possible && key.required {
            return Err(Stop::Unsure);
        }
        key.possible = false;
        Ok(())
    }

    fn save_simple_key(&mut self) -> Step {
        let required = self.flow_level == 0 && self.indent == self.column as i64;
        if self.simple_key_allowed {
            self.remove_simple_key()?;
            let key = SimpleKey { possible: true, required, index: self.index, line: self.line, column: self.column };
            *self.top_key() = key;
        }
        Ok(())
    }

    fn increase_flow_level(&mut self) -> Step {
        self.simple_keys.push(SimpleKey::default());
        self.flow_level += 1;
        if self.flow_level > self.limit {
            return Err(Stop::TooDeep);
        }
        Ok(())
    }

    fn decrease_flow_level(&mut self) {
        if self.flow_level > 0 {
            self.flow_level -= 1;
            self.simple_keys.pop();
        }
    }

    fn roll_indent(&mut self, column: i64) {
        if self.flow_level == 0 && self.indent < column {
            self.indents.push(self.indent);
            self.indent = column;
        }
    }

    fn unroll_indent(&mut self, column: i64) {
        if self.flow_level != 0 {
            return;
        }
        while self.indent > column {
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    // --- tokens -------------------------------------------------------------------------------

    fn run(&mut self) -> Step {
        loop {
            self.scan_to_next_token();
            self.stale_simple_keys()?;
            self.unroll_indent(self.column as i64);
            if self.is_z() {
                return Ok(());
            }
            self.fetch_next_token()?;
        }
    }

    fn scan_to_next_token(&mut self) {
        loop {
            if self.column == 0 && self.is_bom() {
                self.skip();
            }
            while self.check(b' ') || ((self.flow_level != 0 || !self.simple_key_allowed) && self.check(b'\t')) {
                self.skip();
            }
            if self.check(b'#') {
                while !self.is_breakz() {
                    self.skip();
                }
            }
            if !self.is_break() {
                break;
            }
            self.skip_line();
            if self.flow_level == 0 {
                self.simple_key_allowed = true;
            }
        }
    }

    fn fetch_next_token(&mut self) -> Step {
        let c = self.at(0).unwrap_or(0);
        if self.column == 0 && c == b'%' {
            // A directive: libyaml reads it to the end of its line (or refuses it).
            self.unroll_indent(-1);
            self.remove_simple_key()?;
            self.simple_key_allowed = false;
            while !self.is_breakz() {
                self.skip();
            }
            self.skip_line();
            return Ok(());
        }
        if self.document_indicator() {
            self.unroll_indent(-1);
            self.remove_simple_key()?;
            self.simple_key_allowed = false;
            self.skip();
            self.skip();
            self.skip();
            return Ok(());
        }
        match c {
            b'[' | b'{' => {
                self.save_simple_key()?;
                self.increase_flow_level()?;
                self.simple_key_allowed = true;
                self.skip();
                Ok(())
            }
            b']' | b'}' => {
                self.remove_simple_key()?;
                self.decrease_flow_level();
                self.simple_key_allowed = false;
                self.skip();
                Ok(())
            }
            b',' => {
                self.remove_simple_key()?;
                self.simple_key_allowed = true;
                self.skip();
                Ok(())
            }
            b'-' if self.is_blankz_at(1) => {
                if self.flow_level == 0 {
                    if !self.simple_key_allowed {
                        return Err(Stop::Unsure);
                    }
                    self.roll_indent(self.column as i64);
                }
                self.remove_simple_key()?;
                self.simple_key_allowed = true;
                self.skip();
                Ok(())
            }
            b'?' if self.flow_level != 0 || self.is_blankz_at(1) => {
                if self.flow_level == 0 {
                    if !self.simple_key_allowed {
                        return Err(Stop::Unsure);
                    }
                    self.roll_indent(self.column as i64);
                }
                self.remove_simple_key()?;
                self.simple_key_allowed = self.flow_level == 0;
                self.skip();
                Ok(())
            }
            b':' if self.flow_level != 0 || self.is_blankz_at(1) => self.fetch_value(),
            b'*' | b'&' => {
                self.save_simple_key()?;
                self.simple_key_allowed = false;
                self.scan_anchor()
            }
            b'!' => {
                self.save_simple_key()?;
                self.simple_key_allowed = false;
                self.scan_tag()
            }
            b'|' | b'>' if self.flow_level == 0 => {
                self.remove_simple_key()?;
                self.simple_key_allowed = true;
                self.scan_block_scalar()
            }
            b'\'' | b'"' => {
                self.save_simple_key()?;
                self.simple_key_allowed = false;
                self.scan_flow_scalar(c == b'\'')
            }
            _ if self.plain_scalar_starts(c) => {
                self.save_simple_key()?;
                self.simple_key_allowed = false;
                self.scan_plain_scalar()
            }
            _ => Err(Stop::Unsure),
        }
    }

    fn plain_scalar_starts(&self, c: u8) -> bool {
        const INDICATORS: &[u8] = b"-?:,[]{}#&*!|>'\"%@`";
        !(self.is_blankz() || INDICATORS.contains(&c))
            || (c == b'-' && !self.is_blank_at(1))
            || (self.flow_level == 0 && (c == b'?' || c == b':') && !self.is_blankz_at(1))
    }

    fn fetch_value(&mut self) -> Step {
        let key = *self.top_key();
        if key.possible {
            self.roll_indent(key.column as i64);
            self.top_key().possible = false;
            self.simple_key_allowed = false;
        } else {
            if self.flow_level == 0 {
                if !self.simple_key_allowed {
                    return Err(Stop::Unsure);
                }
                self.roll_indent(self.column as i64);
            }
            self.simple_key_allowed = self.flow_level == 0;
        }
        self.skip();
        Ok(())
    }

    fn scan_anchor(&mut self) -> Step {
        self.skip();
        let mut length = 0;
        while self.is_alpha() {
            self.skip();
            length += 1;
        }
        let ends =
            self.is_blankz() || matches!(self.at(0), Some(b'?' | b':' | b',' | b']' | b'}' | b'%' | b'@' | b'`'));
        if length == 0 || !ends {
            return Err(Stop::Unsure);
        }
        Ok(())
    }

    fn is_uri_char(&self, verbatim: bool) -> bool {
        self.is_alpha()
            || matches!(
                self.at(0),
                Some(
                    b';' | b'/'
                        | b'?'
                        | b':'
                        | b'@'
                        | b'&'
                        | b'='
                        | b'+'
                        | b'$'
                        | b'.'
                        | b'%'
                        | b'!'
                        | b'~'
                        | b'*'
                        | b'\''
                        | b'('
                        | b')'
                )
            )
            || (verbatim && matches!(self.at(0), Some(b',' | b'[' | b']')))
    }

    /// The URI characters of a tag (libyaml also checks that `%` escapes decode to UTF-8; an
    /// escape it refuses is a scanner error, after which nothing read here matters).
    fn scan_tag_uri(&mut self, verbatim: bool) -> Step {
        while self.is_uri_char(verbatim) {
            if self.check(b'%') {
                if !(self.is_hex_at(1) && self.is_hex_at(2)) {
                    return Err(Stop::Unsure);
                }
                self.skip();
                self.skip();
            }
            self.skip();
        }
        Ok(())
    }

    fn scan_tag(&mut self) -> Step {
        if self.check_at(b'<', 1) {
            self.skip();
            self.skip();
            self.scan_tag_uri(true)?;
            if !self.check(b'>') {
                return Err(Stop::Unsure);
            }
            self.skip();
        } else {
            // The handle (`!`, `!!` or `!name!`), then the suffix; when the handle has no
            // closing `!` its letters are the suffix's start and the URI goes on from there.
            self.skip();
            while self.is_alpha() {
                self.skip();
            }
            if self.check(b'!') {
                self.skip();
            }
            self.scan_tag_uri(false)?;
        }
        if !self.is_blankz() && (self.flow_level == 0 || !self.check(b',')) {
            return Err(Stop::Unsure);
        }
        Ok(())
    }

    fn scan_block_scalar(&mut self) -> Step {
        self.skip();
        let mut increment = 0i64;
        if self.check(b'+') || self.check(b'-') {
            self.skip();
            if let Some(d @ b'0'..=b'9') = self.at(0) {
                if d == b'0' {
                    return Err(Stop::Unsure);
                }
                increment = i64::from(d - b'0');
                self.skip();
            }
        } else if let Some(d @ b'0'..=b'9') = self.at(0) {
            if d == b'0' {
                return Err(Stop::Unsure);
            }
            increment = i64::from(d - b'0');
            self.skip();
            if self.check(b'+') || self.check(b'-') {
                self.skip();
            }
        }
        while self.is_blank() {
            self.skip();
        }
        if self.check(b'#') {
            while !self.is_breakz() {
                self.skip();
            }
        }
        if !self.is_breakz() {
            return Err(Stop::Unsure);
        }
        self.skip_line();
        let mut indent = 0i64;
        if increment != 0 {
            indent = if self.indent >= 0 { self.indent + increment } else { increment };
        }
        self.block_scalar_breaks(&mut indent)?;
        while self.column as i64 == indent && !self.is_z() {
            while !self.is_breakz() {
                self.skip();
            }
            self.skip_line();
            self.block_scalar_breaks(&mut indent)?;
        }
        Ok(())
    }

    fn block_scalar_breaks(&mut self, indent: &mut i64) -> Step {
        let mut max_indent = 0i64;
        loop {
            while (*indent == 0 || (self.column as i64) < *indent) && self.check(b' ') {
                self.skip();
            }
            max_indent = max_indent.max(self.column as i64);
            if (*indent == 0 || (self.column as i64) < *indent) && self.check(b'\t') {
                return Err(Stop::Unsure);
            }
            if !self.is_break() {
                break;
            }
            self.skip_line();
        }
        if *indent == 0 {
            *indent = max_indent.max(self.indent + 1).max(1);
        }
        Ok(())
    }

    fn scan_flow_scalar(&mut self, single: bool) -> Step {
        let quote = if single { b'\'' } else { b'"' };
        self.skip();
        loop {
            if self.document_indicator() || self.is_z() {
                return Err(Stop::Unsure);
            }
            while !self.is_blankz() {
                if single && self.check(b'\'') && self.check_at(b'\'', 1) {
                    self.skip();
                    self.skip();
                    continue;
                }
                if self.check(quote) {
                    break;
                }
                if !single && self.check(b'\\') && self.is_break_at(1) {
                    self.skip();
                    self.skip_line();
                    break;
                }
                if !single && self.check(b'\\') {
                    let code_length = match self.at(1) {
                        Some(
                            b'0' | b'a' | b'b' | b't' | b'\t' | b'n' | b'v' | b'f' | b'r' | b'e' | b' ' | b'"' | b'/'
                            | b'\\' | b'N' | b'_' | b'L' | b'P',
                        ) => 0,
                        Some(b'x') => 2,
                        Some(b'u') => 4,
                        Some(b'U') => 8,
                        _ => return Err(Stop::Unsure),
                    };
                    self.skip();
                    self.skip();
                    if code_length > 0 {
                        let mut value: u32 = 0;
                        for k in 0..code_length {
                            let Some(d) = self.at(k).and_then(|c| (c as char).to_digit(16)) else {
                                return Err(Stop::Unsure);
                            };
                            value = value.saturating_mul(16).saturating_add(d);
                        }
                        if (0xD800..=0xDFFF).contains(&value) || value > 0x10FFFF {
                            return Err(Stop::Unsure);
                        }
                        for _ in 0..code_length {
                            self.skip();
                        }
                    }
                    continue;
                }
                self.skip();
            }
            if self.check(quote) {
                break;
            }
            while self.is_blank() || self.is_break() {
                if self.is_blank() {
                    self.skip();
                } else {
                    self.skip_line();
                }
            }
        }
        self.skip();
        Ok(())
    }

    fn scan_plain_scalar(&mut self) -> Step {
        let indent = self.indent + 1;
        let mut leading_blanks = false;
        loop {
            if self.document_indicator() || self.check(b'#') {
                break;
            }
            while !self.is_blankz() {
                if self.flow_level != 0
                    && self.check(b':')
                    && matches!(self.at(1), Some(b',' | b'?' | b'[' | b']' | b'{' | b'}'))
                {
                    return Err(Stop::Unsure);
                }
                if (self.check(b':') && self.is_blankz_at(1))
                    || (self.flow_level != 0 && matches!(self.at(0), Some(b',' | b'[' | b']' | b'{' | b'}')))
                {
                    break;
                }
                self.skip();
            }
            if !(self.is_blank() || self.is_break()) {
                break;
            }
            while self.is_blank() || self.is_break() {
                if self.is_blank() {
                    if leading_blanks && (self.column as i64) < indent && self.check(b'\t') {
                        return Err(Stop::Unsure);
                    }
                    self.skip();
                } else {
                    self.skip_line();
                    leading_blanks = true;
                }
            }
            if self.flow_level == 0 && (self.column as i64) < indent {
                break;
            }
        }
        if leading_blanks {
            self.simple_key_allowed = true;
        }
        Ok(())
    }

    /// After a scanner error: every `[`/`{` from here opens, nothing closes.
    fn saturate(&mut self) -> Result<(), TooDeep> {
        let mut depth = self.flow_level;
        while let Some(c) = self.at(0) {
            if c == b'[' || c == b'{' {
                depth += 1;
                if depth > self.limit {
                    return Err(TooDeep { line: self.line + 1, column: self.column + 1, after_error: true });
                }
            }
            if self.is_break() {
                self.skip_line();
            } else {
                self.skip();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn depth_ok(text: &str, limit: usize) -> bool {
        check(text, limit).is_ok()
    }

    /// The exact maximum flow depth by the port (the smallest limit that passes).
    fn max_depth(text: &str) -> usize {
        (0..200).find(|&l| depth_ok(text, l)).unwrap_or(200)
    }

    #[test]
    fn flow_collections_count_and_scalars_comments_do_not() {
        assert_eq!(max_depth("a: [1, {b: [2]}]\n"), 3);
        assert_eq!(max_depth("a: \"[[[[\"\nb: '{{{{'\n"), 0);
        assert_eq!(max_depth("a: x [[[[ y\n# [[[[\nb: |\n  [[[[\n  {{{{\nc: >-\n   [[\n"), 0);
        assert_eq!(max_depth("a: [\"]]]]\", [\"]]]]\", [x]]]\n"), 3);
        assert_eq!(max_depth("a: ['it''s [', [[b]]]\n"), 3);
        assert_eq!(max_depth("- [a, b]\n- {c: [d]}\n"), 2);
        assert_eq!(max_depth("text: don't [stop\nnext: [[x]]\n"), 2);
        assert_eq!(max_depth("k: !!binary |\n  W1tb\nv: &a [[1]]\nw: *a\n"), 2);
    }

    #[test]
    fn a_plain_continuation_line_is_text_and_a_dedented_line_is_structure() {
        // "b" continues the plain scalar of `a` (more indented): its quote is text.
        assert_eq!(max_depth("a: plain\n  \"x [[[[\n"), 0);
        // At the mapping's own indentation the line is a new key, whose value is a collection.
        assert_eq!(max_depth("a: plain\n\"k [\": [[x]]\n"), 2);
    }

    #[test]
    fn deep_and_long_documents_are_measured_in_one_pass() {
        let deep = format!("version: 1\ndescription: {}x{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let e = check(&deep, 64).expect_err("too deep");
        assert_eq!((e.line, e.column, e.after_error), (2, 14 + 64, false));
        let mapping = format!("a: {}x{}\n", "{a: ".repeat(50_000), "}".repeat(50_000));
        assert!(check(&mapping, 64).is_err());
        let long = format!("a: [{}x]\n", "x, ".repeat(200_000));
        assert!(check(&long, 64).is_ok());
    }

    #[test]
    fn after_a_scanner_error_every_opening_counts() {
        // `@` cannot start a token: libyaml stops there; the rest is only counted.
        let text = format!("a: @x\nb: [{}]\n", "[], ".repeat(70));
        let e = check(&text, 64).expect_err("over-counted");
        assert!(e.after_error);
        assert!(check("a: @x\nb: [[1]]\n", 64).is_ok());
    }

    /// Flow documents from pieces that stress the scanner: quotes with brackets and escapes,
    /// Scalars that stress the scanner: brackets, quotes and escapes inside quoted and plain
    /// text, multi-line scalars, anchors, aliases and tags.
    fn arb_scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#""a[b\"]c""#.to_string()),
            Just("'x'']'".to_string()),
            Just("\"multi\n  line [ \\\n  ]\"".to_string()),
            Just("'two\n  lines ]'".to_string()),
            Just("plain word".to_string()),
            Just("plain\n  continued".to_string()),
            Just("a:b".to_string()),
            Just("don't".to_string()),
            Just("&anc x".to_string()),
            Just("!!str y".to_string()),
            Just(r#""\x41\u00e9 ]""#.to_string()),
            Just("-x".to_string()),
            Just("x#not-a-comment".to_string()),
            "[a-z]{1,5}",
        ]
    }

    /// Flow documents whose every level is a `[` or `{` (no implicit single-pair mappings, which
    /// add a level of the parsed value but none of the scanner's), so the parsed value's depth
    /// is the flow depth.
    fn arb_flow_node() -> impl Strategy<Value = String> {
        let sep = prop_oneof![Just(", ".to_string()), Just(",\n  ".to_string()), Just(", # [[ note\n  ".to_string())];
        arb_scalar().prop_recursive(6, 48, 4, move |inner| {
            let sep = sep.clone();
            prop_oneof![
                (prop::collection::vec(inner.clone(), 0..4), sep.clone())
                    .prop_map(|(items, sep)| format!("[{}]", items.join(&sep))),
                (prop::collection::vec(("[a-z]{1,3}", inner), 0..4), sep).prop_map(|(pairs, sep)| {
                    format!(
                        "{{{}}}",
                        pairs
                            .iter()
                            .enumerate()
                            .map(|(i, (k, v))| format!("{k}{i}: {v}"))
                            .collect::<Vec<_>>()
                            .join(&sep)
                    )
                }),
            ]
        })
    }

    /// Text made of YAML's indicators, for the no-panic property.
    fn arb_soup() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("["),
            Just("]"),
            Just("{"),
            Just("}"),
            Just(": "),
            Just("- "),
            Just("? "),
            Just("|"),
            Just(">"),
            Just("'"),
            Just("\""),
            Just("\\"),
            Just("#"),
            Just("\n"),
            Just("  "),
            Just("\t"),
            Just("&a"),
            Just("!"),
            Just("%"),
            Just("---"),
            Just("x"),
            Just("\u{2028}"),
            Just("\r\n"),
            Just("\u{feff}"),
        ];
        prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
    }

    /// A block-structured document: mappings and sequences by indentation, holding flow
    /// values, block scalars and multi-line plain and quoted scalars.
    #[derive(Debug, Clone)]
    enum Block {
        Flow(String),
        Text(&'static str),
        Map(Vec<Block>),
        Seq(Vec<Block>),
    }

    /// Scalars whose text would look like structure to a careless reader; `{i}` is the
    /// indentation their continuation lines need.
    const TEXTS: &[&str] = &[
        "|\n{i}[[[ \"text\n{i}{{{ 'more\n",
        ">-\n{i}]] \"x\n\n{i}  [[ more\n",
        "plain [[ text\n{i}\"continued [[\n",
        "\"quoted [[\n{i}on two lines ]]\"\n",
        "'single [[ ''quote'''\n",
        "!!binary |\n{i}W1tbWw==\n",
        "# only a comment [[[\n{i}value\n",
    ];

    fn arb_block() -> impl Strategy<Value = Block> {
        let collection = arb_flow_node().prop_filter("a flow collection", |f| f.starts_with(['[', '{']));
        let leaf = prop_oneof![collection.prop_map(Block::Flow), prop::sample::select(TEXTS).prop_map(Block::Text)];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Block::Map),
                prop::collection::vec(inner, 1..4).prop_map(Block::Seq),
            ]
        })
    }

    /// Renders `b` as the value after `key: ` or `- ` at indentation `indent`: the text (from
    /// right after the indicator), its total depth and its flow depth.
    fn render(b: &Block, indent: usize) -> (String, usize, usize) {
        let pad = " ".repeat(indent + 2);
        let collection = |items: &[Block], entry: &dyn Fn(usize) -> String| {
            let mut out = String::from("\n");
            let (mut total, mut flow) = (0, 0);
            for (k, e) in items.iter().enumerate() {
                let (text, t, f) = render(e, indent + 2);
                out.push_str(&format!("{pad}{}{text}", entry(k)));
                total = total.max(t);
                flow = flow.max(f);
            }
            (out, total + 1, flow)
        };
        match b {
            Block::Flow(f) => {
                let depth = max_depth(&format!("v: {f}\n"));
                (format!("{f}\n"), depth, depth)
            }
            Block::Text(t) => (t.replace("{i}", &pad), 0, 0),
            Block::Map(entries) => collection(entries, &|k| format!("k{k}: ")),
            Block::Seq(items) => collection(items, &|_| "- ".to_string()),
        }
    }

    fn value_depth(v: &serde_yaml_ng::Value) -> usize {
        match v {
            serde_yaml_ng::Value::Sequence(s) => 1 + s.iter().map(value_depth).max().unwrap_or(0),
            serde_yaml_ng::Value::Mapping(m) => {
                1 + m.iter().map(|(k, v)| value_depth(k).max(value_depth(v))).max().unwrap_or(0)
            }
            serde_yaml_ng::Value::Tagged(t) => value_depth(&t.value),
            _ => 0,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn the_port_measures_the_depth_the_yaml_parser_builds(node in arb_flow_node()) {
            let doc = format!("v: {node}\n");
            let v = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&doc);
            prop_assert!(v.is_ok(), "{doc:?}: {v:?}");
            if let Ok(v) = v {
                prop_assert_eq!(max_depth(&doc), value_depth(&v) - 1, "{:?}", doc);
            }
        }

        #[test]
        fn block_documents_with_flow_values_measure_their_flow_values(
            values in prop::collection::vec(prop_oneof![
                arb_flow_node(),
                Just("|\n    [[[ \"text\n    {{{ 'more\n".to_string()),
                Just(">-\n      ]] \"x\n".to_string()),
                Just("plain [[ text\n    \"continued [[\n".to_string()),
                Just("\"quoted [[\n    on two lines\"".to_string()),
                Just("'single [[ ''quote'''".to_string()),
                Just("!!binary |\n    W1tbWw==\n".to_string()),
            ], 1..6)
        ) {
            let doc: String = values.iter().enumerate().map(|(i, v)| format!("k{i}: {v}\n")).collect();
            let v = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&doc);
            prop_assert!(v.is_ok(), "{doc:?}: {v:?}");
            if let Ok(v) = v {
                // The top mapping is the one block level; everything below it is flow.
                prop_assert_eq!(max_depth(&doc), value_depth(&v) - 1, "{:?}", doc);
            }
        }

        #[test]
        fn nested_block_documents_measure_the_flow_values_they_hold(root in prop::collection::vec(arb_block(), 1..4)) {
            let mut doc = String::new();
            let (mut total, mut flow) = (0, 0);
            for (k, b) in root.iter().enumerate() {
                let (text, t, f) = render(b, 0);
                doc.push_str(&format!("k{k}: {text}"));
                total = total.max(t);
                flow = flow.max(f);
            }
            let v = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&doc);
            prop_assert!(v.is_ok(), "{doc}: {v:?}");
            if let Ok(v) = v {
                // The document means what it was built to mean…
                prop_assert_eq!(value_depth(&v), total + 1, "{}", doc);
                // …and the port finds the flow depth of the flow values it holds.
                prop_assert_eq!(max_depth(&doc), flow, "{}", doc);
            }
        }

        #[test]
        fn the_port_never_panics_on_indicator_soup(text in arb_soup()) {
            let _ = check(&text, 3);
        }
    }
}
