//! `latch import clerk FILE`: reads a Clerk export (the dashboard's CSV or a
//! JSON array of Backend API users), hands each user to
//! `Users::import_user` in order, and reports what became of every row.
//!
//! The file is read whole before anything is written: a file that cannot be
//! read or parsed at all stops the command (non-zero exit); a row that is
//! malformed or refused is reported with its number and reason, and the
//! others go on (exit 0).

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::Value;

use latch_core::Error;
use latch_core::model::Timestamp;
use latch_core::service::{CreateUser, DryRun, ImportMode, ImportOutcome, ImportUser};

use crate::app::App;
use crate::cli::ImportClerkArgs;
use crate::settings::Settings;

/// How often progress is printed when stdout is not a terminal.
const PROGRESS_EVERY: usize = 1_000;

/// Why a user whose id is taken is skipped: it was imported before.
const ALREADY_IMPORTED: &str = "already imported";

/// One user of the file, or why its row cannot be one.
struct Row {
    /// The row's number as a spreadsheet shows it (the CSV header is row
    /// 1), or the element's in a JSON array (from 1).
    number: usize,
    user: Result<ImportUser, String>,
}

pub async fn clerk(settings: Settings, args: ImportClerkArgs) -> anyhow::Result<()> {
    let rows = read_export(&args.file)?;
    let app = App::open(settings).await?;
    let users = app.services().await?.users;
    let started = Instant::now();
    let mut progress = Progress::new(rows.len());
    let mut plan = DryRun::default();
    let mut imported = 0usize;
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = std::io::stdout().lock();
    let verb = if args.dry_run {
        "would skip"
    } else {
        "skipped"
    };
    for (done, row) in rows.into_iter().enumerate() {
        let id = row.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
        let outcome = match row.user {
            Err(why) => Err(("malformed row".to_owned(), why)),
            Ok(user) => {
                let mode = if args.dry_run {
                    ImportMode::DryRun(&mut plan)
                } else {
                    ImportMode::Write
                };
                match users.import_user(user, mode).await {
                    Ok(ImportOutcome::Imported(_)) => Ok(()),
                    Ok(ImportOutcome::AlreadyImported) => {
                        Err((ALREADY_IMPORTED.to_owned(), String::new()))
                    }
                    Err(err @ (Error::Unavailable | Error::Internal(_))) => {
                        progress.clear(&mut out);
                        return Err(anyhow::anyhow!(
                            "row {}: the store failed ({}); {imported} users were imported before it. \
                             Running the import again skips them.",
                            row.number,
                            latch_api::error::ApiError::from(err).long_message
                        ));
                    }
                    Err(err) => Err(refusal(err)),
                }
            }
        };
        match outcome {
            Ok(()) => imported += 1,
            // Counted, not listed: a second run would list every row.
            Err((reason, _)) if reason == ALREADY_IMPORTED => {
                *skipped.entry(reason).or_default() += 1;
            }
            Err((reason, detail)) => {
                progress.clear(&mut out);
                let who = if id.is_empty() {
                    String::new()
                } else {
                    format!(" ({id})")
                };
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                };
                writeln!(out, "row {}{who}: {verb}: {reason}{detail}", row.number)?;
                *skipped.entry(reason).or_default() += 1;
            }
        }
        progress.show(&mut out, done + 1)?;
    }
    progress.clear(&mut out);
    let skipped_total: usize = skipped.values().sum();
    let took = started.elapsed().as_secs_f64();
    if args.dry_run {
        writeln!(
            out,
            "dry run, nothing written: would import {imported}, would skip {skipped_total} ({took:.1} s)"
        )?;
    } else {
        writeln!(
            out,
            "imported {imported}, skipped {skipped_total} ({took:.1} s)"
        )?;
    }
    for (reason, count) in &skipped {
        writeln!(out, "  {verb} {count}: {reason}")?;
    }
    Ok(())
}

/// The summary's reason for a refused user, and the detail its row shows.
fn refusal(err: Error) -> (String, String) {
    let reason = match &err {
        Error::IdentifierTaken(kind) => format!(
            "{} belongs to another user",
            kind.param_name().replace('_', " ")
        ),
        Error::InvalidParam { param, .. } | Error::MissingParam(param) => {
            format!("invalid {param}")
        }
        _ => "refused".to_owned(),
    };
    (reason, latch_api::error::ApiError::from(err).long_message)
}

