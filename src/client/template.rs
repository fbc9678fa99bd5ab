//! `--body` templates: the text is sent as it is, except for two placeholders, `{{seq}}` (the
//! request's number in its stream: 0, 1, 2...) and `{{word}}` (a word picked at random for each
//! request). Every other `{{...}}` is an error, so a typo never goes out as literal braces.
//! Parsed once; rendering is a copy of the pieces.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Seq,
    Word,
}

/// A checked body template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
    /// The rendered length without the placeholders, to size each body at once.
    fixed_len: usize,
}

/// The placeholders there are, for the hint of every error about a template.
pub(crate) const PLACEHOLDERS: &str = "{{seq}} (the request's number) and {{word}} (a random word)";

impl Template {
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(format!(
                    "`{{{{` at byte {} is never closed by `}}}}`",
                    text.len() - rest.len() + open
                ));
            };
            parts.push(match after[..close].trim() {
                "seq" => Part::Seq,
                "word" => Part::Word,
                other => return Err(format!("unknown placeholder `{{{{{other}}}}}`")),
            });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        let fixed_len = parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.len(),
                _ => 0,
            })
            .sum();
        Ok(Template { parts, fixed_len })
    }

    /// The body of request `seq`, with `{{word}}` drawn from `seed` and `seq`.
    pub(crate) fn render(&self, seq: u64, seed: u64) -> String {
        let mut out = String::with_capacity(self.fixed_len + 24);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Seq => {
                    let _ = write!(out, "{seq}");
                }
                Part::Word => out.push_str(word(seq, seed)),
            }
        }
        out
    }
}

/// Plain lowercase words: safe inside JSON strings, SQL and URLs without any escaping.
const WORDS: [&str; 32] = [
    "apple", "bread", "candle", "garden", "letter", "lamp", "river", "stone", "paper", "window",
    "kettle", "ladder", "pencil", "basket", "blanket", "mirror", "bottle", "button", "carpet",
    "forest", "harbor", "island", "jacket", "lemon", "market", "needle", "orange", "pillow",
    "rocket", "saddle", "tunnel", "violin",
];

/// A word for request `seq`: a mix (splitmix64) of the run's seed and the number, so that runs
/// differ and no state is shared between the threads that send.
pub(crate) fn word(seq: u64, seed: u64) -> &'static str {
    let mut z = seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    WORDS[(z % WORDS.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_text_is_kept() {
        let t = Template::parse(r#"{"name": "task {{seq}} {{ word }}", "completed": false}"#)
            .expect("parses");
        let body = t.render(42, 7);
        let w = word(42, 7);
        assert_eq!(
            body,
            format!(r#"{{"name": "task 42 {w}", "completed": false}}"#)
        );
        assert!(WORDS.contains(&w));
        assert_eq!(
            Template::parse("plain").expect("parses").render(1, 1),
            "plain"
        );
        assert_eq!(Template::parse("").expect("parses").render(1, 1), "");
        assert_eq!(
            Template::parse("{{seq}}{{seq}}")
                .expect("parses")
                .render(9, 0),
            "99"
        );
        // A single brace is text: JSON bodies are full of them.
        assert_eq!(
            Template::parse("{ } }}").expect("parses").render(0, 0),
            "{ } }}"
        );
    }

    #[test]
    fn words_vary_with_the_number_and_the_seed() {
        let words: std::collections::BTreeSet<&str> = (0..200).map(|i| word(i, 1)).collect();
        assert!(words.len() > 20, "{words:?}");
        assert_ne!(
            (0..20).map(|i| word(i, 1)).collect::<Vec<_>>(),
            (0..20).map(|i| word(i, 2)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn unknown_and_unclosed_placeholders_are_refused() {
        assert_eq!(
            Template::parse("task {{id}}"),
            Err("unknown placeholder `{{id}}`".into())
        );
        assert_eq!(
            Template::parse("task {{seq"),
            Err("`{{` at byte 5 is never closed by `}}`".into())
        );
    }
}
