//! [`Usd`]: an exact amount of money.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Picodollars in one dollar.
const PICOS_PER_USD: u128 = 1_000_000_000_000;
/// Decimal places of a picodollar.
const SCALE: usize = 12;

/// An exact amount of US dollars: a whole number of picodollars (1e-12 USD) in an `i128`.
///
/// Why picodollars: every per-token price in the bundled catalog is a whole number of them (the
/// finest are written to 12 decimal places, `0.00000000013`), so prices, and costs made of
/// prices × token counts, are exact, where nano- or micro-dollars would round prices. Why `i128`:
/// u64 token counts × per-token prices cannot overflow it (the range is about ±1.7e26 USD), and
/// being signed it also holds differences (a reservation minus the settled cost).
///
/// Arithmetic never touches floats. The operators saturate at [`Usd::MIN`]/[`Usd::MAX`] instead
/// of panicking (unreachable with real prices); `checked_*` report overflow instead.
///
/// Text: [`Usd::parse`] reads decimals and scientific notation (`"0.0000025"`, `"2.5e-06"`);
/// [`Display`](fmt::Display) writes the plain decimal with trailing zeros trimmed (`0.019`,
/// `19`, `-0.5`), or rounded to a precision (`{:.2}`).
///
/// Serde: serialized as a JSON number, the way LiteLLM reports spend and cost, via
/// [`Usd::to_f64`] (exact for amounts of up to 15 significant digits; use
/// [`usd_string`](crate::usd_string) where every digit must survive). Deserialized from a number
/// or a decimal string; a string is exact, a non-integer number is read as its shortest
/// round-trip decimal (`0.019`, not the binary fraction behind it).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(i128);

/// Why a text is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseUsdError {
    /// Nothing (or only blanks) was given.
    #[error("an amount of money was expected, found nothing")]
    Empty,
    /// Not a decimal number (`"abc"`, `"1.2.3"`, `"NaN"`).
    #[error("not a decimal number: {0:?}")]
    Invalid(String),
    /// The amount is beyond ±1.7e26 USD.
    #[error("amount out of range: {0:?}")]
    OutOfRange(String),
}

impl Usd {
    /// Nothing.
    pub const ZERO: Usd = Usd(0);
    /// The largest amount (about 1.7e26 USD).
    pub const MAX: Usd = Usd(i128::MAX);
    /// The smallest (most negative) amount.
    pub const MIN: Usd = Usd(i128::MIN);
    /// One picodollar, the unit.
    pub const PICO: Usd = Usd(1);

    /// An amount of `picos` picodollars (1e-12 USD).
    pub const fn from_picos(picos: i128) -> Usd {
        Usd(picos)
    }

    /// The amount in picodollars.
    pub const fn as_picos(self) -> i128 {
        self.0
    }

    /// Whole dollars.
    pub const fn from_dollars(dollars: i64) -> Usd {
        Usd(dollars as i128 * PICOS_PER_USD as i128)
    }

    /// Reads a decimal amount of dollars: `"0.019"`, `"+3"`, `"-0.5"`, `".5"`, `"2.5e-06"`,
    /// `"1E3"`; blanks around it are ignored. Digits beyond the picodollar are rounded to the
    /// nearest picodollar, halves away from zero (float noise such as `"5.0000000000000004e-08"`
    /// becomes `0.00000005`).
    pub fn parse(text: &str) -> Result<Usd, ParseUsdError> {
        parse_decimal(text).map(|(usd, _)| usd)
    }

    /// The nearest `f64`, for display and for JSON numbers only: never add these up.
    pub fn to_f64(self) -> f64 {
        // Below 2^53 both operands are exact and IEEE division rounds once: the nearest f64.
        if self.0.unsigned_abs() < 1 << 53 {
            self.0 as f64 / PICOS_PER_USD as f64
        } else {
            self.to_string().parse().unwrap_or(f64::NAN)
        }
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// `self + other`, `None` on overflow.
    pub const fn checked_add(self, other: Usd) -> Option<Usd> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Usd(v)),
            None => None,
        }
    }

    /// `self - other`, `None` on overflow.
    pub const fn checked_sub(self, other: Usd) -> Option<Usd> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Usd(v)),
            None => None,
        }
    }

    /// `self × count` (a price times a number of tokens), `None` on overflow.
    pub const fn checked_mul(self, count: u64) -> Option<Usd> {
        match self.0.checked_mul(count as i128) {
            Some(v) => Some(Usd(v)),
            None => None,
        }
    }
}

