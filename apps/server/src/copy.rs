//! `latch copy --to postgres`: every durable row of the SQLite database
//! into PostgreSQL, then a check that both hold the same rows.
//!
//! The source is read in one read transaction (`latch_sqlite::export`), so
//! what is copied is one consistent state even if a server is writing. The
//! tables are those the SQLite migrations made, less the flow state (sign-ins
//! and sign-ups in progress, rate-limit counters: minutes-long, so a user
//! mid-sign-in starts again); each must have a PostgreSQL counterpart with
//! the same columns. They are copied parents first (foreign keys), in
//! batches of [`BATCH`] rows, one transaction each, a row whose primary key
//! is already there skipped: a copy stopped midway, run again with
//! `--resume`, ends with the same rows as one that never stopped.
//!
//! A target that already holds rows is refused, unless `--resume` is given
//! and its `latch_copy` marker names this source: the digest of the source's
//! `instance` table (its signing key, secret keys and stored encryption
//! key), which is that instance's identity.
//!
//! The check compares, per table, the row count and a SHA-256 digest of the
//! rows in primary-key order in a canonical form
//! (`latch_sql::transfer::TableDigest`), taken over the values converted to
//! the PostgreSQL column types on the source side and read back on the
//! target side.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use latch_core::error::StoreError;
use latch_postgres::import::{Importer, OnConflict, TargetTable};
use latch_sql::transfer::{ColumnType, Row, TableDigest, convert_row};
use latch_sqlite::export::{Snapshot, SourceTable};

use crate::settings::Postgres;

/// Rows per batch, and per transaction on the target.
pub const BATCH: usize = 1000;

/// Flow state: not copied.
const FLOW_STATE: &[&str] = &["sign_ins", "sign_ups", "counters"];

/// Tables whose rows the PostgreSQL migrations seed: the source's rows
/// overwrite them, and they do not make a target count as holding rows.
const SEEDED: &[&str] = &["settings_generation"];

/// What `latch copy` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub resume: bool,
    pub dry_run: bool,
}

/// One table to copy: its source shape, the columns both sides share (in
/// the source's order) and their PostgreSQL types.
struct Plan {
    source: SourceTable,
    target: TargetTable,
    columns: Vec<String>,
    types: Vec<ColumnType>,
    rows: u64,
}

/// The source snapshot, shared with the blocking pool.
#[derive(Clone)]
struct Source(Arc<Mutex<Snapshot>>);

impl Source {
    async fn open(path: &Path) -> anyhow::Result<Self> {
        if !path.is_file() {
            bail!("database.path: {} does not exist", path.display());
        }
        let owned = path.to_owned();
        let snapshot = tokio::task::spawn_blocking(move || Snapshot::open(&owned))
            .await?
            .with_context(|| format!("database.path: cannot read {}", path.display()))?;
        Ok(Self(Arc::new(Mutex::new(snapshot))))
    }

    /// Runs `f` on the snapshot on the blocking pool.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Snapshot) -> Result<T, StoreError> + Send + 'static,
    ) -> anyhow::Result<T> {
        let shared = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let snapshot = shared
                .lock()
                .map_err(|_| anyhow::anyhow!("the source snapshot is unusable"))?;
            f(&snapshot).map_err(anyhow::Error::from)
        })
        .await?
    }

    /// Count and digest of `table`'s `columns`, converted to `types`, in
    /// primary-key order.
    async fn digest(
        &self,
        table: &SourceTable,
        columns: &[String],
        types: &[ColumnType],
    ) -> anyhow::Result<(u64, String)> {
        let (table, columns, types) = (table.clone(), columns.to_vec(), types.to_vec());
        self.with(move |snapshot| {
            let mut digest = TableDigest::new();
            snapshot.for_each_by_key(&table, &columns, |row| {
                digest.add(&convert(&table.name, row, &types, &columns)?);
                Ok(())
            })?;
            Ok(digest.finish())
        })
        .await
    }
}