/// A progress line: a bar redrawn in place on a terminal, a plain line
/// every [`PROGRESS_EVERY`] rows otherwise.
struct Progress {
    total: usize,
    terminal: bool,
    drawn: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self {
            total,
            terminal: std::io::stdout().is_terminal(),
            drawn: false,
        }
    }

    fn show(&mut self, out: &mut impl std::io::Write, done: usize) -> std::io::Result<()> {
        if self.terminal {
            // Redrawn at each percent (and at the end), not at every row.
            let step = (self.total / 100).max(1);
            if done.is_multiple_of(step) || done == self.total {
                let width = 30;
                let filled = done * width / self.total.max(1);
                write!(
                    out,
                    "\r[{}{}] {done}/{}",
                    "#".repeat(filled),
                    " ".repeat(width - filled),
                    self.total
                )?;
                out.flush()?;
                self.drawn = true;
            }
        } else if done.is_multiple_of(PROGRESS_EVERY) {
            writeln!(out, "progress: {done}/{} rows", self.total)?;
        }
        Ok(())
    }

    /// Takes the bar off the line, so that a message can be printed there.
    fn clear(&mut self, out: &mut impl std::io::Write) {
        if self.drawn {
            let _ = write!(out, "\r{}\r", " ".repeat(60));
            self.drawn = false;
        }
    }
}

/// Every row of the export at `path`: JSON if its name ends in `.json` or it
/// starts with `[` or `{`, CSV otherwise.
fn read_export(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with(['[', '{']);
    if is_json {
        json_rows(text).with_context(|| format!("{} is not a JSON array of users", path.display()))
    } else {
        csv_rows(text).with_context(|| format!("{} is not a Clerk CSV export", path.display()))
    }
}

// ---------------------------------------------------------------- CSV ----

