//! Charts drawn as SVG on the server: a chart of values over periods (lines or bars, on a
//! left axis and an optional right one) and a bar list of totals per label. Geometry is
//! computed here; the markup comes from small askama templates (so every label is escaped)
//! and colours are SVG presentation attributes (nothing inline, as the CSP wants).

use askama::Template;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 64.0;
/// The right margin: narrow, or wide enough for the right axis's labels.
const RIGHT: f64 = 12.0;
const RIGHT_AXIS: f64 = 56.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const Y_TICKS: usize = 4;

/// One series: its key (what its settings are kept under), a name for the legend, its
/// colour (`#rrggbb`), its axis and how it is drawn, and one value per period (`None`
/// where the period has none, e.g. no gold sold).
pub struct Series {
    pub key: String,
    pub name: String,
    pub colour: String,
    pub right: bool,
    pub bars: bool,
    pub values: Vec<Option<f64>>,
}

pub struct Line {
    pub key: String,
    pub name: String,
    pub colour: String,
    /// The polyline's points; empty for bars.
    pub points: String,
    /// A marker per value, with its hover title.
    pub markers: Vec<Marker>,
    pub bars: Vec<Rect>,
}

pub struct Marker {
    pub x: f64,
    pub y: f64,
    pub title: String,
}

pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub title: String,
}

pub struct Tick {
    pub at: f64,
    pub label: String,
    /// `start`, `middle` or `end`: the first and last labels stay inside the drawing.
    pub anchor: &'static str,
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<svg class="chart" viewBox="0 0 {{ width }} {{ height }}" role="img" aria-label="{{ title }}" data-chart="{{ id }}">
<title>{{ title }}</title>
{% for t in y_ticks %}<line class="grid" x1="{{ left }}" x2="{{ right }}" y1="{{ t.at }}" y2="{{ t.at }}"/><text class="axis" x="{{ left - 6.0 }}" y="{{ t.at + 4.0 }}" text-anchor="end">{{ t.label }}</text>
{% endfor %}{% for t in right_ticks %}<text class="axis right-axis" x="{{ right + 6.0 }}" y="{{ t.at + 4.0 }}" text-anchor="start">{{ t.label }}</text>
{% endfor %}<line class="zero" x1="{{ left }}" x2="{{ right }}" y1="{{ zero }}" y2="{{ zero }}"/>
{% for t in x_ticks %}<text class="axis" x="{{ t.at }}" y="{{ height - 8.0 }}" text-anchor="{{ t.anchor }}">{{ t.label }}</text>
{% endfor %}{% for l in lines %}{% for b in l.bars %}<rect class="bar-series" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.width }}" height="{{ b.height }}" fill="{{ l.colour }}" data-series="{{ l.key }}"><title>{{ b.title }}</title></rect>{% endfor %}
{% if !l.points.is_empty() %}<polyline class="series" fill="none" stroke="{{ l.colour }}" points="{{ l.points }}" data-series="{{ l.key }}"/>{% endif %}
{% for m in l.markers %}<circle class="point" fill="{{ l.colour }}" data-series="{{ l.key }}" cx="{{ m.x }}" cy="{{ m.y }}" r="3.5"><title>{{ m.title }}</title></circle>{% endfor %}
{% endfor %}</svg>
{% if empty %}<p class="muted chart-empty">{{ empty_text }}</p>{% endif %}
<ul class="legend">{% for l in lines %}<li data-series="{{ l.key }}"><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="{{ l.colour }}"/></svg>{{ l.name }}</li>{% endfor %}</ul>"#
)]
pub struct LineChart {
    pub id: &'static str,
    pub title: String,
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub zero: f64,
    pub y_ticks: Vec<Tick>,
    /// The right axis's labels, when a series is drawn on it.
    pub right_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub lines: Vec<Line>,
    /// Every value is zero or missing: a sentence says so under the flat lines.
    pub empty: bool,
    pub empty_text: &'static str,
}

