//! Results out: a text table on stdout, a long-format CSV, an SVG plot drawn by hand (latency
//! against scale, both axes logarithmic), and the comparison against the performance targets.

use std::{collections::BTreeSet, fmt::Write as _, path::Path};

use anyhow::{Context, Result};

use crate::{
    scenario::ScaleResult,
    stats::{Metric, Summary, Unit},
};

/// Operations drawn in the plot, in legend order.
const PLOTTED: &[&str] = &[
    "cold_start",
    "list_all_json",
    "list_all_table",
    "list_repository",
    "list_package",
    "get",
    "get_resources",
    "create",
    "update_resources",
    "propose",
    "approve",
    "propose_delete",
    "delete",
    "watch_delivery",
    "git_floor_approve",
];

const COLORS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#e6550d", "#31a354", "#756bb1", "#000000",
];

/// The table printed at the end: one row per metric, one column per scale.
pub fn table(results: &[ScaleResult]) -> String {
    let mut out = String::new();
    let names = metric_names(results);
    let width =
        names.iter().map(|(n, u)| n.len() + u.as_str().len() + 3).max().unwrap_or(0).max(24);
    let mut header = format!("{:<width$}", "metric (median / p99, n)");
    for result in results {
        header.push_str(&format!(" | {:>24}", format!("{} revisions", result.revisions)));
    }
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "{}", "-".repeat(header.len()));
    for (name, unit) in names {
        let mut row = format!("{:<width$}", format!("{name} [{}]", unit.as_str()));
        for result in results {
            let cell = find(result, &name)
                .and_then(Metric::summary)
                .map(|s| cell(unit, &s))
                .unwrap_or_else(|| "-".into());
            row.push_str(&format!(" | {cell:>24}"));
        }
        let _ = writeln!(out, "{row}");
    }
    out
}

/// `scale,revisions,repositories,metric,unit,n,median,p99,min,max`.
pub fn write_csv(results: &[ScaleResult], path: &Path) -> Result<()> {
    let mut out = String::from("scale,revisions,repositories,metric,unit,n,median,p99,min,max\n");
    for result in results {
        for metric in &result.metrics {
            let Some(s) = metric.summary() else { continue };
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{:.4},{:.4},{:.4},{:.4}",
                result.nominal,
                result.revisions,
                result.repositories,
                metric.name,
                metric.unit.as_str(),
                s.n,
                s.median,
                s.p99,
                s.min,
                s.max
            );
        }
    }
    std::fs::write(path, out).with_context(|| format!("write {}", path.display()))
}

/// Median latency against number of package revisions, one line per operation; `note` goes
/// under the title (layout, machine).
pub fn write_svg(results: &[ScaleResult], note: &str, path: &Path) -> Result<()> {
    std::fs::write(path, svg(results, note)).with_context(|| format!("write {}", path.display()))
}

