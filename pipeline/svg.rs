//! Inline SVG charts for the static report: horizontal bar charts and line charts over
//! categorical x labels (e.g. snapshot dates), rendered as strings with no JavaScript and no
//! external assets, so they pass the page's Content-Security-Policy
//! (`default-src 'none'; style-src 'unsafe-inline'; img-src data:`).
//!
//! Every chart is a root `<svg>` with the caller's `id`, `role="img"`, an `aria-labelledby`
//! pointing to its `<title>` and an `aria-describedby` pointing to a one-sentence `<desc>`. It
//! uses a 900-unit-wide `viewBox` with `width="100%"` and `max-width:900px`, so it is drawn at
//! its design size on a wide page and scales down on a narrow one. Styling is done with
//! presentation attributes only (plus the root's inline `style`). All text taken from data is
//! passed through [`escape`]; numbers are printed without float noise (`3`, not `3.0`) and with
//! thousands separators (`1,234,567`). Output is a pure function of the input: the same call
//! always returns the same string. Nothing here panics on odd numbers (NaN, infinities,
//! negatives): they are drawn as empty bars or gaps and still printed where a value is shown.

use std::fmt::Write as _;

/// One bar of a horizontal bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Category name drawn left of the bar (shortened on screen if long; full text on hover).
    pub label: String,
    /// Length of the bar; negative, NaN and infinite values are drawn with zero width.
    pub value: f64,
    /// Optional short annotation drawn after the value, e.g. "study: 186" or "capped".
    pub note: Option<String>,
}

/// One line of a line chart; `values[i]` belongs to `x_labels[i]`; None = no point there (gap).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry for the line.
    pub name: String,
    /// One value per x label; `None` (and NaN or infinite values) leave a gap in the line.
    pub values: Vec<Option<f64>>,
}

/// Width of every chart's `viewBox`, in user units (pixels at full size).
const WIDTH: f64 = 900.0;
/// Font stack for all text (no web fonts: the CSP forbids them).
const FONT: &str = "system-ui, sans-serif";
/// Main text colour.
const INK: &str = "#1a1a1a";
/// Secondary text (captions, notes, tick labels); 7:1 contrast on white.
const MUTED: &str = "#555555";
/// Horizontal grid lines.
const GRID: &str = "#e3e3e3";
/// Axis lines.
const AXIS: &str = "#8a8a8a";
/// Fill of bar-chart bars (Okabe–Ito blue).
const BAR_FILL: &str = "#0072B2";
/// Okabe–Ito colour-blind-safe palette, without its yellow (too faint on white).
const PALETTE: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];
/// Dash pattern per pass through the palette: series 8–14 are dashed, 15–21 dotted, and so on.
const DASHES: [Option<&str>; 3] = [None, Some("7 4"), Some("2 3")];
/// Labels longer than this many characters are shortened with an ellipsis on screen.
const LABEL_CHARS: usize = 28;
/// X labels of the line chart are shortened beyond this many characters.
const X_LABEL_CHARS: usize = 16;
/// Notes after a bar's value are shortened beyond this many characters.
const NOTE_CHARS: usize = 24;
/// Rough width of one character at 12–13px, used to lay out text without measuring it.
const CHAR_W: f64 = 7.0;

// Bar chart geometry.
/// Right edge (text anchor) of the bar labels.
const BAR_LABEL_RIGHT: f64 = 212.0;
/// Left edge of the bars.
const BAR_LEFT: f64 = 220.0;
/// Width of a full-length bar; the rest on the right holds value and note.
const BAR_PLOT_W: f64 = 500.0;
/// Space above the first bar: title and value caption.
const BAR_TOP: f64 = 52.0;
/// Vertical space per bar.
const BAR_ROW: f64 = 24.0;
/// Thickness of a bar.
const BAR_H: f64 = 16.0;
/// Space below the last bar.
const BAR_BOTTOM: f64 = 12.0;

// Line chart geometry.
/// Height of the plotting area.
const LINE_PLOT_H: f64 = 240.0;
/// Baseline of the first legend row.
const LEGEND_TOP: f64 = 48.0;
/// Height of a legend row.
const LEGEND_ROW: f64 = 20.0;
/// Space below the plot for x labels.
const LINE_BOTTOM: f64 = 44.0;

/// XML escaping used for all text (the report's HTML uses it too: one escaper for the page).
///
/// Escapes `& < > " '` so the result is safe both as element content and inside a quoted
/// attribute value. [Hidden](is_hidden) characters (control characters other than tab and
/// line feed, bidi overrides and isolates, U+FFFE/U+FFFF) are written visibly as `[U+XXXX]`
/// (see [`reveal`]) instead of being applied: a right-to-left override in a name cannot
/// reorder what a reader sees, and the SVG stays well-formed XML 1.0 when served as a
/// standalone file or `data:` image.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_hidden(c) => push_revealed(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Characters that are invisible or change how the text around them is shown: C0 controls
/// except tab and line feed (NUL, ESC, CR, …), DEL and the C1 controls, the bidi marks,
/// embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A–U+202E,
/// U+2066–U+2069), the line and paragraph separators, the byte-order mark and the
/// non-characters U+FFFE/U+FFFF.
pub fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{B}'..='\u{1F}' | '\u{7F}'..='\u{9F}'
        | '\u{61C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        | '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}')
}

