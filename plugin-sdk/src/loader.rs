//! Loading plugin files (the host and the conformance runner share this loader).
//!
//! Loading happens in two steps so a wrong file gets a one-line error instead of a layout
//! panic: first `libloading` opens the file and reads the plain `extern "C"` epoch symbol; only
//! a plugin of this host's epoch is then handed to abi_stable, which checks the type layout.
//! Each file is loaded through `lib_header_from_path(..).init_root_module()` rather than
//! `RootModule::load_from_file`, which caches one module per type and would return the first
//! plugin for every later file. Libraries are never unloaded.

#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

use abi_stable::library::lib_header_from_path;

use crate::abi::PluginModuleRef;
use crate::host::{PluginError, PluginHandle, PluginOrigin};

/// The plain C symbol every plugin exports with its ABI epoch.
pub const EPOCH_SYMBOL: &[u8] = b"switchyard_abi_epoch\0";

/// The file-name prefix of plugins discovered in a plugin directory, after the platform's
/// `lib` prefix: `libswitchyard_provider_openai.so`.
pub const PLUGIN_FILE_PREFIX: &str = "switchyard_provider_";

/// Loads one plugin file.
pub fn load_plugin(path: &Path) -> Result<PluginHandle, PluginError> {
    let origin = PluginOrigin::File(path.to_path_buf());
    let err = |message: String| PluginError {
        origin: origin.clone(),
        message,
    };

    if !path.is_file() {
        return Err(err("no such plugin file".to_owned()));
    }

    // SAFETY: opening a library runs its initialisers. Plugin directories are trusted
    // configuration (like the binary itself); this is the inherent risk of native plugins.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|e| err(format!("not a loadable shared library ({e})")))?;

    // SAFETY: the symbol is declared by `export_provider!` as `extern "C" fn() -> u32`; a file
    // exporting the same name with another type is not a switchyard plugin of any epoch.
    let epoch = unsafe {
        let symbol = library
            .get::<extern "C" fn() -> u32>(EPOCH_SYMBOL)
            .map_err(|_| {
                err("not a switchyard plugin (no `switchyard_abi_epoch` symbol)".to_owned())
            })?;
        symbol()
    };
    if epoch != crate::ABI_EPOCH {
        return Err(err(format!(
            "plugin is built for ABI epoch {epoch}, this host speaks epoch {}; rebuild it \
             against a switchyard-plugin-sdk of epoch {}",
            crate::ABI_EPOCH,
            crate::ABI_EPOCH
        )));
    }
    // Plugins are never unloaded: their code backs 'static trait objects.
    std::mem::forget(library);

    let header = lib_header_from_path(path).map_err(|e| {
        err(format!(
            "abi_stable header rejected: {}",
            one_line(&e.to_string())
        ))
    })?;
    let module = header.init_root_module::<PluginModuleRef>().map_err(|e| {
        err(format!(
            "incompatible plugin layout: {}",
            one_line(&e.to_string())
        ))
    })?;
    PluginHandle::from_module(module, origin)
}

/// The plugin files in `dir` (sorted by name), found by [`PLUGIN_FILE_PREFIX`] and the
/// platform's shared-library suffix.
pub fn discover_plugins(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if is_plugin_file_name(&path) && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn is_plugin_file_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let stem = name
        .strip_prefix(std::env::consts::DLL_PREFIX)
        .unwrap_or(name);
    stem.starts_with(PLUGIN_FILE_PREFIX)
        && name.ends_with(std::env::consts::DLL_SUFFIX)
        && !name.contains(".so.")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_file_names_follow_the_prefix_and_suffix() {
        let so = std::env::consts::DLL_SUFFIX;
        let lib = std::env::consts::DLL_PREFIX;
        assert!(is_plugin_file_name(Path::new(&format!(
            "{lib}switchyard_provider_openai{so}"
        ))));
        assert!(!is_plugin_file_name(Path::new(&format!("{lib}other{so}"))));
        assert!(!is_plugin_file_name(Path::new(&format!(
            "{lib}switchyard_provider_x.rlib"
        ))));
    }
}
