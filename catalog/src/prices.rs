//! Per-token prices, their layers, and what a request costs.

use serde_json::Value;
use switchyard_plugin_sdk::{ModelInfo, Usage};

use crate::bundled;
use crate::usd::Usd;

/// The per-token prices the gateway charges by, each in US dollars per token, each `None` when
/// unknown. Field names are LiteLLM's config keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prices {
    /// A prompt token.
    pub input_cost_per_token: Option<Usd>,
    /// A completion token.
    pub output_cost_per_token: Option<Usd>,
    /// A prompt token read from the provider's cache.
    pub cache_read_input_token_cost: Option<Usd>,
    /// A prompt token written to the provider's cache.
    pub cache_creation_input_token_cost: Option<Usd>,
    /// A completion token spent on reasoning.
    pub output_cost_per_reasoning_token: Option<Usd>,
    /// A query (a rerank request's search unit).
    pub input_cost_per_query: Option<Usd>,
    /// A second of transcribed audio.
    pub input_cost_per_second: Option<Usd>,
    /// A character turned into speech.
    pub input_cost_per_character: Option<Usd>,
    /// A generated image.
    pub output_cost_per_image: Option<Usd>,
}

impl Prices {
    /// The config keys, in field order.
    pub const KEYS: [&'static str; 9] = [
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "output_cost_per_reasoning_token",
        "input_cost_per_query",
        "input_cost_per_second",
        "input_cost_per_character",
        "output_cost_per_image",
    ];

    /// Price by price: `self`'s where it has one, else `fallback`'s.
    #[must_use]
    pub fn or(self, fallback: Prices) -> Prices {
        Prices {
            input_cost_per_token: self.input_cost_per_token.or(fallback.input_cost_per_token),
            output_cost_per_token: self
                .output_cost_per_token
                .or(fallback.output_cost_per_token),
            cache_read_input_token_cost: self
                .cache_read_input_token_cost
                .or(fallback.cache_read_input_token_cost),
            cache_creation_input_token_cost: self
                .cache_creation_input_token_cost
                .or(fallback.cache_creation_input_token_cost),
            output_cost_per_reasoning_token: self
                .output_cost_per_reasoning_token
                .or(fallback.output_cost_per_reasoning_token),
            input_cost_per_query: self.input_cost_per_query.or(fallback.input_cost_per_query),
            input_cost_per_second: self
                .input_cost_per_second
                .or(fallback.input_cost_per_second),
            input_cost_per_character: self
                .input_cost_per_character
                .or(fallback.input_cost_per_character),
            output_cost_per_image: self
                .output_cost_per_image
                .or(fallback.output_cost_per_image),
        }
    }

    /// Whether no price is known.
    pub fn is_empty(&self) -> bool {
        *self == Prices::default()
    }

    /// The prices of a plugin's model entry. A price the plugin wrote that is not a
    /// non-negative decimal is left out (the next layer gives it).
    pub fn from_model_info(info: &ModelInfo) -> Prices {
        let read = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| Usd::parse(t).ok())
                .filter(|usd| !usd.is_negative())
        };
        Prices {
            input_cost_per_token: read(&info.input_cost_per_token),
            output_cost_per_token: read(&info.output_cost_per_token),
            cache_read_input_token_cost: read(&info.cache_read_input_token_cost),
            cache_creation_input_token_cost: read(&info.cache_creation_input_token_cost),
            ..Prices::default()
        }
    }

    fn slot(&mut self, key: &str) -> Option<&mut Option<Usd>> {
        Some(match key {
            "input_cost_per_token" => &mut self.input_cost_per_token,
            "output_cost_per_token" => &mut self.output_cost_per_token,
            "cache_read_input_token_cost" => &mut self.cache_read_input_token_cost,
            "cache_creation_input_token_cost" => &mut self.cache_creation_input_token_cost,
            "output_cost_per_reasoning_token" => &mut self.output_cost_per_reasoning_token,
            "input_cost_per_query" => &mut self.input_cost_per_query,
            "input_cost_per_second" => &mut self.input_cost_per_second,
            "input_cost_per_character" => &mut self.input_cost_per_character,
            "output_cost_per_image" => &mut self.output_cost_per_image,
            _ => return None,
        })
    }
}

