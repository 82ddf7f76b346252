//! Connections: one writer and a few readers, each on a thread of its own
//! that owns its connection. A read queues for whichever reader is free
//! and its caller waits on the async side, so queued callers hold no
//! thread. A reader between reads looks for the next one briefly before
//! it sleeps, so under load reads reach it without a thread wake-up (on
//! tokio's blocking pool each read cost a wake-up and a contended lock).
//!
//! Writes queue for the writer thread, which runs whatever has queued while
//! it was busy in one transaction, each write inside its own savepoint, and
//! commits once (group commit). A write that fails rolls back to its
//! savepoint and leaves the others in the batch alone; every caller hears
//! its result only after the commit, so nothing acknowledged can be lost.
//! The single writer never waits on the async runtime between two writes.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use latch_core::error::StoreError;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::SqliteConfig;
use crate::error::DbError;

/// Enough for every statement text the adapter builds, filter variants included.
const STATEMENT_CACHE_CAPACITY: usize = 128;

/// Bytes the write-ahead log is truncated to when it starts over.
const LOG_SIZE_LIMIT: i64 = 8 << 20;

/// Most writes one transaction of the writer takes: bounds how long the
/// first of them waits for the commit.
const MAX_BATCH: usize = 64;

/// One queued write: given the batch's transaction (or why there is none),
/// it runs inside its own savepoint and hands back what tells its caller
/// the result once the batch has committed or failed.
type Job = Box<dyn FnOnce(Result<&Transaction<'_>, &StoreError>) -> Option<Reply> + Send>;

/// Tells a write's caller its result, given how the batch's commit went.
type Reply = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// One queued read: runs on a reader's connection and answers its caller.
type Read = Box<dyn FnOnce(&mut Connection) + Send>;

pub(crate) struct Pool {
    /// The writer thread's queue; `None` only while the pool is dropped.
    writes: Option<mpsc::Sender<Job>>,
    /// Writes queued or running, which the readiness check reads.
    pending_writes: Arc<std::sync::atomic::AtomicUsize>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// The reader threads' shared queue; `None` only while the pool is dropped.
    reads: Option<crossbeam_channel::Sender<Read>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    /// The shared lock that tells a restore the database is in use.
    _in_use: Option<std::fs::File>,
}

impl Pool {
    /// Opens the writer (applying migrations first) and the readers.
    pub(crate) fn open(path: &Path, config: SqliteConfig) -> Result<Self, StoreError> {
        let mut writer = open_writer(path, &config)?;
        crate::migrations::apply(&mut writer)?;
        let connections = (0..config.readers.max(1))
            .map(|_| open_reader(path, &config))
            .collect::<Result<Vec<_>, _>>()?;
        let (reads, read_queue) = crossbeam_channel::unbounded();
        #[cfg(test)]
        let log = statement_log::current();
        let readers = connections
            .into_iter()
            .map(|conn| {
                let queue = read_queue.clone();
                #[cfg(test)]
                let log = log.clone();
                std::thread::Builder::new()
                    .name("sqlite-reader".to_owned())
                    .spawn(move || {
                        #[cfg(test)]
                        statement_log::adopt(log);
                        serve_reads(conn, &queue)
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| StoreError::Other(format!("starting the sqlite readers: {err}")))?;
        let (writes, queue) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || {
                #[cfg(test)]
                statement_log::adopt(log);
                write_batches(writer, &queue)
            })
            .map_err(|err| StoreError::Other(format!("starting the sqlite writer: {err}")))?;
        Ok(Self {
            writes: Some(writes),
            pending_writes: Arc::default(),
            writer: Some(writer),
            reads: Some(reads),
            readers,
            _in_use: crate::backup::hold_shared(path),
        })
    }

    /// Runs `f` in a read transaction (one consistent snapshot) on a reader,
    /// timed under the port of the module that calls it.
    #[track_caller]
    pub(crate) fn read<T, F>(
        self: &Arc<Self>,
        f: F,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        timed(caller_port(), self.read_untimed(f))
    }

    fn read_untimed<T, F>(
        self: &Arc<Self>,
        f: F,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        let (answer, result) = oneshot::channel();
        let read: Read = Box::new(move |conn| {
            let outcome = (|| -> Result<T, DbError> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            })();
            // A caller that has gone has nobody to tell.
            let _ = answer.send(outcome.map_err(StoreError::from));
        });
        // Queued when first polled, as an `async fn` would be. The read
        // holds the pool, not just its queue: a pool dropped while a read
        // waited to be polled would wait for its readers, and they for the
        // queue that read kept open.
        let pool = Arc::clone(self);
        async move {
            if pool
                .reads
                .as_ref()
                .is_none_or(|reads| reads.send(read).is_err())
            {
                return Err(readers_closed());
            }
            // No answer: the read panicked (its reader rolled it back).
            result
                .await
                .unwrap_or_else(|_| Err(StoreError::Other("a sqlite read failed".to_owned())))
        }
    }

    /// The one row `sql` names by its single parameter `key`, mapped by `row`.
    #[track_caller]
    pub(crate) fn read_one<T: Send + 'static>(
        self: &Arc<Self>,
        sql: &'static str,
        key: String,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send + 'static {
        timed(
            caller_port(),
            self.read_untimed(move |tx| {
                Ok(rusqlite::OptionalExtension::optional(
                    tx.prepare_cached(sql)?.query_row([key.as_str()], row),
                )?)
            }),
        )
    }

    /// Runs `f` on the writer inside a `BEGIN IMMEDIATE` transaction (shared
    /// with the writes queued beside it, each in its own savepoint) and
    /// answers once that transaction has committed; an error rolls back
    /// everything `f` did and nothing else. Timed as [`read`](Self::read) is.
    #[track_caller]
    pub(crate) fn write<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        timed(caller_port(), self.write_untimed(f))
    }

    fn write_untimed<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        let (answer, result) = oneshot::channel();
        let pending = Arc::clone(&self.pending_writes);
        let job: Job = Box::new(move |tx| {
            let done = move |result: Result<T, StoreError>| {
                pending.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                // A caller that has gone has nobody to tell.
                let _ = answer.send(result);
            };
            let tx = match tx {
                Ok(tx) => tx,
                Err(err) => {
                    done(Err(err.clone()));
                    return None;
                }
            };
            let outcome = in_savepoint(tx, f);
            Some(Box::new(move |committed: Result<(), &StoreError>| {
                done(match committed {
                    Ok(()) => outcome,
                    Err(err) => outcome.and(Err(err.clone())),
                });
            }))
        });
        self.pending_writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let queued = self
            .writes
            .as_ref()
            .is_some_and(|writes| writes.send(job).is_ok());
        if !queued {
            self.pending_writes
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        async move {
            if !queued {
                return Err(closed());
            }
            result.await.unwrap_or_else(|_| Err(closed()))
        }
    }

    /// Whether the database takes writes: an empty write transaction when
    /// the writer is idle. A writer with writes queued or running is
    /// writing, which says as much, so a check never queues behind the
    /// writes it would delay.
    pub(crate) async fn writable(&self) -> Result<(), StoreError> {
        // A writer that has stopped answers nothing queued for it.
        if self
            .writer
            .as_ref()
            .is_none_or(|writer| writer.is_finished())
        {
            return Err(closed());
        }
        if self
            .pending_writes
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
        {
            return Ok(());
        }
        self.write_untimed(|_| Ok(())).await
    }
}

