//! README.md must carry the current coverage table, generated from the route table.

#[test]
fn the_readme_coverage_table_is_current() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md exists");
    let table = bedrock_emulator::api::coverage_markdown();
    assert!(
        readme.contains(&table),
        "README.md's coverage table is stale; replace it with the output of `cargo run --bin bedrock-emulator -- coverage`:\n{table}"
    );
}
