//! The role x permission table in the code against `shared/spec/permissions.csv`,
//! cell by cell. The shared file sits beside the repository (`../shared`); under
//! `CI=true` it must be there.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use locus_core::{Permission, Role};
use std::path::PathBuf;

fn shared_matrix() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/spec/permissions.csv");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("CI=true but {} is unreadable: {e}", path.display()),
        Err(_) => {
            eprintln!("skipped: {} not found; the build still used the vendored copy", path.display());
            None
        }
    }
}

#[test]
fn every_cell_matches_the_shared_matrix() {
    let Some(csv) = shared_matrix() else { return };
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let roles: Vec<Role> = header[3..].iter().map(|name| Role::parse("role", name).unwrap()).collect();
    assert_eq!(roles, Role::ALL, "the 7 roles, in matrix order");
    let mut seen = 0;
    let mut cells = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let n = fields.len();
        let key = fields[n - 8];
        let permission = Permission::from_key(key).unwrap_or_else(|| panic!("{key} is in the CSV but not in the code"));
        assert_eq!(permission, Permission::ALL[seen], "permissions keep the CSV's order");
        for (role, cell) in roles.iter().zip(&fields[n - 7..]) {
            assert_eq!(role.grants(permission), *cell == "1", "{role} {key}");
            cells += 1;
        }
        seen += 1;
    }
    assert_eq!(seen, Permission::ALL.len(), "every permission of the code is in the CSV");
    assert_eq!((seen, cells), (38, 7 * 38));
}

#[test]
fn the_vendored_copy_is_the_shared_file() {
    let Some(shared) = shared_matrix() else { return };
    let vendored = include_str!("../permissions.csv");
    assert_eq!(
        vendored, shared,
        "copy shared/spec/permissions.csv over crates/locus-core/permissions.csv"
    );
}
