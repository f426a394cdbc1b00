//! The README's schema table must list exactly `Record::FIELDS`, in order, with each column's
//! type and nullability: the code is the one definition, the table is checked against it.

use accesslake_transform::{Kind, Record};

#[test]
fn readme_schema_table_matches_the_code() {
    let readme = std::fs::read_to_string(format!(
        "{}/../README.md",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let start = readme
        .find("<!-- schema:start -->")
        .expect("schema:start marker");
    let end = readme
        .find("<!-- schema:end -->")
        .expect("schema:end marker");
    let rows: Vec<(String, String)> = readme[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_owned(), cells[2].to_owned())
        })
        .collect();
    let want: Vec<(String, String)> = Record::FIELDS
        .iter()
        .map(|f| {
            let kind = match f.kind {
                Kind::Timestamp => "timestamp (UTC, µs)",
                Kind::Str => "string",
                Kind::Int32 => "int32",
                Kind::Int64 => "int64",
                Kind::Float64 => "float64",
                Kind::Bool => "bool",
            };
            let ty = if f.nullable {
                format!("{kind}, null")
            } else {
                kind.to_owned()
            };
            (f.name.to_owned(), ty)
        })
        .collect();
    assert_eq!(rows, want);
}
