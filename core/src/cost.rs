//! What a request costs, exactly: prices per token in pico-dollars (1e-12 USD, integers), costs
//! rounded up to nano-dollars. Prices come from the deployment's config
//! (`input_cost_per_token`, `output_cost_per_token`, `cache_read_input_token_cost`,
//! `cache_creation_input_token_cost`, `output_cost_per_reasoning_token`), else from the plugin's
//! catalog.

use switchyard_plugin_sdk::{ModelInfo, Usage};

/// Parses dollars per token (`"0.0000025"`, `"2.5e-06"`) into pico-dollars, rounding up.
pub(crate) fn picos_from_decimal(text: &str) -> Option<u64> {
    u64::try_from(crate::tenancy::budget::scaled_from_decimal(text, 12)?).ok()
}

/// Per-token prices of one deployment, pico-dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Prices {
    pub(crate) input: Option<u64>,
    pub(crate) output: Option<u64>,
    pub(crate) cache_read: Option<u64>,
    pub(crate) cache_write: Option<u64>,
    pub(crate) reasoning: Option<u64>,
}

impl Prices {
    /// Config values win, then the catalogs in order, price by price.
    pub(crate) fn resolve(
        config: &dyn Fn(&str) -> Option<String>,
        catalogs: &[&ModelInfo],
    ) -> Prices {
        let pick = |key: &str, field: fn(&ModelInfo) -> &Option<String>| {
            config(key)
                .or_else(|| catalogs.iter().find_map(|c| field(c).clone()))
                .and_then(|t| picos_from_decimal(&t))
        };
        Prices {
            input: pick("input_cost_per_token", |c| &c.input_cost_per_token),
            output: pick("output_cost_per_token", |c| &c.output_cost_per_token),
            cache_read: pick("cache_read_input_token_cost", |c| {
                &c.cache_read_input_token_cost
            }),
            cache_write: pick("cache_creation_input_token_cost", |c| {
                &c.cache_creation_input_token_cost
            }),
            reasoning: config("output_cost_per_reasoning_token")
                .and_then(|t| picos_from_decimal(&t)),
        }
    }

    /// The cost of `usage` in nano-dollars (rounded up). Prompt tokens include cached and
    /// cache-write tokens; completion tokens include reasoning tokens.
    pub(crate) fn cost_nanos(&self, usage: &Usage) -> i64 {
        let input = i128::from(self.input.unwrap_or(0));
        let output = i128::from(self.output.unwrap_or(0));
        let cached = usage.cached_tokens.min(usage.prompt_tokens);
        let written = usage
            .cache_write_tokens
            .min(usage.prompt_tokens.saturating_sub(cached));
        let plain_in = usage.prompt_tokens - cached - written;
        let reasoning = usage.reasoning_tokens.min(usage.completion_tokens);
        let plain_out = usage.completion_tokens - reasoning;
        let picos = i128::from(plain_in) * input
            + i128::from(cached) * self.cache_read.map_or(input, i128::from)
            + i128::from(written) * self.cache_write.map_or(input, i128::from)
            + i128::from(plain_out) * output
            + i128::from(reasoning) * self.reasoning.map_or(output, i128::from);
        i64::try_from((picos + 999) / 1000).unwrap_or(i64::MAX)
    }

    /// The most `prompt_tokens` in and `max_output` out can cost, nano-dollars.
    pub(crate) fn worst_case_nanos(&self, prompt_tokens: u64, max_output: u64) -> i64 {
        let max_in = [self.input, self.cache_write]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0);
        let max_out = [self.output, self.reasoning]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0);
        let picos = i128::from(prompt_tokens) * i128::from(max_in)
            + i128::from(max_output) * i128::from(max_out);
        i64::try_from((picos + 999) / 1000).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_to_exact_picodollars() {
        assert_eq!(picos_from_decimal("0.0000025"), Some(2_500_000));
        assert_eq!(picos_from_decimal("2.5e-06"), Some(2_500_000));
        assert_eq!(picos_from_decimal("0.0000000375"), Some(37_500));
        assert_eq!(picos_from_decimal("0"), Some(0));
        assert_eq!(picos_from_decimal("x"), None);
    }

    #[test]
    fn cost_counts_cache_and_reasoning_tokens_at_their_prices() {
        let p = Prices {
            input: Some(3_000_000),       // $3 / M
            output: Some(15_000_000),     // $15 / M
            cache_read: Some(300_000),    // $0.30 / M
            cache_write: Some(3_750_000), // $3.75 / M
            reasoning: None,
        };
        let usage = Usage {
            prompt_tokens: 1_000,
            completion_tokens: 200,
            cached_tokens: 400,
            cache_write_tokens: 100,
            reasoning_tokens: 50,
            ..Usage::default()
        };
        // 500 × 3 + 400 × 0.3 + 100 × 3.75 + 200 × 15 (µ$) = 1500 + 120 + 375 + 3000 = 4995 µ$
        assert_eq!(p.cost_nanos(&usage), 4_995_000);
        assert_eq!(p.worst_case_nanos(1_000, 200), 3_750_000 + 3_000_000);
        assert_eq!(Prices::default().cost_nanos(&usage), 0);
    }
}
