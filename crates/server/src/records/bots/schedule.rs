//! A bot's weekly schedule (the bot's `schedule` object, spec ui.md §3.3 Configure):
//! the generator that proposes a week from a few parameters, the sessions a day holds as
//! the editor writes them (`09:00-11:30, 13:00-15:00`), and the figures and warnings the
//! editor shows (active time, share of the day, overlapping sessions).

use botmox_proto::records::schedule::{
    DAY_MINUTES, Day, Schedule, ScheduleParams, Session, hhmm, minutes,
};
use rand::Rng;

/// The schedule format this server writes.
pub const VERSION: u32 = 1;

/// A session longer than this is split when the day's play allows (four hours at a time).
const LONGEST_SESSION: u32 = 240;

/// The time zone of the bot's schedule, UTC when it has none.
pub fn timezone(bot: &serde_json::Value) -> &str {
    bot.pointer("/schedule/timezone")
        .and_then(serde_json::Value::as_str)
        .filter(|z| !z.is_empty())
        .unwrap_or("UTC")
}

/// The bot's schedule, when it has one this server can read.
pub fn of(bot: &serde_json::Value) -> Option<Schedule> {
    serde_json::from_value(bot.get("schedule")?.clone()).ok()
}

/// A week proposed by `params` (valid): each day's sessions fall in its windows, whose ends
/// move by up to the random offset, each at least the shortest session long, with at least
/// the shortest break between two, adding up to the target (or to the windows, when they
/// are shorter).
pub fn generate(params: &ScheduleParams, timezone: &str, rng: &mut impl Rng) -> Schedule {
    Schedule {
        version: VERSION,
        timezone: timezone.to_owned(),
        days: (0..7).map(|d| day(params, d, rng)).collect(),
    }
}

fn day(params: &ScheduleParams, index: usize, rng: &mut impl Rng) -> Day {
    let offset = params.random_offset_minutes as i64;
    let last = i64::from(DAY_MINUTES - 1);
    let mut jitter =
        |m: u32| (i64::from(m) + rng.gen_range(-offset..=offset)).clamp(0, last) as u32;
    let mut windows: Vec<(u32, u32)> = Vec::new();
    for (a, b) in params.windows() {
        let (start, end) = (jitter(a), jitter(b));
        // Jitter never turns a window around or into the one before it.
        let floor = windows.last().map_or(0, |w| w.1);
        let start = start.max(floor);
        if end > start {
            windows.push((start, end));
        }
    }
    let total: u32 = windows.iter().map(|(a, b)| b - a).sum();
    let target = params.target_active_minutes.min(total);
    let mut sessions = Vec::new();
    let mut left = target;
    for (i, (a, b)) in windows.iter().enumerate() {
        let share = if i + 1 == windows.len() {
            left
        } else {
            (u64::from(target) * u64::from(b - a) / u64::from(total.max(1))) as u32
        };
        // A share too short for a session goes to the next window.
        if share < params.min_session_minutes {
            continue;
        }
        left -= share.min(left);
        for (start, end) in place(*a, *b, share, params, rng) {
            sessions.push(Session {
                id: format!("d{index}s{}", sessions.len() + 1),
                start: hhmm(start),
                end: hhmm(end),
                enabled: true,
                kind: "active".into(),
                profile: params.profile.clone(),
            });
        }
    }
    Day {
        enabled: !sessions.is_empty(),
        sessions,
    }
}

/// Sessions adding up to `active` minutes inside `start..end`.
fn place(
    start: u32,
    end: u32,
    active: u32,
    params: &ScheduleParams,
    rng: &mut impl Rng,
) -> Vec<(u32, u32)> {
    let length = end - start;
    let (shortest, pause) = (params.min_session_minutes, params.min_break_minutes);
    let active = active.min(length);
    if active < shortest {
        return Vec::new();
    }
    let most = (active / shortest)
        .min((length - active) / pause.max(1) + 1)
        .max(1);
    let fewest = active.div_ceil(LONGEST_SESSION).clamp(1, most);
    let count = rng.gen_range(fewest..=most) as usize;
    let lengths = split(active - shortest * count as u32, count, rng);
    let free = length - active - pause * (count as u32 - 1);
    let gaps = split(free, count + 1, rng);
    let mut at = start + gaps[0];
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let stop = at + shortest + lengths[i];
        out.push((at, stop));
        at = stop + pause + gaps[i + 1];
    }
    out
}

/// `total` cut into `parts` random non-negative parts.
fn split(total: u32, parts: usize, rng: &mut impl Rng) -> Vec<u32> {
    let mut cuts: Vec<u32> = (1..parts).map(|_| rng.gen_range(0..=total)).collect();
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(parts);
    let mut last = 0;
    for cut in cuts {
        out.push(cut - last);
        last = cut;
    }
    out.push(total - last);
    out
}

