//! Dependency-free SVG line charts for training curves and sweeps.
//!
//! Axis ticks follow the 1-2-5 rule (Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990):
//! the tick step is 1, 2 or 5 times a power of ten, chosen so about five intervals cover the data,
//! and the axis is widened to whole steps. With `log_y` the y axis is in decades (ticks at powers
//! of ten). Non-finite points, and non-positive ones on a log axis, break a line into pieces rather
//! than being drawn at a made-up position, so a divergence shows up as a gap.

use std::fmt::Write;

/// One curve: a label for the legend and its `(x, y)` points, drawn in the given order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart of several series sharing one pair of axes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Logarithmic y axis (base 10), e.g. for losses spanning decades.
    pub log_y: bool,
}

/// Tableau 10, chosen to stay distinguishable for the common forms of colour blindness. Past ten
/// series the colours repeat with a dash pattern so that series stay distinct.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];
const DASHES: [&str; 3] = ["", "6,3", "2,2"];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 440.0;
const MARGIN_LEFT: f64 = 72.0;
const MARGIN_TOP: f64 = 40.0;
const MARGIN_BOTTOM: f64 = 56.0;
const LEGEND_WIDTH: f64 = 170.0;
/// About this many tick intervals per axis.
const TARGET_TICKS: usize = 5;

