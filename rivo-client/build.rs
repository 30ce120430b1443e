//! Generates the client from the committed `openapi.json` at the repository root, so a spec that
//! stops generating a working client breaks the build.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    let spec_text = std::fs::read_to_string(&spec_path)
        .map_err(|e| format!("reading {}: {e}", spec_path.display()))?;
    let spec = serde_json::from_str(&spec_text).map_err(|e| {
        format!(
            "{} is not an OpenAPI 3.0 document: {e}",
            spec_path.display()
        )
    })?;
    // Builder style (`client.chat_send().body(..).send()`): adding an optional parameter to
    // an operation does not break callers.
    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&spec)
        .map_err(|e| format!("progenitor cannot generate a client from openapi.json: {e}"))?;
    let file = syn::parse2(tokens)?;
    let code = prettyplease::unparse(&file);
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("rivo_api.rs");
    std::fs::write(&out, code)?;
    Ok(())
}
