//! Makes `data/catalog.json` from LiteLLM's `model_prices_and_context_window.json` (the
//! `generate-catalog` binary; a test checks the committed file against it).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::bundled::{Row, COLUMNS};
use crate::usd::{parse_decimal, Usd};

/// Source files whose version is known, by sha256 (`../shared/data/SOURCE.md`).
const KNOWN_SOURCES: [(&str, &str); 1] = [(
    "1b36058661d161d27d09c4193ae9bf226a2f9d83dd28d21e0180ca94518f4370",
    "1.108.7",
)];

/// Keys of the source that are not models.
const NOT_MODELS: [&str; 2] = ["sample_spec", "fallback_generalizations"];

/// The command that regenerates the file, from the repository root.
pub const COMMAND: &str = "cargo run -p switchyard-catalog --bin generate-catalog -- \
    ../shared/data/model_prices_and_context_window.json";

/// The generated file and what went into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The contents of `data/catalog.json`.
    pub text: String,
    /// Models written.
    pub models: usize,
    /// Source entries left out: no `litellm_provider`, or none of the fields switchyard uses.
    pub skipped: usize,
    /// Prices whose source text had digits below the picodollar (float noise such as
    /// `5.0000000000000004e-08`), rounded to the nearest picodollar.
    pub rounded_prices: usize,
    /// LiteLLM version of the source.
    pub source_version: String,
}

/// Why the source could not be turned into a catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GenerateError(String);

