//! Writing rows read from another store into this database, for `latch
//! copy`: the tables and their column types as `information_schema` shows
//! them, batched inserts that skip rows already there (so an interrupted
//! copy resumes and ends identical), the digest the check compares, the
//! sequences advanced past the copied rows, and the `latch_copy` marker
//! naming the source a copy came from.
//!
//! Statements here may outlast the pool's `statement_timeout` on a large
//! table, so each runs in a transaction that lifts it (`SET LOCAL`).

use deadpool_postgres::Object;
use latch_core::error::StoreError;
use latch_sql::transfer::{ColumnType, Row, TableDigest, Value, quote};
use tokio_postgres::types::ToSql;

use crate::PostgresStore;
use crate::error::DbError;

/// A column as PostgreSQL declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    pub name: String,
    /// `information_schema.columns.data_type`.
    pub data_type: String,
    /// The type a copy writes, if it knows `data_type`.
    pub ty: Option<ColumnType>,
    /// Whether the column fills itself when an insert leaves it out (a
    /// default, a sequence) or may be NULL.
    pub may_be_omitted: bool,
}

/// A table as PostgreSQL declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTable {
    pub name: String,
    /// In declaration order.
    pub columns: Vec<TargetColumn>,
    /// The primary key's columns, in key order.
    pub primary_key: Vec<String>,
}

impl TargetTable {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&TargetColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The types of `columns`, each of which must be known.
    fn types(&self, columns: &[String]) -> Result<Vec<ColumnType>, StoreError> {
        columns
            .iter()
            .map(|name| {
                let column = self.column(name).ok_or_else(|| {
                    StoreError::Other(format!("{}.{name}: no such column", self.name))
                })?;
                column.ty.ok_or_else(|| {
                    StoreError::Other(format!(
                        "{}.{name}: the type {} cannot be copied",
                        self.name, column.data_type
                    ))
                })
            })
            .collect()
    }
}

/// What an insert does with a row whose primary key is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Keep the row there: it is the one a previous run copied.
    Skip,
    /// Overwrite it: a row the migrations seeded (`settings_generation`).
    Overwrite,
}

/// A copy into this database: from which source, when it started, and when
/// its check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyMarker {
    pub source: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// One connection that writes a copy.
pub struct Importer {
    client: Object,
}

impl std::fmt::Debug for Importer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Importer").finish_non_exhaustive()
    }
}

/// Bind parameters per statement stay under PostgreSQL's limit of 65535.
const MAX_PARAMETERS: usize = 60_000;

impl PostgresStore {
    /// A connection to copy rows into this (migrated) database.
    pub async fn importer(&self) -> Result<Importer, StoreError> {
        Ok(Importer {
            client: self.client().await?,
        })
    }
}

impl Importer {
    /// Every table of the current schema with its columns and primary key.
    pub async fn tables(&self) -> Result<Vec<TargetTable>, StoreError> {
        Ok(self.tables_inner().await?)
    }

    async fn tables_inner(&self) -> Result<Vec<TargetTable>, DbError> {
        let columns = self
            .client
            .query(
                "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                        c.column_default IS NOT NULL OR c.is_identity = 'YES' OR c.is_nullable = 'YES' \
                   FROM information_schema.columns c \
                   JOIN information_schema.tables t \
                     ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                  WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
                  ORDER BY c.table_name, c.ordinal_position",
                &[],
            )
            .await?;
        let keys = self
            .client
            .query(
                "SELECT tc.table_name::text, k.column_name::text \
                   FROM information_schema.table_constraints tc \
                   JOIN information_schema.key_column_usage k \
                     ON k.constraint_schema = tc.constraint_schema \
                    AND k.constraint_name = tc.constraint_name \
                    AND k.table_name = tc.table_name \
                  WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema() \
                  ORDER BY tc.table_name, k.ordinal_position",
                &[],
            )
            .await?;
        let mut tables: Vec<TargetTable> = Vec::new();
        for row in columns {
            let table: String = row.try_get(0)?;
            let data_type: String = row.try_get(2)?;
            let column = TargetColumn {
                name: row.try_get(1)?,
                ty: ColumnType::parse(&data_type),
                data_type,
                may_be_omitted: row.try_get(3)?,
            };
            match tables.last_mut() {
                Some(last) if last.name == table => last.columns.push(column),
                _ => tables.push(TargetTable {
                    name: table,
                    columns: vec![column],
                    primary_key: Vec::new(),
                }),
            }
        }
        for row in keys {
            let table: String = row.try_get(0)?;
            if let Some(t) = tables.iter_mut().find(|t| t.name == table) {
                t.primary_key.push(row.try_get(1)?);
            }
        }
        Ok(tables)
    }