/// Compares the largest scale (and the growth from the smallest) with the targets.
pub fn targets(results: &[ScaleResult]) -> String {
    let (Some(first), Some(last)) =
        (results.iter().min_by_key(|r| r.revisions), results.iter().max_by_key(|r| r.revisions))
    else {
        return String::new();
    };
    let median =
        |r: &ScaleResult, name: &str| find(r, name).and_then(Metric::summary).map(|s| s.median);
    let p99 = |r: &ScaleResult, name: &str| find(r, name).and_then(Metric::summary).map(|s| s.p99);
    let mut rows: Vec<(String, Option<f64>, f64, &str)> = vec![
        ("list all JSON, median".into(), median(last, "list_all_json"), 150.0, "ms"),
        ("list one repository, median".into(), median(last, "list_repository"), 10.0, "ms"),
        ("get, median".into(), median(last, "get"), 2.0, "ms"),
        ("create (init), median".into(), median(last, "create"), 15.0, "ms"),
        ("propose, median".into(), median(last, "propose"), 15.0, "ms"),
        ("approve, median".into(), median(last, "approve"), 25.0, "ms"),
        (
            "approve / git plumbing floor".into(),
            median(last, "approve").zip(median(last, "git_floor_approve")).map(|(a, f)| a / f),
            3.0,
            "x",
        ),
        ("watch delivery, p99".into(), p99(last, "watch_delivery"), 10.0, "ms"),
    ];
    if first.revisions != last.revisions {
        for op in ["create", "propose", "approve"] {
            rows.push((
                format!("{op} growth {} -> {}", first.revisions, last.revisions),
                median(last, op).zip(median(first, op)).map(|(l, f)| l / f),
                1.5,
                "x",
            ));
        }
    }
    rows.push(("cold start, median".into(), median(last, "cold_start"), 5000.0, "ms"));
    let rss = ["peak_rss_register", "peak_rss_serve"]
        .iter()
        .filter_map(|n| find(last, n).and_then(Metric::summary).map(|s| s.max))
        .reduce(f64::max);
    rows.push(("peak RSS".into(), rss, 250.0, "MiB"));

    let mut out = format!(
        "Targets (defined at 10,000 revisions) against the run at {} revisions:\n\n| target | limit | measured | verdict |\n|---|---|---|---|\n",
        last.revisions
    );
    for (what, measured, limit, unit) in rows {
        let verdict = match measured {
            None => "not measured".to_string(),
            Some(m) if m <= limit => format!("met ({:.0}% of the limit)", 100.0 * m / limit),
            Some(m) if unit == "x" => format!("**missed** ({:.1}x over the limit)", m / limit),
            Some(m) => {
                format!("**missed** by {} ({:.2}x the limit)", number(m - limit, unit), m / limit)
            }
        };
        let shown = measured.map_or("-".into(), |m| number(m, unit));
        let _ = writeln!(out, "| {what} | {} | {shown} | {verdict} |", number(limit, unit));
    }
    out
}

fn number(value: f64, unit: &str) -> String {
    match unit {
        "x" => format!("{value:.2}x"),
        _ => format!("{} {unit}", short(value)),
    }
}

fn cell(unit: Unit, s: &Summary) -> String {
    match unit {
        Unit::Millis if s.n > 1 => format!("{} / {} ({})", short(s.median), short(s.p99), s.n),
        Unit::Millis => short(s.median),
        Unit::OpsPerSecond | Unit::MiB => format!("{:.1}", s.median),
        Unit::Count if s.median.fract() == 0.0 => format!("{:.0}", s.median),
        Unit::Count => format!("{:.2}", s.median),
    }
}

/// Three significant digits or so, without noise.
fn short(value: f64) -> String {
    let abs = value.abs();
    if abs >= 100.0 {
        format!("{value:.0}")
    } else if abs >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn find<'a>(result: &'a ScaleResult, name: &str) -> Option<&'a Metric> {
    result.metrics.iter().find(|m| m.name == name)
}

/// Metric names in first-seen order with their units.
fn metric_names(results: &[ScaleResult]) -> Vec<(String, Unit)> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for metric in results.iter().flat_map(|r| &r.metrics) {
        if seen.insert(metric.name.clone()) {
            names.push((metric.name.clone(), metric.unit));
        }
    }
    names
}