/// Builds `data/catalog.json` from the text of LiteLLM's `model_prices_and_context_window.json`.
/// `source_version` is the LiteLLM version it comes from; it may be left out for a source whose
/// sha256 is known.
pub fn generate(
    source_json: &str,
    source_version: Option<&str>,
) -> Result<Generated, GenerateError> {
    let err = |m: String| GenerateError(m);
    let sha256 = hex(&Sha256::digest(source_json.as_bytes()));
    let version = match source_version {
        Some(v) => v.to_owned(),
        None => KNOWN_SOURCES
            .iter()
            .find(|(sha, _)| *sha == sha256)
            .map(|(_, v)| (*v).to_owned())
            .ok_or_else(|| {
                err(format!(
                    "a source of unknown version (sha256 {sha256}): name its LiteLLM version \
                     with --source-version"
                ))
            })?,
    };
    let all: BTreeMap<String, &RawValue> = serde_json::from_str(source_json)
        .map_err(|e| err(format!("not LiteLLM's model catalog (a JSON object): {e}")))?;
    let mut rows: Vec<Row> = Vec::with_capacity(all.len());
    let mut skipped = 0;
    let mut rounded_prices = 0;
    for (key, raw) in &all {
        if NOT_MODELS.contains(&key.as_str()) {
            continue;
        }
        let fields: BTreeMap<String, &RawValue> = serde_json::from_str(raw.get())
            .map_err(|e| err(format!("{key}: not an object: {e}")))?;
        let text = |name: &str| -> Result<Option<String>, GenerateError> {
            match fields.get(name) {
                None => Ok(None),
                Some(raw) => serde_json::from_str::<Option<String>>(raw.get())
                    .map_err(|e| err(format!("{key}.{name}: {e}"))),
            }
        };
        let tokens = |name: &str| -> Result<Option<u64>, GenerateError> {
            let Some(raw) = fields.get(name) else {
                return Ok(None);
            };
            let value: serde_json::Value =
                serde_json::from_str(raw.get()).map_err(|e| err(format!("{key}.{name}: {e}")))?;
            match &value {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::Number(n) => n
                    .as_u64()
                    .or_else(|| {
                        n.as_f64()
                            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e15)
                            .map(|f| f as u64)
                    })
                    .map(Some)
                    .ok_or_else(|| err(format!("{key}.{name}: not a token count: {n}"))),
                other => Err(err(format!("{key}.{name}: not a token count: {other}"))),
            }
        };
        let mut price = |name: &str| -> Result<Option<String>, GenerateError> {
            let Some(raw) = fields.get(name) else {
                return Ok(None);
            };
            let raw = raw.get().trim();
            if raw == "null" {
                return Ok(None);
            }
            let decimal = match serde_json::from_str::<String>(raw) {
                Ok(s) => s,
                Err(_) => raw.to_owned(),
            };
            let (usd, inexact) =
                parse_decimal(&decimal).map_err(|e| err(format!("{key}.{name}: {e}")))?;
            if usd < Usd::ZERO {
                return Err(err(format!("{key}.{name}: a negative price ({usd})")));
            }
            rounded_prices += usize::from(inexact);
            Ok(Some(usd.to_string()))
        };
        let Some(provider) = text("litellm_provider")? else {
            skipped += 1;
            continue;
        };
        let mode = text("mode")?;
        // An image model's completion tokens are image tokens (gpt-image-1 reports them so);
        // the source prices them under their own name only.
        let mut output = price("output_cost_per_token")?;
        if output.is_none() && mode.as_deref() == Some("image_generation") {
            output = price("output_cost_per_image_token")?;
        }
        let row: Row = (
            key.clone(),
            provider,
            mode,
            tokens("max_input_tokens")?,
            tokens("max_output_tokens")?,
            price("input_cost_per_token")?,
            output,
            price("cache_read_input_token_cost")?,
            price("cache_creation_input_token_cost")?,
            price("output_cost_per_reasoning_token")?,
            price("input_cost_per_query")?,
            price("input_cost_per_second")?,
            price("input_cost_per_character")?,
            price("output_cost_per_image")?,
        );
        let useful = row.3.is_some()
            || row.4.is_some()
            || [
                &row.5, &row.6, &row.7, &row.8, &row.9, &row.10, &row.11, &row.12, &row.13,
            ]
            .iter()
            .any(|p| p.is_some());
        if useful {
            rows.push(row);
        } else {
            skipped += 1;
        }
    }
    let string = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut text = String::with_capacity(rows.len() * 120 + 2048);
    text.push_str("{\n\"about\": {\n");
    let about = [
        (
            "description",
            "switchyard's bundled model catalog: the fields switchyard uses of LiteLLM's model \
             price and context-window catalog, one model a row. Generated: do not edit."
                .to_owned(),
        ),
        (
            "source",
            format!(
                "model_prices_and_context_window.json of LiteLLM {version} (the litellm Python \
                 package's litellm/model_prices_and_context_window_backup.json; upstream: the \
                 BerriAI/litellm repository)"
            ),
        ),
        ("source_sha256", sha256),
        ("license", "MIT".to_owned()),
        ("copyright", "Copyright (c) 2023 Berri AI".to_owned()),
        (
            "notice",
            "The MIT license text is in catalog/data/README.md and must stay with copies of \
             this file. Prices are a snapshot of what the providers published: check them \
             before billing anyone."
                .to_owned(),
        ),
        ("generator", COMMAND.to_owned()),
        (
            "units",
            "prices in US dollars per token (per query, second of audio, character or image \
             where the column says so), exact decimal text (rounded to the picodollar); limits \
             in tokens; null: not given"
                .to_owned(),
        ),
    ];
    for (name, value) in &about {
        let _ = writeln!(text, "{}: {},", string(name), string(value));
    }
    let _ = writeln!(text, "\"models\": {},", rows.len());
    let columns: Vec<String> = COLUMNS.iter().map(|c| string(c)).collect();
    let _ = writeln!(text, "\"columns\": [{}]\n}},", columns.join(", "));
    text.push_str("\"models\": [\n");
    for (i, row) in rows.iter().enumerate() {
        let line = serde_json::to_string(row).map_err(|e| err(e.to_string()))?;
        text.push_str(&line);
        text.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    text.push_str("]\n}\n");
    Ok(Generated {
        text,
        models: rows.len(),
        skipped,
        rounded_prices,
        source_version: version,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
        "sample_spec": {"litellm_provider": "one of the providers", "input_cost_per_token": 0.0},
        "fallback_generalizations": {"rules": []},
        "gpt-x": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 128000,
                  "max_output_tokens": 16384, "max_tokens": 16384,
                  "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                  "cache_read_input_token_cost": 1.25e-06, "supports_vision": true},
        "noisy/m": {"litellm_provider": "noisy", "mode": "chat",
                    "input_cost_per_token": 5.0000000000000004E-8, "output_cost_per_token": 0,
                    "output_cost_per_reasoning_token": "3e-6"},
        "img/only-per-image": {"litellm_provider": "img", "mode": "image_generation",
                               "output_cost_per_image": 0.04},
        "anon": {"mode": "chat", "input_cost_per_token": 1e-6}
    }"#;

    #[test]
    fn keeps_the_fields_switchyard_uses_as_exact_decimals() {
        let g = generate(SAMPLE, Some("0.0-test")).unwrap();
        assert_eq!(g.models, 3);
        assert_eq!(g.skipped, 1);
        assert_eq!(g.rounded_prices, 1);
        assert!(g.text.contains(
            "\n[\"gpt-x\",\"openai\",\"chat\",128000,16384,\"0.0000025\",\"0.00001\",\"0.00000125\",null,null,null,null,null,null],\n"
        ), "{}", g.text);
        assert!(g.text.contains(
            "\n[\"noisy/m\",\"noisy\",\"chat\",null,null,\"0.00000005\",\"0\",null,null,\"0.000003\",null,null,null,null]\n"
        ), "{}", g.text);
        assert!(g.text.contains("LiteLLM 0.0-test"));
        assert!(g.text.contains("\"license\": \"MIT\""));
        assert!(g.text.contains("Copyright (c) 2023 Berri AI"));
        // What the generator writes, the crate reads.
        let entries = crate::bundled::parse(g.text.leak()).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].key(), "gpt-x");
        // A model priced per image only is kept: images are billed by the unit.
        assert_eq!(
            entries[1].prices().output_cost_per_image,
            Usd::parse("0.04").ok()
        );
        assert_eq!(
            entries[2].prices().output_cost_per_reasoning_token,
            Usd::parse("0.000003").ok()
        );
    }

    #[test]
    fn an_unknown_source_needs_its_version() {
        let e = generate(SAMPLE, None).unwrap_err();
        assert!(e.to_string().contains("--source-version"), "{e}");
    }

    #[test]
    fn bad_sources_are_refused_with_the_key() {
        assert!(generate("[]", Some("x")).is_err());
        let e = generate(
            r#"{"m": {"litellm_provider": "p", "input_cost_per_token": "cheap"}}"#,
            Some("x"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("m.input_cost_per_token"), "{e}");
        let e = generate(
            r#"{"m": {"litellm_provider": "p", "input_cost_per_token": -1}}"#,
            Some("x"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        let e = generate(
            r#"{"m": {"litellm_provider": "p", "max_input_tokens": 1.5}}"#,
            Some("x"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("m.max_input_tokens"), "{e}");
    }

    /// The committed `data/catalog.json` is what the generator makes of `../shared/data`.
    #[test]
    fn the_committed_file_is_what_the_generator_makes_of_the_shared_data() {
        let source = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/model_prices_and_context_window.json"
        );
        let Ok(text) = std::fs::read_to_string(source) else {
            eprintln!(
                "SKIPPED: {source} is not here (the shared reference data sits beside the \
                 repository); the committed catalog was not compared with its source"
            );
            return;
        };
        let generated = generate(&text, None).unwrap();
        assert!(
            generated.text == crate::bundled::FILE,
            "catalog/data/catalog.json is stale: run `{COMMAND}` from the repository root"
        );
        assert!(
            crate::bundled::ATTRIBUTION.contains(&format!("LiteLLM {}", generated.source_version)),
            "bundled::ATTRIBUTION names another version than {}",
            generated.source_version
        );
    }
}