/// What a deployment's config says about its model: custom prices, limits, and the catalog
/// entry to price it as (`base_model`, LiteLLM's way to price an Azure deployment whose name is
/// not a model id). The top layer of a [`PriceTable`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub prices: Prices,
    /// `max_input_tokens`.
    pub max_input_tokens: Option<u64>,
    /// `max_output_tokens`.
    pub max_output_tokens: Option<u64>,
    /// `base_model` (`azure/gpt-4o`, `gpt-4o`): look this up in the bundled catalog instead of
    /// the deployment's model.
    pub base_model: Option<String>,
}

/// A config value the catalog cannot use, naming its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct OverrideError {
    /// The key (`input_cost_per_token`).
    pub key: String,
    pub message: String,
}

impl Overrides {
    /// The keys this reads: the prices, the two limits and `base_model`.
    pub const KEYS: [&'static str; 12] = [
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "output_cost_per_reasoning_token",
        "input_cost_per_query",
        "input_cost_per_second",
        "input_cost_per_character",
        "output_cost_per_image",
        "max_input_tokens",
        "max_output_tokens",
        "base_model",
    ];

    /// Reads the keys it knows from a `litellm_params` or `model_info` map and ignores the
    /// others. Prices are numbers or decimal strings (`0.000002`, `"2e-06"`), non-negative;
    /// limits are whole numbers; `null` is the same as absent.
    ///
    /// LiteLLM takes these in both places; to let `litellm_params` win:
    /// `Overrides::from_params(&params)?.or(Overrides::from_params(&model_info)?)`.
    pub fn from_params<'a, I>(params: I) -> Result<Overrides, OverrideError>
    where
        I: IntoIterator<Item = (&'a String, &'a Value)>,
    {
        let mut overrides = Overrides::default();
        for (key, value) in params {
            overrides.apply(key, value)?;
        }
        Ok(overrides)
    }

    /// Sets one key; `Ok(false)` when the key is not one of [`Overrides::KEYS`].
    pub fn apply(&mut self, key: &str, value: &Value) -> Result<bool, OverrideError> {
        let error = |message: String| OverrideError {
            key: key.to_owned(),
            message,
        };
        if let Some(slot) = self.prices.slot(key) {
            *slot = match value {
                Value::Null => None,
                Value::Number(_) | Value::String(_) => {
                    let usd = <Usd as serde::Deserialize>::deserialize(value)
                        .map_err(|e| error(format!("not a price in US dollars: {e}")))?;
                    if usd.is_negative() {
                        return Err(error(format!("a price cannot be negative ({usd})")));
                    }
                    Some(usd)
                }
                other => {
                    return Err(error(format!(
                        "a price in US dollars (a number) was expected, found {other}"
                    )))
                }
            };
            return Ok(true);
        }
        let limit = match key {
            "max_input_tokens" => &mut self.max_input_tokens,
            "max_output_tokens" => &mut self.max_output_tokens,
            "base_model" => {
                self.base_model = match value {
                    Value::Null => None,
                    Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                    other => {
                        return Err(error(format!("a model name was expected, found {other}")))
                    }
                };
                return Ok(true);
            }
            _ => return Ok(false),
        };
        *limit = match value {
            Value::Null => None,
            Value::Number(n) => Some(
                n.as_u64()
                    .or_else(|| {
                        n.as_f64()
                            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
                            .map(|f| f as u64)
                    })
                    .ok_or_else(|| {
                        error(format!("a whole number of tokens was expected, found {n}"))
                    })?,
            ),
            Value::String(s) => Some(s.trim().parse::<u64>().map_err(|_| {
                error(format!(
                    "a whole number of tokens was expected, found {s:?}"
                ))
            })?),
            other => {
                return Err(error(format!(
                    "a whole number of tokens was expected, found {other}"
                )))
            }
        };
        Ok(true)
    }

    /// Key by key: `self`'s where it has one, else `fallback`'s.
    #[must_use]
    pub fn or(self, fallback: Overrides) -> Overrides {
        Overrides {
            prices: self.prices.or(fallback.prices),
            max_input_tokens: self.max_input_tokens.or(fallback.max_input_tokens),
            max_output_tokens: self.max_output_tokens.or(fallback.max_output_tokens),
            base_model: self.base_model.or(fallback.base_model),
        }
    }
}

/// What a request cost, split as LiteLLM's `x-litellm-response-cost-input`/`-output` headers
/// split it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Prompt tokens: uncached, cache reads and cache writes.
    pub input: Usd,
    /// Completion tokens: answer and reasoning.
    pub output: Usd,
}

