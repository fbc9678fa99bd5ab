//! A scripted stand-in for an SSH session, for the role tests. To be replaced by the shared
//! `FakeRemote` from `ssh.rs` once that lands.
//!
//! Each rule maps a piece of a command to the answers it gets, in turn (the last one repeats).
//! A command no rule matches fails with status 127, so an unexpected command shows up in the
//! test instead of passing quietly. Every call is recorded with its stdin.

use crate::remote::{Output, Remote, RemoteError};
use std::future::Future;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) command: String,
    pub(crate) stdin: Option<String>,
}

struct Rule {
    needle: String,
    answers: Vec<Output>,
    used: usize,
}

pub(crate) struct FakeRemote {
    #[allow(dead_code)] // read through `Remote::node`, which nothing calls yet
    node: String,
    rules: Mutex<Vec<Rule>>,
    calls: Mutex<Vec<Call>>,
}

pub(crate) fn answer(status: u32, stdout: &str) -> Output {
    Output {
        status,
        stdout: stdout.as_bytes().to_vec(),
        stderr: Vec::new(),
    }
}

impl FakeRemote {
    pub(crate) fn new(node: &str) -> FakeRemote {
        FakeRemote {
            node: node.to_string(),
            rules: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Answers every command containing `needle` (the first matching rule wins) with
    /// `answers` in turn, repeating the last.
    pub(crate) fn on(self, needle: &str, answers: Vec<Output>) -> FakeRemote {
        assert!(!answers.is_empty(), "a rule needs an answer");
        self.rules.lock().expect("rules lock").push(Rule {
            needle: needle.to_string(),
            answers,
            used: 0,
        });
        self
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls lock").clone()
    }

    fn answer(&self, command: &str) -> Output {
        let mut rules = self.rules.lock().expect("rules lock");
        match rules.iter_mut().find(|r| command.contains(&r.needle)) {
            Some(rule) => {
                let i = rule.used.min(rule.answers.len() - 1);
                rule.used += 1;
                rule.answers[i].clone()
            }
            None => Output {
                status: 127,
                stdout: Vec::new(),
                stderr: format!("fake: no rule for {command}").into_bytes(),
            },
        }
    }
}

impl Remote for FakeRemote {
    fn node(&self) -> &str {
        &self.node
    }

    fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<Output, RemoteError>> + Send {
        self.calls.lock().expect("calls lock").push(Call {
            command: command.to_string(),
            stdin: stdin.map(|s| String::from_utf8_lossy(s).into_owned()),
        });
        let out = self.answer(command);
        async move { Ok(out) }
    }
}
