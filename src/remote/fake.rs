//! A scripted `Remote` for tests of roles, faults and checks. It records every command and the
//! stdin it was given, and answers from a script of (matcher -> answer) rules, first match wins.
//! A command that no rule matches panics at once with the whole script and the commands seen so
//! far, because a role that runs something unplanned is exactly what such a test must catch.
//! `export vagrant` uses it too: a node fresh from the golden image (`roles::fresh`), whose
//! recorded commands become the node's provision script.
//!
//! ```ignore
//! let node = FakeRemote::new("db")
//!     .once(contains("systemctl is-active"), exit(3, "inactive"))
//!     .on(contains("systemctl is-active"), ok("active\n"))
//!     .on(prefix("sudo -n sh -c"), ok(""));
//! role.apply(&node).await?;
//! assert_eq!(node.commands()[0], "...");
//! node.assert_all_used();
//! ```

use super::{Output, Remote, RemoteError};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

/// One command the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) command: String,
    pub(crate) stdin: Option<Vec<u8>>,
    /// The index of the rule that answered it, in the order the rules were added.
    pub(crate) rule: usize,
}

impl Call {
    /// The stdin as text.
    #[cfg(test)]
    pub(crate) fn stdin_str(&self) -> Option<String> {
        self.stdin
            .as_deref()
            .map(|s| String::from_utf8_lossy(s).into_owned())
    }
}

/// How a rule recognises a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Matcher {
    Exact(String),
    Prefix(String),
    Contains(String),
}

pub(crate) fn exact(command: &str) -> Matcher {
    Matcher::Exact(command.to_string())
}
pub(crate) fn prefix(start: &str) -> Matcher {
    Matcher::Prefix(start.to_string())
}
pub(crate) fn contains(part: &str) -> Matcher {
    Matcher::Contains(part.to_string())
}

/// This exit status with this stdout.
#[cfg(test)]
pub(crate) fn answer(status: u32, stdout: &str) -> Output {
    Output {
        status,
        stdout: stdout.as_bytes().to_vec(),
        stderr: Vec::new(),
    }
}

/// Exit status 0 with this stdout.
pub(crate) fn ok(stdout: &str) -> Output {
    Output {
        status: 0,
        stdout: stdout.as_bytes().to_vec(),
        stderr: Vec::new(),
    }
}

/// This exit status with this stderr.
pub(crate) fn exit(status: u32, stderr: &str) -> Output {
    Output {
        status,
        stdout: Vec::new(),
        stderr: stderr.as_bytes().to_vec(),
    }
}

impl Matcher {
    fn matches(&self, command: &str) -> bool {
        match self {
            Matcher::Exact(s) => command == s,
            Matcher::Prefix(s) => command.starts_with(s.as_str()),
            Matcher::Contains(s) => command.contains(s.as_str()),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "exact {s:?}"),
            Matcher::Prefix(s) => write!(f, "prefix {s:?}"),
            Matcher::Contains(s) => write!(f, "contains {s:?}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Answer {
    Output(Output),
    /// Computed from the command.
    From(fn(&str) -> Output),
    /// A connection failure, as `Remote::run` reports it.
    #[cfg(test)]
    Error(String),
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Output(o) => write!(f, "exit {}", o.status),
            Answer::From(_) => write!(f, "computed from the command"),
            #[cfg(test)]
            Answer::Error(m) => write!(f, "connection error {m:?}"),
        }
    }
}

#[derive(Debug)]
struct Rule {
    matcher: Matcher,
    answer: Answer,
    /// `Some(n)`: answers n more times, then is skipped. `None`: answers every time.
    remaining: Option<usize>,
    used: usize,
}

#[derive(Debug)]
pub(crate) struct FakeRemote {
    node: String,
    needs_sudo: bool,
    rules: Mutex<Vec<Rule>>,
    calls: Mutex<Vec<Call>>,
}