/// The rows of Clerk's dashboard export: a header naming the columns (in any
/// order; unknown ones are ignored), then one user per record. List columns
/// hold values separated by `|` (`,` and `;` are read as separators too).
fn csv_rows(text: &str) -> anyhow::Result<Vec<Row>> {
    let mut records = csv_records(text)?.into_iter();
    let Some((_, header)) = records.next() else {
        anyhow::bail!("the file is empty");
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    if !header.iter().any(|h| h == "id") {
        anyhow::bail!("its header has no `id` column");
    }
    let rows = records
        .filter(|(_, fields)| !(fields.len() == 1 && fields[0].trim().is_empty()))
        .map(|(number, fields)| Row {
            number,
            user: csv_user(&header, &fields),
        })
        .collect();
    Ok(rows)
}

fn csv_user(header: &[String], fields: &[String]) -> Result<ImportUser, String> {
    if fields.len() != header.len() {
        return Err(format!(
            "{} columns where the header has {}",
            fields.len(),
            header.len()
        ));
    }
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .map(|i| fields[i].trim())
            .filter(|v| !v.is_empty())
    };
    let text = |name: &str| column(name).map(str::to_owned);
    let list = |name: &str| {
        column(name)
            .map(|v| {
                v.split(['|', ',', ';'])
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let metadata = |name: &str| {
        column(name)
            .map(|v| serde_json::from_str::<Value>(v).map_err(|_| format!("{name} is not JSON")))
            .transpose()
    };
    let time = |name: &str| column(name).map(|v| parse_time(v, name)).transpose();
    // A primary address in neither list was verified: Clerk's primary
    // addresses are verified ones.
    let verified = |primary: &str, verified: &str, unverified: &str| {
        let unverified = list(unverified);
        column(primary)
            .filter(|p| !unverified.iter().any(|u| u.eq_ignore_ascii_case(p)))
            .map(str::to_owned)
            .into_iter()
            .chain(list(verified))
            .collect::<Vec<_>>()
    };
    Ok(ImportUser {
        id: text("id").ok_or("no id")?,
        user: CreateUser {
            email_addresses: verified(
                "primary_email_address",
                "verified_email_addresses",
                "unverified_email_addresses",
            ),
            phone_numbers: verified(
                "primary_phone_number",
                "verified_phone_numbers",
                "unverified_phone_numbers",
            ),
            username: text("username"),
            password_digest: text("password_digest"),
            password_hasher: text("password_hasher"),
            first_name: text("first_name"),
            last_name: text("last_name"),
            external_id: text("external_id"),
            public_metadata: metadata("public_metadata")?,
            private_metadata: metadata("private_metadata")?,
            unsafe_metadata: metadata("unsafe_metadata")?,
            totp_secret: text("totp_secret"),
            ..CreateUser::default()
        },
        unverified_email_addresses: list("unverified_email_addresses"),
        unverified_phone_numbers: list("unverified_phone_numbers"),
        primary_email_address: text("primary_email_address"),
        primary_phone_number: text("primary_phone_number"),
        banned: column("banned").is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
        legal_accepted_at: time("legal_accepted_at")?,
        created_at: time("created_at")?,
    })
}

/// Unix milliseconds, or an RFC 3339 time.
fn parse_time(raw: &str, name: &str) -> Result<Timestamp, String> {
    if let Ok(millis) = raw.parse::<i64>() {
        return Ok(Timestamp(millis));
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| Timestamp(t.timestamp_millis()))
        .map_err(|_| format!("{name} is neither Unix milliseconds nor an RFC 3339 time"))
}

/// RFC 4180 records (quoted fields may hold separators, quotes doubled and
/// line breaks), each with the number of the line it starts on.
fn csv_records(text: &str) -> anyhow::Result<Vec<(usize, Vec<String>)>> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut starts = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                records.push((starts, std::mem::take(&mut fields)));
                line += 1;
                starts = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        anyhow::bail!("a quoted field opened on line {starts} never closes");
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((starts, fields));
    }
    Ok(records)
}

// --------------------------------------------------------------- JSON ----

/// A Clerk User object as the Backend API (snake_case) or its JavaScript
/// SDK (camelCase) writes it; what Latch does not keep is ignored.
#[derive(Deserialize)]
struct ClerkUser {
    id: String,
    #[serde(default, alias = "firstName")]
    first_name: Option<String>,
    #[serde(default, alias = "lastName")]
    last_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, alias = "externalId")]
    external_id: Option<String>,
    #[serde(default, alias = "emailAddresses")]
    email_addresses: Vec<ClerkAddress>,
    #[serde(default, alias = "phoneNumbers")]
    phone_numbers: Vec<ClerkAddress>,
    #[serde(default, alias = "primaryEmailAddressId")]
    primary_email_address_id: Option<String>,
    #[serde(default, alias = "primaryPhoneNumberId")]
    primary_phone_number_id: Option<String>,
    #[serde(default, alias = "publicMetadata")]
    public_metadata: Option<Value>,
    #[serde(default, alias = "privateMetadata")]
    private_metadata: Option<Value>,
    #[serde(default, alias = "unsafeMetadata")]
    unsafe_metadata: Option<Value>,
    #[serde(default)]
    banned: bool,
    #[serde(default, alias = "legalAcceptedAt")]
    legal_accepted_at: Option<i64>,
    #[serde(default, alias = "createdAt")]
    created_at: Option<i64>,
    /// Not in the Backend API's users; kept when an export has them.
    #[serde(default, alias = "passwordDigest")]
    password_digest: Option<String>,
    #[serde(default, alias = "passwordHasher")]
    password_hasher: Option<String>,
    #[serde(default, alias = "totpSecret")]
    totp_secret: Option<String>,
}

#[derive(Deserialize)]
struct ClerkAddress {
    #[serde(default)]
    id: Option<String>,
    #[serde(
        default,
        alias = "emailAddress",
        alias = "phone_number",
        alias = "phoneNumber"
    )]
    email_address: Option<String>,
    #[serde(default)]
    verification: Option<ClerkVerification>,
}

#[derive(Deserialize)]
struct ClerkVerification {
    #[serde(default)]
    status: Option<String>,
}

/// The users of a JSON array (or of the `data` or `users` array of an
/// object), numbered from 1; an element that is not a user is a malformed
/// row.
fn json_rows(text: &str) -> anyhow::Result<Vec<Row>> {
    let value: Value = serde_json::from_str(text)?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("data").or_else(|| object.remove("users"))
        {
            Some(Value::Array(items)) => items,
            _ => anyhow::bail!("an object without a `data` or `users` array"),
        },
        _ => anyhow::bail!("neither an array nor an object"),
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| Row {
            number: i + 1,
            user: serde_json::from_value::<ClerkUser>(item)
                .map(ClerkUser::into_import)
                .map_err(|e| format!("not a Clerk user: {e}")),
        })
        .collect())
}

