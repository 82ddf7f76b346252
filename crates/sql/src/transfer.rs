//! Rows in transit between the two SQL adapters (`latch copy`): a stored
//! value typed as its driver gave it, the conversion to a PostgreSQL
//! column's type, and a digest of a table's rows that both sides compute
//! the same way over the converted values.
//!
//! The SQLite adapter reads rows as [`Value`]s; the app converts each one
//! with [`Value::convert`] to the [`ColumnType`] the PostgreSQL adapter
//! reports for its column; the PostgreSQL adapter writes them and reads them
//! back as the same [`Value`]s. [`TableDigest`] hashes rows in a canonical
//! form, so equal tables give equal digests whichever side read them.

use sha2::{Digest as _, Sha256};

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Boolean(bool),
    Text(String),
    /// A JSON document, compared as its parsed value (key order and
    /// whitespace do not count: `jsonb` keeps neither).
    Json(serde_json::Value),
    Blob(Vec<u8>),
}

/// A row: one value per column, in the order the columns were asked for.
pub type Row = Vec<Value>;

/// The PostgreSQL column types a copy writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    BigInt,
    Integer,
    SmallInt,
    Boolean,
    Double,
    Jsonb,
    Bytea,
}

impl ColumnType {
    /// The type `information_schema.columns.data_type` names, if a copy
    /// knows how to write it.
    pub fn parse(data_type: &str) -> Option<Self> {
        Some(match data_type {
            "text" | "character varying" | "character" => Self::Text,
            "bigint" => Self::BigInt,
            "integer" => Self::Integer,
            "smallint" => Self::SmallInt,
            "boolean" => Self::Boolean,
            "double precision" | "real" => Self::Double,
            "jsonb" | "json" => Self::Jsonb,
            "bytea" => Self::Bytea,
            _ => return None,
        })
    }

    /// The type's name in PostgreSQL, for casts and messages.
    pub fn sql_name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::BigInt => "bigint",
            Self::Integer => "integer",
            Self::SmallInt => "smallint",
            Self::Boolean => "boolean",
            Self::Double => "double precision",
            Self::Jsonb => "jsonb",
            Self::Bytea => "bytea",
        }
    }
}

/// A value that has no faithful form in the column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The stored value, described (never a secret's text: only its kind
    /// and, for numbers, the number).
    pub value: String,
    pub to: ColumnType,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cannot be stored as {}",
            self.value,
            self.to.sql_name()
        )
    }
}

impl Value {
    /// This value as a column of type `to` holds it. Only conversions that
    /// lose nothing are made: SQLite's 0 and 1 become booleans, an integer
    /// must fit a narrower integer column, JSON text must parse; a text in
    /// a number column (which a non-strict SQLite table could hold) is
    /// refused rather than guessed at.
    pub fn convert(self, to: ColumnType) -> Result<Value, Mismatch> {
        let mismatch = |value: String| Mismatch { value, to };
        match (self, to) {
            (Value::Null, _) => Ok(Value::Null),
            (Value::Integer(n), ColumnType::BigInt) => Ok(Value::Integer(n)),
            (Value::Integer(n), ColumnType::Integer) => i32::try_from(n)
                .map(|_| Value::Integer(n))
                .map_err(|_| mismatch(format!("the integer {n}"))),
            (Value::Integer(n), ColumnType::SmallInt) => i16::try_from(n)
                .map(|_| Value::Integer(n))
                .map_err(|_| mismatch(format!("the integer {n}"))),
            (Value::Integer(0), ColumnType::Boolean) => Ok(Value::Boolean(false)),
            (Value::Integer(1), ColumnType::Boolean) => Ok(Value::Boolean(true)),
            (Value::Boolean(b), ColumnType::Boolean) => Ok(Value::Boolean(b)),
            (Value::Real(x), ColumnType::Double) => Ok(Value::Real(x)),
            (Value::Text(s), ColumnType::Text) => Ok(Value::Text(s)),
            (Value::Text(s), ColumnType::Jsonb) => serde_json::from_str(&s)
                .map(Value::Json)
                .map_err(|_| mismatch("a text that is not JSON".to_owned())),
            (Value::Json(j), ColumnType::Jsonb) => Ok(Value::Json(j)),
            (Value::Blob(b), ColumnType::Bytea) => Ok(Value::Blob(b)),
            (other, _) => Err(mismatch(other.kind())),
        }
    }