/// A test that panicked while holding a lock must not hide its own message behind a
/// poisoned-mutex panic in the next call.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeRemote {
    /// A fake lab node: login user `lab`, so commands for root go through sudo.
    pub(crate) fn new(node: &str) -> FakeRemote {
        FakeRemote {
            node: node.to_string(),
            needs_sudo: true,
            rules: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Answers commands that `matcher` matches with `outputs` in turn, repeating the last.
    #[cfg(test)]
    pub(crate) fn answers(self, matcher: Matcher, outputs: Vec<Output>) -> FakeRemote {
        let Some((last, first)) = outputs.split_last() else {
            panic!("a rule needs an answer");
        };
        let this = first
            .iter()
            .fold(self, |f, o| f.once(matcher.clone(), o.clone()));
        this.on(matcher, last.clone())
    }

    /// As if logged in as root: `as_root` adds no sudo.
    pub(crate) fn logged_in_as_root(mut self) -> FakeRemote {
        self.needs_sudo = false;
        self
    }

    fn rule(self, matcher: Matcher, answer: Answer, remaining: Option<usize>) -> FakeRemote {
        lock(&self.rules).push(Rule {
            matcher,
            answer,
            remaining,
            used: 0,
        });
        self
    }

    /// Answers every matching command with `output`.
    pub(crate) fn on(self, matcher: Matcher, output: Output) -> FakeRemote {
        self.rule(matcher, Answer::Output(output), None)
    }

    /// Answers every matching command with what `answer` makes of the command.
    pub(crate) fn on_with(self, matcher: Matcher, answer: fn(&str) -> Output) -> FakeRemote {
        self.rule(matcher, Answer::From(answer), None)
    }

    /// How many rules there are: the index the next one gets.
    pub(crate) fn rule_count(&self) -> usize {
        lock(&self.rules).len()
    }

    /// Answers the first matching command with `output`; later ones fall through to later rules.
    pub(crate) fn once(self, matcher: Matcher, output: Output) -> FakeRemote {
        self.rule(matcher, Answer::Output(output), Some(1))
    }

    /// Fails every matching command as a lost connection would.
    #[cfg(test)]
    pub(crate) fn fail(self, matcher: Matcher, message: &str) -> FakeRemote {
        self.rule(matcher, Answer::Error(message.to_string()), None)
    }

    /// Fails the first matching command as a lost connection would; later ones fall through.
    #[cfg(test)]
    pub(crate) fn fail_once(self, matcher: Matcher, message: &str) -> FakeRemote {
        self.rule(matcher, Answer::Error(message.to_string()), Some(1))
    }

    /// Every command received, in order, with its stdin.
    pub(crate) fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    #[cfg(test)]
    pub(crate) fn commands(&self) -> Vec<String> {
        lock(&self.calls)
            .iter()
            .map(|c| c.command.clone())
            .collect()
    }

    /// Panics, listing them, if some rules never answered or `once` rules were left unused.
    #[cfg(test)]
    pub(crate) fn assert_all_used(&self) {
        let unused: Vec<String> = lock(&self.rules)
            .iter()
            .enumerate()
            .filter(|(_, r)| r.used == 0 || r.remaining.is_some_and(|n| n > 0))
            .map(|(i, r)| format!("  [{i}] {} -> {}", r.matcher, r.answer))
            .collect();
        assert!(
            unused.is_empty(),
            "FakeRemote({}): rules not used up:\n{}\n{}",
            self.node,
            unused.join("\n"),
            self.history()
        );
    }

    fn script(&self) -> String {
        let rules = lock(&self.rules);
        let lines: Vec<String> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let kind = match r.remaining {
                    None => "always",
                    Some(0) => "once, spent",
                    Some(_) => "once",
                };
                format!("  [{i}] {} -> {} ({kind})", r.matcher, r.answer)
            })
            .collect();
        if lines.is_empty() {
            "script: empty".to_string()
        } else {
            format!("script (first match wins):\n{}", lines.join("\n"))
        }
    }

    fn history(&self) -> String {
        let calls = lock(&self.calls);
        let lines: Vec<String> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| format!("  #{}: {}", i + 1, c.command))
            .collect();
        format!("commands received:\n{}", lines.join("\n"))
    }

    fn answer(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output, RemoteError> {
        let found = {
            let mut rules = lock(&self.rules);
            rules
                .iter_mut()
                .enumerate()
                .find(|(_, r)| r.remaining != Some(0) && r.matcher.matches(command))
                .map(|(i, r)| {
                    r.used += 1;
                    if let Some(n) = r.remaining.as_mut() {
                        *n -= 1;
                    }
                    (i, r.answer.clone())
                })
        };
        let number = {
            let mut calls = lock(&self.calls);
            calls.push(Call {
                command: command.to_string(),
                stdin: stdin.map(<[u8]>::to_vec),
                rule: found.as_ref().map_or(usize::MAX, |(i, _)| *i),
            });
            calls.len()
        };
        match found.map(|(_, a)| a) {
            Some(Answer::Output(o)) => Ok(o),
            Some(Answer::From(f)) => Ok(f(command)),
            #[cfg(test)]
            Some(Answer::Error(message)) => Err(RemoteError {
                node: self.node.clone(),
                message,
            }),
            None => panic!(
                "FakeRemote({}): unexpected command #{number}:\n  {command}\n  stdin: {}\n{}\n{}",
                self.node,
                stdin.map_or("none".to_string(), |s| format!("{} bytes", s.len())),
                self.script(),
                self.history()
            ),
        }
    }
}