impl Drop for Pool {
    /// Closes the queue and waits for the writer to finish what was queued
    /// and close its connection, so the file is free when the pool is gone.
    fn drop(&mut self) {
        self.writes.take();
        self.reads.take();
        let this = std::thread::current().id();
        for thread in self.writer.take().into_iter().chain(self.readers.drain(..)) {
            if thread.thread().id() != this {
                let _ = thread.join();
            }
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the sqlite writer has stopped".to_owned())
}

fn readers_closed() -> StoreError {
    StoreError::Unavailable("the sqlite readers have stopped".to_owned())
}

/// A reader thread: runs queued reads on its connection, one at a time,
/// until the queue is closed. A read that panics is rolled back and the
/// reader goes on with the next.
fn serve_reads(mut conn: Connection, queue: &crossbeam_channel::Receiver<Read>) {
    while let Ok(read) = queue.recv() {
        if std::panic::catch_unwind(AssertUnwindSafe(|| read(&mut conn))).is_err()
            && !conn.is_autocommit()
        {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

/// The writer thread: takes the first queued write, then whatever else has
/// queued (up to [`MAX_BATCH`]), runs them in one transaction, commits, and
/// tells each caller. Ends when the queue is closed and drained.
fn write_batches(mut conn: Connection, queue: &mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let (jobs, transactions) = (batch.len(), run_batch(&mut conn, &mut batch));
        latch_core::metrics::sqlite_writes(jobs, transactions, started.elapsed().as_secs_f64());
    }
}

/// Runs every job of `batch` (which it empties), in as few transactions as
/// the jobs allow: a job whose failure made SQLite roll the whole
/// transaction back fails the jobs before it in that transaction too, and
/// the rest go on in a new one. Returns how many transactions it took.
fn run_batch(conn: &mut Connection, batch: &mut Vec<Job>) -> usize {
    let mut jobs = batch.drain(..);
    let mut transactions = 0;
    loop {
        let Some(first) = jobs.next() else {
            return transactions;
        };
        transactions += 1;
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(err) => {
                let err = StoreError::from(DbError::from(err));
                for job in std::iter::once(first).chain(jobs.by_ref()) {
                    job(Err(&err));
                }
                return transactions;
            }
        };
        let mut replies: Vec<Reply> = Vec::new();
        let mut next = Some(first);
        let mut lost = false;
        while let Some(job) = next.take() {
            replies.extend(job(Ok(&tx)));
            if tx.is_autocommit() {
                // SQLite ended the transaction itself (a failure it cannot
                // contain): nothing before this job was kept.
                lost = true;
                break;
            }
            next = jobs.next();
        }
        let committed = if lost {
            Err(StoreError::Other(
                "the write transaction was rolled back by another write's failure".to_owned(),
            ))
        } else {
            tx.commit()
                .map_err(|err| StoreError::from(DbError::from(err)))
        };
        for reply in replies {
            reply(committed.as_ref().map(|_| ()));
        }
    }
}

/// `f` inside a savepoint of `tx`: released when it succeeds, rolled back
/// to (undoing only `f`'s changes) when it fails or panics.
fn in_savepoint<T, F>(tx: &Transaction<'_>, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&Transaction<'_>) -> Result<T, DbError>,
{
    let run = |sql: &str| -> Result<(), StoreError> {
        tx.prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map(|_| ())
            .map_err(|err| StoreError::from(DbError::from(err)))
    };
    run("SAVEPOINT write")?;
    let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| f(tx))) {
        Ok(Ok(value)) => match run("RELEASE write") {
            Ok(()) => return Ok(value),
            Err(err) => err,
        },
        Ok(Err(err)) => StoreError::from(err),
        Err(_) => StoreError::Other("a sqlite write panicked".to_owned()),
    };
    // Fails only when SQLite has already rolled the whole transaction
    // back, which the writer sees and answers for.
    let _ = tx.execute_batch("ROLLBACK TO write; RELEASE write");
    Err(outcome)
}

/// The port of the adapter module whose call is being made.
#[track_caller]
fn caller_port() -> &'static str {
    latch_core::metrics::port_of(std::panic::Location::caller().file())
}

