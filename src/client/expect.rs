//! `--expect PATH:TYPE`: the client's equivalent of `curl | jq`. A path is keys joined by dots,
//! where `[]` walks every element of an array and `[N]` picks one: `todos[].completed:bool`.
//! When the API's shape changes, the request counts as failed with the reason "json".

use super::ClientError;
use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonType {
    String,
    Bool,
    Number,
    Array,
    Object,
    Null,
}

impl JsonType {
    fn parse(s: &str) -> Option<JsonType> {
        Some(match s {
            "string" => JsonType::String,
            "bool" => JsonType::Bool,
            "number" => JsonType::Number,
            "array" => JsonType::Array,
            "object" => JsonType::Object,
            "null" => JsonType::Null,
            _ => return None,
        })
    }

    fn of(v: &Value) -> JsonType {
        match v {
            Value::String(_) => JsonType::String,
            Value::Bool(_) => JsonType::Bool,
            Value::Number(_) => JsonType::Number,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
            Value::Null => JsonType::Null,
        }
    }

    fn name(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Bool => "bool",
            JsonType::Number => "number",
            JsonType::Array => "array",
            JsonType::Object => "object",
            JsonType::Null => "null",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Each,
    Index(usize),
}

/// One parsed `--expect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expect {
    text: String,
    steps: Vec<Step>,
    ty: JsonType,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Expect {
    pub(crate) fn parse(s: &str) -> Result<Expect, ClientError> {
        let bad = |reason: String| ClientError::BadExpect {
            value: s.to_string(),
            reason,
        };
        let Some((path, ty)) = s.rsplit_once(':') else {
            return Err(bad("there is no `:TYPE`".into()));
        };
        let ty = JsonType::parse(ty).ok_or_else(|| bad(format!("unknown type `{ty}`")))?;
        if path.is_empty() {
            return Err(bad("the path is empty".into()));
        }
        let mut steps = Vec::new();
        for (n, segment) in path.split('.').enumerate() {
            let key_end = segment.find('[').unwrap_or(segment.len());
            let key = &segment[..key_end];
            if key.contains(']') {
                return Err(bad(format!("stray `]` in `{segment}`")));
            }
            if !key.is_empty() {
                steps.push(Step::Key(key.to_string()));
            } else if key_end == segment.len() || n > 0 {
                // Only the first segment may start with `[`: `[].name` for a top-level array.
                return Err(bad(format!("empty key in segment {}", n + 1)));
            }
            let mut rest = &segment[key_end..];
            while !rest.is_empty() {
                let Some(inner) = rest.strip_prefix('[') else {
                    return Err(bad(format!("unexpected `{rest}` after `]`")));
                };
                let Some(close) = inner.find(']') else {
                    return Err(bad(format!("unclosed `[` in `{segment}`")));
                };
                let index = &inner[..close];
                if index.is_empty() {
                    steps.push(Step::Each);
                } else {
                    let i = index
                        .parse()
                        .map_err(|_| bad(format!("`[{index}]` is not `[]` or `[N]`")))?;
                    steps.push(Step::Index(i));
                }
                rest = &inner[close + 1..];
            }
        }
        Ok(Expect {
            text: s.to_string(),
            steps,
            ty,
        })
    }

    /// `Err` names the first place where the body does not match, e.g.
    /// `todos[2].completed is string, expected bool`.
    pub(crate) fn check(&self, body: &Value) -> Result<(), String> {
        self.walk(body, &self.steps, String::new())
    }

    fn walk(&self, v: &Value, steps: &[Step], at: String) -> Result<(), String> {
        let shown = |at: &str| {
            if at.is_empty() {
                "the body".to_string()
            } else {
                at.to_string()
            }
        };
        let Some((step, rest)) = steps.split_first() else {
            let got = JsonType::of(v);
            return if got == self.ty {
                Ok(())
            } else {
                Err(format!(
                    "{} is {}, expected {}",
                    shown(&at),
                    got.name(),
                    self.ty.name()
                ))
            };
        };
        match step {
            Step::Key(k) => {
                let next = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match v {
                    Value::Object(map) => match map.get(k) {
                        Some(child) => self.walk(child, rest, next),
                        None => Err(format!("{next} is missing")),
                    },
                    other => Err(format!(
                        "{} is {}, expected object",
                        shown(&at),
                        JsonType::of(other).name()
                    )),
                }
            }
            Step::Each | Step::Index(_) => {
                let Value::Array(items) = v else {
                    return Err(format!(
                        "{} is {}, expected array",
                        shown(&at),
                        JsonType::of(v).name()
                    ));
                };
                if let Step::Index(i) = step {
                    return match items.get(*i) {
                        Some(child) => self.walk(child, rest, format!("{at}[{i}]")),
                        None => Err(format!("{at}[{i}] is missing ({} items)", items.len())),
                    };
                }
                items
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, child)| self.walk(child, rest, format!("{at}[{i}]")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(expect: &str, body: Value) -> Result<(), String> {
        Expect::parse(expect).expect("parses").check(&body)
    }

    #[test]
    fn parses_paths() {
        let e = Expect::parse("todos[].name:string").expect("parses");
        assert_eq!(
            e.steps,
            vec![
                Step::Key("todos".into()),
                Step::Each,
                Step::Key("name".into())
            ]
        );
        assert_eq!(e.ty, JsonType::String);
        let e = Expect::parse("[][0].a.b:null").expect("parses");
        assert_eq!(
            e.steps,
            vec![
                Step::Each,
                Step::Index(0),
                Step::Key("a".into()),
                Step::Key("b".into())
            ]
        );
    }

    #[test]
    fn rejects_bad_paths_with_a_reason() {
        let err = |s| Expect::parse(s).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            err("todos[.name:string"),
            Err("--expect todos[.name:string: unclosed `[` in `todos[`; write PATH:TYPE, e.g. todos[].name:string, with TYPE one of string, bool, number, array, object, null".into())
        );
        assert_eq!(
            err("todos:strin"),
            Err("--expect todos:strin: unknown type `strin`; write PATH:TYPE, e.g. todos[].name:string, with TYPE one of string, bool, number, array, object, null".into())
        );
        for bad in [
            "todos",
            ":string",
            "todos..name:string",
            "todos[x]:array",
            "todos[]x:array",
            "a.[]:array",
            "a]:bool",
        ] {
            assert!(err(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checks_shapes() {
        let good = json!({"todos": [{"name": "Get Milk", "completed": false}, {"name": "b", "completed": true}]});
        assert_eq!(check("todos[].name:string", good.clone()), Ok(()));
        assert_eq!(check("todos[].completed:bool", good.clone()), Ok(()));
        assert_eq!(check("todos:array", good.clone()), Ok(()));
        assert_eq!(check("todos[1].name:string", good.clone()), Ok(()));
        assert_eq!(check("todos[].name:string", json!({"todos": []})), Ok(()));

        assert_eq!(
            check(
                "todos[].completed:bool",
                json!({"todos": [{"completed": false}, {"completed": "no"}]})
            ),
            Err("todos[1].completed is string, expected bool".into())
        );
        assert_eq!(
            check("todos[].name:string", json!({"todos": [{"title": "x"}]})),
            Err("todos[0].name is missing".into())
        );
        assert_eq!(
            check("todos[].name:string", json!({"items": []})),
            Err("todos is missing".into())
        );
        assert_eq!(
            check("todos[].name:string", json!({"todos": {"name": "x"}})),
            Err("todos is object, expected array".into())
        );
        assert_eq!(
            check("todos[].name:string", json!([1])),
            Err("the body is array, expected object".into())
        );
        assert_eq!(
            check("todos[3].name:string", json!({"todos": []})),
            Err("todos[3] is missing (0 items)".into())
        );
        assert_eq!(check("[].n:number", json!([{"n": 1}, {"n": 2.5}])), Ok(()));
        assert_eq!(
            check("[].n:null", json!([{"n": null}, {"n": 0}])),
            Err("[1].n is number, expected null".into())
        );
    }
}