impl Remote for FakeRemote {
    fn node(&self) -> &str {
        &self.node
    }

    fn needs_sudo(&self) -> bool {
        self.needs_sudo
    }

    fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<Output, RemoteError>> + Send {
        let result = self.answer(command, stdin);
        async move { result }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_commands_and_stdin_and_answers_first_match() {
        let node = FakeRemote::new("web")
            .once(exact("check"), exit(3, "not yet"))
            .on(exact("check"), ok("fine\n"))
            .on(prefix("cat >"), ok(""));
        assert_eq!(node.run("check", None).await.unwrap().status, 3);
        let second = node.run("check", None).await.unwrap();
        assert_eq!((second.status, second.stdout_str()), (0, "fine\n".into()));
        node.run("cat > /x", Some(b"data")).await.unwrap();
        assert_eq!(
            node.calls(),
            vec![
                Call {
                    command: "check".into(),
                    stdin: None,
                    rule: 0
                },
                Call {
                    command: "check".into(),
                    stdin: None,
                    rule: 1
                },
                Call {
                    command: "cat > /x".into(),
                    stdin: Some(b"data".to_vec()),
                    rule: 2
                },
            ]
        );
        node.assert_all_used();
    }

    #[tokio::test]
    async fn scripted_failure_is_a_remote_error() {
        let node = FakeRemote::new("db").fail(contains("mysql"), "connection reset");
        let err = node.run("mysql -e 'select 1'", None).await.unwrap_err();
        assert_eq!(err.to_string(), "db: connection reset");
    }

    #[tokio::test]
    #[should_panic(
        expected = "FakeRemote(web): unexpected command #2:\n  rm -rf /\n  stdin: none\n\
                               script (first match wins):\n  [0] exact \"ls\" -> exit 0 (always)\n\
                               commands received:\n  #1: ls\n  #2: rm -rf /"
    )]
    async fn unexpected_command_panics_with_script_and_history() {
        let node = FakeRemote::new("web").on(exact("ls"), ok(""));
        node.run("ls", None).await.unwrap();
        let _ = node.run("rm -rf /", None).await;
    }

    #[test]
    #[should_panic(expected = "rules not used up:\n  [0] contains \"x\" -> exit 0")]
    fn unused_rules_are_reported() {
        FakeRemote::new("web")
            .on(contains("x"), ok(""))
            .assert_all_used();
    }
}
