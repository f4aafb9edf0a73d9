//! Regenerates `core/catalog/catalog.json` from LiteLLM's catalog:
//! `cargo run -p switchyard-core --example generate-catalog -- ../shared/data/model_prices_and_context_window.json`

fn main() {
    let Some(source) = std::env::args().nth(1) else {
        eprintln!("usage: generate-catalog <model_prices_and_context_window.json>");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&source).unwrap_or_else(|e| {
        eprintln!("{source}: {e}");
        std::process::exit(1);
    });
    let out = switchyard_core::catalog::generate(&text).unwrap_or_else(|e| {
        eprintln!("{source}: {e}");
        std::process::exit(1);
    });
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/catalog.json");
    std::fs::write(&target, out).unwrap_or_else(|e| {
        eprintln!("{}: {e}", target.display());
        std::process::exit(1);
    });
    println!("wrote {}", target.display());
}
