//! The SVG: a lane of numbered marks on top, then for each stream three panels on the shared
//! time axis — success (the failed share in red above the line), p50/p99 latency, failures per
//! second stacked by class — with every mark's line drawn through them. Scales are shared by
//! the streams, so their panels compare at a glance.

use super::buckets::{self, Bucket, CLASSES};
use super::scale::{LogScale, PLOT_W, TimeAxis, X0, nice_max};
use super::{Mark, MarkKind, Timeline, esc, zone_name};
use chrono::FixedOffset;
use std::fmt::Write;

const WIDTH: f64 = X0 + PLOT_W + 24.0;
pub(crate) const SUCCESS: &str = "#1a9850";
pub(crate) const FAILED: &str = "#d73027";
const P50: &str = "#4575b4";
const P99: &str = "#8e0152";
const GRID: &str = "#e3e3e3";

const SUCCESS_H: f64 = 100.0;
const LATENCY_H: f64 = 90.0;
const ERRORS_H: f64 = 70.0;
/// Room for a panel's title above it.
const TITLE_H: f64 = 18.0;
const LANE_ROW: f64 = 20.0;
/// Marks closer than this share a row of the lane only if they do not overlap.
const MARK_GAP: f64 = 19.0;

pub(super) struct Chart<'a> {
    axis: TimeAxis,
    zone: FixedOffset,
    /// The marks inside the axis, each with its number in the table under the chart.
    marks: Vec<(usize, &'a Mark)>,
    /// The row of the lane each mark is drawn in.
    rows: Vec<usize>,
    streams: Vec<(String, Vec<Option<Bucket>>)>,
    latency: Option<LogScale>,
    /// Failed requests per second at the top of the failures panel.
    errors_max: f64,
}

/// `2`, `0.5`, `1.25`: as few decimals as the value needs.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The step line through each bucket's value, broken where a bucket has none.
fn step_path(axis: &TimeAxis, values: &[Option<f64>], y: impl Fn(f64) -> f64) -> String {
    let mut d = String::new();
    let mut open = false;
    for (k, v) in values.iter().enumerate() {
        let Some(v) = v else {
            open = false;
            continue;
        };
        let (l, r) = axis.bucket_span(k);
        let y = y(*v);
        if open {
            let _ = write!(d, "V{y:.1}H{r:.1}");
        } else {
            let _ = write!(d, "M{l:.1},{y:.1}H{r:.1}");
            open = true;
        }
    }
    d
}