/// Round a step to 1, 2 or 5 times a power of ten, so axis labels read well.
fn nice_step(span: f64) -> f64 {
    let raw = (span / Y_TICKS as f64).max(f64::MIN_POSITIVE);
    let power = 10f64.powf(raw.log10().floor());
    let unit = raw / power;
    let nice = if unit <= 1.0 {
        1.0
    } else if unit <= 2.0 {
        2.0
    } else if unit <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

fn label(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// One vertical scale: its low and high ends (multiples of a nice step, zero included)
/// and its ticks' values.
struct Scale {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Scale {
    fn over(values: impl Iterator<Item = f64>) -> Self {
        let (lo, hi) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let step = nice_step(if hi > lo { hi - lo } else { 1.0 });
        let (lo, hi) = (
            (lo / step).floor() * step,
            ((hi / step).ceil() * step).max(step),
        );
        let mut ticks = Vec::new();
        let mut v = lo;
        while v <= hi + step / 2.0 {
            ticks.push(v);
            v += step;
        }
        Self { lo, hi, ticks }
    }

    fn y(&self, v: f64) -> f64 {
        TOP + (self.hi - v) / (self.hi - self.lo) * (HEIGHT - TOP - BOTTOM)
    }
}

impl LineChart {
    /// A chart of `series` over periods named by `labels` (one per value).
    pub fn new(id: &'static str, title: &str, labels: &[String], series: Vec<Series>) -> Self {
        let values = |right: bool| {
            series
                .iter()
                .filter(move |s| s.right == right)
                .flat_map(|s| s.values.iter().flatten().copied())
        };
        let left_scale = Scale::over(values(false));
        let has_right = series.iter().any(|s| s.right);
        let right_scale = Scale::over(values(true));
        let right_edge = WIDTH - if has_right { RIGHT_AXIS } else { RIGHT };
        let n = labels.len().max(1);
        let slot = (right_edge - LEFT) / n as f64;
        // Bars need room on both sides of the first and last period: periods sit in the
        // middle of equal slots when any series is drawn as bars.
        let any_bars = series.iter().any(|s| s.bars);
        let x = |i: usize| {
            if any_bars || n == 1 {
                LEFT + slot * (i as f64 + 0.5)
            } else {
                LEFT + i as f64 * (right_edge - LEFT) / (n - 1) as f64
            }
        };
        let y_ticks = left_scale
            .ticks
            .iter()
            .map(|v| Tick {
                at: left_scale.y(*v),
                label: label(*v),
                anchor: "end",
            })
            .collect();
        let right_ticks = if has_right {
            right_scale
                .ticks
                .iter()
                .map(|v| Tick {
                    at: right_scale.y(*v),
                    label: label(*v),
                    anchor: "start",
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut x_ticks: Vec<Tick> = [0, n / 2, n - 1]
            .into_iter()
            .filter_map(|i| {
                labels.get(i).map(|l| Tick {
                    at: x(i),
                    label: l.clone(),
                    anchor: match i {
                        _ if n == 1 => "middle",
                        0 => "start",
                        i if i == n - 1 => "end",
                        _ => "middle",
                    },
                })
            })
            .collect();
        x_ticks.dedup_by(|a, b| a.at == b.at);
        let empty = series
            .iter()
            .all(|s| s.values.iter().flatten().all(|v| *v == 0.0));
        let bar_series: Vec<&str> = series
            .iter()
            .filter(|s| s.bars)
            .map(|s| s.key.as_str())
            .collect();
        let bar_width = slot * 0.7 / bar_series.len().max(1) as f64;
        let lines = series
            .iter()
            .map(|s| {
                let scale = if s.right { &right_scale } else { &left_scale };
                let title = |i: usize, v: f64| {
                    format!(
                        "{} · {}: {v:.2}",
                        labels.get(i).map_or("", String::as_str),
                        s.name
                    )
                };
                let points: Vec<(usize, f64)> = s
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| (i, v)))
                    .collect();
                let bars = if s.bars {
                    let place = bar_series.iter().position(|k| *k == s.key).unwrap_or(0);
                    points
                        .iter()
                        .map(|(i, v)| {
                            let (top, bottom) = (scale.y(v.max(0.0)), scale.y(v.min(0.0)));
                            Rect {
                                x: x(*i) - slot * 0.35 + bar_width * place as f64,
                                y: top,
                                width: bar_width,
                                height: (bottom - top).max(0.5),
                                title: title(*i, *v),
                            }
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                Line {
                    key: s.key.clone(),
                    name: s.name.clone(),
                    colour: s.colour.clone(),
                    points: if s.bars {
                        String::new()
                    } else {
                        points
                            .iter()
                            .map(|(i, v)| format!("{:.1},{:.1}", x(*i), scale.y(*v)))
                            .collect::<Vec<_>>()
                            .join(" ")
                    },
                    markers: if s.bars {
                        Vec::new()
                    } else {
                        points
                            .iter()
                            .map(|(i, v)| Marker {
                                x: x(*i),
                                y: scale.y(*v),
                                title: title(*i, *v),
                            })
                            .collect()
                    },
                    bars,
                }
            })
            .collect();
        Self {
            id,
            title: title.to_owned(),
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            right: right_edge,
            zero: left_scale.y(0.0),
            y_ticks,
            right_ticks,
            x_ticks,
            lines,
            empty,
            empty_text: "Nothing recorded in this period yet.",
        }
    }
}

pub struct Bar {
    pub label: String,
    pub value: String,
    /// The bar's length, in percent of the longest.
    pub percent: f64,
}

/// Totals per label as rows of HTML text with a bar drawn beside each: the text stays at
/// the page's own size however narrow the card (an SVG drawing would shrink it).
#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<figure class="barlist" data-chart="{{ id }}" aria-label="{{ title }}">
{% if bars.is_empty() %}<p class="muted chart-empty">{{ empty_text }}</p>{% else %}<ul>
{% for b in bars %}<li><span class="bar-label">{{ b.label }}</span><svg class="bar-track" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect class="bar {{ class }}" width="{{ b.percent }}" height="10"/></svg><span class="bar-value">{{ b.value }}</span></li>
{% endfor %}</ul>{% endif %}</figure>"#
)]
pub struct BarChart {
    pub id: &'static str,
    pub title: String,
    pub class: &'static str,
    pub bars: Vec<Bar>,
    pub empty_text: &'static str,
}

impl BarChart {
    /// Bars of money, longest first, two decimals; values must not be negative.
    pub fn new(
        id: &'static str,
        title: &str,
        class: &'static str,
        items: Vec<(String, f64)>,
    ) -> Self {
        Self::with_decimals(id, title, class, items, 2)
    }

    /// Bars of counts: whole numbers.
    pub fn counts(
        id: &'static str,
        title: &str,
        class: &'static str,
        items: Vec<(String, f64)>,
    ) -> Self {
        Self::with_decimals(id, title, class, items, 0)
    }

    fn with_decimals(
        id: &'static str,
        title: &str,
        class: &'static str,
        mut items: Vec<(String, f64)>,
        decimals: usize,
    ) -> Self {
        items.sort_by(|a, b| b.1.total_cmp(&a.1));
        let max = items
            .iter()
            .map(|i| i.1)
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE);
        let bars = items
            .into_iter()
            .map(|(label, v)| Bar {
                label,
                value: format!("{v:.decimals$}"),
                percent: (v.max(0.0) / max * 100.0).clamp(1.0, 100.0),
            })
            .collect();
        Self {
            id,
            title: title.to_owned(),
            class,
            bars,
            empty_text: "Nothing to show for this period.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(key: &str, values: Vec<f64>) -> Series {
        Series {
            key: key.into(),
            name: key.into(),
            colour: "#2e7d32".into(),
            right: false,
            bars: false,
            values: values.into_iter().map(Some).collect(),
        }
    }

    fn coords(points: &str) -> Vec<(f64, f64)> {
        points
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn values_map_into_the_plot_with_larger_values_higher() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let chart = LineChart::new(
            "t",
            "T",
            &labels,
            vec![line("income", vec![0.0, 50.0, 100.0])],
        );
        let pts = coords(&chart.lines[0].points);
        assert_eq!(pts[0].0, LEFT);
        assert_eq!(pts[2].0, WIDTH - RIGHT);
        assert!(pts[0].1 > pts[1].1 && pts[1].1 > pts[2].1, "{pts:?}");
        assert_eq!(pts[0].1, chart.zero, "zero sits on the zero line");
        assert!(
            (pts[2].1 - TOP).abs() < 0.05,
            "the maximum is at the top when it is a round value"
        );
        assert_eq!(
            chart
                .x_ticks
                .iter()
                .map(|t| t.label.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn negative_values_go_below_zero_and_labels_are_escaped() {
        let labels = vec!["<d>".to_owned()];
        let chart = LineChart::new("t", "T", &labels, vec![line("profit", vec![-30.0])]);
        let (_, y) = coords(&chart.lines[0].points)[0];
        assert!(y > chart.zero);
        let svg = chart.render().unwrap();
        assert!(svg.contains("&#60;d&#62;") && !svg.contains("<d>"), "{svg}");
        let bars = BarChart::new(
            "b",
            "B",
            "expense",
            vec![("proxy".into(), 10.0), ("<script>".into(), 30.0)],
        );
        assert_eq!(bars.bars[0].label, "<script>", "longest first");
        assert_eq!(
            (bars.bars[0].percent, bars.bars[1].value.as_str()),
            (100.0, "10.00")
        );
        assert!(!bars.render().unwrap().contains("<script>"));
        let counts = BarChart::counts("c", "C", "bots", vec![("farming".into(), 3.0)]);
        assert_eq!(counts.bars[0].value, "3", "counts are whole numbers");
        let none = BarChart::counts("c", "C", "bots", Vec::new())
            .render()
            .unwrap();
        assert!(none.contains("Nothing to show"), "{none}");
    }

    #[test]
    fn points_have_markers_with_titles_and_edge_labels_stay_inside() {
        let labels: Vec<String> = ["2026-01", "2026-02", "2026-03"].map(String::from).to_vec();
        let series = |v: f64| line("income", vec![v; 3]);
        let chart = LineChart::new("t", "T", &labels, vec![series(5.0)]);
        let markers = &chart.lines[0].markers;
        assert_eq!(markers.len(), 3);
        assert_eq!(markers[2].title, "2026-03 · income: 5.00");
        let anchors: Vec<&str> = chart.x_ticks.iter().map(|t| t.anchor).collect();
        assert_eq!(anchors, ["start", "middle", "end"]);
        assert!(!chart.empty);
        let flat = LineChart::new("t", "T", &labels, vec![series(0.0)]);
        assert!(flat.empty && flat.render().unwrap().contains("Nothing recorded"));
    }

    #[test]
    fn a_right_axis_has_its_own_scale_and_bars_stand_in_their_periods() {
        let labels: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let price = Series {
            key: "gold_price:tbc".into(),
            name: "Gold price".into(),
            colour: "#b26a00".into(),
            right: true,
            bars: false,
            values: vec![Some(12.0), None, Some(18.0), None],
        };
        let expense = Series {
            bars: true,
            ..line("expense", vec![100.0, 400.0, 0.0, 200.0])
        };
        let chart = LineChart::new("t", "T", &labels, vec![expense, price]);
        assert_eq!(chart.right, WIDTH - RIGHT_AXIS, "room for the right axis");
        let right: Vec<&str> = chart.right_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            right,
            ["0", "5", "10", "15", "20"],
            "prices on their own scale"
        );
        let left: Vec<&str> = chart.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(left.last(), Some(&"400"));
        // The price's two points: the periods without gold have none.
        assert_eq!(coords(&chart.lines[1].points).len(), 2);
        assert_eq!(chart.lines[1].markers[1].title, "c · Gold price: 18.00");
        // Four bars inside the plot, the tallest the largest, none drawn as a line.
        let bars = &chart.lines[0].bars;
        assert_eq!(bars.len(), 4);
        assert!(chart.lines[0].points.is_empty());
        assert!(
            bars.iter()
                .all(|b| b.x >= LEFT && b.x + b.width <= chart.right)
        );
        assert!(bars[1].height > bars[3].height && bars[3].height > bars[0].height);
        let svg = chart.render().unwrap();
        assert!(
            svg.contains(r##"fill="#b26a00""##) && svg.contains("right-axis"),
            "{svg}"
        );
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100.0), 50.0);
        assert_eq!(nice_step(8.0), 2.0);
        assert_eq!(nice_step(1.0), 0.5);
    }
}