impl Add for Usd {
    type Output = Usd;
    fn add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, other: Usd) {
        *self = *self + other;
    }
}

impl Sub for Usd {
    type Output = Usd;
    fn sub(self, other: Usd) -> Usd {
        Usd(self.0.saturating_sub(other.0))
    }
}

impl SubAssign for Usd {
    fn sub_assign(&mut self, other: Usd) {
        *self = *self - other;
    }
}

impl Neg for Usd {
    type Output = Usd;
    fn neg(self) -> Usd {
        Usd(self.0.saturating_neg())
    }
}

/// A price times a number of tokens.
impl Mul<u64> for Usd {
    type Output = Usd;
    fn mul(self, count: u64) -> Usd {
        Usd(self.0.saturating_mul(i128::from(count)))
    }
}

impl Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, Add::add)
    }
}

impl<'a> Sum<&'a Usd> for Usd {
    fn sum<I: Iterator<Item = &'a Usd>>(iter: I) -> Usd {
        iter.copied().sum()
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut magnitude = self.0.unsigned_abs();
        let mut digits = SCALE;
        if let Some(precision) = f.precision() {
            if precision < SCALE {
                // Round to `precision` places, halves away from zero.
                let unit = 10u128.pow((SCALE - precision) as u32);
                magnitude = magnitude / unit * unit
                    + if magnitude % unit >= unit / 2 {
                        unit
                    } else {
                        0
                    };
                digits = precision;
            }
        }
        // Built on the stack: a priced answer's cost header is formatted on every request.
        let int = magnitude / PICOS_PER_USD;
        // SCALE digits with leading zeros: one more digit, 1, added and skipped.
        let mut frac_text = itoa::Buffer::new();
        let frac_digits = &frac_text.format(PICOS_PER_USD + magnitude % PICOS_PER_USD)[1..];
        let frac = match f.precision() {
            Some(_) => &frac_digits[..digits],
            None => frac_digits.trim_end_matches('0'),
        };
        // 39 integer digits at most (u128), a point and the fraction.
        let mut text = [0u8; 64];
        let mut int_digits = itoa::Buffer::new();
        let int = int_digits.format(int).as_bytes();
        text[..int.len()].copy_from_slice(int);
        let mut len = int.len();
        if !frac.is_empty() {
            text[len] = b'.';
            text[len + 1..len + 1 + frac.len()].copy_from_slice(frac.as_bytes());
            len += 1 + frac.len();
        }
        let text = std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?;
        let padded;
        let text = match f.precision() {
            // Zeros beyond the scale: rare enough to allocate.
            Some(precision) if precision > SCALE => {
                padded = format!("{text}{}", "0".repeat(precision - SCALE));
                padded.as_str()
            }
            _ => text,
        };
        f.pad_integral(self.0 >= 0 || magnitude == 0, "", text)
    }
}

impl fmt::Debug for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Usd({self})")
    }
}

impl FromStr for Usd {
    type Err = ParseUsdError;
    fn from_str(text: &str) -> Result<Usd, ParseUsdError> {
        Usd::parse(text)
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.to_f64())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Usd, D::Error> {
        deserializer.deserialize_any(UsdVisitor)
    }
}

struct UsdVisitor;

