//! argon2id password hashing on a small pool of dedicated threads.
//!
//! The computation is `argon2-rust`'s SIMD implementation (the instruction set
//! is chosen at run time); what a digest says and which digests are accepted
//! are `latch_core::password`'s rules. Each worker keeps its argon2 block
//! memory (19 MiB at the default cost) for its whole life, wiped after every
//! hash, so hashing allocates nothing per request and the process holds
//! `workers x memory` for hashing, however many requests come. Jobs wait in
//! one queue that the workers take from in turn, so a worker goes straight
//! from one hash to the next without a round trip through the async side; a
//! job whose caller has gone (a request that gave up while waiting) is dropped
//! unrun, so it costs nothing. There are never more hashes running than
//! workers.
//!
//! Digests imported from other systems (bcrypt, PBKDF2, Firebase's scrypt,
//! SHA-256; read and bounded by `latch_core::password::imported`) are checked
//! on the same workers; each check pays for the dummy argon2id as well, so a
//! wrong password against a cheap imported digest takes no less than one
//! against an unknown user.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::{Algorithm, Params};
use async_trait::async_trait;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use latch_core::Error;
use latch_core::model::Password;
use latch_core::password::imported::{LegacyDigest, Pbkdf2Prf, parse_stored as parse_imported};
use latch_core::password::{
    Argon2Settings, MAX_VERIFIED_WORK, StoredDigest, argon2id_phc, parse_digest, work_of,
};
use latch_core::ports::{PasswordHasher, Random};

const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;

type Work = Box<dyn FnOnce(&mut Engine) + Send>;

/// One worker's argon2: a hasher whose arena is sized for the instance's
/// cost once, at start-up, and reused by every job on that worker.
struct Engine {
    hasher: argon2_rust::Hasher,
}

impl Engine {
    fn new(own: argon2_rust::Argon2) -> Result<Self, Error> {
        let mut hasher = own.hasher();
        hasher
            .reserve()
            .map_err(|_| Error::internal("argon2 block memory"))?;
        Ok(Self { hasher })
    }

    /// The raw argon2 output of `password` under `config` into `out`. A
    /// digest costlier than the arena (an imported one) gets a one-off
    /// buffer, so no worker keeps more than the instance's cost.
    fn derive(
        &mut self,
        config: &argon2_rust::Argon2,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        let done = if config.params().memory_blocks() as usize <= self.hasher.reserved_blocks() {
            self.hasher.set_argon2(*config);
            self.hasher.hash_into(password, salt, out)
        } else {
            config.hash_into(password, salt, out)
        };
        done.map_err(|_| Error::internal("argon2 hash"))
    }
}

/// The argon2 computation for an algorithm and cost, or None for parameters
/// it refuses.
fn config(algorithm: Algorithm, params: &Params, output_len: usize) -> Option<argon2_rust::Argon2> {
    let algorithm = match algorithm {
        Algorithm::Argon2d => argon2_rust::Algorithm::Argon2d,
        Algorithm::Argon2i => argon2_rust::Algorithm::Argon2i,
        Algorithm::Argon2id => argon2_rust::Algorithm::Argon2id,
    };
    let params = argon2_rust::Params::builder()
        .memory(argon2_rust::params::Memory::kib(u64::from(params.m_cost())))
        .passes(params.t_cost())
        .lanes(params.p_cost())
        .tag_len(argon2_rust::params::TagLen::bytes(output_len as u64))
        .build()
        .ok()?;
    Some(argon2_rust::Argon2::new(
        algorithm,
        argon2_rust::Version::V0x13,
        params,
    ))
}