impl ClerkUser {
    fn into_import(self) -> ImportUser {
        let (emails, primary_email_address) = split(
            self.email_addresses,
            self.primary_email_address_id.as_deref(),
        );
        let (phones, primary_phone_number) =
            split(self.phone_numbers, self.primary_phone_number_id.as_deref());
        let object = |m: Option<Value>| m.filter(|m| !m.is_null());
        ImportUser {
            id: self.id,
            user: CreateUser {
                email_addresses: emails.verified,
                phone_numbers: phones.verified,
                username: self.username,
                password_digest: self.password_digest,
                password_hasher: self.password_hasher,
                first_name: self.first_name,
                last_name: self.last_name,
                external_id: self.external_id,
                public_metadata: object(self.public_metadata),
                private_metadata: object(self.private_metadata),
                unsafe_metadata: object(self.unsafe_metadata),
                totp_secret: self.totp_secret,
                ..CreateUser::default()
            },
            unverified_email_addresses: emails.unverified,
            unverified_phone_numbers: phones.unverified,
            primary_email_address,
            primary_phone_number,
            banned: self.banned,
            legal_accepted_at: self.legal_accepted_at.map(Timestamp),
            created_at: self.created_at.map(Timestamp),
        }
    }
}

/// Addresses sorted by whether their verification's status is `verified`.
#[derive(Default)]
struct Split {
    verified: Vec<String>,
    unverified: Vec<String>,
}

/// `list` split into verified and unverified addresses, and the value of
/// the one whose id is `primary`.
fn split(list: Vec<ClerkAddress>, primary: Option<&str>) -> (Split, Option<String>) {
    let mut split = Split::default();
    let mut named = None;
    for address in list {
        let Some(value) = address.email_address else {
            continue;
        };
        if address.id.is_some() && address.id.as_deref() == primary {
            named = Some(value.clone());
        }
        let status = address.verification.and_then(|v| v.status);
        if status.as_deref() == Some("verified") {
            split.verified.push(value);
        } else {
            split.unverified.push(value);
        }
    }
    (split, named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_hold_quotes_separators_and_line_breaks() {
        let records =
            csv_records("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n1,,3").unwrap();
        assert_eq!(
            records,
            [
                (1, vec!["a".into(), "b".into(), "c".into()]),
                (
                    2,
                    vec!["x, y".into(), "say \"hi\"".into(), "two\nlines".into()]
                ),
                (4, vec!["1".into(), String::new(), "3".into()]),
            ]
        );
        assert!(csv_records("a,\"open\n").is_err());
    }

    #[test]
    fn csv_columns_are_read_by_name_in_any_order() {
        let text = "password_hasher,id,verified_email_addresses,primary_email_address,\
                    unverified_email_addresses,extra\n\
                    bcrypt,user_1,a@x.co|b@x.co,a@x.co,c@x.co,ignored\n\
                    bcrypt,user_2\n";
        let rows = csv_rows(text).unwrap();
        let user = rows[0].user.as_ref().unwrap();
        assert_eq!(rows[0].number, 2);
        assert_eq!(user.id, "user_1");
        assert_eq!(user.user.password_hasher.as_deref(), Some("bcrypt"));
        assert_eq!(user.primary_email_address.as_deref(), Some("a@x.co"));
        assert_eq!(user.user.email_addresses, ["a@x.co", "a@x.co", "b@x.co"]);
        assert_eq!(user.unverified_email_addresses, ["c@x.co"]);
        assert_eq!(
            rows[1].user.as_ref().err().map(String::as_str),
            Some("2 columns where the header has 6")
        );
        assert!(csv_rows("name,email\nann,a@x.co\n").is_err());
    }

    #[test]
    fn json_users_are_read_as_the_backend_api_writes_them() {
        let text = r#"[{"id":"user_1","email_addresses":[
              {"id":"idn_a","email_address":"a@x.co","verification":{"status":"verified"}},
              {"id":"idn_b","email_address":"b@x.co","verification":{"status":"unverified"}}],
            "primary_email_address_id":"idn_b","phone_numbers":[],"banned":true,
            "public_metadata":{"k":1},"created_at":1700000000000,"password_enabled":true},
            {"emailAddresses":[]}]"#;
        let rows = json_rows(text).unwrap();
        let user = rows[0].user.as_ref().unwrap();
        assert_eq!(user.primary_email_address.as_deref(), Some("b@x.co"));
        assert_eq!(user.user.email_addresses, ["a@x.co"]);
        assert_eq!(user.unverified_email_addresses, ["b@x.co"]);
        assert!(user.banned);
        assert_eq!(user.created_at, Some(Timestamp(1_700_000_000_000)));
        assert!(rows[1].user.is_err());
    }
}