/// The sessions a day's editor line names: `HH:MM-HH:MM` spans separated by commas,
/// semicolons or new lines, each ending after it starts. `day` numbers their ids.
pub fn parse_sessions(text: &str, day: usize) -> Result<Vec<Session>, String> {
    let mut out = Vec::new();
    for part in text
        .split([',', ';', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (a, b) = part
            .split_once(['-', '–'])
            .ok_or_else(|| format!("“{part}” is not a span like 09:00-11:30"))?;
        let (start, end) = match (minutes(a.trim()), minutes(b.trim())) {
            (Some(start), Some(end)) => (start, end),
            _ => return Err(format!("“{part}” is not a span like 09:00-11:30")),
        };
        if end <= start {
            return Err(format!("“{part}” ends before it starts"));
        }
        out.push(Session {
            id: format!("d{day}s{}", out.len() + 1),
            start: hhmm(start),
            end: hhmm(end),
            enabled: true,
            kind: "active".into(),
            profile: None,
        });
    }
    Ok(out)
}

/// A day's sessions as its editor line shows them.
pub fn sessions_text(day: &Day) -> String {
    day.sessions
        .iter()
        .map(|s| format!("{}-{}", s.start, s.end))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The (start, end) in minutes of the day's enabled active sessions, in order.
pub fn spans(day: &Day) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = day
        .sessions
        .iter()
        .filter(|s| s.enabled && s.kind == "active")
        .filter_map(|s| Some((minutes(&s.start)?, minutes(&s.end)?)))
        .collect();
    out.sort_unstable();
    out
}

/// Minutes of play in the day (an enabled day's enabled active sessions).
pub fn active_minutes(day: &Day) -> u32 {
    if !day.enabled {
        return 0;
    }
    spans(day).iter().map(|(a, b)| b.saturating_sub(*a)).sum()
}

/// Whether two of the day's sessions overlap (the editor flags it; the bot would run both).
pub fn overlaps(day: &Day) -> bool {
    spans(day).windows(2).any(|w| w[1].0 < w[0].1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn check_week(params: &ScheduleParams, expect_target: bool) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..200 {
            let week = generate(params, "Europe/Berlin", &mut rng);
            assert_eq!((week.version, week.days.len()), (VERSION, 7));
            for day in &week.days {
                let spans = spans(day);
                let total = active_minutes(day);
                assert!(!overlaps(day), "{day:?}");
                for (a, b) in &spans {
                    assert!(b - a >= params.min_session_minutes, "{day:?}");
                }
                for pair in spans.windows(2) {
                    assert!(pair[1].0 - pair[0].1 >= params.min_break_minutes, "{day:?}");
                }
                let o = params.random_offset_minutes;
                let inside = |(a, b): &(u32, u32)| {
                    params
                        .windows()
                        .iter()
                        .any(|(s, e)| *a + o >= *s && *b <= e + o)
                };
                assert!(spans.iter().all(inside), "{day:?}");
                assert!(total <= params.target_active_minutes, "{day:?}");
                if expect_target {
                    assert_eq!(total, params.target_active_minutes, "{day:?}");
                }
            }
        }
    }

    #[test]
    fn a_generated_week_keeps_to_its_windows_lengths_and_target() {
        check_week(&ScheduleParams::default(), true);
        let two_windows = ScheduleParams {
            start_time: "08:00".into(),
            end_time: "12:00".into(),
            use_second_window: true,
            start_time2: "18:00".into(),
            end_time2: "23:30".into(),
            target_active_minutes: 300,
            min_session_minutes: 45,
            min_break_minutes: 20,
            random_offset_minutes: 10,
            ..Default::default()
        };
        check_week(&two_windows, true);
        // More play than the window holds: the window, played through.
        let tight = ScheduleParams {
            start_time: "10:00".into(),
            end_time: "12:00".into(),
            target_active_minutes: 600,
            random_offset_minutes: 0,
            ..Default::default()
        };
        check_week(&tight, false);
        let week = generate(&tight, "UTC", &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(active_minutes(&week.days[0]), 120);
    }

    #[test]
    fn an_editor_line_reads_into_sessions_and_back() {
        let sessions = parse_sessions("09:00-11:30, 13:00 – 15:00;\n18:15-23:59", 2).unwrap();
        let day = Day {
            enabled: true,
            sessions,
        };
        assert_eq!(sessions_text(&day), "09:00-11:30, 13:00-15:00, 18:15-23:59");
        assert_eq!(day.sessions[1].id, "d2s2");
        assert_eq!(active_minutes(&day), 150 + 120 + 344);
        assert!(!overlaps(&day));
        for bad in ["9-10", "10:00-09:00", "10:00", "22:00-24:00"] {
            assert!(parse_sessions(bad, 0).is_err(), "{bad}");
        }
        assert_eq!(parse_sessions("  ", 0).unwrap(), Vec::new());
        let crossing = Day {
            enabled: true,
            sessions: parse_sessions("09:00-12:00, 11:00-13:00", 0).unwrap(),
        };
        assert!(overlaps(&crossing));
        let off = Day {
            enabled: false,
            ..crossing
        };
        assert_eq!(active_minutes(&off), 0);
    }
}