/// `text` with every [hidden](is_hidden) character written as `[U+XXXX]` (e.g. `[U+202E]`),
/// for plain-text formats such as Markdown; [`escape`] does the same inside markup.
pub fn reveal(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden(c) {
            push_revealed(&mut out, c);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn push_revealed(out: &mut String, c: char) {
    let _ = write!(out, "[U+{:04X}]", c as u32);
}

/// Horizontal bar chart, bars in the given order, with the value printed at each bar's end.
/// `id` becomes the <svg id>. Empty `bars` → a small SVG saying "no data" (still with id/title).
///
/// Bars are scaled so the largest finite positive value spans the full plot width; negative,
/// NaN and infinite values get a zero-width bar but their number is still printed. Labels
/// longer than 28 characters are shortened with an ellipsis; each bar's `<g>` carries a
/// `<title>` with the full label, value and note (shown on hover). `value_label` names the
/// measured quantity (e.g. "critical vulnerabilities") and is printed above the bars. The
/// height grows by 24px per bar.
pub fn bar_chart(id: &str, title: &str, bars: &[Bar], value_label: &str) -> String {
    if bars.is_empty() {
        return no_data(id, title, "bar-chart");
    }
    let max = bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold(0.0, f64::max);
    let largest = bars
        .iter()
        .find(|b| b.value.is_finite() && b.value > 0.0 && b.value == max);
    let count = bars.len();
    let desc = match largest {
        Some(b) => format!(
            "Horizontal bar chart of {} for {} {}; the largest is {} at {}.",
            or_values(value_label),
            count,
            plural(count, "item", "items"),
            b.label,
            fmt_number(b.value)
        ),
        None => format!(
            "Horizontal bar chart of {} for {} {}; all values are zero or missing.",
            or_values(value_label),
            count,
            plural(count, "item", "items"),
        ),
    };
    let plot_bottom = BAR_TOP + BAR_ROW * count as f64;
    let height = plot_bottom + BAR_BOTTOM;

    let mut out = String::new();
    open_svg(&mut out, id, "bar-chart", height, title, &desc);
    if !value_label.is_empty() {
        let _ = write!(
            out,
            r#"<text class="caption" x="{}" y="40" font-size="12" fill="{MUTED}">{}</text>"#,
            fmt_coord(BAR_LEFT),
            escape(value_label)
        );
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{x}" y1="{y1}" x2="{x}" y2="{y2}" stroke="{AXIS}" stroke-width="1"/>"#,
        x = fmt_coord(BAR_LEFT - 0.5),
        y1 = fmt_coord(BAR_TOP),
        y2 = fmt_coord(plot_bottom),
    );
    out.push_str(r#"<g class="bars">"#);
    for (i, bar) in bars.iter().enumerate() {
        let y = BAR_TOP + BAR_ROW * i as f64 + (BAR_ROW - BAR_H) / 2.0;
        let mid = y + BAR_H / 2.0;
        let width = bar_width(bar.value, max);
        let value = fmt_number(bar.value);
        let mut hover = format!("{}: {}", bar.label, value);
        if let Some(note) = &bar.note {
            let _ = write!(hover, " ({note})");
        }
        let _ = write!(
            out,
            r#"<g class="row"><title>{hover}</title><text class="label" x="{lx}" y="{my}" dy="0.35em" text-anchor="end">{label}</text><rect class="bar" x="{bx}" y="{by}" width="{bw}" height="{bh}" fill="{BAR_FILL}"/><text class="value" x="{vx}" y="{my}" dy="0.35em">{value}"#,
            hover = escape(&hover),
            lx = fmt_coord(BAR_LABEL_RIGHT),
            my = fmt_coord(mid),
            label = escape(&truncate(&bar.label, LABEL_CHARS)),
            bx = fmt_coord(BAR_LEFT),
            by = fmt_coord(y),
            bw = fmt_coord(width),
            bh = fmt_coord(BAR_H),
            vx = fmt_coord(BAR_LEFT + width + 6.0),
        );
        if let Some(note) = bar.note.as_deref().filter(|n| !n.is_empty()) {
            let _ = write!(
                out,
                r#"<tspan class="note" dx="8" fill="{MUTED}">{}</tspan>"#,
                escape(&truncate(note, NOTE_CHARS))
            );
        }
        out.push_str("</text></g>");
    }
    out.push_str("</g></svg>");
    out
}

/// Line chart over categorical x labels (e.g. snapshot dates), one colour per series from a
/// fixed colour-blind-safe palette, markers at points, a legend, y axis from 0 with 4–6 nice
/// ticks. No series or no points → "no data" SVG.
///
/// X labels are spaced evenly (each at the centre of its band), so a single label gives a
/// chart of points only; labels are thinned out when they would overlap. A `None`, NaN or
/// infinite value breaks the line into separate `<polyline class="line">` segments; values
/// beyond the last x label are ignored, and negative values are drawn on the zero line (the
/// axis starts at 0). Series beyond the seven palette colours reuse them with a dash pattern
/// and a different marker shape. Every marker has a `<title>` with series, x label and value.
pub fn line_chart(
    id: &str,
    title: &str,
    x_labels: &[String],
    series: &[Series],
    y_label: &str,
) -> String {
    let n = x_labels.len();
    let points = |s: &Series| -> Vec<Option<f64>> {
        let mut v: Vec<Option<f64>> = s
            .values
            .iter()
            .take(n)
            .map(|v| v.filter(|x| x.is_finite()))
            .collect();
        v.resize(n, None);
        v
    };
    let all: Vec<Vec<Option<f64>>> = series.iter().map(points).collect();
    if !all.iter().flatten().any(Option::is_some) {
        return no_data(id, title, "line-chart");
    }

    // The highest point (first in series order, then x order) for the description.
    let mut peak: Option<(f64, usize, usize)> = None;
    for (si, values) in all.iter().enumerate() {
        for (xi, v) in values.iter().enumerate() {
            if let Some(v) = *v {
                if peak.is_none_or(|(p, _, _)| v > p) {
                    peak = Some((v, si, xi));
                }
            }
        }
    }
    let (peak_value, peak_series, peak_x) = peak.unwrap_or((0.0, 0, 0));
    let ticks = nice_ticks(peak_value);
    let top_value = ticks.value(ticks.count - 1);

    let desc = format!(
        "Line chart of {} for {} {} over {} {} from {} to {}; the highest value is {} ({}, {}).",
        or_values(y_label),
        series.len(),
        plural(series.len(), "series", "series"),
        n,
        plural(n, "point", "points"),
        x_labels[0],
        x_labels[n - 1],
        fmt_number(peak_value),
        series[peak_series].name,
        x_labels[peak_x],
    );

    // Horizontal layout: the left margin fits the y label and the widest tick label, the right
    // one half of an x label (the last label is centred on its band).
    let tick_labels: Vec<String> = (0..ticks.count).map(|i| ticks.label(i)).collect();
    let widest_tick = tick_labels
        .iter()
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(1);
    let left = (30.0 + widest_tick as f64 * CHAR_W + 8.0).round();
    let shown_x: Vec<String> = x_labels
        .iter()
        .map(|l| truncate(l, X_LABEL_CHARS))
        .collect();
    let widest_x = shown_x.iter().map(|l| l.chars().count()).max().unwrap_or(1);
    let x_label_w = widest_x as f64 * CHAR_W + 10.0;
    let right = WIDTH - (x_label_w / 2.0).max(24.0).round();
    let plot_w = right - left;
    let band = plot_w / n as f64;
    let x_at = |i: usize| left + (i as f64 + 0.5) * band;
    let every = ((x_label_w / band).ceil() as usize).max(1);

    // Legend rows, wrapping when an item would pass the right edge.
    let legend_names: Vec<String> = series
        .iter()
        .map(|s| truncate(&s.name, LABEL_CHARS))
        .collect();
    let mut legend_pos = Vec::with_capacity(series.len());
    let (mut lx, mut row) = (left, 0usize);
    for name in &legend_names {
        let w = 30.0 + name.chars().count() as f64 * CHAR_W + 18.0;
        if lx + w > WIDTH - 8.0 && lx > left {
            lx = left;
            row += 1;
        }
        legend_pos.push((lx, row));
        lx += w;
    }
    let legend_rows = if series.is_empty() { 0 } else { row + 1 };
    let top = LEGEND_TOP + LEGEND_ROW * legend_rows as f64;
    let bottom = top + LINE_PLOT_H;
    let height = bottom + LINE_BOTTOM;
    let y_at = |v: f64| {
        let f = if top_value > 0.0 {
            (v.max(0.0) / top_value).min(1.0)
        } else {
            0.0
        };
        bottom - f * LINE_PLOT_H
    };

    let mut out = String::new();
    open_svg(&mut out, id, "line-chart", height, title, &desc);

    // Legend.
    out.push_str(r#"<g class="legend">"#);
    for (i, s) in series.iter().enumerate() {
        let (x, r) = legend_pos[i];
        let y = LEGEND_TOP + LEGEND_ROW * r as f64 - 4.0;
        let style = SeriesStyle::of(i);
        let _ = write!(
            out,
            r#"<g class="legend-item"><title>{}</title><line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="2"{}/>"#,
            escape(&s.name),
            fmt_coord(x),
            fmt_coord(x + 24.0),
            style.colour,
            style.dash_attr(),
            y = fmt_coord(y),
        );
        style.marker(&mut out, x + 12.0, y, None);
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" dy="0.35em">{}</text></g>"#,
            fmt_coord(x + 30.0),
            fmt_coord(y),
            escape(&legend_names[i])
        );
    }
    out.push_str("</g>");

    // Y axis: grid lines, tick labels and the rotated axis label.
    out.push_str(r#"<g class="y-axis" font-size="12">"#);
    for (i, label) in tick_labels.iter().enumerate() {
        let y = fmt_coord(y_at(ticks.value(i)));
        let colour = if i == 0 { AXIS } else { GRID };
        let _ = write!(
            out,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="1"/><text class="tick" x="{}" y="{y}" dy="0.35em" text-anchor="end" fill="{MUTED}">{label}</text>"#,
            fmt_coord(left),
            fmt_coord(right),
            fmt_coord(left - 8.0),
        );
    }
    if !y_label.is_empty() {
        let _ = write!(
            out,
            r#"<text class="axis-label" transform="translate(16 {}) rotate(-90)" text-anchor="middle" dy="0.35em" fill="{MUTED}">{}</text>"#,
            fmt_coord((top + bottom) / 2.0),
            escape(&truncate(y_label, 40))
        );
    }
    out.push_str("</g>");

    // X axis: a tick and a label at every `every`-th x position.
    out.push_str(r#"<g class="x-axis" font-size="12">"#);
    for (i, label) in shown_x.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = fmt_coord(x_at(i));
        let _ = write!(
            out,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{AXIS}" stroke-width="1"/><text x="{x}" y="{}" text-anchor="middle" fill="{MUTED}">{}</text>"#,
            fmt_coord(bottom),
            fmt_coord(bottom + 5.0),
            fmt_coord(bottom + 20.0),
            escape(label),
        );
    }
    out.push_str("</g>");

    // Series: line segments between consecutive points, then markers on top.
    for (si, values) in all.iter().enumerate() {
        let style = SeriesStyle::of(si);
        let name = &series[si].name;
        let _ = write!(
            out,
            r#"<g class="series" stroke="{c}" fill="{c}">"#,
            c = style.colour
        );
        let mut segment: Vec<String> = Vec::new();
        for (i, v) in values.iter().chain(std::iter::once(&None)).enumerate() {
            match v {
                Some(v) => segment.push(format!("{},{}", fmt_coord(x_at(i)), fmt_coord(y_at(*v)))),
                None => {
                    if segment.len() >= 2 {
                        let _ = write!(
                            out,
                            r#"<polyline class="line" points="{}" fill="none" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"{}/>"#,
                            segment.join(" "),
                            style.dash_attr()
                        );
                    }
                    segment.clear();
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                let hover = format!("{name}, {}: {}", x_labels[i], fmt_number(*v));
                style.marker(&mut out, x_at(i), y_at(*v), Some(&hover));
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// Colour, dash pattern and marker shape of the series at an index.
struct SeriesStyle {
    colour: &'static str,
    dash: Option<&'static str>,
    /// 0 circle, 1 square, 2 diamond.
    shape: usize,
}

impl SeriesStyle {
    fn of(index: usize) -> SeriesStyle {
        let pass = index / PALETTE.len();
        SeriesStyle {
            colour: PALETTE[index % PALETTE.len()],
            dash: DASHES[pass % DASHES.len()],
            shape: pass % 3,
        }
    }

    fn dash_attr(&self) -> String {
        match self.dash {
            Some(d) => format!(r#" stroke-dasharray="{d}""#),
            None => String::new(),
        }
    }

    /// Writes one marker centred at (x, y), with a hover `<title>` if given.
    fn marker(&self, out: &mut String, x: f64, y: f64, hover: Option<&str>) {
        let common = format!(
            r##"class="marker" fill="{}" stroke="#ffffff" stroke-width="1""##,
            self.colour
        );
        match self.shape {
            0 => {
                let _ = write!(
                    out,
                    r#"<circle {common} cx="{}" cy="{}" r="3.5""#,
                    fmt_coord(x),
                    fmt_coord(y)
                );
            }
            1 => {
                let _ = write!(
                    out,
                    r#"<path {common} d="M{} {}h7v7h-7Z""#,
                    fmt_coord(x - 3.5),
                    fmt_coord(y - 3.5)
                );
            }
            _ => {
                let _ = write!(
                    out,
                    r#"<path {common} d="M{} {}l4.5 4.5l-4.5 4.5l-4.5 -4.5Z""#,
                    fmt_coord(x),
                    fmt_coord(y - 4.5)
                );
            }
        }
        let tag = if self.shape == 0 { "circle" } else { "path" };
        match hover {
            Some(h) => {
                let _ = write!(out, "><title>{}</title></{tag}>", escape(h));
            }
            None => out.push_str("/>"),
        }
    }
}

/// Y axis ticks: `count` values `0, step, 2·step, …`, printed with `decimals` decimals.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ticks {
    step: f64,
    count: usize,
    decimals: usize,
}

impl Ticks {
    fn value(&self, i: usize) -> f64 {
        self.step * i as f64
    }

    fn label(&self, i: usize) -> String {
        fmt_fixed(self.value(i), self.decimals)
    }
}

/// Ticks from 0 up to at least `max` with a step of 1, 2, 2.5 or 5 × 10^k: the smallest such
/// step that needs at most 5 intervals, which always gives 4 to 6 ticks. A `max` that is not
/// positive and finite is treated as 1.
fn nice_ticks(max: f64) -> Ticks {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let mut exp = max.log10().floor() as i32 - 1;
    loop {
        for mantissa in [1.0, 2.0, 2.5, 5.0] {
            let step = mantissa * 10f64.powi(exp);
            if step <= 0.0 || !step.is_finite() {
                continue;
            }
            // The small epsilon keeps float noise (0.7 / 0.1 = 7.000…1) from adding an interval.
            let intervals = (max / step - 1e-9).ceil().max(1.0);
            if intervals <= 5.0 {
                let decimals = if exp >= 0 {
                    0
                } else {
                    (-exp) as usize + usize::from(mantissa == 2.5)
                };
                return Ticks {
                    step,
                    count: intervals as usize + 1,
                    decimals,
                };
            }
        }
        exp += 1;
    }
}

/// Width of a bar for `value` when `max` spans the whole plot; 0 for anything not drawable.
fn bar_width(value: f64, max: f64) -> f64 {
    if value.is_finite() && value > 0.0 && max > 0.0 {
        (value / max).min(1.0) * BAR_PLOT_W
    } else {
        0.0
    }
}

/// Writes the root `<svg>` start tag, `<title>`, `<desc>` and the visible title.
fn open_svg(out: &mut String, id: &str, kind: &str, height: f64, title: &str, desc: &str) {
    let id = escape(id);
    let title = escape(title);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="{id}" class="chart {kind}" role="img" aria-labelledby="{id}-title" aria-describedby="{id}-desc" viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" style="display:block;max-width:{w}px;height:auto" font-family="{FONT}" font-size="13" fill="{INK}"><title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc><text class="chart-title" x="8" y="22" font-size="15" font-weight="600">{title}</text>"#,
        w = fmt_coord(WIDTH),
        h = fmt_coord(height),
        desc = escape(desc),
    );
}

/// The chart drawn when there is nothing to plot.
fn no_data(id: &str, title: &str, kind: &str) -> String {
    let mut out = String::new();
    open_svg(&mut out, id, kind, 72.0, title, "No data to chart.");
    let _ = write!(
        out,
        r#"<text class="no-data" x="8" y="52" fill="{MUTED}" font-style="italic">no data</text></svg>"#
    );
    out
}

/// `label`, shortened to `max` characters (the last one an ellipsis) when longer.
fn truncate(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn or_values(label: &str) -> &str {
    if label.is_empty() {
        "values"
    } else {
        label
    }
}

/// A value label: integers as integers, fractions with at most 2 decimals (more below 1, up
/// to 3 significant digits), thousands separators, "NaN", "∞" and "-∞" for the rest.
fn fmt_number(v: f64) -> String {
    let a = v.abs();
    let decimals = if !v.is_finite() || a == a.trunc() {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        ((-a.log10().floor()) as usize + 2).min(6)
    };
    fmt_fixed(v, decimals)
}

/// `v` rounded to `decimals` decimals, trailing zeros dropped, with thousands separators.
fn fmt_fixed(v: f64, decimals: usize) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "∞" } else { "-∞" }.to_string();
    }
    let digits = format!("{:.*}", decimals, v.abs());
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, f.trim_end_matches('0')),
        None => (digits.as_str(), ""),
    };
    let mut out = String::new();
    if v < 0.0 && digits.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A coordinate: at most 2 decimals, no trailing zeros, never "-0".
fn fmt_coord(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: f64) -> Bar {
        Bar {
            label: label.to_string(),
            value,
            note: None,
        }
    }

    fn labels(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    fn series(name: &str, values: &[Option<f64>]) -> Series {
        Series {
            name: name.to_string(),
            values: values.to_vec(),
        }
    }

    /// Values of attribute `name` on every tag that contains `marker` (e.g. `class="bar"`).
    fn attrs(svg: &str, marker: &str, name: &str) -> Vec<String> {
        let key = format!(" {name}=\"");
        svg.split('<')
            .filter(|tag| tag.contains(marker))
            .filter_map(|tag| {
                let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
                let start = tag.find(&key)? + key.len();
                let end = tag[start..].find('"')? + start;
                Some(tag[start..end].to_string())
            })
            .collect()
    }

    /// A tiny well-formedness check: tags balance (self-closing tags allowed), every `&`
    /// starts an entity this module writes, no `<` or `>` inside attribute values, and there
    /// is exactly one root element. Panics with a description of the first problem.
    fn assert_well_formed(svg: &str) {
        let mut stack: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut rest = svg;
        while let Some(lt) = rest.find('<') {
            let text = &rest[..lt];
            assert!(!text.contains('>'), "stray '>' in text {text:?} of\n{svg}");
            check_entities(text, svg);
            if stack.is_empty() {
                assert!(text.trim().is_empty(), "text outside the root: {text:?}");
            }
            let after = &rest[lt + 1..];
            let gt = after.find('>').expect("unclosed tag");
            let tag = &after[..gt];
            assert!(!tag.contains('<'), "'<' inside tag {tag:?}");
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "unbalanced quotes in {tag:?}"
            );
            check_entities(tag, svg);
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack
                    .pop()
                    .unwrap_or_else(|| panic!("</{name}> closes nothing"));
                assert_eq!(open, name.trim(), "</{name}> closes <{open}>");
            } else {
                let name = tag
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .unwrap_or("");
                assert!(
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                    "bad tag name in {tag:?}"
                );
                if stack.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &after[gt + 1..];
        }
        assert!(stack.is_empty(), "unclosed elements {stack:?}");
        assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
        assert_eq!(roots, 1, "expected exactly one root element");
    }

    fn check_entities(text: &str, svg: &str) {
        for (i, _) in text.match_indices('&') {
            let tail = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                    .iter()
                    .any(|e| tail.starts_with(e)),
                "bare '&' in {text:?} of\n{svg}"
            );
        }
    }

    fn assert_safe(svg: &str) {
        for bad in [
            "<script",
            "javascript:",
            "href=",
            "<foreignObject",
            "<image",
            "url(",
        ] {
            assert!(
                !svg.to_ascii_lowercase().contains(&bad.to_ascii_lowercase()),
                "{bad} in\n{svg}"
            );
        }
    }

    fn sample_bars() -> Vec<Bar> {
        vec![
            Bar {
                label: "postgres".into(),
                value: 186.0,
                note: Some("study: 186".into()),
            },
            bar("nginx", 93.0),
            bar(
                "a-very-long-repository-name-that-goes-on-and-on",
                1_234_567.0,
            ),
        ]
    }

    fn sample_lines() -> (Vec<String>, Vec<Series>) {
        (
            labels(&["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]),
            vec![
                series("critical", &[Some(3.0), Some(5.0), None, Some(7.0)]),
                series("high", &[Some(40.0), Some(186.0), Some(120.5), Some(90.0)]),
            ],
        )
    }

    fn all_charts() -> Vec<String> {
        let (xs, ss) = sample_lines();
        vec![
            bar_chart("bars", "Vulnerabilities", &sample_bars(), "findings"),
            bar_chart("empty", "Nothing", &[], "findings"),
            bar_chart(
                "odd",
                "Odd values",
                &[
                    bar("nan", f64::NAN),
                    bar("neg", -5.0),
                    bar("inf", f64::INFINITY),
                ],
                "",
            ),
            line_chart("lines", "Trend", &xs, &ss, "findings"),
            line_chart("one", "One date", &labels(&["2024-01-01"]), &ss, "findings"),
            line_chart("none", "No series", &xs, &[], "findings"),
        ]
    }

    #[test]
    fn escape_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("tab\there\nok"), "tab\there\nok");
        assert_eq!(escape("nul\u{0}bell\u{7}"), "nul[U+0000]bell[U+0007]");
        assert_eq!(escape("cr\resc\u{1b}[31m"), "cr[U+000D]esc[U+001B][31m");
        assert_eq!(
            escape("exe.\u{202E}gpj\u{2066}\u{2069}\u{FFFF}"),
            "exe.[U+202E]gpj[U+2066][U+2069][U+FFFF]"
        );
        assert_eq!(escape("élan…"), "élan…");
        assert_eq!(reveal("plain"), "plain");
        assert_eq!(reveal("a\u{202E}b<"), "a[U+202E]b<");
    }

    #[test]
    fn hostile_text_appears_only_escaped() {
        let evil = "<script>alert(1)</script>";
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
        let bars = vec![Bar {
            label: evil.into(),
            value: 1.0,
            note: Some(evil.into()),
        }];
        let b = bar_chart(evil, evil, &bars, evil);
        let l = line_chart(
            evil,
            evil,
            &labels(&[evil, "x"]),
            &[series(evil, &[Some(1.0), Some(2.0)])],
            evil,
        );
        for svg in [&b, &l] {
            assert!(!svg.contains(evil), "raw hostile text in\n{svg}");
            assert!(svg.contains(escaped), "escaped text missing in\n{svg}");
            assert_safe(svg);
            assert_well_formed(svg);
        }
        let q = bar_chart("q", "\"onload=\"x", &[bar("'&'", 1.0)], "");
        assert!(q.contains("&quot;onload=&quot;x") && q.contains("&#39;&amp;&#39;"));
        assert_well_formed(&q);
    }

    #[test]
    fn id_title_and_accessibility_attributes_are_present() {
        for svg in all_charts() {
            let id = attrs(&svg, "svg xmlns", "id").remove(0);
            assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
            assert!(svg.contains(r#"role="img""#));
            assert!(svg.contains(&format!(r#"aria-labelledby="{id}-title""#)));
            assert!(svg.contains(&format!(r#"<title id="{id}-title">"#)));
            assert!(svg.contains(&format!(r#"aria-describedby="{id}-desc""#)));
            assert!(svg.contains(&format!(r#"<desc id="{id}-desc">"#)));
            assert!(svg.contains(r#"viewBox="0 0 900 "#));
            assert!(svg.contains(r#"width="100%""#));
            assert!(svg.contains("max-width:900px"));
            assert!(svg.contains(r#"font-family="system-ui, sans-serif""#));
        }
        let svg = bar_chart("top-images", "Top images", &sample_bars(), "pulls");
        assert!(svg.contains(r#"id="top-images""#));
        assert!(svg.contains(r#"<title id="top-images-title">Top images</title>"#));
    }

    #[test]
    fn one_bar_rect_per_bar_and_height_grows() {
        for n in [1, 3, 17] {
            let bars: Vec<Bar> = (0..n).map(|i| bar(&format!("b{i}"), i as f64)).collect();
            let svg = bar_chart("b", "t", &bars, "v");
            assert_eq!(svg.matches("<rect").count(), n);
            assert_eq!(svg.matches(r#"class="bar""#).count(), n);
            assert_eq!(svg.matches(r#"<g class="row">"#).count(), n);
        }
        let height = |n: usize| {
            let bars: Vec<Bar> = (0..n).map(|i| bar("x", i as f64)).collect();
            let svg = bar_chart("b", "t", &bars, "v");
            let vb = attrs(&svg, "svg xmlns", "viewBox").remove(0);
            vb.rsplit(' ').next().unwrap().parse::<f64>().unwrap()
        };
        assert_eq!(height(11) - height(1), 10.0 * BAR_ROW);
    }

    #[test]
    fn bar_widths_are_proportional_to_values() {
        let bars = vec![bar("half", 50.0), bar("full", 100.0), bar("tenth", 10.0)];
        let svg = bar_chart("b", "t", &bars, "v");
        let widths: Vec<f64> = attrs(&svg, r#"class="bar""#, "width")
            .iter()
            .map(|w| w.parse().unwrap())
            .collect();
        assert_eq!(
            widths,
            vec![BAR_PLOT_W / 2.0, BAR_PLOT_W, BAR_PLOT_W / 10.0]
        );
        // Bars keep the given order and the value is printed at each bar's end.
        let values: Vec<f64> = attrs(&svg, r#"class="value""#, "x")
            .iter()
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(values[1], BAR_LEFT + BAR_PLOT_W + 6.0);
        let half = svg.find(">half<").unwrap();
        assert!(half < svg.find(">full<").unwrap());
        assert!(svg.contains(">50<") && svg.contains(">100<"));
    }

    #[test]
    fn values_and_notes_are_printed_without_float_noise() {
        let svg = bar_chart("b", "t", &sample_bars(), "pulls");
        assert!(svg.contains(">1,234,567<"));
        assert!(svg.contains(">186<tspan class=\"note\""));
        assert!(svg.contains(">study: 186</tspan>"));
        assert!(!svg.contains(".0<"));
        assert_eq!(fmt_number(1_234_567.0), "1,234,567");
        assert_eq!(fmt_number(3.0), "3");
        assert_eq!(fmt_number(-0.0), "0");
        assert_eq!(fmt_number(2.5), "2.5");
        assert_eq!(fmt_number(0.1 + 0.2), "0.3");
        assert_eq!(fmt_number(1234.56), "1,234.6");
        assert_eq!(fmt_number(-1234.5), "-1,234.5");
        assert_eq!(fmt_number(12.345), "12.35");
        assert_eq!(fmt_number(0.01234), "0.0123");
        assert_eq!(fmt_number(999.0), "999");
        assert_eq!(fmt_number(1000.0), "1,000");
        assert_eq!(fmt_number(1e15), "1,000,000,000,000,000");
        assert_eq!(fmt_number(f64::NAN), "NaN");
        assert_eq!(fmt_number(f64::NEG_INFINITY), "-∞");
        assert_eq!(fmt_coord(-0.001), "0");
        assert_eq!(fmt_coord(250.0), "250");
        assert_eq!(fmt_coord(12.345), "12.35");
    }

    #[test]
    fn long_labels_are_shortened_with_the_full_text_on_hover() {
        let long = "a-very-long-repository-name-that-goes-on-and-on";
        let svg = bar_chart("b", "t", &[bar(long, 1.0), bar("short", 2.0)], "v");
        let shown: String = long.chars().take(LABEL_CHARS - 1).collect();
        assert!(svg.contains(&format!(">{shown}…</text>")));
        assert!(svg.contains(&format!("<title>{long}: 1</title>")));
        assert!(svg.contains(">short</text>"));
        assert_eq!(truncate("exactly", 7), "exactly");
        assert_eq!(truncate("ééééé", 3), "éé…");
    }

    #[test]
    fn empty_input_gives_no_data() {
        let xs = labels(&["2024-01-01", "2024-02-01"]);
        let cases = [
            bar_chart("e1", "Empty bars", &[], "v"),
            line_chart("e2", "No series", &xs, &[], "v"),
            line_chart("e3", "No x", &[], &[series("s", &[Some(1.0)])], "v"),
            line_chart("e4", "Gaps only", &xs, &[series("s", &[None, None])], "v"),
            line_chart(
                "e5",
                "NaN only",
                &xs,
                &[series("s", &[Some(f64::NAN)])],
                "v",
            ),
            line_chart("e6", "Empty values", &xs, &[series("s", &[])], "v"),
        ];
        for (i, svg) in cases.iter().enumerate() {
            assert!(svg.contains(">no data<"), "{svg}");
            assert!(svg.contains(&format!(r#"id="e{}""#, i + 1)));
            assert!(svg.contains("<title id="));
            assert!(!svg.contains("<rect") && !svg.contains("<polyline"));
            assert_well_formed(svg);
        }
    }

    #[test]
    fn nan_negative_and_infinite_values_do_not_panic() {
        let odd = [
            f64::NAN,
            -5.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            f64::MIN,
        ];
        let bars: Vec<Bar> = odd.iter().map(|v| bar("x", *v)).collect();
        let svg = bar_chart("b", "t", &bars, "v");
        assert!(attrs(&svg, r#"class="bar""#, "width")
            .iter()
            .all(|w| w == "0"));
        for printed in [">NaN<", ">-5<", ">∞<", ">-∞<", ">0<"] {
            assert!(svg.contains(printed), "{printed} missing in\n{svg}");
        }
        assert!(svg.contains("all values are zero or missing"));
        assert_well_formed(&svg);

        // Mixed with a real value, the odd ones stay at zero width.
        let mut mixed = bars.clone();
        mixed.push(bar("real", 4.0));
        let widths = attrs(&bar_chart("b", "t", &mixed, "v"), r#"class="bar""#, "width");
        assert_eq!(widths.last().unwrap(), "500");
        assert_eq!(widths.iter().filter(|w| *w == "0").count(), odd.len());

        let xs = labels(&["a", "b", "c", "d"]);
        let extremes = [f64::MAX, f64::MIN_POSITIVE, 5e-324, 1e300];
        for max in extremes {
            let s = series("s", &[Some(max), Some(-3.0), Some(f64::NAN), Some(0.0)]);
            let svg = line_chart("l", "t", &xs, &[s], "v");
            assert_well_formed(&svg);
            assert!(!svg.contains("NaN\""), "NaN coordinate in\n{svg}");
        }
        let svg = line_chart("l", "t", &xs, &[series("s", &[Some(0.0), Some(0.0)])], "v");
        assert!(svg.contains(">0<") && svg.contains(">1<"));
        assert_well_formed(&svg);
    }

    #[test]
    fn gaps_break_the_line_into_segments() {
        let xs = labels(&["a", "b", "c", "d", "e"]);
        let gap = series("s", &[Some(1.0), Some(2.0), None, Some(3.0), Some(4.0)]);
        let svg = line_chart("l", "t", &xs, &[gap], "v");
        assert_eq!(svg.matches(r#"<polyline class="line""#).count(), 2);
        assert_eq!(svg.matches("<circle").count(), 4 + 1); // 4 points + 1 legend marker

        // NaN breaks the line too; an isolated point is a marker without a segment.
        let lone = series(
            "s",
            &[Some(1.0), Some(f64::NAN), Some(3.0), None, Some(2.0)],
        );
        let svg = line_chart("l", "t", &xs, &[lone], "v");
        assert_eq!(svg.matches("<polyline").count(), 0);
        assert_eq!(svg.matches(r#"class="marker""#).count(), 3 + 1);

        // Values beyond the x labels are ignored; missing ones are gaps.
        let long = series(
            "s",
            &[
                Some(1.0),
                Some(2.0),
                Some(3.0),
                Some(4.0),
                Some(5.0),
                Some(99.0),
            ],
        );
        let short = series("t", &[Some(1.0), Some(2.0)]);
        let svg = line_chart("l", "t", &xs, &[long, short], "v");
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(!svg.contains(": 99<"));
    }

    #[test]
    fn single_x_label_draws_points_only() {
        let xs = labels(&["2024-05-01"]);
        let ss = vec![series("a", &[Some(3.0)]), series("b", &[Some(7.0)])];
        let svg = line_chart("l", "t", &xs, &ss, "v");
        assert!(!svg.contains("<polyline"));
        assert_eq!(svg.matches("<title>").count(), 2 + 2); // 2 legend items + 2 points
        let data = &svg[svg.find(r#"<g class="series""#).unwrap()..];
        let cx = attrs(data, "circle", "cx");
        assert_eq!(cx.len(), 2);
        assert_eq!(cx[0], cx[1]);
        assert!(svg.contains(">2024-05-01</text>"));
        assert_well_formed(&svg);
    }

    #[test]
    fn ticks_are_nice() {
        let t = nice_ticks(186.0);
        assert_eq!(
            (0..t.count).map(|i| t.label(i)).collect::<Vec<_>>(),
            ["0", "50", "100", "150", "200"]
        );
        let labels_of = |max: f64| {
            let t = nice_ticks(max);
            (0..t.count).map(|i| t.label(i)).collect::<Vec<_>>()
        };
        assert_eq!(labels_of(3.0), ["0", "1", "2", "3"]);
        assert_eq!(labels_of(1.0), ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        assert_eq!(labels_of(0.9), ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        assert_eq!(labels_of(1.1), ["0", "0.25", "0.5", "0.75", "1", "1.25"]);
        assert_eq!(
            labels_of(1_234_567.0),
            [
                "0",
                "250,000",
                "500,000",
                "750,000",
                "1,000,000",
                "1,250,000"
            ]
        );
        assert_eq!(labels_of(0.0), labels_of(1.0));
        assert_eq!(labels_of(f64::NAN), labels_of(1.0));
        let mut max = 0.0007;
        while max < 1e12 {
            let t = nice_ticks(max);
            assert!((4..=6).contains(&t.count), "{max}: {t:?}");
            let top = t.value(t.count - 1);
            assert!(top >= max * (1.0 - 1e-9), "{max}: {t:?}");
            let exp = t.step.log10().floor();
            let mantissa = t.step / 10f64.powf(exp);
            assert!(
                [1.0, 2.0, 2.5, 5.0]
                    .iter()
                    .any(|m| (mantissa - m).abs() < 1e-9),
                "{max}: {t:?}"
            );
            for i in 0..t.count {
                assert!(!t.label(i).contains("000000"), "{max}: {}", t.label(i));
            }
            max *= 1.37;
        }
        // The chart shows exactly these ticks.
        let svg = line_chart(
            "l",
            "t",
            &labels(&["a", "b"]),
            &[series("s", &[Some(186.0), Some(20.0)])],
            "v",
        );
        let ticks: Vec<String> = svg
            .split(r#"<text class="tick""#)
            .skip(1)
            .map(|t| t[t.find('>').unwrap() + 1..t.find('<').unwrap()].to_string())
            .collect();
        assert_eq!(ticks, ["0", "50", "100", "150", "200"]);
    }

    #[test]
    fn extra_series_reuse_colours_with_dashes() {
        let xs = labels(&["a", "b"]);
        let ss: Vec<Series> = (0..10)
            .map(|i| series(&format!("series {i}"), &[Some(i as f64), Some(1.0)]))
            .collect();
        let svg = line_chart("l", "t", &xs, &ss, "v");
        assert_eq!(svg.matches("<polyline").count(), 10);
        let lines = attrs(&svg, "polyline", "stroke-dasharray");
        assert_eq!(lines.len(), 3);
        assert_eq!(SeriesStyle::of(7).colour, SeriesStyle::of(0).colour);
        assert!(SeriesStyle::of(0).dash.is_none() && SeriesStyle::of(7).dash.is_some());
        assert_ne!(SeriesStyle::of(7).dash, SeriesStyle::of(14).dash);
        for i in 0..10 {
            assert!(svg.contains(&format!(">series {i}</text>")));
        }
        assert_well_formed(&svg);
        // Many series and many dates still lay out without panicking.
        let xs: Vec<String> = (0..120).map(|i| format!("2024-01-{i:03}")).collect();
        let ss: Vec<Series> = (0..25)
            .map(|i| series(&"n".repeat(i * 3), &vec![Some(i as f64); 120]))
            .collect();
        let svg = line_chart("l", "t", &xs, &ss, "v");
        assert_well_formed(&svg);
        assert!(svg.matches(r#"text-anchor="middle" fill"#).count() < 40);
    }

    #[test]
    fn output_is_deterministic() {
        let (xs, ss) = sample_lines();
        assert_eq!(
            bar_chart("b", "t", &sample_bars(), "v"),
            bar_chart("b", "t", &sample_bars(), "v")
        );
        assert_eq!(
            line_chart("l", "t", &xs, &ss, "v"),
            line_chart("l", "t", &xs, &ss, "v")
        );
    }

    #[test]
    fn output_is_csp_safe_and_well_formed() {
        for svg in all_charts() {
            assert_safe(&svg);
            assert_well_formed(&svg);
            assert!(!svg.contains("NaN\"") && !svg.contains("inf\""));
        }
    }

    #[test]
    fn well_formedness_checker_catches_mistakes() {
        let bad = [
            "<svg><g></svg>",
            "<svg></g></svg>",
            "<svg>a & b</svg>",
            "<svg><text x=\"1>a</text></svg>",
            "<svg/><svg/>",
        ];
        for b in bad {
            assert!(
                std::panic::catch_unwind(|| assert_well_formed(b)).is_err(),
                "accepted {b}"
            );
        }
        assert_well_formed("<svg><g><rect/></g><text>a &amp; b</text></svg>");
    }

    #[test]
    fn descriptions_summarise_the_data() {
        let svg = bar_chart("b", "t", &sample_bars(), "pulls");
        assert!(svg.contains(
            "<desc id=\"b-desc\">Horizontal bar chart of pulls for 3 items; the largest is \
             a-very-long-repository-name-that-goes-on-and-on at 1,234,567.</desc>"
        ));
        let (xs, ss) = sample_lines();
        let svg = line_chart("l", "t", &xs, &ss, "findings");
        assert!(svg.contains(
            "Line chart of findings for 2 series over 4 points from 2024-01-01 to 2024-04-01; \
             the highest value is 186 (high, 2024-02-01).</desc>"
        ));
    }
}
