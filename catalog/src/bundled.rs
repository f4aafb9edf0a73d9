//! The bundled catalog: `data/catalog.json`, generated from LiteLLM's
//! `model_prices_and_context_window.json` (MIT License, Copyright (c) 2023 Berri AI; see
//! `data/README.md`), embedded in the binary. The first lookup indexes its rows by key; an entry
//! is read from its row when looked up.
//!
//! # Finding a model
//!
//! [`lookup`] takes the two halves of a deployment's `litellm_params.model` (`bedrock` and
//! `us.anthropic.claude-3-5-sonnet-20241022-v2:0`) and tries, in order, each name of the model
//! (first the name as given, then ever more normalized forms):
//!
//! 1. the name as given;
//! 2. without the provider's own prefix repeated (`openai/gpt-4o` under `openai`);
//! 3. Bedrock: an ARN's last path segment (`arn:aws:bedrock:…:inference-profile/eu.x` → `eu.x`),
//!    then without the route (`converse/`, `invoke/`), then without a region segment
//!    (`us-east-1/anthropic.claude-instant-v1`), then without a cross-region inference profile's
//!    geography (`us.`, `eu.`, `apac.`, `global.`, `jp.`, `au.`, `us-gov.`, `ca.`, `in.`);
//! 4. without a version after `@` (Vertex AI's `claude-sonnet-4-5@20250929`);
//! 5. an OpenAI fine-tune (`ft:gpt-4o-mini-2024-07-18:org::id`) as `ft:<base>`, then `<base>`;
//! 6. without a trailing snapshot date (`-2024-08-06`, `-20250929`): a dated snapshot the
//!    catalog does not list is priced as its undated alias.
//!
//! and for each name, the catalog key `<provider>/<name>` (`gemini/gemini-2.5-flash`,
//! `bedrock/us-east-1/…`, `vertex_ai/claude-sonnet-4-5@20250929`) before the bare key `<name>`
//! (`gpt-4o`, `claude-sonnet-4-5`, `anthropic.claude-…`). An entry only answers for a provider
//! of its own family, so Groq's `gpt-4o` is not priced as OpenAI's: LiteLLM's
//! `litellm_provider` values group as `vertex_ai-*` → `vertex_ai`, `bedrock_converse` →
//! `bedrock`, `text-completion-openai` → `openai` (any `text-completion-<x>` → `<x>`),
//! `azure_text` → `azure`, `cohere_chat` → `cohere`, `fireworks_ai-embedding-models` →
//! `fireworks_ai`. The first hit wins, so a region- or geography-specific price is used when the
//! catalog has one.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::prices::Prices;
use crate::usd::Usd;

/// The generated file, embedded.
pub(crate) const FILE: &str = include_str!("../data/catalog.json");

/// The columns of a row of `data/catalog.json`.
pub(crate) const COLUMNS: [&str; 14] = [
    "key",
    "provider",
    "mode",
    "max_input_tokens",
    "max_output_tokens",
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

/// Where the bundled data comes from; ships wherever the catalog does.
pub const ATTRIBUTION: &str = "Model prices and context windows from LiteLLM 1.108.7's \
    model_prices_and_context_window.json (BerriAI/litellm), MIT License, \
    Copyright (c) 2023 Berri AI";

/// One model of the bundled catalog, read from its row when looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    key: &'static str,
    provider: &'static str,
    mode: Option<&'static str>,
    max_input_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
    prices: Prices,
}

impl CatalogEntry {
    /// The key in LiteLLM's catalog (`gpt-4o`, `gemini/gemini-2.5-flash`).
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// LiteLLM's `litellm_provider` (`openai`, `vertex_ai-language-models`, `bedrock_converse`).
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// `chat`, `embedding`, `completion`, `responses`, `image_generation`, …
    pub fn mode(&self) -> Option<&'static str> {
        self.mode
    }

    /// The context window.
    pub fn max_input_tokens(&self) -> Option<u64> {
        self.max_input_tokens
    }

    /// The largest completion.
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_output_tokens
    }

    /// Its per-token prices, as the catalog gives them (no fallbacks applied).
    pub fn prices(&self) -> &Prices {
        &self.prices
    }
}

