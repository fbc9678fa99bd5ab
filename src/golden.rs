//! Golden-file assertions for rendered text (XML, cloud-init, configs). Set `UPDATE_GOLDEN=1` to
//! rewrite the files after a deliberate change, then review the diff.

use std::path::PathBuf;

#[track_caller]
pub(crate) fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("create golden dir");
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        expected,
        actual,
        "{} differs; run with UPDATE_GOLDEN=1 to accept",
        path.display()
    );
}
