//! Turning the command line into a checked `Config`. Every parser here is pure, and every error
//! is one line that says what to type instead.

use super::ClientError;
use super::expect::Expect;
use super::load::Load;
use super::stream::{self, Stream};
use hyper::Uri;
use std::path::PathBuf;
use std::time::Duration;

/// A run, fully checked.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// One from the flags, or those of `--streams`; all go to the same host.
    pub(crate) streams: Vec<Stream>,
    /// `None`: until Ctrl-C.
    pub(crate) duration: Option<Duration>,
    pub(crate) timeout: Duration,
    pub(crate) report: Option<PathBuf>,
    /// `--html`: the run's timeline is written here when it ends.
    pub(crate) html: Option<PathBuf>,
    /// `--ledger`: every acknowledged write is appended here.
    pub(crate) ledger: Option<PathBuf>,
    /// Percent, e.g. 99.9.
    pub(crate) slo: f64,
    /// The lab's event log, when the run targets a lab.
    pub(crate) events: Option<PathBuf>,
    /// The lab the run loads, if any: marked as loaded while the run lasts (`lab::loading`).
    pub(crate) lab: Option<crate::paths::LabDir>,
    /// For an https:// URL: the CAs trusted and the name the certificate must carry.
    pub(crate) tls: Option<super::tls::TlsTarget>,
}

/// Requests per second: a positive, finite number.
pub(crate) fn parse_rate(s: &str) -> Result<f64, ClientError> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(ClientError::BadRate {
            value: s.to_string(),
        }),
    }
}