/// `call`, with its time and failure recorded under `port`.
async fn timed<T>(
    port: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    let result = call.await;
    let seconds = started.elapsed().as_secs_f64();
    latch_core::metrics::store_call("sqlite", port, seconds, result.as_ref().err());
    result
}

/// A read-write connection in WAL mode. Used by the pool's writer and by
/// [`crate::migrate`].
pub(crate) fn open_writer(path: &Path, config: &SqliteConfig) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn, config)?;
    // A log that grew while checkpoints fell behind readers is cut back to
    // this when it starts over, rather than keeping its largest size.
    conn.pragma_update(None, "journal_size_limit", LOG_SIZE_LIMIT)?;
    // WAL is a property of the file: set once by the writer, readers inherit it.
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(
            StoreError::Other(format!("sqlite refused WAL journal mode (got {mode})")).into(),
        );
    }
    Ok(conn)
}

fn open_reader(path: &Path, config: &SqliteConfig) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn, config)?;
    // Readers must never write: a bug that tries fails loudly instead of
    // racing the writer.
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

fn configure(conn: &Connection, config: &SqliteConfig) -> Result<(), DbError> {
    conn.busy_timeout(config.busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Savepoints keep the pages they may roll back to in memory, not in a
    // temporary file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    #[cfg(test)]
    conn.trace_v2(
        rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
        Some(statement_log::record),
    );
    Ok(())
}

/// In tests: the text of every statement a pool's connections run, kept
/// for the thread that opened the pool (its reader and writer threads
/// take over its log), so a test can examine what its own calls ran.
#[cfg(test)]
pub(crate) mod statement_log {
    use std::cell::RefCell;
    use std::sync::{Arc, Mutex};

    pub(crate) type Log = Arc<Mutex<Vec<String>>>;

    thread_local! {
        static LOG: RefCell<Option<Log>> = const { RefCell::new(None) };
    }

    /// Starts a log for this thread and the pools it opens from now on.
    pub(crate) fn start() -> Log {
        let log = Log::default();
        adopt(Some(Arc::clone(&log)));
        log
    }

    pub(super) fn current() -> Option<Log> {
        LOG.with(|l| l.borrow().clone())
    }

    pub(super) fn adopt(log: Option<Log>) {
        LOG.with(|l| *l.borrow_mut() = log);
    }

    pub(super) fn record(event: rusqlite::trace::TraceEvent<'_>) {
        if let rusqlite::trace::TraceEvent::Stmt(statement, _) = event {
            LOG.with(|l| {
                if let Some(log) = &*l.borrow() {
                    log.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(statement.sql().into_owned());
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn pool(dir: &tempfile::TempDir) -> Arc<Pool> {
        pool_configured(dir, SqliteConfig::default())
    }

    fn pool_configured(dir: &tempfile::TempDir, config: SqliteConfig) -> Arc<Pool> {
        Arc::new(Pool::open(&dir.path().join("latch.db"), config).unwrap())
    }

    /// A pool whose database also has the table `schema` creates.
    async fn pool_with(dir: &tempfile::TempDir, schema: &'static str) -> Arc<Pool> {
        schema_on(pool(dir), schema).await
    }

    async fn schema_on(pool: Arc<Pool>, schema: &'static str) -> Arc<Pool> {
        pool.write(move |tx| Ok(tx.execute_batch(schema)?))
            .await
            .unwrap();
        pool
    }

    fn insert(k: i64) -> impl FnOnce(&Transaction<'_>) -> Result<(), DbError> + Send {
        move |tx| {
            tx.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
            Ok(())
        }
    }

    /// A write that holds the writer until the returned sender is used,
    /// returned once the writer runs it: what is queued meanwhile runs as
    /// the next batch, together.
    async fn hold_writer(
        pool: &Pool,
    ) -> (
        mpsc::Sender<()>,
        impl Future<Output = Result<(), StoreError>>,
    ) {
        let (release, started, hold) = holding();
        let write = pool.write(hold);
        started.await.unwrap();
        (release, write)
    }

    /// A transaction's work that tells when it starts and then blocks its
    /// thread until the returned sender is used.
    fn holding() -> (
        mpsc::Sender<()>,
        oneshot::Receiver<()>,
        impl FnOnce(&Transaction<'_>) -> Result<(), DbError> + Send + 'static,
    ) {
        let (release, held) = mpsc::channel::<()>();
        let (running, started) = oneshot::channel::<()>();
        let hold = move |_: &Transaction<'_>| {
            let _ = running.send(());
            let _ = held.recv();
            Ok(())
        };
        (release, started, hold)
    }

    async fn keys(pool: &Arc<Pool>) -> Vec<i64> {
        pool.read(|tx| {
            Ok(tx
                .prepare("SELECT k FROM t ORDER BY k")?
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<i64>, _>>()?)
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_waits_only_for_a_free_reader() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool_with(&dir, "CREATE TABLE t (k INTEGER PRIMARY KEY)").await;
        pool.write(insert(1)).await.unwrap();
        // One reader held: the others still answer.
        let (release, started, hold) = holding();
        let slow = tokio::spawn(pool.read(hold));
        started.await.unwrap();
        for _ in 0..8 {
            assert_eq!(keys(&pool).await, vec![1]);
        }
        release.send(()).unwrap();
        slow.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_not_yet_polled_keeps_its_pool() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool_with(&dir, "CREATE TABLE t (k INTEGER PRIMARY KEY)").await;
        pool.write(insert(7)).await.unwrap();
        let read = pool.read(|tx| Ok(tx.query_row("SELECT k FROM t", [], |r| r.get::<_, i64>(0))?));
        // The last handle on the pool goes before the read is polled.
        let dropped = tokio::task::spawn_blocking(move || drop(pool));
        tokio::time::timeout(std::time::Duration::from_secs(10), dropped)
            .await
            .expect("dropping the pool waited on the read")
            .unwrap();
        assert_eq!(read.await.unwrap(), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_that_panics_fails_alone_and_its_reader_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig {
            readers: 2,
            ..SqliteConfig::default()
        };
        let pool = schema_on(
            pool_configured(&dir, config),
            "CREATE TABLE t (k INTEGER PRIMARY KEY)",
        )
        .await;
        pool.write(insert(1)).await.unwrap();
        for _ in 0..4 {
            let panicked = pool
                .read(|tx| -> Result<(), DbError> {
                    // Inside the read transaction: its snapshot is taken.
                    let _: i64 = tx.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
                    panic!("a read that panics")
                })
                .await;
            assert!(
                matches!(panicked, Err(StoreError::Other(_))),
                "{panicked:?}"
            );
        }
        // Every reader still answers, and none is left in the snapshot of
        // the read that panicked on it.
        pool.write(insert(2)).await.unwrap();
        for _ in 0..4 {
            assert_eq!(keys(&pool).await, vec![1, 2]);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_batched_together_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool_with(&dir, "CREATE TABLE t (k INTEGER PRIMARY KEY)").await;
        let (release, held) = hold_writer(&pool).await;
        let first = pool.write(insert(1));
        let duplicate = pool.write(insert(1));
        let second = pool.write(|tx| {
            // The batch is one transaction: the first insert is visible.
            let seen: i64 = tx.query_row("SELECT count(*) FROM t", [], |row| row.get(0))?;
            insert(2)(tx)?;
            Ok(seen)
        });
        let panics = pool.write(|tx| -> Result<(), DbError> {
            insert(9)(tx)?;
            panic!("a bug in a write");
        });
        let third = pool.write(insert(3));
        release.send(()).unwrap();
        assert_eq!(held.await, Ok(()));
        assert_eq!(first.await, Ok(()));
        assert!(
            matches!(duplicate.await, Err(StoreError::Other(_))),
            "a duplicate key is its own failure"
        );
        assert_eq!(second.await, Ok(1));
        assert!(matches!(panics.await, Err(StoreError::Other(_))));
        assert_eq!(third.await, Ok(()));
        assert_eq!(
            keys(&pool).await,
            [1, 2, 3],
            "the failed writes left nothing"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_ends_the_transaction_fails_the_writes_before_it_only() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool_with(&dir, "CREATE TABLE t (k INTEGER PRIMARY KEY)").await;
        let (release, held) = hold_writer(&pool).await;
        let before = pool.write(insert(1));
        // What SQLite does on a failure it cannot contain to a statement.
        let ends = pool.write(|tx| Ok(tx.execute_batch("ROLLBACK")?));
        let after = pool.write(insert(2));
        release.send(()).unwrap();
        // The held write ran alone; the three queued behind it form the
        // next batch.
        assert_eq!(held.await, Ok(()), "committed before the lost transaction");
        assert!(before.await.is_err(), "its transaction was rolled back");
        assert!(ends.await.is_err());
        assert_eq!(after.await, Ok(()), "the rest go on in a new transaction");
        assert_eq!(keys(&pool).await, [2]);
        // The writer goes on taking writes.
        pool.write(insert(3)).await.unwrap();
        assert_eq!(keys(&pool).await, [2, 3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_is_answered_once_readers_can_see_it() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool_with(&dir, "CREATE TABLE t (k INTEGER PRIMARY KEY)").await;
        let writes: Vec<_> = (0..200).map(|k| pool.write(insert(k))).collect();
        for (k, write) in writes.into_iter().enumerate() {
            write.await.unwrap();
            let seen = pool
                .read(move |tx| {
                    Ok(
                        tx.query_row("SELECT count(*) FROM t WHERE k = ?1", [k as i64], |row| {
                            row.get::<_, i64>(0)
                        })?,
                    )
                })
                .await
                .unwrap();
            assert_eq!(seen, 1, "write {k} was answered before it committed");
        }
    }

    /// Writes that never pause, with reads going on all along (as under
    /// load): the log is checkpointed and starts over, so it stays well
    /// under what was written (checkpoints can fall behind the readers for
    /// a while, so not always under the 4 MiB between checkpoints; a log
    /// that never started over would hold all 48 MiB).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_stays_small_under_writes_that_never_pause() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool_with(&dir, "CREATE TABLE b (v BLOB)").await;
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (pool, done) = (Arc::clone(&pool), Arc::clone(&done));
                tokio::spawn(async move {
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        pool.read(|tx| {
                            Ok(tx.query_row("SELECT count(*) FROM b", [], |row| {
                                row.get::<_, i64>(0)
                            })?)
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        // 48 MiB in 16 KiB rows, many writers at once, back to back.
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let pool = Arc::clone(&pool);
                tokio::spawn(async move {
                    for _ in 0..384 {
                        pool.write(|tx| {
                            tx.execute("INSERT INTO b (v) VALUES (zeroblob(16384))", [])?;
                            Ok(())
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for reader in readers {
            reader.await.unwrap();
        }
        let log = std::fs::metadata(dir.path().join("latch.db-wal"))
            .unwrap()
            .len();
        assert!(
            log < 24 << 20,
            "the log holds {log} bytes after 48 MiB written: it never started over"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_readiness_check_takes_the_write_lock_or_sees_writes_under_way() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        assert_eq!(pool.writable().await, Ok(()));
        let (release, held) = hold_writer(&pool).await;
        // Busy writing: answered at once, without queueing behind it.
        tokio::time::timeout(std::time::Duration::from_secs(5), pool.writable())
            .await
            .expect("the check queued behind a held write")
            .unwrap();
        release.send(()).unwrap();
        assert_eq!(held.await, Ok(()));
    }
}
