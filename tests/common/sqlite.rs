//! The `Sql` port on an in-memory SQLite database with the project's migrations applied: the
//! admin API's statements run here exactly as they run on D1.

use std::cell::RefCell;

use portcullis::sql::{Row, Sql, SqlError, SqlValue, Statement};
use rusqlite::types::{Value as SqliteValue, ValueRef};
use rusqlite::Connection;
use serde_json::Value;

pub struct SqliteDb {
    pub conn: RefCell<Connection>,
    /// Round trips as D1 would see them: each `query`, and each `batch` as one.
    pub round_trips: RefCell<usize>,
}

impl SqliteDb {
    /// A fresh database with every migration applied in order.
    pub fn migrated() -> SqliteDb {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            conn.execute_batch(&std::fs::read_to_string(file).unwrap())
                .unwrap();
        }
        SqliteDb {
            conn: RefCell::new(conn),
            round_trips: RefCell::new(0),
        }
    }
}

fn bind(args: Vec<SqlValue>) -> Vec<SqliteValue> {
    args.into_iter()
        .map(|a| match a {
            SqlValue::Null => SqliteValue::Null,
            SqlValue::Int(n) => SqliteValue::Integer(n),
            SqlValue::Text(s) => SqliteValue::Text(s),
        })
        .collect()
}

fn classify(e: rusqlite::Error) -> SqlError {
    SqlError::from_message(&e.to_string())
}

impl Sql for SqliteDb {
    async fn query(&self, sql: &str, args: Vec<SqlValue>) -> Result<Vec<Row>, SqlError> {
        *self.round_trips.borrow_mut() += 1;
        let conn = self.conn.borrow();
        let mut stmt = conn.prepare(sql).map_err(classify)?;
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(bind(args)))
            .map_err(classify)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(classify)? {
            let mut map = Row::new();
            for (i, name) in names.iter().enumerate() {
                let value = match row.get_ref(i).map_err(classify)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::from(n),
                    ValueRef::Real(f) => Value::from(f),
                    ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).to_string()),
                    ValueRef::Blob(_) => Value::Null,
                };
                map.insert(name.clone(), value);
            }
            out.push(map);
        }
        Ok(out)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, SqlError> {
        *self.round_trips.borrow_mut() += 1;
        let mut conn = self.conn.borrow_mut();
        let tx = conn.transaction().map_err(classify)?;
        let mut changed = Vec::new();
        for (sql, args) in statements {
            let n = tx
                .execute(sql, rusqlite::params_from_iter(bind(args)))
                .map_err(classify)?;
            changed.push(n as u64);
        }
        tx.commit().map_err(classify)?;
        Ok(changed)
    }
}
