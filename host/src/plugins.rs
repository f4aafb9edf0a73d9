//! Finding and loading the plugin directory.

use std::path::{Path, PathBuf};

use switchyard_plugin_sdk::host::PluginHandle;
use switchyard_plugin_sdk::loader::{discover_plugins, load_plugin};

/// The plugin directory: the flag (or `SWITCHYARD_PLUGIN_DIR`), else the config's
/// `switchyard.plugin_dir`, else the directory holding the `switchyard` executable — which for
/// a cargo build is `target/<profile>/`, where cargo puts the provider plugins it builds.
pub(crate) fn resolve_plugin_dir(flag: Option<PathBuf>, from_config: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = flag.or(from_config) {
        return dir;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Loads every plugin file in `dir`. Any file that fails is an error: a gateway silently
/// missing a provider is worse than one that does not start.
pub(crate) fn load_plugin_dir(dir: &Path) -> Result<Vec<PluginHandle>, String> {
    let files = discover_plugins(dir)
        .map_err(|e| format!("cannot read plugin directory {}: {e}", dir.display()))?;
    if files.is_empty() {
        return Err(format!(
            "no plugins in {} (plugin files are named {}switchyard_provider_*{}); build them with \
             `cargo build --release --workspace` or pass --plugin-dir",
            dir.display(),
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ));
    }
    files
        .iter()
        .map(|f| load_plugin(f).map_err(|e| e.to_string()))
        .collect()
}
