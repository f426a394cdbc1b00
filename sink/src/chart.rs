//! Inline SVG charts for the HTML report: horizontal bars (rankings), vertical bars (hours of
//! the day) and lines (hourly series). Each function returns one self-contained `<svg>` element
//! with no scripts and no external references; every label passes through [`escape`], because
//! labels are user-controlled (paths, referrers, agents) and may be hostile.

use std::fmt::Write as _;

/// Escapes text for HTML/SVG content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML/HTML text: show them as U+FFFD.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Cuts a label to `max` characters (with `…`).
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Series colours (colour-blind friendly).
pub const COLORS: [&str; 6] = [
    "#0072b2", "#009e73", "#e69f00", "#d55e00", "#cc79a7", "#999999",
];

const WIDTH: f64 = 760.0;

fn empty(title: &str) -> String {
    format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{t}\" width=\"{WIDTH}\" height=\"40\" viewBox=\"0 0 {WIDTH} 40\" xmlns=\"http://www.w3.org/2000/svg\"><text x=\"8\" y=\"24\" class=\"muted\">no data</text></svg>",
        t = escape(title)
    )
}

/// Round axis maximum ≥ `v`.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

/// Horizontal bars, one per `(label, value)`, with the formatted value at each bar's end.
pub fn hbar(title: &str, rows: &[(String, u64)], fmt: impl Fn(u64) -> String) -> String {
    if rows.is_empty() {
        return empty(title);
    }
    let (label_w, value_w, row_h) = (250.0, 90.0, 22.0);
    let height = row_h * rows.len() as f64 + 10.0;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let span = WIDTH - label_w - value_w;
    let mut s = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{t}\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        t = escape(title)
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 5.0 + row_h * i as f64;
        let w = (*v as f64 / max * span).max(if *v > 0 { 1.0 } else { 0.0 });
        let _ = write!(
            s,
            "<g><title>{full}: {val}</title><text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{short}</text><rect x=\"{label_w}\" y=\"{ry}\" width=\"{w:.1}\" height=\"{rh}\" fill=\"{c}\"/><text x=\"{vx:.1}\" y=\"{ty}\">{val}</text></g>",
            full = escape(label),
            short = escape(&shorten(label, 34)),
            val = escape(&fmt(*v)),
            lx = label_w - 6.0,
            ty = y + 15.0,
            ry = y + 3.0,
            rh = row_h - 6.0,
            c = COLORS[0],
            vx = label_w + w + 5.0,
        );
    }
    s.push_str("</svg>");
    s
}

/// Vertical bars over labelled columns (e.g. the 24 hours of the day).
pub fn vbar(title: &str, labels: &[String], values: &[u64], fmt: impl Fn(u64) -> String) -> String {
    if values.iter().all(|v| *v == 0) {
        return empty(title);
    }
    let (left, bottom, top, height) = (70.0, 24.0, 10.0, 220.0);
    let plot_h = height - bottom - top;
    let max = nice_max(values.iter().copied().max().unwrap_or(0) as f64);
    let step = (WIDTH - left - 10.0) / values.len() as f64;
    let mut s = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{t}\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        t = escape(title)
    );
    axis(&mut s, left, top, plot_h, max, &fmt);
    for (i, v) in values.iter().enumerate() {
        let h = *v as f64 / max * plot_h;
        let x = left + step * i as f64;
        let label = labels.get(i).map(String::as_str).unwrap_or("");
        let _ = write!(
            s,
            "<g><title>{l}: {val}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{c}\"/><text x=\"{tx:.1}\" y=\"{ly}\" text-anchor=\"middle\" class=\"small\">{l}</text></g>",
            l = escape(label),
            val = escape(&fmt(*v)),
            y = top + plot_h - h,
            w = step * 0.8,
            c = COLORS[0],
            tx = x + step * 0.4,
            ly = height - 8.0,
        );
    }
    s.push_str("</svg>");
    s
}

fn axis(s: &mut String, left: f64, top: f64, plot_h: f64, max: f64, fmt: &impl Fn(u64) -> String) {
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let y = top + plot_h - plot_h * k as f64 / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\" class=\"small\">{v}</text>",
            x2 = WIDTH - 10.0,
            tx = left - 4.0,
            ty = y + 4.0,
            v = escape(&fmt(v.round() as u64)),
        );
    }
}

/// Line chart: one polyline per named series over shared x labels, with a legend.
pub fn lines(
    title: &str,
    x_labels: &[String],
    series: &[(&str, Vec<u64>)],
    fmt: impl Fn(u64) -> String,
) -> String {
    let n = x_labels.len();
    if n == 0 || series.iter().all(|(_, v)| v.iter().all(|x| *x == 0)) {
        return empty(title);
    }
    let (left, bottom, top, height) = (80.0, 40.0, 30.0, 280.0);
    let plot_h = height - bottom - top;
    let plot_w = WIDTH - left - 10.0;
    let max = nice_max(
        series
            .iter()
            .flat_map(|(_, v)| v.iter())
            .copied()
            .max()
            .unwrap_or(0) as f64,
    );
    let x = |i: usize| {
        left + if n == 1 {
            plot_w / 2.0
        } else {
            plot_w * i as f64 / (n - 1) as f64
        }
    };
    let mut s = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{t}\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        t = escape(title)
    );
    axis(&mut s, left, top, plot_h, max, &fmt);
    let every = n.div_ceil(6).max(1);
    for i in (0..n).step_by(every) {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" class=\"small\">{}</text>",
            x(i),
            height - 22.0,
            escape(&x_labels[i])
        );
    }
    for (k, (name, values)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), top + plot_h - *v as f64 / max * plot_h))
            .collect();
        // Saturating: a series may hold byte totals up to i64::MAX each.
        let total = values.iter().fold(0u64, |t, v| t.saturating_add(*v));
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\" points=\"{}\"><title>{}: {}</title></polyline>",
            points.join(" "),
            escape(name),
            escape(&fmt(total))
        );
        if n == 1 {
            let (px, py) = (x(0), top + plot_h - values[0] as f64 / max * plot_h);
            let _ = write!(
                s,
                "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3\" fill=\"{color}\"/>"
            );
        }
        let lx = left + 90.0 * k as f64;
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{tx}\" y=\"18\" class=\"small\">{}</text>",
            escape(name),
            tx = lx + 16.0
        );
    }
    s.push_str("</svg>");
    s
}