impl LineChart {
    /// A chart with no series yet.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> LineChart {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            log_y: false,
        }
    }

    /// Adds a series (builder style).
    pub fn with_series(mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> LineChart {
        self.series.push(Series {
            label: label.into(),
            points,
        });
        self
    }

    /// Renders the chart as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let plot_left = MARGIN_LEFT;
        let plot_right = WIDTH
            - if self.series.is_empty() {
                24.0
            } else {
                LEGEND_WIDTH
            };
        let plot_top = MARGIN_TOP;
        let plot_bottom = HEIGHT - MARGIN_BOTTOM;

        // Data range over drawable points only, in axis space (log10 y on a log axis).
        let mut xs = Range::default();
        let mut ys = Range::default();
        for s in &self.series {
            for &(x, y) in &s.points {
                if let Some(ty) = self.axis_y(x, y) {
                    xs.add(x);
                    ys.add(ty);
                }
            }
        }
        let (x_lo, x_hi, x_ticks) = nice_axis(xs.lo_hi(), TARGET_TICKS);
        let (y_lo, y_hi, y_ticks) = if self.log_y {
            log_axis(ys.lo_hi())
        } else {
            nice_axis(ys.lo_hi(), TARGET_TICKS)
        };
        // nice_axis/log_axis never return an empty span, so these divisions are safe.
        let px = |x: f64| plot_left + (x - x_lo) / (x_hi - x_lo) * (plot_right - plot_left);
        let py = |y: f64| plot_bottom - (y - y_lo) / (y_hi - y_lo) * (plot_bottom - plot_top);

        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(
            svg,
            r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="24" text-anchor="middle" font-size="16">{}</text>"#,
            (plot_left + plot_right) / 2.0,
            xml_escape(&self.title)
        );

        // Grid lines and tick labels.
        let x_step = step_of(&x_ticks);
        for &t in &x_ticks {
            let x = px(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.2}" y1="{plot_top:.2}" x2="{x:.2}" y2="{plot_bottom:.2}" stroke="#e0e0e0"/>"##
            );
            let _ = writeln!(
                svg,
                r#"<text x="{x:.2}" y="{:.2}" text-anchor="middle">{}</text>"#,
                plot_bottom + 16.0,
                format_tick(t, x_step)
            );
        }
        let y_step = step_of(&y_ticks);
        for &t in &y_ticks {
            let y = py(t);
            let label = if self.log_y {
                format_decade(t)
            } else {
                format_tick(t, y_step)
            };
            let _ = writeln!(
                svg,
                r##"<line x1="{plot_left:.2}" y1="{y:.2}" x2="{plot_right:.2}" y2="{y:.2}" stroke="#e0e0e0"/>"##
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.2}" y="{:.2}" text-anchor="end">{label}</text>"#,
                plot_left - 6.0,
                y + 4.0
            );
        }
        // Axes frame and labels.
        let _ = writeln!(
            svg,
            r#"<rect x="{plot_left:.2}" y="{plot_top:.2}" width="{:.2}" height="{:.2}" fill="none" stroke="black"/>"#,
            plot_right - plot_left,
            plot_bottom - plot_top
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.2}" y="{:.2}" text-anchor="middle">{}</text>"#,
            (plot_left + plot_right) / 2.0,
            HEIGHT - 14.0,
            xml_escape(&self.x_label)
        );
        let ylx = 18.0;
        let yly = (plot_top + plot_bottom) / 2.0;
        let _ = writeln!(
            svg,
            r#"<text x="{ylx:.2}" y="{yly:.2}" text-anchor="middle" transform="rotate(-90 {ylx:.2} {yly:.2})">{}</text>"#,
            xml_escape(&self.y_label)
        );

        if xs.is_empty() {
            let _ = writeln!(
                svg,
                r##"<text x="{:.2}" y="{:.2}" text-anchor="middle" fill="#888">no data</text>"##,
                (plot_left + plot_right) / 2.0,
                (plot_top + plot_bottom) / 2.0
            );
        }

        // Curves: one <g> per series, one polyline per unbroken run, a dot for an isolated point.
        for (i, s) in self.series.iter().enumerate() {
            let (colour, dash) = style(i);
            let dash_attr = if dash.is_empty() {
                String::new()
            } else {
                format!(r#" stroke-dasharray="{dash}""#)
            };
            let _ = writeln!(svg, r#"<g class="series" data-index="{i}">"#);
            let mut run: Vec<(f64, f64)> = Vec::new();
            let flush_run = |run: &mut Vec<(f64, f64)>, svg: &mut String| {
                match run.len() {
                    0 => {}
                    1 => {
                        let _ = writeln!(
                            svg,
                            r#"<circle cx="{:.2}" cy="{:.2}" r="3" fill="{colour}"/>"#,
                            run[0].0, run[0].1
                        );
                    }
                    _ => {
                        let pts: Vec<String> =
                            run.iter().map(|(x, y)| format!("{x:.2},{y:.2}")).collect();
                        let _ = writeln!(
                            svg,
                            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.8"{dash_attr}/>"#,
                            pts.join(" ")
                        );
                    }
                }
                run.clear();
            };
            for &(x, y) in &s.points {
                match self.axis_y(x, y) {
                    Some(ty) => run.push((px(x), py(ty))),
                    None => flush_run(&mut run, &mut svg),
                }
            }
            flush_run(&mut run, &mut svg);
            let _ = writeln!(svg, "</g>");
        }

        // Legend to the right of the plot, so it never hides data.
        for (i, s) in self.series.iter().enumerate() {
            let (colour, dash) = style(i);
            let dash_attr = if dash.is_empty() {
                String::new()
            } else {
                format!(r#" stroke-dasharray="{dash}""#)
            };
            let y = plot_top + 8.0 + 18.0 * i as f64;
            let x = plot_right + 12.0;
            let _ = writeln!(
                svg,
                r#"<line x1="{x:.2}" y1="{y:.2}" x2="{:.2}" y2="{y:.2}" stroke="{colour}" stroke-width="2.5"{dash_attr}/>"#,
                x + 22.0
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.2}" y="{:.2}">{}</text>"#,
                x + 28.0,
                y + 4.0,
                xml_escape(&s.label)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }

    /// The point's y in axis space, or `None` if it cannot be drawn (a gap).
    fn axis_y(&self, x: f64, y: f64) -> Option<f64> {
        if !x.is_finite() || !y.is_finite() {
            return None;
        }
        if self.log_y {
            (y > 0.0).then(|| y.log10())
        } else {
            Some(y)
        }
    }
}

fn style(i: usize) -> (&'static str, &'static str) {
    (
        PALETTE[i % PALETTE.len()],
        DASHES[(i / PALETTE.len()) % DASHES.len()],
    )
}

#[derive(Default)]
struct Range {
    lo: f64,
    hi: f64,
    n: usize,
}

impl Range {
    fn add(&mut self, v: f64) {
        if self.n == 0 {
            self.lo = v;
            self.hi = v;
        } else {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        }
        self.n += 1;
    }

    fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The range, or `None` with no points.
    fn lo_hi(&self) -> Option<(f64, f64)> {
        (self.n > 0).then_some((self.lo, self.hi))
    }
}

/// Widens a data range that is empty or a single value to one with a span, so that the
/// pixel mapping never divides by zero.
fn ensure_span(range: Option<(f64, f64)>) -> (f64, f64) {
    match range {
        None => (0.0, 1.0),
        Some((lo, hi)) if hi > lo => (lo, hi),
        Some((v, _)) => {
            let pad = if v == 0.0 { 1.0 } else { v.abs() * 0.1 };
            (v - pad, v + pad)
        }
    }
}

/// The 1-2-5 step giving about `target` intervals over `span`, as `(mantissa, exponent)`:
/// step = mantissa × 10^exponent with mantissa in {1, 2, 5}.
fn nice_step(span: f64, target: usize) -> (f64, i32) {
    let raw = span / target.max(1) as f64;
    let mut exp = raw.log10().floor() as i32;
    let frac = raw / 10f64.powi(exp);
    let mantissa = if frac <= 1.0 {
        1.0
    } else if frac <= 2.0 {
        2.0
    } else if frac <= 5.0 {
        5.0
    } else {
        exp += 1;
        1.0
    };
    (mantissa, exp)
}

/// `k × mantissa × 10^exp`, computed so that 3 × 0.2 gives 0.6 rather than 0.6000000000000001:
/// the integer `k × mantissa` is exact, and one division by an exact power of ten rounds once.
fn tick_value(k: f64, mantissa: f64, exp: i32) -> f64 {
    if exp >= 0 {
        k * mantissa * 10f64.powi(exp)
    } else {
        k * mantissa / 10f64.powi(-exp)
    }
}

/// Nice ticks covering `[lo, hi]`: the axis is widened to whole 1-2-5 steps and every step is a
/// tick. Returns the widened `(lo, hi)` and the ticks.
fn nice_axis(range: Option<(f64, f64)>, target: usize) -> (f64, f64, Vec<f64>) {
    let (lo, hi) = ensure_span(range);
    let (mantissa, exp) = nice_step(hi - lo, target);
    let step = tick_value(1.0, mantissa, exp);
    // The small tolerance keeps a data bound that is a tick up to rounding (0.30000000000000004)
    // from adding a whole extra step.
    let k_lo = (lo / step + 1e-9).floor();
    let k_hi = (hi / step - 1e-9).ceil().max(k_lo + 1.0);
    if !(k_hi - k_lo).is_finite() || k_hi - k_lo > 100.0 {
        // Only reachable for ranges near the f64 limits, where a step cannot be represented.
        return (lo, hi, vec![lo, hi]);
    }
    let ticks: Vec<f64> = (0..=(k_hi - k_lo) as i64)
        .map(|i| tick_value(k_lo + i as f64, mantissa, exp))
        .collect();
    let (first, last) = (ticks[0], ticks[ticks.len() - 1]);
    (first, last, ticks)
}

/// Ticks for a log10 axis given the range of log10(y): whole decades, thinned to at most about
/// eight labels when the data span many decades.
fn log_axis(range: Option<(f64, f64)>) -> (f64, f64, Vec<f64>) {
    let (lo, hi) = match range {
        None => (0.0, 1.0),
        Some((lo, hi)) => (lo.floor(), hi.ceil().max(lo.floor() + 1.0)),
    };
    let every = ((hi - lo) / 8.0).ceil().max(1.0);
    let hi = lo + ((hi - lo) / every).ceil() * every;
    let n = ((hi - lo) / every).round() as i64;
    let ticks = (0..=n).map(|i| lo + i as f64 * every).collect();
    (lo, hi, ticks)
}

fn step_of(ticks: &[f64]) -> f64 {
    if ticks.len() >= 2 {
        ticks[1] - ticks[0]
    } else {
        1.0
    }
}

/// A tick label with as many decimals as the step needs (step 0.2 → "0.4", step 50 → "150"),
/// switching to exponent form for very large or small magnitudes.
fn format_tick(v: f64, step: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v }; // no "-0"
    let mag = v.abs().max(step.abs());
    if mag >= 1e6 || step.abs() < 1e-4 {
        return format!("{v:e}");
    }
    let decimals = (-step.abs().log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// A decade label for a log axis: 10^k as a plain number for small |k|, else `1e{k}`.
fn format_decade(k: f64) -> String {
    let k = k.round() as i32;
    if (-3..=4).contains(&k) {
        let v = 10f64.powi(k);
        format_tick(v, v)
    } else {
        format!("1e{k}")
    }
}

/// Escapes the five XML special characters for text and attribute values.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small well-formedness check, enough for the SVG we emit: every tag is closed in order,
    /// attribute values are quoted, and text holds no raw `<` or stray `&`.
    fn assert_well_formed(svg: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open]);
            let close = rest[open..].find('>').expect("unclosed '<'") + open;
            let tag = &rest[open + 1..close];
            assert!(!tag.contains('<'), "'<' inside tag: {tag}");
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(
                    stack.pop().as_deref(),
                    Some(name.trim()),
                    "mismatched </{name}>"
                );
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().expect("empty tag");
                stack.push(name.to_string());
            }
            rest = &rest[close + 1..];
        }
        check_text(rest);
        assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    }

    fn check_text(text: &str) {
        assert!(!text.contains('>'), "raw '>' in text: {text}");
        for (i, _) in text.match_indices('&') {
            let ent = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| ent.starts_with(e)),
                "stray '&' in text: {text}"
            );
        }
    }

    fn polylines(svg: &str) -> Vec<&str> {
        svg.lines().filter(|l| l.starts_with("<polyline")).collect()
    }

    #[test]
    fn ticks_for_unit_interval() {
        // span 1 / 5 intervals = 0.2 = 2 × 10^-1 → 0, 0.2, …, 1.0 exactly as decimals.
        let (lo, hi, ticks) = nice_axis(Some((0.0, 1.0)), 5);
        assert_eq!(ticks, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!((lo, hi), (0.0, 1.0));
        let labels: Vec<String> = ticks.iter().map(|&t| format_tick(t, 0.2)).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    }

    #[test]
    fn ticks_widen_to_whole_steps() {
        // span 0.73 / 5 = 0.146 → step 0.2; axis widened from [0.13, 0.86] to [0, 1].
        let (lo, hi, ticks) = nice_axis(Some((0.13, 0.86)), 5);
        assert_eq!((lo, hi), (0.0, 1.0));
        assert_eq!(ticks.len(), 6);
        // span 970 / 5 = 194 → step 200; [30, 1000] → 0, 200, …, 1000.
        let (_, _, ticks) = nice_axis(Some((30.0, 1000.0)), 5);
        assert_eq!(ticks, [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        // span 3 / 5 = 0.6 → step 1 (0.6 rounds up past 0.5 to 1); [-1.5, 1.5] → -2..2.
        let (_, _, ticks) = nice_axis(Some((-1.5, 1.5)), 5);
        assert_eq!(ticks, [-2.0, -1.0, 0.0, 1.0, 2.0]);
        // A constant 3 is padded by 10% to [2.7, 3.3]: span 0.6 / 5 = 0.12 → step 0.2.
        let (lo, hi, _) = nice_axis(Some((3.0, 3.0)), 5);
        assert!(lo < 3.0 && hi > 3.0 && hi - lo > 0.0);
    }

    #[test]
    fn log_axis_uses_decades() {
        // log10 range [-2.3, 0.4] → decades -3..1, i.e. 0.001 … 10.
        let (lo, hi, ticks) = log_axis(Some((-2.3, 0.4)));
        assert_eq!((lo, hi), (-3.0, 1.0));
        assert_eq!(ticks, [-3.0, -2.0, -1.0, 0.0, 1.0]);
        let labels: Vec<String> = ticks.iter().map(|&k| format_decade(k)).collect();
        assert_eq!(labels, ["0.001", "0.01", "0.1", "1", "10"]);
        assert_eq!(format_decade(-6.0), "1e-6");
    }

    #[test]
    fn escapes_xml_in_labels() {
        assert_eq!(
            xml_escape(r#"a<b & c>"d""#),
            "a&lt;b &amp; c&gt;&quot;d&quot;"
        );
        let chart = LineChart::new("loss <&> 'x'", "step", "y & z")
            .with_series("arm <1>", vec![(0.0, 1.0), (1.0, 2.0)]);
        let svg = chart.to_svg();
        assert!(svg.contains("loss &lt;&amp;&gt; &apos;x&apos;"));
        assert!(svg.contains("arm &lt;1&gt;"));
        assert_well_formed(&svg);
    }

    #[test]
    fn nan_breaks_the_line() {
        let chart = LineChart::new("t", "x", "y").with_series(
            "a",
            vec![
                (0.0, 1.0),
                (1.0, 2.0),
                (2.0, f64::NAN),
                (3.0, 3.0),
                (4.0, 4.0),
            ],
        );
        let svg = chart.to_svg();
        assert_well_formed(&svg);
        let lines = polylines(&svg);
        assert_eq!(lines.len(), 2, "NaN splits one series into two runs");
        assert!(!svg.contains("NaN"));
        for l in lines {
            let pts = l
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert_eq!(pts.split(' ').count(), 2);
        }
    }

    #[test]
    fn degenerate_inputs_render() {
        // A single point becomes a dot; a constant series still gets a span; an empty series
        // still has a legend entry; no series at all says "no data".
        let chart = LineChart::new("t", "x", "y")
            .with_series("single", vec![(5.0, 2.0)])
            .with_series("const", vec![(0.0, 2.0), (10.0, 2.0)])
            .with_series("empty", vec![]);
        let svg = chart.to_svg();
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert_eq!(polylines(&svg).len(), 1);
        assert!(svg.contains(">empty</text>"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));

        let svg = LineChart::new("nothing", "x", "y").to_svg();
        assert_well_formed(&svg);
        assert!(svg.contains("no data"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn log_y_skips_non_positive_and_colours_differ() {
        let mut chart = LineChart::new("loss", "step", "loss")
            .with_series(
                "a",
                vec![
                    (0.0, 1.0),
                    (1.0, 0.1),
                    (2.0, 0.0),
                    (3.0, 0.01),
                    (4.0, 0.001),
                ],
            )
            .with_series("b", vec![(0.0, 2.0), (4.0, 0.5)]);
        chart.log_y = true;
        let svg = chart.to_svg();
        assert_well_formed(&svg);
        // Series a splits at y = 0 into two runs of two; b is one run.
        let lines = polylines(&svg);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains(PALETTE[0]) && lines[2].contains(PALETTE[1]));
        // Decade labels from 0.001 to 10.
        assert!(svg.contains(">0.001</text>") && svg.contains(">10</text>"));
        // Series 11 reuses colour 1 with a dash pattern.
        assert_eq!(style(10), (PALETTE[0], DASHES[1]));
    }
}
