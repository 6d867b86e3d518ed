//! The Finance page's overview chart: income, expenses and profit on the left axis and each
//! project's gold price (per 1000 g) on the right one, over the periods of the range; and
//! its settings (per series: shown or not, colour, line or bars), kept for the tenant in
//! settings `finance/chart_config` as the reference kept them.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::records::finance::service::Summary;
use crate::settings::service as settings;
use crate::state::AppState;
use crate::theme::css::is_colour;
use crate::ui::charts::{LineChart, Series};
use crate::ui::error_page::PageError;
use crate::ui::session::{CsrfForm, UiUser};

/// Colours of the projects' gold price series, in turn.
const GOLD_COLOURS: [&str; 4] = ["#b26a00", "#8e24aa", "#00897b", "#6d4c41"];

/// One series as the chart and its settings form see it.
pub struct SeriesSetting {
    pub key: String,
    pub name: String,
    pub colour: String,
    pub right: bool,
    pub bars: bool,
    pub visible: bool,
    pub unit: String,
}

/// The series of `summary`, with their stored settings over the defaults. `name_of` names a
/// project.
pub fn series(
    tree: &Value,
    summary: &Summary,
    name_of: &dyn Fn(&Option<String>) -> String,
) -> Vec<SeriesSetting> {
    let money = summary.currency.clone();
    let mut out: Vec<SeriesSetting> = [
        ("income", "Income", "#2e7d32"),
        ("expense", "Expenses", "#c62828"),
        ("profit", "Profit", "#2f7fd1"),
    ]
    .into_iter()
    .map(|(key, name, colour)| SeriesSetting {
        key: key.into(),
        name: name.into(),
        colour: colour.into(),
        right: false,
        bars: false,
        visible: true,
        unit: money.clone(),
    })
    .collect();
    let mut gold_projects: Vec<Option<String>> = Vec::new();
    for sold in summary.series.iter().flat_map(|b| &b.gold) {
        if !gold_projects.contains(&sold.project_id) {
            gold_projects.push(sold.project_id.clone());
        }
    }
    gold_projects.sort();
    for (i, project) in gold_projects.iter().enumerate() {
        out.push(SeriesSetting {
            key: gold_key(project),
            name: format!("Gold price · {}", name_of(project)),
            colour: GOLD_COLOURS[i % GOLD_COLOURS.len()].into(),
            right: true,
            bars: false,
            visible: true,
            unit: format!("{money} per 1000 g"),
        });
    }
    let stored = tree
        .pointer("/finance/chart_config")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in &mut out {
        if let Some(kept) = stored.iter().find(|c| c["key"] == s.key.as_str()) {
            if let Some(colour) = kept["color"].as_str().filter(|c| is_colour(c)) {
                s.colour = colour.to_owned();
            }
            s.bars = kept["type"] == "bar";
            s.visible = kept["visible"] != false;
        }
    }
    out
}

fn gold_key(project: &Option<String>) -> String {
    format!("gold_price:{}", project.as_deref().unwrap_or("none"))
}

/// The chart of the visible series, as SVG.
pub fn render(summary: &Summary, settings: &[SeriesSetting]) -> String {
    let labels: Vec<String> = summary.series.iter().map(|b| b.period.clone()).collect();
    let series = settings
        .iter()
        .filter(|s| s.visible)
        .map(|s| Series {
            key: s.key.clone(),
            name: s.name.clone(),
            colour: s.colour.clone(),
            right: s.right,
            bars: s.bars,
            values: summary
                .series
                .iter()
                .map(|b| match s.key.as_str() {
                    "income" => Some(b.income),
                    "expense" => Some(b.expense),
                    "profit" => Some(b.profit),
                    key => b
                        .gold
                        .iter()
                        .find(|g| gold_key(&g.project_id) == key)
                        .and_then(|g| g.gold_price_per_1000),
                })
                .collect(),
        })
        .collect();
    LineChart::new(
        "cashflow",
        "Income, expenses, profit and gold price",
        &labels,
        series,
    )
    .render()
    .unwrap_or_default()
}

/// `POST /finance/chart`: the settings of every series in the form (`keys`), kept as the
/// tenant's; back to the page it came from.
pub async fn save(
    State(state): State<AppState>,
    UiUser(auth): UiUser,
    _headers: HeaderMap,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Response {
    let result = async {
        let keys: Vec<&str> = form
            .get("keys")
            .map(|k| k.split(',').filter(|k| !k.is_empty()).collect())
            .unwrap_or_default();
        let tree = settings::tree(&state.db, auth.tenant()).await?;
        let mut kept: Vec<Value> = tree
            .pointer("/finance/chart_config")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for key in keys {
            let field = |name: &str| form.get(&format!("{key}/{name}")).map(|v| v.trim());
            let colour = field("colour").unwrap_or_default();
            if !is_colour(colour) {
                return Err(ApiError::bad_request(format!(
                    "The colour of {key} must be like #2e7d32"
                )));
            }
            let right = key.starts_with("gold_price:");
            let entry = json!({
                "key": key,
                "name": field("name").filter(|n| !n.is_empty()).unwrap_or(key),
                "color": colour.to_ascii_lowercase(),
                "yAxisId": if right { "right" } else { "left" },
                "unit": field("unit").filter(|u| !u.is_empty()).unwrap_or("USD"),
                "type": if field("type") == Some("bar") { "bar" } else { "line" },
                "visible": form.contains_key(&format!("{key}/visible")),
            });
            match kept.iter_mut().find(|c| c["key"] == key) {
                Some(c) => *c = entry,
                None => kept.push(entry),
            }
        }
        let path = settings::parse_path("finance/chart_config")?;
        settings::write(&state, &auth, &path, Value::Array(kept)).await
    };
    match result.await {
        Ok(_) => {
            let back = form
                .get("back")
                .filter(|b| b.starts_with("/finance") && !b.contains("//") && !b.contains('\\'))
                .map_or("/finance", String::as_str);
            Redirect::to(back).into_response()
        }
        Err(e) => PageError::from(e).into_response(),
    }
}
