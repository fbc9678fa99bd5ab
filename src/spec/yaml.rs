//! A YAML document as a tree in which every node and key keeps its line and column.
//!
//! The lab file is first read into this generic tree (serde-saphyr does the YAML, anchors and
//! aliases; `Spanned` gives positions) and then walked by hand in `load.rs`. A derived
//! `Deserialize` stops at the first unknown key or bad value; walking the tree lets `load` report
//! all of them at once, each at its own position.

use super::Pos;
use super::problem::Report;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter, Spanned};
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(Key, Yaml)>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Yaml {
    pub pos: Pos,
    pub value: Value,
    /// The scalar as spelled in the file (`0x10`, `yes`), for messages and string fields.
    pub source: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Key {
    pub pos: Pos,
    pub name: String,
}

impl Yaml {
    /// What the value is, for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match &self.value {
            Value::Null => "nothing".to_string(),
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
            Value::Str(s) => format!("`{s}`"),
            _ => format!("`{}`", self.source),
        }
    }
}

/// Parse `text` into a tree, or report why it is not YAML (tabs get a message of their own).
pub(crate) fn parse(text: &str, report: &mut Report) -> Option<Yaml> {
    let tab_lines = report_indent_tabs(text, report);
    let mut options = serde_saphyr::Options::default();
    // Duplicates reach `load`, which reports every one of them with both positions.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    match serde_saphyr::from_str_with_options::<Spanned<RawValue>>(text, options) {
        Ok(raw) => Some(convert(raw, text)),
        Err(e) => {
            let inner = e.without_snippet();
            let message = serde_saphyr::UserMessageFormatter.format_message(inner);
            let pos = e.location().map(pos_of);
            let on_tab_line = pos.is_some_and(|p| tab_lines.contains(&p.line));
            if message.contains("tab") {
                // The tab lines are already reported with a clear message.
                if tab_lines.is_empty() {
                    report.error(
                        pos,
                        "",
                        format!("YAML syntax error: {message}"),
                        "YAML does not allow a tab here; use spaces",
                    );
                }
            } else if !on_tab_line {
                report.error(
                    pos,
                    "",
                    format!("YAML syntax error: {message}"),
                    "fix the YAML at this position: check indentation, colons, brackets and quotes",
                );
            }
            None
        }
    }
}

/// YAML forbids tabs in indentation, and the parser's own wording for it varies by context, so
/// every such line gets the same plain message. Returns the line numbers.
fn report_indent_tabs(text: &str, report: &mut Report) -> Vec<usize> {
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if let Some(col) = line[..indent].find('\t') {
            lines.push(i + 1);
            report.error(
                Some(Pos {
                    line: i + 1,
                    column: col + 1,
                }),
                "",
                "tab character in indentation: YAML indents with spaces only",
                "replace the tab with spaces (for example two per level)",
            );
        }
    }
    lines
}

fn pos_of(loc: Location) -> Pos {
    Pos {
        line: usize::try_from(loc.line()).unwrap_or(usize::MAX),
        column: usize::try_from(loc.column()).unwrap_or(usize::MAX),
    }
}

fn source_of(loc: &Location, text: &str) -> Option<String> {
    let span = loc.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    text.get(start..start.checked_add(len)?).map(str::to_string)
}

fn convert(raw: Spanned<RawValue>, text: &str) -> Yaml {
    let pos = pos_of(raw.referenced);
    let (value, source) = match raw.value {
        RawValue::Seq(items) => (
            Value::Seq(items.into_iter().map(|i| convert(i, text)).collect()),
            String::new(),
        ),
        RawValue::Map(entries) => (
            Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let key = Key {
                            pos: pos_of(k.referenced),
                            name: k.value,
                        };
                        (key, convert(v, text))
                    })
                    .collect(),
            ),
            String::new(),
        ),
        scalar => {
            let source = source_of(&raw.referenced, text).unwrap_or_default();
            let value = match scalar {
                RawValue::Null => Value::Null,
                RawValue::Bool(b) => Value::Bool(b),
                RawValue::Int(i) => Value::Int(i),
                RawValue::Float(f) => Value::Float(f),
                RawValue::Str(s) => Value::Str(s),
                RawValue::Seq(_) | RawValue::Map(_) => Value::Null,
            };
            (value, source)
        }
    };
    Yaml { pos, value, source }
}

/// What serde-saphyr fills in; converted to `Yaml` once the source text is at hand.
enum RawValue {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawValue>>),
    Map(Vec<(Spanned<String>, Spanned<RawValue>)>),
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
        Ok(RawValue::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawValue, E> {
        Ok(RawValue::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawValue, E> {
        Ok(i128::try_from(v).map_or(RawValue::Float(v as f64), RawValue::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawValue, E> {
        Ok(RawValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawValue>>()? {
            items.push(item);
        }
        Ok(RawValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<RawValue>>()?;
            entries.push((key, value));
        }
        Ok(RawValue::Map(entries))
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawValue, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse_ok(text: &str) -> Yaml {
        let mut report = Report::new(Path::new("t.yaml"));
        let y = parse(text, &mut report);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        y.expect("tree")
    }

    fn parse_err(text: &str) -> Vec<String> {
        let mut report = Report::new(Path::new("t.yaml"));
        assert!(parse(text, &mut report).is_none());
        report.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn keeps_positions_and_spelling() {
        let y = parse_ok("name: lab\nn:\n  - 0x10\n  - yes\n");
        let Value::Map(entries) = &y.value else {
            panic!("not a map: {y:?}")
        };
        assert_eq!(entries[1].0.name, "n");
        assert_eq!(entries[1].0.pos, Pos { line: 2, column: 1 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("not a seq")
        };
        assert_eq!(items[0].value, Value::Int(16));
        assert_eq!(items[0].source, "0x10");
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
        assert_eq!(items[1].value, Value::Bool(true));
        assert_eq!(items[1].describe(), "`yes`");
    }

    #[test]
    fn duplicate_keys_pass_through_to_load() {
        let y = parse_ok("a: 1\na: 2\n");
        let Value::Map(entries) = &y.value else {
            panic!("not a map")
        };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        assert_eq!(
            parse_err("name: x\n  bad: 1\n"),
            [
                "t.yaml:2:6: YAML syntax error: mapping values are not allowed in this context\n  \
              hint: fix the YAML at this position: check indentation, colons, brackets and quotes"
            ]
        );
    }

    #[test]
    fn every_tab_indented_line_is_reported_once() {
        assert_eq!(
            parse_err("name: x\nnodes:\n\t- name: a\n  - name: b\n \t  roles: []\n"),
            [
                "t.yaml:3:1: tab character in indentation: YAML indents with spaces only\n  \
                 hint: replace the tab with spaces (for example two per level)",
                "t.yaml:5:2: tab character in indentation: YAML indents with spaces only\n  \
                 hint: replace the tab with spaces (for example two per level)",
            ]
        );
    }
}
