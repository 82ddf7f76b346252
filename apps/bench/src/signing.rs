//! The RSA-2048 signing ceiling: PKCS#1 v1.5 SHA-256 signatures per second
//! on every core, with the OpenSSL latch links and a signing input the
//! size of a session token's, as `openssl speed -multi <cores> rsa2048`
//! measures it. What a token mint can at most reach.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Signer;

/// About the length of a session token's header and claims, base64url.
const INPUT_BYTES: usize = 560;

/// Signatures per second on `threads` threads for `seconds`.
pub fn rsa_ceiling(threads: usize, seconds: f64) -> Result<f64> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let input = vec![b'e'; INPUT_BYTES];
    // Warm-up: one signature per thread's worth.
    Signer::new(MessageDigest::sha256(), &key)?.sign_oneshot_to_vec(&input)?;
    let done = AtomicU64::new(0);
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(seconds);
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    while Instant::now() < end {
                        let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
                        signer.update(&input)?;
                        signer.sign_to_vec()?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(done.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64())
}
