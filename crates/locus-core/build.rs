//! Generates the role x permission table from `permissions.csv`, a verbatim copy
//! of `shared/spec/permissions.csv`, so that nobody ever retypes the matrix.
//! A test (`tests/matrix.rs`) checks the copy against the shared original cell by cell.

use std::fmt::Write as _;
use std::{env, fs, path::Path};

const ROLES: [&str; 7] = [
    "VIEWER",
    "VIEW_CREATOR",
    "EDITOR",
    "DATA_EDITOR",
    "ADMIN",
    "LOAD_DATA",
    "LOCATION_API_CONSUMER",
];

fn variant_name(key: &str) -> String {
    key.split(['.', '_'])
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[allow(clippy::unwrap_used)] // a build script reports by panicking
fn main() {
    println!("cargo:rerun-if-changed=permissions.csv");
    let csv = fs::read_to_string("permissions.csv").expect("permissions.csv next to build.rs");
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("header row").split(',').collect();
    assert_eq!(&header[..3], ["category", "permission", "key"], "unexpected header");
    assert_eq!(&header[3..], ROLES, "role columns must be the 7 roles in API order");

    let mut variants = String::new();
    let mut keys = String::new();
    let mut labels = String::new();
    let mut categories = String::new();
    let mut all = String::new();
    let mut grants = [0u64; 7];
    let mut count = 0usize;
    for line in lines {
        // The label column may hold commas inside parentheses; the key and the 7 cells are the last 8 fields.
        let fields: Vec<&str> = line.split(',').collect();
        assert!(fields.len() >= 10, "short row: {line}");
        let n = fields.len();
        let category = fields[0];
        let label = fields[1..n - 8].join(",");
        let key = fields[n - 8];
        let variant = variant_name(key);
        writeln!(variants, "    /// `{key}`: {label}.\n    {variant} = {count},").unwrap();
        writeln!(keys, "            Permission::{variant} => \"{key}\",").unwrap();
        writeln!(labels, "            Permission::{variant} => \"{label}\",").unwrap();
        writeln!(categories, "            Permission::{variant} => \"{category}\",").unwrap();
        writeln!(all, "        Permission::{variant},").unwrap();
        for (role, cell) in fields[n - 7..].iter().enumerate() {
            match cell.trim() {
                "1" => grants[role] |= 1 << count,
                "0" => {}
                other => panic!("cell {other:?} in row {key} is neither 0 nor 1"),
            }
        }
        count += 1;
    }
    assert!(count <= 64, "the grant table is a u64 bitset");

    let code = format!(
        "/// Every permission of the matrix, in the order of `permissions.csv`.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n\
         #[repr(u8)]\n\
         pub enum Permission {{\n{variants}}}\n\n\
         impl Permission {{\n\
         /// All permissions in matrix order.\n\
         pub const ALL: [Permission; {count}] = [\n{all}    ];\n\n\
         /// The permission's key, as in the `key` column (`project.access`).\n\
         pub const fn key(self) -> &'static str {{\n        match self {{\n{keys}        }}\n    }}\n\n\
         /// The human label from the seed documentation.\n\
         pub const fn label(self) -> &'static str {{\n        match self {{\n{labels}        }}\n    }}\n\n\
         /// The matrix category (`project`, `membership`, …).\n\
         pub const fn category(self) -> &'static str {{\n        match self {{\n{categories}        }}\n    }}\n\
         }}\n\n\
         /// Bit `p` of `GRANTS[r]` is set when role `r` (in `Role::ALL` order) holds permission `p`.\n\
         pub(crate) const GRANTS: [u64; 7] = {grants:?};\n"
    );
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("permissions.rs");
    fs::write(out, code).unwrap();
}
