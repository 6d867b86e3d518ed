//! The Configure tab's Schedule section: the week as seven editor lines (one per day, its
//! sessions as `09:00-11:30, 13:00-15:00`) with each day's timeline, active time and overlap
//! warning, and the generator that fills the lines from a few parameters, with its named
//! templates and last used parameters in settings `schedule/*`.

use botmox_proto::records::schedule::{Day, Schedule, ScheduleParams, WEEKDAYS};
use botmox_proto::validate::Validate;
use rand::Rng;
use serde_json::{Value, json};

use super::templates::{Store, without_stamp};
use crate::clock::count;
use crate::http::{ApiError, ApiResult};
use crate::principal::Auth;
use crate::records::bots::schedule;
use crate::settings::service as settings;
use crate::state::AppState;
use crate::ui::records::form::{Opt, Posted};
use crate::ui::refusal::Problems;

/// The generator's inputs: (posted name, the parameter's name in its errors).
const PARAM_INPUTS: [(&str, &str); 9] = [
    ("gen_start", "startTime"),
    ("gen_end", "endTime"),
    ("gen_start2", "startTime2"),
    ("gen_end2", "endTime2"),
    ("gen_second", "useSecondWindow"),
    ("gen_target", "targetActiveMinutes"),
    ("gen_min_session", "minSessionMinutes"),
    ("gen_min_break", "minBreakMinutes"),
    ("gen_offset", "randomOffsetMinutes"),
];

/// The schedule generator's templates (settings `schedule/templates`).
pub const TEMPLATES: Store = Store {
    path: "schedule/templates",
    key: "params",
    read: |posted| Ok(json!(checked_params(posted)?)),
    write: |posted, params| {
        let params: ScheduleParams = serde_json::from_value(without_stamp(params.clone()))
            .map_err(|_| ApiError::field("generator", "The template cannot be read"))?;
        params_into(posted, &params);
        Ok(())
    },
};

/// One day as the section draws it.
pub struct DayView {
    pub index: usize,
    pub name: &'static str,
    pub enabled: bool,
    /// The editor line.
    pub text: String,
    pub error: Option<String>,
    /// Active time in words, and its share of the day in percent.
    pub active: String,
    pub share: u32,
    /// `N sessions`.
    pub sessions: String,
    pub overlap: bool,
    /// The timeline's bars: (start minute, length in minutes).
    pub bars: Vec<(u32, u32)>,
}

/// The generator's parameters as its inputs show them.
pub struct ParamsView {
    pub start: String,
    pub end: String,
    pub second: bool,
    pub start2: String,
    pub end2: String,
    pub target: String,
    pub min_session: String,
    pub min_break: String,
    pub offset: String,
}

pub struct WeekView {
    pub days: Vec<DayView>,
    pub timezone: String,
    pub params: ParamsView,
    pub templates: Vec<Opt>,
    /// The generator's refusal, in words.
    pub generator_error: Option<String>,
    /// The week's active time and the average of the days that play.
    pub week_active: String,
    pub average: String,
    pub overlaps: usize,
}

/// `m` minutes as `5 h 30 min`.
fn duration(m: u32) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// The section for the bot `doc`: the posted week when there is one (a refused or generated
/// form), else the stored one.
pub fn view(doc: &Value, tree: &Value, posted: &Posted, error: Option<&ApiError>) -> WeekView {
    let problems = error.map(Problems::from_error);
    let stored = schedule::of(doc);
    let from_post = posted.contains_key("day_0");
    let mut days = Vec::with_capacity(7);
    // The week's active minutes (a line that does not read counts as no session).
    let mut total = 0;
    for (index, name) in WEEKDAYS.iter().enumerate() {
        let (enabled, text) = if from_post {
            (
                posted.contains_key(&format!("day_{index}_enabled")),
                posted
                    .get(&format!("day_{index}"))
                    .cloned()
                    .unwrap_or_default(),
            )
        } else {
            let day = stored.as_ref().and_then(|s| s.days.get(index));
            (
                day.is_some_and(|d| d.enabled),
                day.map(schedule::sessions_text).unwrap_or_default(),
            )
        };
        let day = Day {
            enabled,
            sessions: schedule::parse_sessions(&text, index).unwrap_or_default(),
        };
        let active = schedule::active_minutes(&day);
        total += active;
        days.push(DayView {
            index,
            name,
            enabled,
            error: problems
                .as_ref()
                .and_then(|p| p.of(&format!("day_{index}"))),
            active: duration(active),
            share: active * 100 / botmox_proto::records::schedule::DAY_MINUTES,
            sessions: count(schedule::spans(&day).len() as i64, "session"),
            overlap: enabled && schedule::overlaps(&day),
            bars: schedule::spans(&day)
                .into_iter()
                .map(|(a, b)| (a, b - a))
                .collect(),
            text,
        });
    }
    let playing = days
        .iter()
        .filter(|d| d.enabled && !d.bars.is_empty())
        .count() as u32;
    let timezone = if from_post {
        posted.get("timezone").cloned().unwrap_or_default()
    } else {
        stored.map(|s| s.timezone).unwrap_or_default()
    };
    let params = params_view(tree, posted);
    let chosen = posted.get("template").cloned().unwrap_or_default();
    let templates = TEMPLATES.options(tree, &chosen);
    WeekView {
        overlaps: days.iter().filter(|d| d.overlap).count(),
        days,
        timezone: if timezone.is_empty() {
            "UTC".into()
        } else {
            timezone
        },
        params,
        templates,
        generator_error: problems.as_ref().and_then(|p| p.of("generator")),
        week_active: duration(total),
        average: duration(total.checked_div(playing).unwrap_or(0)),
    }
}