    /// What kind of value this is, for messages that must not show it.
    fn kind(&self) -> String {
        match self {
            Value::Null => "NULL".to_owned(),
            Value::Integer(n) => format!("the integer {n}"),
            Value::Real(x) => format!("the real {x}"),
            Value::Boolean(b) => format!("the boolean {b}"),
            Value::Text(_) => "a text".to_owned(),
            Value::Json(_) => "a JSON document".to_owned(),
            Value::Blob(_) => "a blob".to_owned(),
        }
    }

    /// Appends the canonical form: a tag letter, then `N` nothing, `I` the
    /// decimal integer and `;`, `B` `0` or `1`, `R` the sixteen hex digits of
    /// the IEEE bits, `T`/`J`/`X` the byte length, `:` and the bytes (UTF-8
    /// text, JSON with sorted keys and no spaces, raw bytes). Every form
    /// ends where it says, so no two rows share a canonical form.
    pub fn canonical(&self, out: &mut Vec<u8>) {
        let mut sized = |tag: u8, bytes: &[u8]| {
            out.push(tag);
            out.extend_from_slice(bytes.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(bytes);
        };
        match self {
            Value::Null => out.push(b'N'),
            Value::Integer(n) => {
                out.push(b'I');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b';');
            }
            Value::Boolean(b) => out.extend_from_slice(if *b { b"B1" } else { b"B0" }),
            Value::Real(x) => {
                out.push(b'R');
                out.extend_from_slice(format!("{:016x}", x.to_bits()).as_bytes());
            }
            Value::Text(s) => sized(b'T', s.as_bytes()),
            // serde_json's map is ordered by key, so this text is canonical.
            Value::Json(j) => sized(b'J', j.to_string().as_bytes()),
            Value::Blob(b) => sized(b'X', b),
        }
    }
}

/// A table or column name quoted as an SQL identifier, as SQLite and
/// PostgreSQL both read it.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Converts each value of `row` to its column's type; `columns` names them
/// for the error.
pub fn convert_row(
    row: Row,
    types: &[ColumnType],
    columns: &[String],
) -> Result<Row, (String, Mismatch)> {
    row.into_iter()
        .zip(types)
        .zip(columns)
        .map(|((value, ty), column)| value.convert(*ty).map_err(|m| (column.clone(), m)))
        .collect()
}

/// SHA-256 over a table's rows, each in canonical form and ended by a
/// newline, in the order they were added (the primary key's, on both sides).
#[derive(Clone, Default)]
pub struct TableDigest {
    hasher: Sha256,
    rows: u64,
    buffer: Vec<u8>,
}

