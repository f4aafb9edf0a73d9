//! Properties of money and cost that must hold for every input.

use proptest::prelude::*;
use switchyard_catalog::{PriceTable, Prices, Usd};
use switchyard_plugin_sdk::Usage;

/// A per-token price up to $0.01 (the dearest in the catalog is under $0.001).
fn price() -> impl Strategy<Value = Usd> {
    (0i128..=10_000_000_000).prop_map(Usd::from_picos)
}

fn prices() -> impl Strategy<Value = Prices> {
    (
        proptest::option::of(price()),
        proptest::option::of(price()),
        proptest::option::of(price()),
        proptest::option::of(price()),
        proptest::option::of(price()),
    )
        .prop_map(|(i, o, r, w, z)| Prices {
            input_cost_per_token: i,
            output_cost_per_token: o,
            cache_read_input_token_cost: r,
            cache_creation_input_token_cost: w,
            output_cost_per_reasoning_token: z,
            ..Default::default()
        })
}

fn table() -> impl Strategy<Value = PriceTable> {
    prices().prop_filter_map("no price", PriceTable::new)
}

/// A usage as plugins report it: the parts within the totals.
fn usage() -> impl Strategy<Value = Usage> {
    (0u64..10_000_000, 0u64..10_000_000)
        .prop_flat_map(|(prompt, completion)| {
            (
                Just(prompt),
                Just(completion),
                0..=prompt,
                0..=completion,
                0.0f64..=1.0,
            )
        })
        .prop_map(|(prompt, completion, cached, reasoning, write_share)| {
            let cache_write = ((prompt - cached) as f64 * write_share) as u64;
            Usage {
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
                cached_tokens: cached,
                cache_write_tokens: cache_write.min(prompt - cached),
                reasoning_tokens: reasoning,
                ..Default::default()
            }
        })
}

/// Any usage, consistent or not, counts up to u64::MAX.
fn any_usage() -> impl Strategy<Value = Usage> {
    any::<[u64; 6]>().prop_map(|[p, c, t, r, w, z]| Usage {
        prompt_tokens: p,
        completion_tokens: c,
        total_tokens: t,
        cached_tokens: r,
        cache_write_tokens: w,
        reasoning_tokens: z,
        ..Default::default()
    })
}

