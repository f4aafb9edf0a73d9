//! # switchyard-core
//!
//! switchyard as a library: everything the `switchyard` binary does, minus sockets.
//!
//! - [`Config`] reads a LiteLLM `config.yaml` unchanged (plus switchyard's own section).
//! - [`router::Router`] is LiteLLM's Router on its own: model groups, routing strategies,
//!   retries, cooldowns and fallbacks around any async attempt (see `examples/router.rs`).
//! - [`Gateway`] is the OpenAI-compatible service: `http::Request` in, `http::Response` out.
//!   Build it with [`Gateway::builder`], add provider plugins (loaded from files with
//!   `switchyard_plugin_sdk::loader`, or linked statically through a provider crate's
//!   `plugin_module()`), and mount [`Gateway::handle`] in any hyper server. With a master key,
//!   call [`Gateway::start_tenancy`] once (it opens the keys-and-spend database and runs its
//!   migrations; until then virtual keys get a 503) and [`Gateway::flush`] before exiting.
//!
//! ```no_run
//! # async fn run() -> Result<(), String> {
//! use switchyard_core::{Config, Gateway};
//! use switchyard_plugin_sdk::host::PluginHandle;
//!
//! let loaded = Config::load("config.yaml".as_ref()).map_err(|e| e.to_string())?;
//! let mock = PluginHandle::from_static(switchyard_provider_mock::plugin_module())
//!     .map_err(|e| e.to_string())?;
//! let (gateway, _warnings) = Gateway::builder(loaded.config).plugin(mock)?.build()?;
//! let request = http::Request::post("/v1/chat/completions")
//!     .body(http_body_util::Full::new(bytes::Bytes::from_static(
//!         br#"{"model":"demo","messages":[{"role":"user","content":"hi"}]}"#,
//!     )))
//!     .unwrap();
//! let response = gateway.handle(request).await;
//! # let _ = response; Ok(()) }
//! ```

mod auth;
mod body;
pub mod config;
mod engine;
mod error;
mod fair;
mod gateway;
mod messages;
pub mod metrics;
mod params;
mod registry;
mod responses;
pub mod router;
mod shared;
mod stream;
mod tenancy;
mod transport;
mod types;

pub use body::GatewayBody;
pub use config::{Config, ConfigError, ConfigWarning, Environment, LoadedConfig, Secret};
pub use error::{ErrorOrigin, GatewayError};
pub use gateway::{error_response, Gateway, GatewayBuilder, MetricsRenderer, DEFAULT_BODY_LIMIT};
pub use registry::{split_model_string, ProviderRegistry};
pub use stream::{StreamEnd, StreamOutcome};
pub use types::ChatRequestHead;
