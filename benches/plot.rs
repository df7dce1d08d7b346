//! The pictures: a latency CDF and throughput over time, as SVG.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// Cumulative distribution of each sample (seconds), one line per series.
pub fn cdf(path: &Path, title: &str, series: &[(String, Vec<f64>)]) -> Result<()> {
    let xmax = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(0.1)
        * 1.05;
    let root = SVGBackend::new(path, (820, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..xmax, 0f64..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("fraction of pods")
        .draw()
        .map_err(err)?;
    for (i, (label, values)) in series.iter().enumerate() {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len().max(1) as f64;
        let points: Vec<(f64, f64)> = std::iter::once((0.0, 0.0))
            .chain(
                sorted
                    .iter()
                    .enumerate()
                    .map(|(k, v)| (*v, (k + 1) as f64 / n)),
            )
            .collect();
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Events per second over time, one line per series, and flat reference
/// lines (e.g. the API server's own rate).
pub fn throughput(
    path: &Path,
    title: &str,
    y_desc: &str,
    series: &[(String, Vec<u64>)],
    references: &[(String, f64)],
) -> Result<()> {
    let xmax = series
        .iter()
        .map(|(_, v)| v.len())
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let ymax = series
        .iter()
        .flat_map(|(_, v)| v.iter().map(|n| *n as f64))
        .chain(references.iter().map(|(_, r)| *r))
        .fold(1.0f64, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (820, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the framework started")
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    for (i, (label, values)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points = values
            .iter()
            .enumerate()
            .map(|(t, n)| (t as f64 + 0.5, *n as f64));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    for (i, (label, value)) in references.iter().enumerate() {
        let color = COLORS[(series.len() + i) % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, *value), (xmax, *value)],
                color.stroke_width(1),
            ))
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