    /// How many rows `table` holds.
    pub async fn count(&self, table: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .client
            .query_one(&format!("SELECT COUNT(*) FROM {}", quote(table)), &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(DbError::from)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Inserts `rows` (values of `columns`, already converted to their
    /// types) in one transaction; returns how many were new.
    pub async fn insert(
        &mut self,
        table: &TargetTable,
        columns: &[String],
        rows: &[Row],
        on_conflict: OnConflict,
    ) -> Result<u64, StoreError> {
        let types = table.types(columns)?;
        Ok(self
            .insert_inner(table, columns, &types, rows, on_conflict)
            .await?)
    }

    async fn insert_inner(
        &mut self,
        table: &TargetTable,
        columns: &[String],
        types: &[ColumnType],
        rows: &[Row],
        on_conflict: OnConflict,
    ) -> Result<u64, DbError> {
        if rows.is_empty() || columns.is_empty() {
            return Ok(0);
        }
        let per_statement = (MAX_PARAMETERS / columns.len()).max(1);
        let tx = self.client.transaction().await?;
        tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
        let mut inserted = 0;
        for chunk in rows.chunks(per_statement) {
            let sql = insert_statement(table, columns, types, chunk.len(), on_conflict);
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> =
                Vec::with_capacity(chunk.len() * columns.len());
            for row in chunk {
                if row.len() != columns.len() {
                    return Err(StoreError::Other(format!(
                        "{}: a row of {} values for {} columns",
                        table.name,
                        row.len(),
                        columns.len()
                    ))
                    .into());
                }
                for (value, ty) in row.iter().zip(types) {
                    params.push(
                        parameter(value, *ty)
                            .map_err(|why| StoreError::Other(format!("{}: {why}", table.name)))?,
                    );
                }
            }
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            inserted += tx.execute(&sql, &refs).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// The row count and digest of `table` over `columns`, rows in
    /// primary-key order (text compared bytewise, as SQLite does).
    pub async fn digest(
        &mut self,
        table: &TargetTable,
        columns: &[String],
    ) -> Result<(u64, String), StoreError> {
        let types = table.types(columns)?;
        Ok(self.digest_inner(table, columns, &types).await?)
    }

    async fn digest_inner(
        &mut self,
        table: &TargetTable,
        columns: &[String],
        types: &[ColumnType],
    ) -> Result<(u64, String), DbError> {
        let key_types = table.types(&table.primary_key)?;
        let selected = columns
            .iter()
            .zip(types)
            .map(|(c, ty)| format!("{}::{}", quote(c), read_type(*ty)))
            .collect::<Vec<_>>()
            .join(", ");
        let order = table
            .primary_key
            .iter()
            .zip(&key_types)
            .map(|(c, ty)| match ty {
                ColumnType::Text => format!("{} COLLATE \"C\"", quote(c)),
                _ => quote(c),
            })
            .collect::<Vec<_>>()
            .join(", ");
        if order.is_empty() {
            return Err(StoreError::Other(format!("{} has no primary key", table.name)).into());
        }
        let sql = format!(
            "SELECT {selected} FROM {} ORDER BY {order}",
            quote(&table.name)
        );
        let tx = self.client.transaction().await?;
        tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
        let stmt = tx.prepare(&sql).await?;
        let portal = tx.bind(&stmt, &[]).await?;
        let mut digest = TableDigest::new();
        loop {
            let rows = tx.query_portal(&portal, 1000).await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let values = types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| read(row, i, *ty))
                    .collect::<Result<Vec<_>, _>>()?;
                digest.add(&values);
            }
        }
        tx.commit().await?;
        Ok(digest.finish())
    }

    /// Moves every sequence behind a column (`BIGSERIAL`, identity) past
    /// the largest value its column holds, so the next row a server inserts
    /// takes a new number; returns the `table.column`s it moved.
    pub async fn advance_sequences(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.advance_sequences_inner().await?)
    }

    async fn advance_sequences_inner(&self) -> Result<Vec<String>, DbError> {
        let owned = self
            .client
            .query(
                "SELECT table_name::text, column_name::text, \
                        pg_get_serial_sequence(quote_ident(table_name), column_name) \
                   FROM information_schema.columns \
                  WHERE table_schema = current_schema() \
                    AND pg_get_serial_sequence(quote_ident(table_name), column_name) IS NOT NULL \
                  ORDER BY table_name, column_name",
                &[],
            )
            .await?;
        let mut moved = Vec::with_capacity(owned.len());
        for row in owned {
            let (table, column, sequence): (String, String, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            self.client
                .execute(
                    &format!(
                        "SELECT setval($1::text::regclass, COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false)",
                        quote(&column),
                        quote(&table)
                    ),
                    &[&sequence],
                )
                .await?;
            moved.push(format!("{table}.{column}"));
        }
        Ok(moved)
    }

    /// The copies this database was the target of.
    pub async fn markers(&self) -> Result<Vec<CopyMarker>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT source, started_at, finished_at FROM latch_copy ORDER BY started_at",
                &[],
            )
            .await
            .map_err(DbError::from)?;
        rows.iter()
            .map(|row| {
                Ok(CopyMarker {
                    source: row.try_get(0)?,
                    started_at: row.try_get(1)?,
                    finished_at: row.try_get(2)?,
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(|e| DbError::from(e).into())
    }

    /// Records that a copy from `source` started at `at` (kept from the
    /// first run when resumed).
    pub async fn mark_started(&self, source: &str, at: i64) -> Result<(), StoreError> {
        self.client
            .execute(
                "INSERT INTO latch_copy (source, started_at) VALUES ($1, $2) \
                 ON CONFLICT (source) DO NOTHING",
                &[&source, &at],
            )
            .await
            .map_err(DbError::from)?;
        Ok(())
    }

    /// Records that the copy from `source` passed its check at `at`.
    pub async fn mark_finished(&self, source: &str, at: i64) -> Result<(), StoreError> {
        self.client
            .execute(
                "UPDATE latch_copy SET finished_at = $2 WHERE source = $1",
                &[&source, &at],
            )
            .await
            .map_err(DbError::from)?;
        Ok(())
    }
}

/// `INSERT INTO t (columns) VALUES (...), ... ON CONFLICT (key) ...` for
/// `rows` rows, each placeholder cast to its column's type.
fn insert_statement(
    table: &TargetTable,
    columns: &[String],
    types: &[ColumnType],
    rows: usize,
    on_conflict: OnConflict,
) -> String {
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        quote(&table.name),
        columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (i, ty) in types.iter().enumerate() {
            n += 1;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&match ty {
                ColumnType::Jsonb => format!("${n}::text::jsonb"),
                other => format!("${n}::{}", other.sql_name()),
            });
        }
        sql.push(')');
    }
    let key = table
        .primary_key
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let rest: Vec<String> = columns
        .iter()
        .filter(|c| !table.primary_key.contains(c))
        .map(|c| format!("{0} = EXCLUDED.{0}", quote(c)))
        .collect();
    match on_conflict {
        OnConflict::Overwrite if !rest.is_empty() => {
            sql.push_str(&format!(
                " ON CONFLICT ({key}) DO UPDATE SET {}",
                rest.join(", ")
            ));
        }
        _ => sql.push_str(&format!(" ON CONFLICT ({key}) DO NOTHING")),
    }
    sql
}

/// The type a column is read as for the digest: JSON as text, parsed again.
fn read_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Jsonb => "text",
        other => other.sql_name(),
    }
}

/// A converted value bound as its column's type.
fn parameter(value: &Value, ty: ColumnType) -> Result<Box<dyn ToSql + Sync + Send>, String> {
    fn narrow<T: TryFrom<i64>>(n: i64) -> Result<T, String> {
        T::try_from(n).map_err(|_| format!("the integer {n} is out of range"))
    }
    Ok(match (value, ty) {
        (Value::Null, ColumnType::Text | ColumnType::Jsonb) => Box::new(None::<String>),
        (Value::Null, ColumnType::BigInt) => Box::new(None::<i64>),
        (Value::Null, ColumnType::Integer) => Box::new(None::<i32>),
        (Value::Null, ColumnType::SmallInt) => Box::new(None::<i16>),
        (Value::Null, ColumnType::Boolean) => Box::new(None::<bool>),
        (Value::Null, ColumnType::Double) => Box::new(None::<f64>),
        (Value::Null, ColumnType::Bytea) => Box::new(None::<Vec<u8>>),
        (Value::Integer(n), ColumnType::BigInt) => Box::new(*n),
        (Value::Integer(n), ColumnType::Integer) => Box::new(narrow::<i32>(*n)?),
        (Value::Integer(n), ColumnType::SmallInt) => Box::new(narrow::<i16>(*n)?),
        (Value::Boolean(b), ColumnType::Boolean) => Box::new(*b),
        (Value::Real(x), ColumnType::Double) => Box::new(*x),
        (Value::Text(s), ColumnType::Text) => Box::new(s.clone()),
        (Value::Json(j), ColumnType::Jsonb) => Box::new(j.to_string()),
        (Value::Blob(b), ColumnType::Bytea) => Box::new(b.clone()),
        (_, ty) => return Err(format!("a value not converted to {}", ty.sql_name())),
    })
}

/// Column `i` of `row`, read as [`read_type`] gives it.
fn read(row: &tokio_postgres::Row, i: usize, ty: ColumnType) -> Result<Value, DbError> {
    fn or_null<T>(value: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        value.map_or(Value::Null, f)
    }
    Ok(match ty {
        ColumnType::Text => or_null(row.try_get::<_, Option<String>>(i)?, Value::Text),
        ColumnType::BigInt => or_null(row.try_get::<_, Option<i64>>(i)?, Value::Integer),
        ColumnType::Integer => or_null(row.try_get::<_, Option<i32>>(i)?, |n| {
            Value::Integer(i64::from(n))
        }),
        ColumnType::SmallInt => or_null(row.try_get::<_, Option<i16>>(i)?, |n| {
            Value::Integer(i64::from(n))
        }),
        ColumnType::Boolean => or_null(row.try_get::<_, Option<bool>>(i)?, Value::Boolean),
        ColumnType::Double => or_null(row.try_get::<_, Option<f64>>(i)?, Value::Real),
        ColumnType::Bytea => or_null(row.try_get::<_, Option<Vec<u8>>>(i)?, Value::Blob),
        ColumnType::Jsonb => match row.try_get::<_, Option<String>>(i)? {
            None => Value::Null,
            Some(text) => Value::Json(serde_json::from_str(&text)?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TargetTable {
        let column = |name: &str, ty: ColumnType| TargetColumn {
            name: name.to_owned(),
            data_type: ty.sql_name().to_owned(),
            ty: Some(ty),
            may_be_omitted: false,
        };
        TargetTable {
            name: "users".to_owned(),
            columns: vec![
                column("id", ColumnType::Text),
                column("banned", ColumnType::Boolean),
                column("meta", ColumnType::Jsonb),
            ],
            primary_key: vec!["id".to_owned()],
        }
    }

    #[test]
    fn inserts_cast_each_placeholder_and_skip_rows_already_there() {
        let t = table();
        let columns: Vec<String> = ["id", "banned", "meta"].map(str::to_owned).into();
        let types = t.types(&columns).unwrap();
        assert_eq!(
            insert_statement(&t, &columns, &types, 2, OnConflict::Skip),
            "INSERT INTO \"users\" (\"id\", \"banned\", \"meta\") VALUES \
             ($1::text, $2::boolean, $3::text::jsonb), ($4::text, $5::boolean, $6::text::jsonb) \
             ON CONFLICT (\"id\") DO NOTHING"
        );
        assert!(
            insert_statement(&t, &columns, &types, 1, OnConflict::Overwrite).ends_with(
                "ON CONFLICT (\"id\") DO UPDATE SET \"banned\" = EXCLUDED.\"banned\", \"meta\" = EXCLUDED.\"meta\""
            )
        );
    }

    #[test]
    fn unknown_columns_and_types_are_named() {
        let mut t = table();
        t.columns[1].ty = None;
        t.columns[1].data_type = "money".to_owned();
        let err = t.types(&["banned".to_owned()]).unwrap_err().to_string();
        assert!(
            err.contains("users.banned") && err.contains("money"),
            "{err}"
        );
        let err = t.types(&["nope".to_owned()]).unwrap_err().to_string();
        assert!(err.contains("users.nope"), "{err}");
    }

    #[test]
    fn values_bind_only_as_their_own_type() {
        assert!(parameter(&Value::Integer(1), ColumnType::BigInt).is_ok());
        assert!(parameter(&Value::Null, ColumnType::Boolean).is_ok());
        assert!(parameter(&Value::Integer(1 << 40), ColumnType::Integer).is_err());
        assert!(parameter(&Value::Integer(1), ColumnType::Boolean).is_err());
        assert!(parameter(&Value::Text("x".into()), ColumnType::Jsonb).is_err());
    }
}
