//! "did you mean ...?" for misspelt keys, roles and node names.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    // Short words are all close to each other; allow more edits only as words get longer.
    let limit = match word.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?" when a candidate is close enough.
pub(crate) fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Edit distance that counts a swap of two neighbours as one edit (optimal string alignment),
/// because `memroy` for `memory` is the typo people make.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_swaps_as_one() {
        assert_eq!(distance("memroy", "memory"), 1);
        assert_eq!(distance("cpu", "cpus"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("image", "image"), 0);
    }

    #[test]
    fn suggests_only_close_candidates() {
        let keys = ["image", "cpus", "memory", "disk"];
        assert_eq!(closest("memroy", keys), Some("memory"));
        assert_eq!(closest("cpu", keys), Some("cpus"));
        assert_eq!(closest("colour", keys), None);
        // Short words need a closer match, or everything would suggest everything.
        assert_eq!(closest("ip", ["id", "cpus"]), Some("id"));
        assert_eq!(closest("ab", ["cd"]), None);
        assert_eq!(closest("base", ["name", "nodes"]), None);
        assert_eq!(closest("dsik", keys), Some("disk"));
        assert_eq!(closest("haproxxy", ["haproxy", "app"]), Some("haproxy"));
    }

    #[test]
    fn did_you_mean_wording() {
        assert_eq!(
            did_you_mean("apps", ["app", "mysql"]).as_deref(),
            Some("did you mean `app`?")
        );
        assert_eq!(did_you_mean("zzz", ["app"]), None);
    }
}
