//! Money, budget windows and budgets that cannot be overspent.
//!
//! Money is an integer number of nano-dollars (1e-9 USD). A budget reserves a request's
//! worst-case cost before the upstream call and settles to the actual cost after it, so
//! concurrent requests cannot all pass a check against the same stale spend.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use switchyard_catalog::Usd;

/// Parses a decimal amount of dollars (`"5"`, `"0.01"`, `"2.5e-06"`) into nano-dollars, rounding
/// up (a price is never rounded down to free). `None` for negatives or nonsense.
pub(crate) fn nanos_from_decimal(text: &str) -> Option<i64> {
    Usd::parse(text)
        .ok()
        .filter(|usd| !usd.is_negative())
        .map(nanos_of)
}

/// An exact amount in nano-dollars, rounded up.
pub(crate) fn nanos_of(usd: Usd) -> i64 {
    let picos = usd.as_picos();
    i64::try_from(picos.div_euclid(1000) + i128::from(picos.rem_euclid(1000) != 0))
        .unwrap_or(i64::MAX)
}

/// Nano-dollars from a JSON number or string (the admin API's `max_budget: 5.0`).
pub(crate) fn nanos_from_json(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => nanos_from_decimal(&n.to_string()),
        serde_json::Value::String(s) => nanos_from_decimal(s),
        _ => None,
    }
}

fn as_usd(nanos: i64) -> Usd {
    Usd::from_picos(i128::from(nanos) * 1000)
}

/// Dollars as a JSON number, for display (LiteLLM's API shape). Never summed.
pub(crate) fn usd(nanos: i64) -> serde_json::Value {
    serde_json::Number::from_f64(as_usd(nanos).to_f64())
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

/// Dollars as exact decimal text (`0.000125`), for headers and logs.
pub(crate) fn usd_text(nanos: i64) -> String {
    as_usd(nanos).to_string()
}

/// A budget window (`budget_duration`): `30s`, `10m`, `1h`, `1d`, `7d`, `1w`, `30d`, `1mo`, ...
///
/// Windows start on UTC boundaries: seconds/minutes/hours on multiples of their length since
/// the Unix epoch, days at 00:00 UTC, weeks on Monday 00:00 UTC, months on the 1st at 00:00
/// UTC. The next reset is the start plus the length (calendar months for `mo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    Seconds(u64),
    Days(u64),
    Weeks(u64),
    Months(u32),
}

impl Window {
    pub(crate) fn parse(text: &str) -> Option<Window> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = text.split_at(split);
        let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
        Some(match unit {
            "s" => Window::Seconds(n),
            "m" => Window::Seconds(n.checked_mul(60)?),
            "h" => Window::Seconds(n.checked_mul(3600)?),
            "d" => Window::Days(n),
            "w" => Window::Weeks(n),
            "mo" => Window::Months(u32::try_from(n).ok()?),
            _ => return None,
        })
    }

    /// The window containing `now_ms` for a budget whose windows are aligned as described.
    pub(crate) fn start_of(self, now_ms: i64) -> i64 {
        let day = 86_400_000;
        match self {
            Window::Seconds(s) => {
                let len = (s as i64) * 1000;
                now_ms - now_ms.rem_euclid(len)
            }
            Window::Days(n) => {
                let len = n as i64 * day;
                now_ms - now_ms.rem_euclid(len)
            }
            Window::Weeks(n) => {
                // 1970-01-05 was a Monday.
                let monday = 4 * day;
                let len = n as i64 * 7 * day;
                now_ms - (now_ms - monday).rem_euclid(len)
            }
            Window::Months(n) => {
                let t = utc(now_ms);
                let index = t.year() as i64 * 12 + t.month0() as i64;
                let index = index - index.rem_euclid(n as i64);
                month_start(index)
            }
        }
    }

    /// When the window that starts at `start_ms` ends.
    pub(crate) fn end_of(self, start_ms: i64) -> i64 {
        match self {
            Window::Seconds(s) => start_ms + s as i64 * 1000,
            Window::Days(n) => start_ms + n as i64 * 86_400_000,
            Window::Weeks(n) => start_ms + n as i64 * 7 * 86_400_000,
            Window::Months(n) => {
                let t = utc(start_ms);
                month_start(t.year() as i64 * 12 + t.month0() as i64 + n as i64)
            }
        }
    }
}

fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Unix ms of the first day of month `index` (year × 12 + month0).
fn month_start(index: i64) -> i64 {
    let year = index.div_euclid(12) as i32;
    let month = index.rem_euclid(12) as u32 + 1;
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or(0)
}

/// RFC 3339 text of a Unix time in ms.
pub(crate) fn rfc3339(ms: i64) -> String {
    utc(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Spend and reservations of one key, user, team or deployment.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    spent: AtomicI64,
    reserved: AtomicI64,
    window_start: AtomicI64,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exhausted {
    pub(crate) spent: i64,
    pub(crate) max: i64,
    /// When the window resets, if the budget has one.
    pub(crate) resets_at: Option<i64>,
}

impl Budget {
    pub(crate) fn new(spent: i64, window_start: i64) -> Self {
        Budget {
            spent: AtomicI64::new(spent),
            reserved: AtomicI64::new(0),
            window_start: AtomicI64::new(window_start),
        }
    }

    pub(crate) fn spent(&self) -> i64 {
        self.spent.load(Ordering::Acquire)
    }

    pub(crate) fn window_start(&self) -> i64 {
        self.window_start.load(Ordering::Acquire)
    }

    /// Starts a new window when `now_ms` is past the current one; returns the new start if it
    /// rolled (the caller persists it).
    pub(crate) fn roll(&self, window: Option<Window>, now_ms: i64) -> Option<i64> {
        let window = window?;
        let start = self.window_start.load(Ordering::Acquire);
        if start != 0 && now_ms < window.end_of(start) {
            return None;
        }
        let new_start = window.start_of(now_ms);
        if new_start == start {
            return None;
        }
        self.window_start
            .compare_exchange(start, new_start, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        if start != 0 {
            self.spent.store(0, Ordering::Release);
        }
        Some(new_start)
    }

    /// Reserves `amount` if spend + reservations + amount stays within `max`.
    pub(crate) fn reserve(
        &self,
        amount: i64,
        max: Option<i64>,
        window: Option<Window>,
    ) -> Result<(), Exhausted> {
        let mut reserved = self.reserved.load(Ordering::Acquire);
        loop {
            let spent = self.spent.load(Ordering::Acquire);
            if let Some(max) = max {
                if spent.saturating_add(reserved).saturating_add(amount) > max
                    || (amount == 0 && spent >= max)
                {
                    return Err(Exhausted {
                        spent,
                        max,
                        resets_at: window.map(|w| w.end_of(self.window_start())),
                    });
                }
            }
            match self.reserved.compare_exchange_weak(
                reserved,
                reserved + amount,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => reserved = now,
            }
        }
    }

    /// Replaces a reservation by the actual cost. Spend is added before the reservation is
    /// released, so a concurrent check never sees less than the truth.
    pub(crate) fn settle(&self, reserved: i64, actual: i64) {
        self.spent.fetch_add(actual, Ordering::AcqRel);
        self.reserved.fetch_sub(reserved, Ordering::AcqRel);
    }

    /// Gives a reservation back (the request failed before any cost).
    pub(crate) fn release(&self, reserved: i64) {
        self.reserved.fetch_sub(reserved, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nano-dollars per dollar.
    const NANOS_PER_USD: i64 = 1_000_000_000;

    #[test]
    fn prices_parse_to_exact_picodollars() {
        let picos = |t: &str| Usd::parse(t).ok().map(Usd::as_picos);
        assert_eq!(picos("0.0000025"), Some(2_500_000));
        assert_eq!(picos("2.5e-06"), Some(2_500_000));
        assert_eq!(picos("0.0000000375"), Some(37_500));
        assert_eq!(picos("0"), Some(0));
        assert_eq!(picos("x"), None);
    }

    #[test]
    fn cost_counts_cache_and_reasoning_tokens_at_their_prices() {
        use switchyard_catalog::{PriceTable, Prices};
        use switchyard_plugin_sdk::Usage;
        let p = |t: &str| Some(Usd::parse(t).unwrap());
        let table = PriceTable::new(Prices {
            input_cost_per_token: p("0.000003"),              // $3 / M
            output_cost_per_token: p("0.000015"),             // $15 / M
            cache_read_input_token_cost: p("0.0000003"),      // $0.30 / M
            cache_creation_input_token_cost: p("0.00000375"), // $3.75 / M
            output_cost_per_reasoning_token: None,
            ..Default::default()
        })
        .unwrap();
        let usage = Usage {
            prompt_tokens: 1_000,
            completion_tokens: 200,
            cached_tokens: 400,
            cache_write_tokens: 100,
            reasoning_tokens: 50,
            ..Usage::default()
        };
        // 500 × 3 + 400 × 0.3 + 100 × 3.75 + 200 × 15 (µ$) = 1500 + 120 + 375 + 3000 = 4995 µ$
        assert_eq!(nanos_of(table.cost(&usage)), 4_995_000);
        assert_eq!(
            nanos_of(table.worst_case(1_000, 200)),
            3_750_000 + 3_000_000
        );
        assert!(
            PriceTable::new(Prices::default()).is_none(),
            "no prices: no cost"
        );
    }

    #[test]
    fn decimals_parse_exactly_and_round_up() {
        assert_eq!(nanos_from_decimal("5"), Some(5 * NANOS_PER_USD));
        assert_eq!(nanos_from_decimal("0.01"), Some(10_000_000));
        assert_eq!(nanos_from_decimal("2.5e-06"), Some(2_500));
        assert_eq!(nanos_from_decimal("1.5E-10"), Some(1), "rounded up");
        assert_eq!(nanos_from_decimal("0"), Some(0));
        assert_eq!(nanos_from_decimal("-1"), None);
        assert_eq!(nanos_from_decimal("abc"), None);
        assert_eq!(usd_text(19_000_000), "0.019");
        assert_eq!(usd_text(5 * NANOS_PER_USD), "5");
        assert_eq!(usd(10_000_000), serde_json::json!(0.01));
    }

    fn ms(y: i32, m: u32, d: u32, h: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn windows_align_to_utc_boundaries() {
        let now = ms(2026, 11, 25, 13);
        let day = Window::parse("1d").unwrap();
        assert_eq!(day.start_of(now), ms(2026, 11, 25, 0));
        assert_eq!(day.end_of(day.start_of(now)), ms(2026, 11, 26, 0));
        let month = Window::parse("1mo").unwrap();
        assert_eq!(month.start_of(now), ms(2026, 11, 1, 0));
        assert_eq!(month.end_of(ms(2026, 11, 1, 0)), ms(2026, 12, 1, 0));
        assert_eq!(month.end_of(ms(2026, 12, 1, 0)), ms(2027, 1, 1, 0));
        let week = Window::parse("1w").unwrap();
        assert_eq!(week.start_of(now), ms(2026, 11, 23, 0), "a Monday");
        assert_eq!(
            Window::parse("1h").unwrap().start_of(now + 59 * 60_000),
            now
        );
        assert_eq!(Window::parse("30x"), None);
        assert_eq!(Window::parse("0d"), None);
    }

    #[test]
    fn reservations_never_let_spend_pass_the_budget() {
        let b = Budget::new(0, 0);
        let max = Some(100);
        assert!(b.reserve(60, max, None).is_ok());
        assert!(b.reserve(60, max, None).is_err(), "60 + 60 > 100");
        b.settle(60, 30);
        assert!(b.reserve(60, max, None).is_ok(), "30 spent + 60");
        b.release(60);
        assert_eq!(b.spent(), 30);
        let e = b.reserve(80, max, None).unwrap_err();
        assert_eq!((e.spent, e.max), (30, 100));
    }

    #[test]
    fn a_monthly_budget_rolls_over_at_the_month_boundary() {
        let month = Window::parse("1mo");
        let b = Budget::new(0, 0);
        assert!(b.roll(month, ms(2026, 1, 31, 23)).is_some());
        b.settle(0, 100);
        assert!(b.reserve(1, Some(100), month).is_err());
        assert_eq!(b.roll(month, ms(2026, 1, 31, 23) + 3_599_999), None);
        assert_eq!(b.roll(month, ms(2026, 2, 1, 0)), Some(ms(2026, 2, 1, 0)));
        assert_eq!(b.spent(), 0);
        assert!(b.reserve(1, Some(100), month).is_ok());
    }
}