impl<'a> Chart<'a> {
    pub(super) fn new(t: &Timeline, marks: &[&'a Mark]) -> Chart<'a> {
        let axis = TimeAxis::new(t.from, t.to);
        let marks: Vec<(usize, &Mark)> = marks
            .iter()
            .enumerate()
            .filter(|(_, m)| m.at >= axis.from && m.at <= axis.to)
            .map(|(n, m)| (n + 1, *m))
            .collect();
        let mut names: Vec<&str> = Vec::new();
        for s in &t.report.seconds {
            if !names.contains(&s.stream.as_str()) {
                names.push(&s.stream);
            }
        }
        let streams: Vec<(String, Vec<Option<Bucket>>)> = names
            .iter()
            .map(|name| {
                let seconds = t.report.seconds.iter().filter(|s| s.stream == *name);
                (name.to_string(), buckets::sum(&axis, seconds))
            })
            .collect();
        let all = || streams.iter().flat_map(|(_, b)| b.iter().flatten());
        let latency = LogScale::around(all().flat_map(|b| [b.p50, b.p99]).flatten());
        let step = axis.step as f64;
        let errors_max = nice_max(all().map(|b| b.bad as f64 / step).fold(0.0, f64::max));
        let mut last: Vec<f64> = Vec::new();
        let rows = marks
            .iter()
            .map(|(_, m)| {
                let x = axis.x(m.at);
                let row = last
                    .iter()
                    .position(|&l| x - l >= MARK_GAP)
                    .unwrap_or(last.len());
                if row == last.len() {
                    last.push(x);
                } else {
                    last[row] = x;
                }
                row
            })
            .collect();
        Chart {
            axis,
            zone: t.zone,
            marks,
            rows,
            streams,
            latency,
            errors_max,
        }
    }

    /// The key to the colours, and how to read the buckets, as HTML above the chart.
    pub(super) fn write_legend(&self, out: &mut String) {
        let sw = |out: &mut String, color: &str, what: &str| {
            let _ = write!(
                out,
                "<span><i class=\"sw\" style=\"background:{color}\"></i>{}</span>",
                esc(what)
            );
        };
        out.push_str("<div class=\"legend\">");
        sw(out, SUCCESS, "success");
        sw(out, FAILED, "failed share");
        sw(out, P50, "p50 latency");
        sw(out, P99, "p99 latency");
        for (n, class) in CLASSES.iter().enumerate() {
            let seen = self
                .streams
                .iter()
                .flat_map(|(_, b)| b.iter().flatten())
                .any(|b| b.classes[n] > 0);
            if seen {
                sw(out, class.color, class.name);
            }
        }
        for kind in MarkKind::ALL {
            if self.marks.iter().any(|(_, m)| m.kind == kind) {
                sw(out, kind.color(), kind.name());
            }
        }
        let bucket = if self.axis.step == 1 {
            "Each step of a line is one second".to_string()
        } else {
            format!(
                "Each step of a line is {} s (the run has more seconds than the chart has pixels); latency shows the slowest second of each",
                self.axis.step
            )
        };
        let _ = writeln!(
            out,
            "</div>\n<div class=\"legend\">{bucket}. Times in {}.</div>",
            zone_name(self.zone)
        );
    }

    pub(super) fn svg(&self) -> String {
        let mut body = String::new();
        let mut y = 0.0;
        y = self.lane(&mut body, y);
        let several = self.streams.len() > 1;
        if self.streams.is_empty() {
            let _ = write!(
                body,
                "<text x=\"{X0}\" y=\"{:.1}\" font-size=\"13\" fill=\"#555\">The mock client recorded no second in this time.</text>",
                y + 20.0
            );
            y += 30.0;
        }
        for (name, buckets) in &self.streams {
            let title = if several {
                format!("Stream {name}")
            } else {
                "Requests".to_string()
            };
            y = self.group(&mut body, y, &title, buckets);
        }
        format!(
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {:.0}\" role=\"img\" aria-label=\"timeline\">\n{body}</svg>\n",
            y + 8.0
        )
    }

    /// The numbered marks, each in the first row where it does not overlap another.
    fn lane(&self, out: &mut String, top: f64) -> f64 {
        if self.marks.is_empty() {
            return top + 4.0;
        }
        let rows = self.rows.iter().max().map_or(0, |r| r + 1);
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#555\" text-anchor=\"end\">events</text>",
            X0 - 8.0,
            top + 18.0
        );
        for ((n, m), row) in self.marks.iter().zip(&self.rows) {
            let x = self.axis.x(m.at);
            let cy = top + 14.0 + *row as f64 * LANE_ROW;
            let _ = writeln!(
                out,
                "<g><title>{} {}: {}</title><circle cx=\"{x:.1}\" cy=\"{cy:.1}\" r=\"8.5\" fill=\"{}\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" font-weight=\"bold\" fill=\"#fff\" text-anchor=\"middle\">{}</text></g>",
                super::clock(m.at, self.zone),
                m.kind.name(),
                esc(&m.text),
                m.kind.color(),
                cy + 3.5,
                n
            );
        }
        top + 8.0 + rows as f64 * LANE_ROW
    }

    /// A panel's frame, title, vertical grid at the time ticks and horizontal grid at `levels`
    /// (fraction up, label); then the marks' lines.
    fn frame(&self, out: &mut String, top: f64, h: f64, title: &str, levels: &[(f64, String)]) {
        let _ = writeln!(
            out,
            "<text x=\"{X0}\" y=\"{:.1}\" font-size=\"11\" fill=\"#444\">{}</text>\n\
             <rect x=\"{X0}\" y=\"{top:.1}\" width=\"{PLOT_W}\" height=\"{h}\" fill=\"#fcfcfc\" stroke=\"#cfcfcf\"/>",
            top - 5.0,
            esc(title)
        );
        for (x, _) in self.axis.ticks(self.zone) {
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{GRID}\"/>",
                top + h
            );
        }
        for (f, label) in levels {
            let y = top + h * (1.0 - f);
            let _ = writeln!(
                out,
                "<line x1=\"{X0}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#555\" text-anchor=\"end\">{}</text>",
                X0 + PLOT_W,
                X0 - 5.0,
                y + 3.5,
                esc(label)
            );
        }
    }