fn add(a: &Usage, b: &Usage) -> Usage {
    Usage {
        prompt_tokens: a.prompt_tokens + b.prompt_tokens,
        completion_tokens: a.completion_tokens + b.completion_tokens,
        total_tokens: a.total_tokens + b.total_tokens,
        cached_tokens: a.cached_tokens + b.cached_tokens,
        cache_write_tokens: a.cache_write_tokens + b.cache_write_tokens,
        reasoning_tokens: a.reasoning_tokens + b.reasoning_tokens,
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn cost_is_additive(t in table(), a in usage(), b in usage()) {
        prop_assert_eq!(t.cost(&add(&a, &b)), t.cost(&a) + t.cost(&b));
        let (x, y, sum) = (t.cost_breakdown(&a), t.cost_breakdown(&b), t.cost_breakdown(&add(&a, &b)));
        prop_assert_eq!(sum.input, x.input + y.input);
        prop_assert_eq!(sum.output, x.output + y.output);
    }

    #[test]
    fn cost_is_never_negative_and_breaks_down_exactly(t in table(), u in any_usage()) {
        let cost = t.cost_breakdown(&u);
        prop_assert!(!cost.input.is_negative());
        prop_assert!(!cost.output.is_negative());
        prop_assert_eq!(cost.total(), t.cost(&u));
    }

    #[test]
    fn the_worst_case_bounds_the_cost(t in table(), u in usage()) {
        prop_assert!(t.cost(&u) <= t.worst_case(u.prompt_tokens, u.completion_tokens));
    }

    #[test]
    fn cost_grows_with_tokens(t in table(), u in usage(), more in 0u64..1_000) {
        let bigger = Usage { prompt_tokens: u.prompt_tokens + more, completion_tokens: u.completion_tokens + more, ..u };
        prop_assert!(t.cost(&bigger) >= t.cost(&u));
    }

    #[test]
    fn cost_is_the_sum_of_price_times_tokens(p in prices(), u in usage()) {
        let Some(t) = PriceTable::new(p) else { return Ok(()) };
        let input = p.input_cost_per_token.unwrap_or_default();
        let output = p.output_cost_per_token.unwrap_or_default();
        let picos = |usd: Usd| usd.as_picos();
        let expected = i128::from(u.prompt_tokens - u.cached_tokens - u.cache_write_tokens) * picos(input)
            + i128::from(u.cached_tokens) * picos(p.cache_read_input_token_cost.unwrap_or(input))
            + i128::from(u.cache_write_tokens) * picos(p.cache_creation_input_token_cost.unwrap_or(input))
            + i128::from(u.completion_tokens - u.reasoning_tokens) * picos(output)
            + i128::from(u.reasoning_tokens) * picos(p.output_cost_per_reasoning_token.unwrap_or(output));
        prop_assert_eq!(t.cost(&u).as_picos(), expected);
    }

    #[test]
    fn display_then_parse_is_the_identity(picos in any::<i128>()) {
        let usd = Usd::from_picos(picos);
        let text = usd.to_string();
        prop_assert_eq!(Usd::parse(&text), Ok(usd));
        prop_assert!(!text.contains('e'));
        prop_assert!(!text.ends_with('0') || !text.contains('.'), "trailing zero in {}", text);
        prop_assert!(!text.ends_with('.'));
    }

    #[test]
    fn scientific_notation_reads_the_same(mantissa in 0u64..1_000_000_000, exp in -20i32..=6) {
        // mantissa × 10^exp dollars, written two ways.
        let sci = format!("{mantissa}e{exp}");
        let plain = if exp >= 0 {
            format!("{mantissa}{}", "0".repeat(exp as usize))
        } else {
            let digits = format!("{mantissa:0>width$}", width = (-exp) as usize + 1);
            let (int, frac) = digits.split_at(digits.len() - (-exp) as usize);
            format!("{int}.{frac}")
        };
        prop_assert_eq!(Usd::parse(&sci), Usd::parse(&plain));
        // And 12 places or fewer are exact.
        if exp >= -12 {
            let picos = i128::from(mantissa) * 10i128.pow((exp + 12) as u32);
            prop_assert_eq!(Usd::parse(&sci).unwrap().as_picos(), picos);
        }
    }

    #[test]
    fn parse_rounds_to_the_nearest_picodollar(picos in 0i128..1_000_000_000_000_000, extra in 0u32..1000) {
        // picos + extra/1000 picodollars.
        let base = Usd::from_picos(picos).to_string();
        let frac = match base.split_once('.') {
            Some((_, f)) => format!("{f:0<12}"),
            None => "0".repeat(12),
        };
        let int = base.split('.').next().unwrap();
        let text = format!("{int}.{frac}{extra:03}");
        let expected = picos + i128::from(extra >= 500);
        prop_assert_eq!(Usd::parse(&text).unwrap().as_picos(), expected);
        prop_assert_eq!(Usd::parse(&format!("-{text}")).unwrap().as_picos(), -expected);
    }

    #[test]
    fn to_f64_reads_back_to_the_decimal(picos in -(1i128 << 53)..(1i128 << 53)) {
        let usd = Usd::from_picos(picos);
        let f = usd.to_f64();
        // The f64 is the one nearest to the exact decimal.
        prop_assert_eq!(f, usd.to_string().parse::<f64>().unwrap());
    }

    #[test]
    fn json_numbers_round_trip_up_to_fifteen_digits(picos in -999_999_999_999_999i128..=999_999_999_999_999) {
        let usd = Usd::from_picos(picos);
        let json = serde_json::to_string(&usd).unwrap();
        prop_assert_eq!(serde_json::from_str::<Usd>(&json).unwrap(), usd);
        prop_assert_eq!(serde_json::from_str::<Usd>(&format!("\"{usd}\"")).unwrap(), usd);
    }

    #[test]
    fn sums_are_exact(amounts in proptest::collection::vec(-1_000_000_000_000_000i128..1_000_000_000_000_000, 0..50)) {
        let total: Usd = amounts.iter().map(|&p| Usd::from_picos(p)).sum();
        prop_assert_eq!(total.as_picos(), amounts.iter().sum::<i128>());
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,40}") {
        let _ = Usd::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_number_like_text(text in "[-+]?[0-9]{0,45}(\\.[0-9]{0,45})?([eE][-+]?[0-9]{0,12})?") {
        let _ = Usd::parse(&text);
    }
}
