//! Who may act for whom, and staff sign-in: the one place staff checks
//! live. An officer looks after her own women; a supervisor the women of
//! her township's officers; an administrator everyone. Someone outside her
//! care team is told she does not exist.

use super::AppError;
use crate::domain::Role;
use crate::store::{StaffRow, Store, StoreError, WomanRow};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// Staff checks over the store.
#[derive(Clone)]
pub struct Access {
    store: Store,
}

/// The actor the command line acts as: an administrator on this machine.
pub const CLI_ADMIN: &str = "admin";

impl Access {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Whether a staff member looks after this woman: her officer, the
    /// supervisor of her officer's township, or an administrator.
    pub async fn may_act_for(&self, s: &StaffRow, w: &WomanRow) -> Result<bool, AppError> {
        Ok(match s.role {
            Role::Admin => true,
            Role::Officer => w.officer_code.as_deref() == Some(s.code.as_str()),
            Role::Supervisor => match &w.officer_code {
                Some(c) => self
                    .store
                    .staff_by_code(c)
                    .await?
                    .is_some_and(|o| o.township.is_some() && o.township == s.township),
                None => false,
            },
        })
    }

    /// `by` (a staff code, or [`CLI_ADMIN`] from the command line) must look
    /// after her; otherwise she is "not found".
    pub async fn check_care_team(&self, by: &str, w: &WomanRow) -> Result<(), AppError> {
        if by == CLI_ADMIN {
            return Ok(());
        }
        let s = self
            .store
            .staff_by_code(by)
            .await?
            .ok_or_else(|| AppError::Refused(format!("no staff member {by}")))?;
        if self.may_act_for(&s, w).await? {
            Ok(())
        } else {
            // Not her care team: as if she did not exist.
            Err(StoreError::NotFound(format!("woman {}", w.id)).into())
        }
    }

    /// The staff member with this code, or a refusal naming it.
    pub async fn staff(&self, code: &str) -> Result<StaffRow, AppError> {
        self.store
            .staff_by_code(code)
            .await?
            .ok_or_else(|| AppError::Refused(format!("no staff member {code}")))
    }
}

/// An Argon2id hash (PHC string) of `password`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A random password for a new account: 16 letters and digits.
pub fn new_password() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// Sign-in attempts: five a minute per staff code, sixty a minute in all.
pub struct SignInLimits {
    per_code: DefaultKeyedRateLimiter<String>,
    all: DefaultDirectRateLimiter,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            per_code: RateLimiter::keyed(Quota::per_minute(NonZeroU32::new(5).expect("5"))),
            all: RateLimiter::direct(Quota::per_minute(NonZeroU32::new(60).expect("60"))),
        }
    }
}

impl SignInLimits {
    /// The overall limit first (so refused attempts store nothing), then
    /// the code's. Codes of forgotten attempts are dropped as they go.
    pub fn allow(&self, code: &str) -> bool {
        if self.all.check().is_err() {
            return false;
        }
        if self.per_code.len() > 1000 {
            self.per_code.retain_recent();
        }
        self.per_code.check_key(&code.to_string()).is_ok()
    }
}