    fn mark_lines(&self, out: &mut String, top: f64, h: f64) {
        for (_, m) in &self.marks {
            let x = self.axis.x(m.at);
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"1.2\" stroke-dasharray=\"4,3\"/>",
                top + h,
                m.kind.color()
            );
        }
    }

    /// One stream: its title, the three panels and the time labels; returns the y below it.
    fn group(&self, out: &mut String, top: f64, title: &str, buckets: &[Option<Bucket>]) -> f64 {
        let results: u64 = buckets.iter().flatten().map(Bucket::results).sum();
        let bad: u64 = buckets.iter().flatten().map(|b| b.bad).sum();
        let _ = writeln!(
            out,
            "<text x=\"8\" y=\"{:.1}\" font-size=\"13\" fill=\"#222\"><tspan font-weight=\"bold\">{}</tspan>\
             <tspan font-size=\"11\" fill=\"#555\" dx=\"10\">{results} requests, {bad} failed</tspan></text>",
            top + 16.0,
            esc(title),
        );
        let mut y = top + 20.0 + TITLE_H;
        self.success(out, y, buckets);
        y += SUCCESS_H + TITLE_H;
        self.latency(out, y, buckets);
        y += LATENCY_H + TITLE_H;
        self.errors(out, y, buckets);
        y += ERRORS_H;
        for (x, label) in self.axis.ticks(self.zone) {
            let _ = writeln!(
                out,
                "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#444\" text-anchor=\"middle\">{label}</text>",
                y + 13.0
            );
        }
        y + 20.0
    }

    fn success(&self, out: &mut String, top: f64, buckets: &[Option<Bucket>]) {
        let h = SUCCESS_H;
        let levels: Vec<(f64, String)> = [0.0, 25.0, 50.0, 75.0, 100.0]
            .iter()
            .map(|p| (p / 100.0, format!("{p}%")))
            .collect();
        self.frame(out, top, h, "success (% of requests)", &levels);
        let y = |p: f64| top + h * (1.0 - p / 100.0);
        // Crisp edges: no seams of background between neighbouring buckets.
        out.push_str("<g shape-rendering=\"crispEdges\">\n");
        for (k, b) in buckets.iter().enumerate() {
            let Some(p) = b.as_ref().filter(|b| b.bad > 0).and_then(Bucket::success) else {
                continue;
            };
            let (l, r) = self.axis.bucket_span(k);
            let _ = writeln!(
                out,
                "<rect x=\"{l:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{FAILED}\"/>",
                (r - l).max(1.0),
                (y(p) - top).max(1.0)
            );
        }
        out.push_str("</g>\n");
        let values: Vec<Option<f64>> = buckets
            .iter()
            .map(|b| b.as_ref().and_then(Bucket::success))
            .collect();
        let d = step_path(&self.axis, &values, y);
        let _ = writeln!(
            out,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{SUCCESS}\" stroke-width=\"2.5\" stroke-linejoin=\"round\"/>"
        );
        self.mark_lines(out, top, h);
    }

    fn latency(&self, out: &mut String, top: f64, buckets: &[Option<Bucket>]) {
        let h = LATENCY_H;
        let Some(scale) = self.latency else {
            self.frame(out, top, h, "latency: p50 and p99", &[]);
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#777\">no request was answered</text>",
                X0 + 10.0,
                top + h / 2.0
            );
            self.mark_lines(out, top, h);
            return;
        };
        self.frame(
            out,
            top,
            h,
            "latency: p50 and p99 (log scale)",
            &scale.ticks(),
        );
        let y = |ms: f64| top + h * (1.0 - scale.frac(ms));
        for (color, width, pick) in [
            (P50, 1.5, (|b: &Bucket| b.p50) as fn(&Bucket) -> Option<f64>),
            (P99, 2.0, |b: &Bucket| b.p99),
        ] {
            let values: Vec<Option<f64>> =
                buckets.iter().map(|b| b.as_ref().and_then(pick)).collect();
            let _ = writeln!(
                out,
                "<path d=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\" stroke-linejoin=\"round\"/>",
                step_path(&self.axis, &values, y)
            );
        }
        self.mark_lines(out, top, h);
    }

    fn errors(&self, out: &mut String, top: f64, buckets: &[Option<Bucket>]) {
        let h = ERRORS_H;
        let max = self.errors_max;
        let levels = [
            (0.0, "0".to_string()),
            (0.5, num(max / 2.0)),
            (1.0, num(max)),
        ];
        self.frame(out, top, h, "failed requests per second, by class", &levels);
        let step = self.axis.step as f64;
        let mut any = false;
        out.push_str("<g shape-rendering=\"crispEdges\">\n");
        for (k, b) in buckets.iter().enumerate() {
            let Some(b) = b else { continue };
            let (l, r) = self.axis.bucket_span(k);
            let mut base = top + h;
            for (n, class) in CLASSES.iter().enumerate() {
                if b.classes[n] == 0 {
                    continue;
                }
                any = true;
                let bar = h * (b.classes[n] as f64 / step / max).min(1.0);
                base -= bar;
                let _ = writeln!(
                    out,
                    "<rect x=\"{l:.1}\" y=\"{base:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                    (r - l).max(1.0),
                    bar.max(1.0),
                    class.color
                );
            }
        }
        out.push_str("</g>\n");
        if !any {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#777\">no failed request</text>",
                X0 + 10.0,
                top + h / 2.0 + 4.0
            );
        }
        self.mark_lines(out, top, h);
    }
}
