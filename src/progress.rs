//! Progress for long operations: one live line per node on a terminal (indicatif), plain
//! timestamped log lines otherwise, because indicatif hides everything when stdout is not a
//! terminal and CI logs must still show what happened.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub(crate) struct Progress {
    multi: Option<MultiProgress>,
    start: Instant,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        let multi = std::io::stdout().is_terminal().then(MultiProgress::new);
        Progress {
            multi,
            start: Instant::now(),
        }
    }

    /// A line that is not about one node.
    pub(crate) fn println(&self, msg: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => println!("[{:>6.1}s] {msg}", self.start.elapsed().as_secs_f64()),
        }
    }

    pub(crate) fn node(&self, name: &str) -> NodeProgress {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<12} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        NodeProgress {
            bar,
            name: name.to_string(),
            start: self.start,
        }
    }
}

pub(crate) struct NodeProgress {
    bar: Option<ProgressBar>,
    name: String,
    start: Instant,
}

impl NodeProgress {
    pub(crate) fn phase(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None => println!(
                "[{:>6.1}s] {}: {msg}",
                self.start.elapsed().as_secs_f64(),
                self.name
            ),
        }
    }

    /// A line of its own about this node, above the live lines on a terminal.
    pub(crate) fn println(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None => println!("[{:>6.1}s] {msg}", self.start.elapsed().as_secs_f64()),
        }
    }

    pub(crate) fn finish(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.finish_with_message(msg.to_string()),
            None => self.phase(msg),
        }
    }
}
