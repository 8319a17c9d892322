//! Five-field cron schedules (`spec.sync.schedule`), evaluated in UTC as the standard cron does:
//! `minute hour day-of-month month day-of-week`, each `*`, a value, a range `a-b`, a step
//! `*/n` or `a-b/n`, or a comma-separated list of those; month and weekday names (`JAN`, `MON`);
//! weekday 0 and 7 are Sunday; when both day fields are restricted a day matching either runs;
//! and the descriptors `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`,
//! `@hourly`.

/// The longest schedule accepted; longer text is refused before it is parsed.
const MAX_LEN: usize = 256;
/// How far ahead a next run is looked for (a schedule such as `0 0 30 2 *` never runs).
const HORIZON_DAYS: i64 = 366 * 8;

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Both day fields were restricted (not `*`): a day matching either runs.
    either_day: bool,
}

/// One field's bounds and names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: Field = Field { name: "hour", min: 0, max: 23, names: &[] };
const DAY: Field = Field { name: "day of month", min: 1, max: 31, names: &[] };
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
};
const WEEKDAY: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

impl Schedule {
    /// Parses a schedule; the error says what is wrong in words a user can act on.
    pub(crate) fn parse(text: &str) -> Result<Schedule, String> {
        if text.len() > MAX_LEN {
            return Err(format!("a schedule is at most {MAX_LEN} characters"));
        }
        let text = text.trim();
        let expanded = match text.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
            "@monthly" => "0 0 1 * *".to_string(),
            "@weekly" => "0 0 * * 0".to_string(),
            "@daily" | "@midnight" => "0 0 * * *".to_string(),
            "@hourly" => "0 * * * *".to_string(),
            other if other.starts_with('@') => {
                return Err(format!("unknown descriptor {text:?}"));
            }
            _ => text.to_string(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ));
        };
        let mut weekdays = parse_field(weekday, &WEEKDAY)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        Ok(Schedule {
            minutes: parse_field(minute, &MINUTE)?,
            hours: parse_field(hour, &HOUR)?,
            days: parse_field(day, &DAY)?,
            months: parse_field(month, &MONTH)?,
            weekdays,
            either_day: !day.starts_with('*') && !weekday.starts_with('*'),
        })
    }

    /// The first time strictly after `after` (Unix seconds) at which the schedule runs, on a
    /// whole minute; `None` if it never runs within eight years.
    pub(crate) fn next_after(&self, after: i64) -> Option<i64> {
        let start = after.div_euclid(60) * 60 + 60;
        let first_day = start.div_euclid(86_400);
        for day in first_day..first_day + HORIZON_DAYS {
            if !self.runs_on(day) {
                continue;
            }
            let from = if day == first_day { start.rem_euclid(86_400) / 60 } else { 0 };
            for minute_of_day in from..24 * 60 {
                let (hour, minute) = (minute_of_day / 60, minute_of_day % 60);
                if bit(self.hours, hour) && bit(self.minutes, minute) {
                    return Some(day * 86_400 + minute_of_day * 60);
                }
            }
        }
        None
    }

    fn runs_on(&self, day: i64) -> bool {
        let (_, month, dom) = crate::time::civil_from_days(day);
        // 1970-01-01 was a Thursday.
        let weekday = (day + 4).rem_euclid(7);
        if !bit(self.months, i64::from(month)) {
            return false;
        }
        let (by_date, by_weekday) = (bit(self.days, i64::from(dom)), bit(self.weekdays, weekday));
        if self.either_day { by_date || by_weekday } else { by_date && by_weekday }
    }
}

fn bit(set: u64, n: i64) -> bool {
    (0..64).contains(&n) && set & (1 << n) != 0
}

fn parse_field(text: &str, field: &Field) -> Result<u64, String> {
    let mut set = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{}: invalid step {step:?}", field.name))?;
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (field.min, field.max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, field)?, value(b, field)?)
        } else {
            let v = value(range, field)?;
            // `5/10` means from 5 to the end in steps of 10, as in the standard cron.
            (v, if part.contains('/') { field.max } else { v })
        };
        if low > high {
            return Err(format!("{}: range {range:?} runs backwards", field.name));
        }
        for v in (low..=high).step_by(step as usize) {
            set |= 1 << v;
        }
    }
    Ok(set)
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    // Month names count from 1 (JAN), weekday names from 0 (SUN): the field's first value.
    let named = field.names.iter().position(|n| *n == upper).map(|i| i as u32 + field.min);
    let v = match named {
        Some(v) => v,
        None => text.parse().map_err(|_| format!("{}: invalid value {text:?}", field.name))?,
    };
    if v < field.min || v > field.max {
        return Err(format!("{}: {v} is out of range {}-{}", field.name, field.min, field.max));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC time.
    fn at(y: i64, m: u32, d: u32, hh: i64, mm: i64) -> i64 {
        crate::time::days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60
    }

    fn next(schedule: &str, after: i64) -> i64 {
        Schedule::parse(schedule).unwrap().next_after(after).unwrap()
    }

    #[test]
    fn every_minute_runs_on_the_next_minute() {
        let t = at(2026, 12, 2, 10, 15) + 30;
        assert_eq!(next("* * * * *", t), at(2026, 12, 2, 10, 16));
        assert_eq!(next("* * * * *", at(2026, 12, 2, 10, 15)), at(2026, 12, 2, 10, 16));
    }

    #[test]
    fn steps_ranges_lists_and_names() {
        let t = at(2026, 12, 2, 10, 16);
        assert_eq!(next("*/15 * * * *", t), at(2026, 12, 2, 10, 30));
        assert_eq!(next("5,50 9-17 * * *", t), at(2026, 12, 2, 10, 50));
        assert_eq!(next("0 0 1 jan *", t), at(2027, 1, 1, 0, 0));
        // 2026-12-02 is a Wednesday; the next Monday is the 7th.
        assert_eq!(next("30 8 * * MON", t), at(2026, 12, 7, 8, 30));
        assert_eq!(next("0 12 * * 7", t), at(2026, 12, 6, 12, 0));
        assert_eq!(next("0 12 * * 0", t), at(2026, 12, 6, 12, 0));
        assert_eq!(next("10/20 * * * *", t), at(2026, 12, 2, 10, 30));
        assert_eq!(next("@hourly", t), at(2026, 12, 2, 11, 0));
        assert_eq!(next("@daily", t), at(2026, 12, 3, 0, 0));
        assert_eq!(next("0 0 29 2 *", t), at(2028, 2, 29, 0, 0));
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 15th, or any Friday: Friday 2026-12-04 comes first.
        let t = at(2026, 12, 2, 10, 16);
        assert_eq!(next("0 0 15 * FRI", t), at(2026, 12, 4, 0, 0));
    }

    #[test]
    fn bad_schedules_are_refused_with_a_reason() {
        for (text, why) in [
            ("* * * *", "expected 5 fields"),
            ("60 * * * *", "minute: 60 is out of range"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day of week"),
            ("*/0 * * * *", "invalid step"),
            ("5-1 * * * *", "runs backwards"),
            ("x * * * *", "invalid value"),
            ("@every 5m", "unknown descriptor"),
        ] {
            let err = Schedule::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert!(Schedule::parse(&"* ".repeat(200)).unwrap_err().contains("at most"));
    }

    #[test]
    fn an_impossible_date_never_runs() {
        assert_eq!(Schedule::parse("0 0 30 2 *").unwrap().next_after(0), None);
    }
}