/// The parameters shown: as posted, else the last used (settings), else the defaults.
fn params_view(tree: &Value, posted: &Posted) -> ParamsView {
    let params = if posted.contains_key("gen_start") {
        None
    } else {
        Some(last_params(tree))
    };
    let text = |name: &str, from: fn(&ScheduleParams) -> String| match &params {
        Some(p) => from(p),
        None => posted.get(name).cloned().unwrap_or_default(),
    };
    ParamsView {
        start: text("gen_start", |p| p.start_time.clone()),
        end: text("gen_end", |p| p.end_time.clone()),
        second: match &params {
            Some(p) => p.use_second_window,
            None => posted.contains_key("gen_second"),
        },
        start2: text("gen_start2", |p| p.start_time2.clone()),
        end2: text("gen_end2", |p| p.end_time2.clone()),
        target: text("gen_target", |p| p.target_active_minutes.to_string()),
        min_session: text("gen_min_session", |p| p.min_session_minutes.to_string()),
        min_break: text("gen_min_break", |p| p.min_break_minutes.to_string()),
        offset: text("gen_offset", |p| p.random_offset_minutes.to_string()),
    }
}

fn last_params(tree: &Value) -> ScheduleParams {
    tree.pointer("/schedule/last_params")
        .cloned()
        .and_then(|v| serde_json::from_value::<ScheduleParams>(without_stamp(v)).ok())
        .filter(|p| p.validate().is_ok())
        .unwrap_or_default()
}

/// The generator's parameters as posted (unparsable numbers read as 0, which the
/// validation refuses by name).
fn posted_params(posted: &Posted) -> ScheduleParams {
    let text = |name: &str| {
        posted
            .get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let number = |name: &str| text(name).parse().unwrap_or(0);
    ScheduleParams {
        start_time: text("gen_start"),
        end_time: text("gen_end"),
        start_time2: text("gen_start2"),
        end_time2: text("gen_end2"),
        use_second_window: posted.contains_key("gen_second"),
        target_active_minutes: number("gen_target"),
        min_session_minutes: number("gen_min_session"),
        min_break_minutes: number("gen_min_break"),
        random_offset_minutes: number("gen_offset"),
        profile: None,
    }
}

/// Write `params` into the generator's inputs of `posted`.
fn params_into(posted: &mut Posted, p: &ScheduleParams) {
    let values = [
        p.start_time.clone(),
        p.end_time.clone(),
        p.start_time2.clone(),
        p.end_time2.clone(),
        String::new(),
        p.target_active_minutes.to_string(),
        p.min_session_minutes.to_string(),
        p.min_break_minutes.to_string(),
        p.random_offset_minutes.to_string(),
    ];
    for ((input, _), value) in PARAM_INPUTS.iter().zip(values) {
        if *input == "gen_second" {
            if p.use_second_window {
                posted.insert((*input).into(), "true".into());
            } else {
                posted.remove(*input);
            }
        } else {
            posted.insert((*input).into(), value);
        }
    }
}

/// The parameters posted, checked; a refusal names the parameter in words.
fn checked_params(posted: &Posted) -> ApiResult<ScheduleParams> {
    let params = posted_params(posted);
    params.validate().map_err(|e| {
        let problem = PARAM_INPUTS
            .iter()
            .find_map(|(_, name)| {
                e.get(name)
                    .and_then(|p| p.first())
                    .map(|p| format!("{}: {p}", label(name)))
            })
            .unwrap_or_else(|| "The generator's parameters are not valid".into());
        ApiError::field("generator", problem)
    })?;
    Ok(params)
}

fn label(param: &str) -> &'static str {
    match param {
        "startTime" => "Window start",
        "endTime" => "Window end",
        "startTime2" => "Second window start",
        "endTime2" => "Second window end",
        "targetActiveMinutes" => "Active minutes a day",
        "minSessionMinutes" => "Shortest session",
        "minBreakMinutes" => "Shortest break",
        _ => "Random offset",
    }
}