/// `500ms`, `30s`, `2m`, `1h`, `1.5s`, or a sequence such as `1m30s`. A bare number is refused:
/// `--duration 30` could mean seconds or minutes, and guessing wrong wastes a learner's run.
pub(crate) fn parse_duration(flag: &'static str, s: &str) -> Result<Duration, ClientError> {
    let bad = |reason: &str| ClientError::BadDuration {
        flag,
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let text = s.trim();
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total = 0.0_f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad("expected a number"));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| bad("expected a number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(bad("the number has no unit")),
            _ => return Err(bad("unknown unit")),
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    if !(total.is_finite() && total > 0.0 && total < 1e9) {
        return Err(bad("it must be above zero"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// An `http[s]://host[:port]/path` URL and the POST URL derived from it.
pub(crate) fn parse_url(s: &str) -> Result<(Uri, Uri), ClientError> {
    let bad = |reason: &str| ClientError::BadUrl {
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let uri: Uri = s.trim().parse().map_err(|_| bad("it is not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some(s @ ("http" | "https")) => s.to_string(),
        Some(_) => return Err(bad("only http:// and https:// URLs are supported")),
        None => return Err(bad("it has no scheme")),
    };
    let Some(authority) = uri.authority() else {
        return Err(bad("it has no host"));
    };
    if authority.host().is_empty() {
        return Err(bad("it has no host"));
    }
    let post = Uri::builder()
        .scheme(scheme.as_str())
        .authority(authority.clone())
        .path_and_query("/todos")
        .build()
        .map_err(|_| bad("it has no usable host"))?;
    Ok((uri, post))
}

/// A percentage in (0, 100].
pub(crate) fn parse_slo(s: &str) -> Result<f64, ClientError> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 100.0 => Ok(v),
        _ => Err(ClientError::BadSlo {
            value: s.to_string(),
        }),
    }
}

/// A fraction in [0, 1].
pub(crate) fn parse_write_ratio(s: &str) -> Result<f64, ClientError> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(ClientError::BadWriteRatio {
            value: s.to_string(),
        }),
    }
}

/// A count above zero.
pub(crate) fn parse_max_inflight(s: &str) -> Result<usize, ClientError> {
    match s.trim().parse::<usize>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(ClientError::BadMaxInflight {
            value: s.to_string(),
        }),
    }
}

/// Enough slots for every request of a whole timeout window to be in flight, so that a server
/// which stalls shows up as timeouts rather than drops; with a one-second margin for requests
/// whose timeout fires in the same instant as a new one is due. Capped at 1,000 so that a high
/// rate with a long timeout stays under the usual 1,024 open files; beyond the cap, a stall shows
/// up as drops, which are counted as failures too.
pub(crate) fn default_max_inflight(rate: f64, timeout: Duration) -> usize {
    let window = rate * (timeout.as_secs_f64() + 1.0);
    (window.ceil() as usize).clamp(1, 1_000)
}

/// The rate when neither flag is given.
const DEFAULT_RATE: f64 = 20.0;

/// `--rate` or `--ramp`, not both.
pub(crate) fn flag_load(rate: Option<&str>, ramp: Option<&str>) -> Result<Load, ClientError> {
    match (rate, ramp) {
        (Some(_), Some(_)) => Err(ClientError::RateAndRamp),
        (Some(r), None) => parse_rate(r).map(Load::constant),
        (None, Some(r)) => Load::parse_ramp(r).map_err(|reason| ClientError::BadRamp {
            value: r.to_string(),
            reason,
        }),
        (None, None) => Ok(Load::constant(DEFAULT_RATE)),
    }
}

fn request_flag(flag: &'static str, value: &str, e: stream::Invalid) -> ClientError {
    ClientError::BadRequestFlag {
        flag,
        value: value.to_string(),
        reason: e.reason,
        hint: e.hint,
    }
}

/// The one stream the flags describe.
pub(super) fn flag_stream(
    args: &super::ClientArgs,
    url: &hyper::Uri,
    post_url: &hyper::Uri,
    timeout: std::time::Duration,
) -> Result<Stream, ClientError> {
    let load = flag_load(args.rate.as_deref(), args.ramp.as_deref())?;
    let expects = args
        .expect
        .iter()
        .map(|e| Expect::parse(e))
        .collect::<Result<Vec<_>, _>>()?;
    let write_ratio = parse_write_ratio(&args.write_ratio)?;
    let max_inflight = match &args.max_inflight {
        Some(m) => parse_max_inflight(m)?,
        None => default_max_inflight(load.peak(), timeout),
    };
    let method = stream::parse_method(&args.method)
        .map_err(|e| request_flag("--method", &args.method, e))?;
    let headers = args
        .header
        .iter()
        .map(|h| stream::parse_header(h).map_err(|e| request_flag("--header", h, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let body = args
        .body
        .as_deref()
        .map(|b| {
            stream::parse_body(b).map_err(|reason| ClientError::BadRequestFlag {
                flag: "--body",
                value: b.to_string(),
                reason,
                hint: "write the body as it is sent, e.g. '{\"name\": \"task {{seq}} {{word}}\"}'",
            })
        })
        .transpose()?;
    let url = match &args.path {
        Some(p) => stream::with_path(url, p).map_err(|e| request_flag("--path", p, e))?,
        None => url.clone(),
    };
    Ok(Stream {
        name: stream::DEFAULT_NAME.to_string(),
        load,
        method,
        url,
        post_url: post_url.clone(),
        headers,
        body,
        expects,
        write_ratio,
        max_inflight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |s| parse_duration("--duration", s).map_err(|e| e.to_string());
        assert_eq!(d("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(d("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(d("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(d("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(
            d("30"),
            Err("--duration 30: not a duration (the number has no unit); write a number and a unit, e.g. 500ms, 30s, 2m or 1h".into())
        );
        assert_eq!(
            d("abc"),
            Err("--duration abc: not a duration (expected a number); write a number and a unit, e.g. 500ms, 30s, 2m or 1h".into())
        );
        assert_eq!(
            d("3d"),
            Err("--duration 3d: not a duration (unknown unit); write a number and a unit, e.g. 500ms, 30s, 2m or 1h".into())
        );
        assert!(d("0s").is_err());
        assert!(d("").is_err());
        assert!(d("1..2s").is_err());
        assert!(d("-1s").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("20").ok(), Some(20.0));
        assert_eq!(parse_rate("0.5").ok(), Some(0.5));
        for bad in ["0", "-3", "abc", "inf", "NaN", ""] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_rate("0").map_err(|e| e.to_string()),
            Err("--rate 0: the rate must be a number of requests per second above 0, e.g. --rate 20".into())
        );
    }

    #[test]
    fn rate_or_ramp() {
        let load = |rate, ramp| flag_load(rate, ramp).map_err(|e| e.to_string());
        assert_eq!(load(None, None).map(|l| l.to_string()), Ok("20".into()));
        assert_eq!(load(Some("5"), None).map(|l| l.to_string()), Ok("5".into()));
        assert_eq!(
            load(None, Some("5:2,10:2")).map(|l| l.to_string()),
            Ok("5:2,10:2".into())
        );
        assert_eq!(
            load(Some("5"), Some("5:2")),
            Err("--rate and --ramp both given: --ramp sets the rate of each stage and the last one holds; drop --rate".into())
        );
        assert_eq!(
            load(None, Some("5:2,x:3")),
            Err("--ramp 5:2,x:3: stage 2 `x:3`: the rate must be a number of requests per second above 0; write RATE:SECONDS stages separated by commas, e.g. 5:60,10:60,20:60".into())
        );
    }

    #[test]
    fn urls() {
        let (get, post) = parse_url("http://10.78.0.10/todos?x=1").expect("valid");
        assert_eq!(get.to_string(), "http://10.78.0.10/todos?x=1");
        assert_eq!(post.to_string(), "http://10.78.0.10/todos");
        let (get, post) = parse_url("http://127.0.0.1:8080").expect("valid");
        assert_eq!(get.to_string(), "http://127.0.0.1:8080/");
        assert_eq!(post.to_string(), "http://127.0.0.1:8080/todos");
        let err = |s| parse_url(s).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            err("ftp://x/"),
            Err("--url ftp://x/: only http:// and https:// URLs are supported; write it as http://HOST[:PORT]/PATH or https://..., e.g. http://10.78.0.10/todos".into())
        );
        let (get, post) = parse_url("https://10.78.0.10/todos?x=1").expect("valid");
        assert_eq!(get.to_string(), "https://10.78.0.10/todos?x=1");
        assert_eq!(post.to_string(), "https://10.78.0.10/todos");
        assert!(err("not a url").is_err());
        assert!(err("/todos").is_err());
        assert!(err("").is_err());
    }

    #[test]
    fn slo_ratio_inflight() {
        assert_eq!(parse_slo("99.9").ok(), Some(99.9));
        assert_eq!(parse_slo("100%").ok(), Some(100.0));
        assert!(parse_slo("0").is_err());
        assert!(parse_slo("101").is_err());
        assert_eq!(parse_write_ratio("0.1").ok(), Some(0.1));
        assert!(parse_write_ratio("1.5").is_err());
        assert!(parse_write_ratio("-0.1").is_err());
        assert_eq!(parse_max_inflight("10").ok(), Some(10));
        assert!(parse_max_inflight("0").is_err());
        assert_eq!(default_max_inflight(20.0, Duration::from_secs(2)), 60);
        assert_eq!(default_max_inflight(0.1, Duration::from_secs(1)), 1);
        assert_eq!(default_max_inflight(1e6, Duration::from_secs(2)), 1_000);
    }
}