impl Visitor<'_> for UsdVisitor {
    type Value = Usd;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount of US dollars (a number or a decimal string)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Usd, E> {
        Usd::parse(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Usd, E> {
        Ok(Usd::from_dollars(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Usd, E> {
        Ok(Usd(i128::from(v) * PICOS_PER_USD as i128))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Usd, E> {
        v.checked_mul(PICOS_PER_USD as i128)
            .map(Usd)
            .ok_or_else(|| E::custom(ParseUsdError::OutOfRange(v.to_string())))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Usd, E> {
        i128::try_from(v)
            .ok()
            .and_then(|v| v.checked_mul(PICOS_PER_USD as i128))
            .map(Usd)
            .ok_or_else(|| E::custom(ParseUsdError::OutOfRange(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Usd, E> {
        if !v.is_finite() {
            return Err(E::custom(ParseUsdError::Invalid(v.to_string())));
        }
        // `{}` writes the shortest decimal that reads back as `v`: what the JSON said.
        Usd::parse(&v.to_string()).map_err(E::custom)
    }
}

/// Serde as an exact decimal string (`"0.019"`), for `#[serde(with = "usd_string")]` where
/// every picodollar must survive (a JSON number goes through `f64`). Reads numbers too.
pub mod usd_string {
    use super::Usd;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the amount as its decimal text.
    pub fn serialize<S: Serializer>(usd: &Usd, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(usd)
    }

    /// Reads a decimal string or a number.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Usd, D::Error> {
        Usd::deserialize(deserializer)
    }
}

/// Parses a decimal; the flag says whether digits beyond the picodollar were rounded away.
pub(crate) fn parse_decimal(text: &str) -> Result<(Usd, bool), ParseUsdError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(ParseUsdError::Empty);
    }
    let invalid = || ParseUsdError::Invalid(shorten(text));
    let out_of_range = || ParseUsdError::OutOfRange(shorten(text));
    let (negative, unsigned) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (
            &unsigned[..i],
            parse_exponent(&unsigned[i + 1..]).ok_or_else(invalid)?,
        ),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    // The significant digits, and the power of ten that turns them into picodollars.
    let digits: Vec<u8> = int
        .bytes()
        .chain(frac.bytes())
        .skip_while(|&b| b == b'0')
        .map(|b| b - b'0')
        .collect();
    let shift = exponent - frac.len() as i64 + SCALE as i64;
    if digits.is_empty() {
        return Ok((Usd::ZERO, false));
    }
    // Digits that land at or above the picodollar; the rest is rounded.
    let kept = (digits.len() as i64 + shift.min(0)).max(0) as usize;
    let mut magnitude: u128 = 0;
    for &d in &digits[..kept] {
        magnitude = magnitude
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(d)))
            .ok_or_else(out_of_range)?;
    }
    let mut inexact = false;
    if shift > 0 {
        let factor = u32::try_from(shift)
            .ok()
            .and_then(|s| 10u128.checked_pow(s))
            .ok_or_else(out_of_range)?;
        magnitude = magnitude.checked_mul(factor).ok_or_else(out_of_range)?;
    } else if kept < digits.len() {
        inexact = true;
        // Round half away from zero: the first dropped digit decides.
        let dropped_first = if digits.len() as i64 + shift < 0 {
            0
        } else {
            digits[kept]
        };
        if dropped_first >= 5 {
            magnitude = magnitude.checked_add(1).ok_or_else(out_of_range)?;
        }
    }
    let picos = if negative {
        0i128.checked_sub_unsigned(magnitude)
    } else {
        i128::try_from(magnitude).ok()
    };
    Ok((Usd(picos.ok_or_else(out_of_range)?), inexact))
}

/// An exponent (`-06`, `+3`, `10`), clamped far outside any meaningful range.
fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = digits.bytes().fold(0i64, |acc, b| {
        (acc * 10 + i64::from(b - b'0')).min(1_000_000)
    });
    Some(if negative { -value } else { value })
}

/// The text for an error message, cut short.
fn shorten(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> i128 {
        Usd::parse(text).unwrap().as_picos()
    }

    #[test]
    fn parses_decimals_and_scientific_notation_exactly() {
        assert_eq!(p("0.0000025"), 2_500_000);
        assert_eq!(p("2.5e-06"), 2_500_000);
        assert_eq!(p("2.5E-6"), 2_500_000);
        assert_eq!(p("1e-05"), 10_000_000);
        assert_eq!(p("0.00000000013"), 130);
        assert_eq!(p("1.3e-10"), 130);
        assert_eq!(p("0.019"), 19_000_000_000);
        assert_eq!(p("19"), 19_000_000_000_000);
        assert_eq!(p("+3"), 3_000_000_000_000);
        assert_eq!(p("-0.5"), -500_000_000_000);
        assert_eq!(p(".5"), 500_000_000_000);
        assert_eq!(p("5."), 5_000_000_000_000);
        assert_eq!(p("1E3"), 1_000_000_000_000_000);
        assert_eq!(p("1e+3"), 1_000_000_000_000_000);
        assert_eq!(p("  0.001 "), 1_000_000_000);
        assert_eq!(p("0"), 0);
        assert_eq!(p("-0"), 0);
        assert_eq!(p("0.0"), 0);
        assert_eq!(p("0e999999999999"), 0);
        assert_eq!(p("000123.4500"), 123_450_000_000_000);
        assert_eq!(p("0.000000000001"), 1);
    }

    #[test]
    fn digits_beyond_the_picodollar_round_to_the_nearest() {
        // Float noise in the source catalog.
        assert_eq!(p("5.0000000000000004E-8"), 50_000);
        assert_eq!(p("0.000015000020000000002"), 15_000_020);
        assert_eq!(p("3.0001999999999996E-7"), 300_020);
        assert_eq!(p("0.019000000000000003"), 19_000_000_000);
        // Halves go away from zero.
        assert_eq!(p("0.0000000000005"), 1);
        assert_eq!(p("0.00000000000049999"), 0);
        assert_eq!(p("-0.0000000000005"), -1);
        assert_eq!(p("0.0000000000015"), 2);
        assert_eq!(p("5e-13"), 1);
        assert_eq!(p("4e-13"), 0);
        assert_eq!(p("9e-14"), 0);
        assert_eq!(p("1e-400"), 0);
        assert!(!parse_decimal("2.5e-06").unwrap().1);
        assert!(parse_decimal("5.0000000000000004E-8").unwrap().1);
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for bad in [
            "abc", "1.2.3", "NaN", "inf", "e5", "1e", "1e+", "-", "+", ".", "1_000", "$1", "1 000",
            "0x10", "--1",
        ] {
            assert!(
                matches!(Usd::parse(bad), Err(ParseUsdError::Invalid(_))),
                "{bad:?} was accepted"
            );
        }
        assert_eq!(Usd::parse(""), Err(ParseUsdError::Empty));
        assert_eq!(Usd::parse("  "), Err(ParseUsdError::Empty));
        for huge in [
            "1e30",
            "1e1000000000",
            "170141183460469231731687303.715884105728",
        ] {
            assert!(
                matches!(Usd::parse(huge), Err(ParseUsdError::OutOfRange(_))),
                "{huge:?} was accepted"
            );
        }
        assert!(Usd::parse("1e26").is_ok());
    }

    #[test]
    fn the_extremes_read_back() {
        assert_eq!(Usd::parse(&Usd::MAX.to_string()), Ok(Usd::MAX));
        assert_eq!(Usd::parse(&Usd::MIN.to_string()), Ok(Usd::MIN));
        assert_eq!(
            Usd::MAX.to_string(),
            "170141183460469231731687303.715884105727"
        );
    }

    #[test]
    fn displays_plain_decimals_with_trailing_zeros_trimmed() {
        let show = |picos: i128| Usd::from_picos(picos).to_string();
        assert_eq!(show(0), "0");
        assert_eq!(show(19_000_000_000), "0.019");
        assert_eq!(show(19_000_000_000_000), "19");
        assert_eq!(show(4_350_000), "0.00000435");
        assert_eq!(show(1), "0.000000000001");
        assert_eq!(show(-500_000_000_000), "-0.5");
        assert_eq!(show(1_234_500_000_000_000), "1234.5");
        assert_eq!(
            format!("{:?}", Usd::from_picos(4_350_000)),
            "Usd(0.00000435)"
        );
        assert_eq!(format!("{:>8}", Usd::from_dollars(2)), "       2");
    }

    #[test]
    fn displays_a_precision_rounded_half_away_from_zero() {
        let usd = |t: &str| Usd::parse(t).unwrap();
        assert_eq!(format!("{:.2}", usd("0.019")), "0.02");
        assert_eq!(format!("{:.2}", usd("0.005")), "0.01");
        assert_eq!(format!("{:.2}", usd("0.00499")), "0.00");
        assert_eq!(format!("{:.2}", usd("-0.005")), "-0.01");
        assert_eq!(format!("{:.2}", usd("-0.001")), "0.00");
        assert_eq!(format!("{:.0}", usd("2.5")), "3");
        assert_eq!(format!("{:.2}", usd("9.999")), "10.00");
        assert_eq!(format!("{:.4}", usd("19")), "19.0000");
        assert_eq!(format!("{:.14}", usd("0.5")), "0.50000000000000");
    }

    #[test]
    fn arithmetic_is_exact_and_saturates_instead_of_panicking() {
        let price = Usd::parse("0.0000025").unwrap();
        assert_eq!(price * 1_000_000, Usd::parse("2.5").unwrap());
        assert_eq!(price * 3 + price * 7, price * 10);
        assert_eq!(
            Usd::parse("0.1").unwrap() + Usd::parse("0.2").unwrap(),
            Usd::parse("0.3").unwrap()
        );
        let mut total = Usd::ZERO;
        for _ in 0..10 {
            total += Usd::parse("0.1").unwrap();
        }
        assert_eq!(total, Usd::from_dollars(1));
        total -= Usd::parse("0.25").unwrap();
        assert_eq!(total.to_string(), "0.75");
        assert_eq!(-total, Usd::parse("-0.75").unwrap());
        assert_eq!([price, price].iter().sum::<Usd>(), price * 2);
        assert_eq!(Usd::MAX + Usd::PICO, Usd::MAX);
        assert_eq!(Usd::MIN - Usd::PICO, Usd::MIN);
        assert_eq!(Usd::MAX * 2, Usd::MAX);
        assert_eq!(-Usd::MIN, Usd::MAX);
        assert_eq!(Usd::MAX.checked_add(Usd::PICO), None);
        assert_eq!(Usd::MIN.checked_sub(Usd::PICO), None);
        assert_eq!(Usd::MAX.checked_mul(2), None);
        assert_eq!(
            price.checked_mul(u64::MAX),
            Some(Usd::from_picos(2_500_000 * i128::from(u64::MAX)))
        );
        assert!(Usd::ZERO.is_zero() && !Usd::PICO.is_zero());
        assert!((-Usd::PICO).is_negative() && !Usd::ZERO.is_negative());
    }

    #[test]
    fn to_f64_is_the_nearest_float() {
        assert_eq!(Usd::parse("0.019").unwrap().to_f64(), 0.019);
        assert_eq!(Usd::parse("4.35e-06").unwrap().to_f64(), 4.35e-06);
        assert_eq!(Usd::parse("-1234.5").unwrap().to_f64(), -1234.5);
        assert_eq!(Usd::from_dollars(10_000_000).to_f64(), 1e7);
        assert_eq!(
            Usd::parse("123456789.123456789012").unwrap().to_f64(),
            "123456789.123456789012".parse::<f64>().unwrap()
        );
        assert_eq!(Usd::MAX.to_f64(), 1.7014118346046923e26);
    }

    #[test]
    fn serde_writes_numbers_and_reads_numbers_and_strings() {
        let usd = Usd::parse("0.019").unwrap();
        assert_eq!(serde_json::to_string(&usd).unwrap(), "0.019");
        assert_eq!(
            serde_json::to_string(&Usd::parse("4.35e-6").unwrap()).unwrap(),
            "4.35e-6"
        );
        assert_eq!(serde_json::to_string(&Usd::ZERO).unwrap(), "0.0");
        assert_eq!(serde_json::from_str::<Usd>("0.019").unwrap(), usd);
        assert_eq!(serde_json::from_str::<Usd>("\"0.019\"").unwrap(), usd);
        assert_eq!(
            serde_json::from_str::<Usd>("2.5e-06").unwrap(),
            Usd::from_picos(2_500_000)
        );
        assert_eq!(
            serde_json::from_str::<Usd>("5").unwrap(),
            Usd::from_dollars(5)
        );
        assert_eq!(
            serde_json::from_str::<Usd>("-5").unwrap(),
            Usd::from_dollars(-5)
        );
        assert_eq!(
            serde_json::from_str::<Usd>("0.1").unwrap()
                + serde_json::from_str::<Usd>("0.2").unwrap(),
            Usd::parse("0.3").unwrap()
        );
        assert!(serde_json::from_str::<Usd>("\"x\"").is_err());
        assert!(serde_json::from_str::<Usd>("true").is_err());
        assert!(serde_json::from_str::<Usd>("null").is_err());

        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Exact {
            #[serde(with = "usd_string")]
            spend: Usd,
        }
        let exact = Exact {
            spend: Usd::parse("1234567.123456789012").unwrap(),
        };
        let text = serde_json::to_string(&exact).unwrap();
        assert_eq!(text, r#"{"spend":"1234567.123456789012"}"#);
        assert_eq!(serde_json::from_str::<Exact>(&text).unwrap(), exact);
        assert_eq!(
            serde_json::from_str::<Exact>(r#"{"spend":0.5}"#)
                .unwrap()
                .spend,
            Usd::parse("0.5").unwrap()
        );
    }
}
