//! The Level CI's rule that an incident's fault is felt: in the checks before the fix, at least
//! one objective the learner can see is not met. A level whose visible objectives all hold while
//! its fault is in (a fault on a path no client takes, say) plays as "nothing is wrong", and its
//! reference solution proves nothing. Exercises are exempt: they start healthy.
//!
//! It reads `firedrill check`'s output, which is what the Level CI (tests/level_ci.rs) sees. The
//! integration tests drive the executable and cannot link its modules, so they compile this
//! file by path: it uses nothing but `std`. firedrill's own tests compile it too and pin the
//! format against `render_check` (felt_tests.rs).

/// A hidden objective that is not met, as `check` shows it.
const HIDDEN: &str = "a hidden check (";
/// A hidden objective once met.
const WAS_HIDDEN: &str = " (was hidden)";
/// The end of a mitigate objective's line while its window fills and meets it so far: the
/// customers are served, only not for long enough yet. It counts as met here.
const ON_TRACK: &str = ": on track)";

/// `Err` with the message for the Level CI when the fault was not felt: in every one of
/// `checks` (`check`'s output, before any fix) every visible objective is met. A check that
/// shows no visible objective tells nothing either way.
pub(crate) fn fault_felt(checks: &[String]) -> Result<(), String> {
    let mut last = Vec::new();
    for out in checks {
        let visible = visible(out);
        if visible.is_empty() || visible.iter().any(|(met, _)| !met) {
            return Ok(());
        }
        last = visible;
    }
    if last.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = last.iter().map(|(_, text)| text.as_str()).collect();
    Err(format!(
        "the fault is not felt: every visible objective is met before the fix: {} (in each of \
         the {} checks); make the fault reach what the objectives watch, or the objectives watch \
         what the fault breaks",
        names.join("; "),
        checks.len()
    ))
}

/// The visible objectives of one `check` output: met (or on track) or not, and the line's
/// text after its mark.
fn visible(out: &str) -> Vec<(bool, String)> {
    out.lines()
        .skip_while(|l| *l != "objectives:")
        .skip(1)
        .take_while(|l| l.starts_with("  ["))
        .filter_map(|l| {
            let (met, text) = match (l.strip_prefix("  [met] "), l.strip_prefix("  [   ] ")) {
                (Some(text), _) => (true, text),
                (None, Some(text)) => (text.ends_with(ON_TRACK), text),
                (None, None) => return None,
            };
            let hidden = text.starts_with(HIDDEN) || text.contains(WAS_HIDDEN);
            (!hidden).then(|| (met, text.to_string()))
        })
        .collect()
}