/// A stored digest ready to verify against.
struct Stored {
    config: argon2_rust::Argon2,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

fn parse_stored(digest: &str, max_work: u64) -> Option<Stored> {
    let StoredDigest {
        algorithm,
        params,
        salt,
        expected,
    } = parse_digest(digest, max_work)?;
    Some(Stored {
        config: config(algorithm, &params, expected.len())?,
        salt,
        expected,
    })
}

/// argon2id hasher over dedicated worker threads.
pub struct Argon2Hasher {
    settings: Argon2Settings,
    params: Params,
    own: argon2_rust::Argon2,
    jobs: mpsc::Sender<Work>,
    random: Arc<dyn Random>,
    /// Verified against when there is no usable digest, so unknown users and
    /// users without a password cost the same as real ones.
    dummy_digest: String,
}

impl Argon2Hasher {
    /// Starts `workers` hashing threads (at least one).
    pub fn new(
        settings: Argon2Settings,
        workers: usize,
        random: Arc<dyn Random>,
    ) -> Result<Self, Error> {
        let params = settings.params(OUTPUT_LEN)?;
        let own = config(Algorithm::Argon2id, &params, OUTPUT_LEN)
            .ok_or_else(|| Error::internal("argon2 parameters"))?;
        let workers = workers.max(1);
        let (jobs, queue) = mpsc::channel::<Work>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..workers {
            let queue = Arc::clone(&queue);
            // Sized here, so a cost that does not fit fails start-up.
            let engine = Engine::new(own)?;
            std::thread::Builder::new()
                .name(format!("latch-argon2-{i}"))
                .spawn(move || worker(&queue, engine))
                .map_err(|_| Error::internal("argon2 worker thread"))?;
        }
        let mut pepper = [0u8; 24];
        random.fill(&mut pepper);
        let dummy_salt = salt_bytes(&*random);
        let mut dummy = [0u8; OUTPUT_LEN];
        own.hash_into(&pepper, &dummy_salt, &mut dummy)
            .map_err(|_| Error::internal("argon2 hash"))?;
        let dummy_digest = argon2id_phc(&params, &dummy_salt, &dummy)?;
        Ok(Self {
            settings,
            params,
            own,
            jobs,
            random,
            dummy_digest,
        })
    }

    /// Runs `f` on a worker with that worker's argon2 engine.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let (done, result) = oneshot::channel();
        // The queue's depth and each job's wait for a worker, as metrics.
        let queued = std::time::Instant::now();
        let depth = metrics::gauge!("latch_password_hash_queue");
        depth.increment(1.0);
        let work: Work = Box::new(move |engine| {
            metrics::gauge!("latch_password_hash_queue").decrement(1.0);
            metrics::histogram!("latch_password_hash_wait_seconds")
                .record(queued.elapsed().as_secs_f64());
            if done.is_closed() {
                return;
            }
            let _ = done.send(f(engine));
        });
        self.jobs.send(work).map_err(|_| {
            depth.decrement(1.0);
            Error::internal("hash pool stopped")
        })?;
        result.await.map_err(|_| Error::internal("hash job lost"))
    }
}

/// Whether `password` matches a digest imported from another system. Every
/// comparison is constant-time.
fn matches_imported(digest: &LegacyDigest, password: &[u8]) -> bool {
    match digest {
        LegacyDigest::Bcrypt {
            cost,
            salt,
            expected,
        } => {
            // As bcrypt's C implementations: the password with its NUL
            // terminator, cut at 72 bytes.
            let key: Vec<u8> = password.iter().copied().chain([0]).take(72).collect();
            let out = bcrypt::bcrypt(*cost, *salt, &key);
            out[..expected.len()].ct_eq(expected).into()
        }
        LegacyDigest::Pbkdf2 {
            prf,
            iterations,
            salt,
            expected,
        } => {
            let mut out = vec![0u8; expected.len()];
            match prf {
                Pbkdf2Prf::Sha256 => {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, *iterations, &mut out)
                }
                Pbkdf2Prf::Sha512 => {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, *iterations, &mut out)
                }
            }
            out.ct_eq(expected).into()
        }
        LegacyDigest::ScryptFirebase {
            log_n,
            rounds,
            salt,
            signer_key,
            expected,
        } => {
            use ctr::cipher::{KeyIvInit as _, StreamCipher as _};
            let Ok(params) = scrypt::Params::new(*log_n, *rounds, 1, 32) else {
                return false;
            };
            let mut key = [0u8; 32];
            if scrypt::scrypt(password, salt, &params, &mut key).is_err() {
                return false;
            }
            let mut out = signer_key.clone();
            ctr::Ctr128BE::<aes::Aes256>::new(&key.into(), &[0u8; 16].into())
                .apply_keystream(&mut out);
            out.ct_eq(expected).into()
        }
        LegacyDigest::Sha256 { expected } => {
            use sha2::Digest as _;
            sha2::Sha256::digest(password).ct_eq(expected).into()
        }
    }
}

