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

#[test]
fn consents_remembered_before_they_had_an_issuer_are_kept_under_none() {
    // Every migration before 0019, a consent, then 0019: the row is kept (the account page shows
    // it and can revoke it) under the empty issuer, which is no plugin's.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
    let run = |file: &std::path::PathBuf| {
        conn.execute_batch(&std::fs::read_to_string(file).unwrap())
            .unwrap()
    };
    let (before, after): (Vec<_>, Vec<_>) = files
        .iter()
        .partition(|p| p.file_name().unwrap().to_str().unwrap() < "0019");
    before.into_iter().for_each(run);
    conn.execute_batch(
        "INSERT INTO users (id, email, name, created_at, updated_at) VALUES ('usr_1', 'a@example.com', 'A', 1, 1);
         INSERT INTO consents (user_id, client_id, resource, scopes, created_at, updated_at)
           VALUES ('usr_1', 'chatgpt', 'https://todo.example.com', 'todos:read', 1, 2);",
    )
    .unwrap();
    after.into_iter().for_each(run);
    let row: (String, String, String, String, i64, i64) = conn
        .query_row(
            "SELECT user_id, client_id, resource, issuer, created_at, updated_at FROM consents",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "usr_1".into(),
            "chatgpt".into(),
            "https://todo.example.com".into(),
            String::new(),
            1,
            2
        )
    );
    // The same consent may now be remembered at a plugin beside it.
    conn.execute(
        "INSERT INTO consents (user_id, client_id, resource, issuer, scopes, created_at, updated_at)
         VALUES ('usr_1', 'chatgpt', 'https://todo.example.com', 'https://todo.example.com', 'todos:read', 3, 3)",
        [],
    )
    .unwrap();
    // Deleting the user still deletes their consents.
    conn.execute("DELETE FROM users WHERE id = 'usr_1'", [])
        .unwrap();
    let left: i64 = conn
        .query_row("SELECT COUNT(*) FROM consents", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}