/// A row of the file as the generator writes it: key, provider, mode, limits, the nine prices
/// as decimal text.
pub(crate) type Row = (
    String,
    String,
    Option<String>,
    Option<u64>,
    Option<u64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A row as read: the same columns, borrowed from the file (the generator writes no escapes).
type RowText<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<u64>,
    Option<u64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

#[derive(Deserialize)]
struct File<'a> {
    about: About,
    #[serde(borrow)]
    models: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct About {
    columns: Vec<String>,
}

/// The rows of the embedded file, sorted by key: each key and its row, both borrowed from the
/// file. Rows are read when looked up rather than held parsed: four thousand parsed entries
/// with their prices are 1.5 MB an idle gateway would keep for the dozen models its config
/// names; the index is 130 kB.
static INDEX: LazyLock<Vec<(&'static str, &'static RawValue)>> = LazyLock::new(|| {
    index(FILE)
        .unwrap_or_else(|e| panic!("the bundled catalog does not parse (a test checks it): {e}"))
});

/// The rows of a generated file, sorted by key, the first of equal keys kept.
fn index(text: &str) -> Result<Vec<(&str, &RawValue)>, String> {
    let file: File<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if file.about.columns != COLUMNS {
        return Err(format!("unexpected columns {:?}", file.about.columns));
    }
    let mut rows = file
        .models
        .into_iter()
        .map(|row| {
            let text: RowText<'_> = read_text(row)?;
            Ok((text.0, row))
        })
        .collect::<Result<Vec<_>, String>>()?;
    rows.sort_by(|a, b| a.0.cmp(b.0));
    rows.dedup_by(|a, b| a.0 == b.0);
    Ok(rows)
}

/// The columns of a row, borrowed from it.
fn read_text(row: &RawValue) -> Result<RowText<'_>, String> {
    serde_json::from_str(row.get()).map_err(|e| format!("{}: {e}", row.get()))
}

/// Reads a row of the file.
fn read(row: &'static RawValue) -> Result<CatalogEntry, String> {
    let (
        key,
        provider,
        mode,
        max_input_tokens,
        max_output_tokens,
        input,
        output,
        read,
        write,
        reasoning,
        query,
        second,
        character,
        image,
    ) = read_text(row)?;
    let price = |text: Option<&str>| -> Result<Option<Usd>, String> {
        text.map(|t| Usd::parse(t).map_err(|e| format!("{key}: {e}")))
            .transpose()
    };
    Ok(CatalogEntry {
        prices: Prices {
            input_cost_per_token: price(input)?,
            output_cost_per_token: price(output)?,
            cache_read_input_token_cost: price(read)?,
            cache_creation_input_token_cost: price(write)?,
            output_cost_per_reasoning_token: price(reasoning)?,
            input_cost_per_query: price(query)?,
            input_cost_per_second: price(second)?,
            input_cost_per_character: price(character)?,
            output_cost_per_image: price(image)?,
        },
        key,
        provider,
        mode,
        max_input_tokens,
        max_output_tokens,
    })
}

/// Every entry of a generated file, sorted by key: what [`entries`] reads from the embedded one.
#[cfg(test)]
pub(crate) fn parse(text: &'static str) -> Result<Vec<CatalogEntry>, String> {
    index(text)?.into_iter().map(|(_, row)| read(row)).collect()
}

/// The entry of an indexed row; the embedded file's rows all read (a test checks it).
fn entry(row: &'static RawValue) -> CatalogEntry {
    read(row)
        .unwrap_or_else(|e| panic!("the bundled catalog does not parse (a test checks it): {e}"))
}