impl Cost {
    /// Input plus output.
    pub fn total(&self) -> Usd {
        self.input + self.output
    }
}

/// The prices of one deployment, resolved once (at config load) from its layers and then used
/// for every request: [`PriceTable::cost`] neither allocates nor fails.
///
/// Every price is settled at construction: a cache-read or cache-write price nobody gives is the
/// input price, a reasoning price nobody gives is the output price, and an input or output price
/// nobody gives is zero (an embedding model's output).
///
/// ```
/// use switchyard_catalog::{Overrides, PriceTable, Usd};
/// use switchyard_plugin_sdk::Usage;
///
/// // Bundled catalog: gpt-4o-mini at $0.15 / $0.60 per million tokens, cache reads $0.075.
/// let table = PriceTable::resolve("openai", "gpt-4o-mini", &Overrides::default(), None).unwrap();
/// let usage = Usage {
///     prompt_tokens: 1_000, // of which 400 were read from the cache
///     cached_tokens: 400,
///     completion_tokens: 200,
///     ..Usage::default()
/// };
/// // 600 × 0.00000015 + 400 × 0.000000075 + 200 × 0.0000006
/// assert_eq!(table.cost(&usage), Usd::parse("0.00024").unwrap());
/// assert_eq!(table.cost(&usage).to_string(), "0.00024");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceTable {
    input: Usd,
    output: Usd,
    cache_read: Usd,
    cache_write: Usd,
    reasoning: Usd,
    per_query: Usd,
    per_second: Usd,
    per_character: Usd,
    per_image: Usd,
    max_input_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
    catalog_key: Option<&'static str>,
}

impl PriceTable {
    /// The price table of a deployment of `model` on `provider` (`"openai"`, `"gpt-4o"`: the two
    /// halves of `litellm_params.model`), layer by layer and price by price: the config's
    /// `overrides`, then the plugin's entry for the model (`plugin`, from its metadata), then the
    /// bundled catalog (found by [`bundled::lookup`], or by `overrides.base_model`).
    ///
    /// `None` when no layer knows any price: the cost of the deployment's requests is unknown
    /// (LiteLLM then reports none).
    pub fn resolve(
        provider: &str,
        model: &str,
        overrides: &Overrides,
        plugin: Option<&ModelInfo>,
    ) -> Option<PriceTable> {
        let entry = match &overrides.base_model {
            Some(base) => bundled::lookup_base_model(provider, base),
            None => bundled::lookup(provider, model),
        };
        let plugin_prices = plugin.map(Prices::from_model_info).unwrap_or_default();
        let bundled_prices = entry.map(|e| *e.prices()).unwrap_or_default();
        let mut table = PriceTable::new(overrides.prices.or(plugin_prices).or(bundled_prices))?;
        table.max_input_tokens = overrides
            .max_input_tokens
            .or(plugin.and_then(|p| p.context_window))
            .or(entry.and_then(|e| e.max_input_tokens()));
        table.max_output_tokens = overrides
            .max_output_tokens
            .or(plugin.and_then(|p| p.max_output_tokens))
            .or(entry.and_then(|e| e.max_output_tokens()));
        table.catalog_key = entry.map(|e| e.key());
        Some(table)
    }

    /// A table of these prices alone (no limits, no catalog); `None` when none is known.
    pub fn new(prices: Prices) -> Option<PriceTable> {
        if prices.is_empty() {
            return None;
        }
        let input = prices.input_cost_per_token.unwrap_or_default();
        let output = prices.output_cost_per_token.unwrap_or_default();
        Some(PriceTable {
            input,
            output,
            cache_read: prices.cache_read_input_token_cost.unwrap_or(input),
            cache_write: prices.cache_creation_input_token_cost.unwrap_or(input),
            reasoning: prices.output_cost_per_reasoning_token.unwrap_or(output),
            per_query: prices.input_cost_per_query.unwrap_or_default(),
            per_second: prices.input_cost_per_second.unwrap_or_default(),
            per_character: prices.input_cost_per_character.unwrap_or_default(),
            per_image: prices.output_cost_per_image.unwrap_or_default(),
            max_input_tokens: None,
            max_output_tokens: None,
            catalog_key: None,
        })
    }

