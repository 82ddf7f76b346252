//! Operators' copies of the database: an online backup taken while Latch
//! serves (SQLite's backup API, in one step, so the copy is one consistent
//! snapshot and writers are never blocked in WAL mode), and a restore into
//! an instance that is stopped. Both check what they wrote.
//!
//! A running instance holds a shared lock on `<database>.lock` for as long
//! as its store is open; a restore takes it exclusively, so it refuses to
//! write under a running Latch.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use latch_core::error::StoreError;
use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use crate::error::DbError;

/// The tables whose rows a check counts, as operators think of them.
const COUNTED: &[&str] = &[
    "users",
    "email_addresses",
    "phone_numbers",
    "external_accounts",
    "clients",
    "sessions",
    "settings_versions",
];

/// What a checked database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub schema_version: u32,
    /// Rows of each counted table the database has.
    pub rows: Vec<(&'static str, u64)>,
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "schema version {}", self.schema_version)?;
        for (table, n) in &self.rows {
            write!(f, ", {n} {table}")?;
        }
        Ok(())
    }
}

/// The lock file beside `database`.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock(database: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(database))
        .map_err(|e| {
            StoreError::Other(format!(
                "cannot open {}: {e}",
                lock_path(database).display()
            ))
        })
}

/// The shared lock an open store holds on `database` (released when the
/// file is dropped). Where the file system has no locks, none is held.
pub(crate) fn hold_shared(database: &Path) -> Option<File> {
    let file = open_lock(database).ok()?;
    file.lock_shared().ok()?;
    Some(file)
}

/// Copies the database at `database` into a new file `to`, and checks the
/// copy. Refuses to overwrite `to`.
pub fn backup(database: &Path, to: &Path) -> Result<Snapshot, StoreError> {
    if to.exists() {
        return Err(StoreError::Other(format!(
            "{} exists; a backup never overwrites a file",
            to.display()
        )));
    }
    if !database.exists() {
        return Err(StoreError::Other(format!(
            "no database at {}",
            database.display()
        )));
    }
    let source = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(DbError::from)?;
    let mut copy = Connection::open(to).map_err(DbError::from)?;
    let copied = (|| {
        let backup = Backup::new(&source, &mut copy)?;
        // Every page in one step: one consistent snapshot.
        backup.step(-1)?;
        Ok::<(), rusqlite::Error>(())
    })();
    drop(copy);
    if let Err(err) = copied {
        let _ = std::fs::remove_file(to);
        return Err(DbError::from(err).into());
    }
    check(to).inspect_err(|_| {
        let _ = std::fs::remove_file(to);
    })
}

/// Checks the database at `path`: SQLite's integrity check passes, its
/// schema is one this build knows, and it has Latch's tables.
pub fn check(path: &Path) -> Result<Snapshot, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(DbError::from)?;
    let not_latch = |why: String| StoreError::Other(format!("{}: {why}", path.display()));
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| not_latch(format!("not a readable SQLite database ({e})")))?;
    if integrity != "ok" {
        return Err(not_latch(format!(
            "the integrity check failed: {integrity}"
        )));
    }
    let schema_version: u32 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(DbError::from)?;
    let latest = crate::migrations::latest();
    if !(1..=latest).contains(&schema_version) {
        return Err(not_latch(format!(
            "schema version {schema_version} is not one of Latch's (1 to {latest})"
        )));
    }
    let mut rows = Vec::new();
    for table in COUNTED {
        let exists: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get(0),
            )
            .map_err(DbError::from)?;
        if !exists {
            // Older schemas lack later tables; a database lacking users is
            // not Latch's.
            if *table == "users" {
                return Err(not_latch("it has no users table".to_owned()));
            }
            continue;
        }
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .map_err(DbError::from)?;
        rows.push((*table, u64::try_from(n).unwrap_or(0)));
    }
    Ok(Snapshot {
        schema_version,
        rows,
    })
}

/// Replaces the database at `database` with the backup `from` (checked
/// first), brings it to this build's schema, and checks the result holds
/// what the backup did. Refuses while a Latch has the database open.
pub fn restore(from: &Path, database: &Path) -> Result<Snapshot, StoreError> {
    let wanted = check(from)?;
    let lock = open_lock(database)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StoreError::Other(format!(
                "{} is open in a running Latch; stop it before restoring",
                database.display()
            )));
        }
        Err(TryLockError::Error(e)) => {
            return Err(StoreError::Other(format!("cannot lock the database: {e}")));
        }
    }
    let mut target = crate::pool::open_writer(database, &crate::SqliteConfig::default())?;
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(DbError::from)?;
    {
        let backup = Backup::new(&source, &mut target).map_err(DbError::from)?;
        backup.step(-1).map_err(DbError::from)?;
    }
    crate::migrations::apply(&mut target)?;
    drop(target);
    let restored = check(database)?;
    if restored.rows != wanted.rows {
        return Err(StoreError::Other(format!(
            "the restored database holds {restored}, the backup {wanted}"
        )));
    }
    drop(lock);
    Ok(restored)
}