fn worker(queue: &Mutex<mpsc::Receiver<Work>>, mut engine: Engine) {
    loop {
        // The lock is held only while waiting for the next job.
        let next = match queue.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match next {
            Ok(work) => {
                // A panic fails that one request (its answer channel closes)
                // and keeps the worker.
                let _ =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut engine)));
            }
            Err(_) => return,
        }
    }
}

fn salt_bytes(random: &dyn Random) -> [u8; SALT_LEN] {
    let mut bytes = [0u8; SALT_LEN];
    random.fill(&mut bytes);
    bytes
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, Error> {
        let own = self.own;
        let salt = salt_bytes(&*self.random);
        let password = password.expose().to_owned();
        let out = self
            .run(move |engine| {
                let mut out = [0u8; OUTPUT_LEN];
                engine
                    .derive(&own, password.as_bytes(), &salt, &mut out)
                    .map(|()| out)
            })
            .await??;
        argon2id_phc(&self.params, &salt, &out)
    }

    fn needs_rehash(&self, digest: &str) -> bool {
        self.settings.needs_rehash(digest)
    }

    async fn verify(&self, password: &str, digest: Option<String>) -> Result<bool, Error> {
        let max_work = MAX_VERIFIED_WORK.max(work_of(&self.params));
        let imported = digest.as_deref().and_then(parse_imported);
        let real = digest.as_deref().and_then(|d| parse_stored(d, max_work));
        let usable = real.is_some();
        // No argon2 digest, or one that does not parse: pay for the dummy instead.
        let stored = match real {
            Some(stored) => stored,
            None => parse_stored(&self.dummy_digest, max_work)
                .ok_or_else(|| Error::internal("dummy digest"))?,
        };
        let password = password.to_owned();
        let (matched, imported_matched) = self
            .run(move |engine| {
                let imported_matched = imported
                    .as_ref()
                    .is_some_and(|digest| matches_imported(digest, password.as_bytes()));
                let mut out = vec![0u8; stored.expected.len()];
                let ok = engine.derive(&stored.config, password.as_bytes(), &stored.salt, &mut out);
                (
                    ok.is_ok() && bool::from(out.ct_eq(&stored.expected)),
                    imported_matched,
                )
            })
            .await?;
        Ok((usable && matched) || imported_matched)
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsRandom;
    use argon2::password_hash::{PasswordHash, SaltString};
    use argon2::{Argon2, PasswordVerifier, Version};
    use latch_core::password::validate_imported_digest;

    const LIGHT: Argon2Settings = Argon2Settings {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn hasher(settings: Argon2Settings) -> Argon2Hasher {
        Argon2Hasher::new(settings, 2, Arc::new(OsRandom)).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let h = hasher(LIGHT);
        let pw = Password::parse("correct horse battery", 8).unwrap();
        let digest = h.hash(&pw).await.unwrap();
        assert!(digest.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(
            h.verify("correct horse battery", Some(digest.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify("correct horse batterx", Some(digest.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify("anything", Some("not a phc string".into()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify("anything", Some("$argon2id$garbage".into()))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn digests_are_standard_phc_strings_both_ways() {
        // Our digest verifies with the argon2 crate's own verifier...
        let h = hasher(LIGHT);
        let digest = h
            .hash(&Password::parse("interop password", 8).unwrap())
            .await
            .unwrap();
        let parsed = PasswordHash::new(&digest).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"interop password", &parsed)
                .is_ok()
        );
        // ...and a digest made elsewhere (argon2i, other costs) verifies here.
        use argon2::password_hash::PasswordHasher as _;
        let params = Params::new(32, 3, 1, None).unwrap();
        let foreign = Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(
                b"imported one",
                &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
            )
            .unwrap()
            .to_string();
        assert!(
            h.verify("imported one", Some(foreign.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify("imported two", Some(foreign.clone()))
                .await
                .unwrap()
        );
        assert!(h.needs_rehash(&foreign));
        assert!(!h.needs_rehash(&digest));
        // A costlier argon2id digest verifies, and is rehashed too: a check
        // against it must come to cost what one against a stand-in does.
        let costlier = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(128, 2, 2, None).unwrap(),
        )
        .hash_password(
            b"imported one",
            &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
        )
        .unwrap()
        .to_string();
        assert!(
            h.verify("imported one", Some(costlier.clone()))
                .await
                .unwrap()
        );
        assert!(h.needs_rehash(&costlier));
        assert!(validate_imported_digest(&foreign).is_ok());
        assert!(validate_imported_digest("$argon2id$v=19$m=64,t=1,p=1$bad").is_err());
        assert!(validate_imported_digest("$2b$10$abcdefghijklmnopqrstuv").is_err());
        // Too costly to verify: refused at import, and unusable if stored anyway.
        let slow = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 100, 1, None).unwrap(),
        )
        .hash_password(
            b"slow one",
            &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
        )
        .unwrap()
        .to_string();
        assert!(validate_imported_digest(&slow).is_err());
        assert!(!h.verify("slow one", Some(slow)).await.unwrap());
    }

    #[tokio::test]
    async fn the_simd_engine_agrees_with_the_argon2_crate_and_keeps_its_arena() {
        // The same bytes as the RustCrypto implementation for every variant,
        // several lanes, odd memory sizes and output lengths, including costs
        // below, at and above the worker's arena (which then stays its size).
        let h = hasher(LIGHT);
        let arena = h.run(|e| e.hasher.reserved_blocks()).await.unwrap();
        assert_eq!(arena, 64);
        let cases = [
            (Algorithm::Argon2id, 64, 1, 1, 32),
            (Algorithm::Argon2id, 32, 3, 4, 32),
            (Algorithm::Argon2id, 200, 2, 2, 16),
            (Algorithm::Argon2i, 64, 2, 1, 64),
            (Algorithm::Argon2d, 40, 1, 3, 20),
            (Algorithm::Argon2id, 1000, 1, 1, 32),
        ];
        for (i, (algorithm, m, t, p, len)) in cases.into_iter().enumerate() {
            let params = Params::new(m, t, p, Some(len)).unwrap();
            let password = format!("password {i}");
            let salt = b"saltsaltsalt0123";
            let mut theirs = vec![0u8; len];
            Argon2::new(algorithm, Version::V0x13, params.clone())
                .hash_password_into(password.as_bytes(), salt, &mut theirs)
                .unwrap();
            let config = config(algorithm, &params, len).unwrap();
            let ours = h
                .run(move |e| {
                    let mut out = vec![0u8; len];
                    e.derive(&config, password.as_bytes(), salt, &mut out)
                        .map(|()| out)
                })
                .await
                .unwrap()
                .unwrap();
            assert_eq!(ours, theirs, "case {i}: {algorithm:?} m={m} t={t} p={p}");
        }
        assert_eq!(h.run(|e| e.hasher.reserved_blocks()).await.unwrap(), arena);
    }

    #[tokio::test]
    async fn no_digest_never_verifies() {
        let h = hasher(LIGHT);
        assert!(!h.verify("", None).await.unwrap());
        assert!(!h.verify("whatever", None).await.unwrap());
    }

    #[tokio::test]
    async fn many_concurrent_hashes_share_the_pool() {
        let h = Arc::new(hasher(LIGHT));
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let h = Arc::clone(&h);
                tokio::spawn(async move {
                    let pw = Password::parse(&format!("password number {i}"), 8).unwrap();
                    let digest = h.hash(&pw).await.unwrap();
                    h.verify(pw.expose(), Some(digest)).await.unwrap()
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
    }

    #[tokio::test]
    async fn a_job_whose_caller_gave_up_is_never_run() {
        let h = Argon2Hasher::new(LIGHT, 1, Arc::new(OsRandom)).unwrap();
        let h = Arc::new(h);
        // Hold the only worker until released.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let busy = {
            let h = Arc::clone(&h);
            tokio::spawn(async move {
                h.run(move |_| {
                    let _ = started_tx.send(());
                    hold.recv().is_ok()
                })
                .await
            })
        };
        while started.try_recv().is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        // Queue a job behind it, then give up on it.
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            h.run(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst)),
        )
        .await;
        assert!(gave_up.is_err(), "the queued job was still waiting");
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        // A job queued after the abandoned one runs, so the queue moved past it.
        assert_eq!(h.run(|_| 7).await.unwrap(), 7);
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn imported_digests_verify_their_password_only_and_need_rehashing() {
        use latch_core::password::imported::{ImportHasher, stored_form};
        use latch_testkit::fixtures::{FIREBASE_EXAMPLE, IMPORTED_DIGESTS};
        let h = hasher(LIGHT);
        let firebase = ("scrypt_firebase", FIREBASE_EXAMPLE, "user1password");
        let ours = IMPORTED_DIGESTS.map(|(name, digest)| (name, digest, "correct horse battery"));
        for (name, digest, password) in ours.into_iter().chain([firebase]) {
            let hasher = ImportHasher::parse(name).unwrap();
            let stored = stored_form(hasher, digest).unwrap();
            assert!(
                h.verify(password, Some(stored.clone())).await.unwrap(),
                "{name} {digest}"
            );
            for wrong in ["correct horse batterx", "", "user1password!"] {
                assert!(
                    !h.verify(wrong, Some(stored.clone())).await.unwrap(),
                    "{name}: {wrong}"
                );
            }
            assert!(h.needs_rehash(&stored), "{name}");
            // The digest as given is not a stored form unless it says its kind.
            let self_describing = matches!(name, "bcrypt" | "pbkdf2_sha256_django");
            assert_eq!(
                h.verify(password, Some(digest.to_owned())).await.unwrap(),
                self_describing,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn bcrypt_reads_at_most_72_bytes_of_a_password_as_its_makers_do() {
        use latch_core::password::imported::{ImportHasher, stored_form};
        let h = hasher(LIGHT);
        let digest = stored_form(ImportHasher::Bcrypt, latch_testkit::fixtures::BCRYPT_72).unwrap();
        let long = "a".repeat(72);
        assert!(h.verify(&long, Some(digest.clone())).await.unwrap());
        assert!(
            h.verify(&format!("{long}b"), Some(digest.clone()))
                .await
                .unwrap()
        );
        assert!(!h.verify(&long[..71], Some(digest)).await.unwrap());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn hashing_runs_on_the_workers_never_on_the_runtime() {
        let h = hasher(LIGHT);
        let runtime_thread = std::thread::current().id();
        let (thread, name) = h
            .run(|_| {
                (
                    std::thread::current().id(),
                    std::thread::current().name().map(str::to_owned),
                )
            })
            .await
            .unwrap();
        assert_ne!(thread, runtime_thread);
        assert!(name.is_some_and(|n| n.starts_with("latch-argon2-")));
    }
}