/// The week the form's lines name, for the bot's `schedule`; a line that does not read is
/// refused beside its day.
pub fn from_posted(posted: &Posted) -> ApiResult<Value> {
    let mut days = Vec::with_capacity(7);
    for index in 0..WEEKDAYS.len() {
        let text = posted
            .get(&format!("day_{index}"))
            .map(String::as_str)
            .unwrap_or_default();
        let sessions = schedule::parse_sessions(text, index)
            .map_err(|problem| ApiError::field(&format!("day_{index}"), problem))?;
        days.push(Day {
            enabled: posted.contains_key(&format!("day_{index}_enabled")),
            sessions,
        });
    }
    let timezone = posted.get("timezone").map(|z| z.trim()).unwrap_or_default();
    if timezone.chars().count() > 64 {
        return Err(ApiError::field("timezone", "must be at most 64 characters"));
    }
    let week = Schedule {
        version: schedule::VERSION,
        timezone: if timezone.is_empty() { "UTC" } else { timezone }.to_owned(),
        days,
    };
    let mut value = json!(week);
    value["updated_at"] = json!(crate::clock::now_ms());
    Ok(value)
}

/// Fill the form's lines with a generated week, and keep the parameters as the last used.
pub async fn generate(
    state: &AppState,
    auth: &Auth,
    posted: &mut Posted,
    rng: &mut impl Rng,
) -> ApiResult<()> {
    let params = checked_params(posted)?;
    let timezone = posted.get("timezone").cloned().unwrap_or_default();
    let week = schedule::generate(&params, &timezone, rng);
    for (index, day) in week.days.iter().enumerate() {
        posted.insert(format!("day_{index}"), schedule::sessions_text(day));
        if day.enabled {
            posted.insert(format!("day_{index}_enabled"), "true".into());
        } else {
            posted.remove(&format!("day_{index}_enabled"));
        }
    }
    let path = settings::parse_path("schedule/last_params")?;
    settings::write(state, auth, &path, json!(params)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_lines_become_a_week_and_a_bad_line_names_its_day() {
        let mut posted = Posted::new();
        posted.insert("day_0".into(), "09:00-10:00".into());
        posted.insert("day_0_enabled".into(), "true".into());
        posted.insert("timezone".into(), "Europe/Berlin".into());
        let week = from_posted(&posted).unwrap();
        assert_eq!(week["days"].as_array().unwrap().len(), 7);
        assert_eq!(week["days"][0]["sessions"][0]["end"], "10:00");
        assert_eq!(week["days"][1]["enabled"], false);
        assert_eq!(week["timezone"], "Europe/Berlin");
        posted.insert("day_3".into(), "10:00-09:00".into());
        let err = from_posted(&posted).unwrap_err();
        assert!(Problems::from_error(&err).of("day_3").is_some());
    }

    #[test]
    fn parameters_go_into_the_inputs_and_back() {
        let params = ScheduleParams {
            use_second_window: true,
            start_time2: "18:00".into(),
            end_time2: "22:00".into(),
            end_time: "12:00".into(),
            ..Default::default()
        };
        let mut posted = Posted::new();
        params_into(&mut posted, &params);
        assert_eq!(posted_params(&posted), params);
        assert!(checked_params(&posted).is_ok());
        posted.insert("gen_min_break".into(), "x".into());
        let err = checked_params(&posted).unwrap_err();
        assert_eq!(
            Problems::from_error(&err).of("generator").unwrap(),
            "Shortest break: must be from 5 to 120"
        );
    }
}
