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
use chrono::{DateTime, Utc};

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

    /// Adds a member of staff, with an audit entry naming who did.
    pub async fn add_staff(
        &self,
        s: &crate::store::NewStaff,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, AppError> {
        let id = self.store.add_staff(s, now).await?;
        self.store
            .audit(now, actor, "staff_added", &format!("staff:{id}"), &s.code)
            .await?;
        Ok(id)
    }

    /// Sets a staff member's console password: `given` (at least
    /// [`MIN_PASSWORD_CHARS`] characters) or a new random one, which is
    /// returned. Her open sessions end; the audit log records who did it.
    pub async fn set_password(
        &self,
        code: &str,
        given: Option<String>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<String, AppError> {
        let s = self.staff(code).await?;
        let password = match given {
            Some(p) if p.chars().count() < MIN_PASSWORD_CHARS => {
                return Err(AppError::Refused(format!(
                    "the password must have at least {MIN_PASSWORD_CHARS} characters"
                )))
            }
            Some(p) => p,
            None => new_password(),
        };
        // Argon2id takes a while on purpose: off the async threads.
        let p = password.clone();
        let hash = tokio::task::spawn_blocking(move || hash_password(&p))
            .await
            .map_err(|e| AppError::Config(e.to_string()))?
            .map_err(AppError::Config)?;
        self.store.set_password(s.id, &hash, now).await?;
        self.store
            .audit(now, actor, "password_set", &format!("staff:{}", s.id), "")
            .await?;
        Ok(password)
    }
}

/// The shortest password a person may choose.
pub const MIN_PASSWORD_CHARS: usize = 10;

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

/// Failed sign-ins, counted per staff code and per client address.
///
/// - **Per account** (5 free): after them each try for that code waits for
///   a delay that doubles with every further failure, from 30 seconds up
///   to 15 minutes, whatever the address. This is what stops a guesser.
/// - **Per address** (20 free): an address past them is *slowed*, never
///   locked: each of its tries is answered after a pause
///   (`console.sign_in_slowdown_ms`) and then judged as any other. A
///   county office shares one address, so a flood of made-up codes from it
///   must not keep out the administrator who types the right password
///   there (issue 34); the pause costs her seconds and a sprayer most of
///   his rate, and it is the same for real and made-up codes, so its
///   timing names no account.
///
/// An hour without failures forgets them, and signing in clears the
/// code's. The counts live in the database: every process on it sees the
/// same ones, and a restart forgets none.
#[derive(Clone)]
pub struct SignInLimits {
    store: Store,
}

const FREE_PER_CODE: u32 = 5;
const FREE_PER_ADDRESS: u32 = 20;
const FORGET_AFTER_MINUTES: i64 = 60;

fn delay(failures: u32, free: u32) -> chrono::Duration {
    if failures < free {
        return chrono::Duration::zero();
    }
    let doubled = 30i64.saturating_mul(1i64 << (failures - free).min(10));
    chrono::Duration::seconds(doubled.min(15 * 60))
}

impl SignInLimits {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    fn keys(code: &str, address: &str) -> [String; 2] {
        [format!("code:{code}"), format!("addr:{address}")]
    }

    /// How long a try for this code must still wait (`None`: it may go
    /// ahead).
    pub async fn wait(
        &self,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<chrono::Duration>, AppError> {
        // The longest delay (15 minutes) ends before failures are
        // forgotten: an old count never makes a try wait.
        let Some((n, last)) = self.store.sign_in_failures(&format!("code:{code}")).await? else {
            return Ok(None);
        };
        let until = last + delay(u32::try_from(n).unwrap_or(u32::MAX), FREE_PER_CODE);
        Ok((until > now).then(|| until - now))
    }

    /// Whether tries from this address are answered after a pause: it has
    /// failed more than its free tries within the last hour.
    pub async fn slowed(&self, address: &str, now: DateTime<Utc>) -> Result<bool, AppError> {
        let forget = now - chrono::Duration::minutes(FORGET_AFTER_MINUTES);
        Ok(self
            .store
            .sign_in_failures(&format!("addr:{address}"))
            .await?
            .is_some_and(|(n, last)| n >= i64::from(FREE_PER_ADDRESS) && last > forget))
    }

    /// A wrong code or password from `address`.
    pub async fn failed(
        &self,
        code: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let forget = now - chrono::Duration::minutes(FORGET_AFTER_MINUTES);
        for key in Self::keys(code, address) {
            self.store.sign_in_failed(&key, now, forget).await?;
        }
        Ok(())
    }

    /// Signed in: the code's failures are forgotten (the address's stay).
    pub async fn succeeded(&self, code: &str) -> Result<(), AppError> {
        self.store
            .forget_sign_in_failures(&format!("code:{code}"))
            .await?;
        Ok(())
    }
}
