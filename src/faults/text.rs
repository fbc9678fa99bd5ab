//! Small text helpers the faults share: RFC 3339 times, base64 for systemd's StandardInputData,
//! and the `key=value` lines every node script prints.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as this host's clock says.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `t` as RFC 3339 in UTC with milliseconds: `2024-05-01T12:00:00.250Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

/// Standard base64 with padding (RFC 4648), as `base64 -w0` prints it.
pub(crate) fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `key=value` lines a node script printed. A key may repeat (`sshd=` once per process);
/// `get` gives the last value, `all` every value in order. Other lines are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fields {
    values: BTreeMap<String, Vec<String>>,
}

impl Fields {
    pub(crate) fn parse(text: &str) -> Fields {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                let k = k.trim();
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    values.entry(k.to_string()).or_default().push(v.to_string());
                }
            }
        }
        Fields { values }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// The value of `key`, or a message naming the missing key.
    pub(crate) fn need(&self, key: &str) -> Result<&str, String> {
        self.get(key)
            .ok_or_else(|| format!("the script printed no `{key}=` line"))
    }

    /// `key` parsed as a number, or a message saying what was wrong.
    pub(crate) fn number<T: std::str::FromStr>(&self, key: &str) -> Result<T, String> {
        let v = self.need(key)?;
        v.trim()
            .parse()
            .map_err(|_| format!("`{key}={v}` is not a number"))
    }

    pub(crate) fn all(&self, key: &str) -> &[String] {
        self.values.get(key).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_formats_utc_with_millis() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_250); // leap year, end of Feb
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.250Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100-01-01
        assert_eq!(rfc3339(t), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_agrees_with_gnu_date() {
        for secs in [0u64, 86_399, 1_000_000_000, 1_700_000_000, 2_000_000_000] {
            let out = std::process::Command::new("date")
                .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S.000Z"])
                .output()
                .unwrap();
            let want = String::from_utf8(out.stdout).unwrap();
            assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(secs)), want.trim());
        }
    }

    #[test]
    fn base64_matches_the_rfc_vectors_and_coreutils() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut child = std::process::Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&data).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(base64(&data), String::from_utf8(out.stdout).unwrap());
    }

    #[test]
    fn fields_keep_every_value_and_ignore_other_lines() {
        let f = Fields::parse("hello\nsshd=1:0\nsshd=2:-17\n avail = 5\nmsg=a=b\n=x\nbad key=1\n");
        assert_eq!(f.all("sshd"), ["1:0", "2:-17"]);
        assert_eq!(f.get("sshd"), Some("2:-17"));
        assert_eq!(f.get("avail"), Some(" 5"));
        assert_eq!(f.number::<u64>("avail"), Ok(5));
        assert_eq!(f.get("msg"), Some("a=b"));
        assert_eq!(f.get("bad key"), None);
        assert_eq!(
            f.need("inode"),
            Err("the script printed no `inode=` line".to_string())
        );
        assert_eq!(
            f.number::<u64>("msg"),
            Err("`msg=a=b` is not a number".to_string())
        );
    }
}
