//! The client's live view on a terminal: each second's line ends with the last seconds' success
//! as a row of block glyphs, so a dip shows without reading the numbers.

/// How many seconds a line's sparkline shows.
pub(crate) const SPARK_SECONDS: usize = 30;

/// The success of each second, oldest first, one glyph each: `█` when every request succeeded,
/// then lower for worse (`▇` at 99% or more, `▆` 95%, `▅` 90%, `▄` 75%, `▃` 50%, `▂` above 0),
/// `▁` when none did, and a space for a second without requests. Steps, not a linear scale: a
/// drop from 100% to 99% must show.
pub(crate) fn sparkline(ratios: impl IntoIterator<Item = Option<f64>>) -> String {
    ratios
        .into_iter()
        .map(|r| match r {
            None => ' ',
            Some(r) if r >= 1.0 => '█',
            Some(r) if r >= 0.99 => '▇',
            Some(r) if r >= 0.95 => '▆',
            Some(r) if r >= 0.90 => '▅',
            Some(r) if r >= 0.75 => '▄',
            Some(r) if r >= 0.50 => '▃',
            Some(r) if r > 0.0 => '▂',
            Some(_) => '▁',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_steps_show_small_drops_and_gaps() {
        let ratios = [
            Some(1.0),
            Some(0.995),
            Some(0.96),
            Some(0.92),
            Some(0.8),
            Some(0.6),
            Some(0.1),
            Some(0.0),
            None,
            Some(1.0),
        ];
        assert_eq!(sparkline(ratios), "█▇▆▅▄▃▂▁ █");
        assert_eq!(sparkline(Vec::new()), "");
        // Each step starts at its threshold.
        assert_eq!(
            sparkline([Some(0.49), Some(0.5), Some(0.7499), Some(0.75), Some(0.99)]),
            "▂▃▃▄▇"
        );
    }
}
