//! A small SQL port: the same statements run on D1 at the edge and on SQLite (rusqlite, with the
//! same migrations) in native tests, so the queries themselves are tested without wasm.
#![allow(async_fn_in_trait)]

use serde_json::{Map, Value};

/// A bound parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_string())
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}

impl From<i64> for SqlValue {
    fn from(n: i64) -> Self {
        SqlValue::Int(n)
    }
}

impl From<bool> for SqlValue {
    fn from(b: bool) -> Self {
        SqlValue::Int(b as i64)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(SqlValue::Null)
    }
}

/// One result row, column name → value.
pub type Row = Map<String, Value>;

/// A statement and its parameters.
pub type Statement = (&'static str, Vec<SqlValue>);

/// Why a statement failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlError {
    /// A UNIQUE constraint failed, on `table.column`.
    Unique(String),
    /// A FOREIGN KEY constraint failed.
    ForeignKey,
    /// Anything else: the database is unavailable or the statement is wrong.
    Other(String),
}

impl SqlError {
    /// Classifies a database error message (D1 and SQLite word them the same way).
    pub fn from_message(message: &str) -> SqlError {
        if let Some(i) = message.find("UNIQUE constraint failed: ") {
            let rest = &message[i + "UNIQUE constraint failed: ".len()..];
            let target = rest.split([':', ' ', ',']).next().unwrap_or("").to_string();
            return SqlError::Unique(target);
        }
        if message.contains("FOREIGN KEY constraint failed") {
            return SqlError::ForeignKey;
        }
        SqlError::Other(message.to_string())
    }
}

pub trait Sql {
    /// Runs a query and returns its rows.
    async fn query(&self, sql: &str, args: Vec<SqlValue>) -> Result<Vec<Row>, SqlError>;
    /// Runs statements atomically (all or none) and returns the rows each changed.
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, SqlError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_messages_are_classified() {
        assert_eq!(
            SqlError::from_message(
                "D1_ERROR: UNIQUE constraint failed: users.email: SQLITE_CONSTRAINT"
            ),
            SqlError::Unique("users.email".into())
        );
        assert_eq!(
            SqlError::from_message(
                "UNIQUE constraint failed: permissions.resource_id, permissions.name"
            ),
            SqlError::Unique("permissions.resource_id".into())
        );
        assert_eq!(
            SqlError::from_message("FOREIGN KEY constraint failed"),
            SqlError::ForeignKey
        );
        assert!(matches!(
            SqlError::from_message("no such table"),
            SqlError::Other(_)
        ));
    }
}
