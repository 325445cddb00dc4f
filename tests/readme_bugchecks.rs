//! The README's bug-check table lists every code and subcode that src/bugcheck.rs defines.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `(module, value)` for every `pub const NAME: T = 0x..;` in src/bugcheck.rs; module is
/// "" for the top level, else the `pub mod` it sits in.
fn defined_codes() -> Vec<(String, u64)> {
    let source = read("src/bugcheck.rs");
    let mut module = String::new();
    let mut codes = Vec::new();
    for line in source.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("pub mod ") {
            module = rest.trim_end_matches(" {").to_string();
        } else if line.starts_with('}') {
            module.clear();
        } else if trimmed.starts_with("pub const ") {
            let value = trimmed
                .rsplit('=')
                .next()
                .expect("a value")
                .trim()
                .trim_end_matches(';')
                .replace('_', "");
            let value = value.strip_prefix("0x").expect("hex constants");
            codes.push((module.clone(), u64::from_str_radix(value, 16).expect("hex")));
        }
    }
    codes
}

#[test]
fn readme_table_lists_every_bug_check_code() {
    let readme = read("README.md");
    let rows: Vec<(String, String)> = readme
        .lines()
        .filter(|l| l.starts_with("| 0x"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_lowercase(), cells[2].to_lowercase())
        })
        .collect();
    let codes = defined_codes();
    assert!(codes.len() > 40, "parsed only {} codes", codes.len());
    let mut missing = Vec::new();
    for (module, value) in &codes {
        let found = match module.as_str() {
            "" => rows.iter().any(|(code, _)| {
                code.split_whitespace()
                    .next()
                    .and_then(|c| c.strip_prefix("0x"))
                    .and_then(|c| u64::from_str_radix(c, 16).ok())
                    == Some(*value)
            }),
            "verifier" => rows
                .iter()
                .any(|(code, p1)| code == "0xc4" && *p1 == format!("0x{value:02x}")),
            "rw" => rows
                .iter()
                .any(|(code, p1)| code == "0x4e44524c" && *p1 == format!("0x{value:02x}")),
            other => panic!("unexpected module {other} in src/bugcheck.rs"),
        };
        if !found {
            missing.push(format!("{module}::0x{value:X}"));
        }
    }
    assert!(missing.is_empty(), "README.md's table lacks {missing:?}");
}
