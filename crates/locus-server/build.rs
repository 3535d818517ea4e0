//! Installs the map view's front-end libraries (MapLibre GL JS, Natural
//! Earth outlines from world-atlas, topojson-client) from the npm registry,
//! exactly as `assets/package-lock.json` pins them, into OUT_DIR; the server
//! embeds them and serves them from its own origin (no CDN at run time).

use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: &[&str] = &["package.json", "package-lock.json"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("npm");
    std::fs::create_dir_all(&out).expect("creating OUT_DIR/npm");
    let mut changed = false;
    for file in FILES {
        let from = manifest.join("assets").join(file);
        println!("cargo:rerun-if-changed={}", from.display());
        let text = std::fs::read(&from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
        let to = out.join(file);
        if std::fs::read(&to).ok().as_deref() != Some(text.as_slice()) {
            std::fs::write(&to, text).expect("copying the npm manifest");
            changed = true;
        }
    }
    if changed || !installed(&out) {
        let status = Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&out)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("`npm ci` for the map's front-end libraries failed ({s}); it needs the npm registry"),
            Err(e) => panic!("running npm (Node.js) to install the map's front-end libraries: {e}"),
        }
    }
}

fn installed(out: &Path) -> bool {
    out.join("node_modules/maplibre-gl/dist/maplibre-gl.mjs").exists()
}