fn svg(results: &[ScaleResult], note: &str) -> String {
    let (width, height) = (960.0, 600.0);
    let (left, right, top, bottom) = (80.0, 230.0, 56.0, 70.0);
    let (plot_w, plot_h) = (width - left - right, height - top - bottom);

    let mut series: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    for name in PLOTTED {
        let points: Vec<(f64, f64)> = results
            .iter()
            .filter_map(|r| {
                find(r, name)
                    .and_then(Metric::summary)
                    .map(|s| (r.revisions as f64, s.median.max(0.01)))
            })
            .collect();
        if !points.is_empty() {
            series.push((name, points));
        }
    }
    let xs: Vec<f64> = series.iter().flat_map(|(_, p)| p.iter().map(|(x, _)| *x)).collect();
    let ys: Vec<f64> = series.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)).collect();
    let decades = |values: &[f64], default: (f64, f64)| -> (f64, f64) {
        let lo = values.iter().copied().reduce(f64::min).map_or(default.0, |v| v.log10().floor());
        let hi = values.iter().copied().reduce(f64::max).map_or(default.1, |v| v.log10().ceil());
        if hi <= lo { (lo - 1.0, hi + 1.0) } else { (lo, hi) }
    };
    let (x_lo, x_hi) = decades(&xs, (1.0, 4.0));
    let (y_lo, y_hi) = decades(&ys, (-1.0, 3.0));
    let x_at = |x: f64| left + (x.log10() - x_lo) / (x_hi - x_lo) * plot_w;
    let y_at = |y: f64| top + plot_h - (y.log10() - y_lo) / (y_hi - y_lo) * plot_h;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="28" font-size="16" text-anchor="middle">veranda: median latency against number of package revisions</text>"#,
        left + plot_w / 2.0
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="44" font-size="11" fill="dimgray" text-anchor="middle">{}</text>"#,
        left + plot_w / 2.0,
        escape(note)
    );
    // Grid and ticks, one per decade (with 2 and 5 as minor lines).
    for decade in (x_lo as i32)..=(x_hi as i32) {
        for (mult, major) in [(1.0, true), (2.0, false), (5.0, false)] {
            let value = mult * 10f64.powi(decade);
            if value.log10() > x_hi + 1e-9 {
                continue;
            }
            let x = x_at(value);
            let stroke = if major { "#cccccc" } else { "#eeeeee" };
            let _ = writeln!(
                out,
                r#"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="{stroke}"/>"#,
                top + plot_h
            );
            if major {
                let _ = writeln!(
                    out,
                    r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    top + plot_h + 18.0,
                    label(value)
                );
            }
        }
    }
    for decade in (y_lo as i32)..=(y_hi as i32) {
        for (mult, major) in [(1.0, true), (2.0, false), (5.0, false)] {
            let value = mult * 10f64.powi(decade);
            if value.log10() > y_hi + 1e-9 {
                continue;
            }
            let y = y_at(value);
            let stroke = if major { "#cccccc" } else { "#eeeeee" };
            let _ = writeln!(
                out,
                r#"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{stroke}"/>"#,
                left + plot_w
            );
            if major {
                let _ = writeln!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    left - 6.0,
                    y + 4.0,
                    label(value)
                );
            }
        }
    }
    let _ = writeln!(
        out,
        r#"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">package revisions (log scale)</text>"#,
        left + plot_w / 2.0,
        height - 22.0
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle">median latency, ms (log scale)</text>"#,
        top + plot_h / 2.0
    );
    for (index, (name, points)) in series.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let dash = if name.starts_with("git_floor") { r#" stroke-dasharray="6 4""# } else { "" };
        let path: Vec<String> =
            points.iter().map(|(x, y)| format!("{:.1},{:.1}", x_at(*x), y_at(*y))).collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            path.join(" ")
        );
        for (x, y) in points {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                x_at(*x),
                y_at(*y)
            );
        }
        let legend_y = top + 10.0 + index as f64 * 20.0;
        let legend_x = left + plot_w + 20.0;
        let _ = writeln!(
            out,
            r#"<line x1="{legend_x}" y1="{legend_y}" x2="{:.1}" y2="{legend_y}" stroke="{color}" stroke-width="2"{dash}/>"#,
            legend_x + 24.0
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}">{name}</text>"#,
            legend_x + 30.0,
            legend_y + 4.0
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn label(value: f64) -> String {
    if value >= 1.0 {
        let rounded = value.round() as u64;
        // Thousands separators keep 10000 readable.
        let digits = rounded.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{value}")
    }
}
