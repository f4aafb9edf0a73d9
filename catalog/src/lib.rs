//! switchyard's model catalog: exact money, the bundled price and context-window catalog, and
//! what a request costs.
//!
//! - [`Usd`]: an exact amount of US dollars (integer picodollars). Money is never held or added
//!   up in floats; [`Usd::to_f64`] is for display.
//! - [`bundled`]: model prices and context windows from LiteLLM's catalog (MIT, Copyright (c)
//!   2023 Berri AI; see `catalog/data/README.md`), embedded, indexed on first use and read a row
//!   at a time when looked up, with LiteLLM's model names resolved as [`bundled`] documents.
//! - [`PriceTable`]: one deployment's prices, resolved once from its config ([`Overrides`]), the
//!   plugin's metadata and the bundled catalog; [`PriceTable::cost`] prices a request's
//!   [`Usage`](switchyard_plugin_sdk::Usage), cache and reasoning tokens included, and
//!   [`PriceTable::worst_case`] bounds it for budget reservations.
//!
//! ```
//! use switchyard_catalog::{Overrides, PriceTable, Usd};
//! use switchyard_plugin_sdk::Usage;
//!
//! // A deployment with custom pricing in its litellm_params.
//! let params = serde_json::json!({
//!     "model": "openai/gpt-4o",
//!     "input_cost_per_token": 0.001,
//!     "output_cost_per_token": 0.002,
//! });
//! let overrides = Overrides::from_params(params.as_object().unwrap()).unwrap();
//! let table = PriceTable::resolve("openai", "gpt-4o", &overrides, None).unwrap();
//!
//! let usage = Usage { prompt_tokens: 9, completion_tokens: 5, ..Usage::default() };
//! let cost = table.cost(&usage);
//! assert_eq!(cost, Usd::parse("0.019").unwrap()); // not 0.019000000000000003
//! assert_eq!(cost.to_string(), "0.019");
//! // Budgets reserve the worst case before the call: 9 prompt tokens, up to 100 out.
//! assert_eq!(table.worst_case(9, 100).to_string(), "0.209");
//! ```

pub mod bundled;
pub mod generate;
mod prices;
mod usd;

pub use bundled::CatalogEntry;
pub use prices::{Cost, OverrideError, Overrides, PriceTable, Prices};
pub use usd::{usd_string, ParseUsdError, Usd};
