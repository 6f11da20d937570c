//! Password hashing off the async workers, a bounded number at a time.
//!
//! bcrypt is deliberately slow (about 0.25 s at cost 12), so every hash runs on the
//! blocking pool (seanmonstar/warp#630) behind a semaphore: a burst of sign-ins queues
//! for a permit instead of starving health checks and other requests.

use std::sync::Arc;

use shared::tokens::random_token;
use shared::username::{PASSWORD_MAX_BYTES, Password};
use tokio::sync::Semaphore;

use crate::error::AppError;

#[derive(Clone, Debug)]
pub struct Hasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// A real hash of the same cost, checked when the user name is unknown so that the
    /// answer takes as long as for a wrong password (thoughtbot/clearance#636).
    dummy: Arc<str>,
}

impl Hasher {
    /// Computes the dummy hash, so this takes as long as one hash.
    pub async fn new(cost: u32, concurrency: usize) -> Result<Self, AppError> {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let secret = random_token();
        let dummy = run_blocking(&permits, move || bcrypt::hash(secret, cost))
            .await?
            .map_err(|err| AppError::Hashing(err.to_string()))?;
        Ok(Self {
            cost,
            permits,
            dummy: dummy.into(),
        })
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    pub async fn hash(&self, password: Password) -> Result<String, AppError> {
        let cost = self.cost;
        run_blocking(&self.permits, move || bcrypt::hash(password.expose(), cost))
            .await?
            .map_err(|err| AppError::Hashing(err.to_string()))
    }

    /// Whether `password` matches `stored`. With no stored hash the dummy is checked all
    /// the same and the answer is `false`.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, AppError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy.to_string());
        // bcrypt reads 72 bytes at most; a longer offer would match on its prefix alone,
        // and no stored password is longer (Password::parse_new).
        let fits = password.expose().len() <= PASSWORD_MAX_BYTES;
        let matches = run_blocking(&self.permits, move || {
            bcrypt::verify(password.expose(), &hash)
        })
        .await?
        .map_err(|err| AppError::Hashing(err.to_string()))?;
        Ok(known && fits && matches)
    }
}

/// Runs `job` on the blocking pool once a permit is free.
async fn run_blocking<T: Send + 'static>(
    permits: &Arc<Semaphore>,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| AppError::Hashing("the hashing semaphore is closed".into()))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        job()
    })
    .await
    .map_err(|err| AppError::Hashing(format!("the hashing task failed: {err}")))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let hasher = Hasher::new(4, 2).await.unwrap();
        let hash = hasher
            .hash(Password::offered("correct horse"))
            .await
            .unwrap();
        assert!(hash.starts_with("$2"), "a bcrypt hash");
        assert_eq!(bcrypt_cost(&hash), 4);
        let check = |offered: &str, stored: Option<String>| {
            hasher.verify(Password::offered(offered), stored)
        };
        assert!(check("correct horse", Some(hash.clone())).await.unwrap());
        assert!(!check("wrong horse", Some(hash.clone())).await.unwrap());
        assert!(!check("correct horse", None).await.unwrap());
    }

    #[tokio::test]
    async fn the_dummy_hash_has_the_configured_cost() {
        let hasher = Hasher::new(5, 1).await.unwrap();
        assert_eq!(bcrypt_cost(&hasher.dummy), 5);
    }

    #[tokio::test]
    async fn an_overlong_offer_never_matches_on_its_prefix() {
        let hasher = Hasher::new(4, 1).await.unwrap();
        let exact = "p".repeat(PASSWORD_MAX_BYTES);
        let hash = hasher.hash(Password::offered(&exact)).await.unwrap();
        assert!(
            hasher
                .verify(Password::offered(&exact), Some(hash.clone()))
                .await
                .unwrap()
        );
        let longer = format!("{exact}extra");
        assert!(
            !hasher
                .verify(Password::offered(&longer), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_jobs_run_at_once_than_permits() {
        let permits = Arc::new(Semaphore::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let (permits, running, most) = (permits.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    run_blocking(&permits, move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(30));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    fn bcrypt_cost(hash: &str) -> u32 {
        hash.split('$').nth(2).unwrap().parse().unwrap()
    }
}