/// Every entry, sorted by key, each read from its row as the iterator reaches it.
pub fn entries() -> impl ExactSizeIterator<Item = CatalogEntry> {
    INDEX.iter().map(|&(_, row)| entry(row))
}

/// The entry of a catalog key, exactly as LiteLLM writes it (`gpt-4o`, `azure/gpt-4o`).
pub fn get(key: &str) -> Option<CatalogEntry> {
    let index = &*INDEX;
    index
        .binary_search_by(|&(k, _)| k.cmp(key))
        .ok()
        .map(|i| entry(index[i].1))
}

/// The entry of `model` served by `provider` (the halves of `openai/gpt-4o`), by the order in
/// the [module documentation](self).
pub fn lookup(provider: &str, model: &str) -> Option<CatalogEntry> {
    let fam = family(provider);
    names(fam, provider, model).iter().find_map(|name| {
        let keys = [
            format!("{provider}/{name}"),
            format!("{fam}/{name}"),
            name.to_string(),
        ];
        keys.iter()
            .filter_map(|key| get(key))
            .find(|entry| family(entry.provider) == fam)
    })
}

/// The entry a `base_model` names: a model of the deployment's provider (`gpt-4o` or
/// `azure/gpt-4o` under `azure`), else a catalog key as such, else `<provider>/<model>` split at
/// the first slash (`openai/gpt-4o`).
pub(crate) fn lookup_base_model(provider: &str, base: &str) -> Option<CatalogEntry> {
    lookup(provider, base).or_else(|| get(base)).or_else(|| {
        let (p, m) = base.split_once('/')?;
        lookup(p, m)
    })
}

/// The provider family of a LiteLLM provider name (`vertex_ai-language-models` → `vertex_ai`).
pub(crate) fn family(provider: &str) -> &str {
    let provider = provider
        .strip_prefix("text-completion-")
        .unwrap_or(provider);
    let provider = provider.split_once('-').map_or(provider, |(head, _)| head);
    match provider {
        "bedrock_converse" => "bedrock",
        "azure_text" => "azure",
        "cohere_chat" => "cohere",
        other => other,
    }
}

/// Bedrock cross-region inference profile geographies.
const GEOGRAPHIES: [&str; 9] = [
    "us", "eu", "apac", "global", "jp", "au", "us-gov", "ca", "in",
];