    /// What `usage` costs. Prompt tokens include the cached and cache-write ones, completion
    /// tokens the reasoning ones (OpenAI's convention, which plugins normalize to):
    ///
    /// - input = (prompt − cached − cache_write) × input + cached × cache read
    ///   + cache_write × cache creation;
    /// - output = (completion − reasoning) × output + reasoning × reasoning price.
    ///
    /// Should a plugin report more cached/cache-write tokens than prompt tokens (or more
    /// reasoning than completion tokens), the parts are charged as reported and the remainder
    /// counts as zero, never negative. Only `Usage` is read, so a stream and the same request
    /// without one cost the same.
    pub fn cost(&self, usage: &Usage) -> Usd {
        self.cost_breakdown(usage).total()
    }

    /// [`PriceTable::cost`], split into input and output.
    pub fn cost_breakdown(&self, usage: &Usage) -> Cost {
        let uncached = usage
            .prompt_tokens
            .saturating_sub(usage.cached_tokens)
            .saturating_sub(usage.cache_write_tokens);
        let answer = usage
            .completion_tokens
            .saturating_sub(usage.reasoning_tokens);
        // Audio is billed by the second, reported in milliseconds: rounded up to the
        // picodollar so a short clip never costs nothing.
        let audio_picos = self.per_second.as_picos() * i128::from(usage.audio_input_ms);
        let audio = Usd::from_picos((audio_picos + 999) / 1000);
        Cost {
            input: self.input * uncached
                + self.cache_read * usage.cached_tokens
                + self.cache_write * usage.cache_write_tokens
                + self.per_query * usage.queries
                + self.per_character * usage.input_characters
                + audio,
            output: self.output * answer
                + self.reasoning * usage.reasoning_tokens
                + self.per_image * usage.images,
        }
    }

    /// The most a request can cost with `prompt_tokens_estimate` prompt tokens and
    /// `max_output_tokens` completion tokens: every prompt token at the dearest input-side
    /// price, every completion token at the dearest output-side price. An upper bound of
    /// [`PriceTable::cost`] for any usage within those counts; what a budget reserves before the
    /// call.
    pub fn worst_case(&self, prompt_tokens_estimate: u64, max_output_tokens: u64) -> Usd {
        let input = self.input.max(self.cache_read).max(self.cache_write);
        let output = self.output.max(self.reasoning);
        input * prompt_tokens_estimate + output * max_output_tokens
    }

    /// Price of an uncached prompt token.
    pub fn input_cost_per_token(&self) -> Usd {
        self.input
    }

    /// Price of a completion token.
    pub fn output_cost_per_token(&self) -> Usd {
        self.output
    }

    /// Price of a prompt token read from the cache.
    pub fn cache_read_input_token_cost(&self) -> Usd {
        self.cache_read
    }

    /// Price of a prompt token written to the cache.
    pub fn cache_creation_input_token_cost(&self) -> Usd {
        self.cache_write
    }

    /// Price of a reasoning token.
    pub fn output_cost_per_reasoning_token(&self) -> Usd {
        self.reasoning
    }

    /// The model's context window, when a layer knows it.
    pub fn max_input_tokens(&self) -> Option<u64> {
        self.max_input_tokens
    }

