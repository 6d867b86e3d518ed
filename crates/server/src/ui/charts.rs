//! Charts drawn as SVG on the server: a line chart of values over periods and a bar list of
//! totals per label. Geometry is computed here; the markup comes from small askama templates
//! (so every label is escaped) and colours from CSS classes (nothing inline, as the CSP wants).

use askama::Template;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const Y_TICKS: usize = 4;

/// One line: a name for the legend, a CSS class for its colour, one value per period.
pub struct Series {
    pub name: &'static str,
    pub class: &'static str,
    pub values: Vec<f64>,
}

pub struct Line {
    pub name: &'static str,
    pub class: &'static str,
    pub points: String,
}

pub struct Tick {
    pub at: f64,
    pub label: String,
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<svg class="chart" viewBox="0 0 {{ width }} {{ height }}" role="img" aria-label="{{ title }}" data-chart="{{ id }}">
<title>{{ title }}</title>
{% for t in y_ticks %}<line class="grid" x1="{{ left }}" x2="{{ right }}" y1="{{ t.at }}" y2="{{ t.at }}"/><text class="axis" x="{{ left - 6.0 }}" y="{{ t.at + 4.0 }}" text-anchor="end">{{ t.label }}</text>
{% endfor %}<line class="zero" x1="{{ left }}" x2="{{ right }}" y1="{{ zero }}" y2="{{ zero }}"/>
{% for t in x_ticks %}<text class="axis" x="{{ t.at }}" y="{{ height - 8.0 }}" text-anchor="middle">{{ t.label }}</text>
{% endfor %}{% for l in lines %}<polyline class="series {{ l.class }}" fill="none" points="{{ l.points }}" data-series="{{ l.name }}"/>
{% endfor %}</svg>
<ul class="legend">{% for l in lines %}<li><span class="swatch {{ l.class }}"></span>{{ l.name }}</li>{% endfor %}</ul>"#
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
    pub x_ticks: Vec<Tick>,
    pub lines: Vec<Line>,
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

impl LineChart {
    /// A chart of `series` over periods named by `labels` (one per value).
    pub fn new(id: &'static str, title: &str, labels: &[String], series: Vec<Series>) -> Self {
        let all = series.iter().flat_map(|s| s.values.iter().copied());
        let (lo, hi) = all.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let step = nice_step(if hi > lo { hi - lo } else { 1.0 });
        let (lo, hi) = (
            (lo / step).floor() * step,
            ((hi / step).ceil() * step).max(step),
        );
        let plot_h = HEIGHT - TOP - BOTTOM;
        let y = |v: f64| TOP + (hi - v) / (hi - lo) * plot_h;
        let n = labels.len().max(1);
        let x = |i: usize| {
            if n == 1 {
                LEFT + (WIDTH - LEFT - RIGHT) / 2.0
            } else {
                LEFT + i as f64 * (WIDTH - LEFT - RIGHT) / (n - 1) as f64
            }
        };
        let mut y_ticks = Vec::new();
        let mut v = lo;
        while v <= hi + step / 2.0 {
            y_ticks.push(Tick {
                at: y(v),
                label: label(v),
            });
            v += step;
        }
        let mut x_ticks: Vec<Tick> = [0, n / 2, n - 1]
            .into_iter()
            .filter_map(|i| {
                labels.get(i).map(|l| Tick {
                    at: x(i),
                    label: l.clone(),
                })
            })
            .collect();
        x_ticks.dedup_by(|a, b| a.at == b.at);
        let lines = series
            .into_iter()
            .map(|s| Line {
                name: s.name,
                class: s.class,
                points: s
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            })
            .collect();
        Self {
            id,
            title: title.to_owned(),
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            right: WIDTH - RIGHT,
            zero: y(0.0),
            y_ticks,
            x_ticks,
            lines,
        }
    }
}

pub struct Bar {
    pub label: String,
    pub value: String,
    pub y: f64,
    pub width: f64,
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<svg class="chart bars" viewBox="0 0 {{ width }} {{ height }}" role="img" aria-label="{{ title }}" data-chart="{{ id }}">
<title>{{ title }}</title>
{% for b in bars %}<text class="axis" x="0" y="{{ b.y + 13.0 }}">{{ b.label }}</text><rect class="bar {{ class }}" x="{{ label_w }}" y="{{ b.y }}" width="{{ b.width }}" height="18"/><text class="axis" x="{{ label_w + b.width + 6.0 }}" y="{{ b.y + 13.0 }}">{{ b.value }}</text>
{% endfor %}</svg>"#
)]
pub struct BarChart {
    pub id: &'static str,
    pub title: String,
    pub class: &'static str,
    pub width: f64,
    pub height: f64,
    pub label_w: f64,
    pub bars: Vec<Bar>,
}

impl BarChart {
    /// Horizontal bars, longest first; values must not be negative.
    pub fn new(
        id: &'static str,
        title: &str,
        class: &'static str,
        mut items: Vec<(String, f64)>,
    ) -> Self {
        const ROW: f64 = 26.0;
        const LABEL_W: f64 = 180.0;
        const VALUE_W: f64 = 90.0;
        items.sort_by(|a, b| b.1.total_cmp(&a.1));
        let max = items
            .iter()
            .map(|i| i.1)
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE);
        let span = WIDTH - LABEL_W - VALUE_W;
        let bars = items
            .into_iter()
            .enumerate()
            .map(|(i, (label, v))| Bar {
                label,
                value: format!("{v:.2}"),
                y: i as f64 * ROW,
                width: (v.max(0.0) / max * span).max(1.0),
            })
            .collect::<Vec<_>>();
        Self {
            id,
            title: title.to_owned(),
            class,
            width: WIDTH,
            height: (bars.len() as f64 * ROW).max(ROW),
            label_w: LABEL_W,
            bars,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            vec![Series {
                name: "income",
                class: "income",
                values: vec![0.0, 50.0, 100.0],
            }],
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
        let chart = LineChart::new(
            "t",
            "T",
            &labels,
            vec![Series {
                name: "profit",
                class: "profit",
                values: vec![-30.0],
            }],
        );
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
        assert!(bars.bars[0].width > bars.bars[1].width);
        assert!(!bars.render().unwrap().contains("<script>"));
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100.0), 50.0);
        assert_eq!(nice_step(8.0), 2.0);
        assert_eq!(nice_step(1.0), 0.5);
    }
}