/// A source row in the target's types, or why it cannot be.
fn convert(
    table: &str,
    row: Row,
    types: &[ColumnType],
    columns: &[String],
) -> Result<Row, StoreError> {
    convert_row(row, types, columns)
        .map_err(|(column, why)| StoreError::Other(format!("{table}.{column}: {why}")))
}

/// `latch copy --to postgres` from the SQLite file at `path` into
/// `target`.
pub async fn to_postgres(path: &Path, target: &Postgres, options: Options) -> anyhow::Result<()> {
    let source = Source::open(path).await?;
    let tables = source.with(|s| s.tables()).await?;
    let (skipped, copied): (Vec<SourceTable>, Vec<SourceTable>) = tables
        .into_iter()
        .partition(|t| FLOW_STATE.contains(&t.name.as_str()));
    let copied = in_dependency_order(copied)?;
    let mut counts = Vec::with_capacity(copied.len());
    for table in &copied {
        let name = table.name.clone();
        counts.push(source.with(move |s| s.count(&name)).await?);
    }
    if options.dry_run {
        println!(
            "plan: copy {} tables from {} to PostgreSQL, in this order",
            copied.len(),
            path.display()
        );
        for (table, rows) in copied.iter().zip(&counts) {
            println!("  {}: {rows} rows", table.name);
        }
        for table in &skipped {
            let name = table.name.clone();
            let rows = source.with(move |s| s.count(&name)).await?;
            println!("  {}: {rows} rows, not copied (flow state)", table.name);
        }
        println!("dry run: nothing written");
        return Ok(());
    }

    let store = crate::app::connect_postgres(target).await?;
    let mut importer = store.importer().await.context("storage.postgres_url")?;
    let targets = importer.tables().await?;
    let plans = plan(copied, counts, &targets)?;
    let identity = source_identity(&source, &plans).await?;
    refuse_unless_fresh_or_resumed(&importer, &plans, &identity, options.resume).await?;
    importer.mark_started(&identity, now()).await?;

    for plan in &plans {
        copy_table(&source, &mut importer, plan).await?;
    }
    let moved = importer.advance_sequences().await?;
    if !moved.is_empty() {
        println!("sequences advanced: {}", moved.join(", "));
    }

    let mut mismatched = Vec::new();
    for plan in &plans {
        let (rows, digest) = source
            .digest(&plan.source, &plan.columns, &plan.types)
            .await?;
        let (target_rows, target_digest) = importer.digest(&plan.target, &plan.columns).await?;
        if rows == target_rows && digest == target_digest {
            println!("{}: {rows} rows, digest ok", plan.source.name);
        } else {
            println!(
                "{}: MISMATCH: SQLite {rows} rows (digest {digest}), PostgreSQL {target_rows} rows (digest {target_digest})",
                plan.source.name
            );
            mismatched.push(plan.source.name.clone());
        }
    }
    if !mismatched.is_empty() {
        bail!(
            "the copy differs from the source in {}: {}",
            if mismatched.len() == 1 {
                "one table"
            } else {
                "these tables"
            },
            mismatched.join(", ")
        );
    }
    importer.mark_finished(&identity, now()).await?;
    println!(
        "copied {} tables; not copied (flow state): {}",
        plans.len(),
        skipped
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Each source table matched with its PostgreSQL counterpart, which must
/// have every column the source has; a column only the target has must fill
/// itself (a default, a sequence) or be nullable.
fn plan(
    copied: Vec<SourceTable>,
    counts: Vec<u64>,
    targets: &[TargetTable],
) -> anyhow::Result<Vec<Plan>> {
    let mut plans = Vec::with_capacity(copied.len());
    for (source, rows) in copied.into_iter().zip(counts) {
        let Some(target) = targets.iter().find(|t| t.name == source.name).cloned() else {
            bail!(
                "the table {} has no PostgreSQL counterpart: its rows would be lost",
                source.name
            );
        };
        let mut types = Vec::with_capacity(source.columns.len());
        for column in &source.columns {
            let Some(t) = target.column(column) else {
                bail!(
                    "{}.{column} has no PostgreSQL counterpart: its values would be lost",
                    source.name
                );
            };
            let Some(ty) = t.ty else {
                bail!(
                    "{}.{column}: the PostgreSQL type {} cannot be copied into",
                    source.name,
                    t.data_type
                );
            };
            types.push(ty);
        }
        if let Some(missing) = target
            .columns
            .iter()
            .find(|c| !source.columns.contains(&c.name) && !c.may_be_omitted)
        {
            bail!(
                "{}.{} exists only in PostgreSQL and has no default",
                source.name,
                missing.name
            );
        }
        plans.push(Plan {
            columns: source.columns.clone(),
            source,
            target,
            types,
            rows,
        });
    }
    Ok(plans)
}

/// Parents before the tables whose foreign keys refer to them; otherwise
/// by name, so the order is the same on every run.
fn in_dependency_order(tables: Vec<SourceTable>) -> anyhow::Result<Vec<SourceTable>> {
    let names: BTreeSet<String> = tables.iter().map(|t| t.name.clone()).collect();
    let mut left = tables;
    left.sort_by(|a, b| a.name.cmp(&b.name));
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut ordered = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let Some(at) = left.iter().position(|t| {
            t.references
                .iter()
                .all(|r| done.contains(r) || !names.contains(r))
        }) else {
            bail!(
                "the foreign keys of {} form a cycle",
                left.iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let table = left.remove(at);
        done.insert(table.name.clone());
        ordered.push(table);
    }
    Ok(ordered)
}

/// The digest of the source's `instance` table: its keys (signing key,
/// secret keys, encryption key) make it this instance's and no other's.
async fn source_identity(source: &Source, plans: &[Plan]) -> anyhow::Result<String> {
    let Some(instance) = plans.iter().find(|p| p.source.name == "instance") else {
        bail!("the source has no instance table");
    };
    let (_, digest) = source
        .digest(&instance.source, &instance.columns, &instance.types)
        .await?;
    Ok(format!("sqlite-instance:{digest}"))
}

/// Refuses a target that holds rows, unless resuming a copy from this
/// same source; names the first table that holds rows.
async fn refuse_unless_fresh_or_resumed(
    importer: &Importer,
    plans: &[Plan],
    identity: &str,
    resume: bool,
) -> anyhow::Result<()> {
    let mut holding = None;
    for plan in plans {
        if SEEDED.contains(&plan.source.name.as_str()) {
            continue;
        }
        let rows = importer.count(&plan.target.name).await?;
        if rows > 0 {
            holding = Some((plan.target.name.clone(), rows));
            break;
        }
    }
    let Some((table, rows)) = holding else {
        return Ok(());
    };
    if !resume {
        bail!(
            "the target database already holds rows ({table}: {rows} rows); nothing was written. \
             Copy into an empty database, or give --resume to finish a copy from this same SQLite database"
        );
    }
    let markers = importer.markers().await?;
    if !markers.iter().any(|m| m.source == identity) {
        bail!(
            "the target database holds rows ({table}: {rows} rows) that no copy from this SQLite database wrote; nothing was written"
        );
    }
    Ok(())
}

/// Copies one table in batches, printing its progress.
async fn copy_table(source: &Source, importer: &mut Importer, plan: &Plan) -> anyhow::Result<()> {
    let name = &plan.source.name;
    if plan.rows > BATCH as u64 {
        println!("{name}: copying {} rows", plan.rows);
    }
    let on_conflict = if SEEDED.contains(&name.as_str()) {
        OnConflict::Overwrite
    } else {
        OnConflict::Skip
    };
    let (mut read, mut inserted) = (0u64, 0u64);
    let mut after = None;
    loop {
        let (table, columns, types, cursor) = (
            plan.source.clone(),
            plan.columns.clone(),
            plan.types.clone(),
            after.take(),
        );
        let (rows, next) = source
            .with(move |s| {
                let (rows, next) = s.batch(&table, &columns, cursor.as_ref(), BATCH)?;
                let rows = rows
                    .into_iter()
                    .map(|row| convert(&table.name, row, &types, &columns))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((rows, next))
            })
            .await?;
        read += rows.len() as u64;
        inserted += importer
            .insert(&plan.target, &plan.columns, &rows, on_conflict)
            .await
            .with_context(|| format!("writing {name}"))?;
        if next.is_some() && read % (BATCH as u64 * 10) == 0 {
            println!("{name}: {read}/{} rows", plan.rows);
        }
        match next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    println!(
        "{name}: {read} rows copied ({inserted} new, {} already there)",
        read - inserted.min(read)
    );
    Ok(())
}

/// Milliseconds since the epoch, on the clock the server runs on.
fn now() -> i64 {
    latch_core::ports::Clock::now(&latch_os::SystemClock).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, references: &[&str]) -> SourceTable {
        SourceTable {
            name: name.to_owned(),
            columns: vec!["id".to_owned()],
            primary_key: vec!["id".to_owned()],
            references: references.iter().map(|r| (*r).to_owned()).collect(),
            has_rowid: true,
        }
    }

    fn names(tables: &[SourceTable]) -> Vec<&str> {
        tables.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn parents_come_before_the_tables_that_refer_to_them() {
        let ordered = in_dependency_order(vec![
            table("webhook_attempts", &["webhook_messages"]),
            table("webhook_messages", &["events", "webhook_endpoints"]),
            table("sessions", &["users"]),
            table("users", &[]),
            table("webhook_endpoints", &[]),
            table("events", &[]),
            // A reference to a table that is not copied does not hold it back.
            table("audit_log", &["sign_ins"]),
        ])
        .unwrap();
        assert_eq!(
            names(&ordered),
            [
                "audit_log",
                "events",
                "users",
                "sessions",
                "webhook_endpoints",
                "webhook_messages",
                "webhook_attempts"
            ]
        );
    }

    #[test]
    fn a_cycle_is_named() {
        let err = in_dependency_order(vec![table("a", &["b"]), table("b", &["a"])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("a, b"), "{err}");
    }

    fn target(name: &str, columns: &[(&str, Option<ColumnType>, bool)]) -> TargetTable {
        TargetTable {
            name: name.to_owned(),
            columns: columns
                .iter()
                .map(|(c, ty, omit)| latch_postgres::import::TargetColumn {
                    name: (*c).to_owned(),
                    data_type: ty.map_or("money", |t| t.sql_name()).to_owned(),
                    ty: *ty,
                    may_be_omitted: *omit,
                })
                .collect(),
            primary_key: vec!["id".to_owned()],
        }
    }

    #[test]
    fn a_plan_takes_target_types_and_refuses_what_would_be_lost() {
        let mut users = table("users", &[]);
        users.columns.push("banned".to_owned());
        let good = target(
            "users",
            &[
                ("id", Some(ColumnType::Text), false),
                ("banned", Some(ColumnType::Boolean), false),
                ("seq", Some(ColumnType::BigInt), true),
            ],
        );
        let plans = plan(vec![users.clone()], vec![3], std::slice::from_ref(&good)).unwrap();
        assert_eq!(plans[0].types, [ColumnType::Text, ColumnType::Boolean]);
        assert_eq!(plans[0].columns, ["id", "banned"]);

        let refused = |targets: &[TargetTable]| {
            plan(vec![users.clone()], vec![3], targets)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(refused(&[]).contains("users has no PostgreSQL counterpart"));
        let narrower = target("users", &[("id", Some(ColumnType::Text), false)]);
        assert!(refused(&[narrower]).contains("users.banned has no PostgreSQL counterpart"));
        let required = target(
            "users",
            &[
                ("id", Some(ColumnType::Text), false),
                ("banned", Some(ColumnType::Boolean), false),
                ("extra", Some(ColumnType::Text), false),
            ],
        );
        assert!(refused(&[required]).contains("users.extra exists only in PostgreSQL"));
        let unknown = target(
            "users",
            &[
                ("id", Some(ColumnType::Text), false),
                ("banned", None, false),
            ],
        );
        assert!(refused(&[unknown]).contains("money"));
    }
}
