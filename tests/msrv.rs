//! The workspace declares `rust-version = "1.88"`. CI has one toolchain (the newest
//! stable), so the declaration is held up by two checks instead of a second compiler:
//! clippy's `incompatible_msrv` lint (on by default, and warnings are denied) rejects any
//! standard-library item newer than it, and this test rejects any locked dependency that
//! declares a newer one.

use std::process::Command;

use serde_json::Value;

/// `"1.88"` or `"1.88.0"` as `(1, 88, 0)`.
fn version(v: &str) -> (u64, u64, u64) {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

/// The target triple `rustc` builds for by default here, e.g. `x86_64-unknown-linux-gnu`.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names its host")
        .trim()
        .to_owned()
}

#[test]
fn no_locked_dependency_needs_a_newer_rust_than_the_workspace_declares() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Offline, so only for this host: the build downloaded exactly the packages this
    // platform uses, and the lock also lists others (`half` needs `crunchy` on some
    // targets), which a fresh machine has never fetched.
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let packages = meta["packages"].as_array().expect("a package list");

    let ours = packages
        .iter()
        .find(|p| p["name"] == "tower-ajp")
        .expect("the root package");
    let declared = ours["rust_version"].as_str().expect("rust-version is set");
    let msrv = version(declared);

    let mut checked = 0;
    let mut newer = Vec::new();
    for p in packages {
        if let Some(rv) = p["rust_version"].as_str() {
            checked += 1;
            if version(rv) > msrv {
                newer.push(format!("{} {} needs {rv}", p["name"], p["version"]));
            }
        }
    }
    // Most of the tree declares one (tokio, hyper, http, bytes, ...): a count this low
    // would mean the metadata was not read as expected.
    assert!(
        checked >= 20,
        "only {checked} packages declare a rust-version"
    );
    assert!(
        newer.is_empty(),
        "the workspace declares rust-version {declared}, but: {newer:?}"
    );
}
