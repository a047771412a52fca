//! The schema the code expects is the newest migration in `migrations/`.

#[test]
fn the_health_check_expects_the_newest_migration() {
    let mut names: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
    names.sort();
    assert_eq!(
        names.last().map(String::as_str),
        Some(portcullis::LATEST_MIGRATION)
    );
}