/// The names to try for `model`, as given first, then ever more normalized.
fn names<'m>(family: &str, provider: &str, model: &'m str) -> Vec<Cow<'m, str>> {
    fn push<'m>(out: &mut Vec<Cow<'m, str>>, name: Cow<'m, str>) {
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    let mut out = Vec::with_capacity(8);
    let mut m: &'m str = model.trim();
    push(&mut out, m.into());
    for prefix in [provider, family] {
        if let Some(rest) = m.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
            m = rest;
            push(&mut out, m.into());
        }
    }
    if family == "bedrock" {
        if m.starts_with("arn:") {
            if let Some((_, id)) = m.rsplit_once('/') {
                m = id;
                push(&mut out, m.into());
            }
        }
        for route in ["converse/", "invoke/"] {
            if let Some(rest) = m.strip_prefix(route) {
                m = rest;
                push(&mut out, m.into());
            }
        }
        if let Some((region, rest)) = m.split_once('/') {
            if is_aws_region(region) {
                m = rest;
                push(&mut out, m.into());
            }
        }
        if let Some((geo, rest)) = m.split_once('.') {
            if GEOGRAPHIES.contains(&geo) && rest.contains('.') {
                m = rest;
                push(&mut out, m.into());
            }
        }
    }
    if let Some((base, _version)) = m.rsplit_once('@') {
        if !base.is_empty() && !base.ends_with('/') {
            m = base;
            push(&mut out, m.into());
        }
    }
    if let Some(rest) = m.strip_prefix("ft:") {
        let base = rest.split(':').next().unwrap_or(rest);
        push(&mut out, format!("ft:{base}").into());
        m = base;
        push(&mut out, m.into());
    }
    if let Some(undated) = strip_date(m) {
        push(&mut out, undated.into());
    }
    out
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-3`.
fn is_aws_region(segment: &str) -> bool {
    let mut parts = segment.split('-').collect::<Vec<_>>();
    if parts.len() == 4 && parts[1] == "gov" {
        parts.remove(1);
    }
    parts.len() == 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && !parts[1].is_empty()
        && parts[1].bytes().all(|b| b.is_ascii_lowercase())
        && !parts[2].is_empty()
        && parts[2].bytes().all(|b| b.is_ascii_digit())
}

/// `gpt-4o-2024-08-06` → `gpt-4o`, `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`.
fn strip_date(name: &str) -> Option<&str> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let bytes = name.as_bytes();
    // -YYYY-MM-DD
    if name.len() > 11 && bytes[name.len() - 11] == b'-' {
        let tail = &name[name.len() - 10..];
        let parts: Vec<&str> = tail.split('-').collect();
        if parts.len() == 3
            && parts[0].len() == 4
            && parts[1].len() == 2
            && parts[2].len() == 2
            && parts.iter().all(|p| digits(p))
            && (tail.starts_with("19") || tail.starts_with("20"))
        {
            return Some(&name[..name.len() - 11]);
        }
    }
    // -YYYYMMDD
    if name.len() > 9 && bytes[name.len() - 9] == b'-' {
        let tail = &name[name.len() - 8..];
        if digits(tail) && (tail.starts_with("19") || tail.starts_with("20")) {
            return Some(&name[..name.len() - 9]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(provider: &str, model: &str) -> Option<&'static str> {
        lookup(provider, model).map(|e| e.key())
    }

    #[test]
    fn the_bundled_file_parses_and_is_sorted() {
        let entries = entries().collect::<Vec<_>>();
        assert!(entries.len() > 3_000, "{}", entries.len());
        assert!(entries.windows(2).all(|w| w[0].key < w[1].key));
        let rows = FILE.lines().filter(|l| l.starts_with('[')).count();
        assert_eq!(rows, entries.len(), "duplicate keys in the file");
        assert!(FILE.contains(&format!("\"models\": {rows},")));
        let gpt = get("gpt-4o").unwrap();
        assert_eq!(gpt.provider(), "openai");
        assert_eq!(gpt.mode(), Some("chat"));
        assert_eq!(gpt.max_input_tokens(), Some(128_000));
        assert_eq!(gpt.max_output_tokens(), Some(16_384));
        assert_eq!(
            gpt.prices().input_cost_per_token,
            Usd::parse("2.5e-06").ok()
        );
        assert_eq!(gpt.prices().output_cost_per_token, Usd::parse("1e-05").ok());
        assert_eq!(
            gpt.prices().cache_read_input_token_cost,
            Usd::parse("1.25e-06").ok()
        );
        assert_eq!(gpt.prices().cache_creation_input_token_cost, None);
        assert_eq!(get("no-such-model"), None);
    }

    #[test]
    fn float_noise_of_the_source_is_rounded_to_the_picodollar() {
        let e = get("novita/nvidia/nemotron-3-nano-30b-a3b").unwrap();
        assert_eq!(
            e.prices().input_cost_per_token,
            Usd::parse("0.00000005").ok()
        );
        let e = get("databricks/databricks-claude-opus-4").unwrap();
        assert_eq!(
            e.prices().input_cost_per_token,
            Usd::parse("0.00001500002").ok()
        );
    }

    #[test]
    fn the_reasoning_price_is_kept() {
        let e = get("gemini/gemini-2.5-flash").unwrap();
        assert_eq!(
            e.prices().output_cost_per_reasoning_token,
            Usd::parse("2.5e-06").ok()
        );
    }

    #[test]
    fn provider_families() {
        for (provider, fam) in [
            ("openai", "openai"),
            ("vertex_ai-language-models", "vertex_ai"),
            ("vertex_ai-anthropic_models", "vertex_ai"),
            ("vertex_ai", "vertex_ai"),
            ("bedrock_converse", "bedrock"),
            ("text-completion-openai", "openai"),
            ("text-completion-codestral", "codestral"),
            ("azure_text", "azure"),
            ("cohere_chat", "cohere"),
            ("fireworks_ai-embedding-models", "fireworks_ai"),
            ("together_ai", "together_ai"),
        ] {
            assert_eq!(family(provider), fam, "{provider}");
        }
    }

    #[test]
    fn bare_keys_answer_for_their_own_provider_only() {
        assert_eq!(key("openai", "gpt-4o"), Some("gpt-4o"));
        assert_eq!(
            key("openai", "gpt-3.5-turbo-instruct"),
            Some("gpt-3.5-turbo-instruct")
        );
        assert_eq!(
            key("text-completion-openai", "gpt-3.5-turbo-instruct"),
            Some("gpt-3.5-turbo-instruct")
        );
        assert_eq!(
            key("openai", "text-embedding-3-small"),
            Some("text-embedding-3-small")
        );
        assert_eq!(
            key("anthropic", "claude-sonnet-4-5-20250929"),
            Some("claude-sonnet-4-5-20250929")
        );
        assert_eq!(key("groq", "gpt-4o"), None);
        assert_eq!(key("hosted_vllm", "gpt-4o"), None);
        assert_eq!(key("anthropic", "gpt-4o"), None);
        // The bare gemini-2.5-flash is Vertex AI's; Google AI Studio's is gemini/….
        assert_eq!(
            key("gemini", "gemini-2.5-flash"),
            Some("gemini/gemini-2.5-flash")
        );
        assert_eq!(
            key("vertex_ai", "gemini-2.5-flash"),
            Some("gemini-2.5-flash")
        );
    }

    #[test]
    fn prefixed_keys_come_first() {
        assert_eq!(key("azure", "gpt-4o"), Some("azure/gpt-4o"));
        assert_eq!(
            key("azure", "gpt-3.5-turbo-instruct-0914"),
            Some("azure/gpt-3.5-turbo-instruct-0914")
        );
        assert_eq!(
            key("vertex_ai", "claude-sonnet-4-5@20250929"),
            Some("vertex_ai/claude-sonnet-4-5@20250929")
        );
        assert_eq!(
            key("deepseek", "deepseek-reasoner"),
            Some("deepseek/deepseek-reasoner")
        );
        assert_eq!(key("openai", "openai/gpt-4o"), Some("gpt-4o"));
        assert_eq!(
            key("gemini", "gemini/gemini-2.5-pro"),
            Some("gemini/gemini-2.5-pro")
        );
    }

    #[test]
    fn bedrock_ids_routes_regions_geographies_and_arns() {
        let id = "anthropic.claude-3-5-sonnet-20241022-v2:0";
        assert_eq!(key("bedrock", id), Some(id));
        // A cross-region profile the catalog lists keeps its own entry.
        assert_eq!(
            key("bedrock", &format!("us.{id}")),
            Some(&*format!("us.{id}"))
        );
        assert_eq!(
            key("bedrock", &format!("converse/us.{id}")),
            Some(&*format!("us.{id}"))
        );
        // One it does not list is priced as the on-demand id.
        assert_eq!(key("bedrock", &format!("ca.{id}")), Some(id));
        assert_eq!(key("bedrock", &format!("invoke/{id}")), Some(id));
        // Regional prices where the catalog has them, else the model's.
        assert_eq!(
            key("bedrock", "us-east-1/anthropic.claude-instant-v1"),
            Some("bedrock/us-east-1/anthropic.claude-instant-v1")
        );
        assert_eq!(
            key("bedrock", "xx-nowhere-9/anthropic.claude-instant-v1"),
            Some("anthropic.claude-instant-v1")
        );
        assert_eq!(
            key("bedrock", "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20241022-v2:0"),
            Some("eu.anthropic.claude-3-5-sonnet-20241022-v2:0")
        );
        // bedrock_converse entries are Bedrock's too.
        assert_eq!(
            key("bedrock", "anthropic.claude-haiku-4-5@20251001"),
            Some("anthropic.claude-haiku-4-5@20251001")
        );
        assert_eq!(key("bedrock", "cohere.no-such-model"), None);
    }

    #[test]
    fn vertex_versions_fine_tunes_and_dated_snapshots() {
        assert_eq!(
            key("vertex_ai", "claude-sonnet-4-5@20990101"),
            Some("vertex_ai/claude-sonnet-4-5")
        );
        assert_eq!(
            key("openai", "ft:gpt-4o-mini-2024-07-18:my-org::abc123"),
            Some("ft:gpt-4o-mini-2024-07-18")
        );
        assert_eq!(
            key("openai", "ft:gpt-4o-mini-2099-01-01:my-org::abc123"),
            Some("gpt-4o-mini")
        );
        assert_eq!(
            key("openai", "gpt-4o-2024-08-06"),
            Some("gpt-4o-2024-08-06")
        );
        assert_eq!(key("openai", "gpt-4o-2099-12-31"), Some("gpt-4o"));
        assert_eq!(
            key("anthropic", "claude-sonnet-4-5-20991231"),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(key("openai", "gpt-4o-0613"), None);
    }

    #[test]
    fn base_models() {
        let k = |p, b| lookup_base_model(p, b).map(|e| e.key());
        assert_eq!(k("azure", "azure/gpt-4o"), Some("azure/gpt-4o"));
        assert_eq!(k("azure", "gpt-4o"), Some("azure/gpt-4o"));
        assert_eq!(k("azure", "openai/gpt-4o"), Some("gpt-4o"));
        assert_eq!(k("azure", "nothing"), None);
    }

    #[test]
    fn helpers() {
        assert!(is_aws_region("us-east-1"));
        assert!(is_aws_region("us-gov-west-1"));
        assert!(is_aws_region("ap-southeast-3"));
        assert!(!is_aws_region("converse"));
        assert!(!is_aws_region("claude_platform"));
        assert!(!is_aws_region("us-east"));
        assert_eq!(strip_date("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(
            strip_date("claude-3-5-sonnet-20241022"),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(strip_date("gpt-4-0613"), None);
        assert_eq!(strip_date("model-12345678"), None);
        assert_eq!(strip_date("2024-08-06"), None);
    }

    /// The lookups the gateway relies on for its deployments (moved from core's former
    /// catalog adapter).
    #[test]
    fn gateway_lookups_find_models_by_provider_and_name_with_exact_prices() {
        let price =
            |e: &CatalogEntry, f: fn(&Prices) -> Option<Usd>| f(e.prices()).map(|u| u.to_string());
        let gpt = lookup("openai", "gpt-4o").unwrap();
        assert_eq!(gpt.max_input_tokens(), Some(128_000));
        assert_eq!(
            price(&gpt, |p| p.input_cost_per_token).as_deref(),
            Some("0.0000025")
        );
        let flash = lookup("gemini", "gemini-2.5-flash").unwrap();
        assert_eq!(flash.max_output_tokens(), Some(65_536));
        let haiku = lookup("anthropic", "claude-haiku-4-5").unwrap();
        assert_eq!(
            price(&haiku, |p| p.cache_creation_input_token_cost).as_deref(),
            Some("0.00000125")
        );
        assert!(lookup("openai", "text-embedding-3-small").is_some());
        assert!(lookup("anthropic", "gpt-4o").is_none());
        assert!(lookup("mock", "nothing").is_none());
    }
}