impl TableDigest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one row.
    pub fn add(&mut self, row: &[Value]) {
        self.buffer.clear();
        for value in row {
            value.canonical(&mut self.buffer);
        }
        self.buffer.push(b'\n');
        self.hasher.update(&self.buffer);
        self.rows += 1;
    }

    /// The rows added and the digest in lower-case hex.
    pub fn finish(self) -> (u64, String) {
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        (self.rows, hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(v: &Value) -> String {
        let mut out = Vec::new();
        v.canonical(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn postgres_type_names_parse() {
        assert_eq!(ColumnType::parse("bigint"), Some(ColumnType::BigInt));
        assert_eq!(ColumnType::parse("boolean"), Some(ColumnType::Boolean));
        assert_eq!(ColumnType::parse("jsonb"), Some(ColumnType::Jsonb));
        assert_eq!(ColumnType::parse("text"), Some(ColumnType::Text));
        assert_eq!(ColumnType::parse("integer"), Some(ColumnType::Integer));
        assert_eq!(ColumnType::parse("timestamp with time zone"), None);
    }

    #[test]
    fn sqlite_zero_and_one_become_booleans_and_nothing_else_does() {
        assert_eq!(
            Value::Integer(1).convert(ColumnType::Boolean),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            Value::Integer(0).convert(ColumnType::Boolean),
            Ok(Value::Boolean(false))
        );
        let refused = Value::Integer(2).convert(ColumnType::Boolean);
        assert_eq!(
            refused.map_err(|m| m.to_string()),
            Err("the integer 2 cannot be stored as boolean".to_owned())
        );
        assert!(
            Value::Text("1".into())
                .convert(ColumnType::Boolean)
                .is_err()
        );
    }

    #[test]
    fn integers_must_fit_their_column() {
        assert_eq!(
            Value::Integer(i64::MAX).convert(ColumnType::BigInt),
            Ok(Value::Integer(i64::MAX))
        );
        assert_eq!(
            Value::Integer(7).convert(ColumnType::Integer),
            Ok(Value::Integer(7))
        );
        assert!(
            Value::Integer(1 << 40)
                .convert(ColumnType::Integer)
                .is_err()
        );
        assert!(
            Value::Integer(40_000)
                .convert(ColumnType::SmallInt)
                .is_err()
        );
        assert!(Value::Text("7".into()).convert(ColumnType::BigInt).is_err());
        assert!(Value::Real(7.0).convert(ColumnType::BigInt).is_err());
    }

    #[test]
    fn text_stays_text_and_json_text_must_parse() {
        assert_eq!(
            Value::Text("é".into()).convert(ColumnType::Text),
            Ok(Value::Text("é".into()))
        );
        assert_eq!(
            Value::Text(r#"{"b": 1, "a": [true]}"#.into()).convert(ColumnType::Jsonb),
            Ok(Value::Json(serde_json::json!({"a": [true], "b": 1})))
        );
        assert!(Value::Text("{".into()).convert(ColumnType::Jsonb).is_err());
        assert!(Value::Integer(1).convert(ColumnType::Text).is_err());
    }

    #[test]
    fn reals_blobs_and_nulls_convert_to_their_own_kind() {
        assert_eq!(
            Value::Real(0.5).convert(ColumnType::Double),
            Ok(Value::Real(0.5))
        );
        assert_eq!(
            Value::Blob(vec![0, 255]).convert(ColumnType::Bytea),
            Ok(Value::Blob(vec![0, 255]))
        );
        assert!(Value::Blob(vec![1]).convert(ColumnType::Text).is_err());
        for ty in [ColumnType::Boolean, ColumnType::Jsonb, ColumnType::Integer] {
            assert_eq!(Value::Null.convert(ty), Ok(Value::Null));
        }
    }

    #[test]
    fn a_failed_row_names_its_column_and_hides_text() {
        let columns = ["id".to_owned(), "banned".to_owned()];
        let types = [ColumnType::Text, ColumnType::Boolean];
        let row = vec![Value::Text("user_1".into()), Value::Text("secret".into())];
        let (column, mismatch) = convert_row(row, &types, &columns).unwrap_err();
        assert_eq!(column, "banned");
        assert!(!mismatch.to_string().contains("secret"));
    }

    #[test]
    fn canonical_forms_are_fixed() {
        assert_eq!(canonical(&Value::Null), "N");
        assert_eq!(canonical(&Value::Integer(-12)), "I-12;");
        assert_eq!(canonical(&Value::Boolean(true)), "B1");
        assert_eq!(canonical(&Value::Real(1.0)), "R3ff0000000000000");
        assert_eq!(canonical(&Value::Text("é:".into())), "T3:é:");
        assert_eq!(
            canonical(&Value::Json(serde_json::json!({"b": 1, "a": null}))),
            r#"J16:{"a":null,"b":1}"#
        );
        assert_eq!(canonical(&Value::Blob(b"ab".to_vec())), "X2:ab");
    }

    #[test]
    fn the_digest_tells_apart_rows_that_concatenate_alike() {
        let digest = |rows: &[Row]| {
            let mut d = TableDigest::new();
            rows.iter().for_each(|r| d.add(r));
            d.finish()
        };
        let ab = digest(&[vec![Value::Text("a".into()), Value::Text("b".into())]]);
        let a_b = digest(&[vec![Value::Text("ab".into()), Value::Text(String::new())]]);
        let null = digest(&[vec![Value::Text("ab".into()), Value::Null]]);
        assert_ne!(ab.1, a_b.1);
        assert_ne!(a_b.1, null.1);
        assert_eq!(ab.0, 1);
        // SHA-256 of nothing: an empty table on either side.
        assert_eq!(
            digest(&[]).1,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let twice = digest(&[vec![Value::Integer(1)], vec![Value::Integer(2)]]);
        let swapped = digest(&[vec![Value::Integer(2)], vec![Value::Integer(1)]]);
        assert_ne!(twice.1, swapped.1, "order counts");
    }
}
