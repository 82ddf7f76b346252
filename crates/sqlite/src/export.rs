//! Reading a whole database out, for `latch copy`: which tables it has,
//! their columns, keys and foreign keys, and their rows as typed values
//! ([`latch_sql::transfer::Value`]), in batches.
//!
//! A [`Snapshot`] is one connection that never writes (`query_only`) holding
//! one read transaction from open to drop: in WAL mode every read it makes
//! sees the database as it was when the snapshot opened, so a copy taken
//! while a server writes is still one consistent state. Its calls block:
//! run them on the blocking pool.

use std::path::Path;

use latch_core::error::StoreError;
use latch_sql::transfer::{Row, Value, quote};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::error::DbError;

/// A table as SQLite declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTable {
    pub name: String,
    /// Every column, in declaration order.
    pub columns: Vec<String>,
    /// The primary key's columns, in key order.
    pub primary_key: Vec<String>,
    /// The tables its foreign keys refer to (itself excluded).
    pub references: Vec<String>,
    /// Whether rows have a `rowid`, the order they were inserted in.
    pub has_rowid: bool,
}

/// Where a batch read stops, so the next one starts after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor(Vec<Value>);

/// One read transaction over the database file.
pub struct Snapshot {
    conn: Connection,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Opens the existing database at `path` and starts the read
    /// transaction. Refuses a file whose schema is not the one this build
    /// writes (`latch migrate` brings it there), so its tables are the
    /// ones the copy expects.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self::open_inner(path)?)
    }

    fn open_inner(path: &Path) -> Result<Self, DbError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "query_only", true)?;
        conn.execute_batch("BEGIN DEFERRED")?;
        // The snapshot starts at the transaction's first read.
        let version: u32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let latest = crate::migrations::latest();
        if version != latest {
            return Err(StoreError::Other(format!(
                "the database is at schema version {version}, this build's is {latest}: run `latch migrate` first"
            ))
            .into());
        }
        Ok(Self { conn })
    }

    /// Every table but SQLite's own, by name.
    pub fn tables(&self) -> Result<Vec<SourceTable>, StoreError> {
        Ok(self.tables_inner()?)
    }

    fn tables_inner(&self) -> Result<Vec<SourceTable>, DbError> {
        let names: Vec<String> = self
            .conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut tables = Vec::with_capacity(names.len());
        for name in names {
            let mut columns: Vec<(i64, String)> = Vec::new();
            let mut all = Vec::new();
            let mut info = self
                .conn
                .prepare("SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid")?;
            let mut rows = info.query([&name])?;
            while let Some(row) = rows.next()? {
                let column: String = row.get(0)?;
                let pk: i64 = row.get(1)?;
                if pk > 0 {
                    columns.push((pk, column.clone()));
                }
                all.push(column);
            }
            columns.sort();
            let mut references: Vec<String> = self
                .conn
                .prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")?
                .query_map([&name], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            references.retain(|r| *r != name);
            references.sort();
            let has_rowid = self
                .conn
                .prepare(&format!("SELECT rowid FROM {} LIMIT 0", quote(&name)))
                .is_ok();
            tables.push(SourceTable {
                primary_key: columns.into_iter().map(|(_, c)| c).collect(),
                columns: all,
                references,
                has_rowid,
                name,
            });
        }
        Ok(tables)
    }

    /// How many rows `table` holds.
    pub fn count(&self, table: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row(
                &format!("SELECT COUNT(*) FROM {}", quote(table)),
                [],
                |row| row.get(0),
            )
            .map_err(DbError::from)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Up to `limit` rows of `table` (the `columns` asked for) after
    /// `after`, in insertion order (`rowid`) when the table has one, else in
    /// primary-key order; with the cursor to pass for the next batch, `None`
    /// once none are left.
    pub fn batch(
        &self,
        table: &SourceTable,
        columns: &[String],
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<(Vec<Row>, Option<Cursor>), StoreError> {
        let key: Vec<String> = if table.has_rowid {
            vec!["rowid".to_owned()]
        } else {
            table.primary_key.clone()
        };
        Ok(self.batch_inner(&table.name, &key, columns, after, limit)?)
    }

    fn batch_inner(
        &self,
        table: &str,
        key: &[String],
        columns: &[String],
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<(Vec<Row>, Option<Cursor>), DbError> {
        if key.is_empty() {
            return Err(StoreError::Other(format!(
                "table {table} has neither rowid nor primary key"
            ))
            .into());
        }
        let keys = key.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ");
        let selected = key
            .iter()
            .chain(columns)
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let place = (1..=key.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let filter = match after {
            Some(_) => format!("WHERE ({keys}) > ({place})"),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {selected} FROM {} {filter} ORDER BY {keys} LIMIT {limit}",
            quote(table)
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let params: Vec<rusqlite::types::Value> = after
            .map(|c| c.0.iter().map(to_sqlite).collect())
            .unwrap_or_default();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::with_capacity(limit);
        let mut last = None;
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(key.len() + columns.len());
            for i in 0..key.len() + columns.len() {
                values.push(from_sqlite(row.get_ref(i)?));
            }
            let data = values.split_off(key.len());
            last = Some(Cursor(values));
            out.push(data);
        }
        let next = if out.len() < limit { None } else { last };
        Ok((out, next))
    }

    /// Calls `each` with every row of `table` (the `columns` asked for) in
    /// primary-key order, the order the check's digest is taken in.
    pub fn for_each_by_key(
        &self,
        table: &SourceTable,
        columns: &[String],
        mut each: impl FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut after = None;
        loop {
            let (rows, next) = self.batch_inner(
                &table.name,
                &table.primary_key,
                columns,
                after.as_ref(),
                1000,
            )?;
            for row in rows {
                each(row)?;
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => return Ok(()),
            }
        }
    }
}

fn from_sqlite(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Integer(n),
        ValueRef::Real(x) => Value::Real(x),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn to_sqlite(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        Value::Null => V::Null,
        Value::Integer(n) => V::Integer(*n),
        Value::Real(x) => V::Real(*x),
        Value::Boolean(b) => V::Integer(i64::from(*b)),
        Value::Text(s) => V::Text(s.clone()),
        Value::Json(j) => V::Text(j.to_string()),
        Value::Blob(b) => V::Blob(b.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latch.db");
        crate::migrate(&path).unwrap();
        (dir, path)
    }

    fn write(path: &Path, sql: &str) {
        Connection::open(path).unwrap().execute_batch(sql).unwrap();
    }

    #[test]
    fn tables_carry_their_keys_and_references() {
        let (_dir, path) = database();
        let snapshot = Snapshot::open(&path).unwrap();
        let tables = snapshot.tables().unwrap();
        let find = |name: &str| tables.iter().find(|t| t.name == name).unwrap().clone();
        let codes = find("backup_codes");
        assert_eq!(codes.primary_key, ["user_id", "digest"]);
        assert_eq!(codes.references, ["users"]);
        assert!(!codes.has_rowid);
        let messages = find("webhook_messages");
        assert_eq!(messages.references, ["events", "webhook_endpoints"]);
        assert!(find("users").has_rowid);
        assert!(find("users").columns.contains(&"totp_secret".to_owned()));
        assert!(!tables.iter().any(|t| t.name.starts_with("sqlite_")));
    }

    #[test]
    fn batches_follow_insertion_order_and_stop_at_the_end() {
        let (_dir, path) = database();
        write(
            &path,
            "INSERT INTO instance (key, value) VALUES ('b', 'first'), ('a', 'second'), ('c', 'third');",
        );
        let snapshot = Snapshot::open(&path).unwrap();
        let table = snapshot
            .tables()
            .unwrap()
            .into_iter()
            .find(|t| t.name == "instance")
            .unwrap();
        let columns = ["key".to_owned()];
        let (first, next) = snapshot.batch(&table, &columns, None, 2).unwrap();
        assert_eq!(
            first,
            [[Value::Text("b".into())], [Value::Text("a".into())]]
        );
        let (rest, end) = snapshot.batch(&table, &columns, next.as_ref(), 2).unwrap();
        assert_eq!(rest, [[Value::Text("c".into())]]);
        assert_eq!(end, None);
        let mut by_key = Vec::new();
        snapshot
            .for_each_by_key(&table, &columns, |row| {
                by_key.push(row);
                Ok(())
            })
            .unwrap();
        assert_eq!(by_key.len(), 3);
        assert_eq!(by_key[0], [Value::Text("a".into())]);
        assert_eq!(snapshot.count("instance").unwrap(), 3);
    }

    #[test]
    fn a_snapshot_does_not_see_later_writes() {
        let (_dir, path) = database();
        write(
            &path,
            "INSERT INTO instance (key, value) VALUES ('k', 'v');",
        );
        let snapshot = Snapshot::open(&path).unwrap();
        write(
            &path,
            "INSERT INTO instance (key, value) VALUES ('l', 'w');",
        );
        assert_eq!(snapshot.count("instance").unwrap(), 1);
        drop(snapshot);
        assert_eq!(Snapshot::open(&path).unwrap().count("instance").unwrap(), 2);
    }

    #[test]
    fn a_database_behind_this_build_is_refused() {
        let (_dir, path) = database();
        write(&path, "PRAGMA user_version = 3;");
        let err = Snapshot::open(&path).unwrap_err();
        assert!(err.to_string().contains("latch migrate"), "{err}");
    }
}