    /// The model's largest completion, when a layer knows it.
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_output_tokens
    }

    /// The bundled catalog's key the table drew on, if any (`gpt-4o`, `gemini/gemini-2.5-flash`),
    /// for logs and `/model/info`.
    pub fn catalog_key(&self) -> Option<&'static str> {
        self.catalog_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn usd(text: &str) -> Usd {
        Usd::parse(text).unwrap()
    }

    #[test]
    fn audio_speech_rerank_and_images_are_billed_by_their_units() {
        let table = |provider: &str, model: &str| {
            PriceTable::resolve(provider, model, &Overrides::default(), None).unwrap()
        };
        // whisper-1: $0.0001 a second; 30.5 s of audio.
        let audio = Usage {
            audio_input_ms: 30_500,
            ..Usage::default()
        };
        assert_eq!(table("openai", "whisper-1").cost(&audio), usd("0.00305"));
        // tts-1: $0.000015 a character.
        let speech = Usage {
            input_characters: 1_000,
            ..Usage::default()
        };
        assert_eq!(table("openai", "tts-1").cost(&speech), usd("0.015"));
        // rerank-english-v3.0: $0.002 a search unit.
        let rerank = Usage {
            queries: 3,
            ..Usage::default()
        };
        assert_eq!(
            table("cohere", "rerank-english-v3.0").cost(&rerank),
            usd("0.006")
        );
        // A configured per-image price.
        let mut o = Overrides::default();
        o.apply("output_cost_per_image", &json!(0.04)).unwrap();
        let images = Usage {
            images: 2,
            ..Usage::default()
        };
        let priced = PriceTable::resolve("openai", "my-image-model", &o, None).unwrap();
        assert_eq!(priced.cost(&images), usd("0.08"));
        // A millisecond of audio still costs something (rounded up to the picodollar).
        let blip = Usage {
            audio_input_ms: 1,
            ..Usage::default()
        };
        assert!(!table("openai", "whisper-1").cost(&blip).is_zero());
    }

    fn claude_like() -> PriceTable {
        PriceTable::new(Prices {
            input_cost_per_token: Some(usd("0.000003")),
            output_cost_per_token: Some(usd("0.000015")),
            cache_read_input_token_cost: Some(usd("0.0000003")),
            cache_creation_input_token_cost: Some(usd("0.00000375")),
            output_cost_per_reasoning_token: None,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn cost_charges_every_kind_of_token_at_its_price() {
        let usage = Usage {
            prompt_tokens: 1_000,
            completion_tokens: 200,
            total_tokens: 1_200,
            cached_tokens: 400,
            cache_write_tokens: 100,
            reasoning_tokens: 50,
            ..Default::default()
        };
        // 500 × 3 + 400 × 0.3 + 100 × 3.75 µ$ = 1995 µ$; 150 × 15 + 50 × 15 µ$ = 3000 µ$.
        let cost = claude_like().cost_breakdown(&usage);
        assert_eq!(cost.input, usd("0.001995"));
        assert_eq!(cost.output, usd("0.003"));
        assert_eq!(claude_like().cost(&usage), usd("0.004995"));
    }

    #[test]
    fn missing_prices_fall_back_to_input_and_output() {
        let table = PriceTable::new(Prices {
            input_cost_per_token: Some(usd("0.001")),
            output_cost_per_token: Some(usd("0.002")),
            ..Prices::default()
        })
        .unwrap();
        assert_eq!(table.cache_read_input_token_cost(), usd("0.001"));
        assert_eq!(table.cache_creation_input_token_cost(), usd("0.001"));
        assert_eq!(table.output_cost_per_reasoning_token(), usd("0.002"));
        // LiteLLM's reference capture: gpt-priced, 9 prompt + 5 completion tokens.
        let usage = Usage {
            prompt_tokens: 9,
            completion_tokens: 5,
            total_tokens: 14,
            ..Usage::default()
        };
        let cost = table.cost_breakdown(&usage);
        assert_eq!(cost.input.to_string(), "0.009");
        assert_eq!(cost.output.to_string(), "0.01");
        assert_eq!(cost.total().to_string(), "0.019");
        // Whatever is cached or reasoning costs the same here.
        let split = Usage {
            cached_tokens: 4,
            cache_write_tokens: 2,
            reasoning_tokens: 3,
            ..usage
        };
        assert_eq!(table.cost(&split), usd("0.019"));
    }

    #[test]
    fn a_reasoning_price_of_its_own_is_used() {
        let table = PriceTable::new(Prices {
            input_cost_per_token: Some(usd("0.000001")),
            output_cost_per_token: Some(usd("0.000002")),
            output_cost_per_reasoning_token: Some(usd("0.000005")),
            ..Prices::default()
        })
        .unwrap();
        let usage = Usage {
            completion_tokens: 100,
            reasoning_tokens: 60,
            ..Usage::default()
        };
        assert_eq!(table.cost(&usage), usd("0.00038")); // 40 × 2 + 60 × 5 µ$
    }

    #[test]
    fn only_an_input_price_means_free_output() {
        let table = PriceTable::new(Prices {
            input_cost_per_token: Some(usd("0.00000002")),
            ..Prices::default()
        })
        .unwrap();
        let usage = Usage {
            prompt_tokens: 1_000,
            completion_tokens: 7,
            ..Usage::default()
        };
        assert_eq!(table.cost(&usage), usd("0.00002"));
        assert_eq!(PriceTable::new(Prices::default()), None);
    }

    #[test]
    fn inconsistent_usage_charges_the_parts_and_never_goes_negative() {
        let usage = Usage {
            prompt_tokens: 10,
            cached_tokens: 1_000,
            cache_write_tokens: 500,
            completion_tokens: 5,
            reasoning_tokens: 9,
            ..Usage::default()
        };
        let cost = claude_like().cost_breakdown(&usage);
        // 1000 × 0.3 + 500 × 3.75 µ$; 9 × 15 µ$.
        assert_eq!(cost.input, usd("0.002175"));
        assert_eq!(cost.output, usd("0.000135"));
        assert_eq!(claude_like().cost(&Usage::default()), Usd::ZERO);
    }

    #[test]
    fn worst_case_takes_the_dearest_price_on_each_side() {
        let table = claude_like();
        // 1000 × 3.75 + 500 × 15 µ$.
        assert_eq!(table.worst_case(1_000, 500), usd("0.01125"));
        let usage = Usage {
            prompt_tokens: 1_000,
            cache_write_tokens: 1_000,
            completion_tokens: 500,
            ..Usage::default()
        };
        assert_eq!(table.cost(&usage), table.worst_case(1_000, 500));
        assert_eq!(table.worst_case(0, 0), Usd::ZERO);
        // No overflow panics, whatever the counts.
        assert!(table.worst_case(u64::MAX, u64::MAX) > Usd::ZERO);
    }

    #[test]
    fn overrides_read_litellm_params() {
        let params = json!({
            "model": "openai/my-model",
            "input_cost_per_token": 0.001,
            "output_cost_per_token": "2e-03",
            "cache_read_input_token_cost": 0.0000005,
            "cache_creation_input_token_cost": null,
            "output_cost_per_reasoning_token": 3,
            "max_input_tokens": 128000,
            "max_output_tokens": "4096",
            "base_model": "azure/gpt-4o",
            "rpm": 10
        });
        let o = Overrides::from_params(params.as_object().unwrap()).unwrap();
        assert_eq!(o.prices.input_cost_per_token, Some(usd("0.001")));
        assert_eq!(o.prices.output_cost_per_token, Some(usd("0.002")));
        assert_eq!(o.prices.cache_read_input_token_cost, Some(usd("0.0000005")));
        assert_eq!(o.prices.cache_creation_input_token_cost, None);
        assert_eq!(o.prices.output_cost_per_reasoning_token, Some(usd("3")));
        assert_eq!(o.max_input_tokens, Some(128_000));
        assert_eq!(o.max_output_tokens, Some(4096));
        assert_eq!(o.base_model.as_deref(), Some("azure/gpt-4o"));
    }

    #[test]
    fn overrides_name_the_key_of_a_bad_value() {
        let bad = [
            (
                json!({"input_cost_per_token": "cheap"}),
                "input_cost_per_token",
            ),
            (
                json!({"output_cost_per_token": -0.1}),
                "output_cost_per_token",
            ),
            (
                json!({"cache_read_input_token_cost": true}),
                "cache_read_input_token_cost",
            ),
            (json!({"max_input_tokens": 1.5}), "max_input_tokens"),
            (json!({"max_output_tokens": -1}), "max_output_tokens"),
            (json!({"max_output_tokens": "many"}), "max_output_tokens"),
            (json!({"base_model": 4}), "base_model"),
        ];
        for (params, key) in bad {
            let e = Overrides::from_params(params.as_object().unwrap()).unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.to_string().starts_with(&format!("{key}: ")), "{e}");
        }
        let mut o = Overrides::default();
        assert_eq!(o.apply("rpm", &json!(5)), Ok(false));
        assert_eq!(o.apply("max_input_tokens", &json!(8192.0)), Ok(true));
        assert_eq!(o.max_input_tokens, Some(8192));
    }

    #[test]
    fn litellm_params_win_over_model_info() {
        let params = json!({"input_cost_per_token": 0.001});
        let info = json!({"input_cost_per_token": 0.5, "output_cost_per_token": 0.002, "max_input_tokens": 10});
        let o = Overrides::from_params(params.as_object().unwrap())
            .unwrap()
            .or(Overrides::from_params(info.as_object().unwrap()).unwrap());
        assert_eq!(o.prices.input_cost_per_token, Some(usd("0.001")));
        assert_eq!(o.prices.output_cost_per_token, Some(usd("0.002")));
        assert_eq!(o.max_input_tokens, Some(10));
    }

    #[test]
    fn layers_are_config_then_plugin_then_bundled_price_by_price() {
        // Bundled gpt-4o: 2.5 / 10 $/M, cache read 1.25 $/M, 128000 / 16384 tokens.
        let bundled = PriceTable::resolve("openai", "gpt-4o", &Overrides::default(), None).unwrap();
        assert_eq!(bundled.input_cost_per_token(), usd("0.0000025"));
        assert_eq!(bundled.output_cost_per_token(), usd("0.00001"));
        assert_eq!(bundled.cache_read_input_token_cost(), usd("0.00000125"));
        assert_eq!(bundled.max_input_tokens(), Some(128_000));
        assert_eq!(bundled.max_output_tokens(), Some(16_384));
        assert_eq!(bundled.catalog_key(), Some("gpt-4o"));

        let plugin = ModelInfo {
            id: "gpt-4o".into(),
            context_window: Some(64_000),
            input_cost_per_token: Some("0.000002".into()),
            output_cost_per_token: Some("not a price".into()),
            ..ModelInfo::default()
        };
        let layered =
            PriceTable::resolve("openai", "gpt-4o", &Overrides::default(), Some(&plugin)).unwrap();
        assert_eq!(layered.input_cost_per_token(), usd("0.000002"));
        assert_eq!(layered.output_cost_per_token(), usd("0.00001")); // plugin's is unreadable
        assert_eq!(layered.max_input_tokens(), Some(64_000));
        assert_eq!(layered.max_output_tokens(), Some(16_384));

        let overrides = Overrides {
            prices: Prices {
                input_cost_per_token: Some(usd("0.001")),
                ..Prices::default()
            },
            max_output_tokens: Some(100),
            ..Overrides::default()
        };
        let top = PriceTable::resolve("openai", "gpt-4o", &overrides, Some(&plugin)).unwrap();
        assert_eq!(top.input_cost_per_token(), usd("0.001"));
        assert_eq!(top.output_cost_per_token(), usd("0.00001"));
        assert_eq!(top.cache_read_input_token_cost(), usd("0.00000125"));
        assert_eq!(top.max_output_tokens(), Some(100));
    }

    #[test]
    fn an_unknown_model_is_priced_by_config_or_not_at_all() {
        assert_eq!(
            PriceTable::resolve("hosted_vllm", "my-llama", &Overrides::default(), None),
            None
        );
        let overrides = Overrides {
            prices: Prices {
                input_cost_per_token: Some(usd("0.001")),
                output_cost_per_token: Some(usd("0.002")),
                ..Prices::default()
            },
            ..Overrides::default()
        };
        let table = PriceTable::resolve("hosted_vllm", "my-llama", &overrides, None).unwrap();
        assert_eq!(table.catalog_key(), None);
        assert_eq!(table.max_input_tokens(), None);
        assert_eq!(table.output_cost_per_token(), usd("0.002"));
    }

    #[test]
    fn base_model_prices_an_azure_deployment_by_its_model() {
        assert_eq!(
            PriceTable::resolve("azure", "my-prod-4o", &Overrides::default(), None),
            None
        );
        for base in ["azure/gpt-4o", "gpt-4o"] {
            let overrides = Overrides {
                base_model: Some(base.into()),
                ..Overrides::default()
            };
            let table = PriceTable::resolve("azure", "my-prod-4o", &overrides, None).unwrap();
            assert_eq!(table.catalog_key(), Some("azure/gpt-4o"), "{base}");
            assert_eq!(table.input_cost_per_token(), usd("0.0000025"));
        }
    }

    #[test]
    fn the_reference_capture_of_gpt_4o_mini_costs_the_same() {
        // LiteLLM priced gpt-4o-mini at 4.35e-06 (input 1.35e-06, output 3e-06): 9 + 5 tokens.
        let table =
            PriceTable::resolve("openai", "gpt-4o-mini", &Overrides::default(), None).unwrap();
        let usage = Usage {
            prompt_tokens: 9,
            completion_tokens: 5,
            total_tokens: 14,
            ..Usage::default()
        };
        let cost = table.cost_breakdown(&usage);
        assert_eq!(cost.input, usd("1.35e-06"));
        assert_eq!(cost.output, usd("3e-06"));
        assert_eq!(cost.total().to_string(), "0.00000435");
        assert_eq!(cost.total().to_f64(), 4.35e-06);
    }
}
