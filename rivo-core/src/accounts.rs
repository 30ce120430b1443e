//! Accounts: users who log in with their email, roles, and the permissions roles grant.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::set_fields;
use crate::error::{AuthFailure, Error, Result, Rule, UniqueRule, ValidationErrors};
use crate::ids::{RoleId, UserId};
use crate::query::{Conds, Page, PageRequest, Sort, sort_fields};
use crate::store::{Store, dispatch};
use crate::validate;

/// What a permission allows on a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// See objects.
    View,
    /// Create objects.
    Add,
    /// Edit objects.
    Change,
    /// Delete objects.
    Delete,
    /// Erase one person's data for good (a client with its conversations, or one chat
    /// session), scrubbing the audit log: only for [`Model::Client`] and
    /// [`Model::ChatHistory`] (`client.erase_client`, `chat.erase_chathistory`).
    Erase,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::View,
        Action::Add,
        Action::Change,
        Action::Delete,
        Action::Erase,
    ];

    /// `view`, `add`, `change`, `delete` or `erase`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Add => "add",
            Action::Change => "change",
            Action::Delete => "delete",
            Action::Erase => "erase",
        }
    }
}

/// A model that permissions apply to, named as in the original Django apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Model {
    /// `account.role`
    Role,
    /// `account.user`
    User,
    /// `chat.chathistory`
    ChatHistory,
    /// `client.client`
    Client,
    /// `client.context`
    Context,
    /// `client.clientstagehistory`
    ClientStageHistory,
    /// `client.clientassignment`
    ClientAssignment,
}

impl Model {
    /// Every model.
    pub const ALL: [Model; 7] = [
        Model::Role,
        Model::User,
        Model::ChatHistory,
        Model::Client,
        Model::Context,
        Model::ClientStageHistory,
        Model::ClientAssignment,
    ];

    /// Whether `action` applies to this model: every model has view, add, change and delete;
    /// only clients and chat history can be erased.
    pub fn has_action(self, action: Action) -> bool {
        action != Action::Erase || matches!(self, Model::Client | Model::ChatHistory)
    }

    /// The Django app label: `account`, `chat` or `client`.
    pub fn app(self) -> &'static str {
        match self {
            Model::Role | Model::User => "account",
            Model::ChatHistory => "chat",
            Model::Client
            | Model::Context
            | Model::ClientStageHistory
            | Model::ClientAssignment => "client",
        }
    }

    /// The model's name for people, e.g. `chat history`.
    pub fn verbose_name(self) -> &'static str {
        match self {
            Model::Role => "role",
            Model::User => "user",
            Model::ChatHistory => "chat history",
            Model::Client => "client",
            Model::Context => "context",
            Model::ClientStageHistory => "client stage history",
            Model::ClientAssignment => "client assignment",
        }
    }

    /// The Django model name, lowercase.
    pub fn name(self) -> &'static str {
        match self {
            Model::Role => "role",
            Model::User => "user",
            Model::ChatHistory => "chathistory",
            Model::Client => "client",
            Model::Context => "context",
            Model::ClientStageHistory => "clientstagehistory",
            Model::ClientAssignment => "clientassignment",
        }
    }
}

/// A permission: an action on a model, spelled `<app>.<action>_<model>` like Django
/// (`chat.view_chathistory`, `client.change_client`, `account.add_user`).
///
/// ```
/// use rivo_core::accounts::{Action, Model, Permission};
/// let p: Permission = "client.change_client".parse().unwrap();
/// assert_eq!(p, Permission::new(Action::Change, Model::Client));
/// assert_eq!(Permission::all().count(), 30);
/// assert!("client.erase_client".parse::<Permission>().is_ok());
/// assert!("account.erase_user".parse::<Permission>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    /// The model.
    pub model: Model,
    /// The action.
    pub action: Action,
}

impl Permission {
    /// `action` on `model`.
    pub fn new(action: Action, model: Model) -> Self {
        Self { model, action }
    }

    /// Every permission rivo knows, model by model.
    pub fn all() -> impl Iterator<Item = Permission> {
        Model::ALL.into_iter().flat_map(|model| {
            Action::ALL
                .into_iter()
                .filter(move |action| model.has_action(*action))
                .map(move |action| Permission { model, action })
        })
    }

    /// The codename, e.g. `chat.view_chathistory`.
    pub fn codename(&self) -> String {
        self.to_string()
    }

    /// A sentence for people, as Django names it: `Can view chat history`.
    pub fn description(&self) -> String {
        format!("Can {} {}", self.action.as_str(), self.model.verbose_name())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}_{}",
            self.model.app(),
            self.action.as_str(),
            self.model.name()
        )
    }
}

impl FromStr for Permission {
    type Err = Rule;

    fn from_str(s: &str) -> Result<Self, Rule> {
        Permission::all()
            .find(|p| p.to_string() == s)
            .ok_or_else(|| Rule::UnknownPermission {
                value: s.to_owned(),
            })
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A role: a named set of permissions given to users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Id.
    pub id: RoleId,
    /// Unique, 1 to 100 characters.
    pub name: String,
    /// Free text, may be empty.
    pub description: String,
    /// What users with this role may do.
    pub permissions: BTreeSet<Permission>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A role to create.
#[derive(Debug, Clone, Default)]
pub struct NewRole {
    /// Unique, 1 to 100 characters.
    pub name: String,
    /// Free text.
    pub description: String,
    /// What users with this role may do.
    pub permissions: BTreeSet<Permission>,
}

/// Changes to a role; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RoleUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New permission set (replaces the old one).
    pub permissions: Option<BTreeSet<Permission>>,
}

/// Filters for [`Store::list_roles`].
#[derive(Debug, Clone, Default)]
pub struct RoleFilter {
    /// Case-insensitive substring of name or description.
    pub search: Option<String>,
}

sort_fields!(
    /// Fields roles can be sorted by.
    RoleSort {
        /// Name.
        Name => ("name", "name"),
        /// Creation time.
        CreatedAt => ("created_at", "created_at"),
        /// Id.
        Id => ("id", "id"),
    }
);

pub(crate) const ROLE_NAME_MAX: usize = 100;

pub(crate) fn clean_role_name(name: &str) -> Result<String, Rule> {
    validate::required_text(name, Some(ROLE_NAME_MAX))
}

/// A user account. The password hash is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Login identifier, unique case-insensitively.
    pub email: String,
    /// Unique, 1 to 150 characters of letters, digits and `@.+-_`.
    pub username: String,
    /// At most 150 characters, may be empty.
    pub first_name: String,
    /// At most 150 characters, may be empty.
    pub last_name: String,
    /// At most 20 characters, may be empty.
    pub phone: String,
    /// The role, if any.
    pub role_id: Option<RoleId>,
    /// Who created this user, if known.
    pub created_by: Option<UserId>,
    /// Inactive users cannot log in and hold no permissions.
    pub is_active: bool,
    /// Staff users may use the admin.
    pub is_staff: bool,
    /// Superusers hold every permission.
    pub is_superuser: bool,
    /// Last successful login.
    pub last_login: Option<DateTime<Utc>>,
    /// When the account was opened.
    pub date_joined: DateTime<Utc>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row was last changed.
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// "First Last", or the email when both names are empty.
    pub fn display_name(&self) -> String {
        let full = format!("{} {}", self.first_name, self.last_name);
        let full = full.trim();
        if full.is_empty() {
            self.email.clone()
        } else {
            full.to_owned()
        }
    }
}

/// A user to create. The password is hashed with argon2 before it reaches the database.
///
/// Its one default ([`NewUser::default`], also behind [`NewUser::new`] and
/// `NewUser { .., ..Default::default() }`) is an *active* user that is neither staff nor
/// superuser, with no password, role or permissions: an account is active unless said otherwise.
///
/// ```
/// use rivo_core::accounts::NewUser;
/// assert!(NewUser::default().is_active);
/// assert!(NewUser::new("ann@example.com", "ann").is_active);
/// assert!(!NewUser::default().is_staff && !NewUser::default().is_superuser);
/// ```
#[derive(Clone)]
pub struct NewUser {
    /// Login email (required, unique case-insensitively).
    pub email: String,
    /// Username (required, unique).
    pub username: String,
    /// Plain-text password, checked against [`check_password`]; `None` makes an account that
    /// cannot log in until a password is set.
    pub password: Option<String>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Phone.
    pub phone: String,
    /// Role.
    pub role_id: Option<RoleId>,
    /// Who creates this user.
    pub created_by: Option<UserId>,
    /// Whether the account may log in (default `true`).
    pub is_active: bool,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Permissions held directly (besides the role's).
    pub permissions: BTreeSet<Permission>,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("role_id", &self.role_id)
            .field("is_active", &self.is_active)
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .finish_non_exhaustive()
    }
}

impl Default for NewUser {
    /// An active user, not staff, not superuser, with nothing else set.
    fn default() -> Self {
        Self {
            email: String::new(),
            username: String::new(),
            password: None,
            first_name: String::new(),
            last_name: String::new(),
            phone: String::new(),
            role_id: None,
            created_by: None,
            is_active: true,
            is_staff: false,
            is_superuser: false,
            permissions: BTreeSet::new(),
        }
    }
}

impl NewUser {
    /// The [default](NewUser::default) user (active) with this email and username.
    pub fn new(email: impl Into<String>, username: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            username: username.into(),
            ..Self::default()
        }
    }

    /// Sets the password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }
}

/// Changes to a user; `None` leaves a field as it is. The password is changed with
/// [`Store::set_password`] only.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New email.
    pub email: Option<String>,
    /// New username.
    pub username: Option<String>,
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New phone.
    pub phone: Option<String>,
    /// New role (`Some(None)` removes it).
    pub role_id: Option<Option<RoleId>>,
    /// New active flag.
    pub is_active: Option<bool>,
    /// New staff flag.
    pub is_staff: Option<bool>,
    /// New superuser flag.
    pub is_superuser: Option<bool>,
    /// New set of directly held permissions (replaces the old one).
    pub permissions: Option<BTreeSet<Permission>>,
}

/// What a user creation or change would grant, for [`Store::check_user_grants`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserGrants {
    /// Grants (or revokes) superuser status.
    pub is_superuser: bool,
    /// Sets staff status (to `true` on creation, to any value on a change).
    pub is_staff: bool,
    /// Sets directly held permissions.
    pub permissions: bool,
    /// Sets a role, whose permissions the user then holds.
    pub role: bool,
}

/// Filters for [`Store::list_users`].
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of email, username, first or last name.
    pub search: Option<String>,
    /// Only active (or inactive) users.
    pub is_active: Option<bool>,
    /// Only staff (or non-staff) users.
    pub is_staff: Option<bool>,
    /// Only superusers (or others).
    pub is_superuser: Option<bool>,
    /// Only users with this role.
    pub role_id: Option<RoleId>,
}

impl UserFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.indexed_search(
            "users_fts",
            &["email", "username", "first_name", "last_name"],
            self.search.as_deref(),
        )
        .eq("is_active", self.is_active)
        .eq("is_staff", self.is_staff)
        .eq("is_superuser", self.is_superuser)
        .eq("role_id", self.role_id);
        c
    }
}

impl RoleFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.search(&["name", "description"], self.search.as_deref());
        c
    }
}

sort_fields!(
    /// Fields users can be sorted by.
    UserSort {
        /// Creation time.
        CreatedAt => ("created_at", "created_at"),
        /// Email.
        Email => ("email", "email"),
        /// Username.
        Username => ("username", "username"),
        /// First name.
        FirstName => ("first_name", "first_name"),
        /// Last name.
        LastName => ("last_name", "last_name"),
        /// Date joined.
        DateJoined => ("date_joined", "date_joined"),
        /// Last login.
        LastLogin => ("last_login", "last_login"),
        /// Id.
        Id => ("id", "id"),
    }
);

/// Validated user fields, ready to store.
#[derive(Debug, Clone)]
pub(crate) struct CleanUser {
    pub email: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
}

pub(crate) fn clean_name(value: &str) -> Result<String, Rule> {
    validate::optional_text(value, Some(150))
}

pub(crate) fn clean_phone(value: &str) -> Result<String, Rule> {
    validate::optional_text(value, Some(20))
}

/// Minimum password length (Django's `MinimumLengthValidator` default).
pub const PASSWORD_MIN_LENGTH: usize = 8;

/// The 20,000 common passwords Django's `CommonPasswordValidator` refuses (see
/// `data/README.md`), looked up case-insensitively.
fn is_common_password(password: &str) -> bool {
    static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();
    COMMON
        .get_or_init(|| {
            include_str!("../data/common-passwords.txt")
                .lines()
                .collect()
        })
        .contains(password.trim().to_lowercase().as_str())
}

/// Checks a password the way Django's four default validators do: at least
/// [`PASSWORD_MIN_LENGTH`] characters, not a common password, not entirely numeric, and not
/// too similar to the user's email, username or names.
///
/// ```
/// use rivo_core::accounts::check_password;
/// assert!(check_password("correct horse battery", &["ann@example.com"]).is_ok());
/// assert!(check_password("short", &[]).is_err());
/// assert!(check_password("annsmith1", &["annsmith@example.com"]).is_err());
/// ```
pub fn check_password(password: &str, user_attributes: &[&str]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if password.chars().count() < PASSWORD_MIN_LENGTH {
        problems.push(format!(
            "This password is too short. It must contain at least {PASSWORD_MIN_LENGTH} characters."
        ));
    }
    let lower = password.to_lowercase();
    if is_common_password(password) {
        problems.push("This password is too common.".to_owned());
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        problems.push("This password is entirely numeric.".to_owned());
    }
    let similar = user_attributes.iter().any(|attr| {
        let attr = attr.to_lowercase();
        attr.split(['@', '.', '+', '-', '_', ' '])
            .chain(std::iter::once(attr.as_str()))
            .filter(|part| part.chars().count() >= 3)
            .any(|part| {
                lower.contains(part) || (lower.chars().count() >= 3 && part.contains(&lower))
            })
    });
    if similar {
        problems.push("The password is too similar to your personal information.".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn password_errors(
    errors: &mut ValidationErrors,
    field: &'static str,
    password: &str,
    attrs: &[&str],
) {
    if let Err(problems) = check_password(password, attrs) {
        for p in problems {
            errors.add(field, Rule::Password(p));
        }
    }
}

/// How many password hashes (argon2 takes 19 MiB each, pbkdf2 a core for a while) may run at
/// once in this process; further ones wait in line. `0` (the default): one per core.
static MAX_CONCURRENT_HASHES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Bounds the password hashes that run at once in this process (argon2 needs 19 MiB of memory
/// per hash, so 200 concurrent logins would otherwise need 4 GB); the others wait for a turn on
/// a fixed set of hashing threads. `0` means one per core (the default). Takes effect only
/// before the first hash.
pub fn set_max_concurrent_hashes(max: usize) {
    MAX_CONCURRENT_HASHES.store(max, std::sync::atomic::Ordering::Relaxed);
}

type HashJob = Box<dyn FnOnce() + Send>;

/// The hashing threads: a fixed set (one per permitted hash), started at the first hash and
/// kept for the life of the process. Fixed threads matter for memory: glibc keeps an arena per
/// thread and does not give a freed 19 MiB argon2 buffer back to the system, so hashing on
/// ever-changing blocking threads left up to 16 arenas × 19 MiB allocated (500 MB after 200
/// logins); with fixed threads at most one buffer per thread stays.
fn hashing_threads() -> &'static std::sync::Mutex<std::sync::mpsc::Sender<HashJob>> {
    static THREADS: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<HashJob>>> =
        std::sync::OnceLock::new();
    THREADS.get_or_init(|| {
        let configured = MAX_CONCURRENT_HASHES.load(std::sync::atomic::Ordering::Relaxed);
        let threads = if configured == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            configured
        }
        .min(1024);
        let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("rivo-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        std::sync::Mutex::new(tx)
    })
}

/// Hashes running now and the most seen at once (for the test of the bound).
#[cfg(test)]
static HASHES_RUNNING: (
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicUsize,
) = (
    std::sync::atomic::AtomicUsize::new(0),
    std::sync::atomic::AtomicUsize::new(0),
);

/// Runs a password hash or check on one of the hashing threads (queued until one is free).
async fn hashing<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering;
            let now = HASHES_RUNNING.0.fetch_add(1, Ordering::SeqCst) + 1;
            HASHES_RUNNING.1.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        #[cfg(test)]
        HASHES_RUNNING
            .0
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        let _ = done.send(out);
    });
    hashing_threads()
        .lock()
        .map_err(|_| Error::Internal(format!("{what} unavailable")))?
        .send(job)
        .map_err(|_| Error::Internal(format!("{what} threads are gone")))?;
    match result.await {
        Ok(Ok(out)) => Ok(out),
        _ => Err(Error::Internal(format!("{what} task failed"))),
    }
}

/// Hashes a password with argon2 (default parameters, random salt) on a blocking thread, so the
/// async runtime is never held up; at most [`set_max_concurrent_hashes`] at once.
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    hashing("password hashing", move || {
        hash_password_blocking(&password)
    })
    .await?
}

fn hash_password_blocking(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored hash on a blocking thread, at most
/// [`set_max_concurrent_hashes`] at once. Unusable or unknown hashes never match.
pub async fn verify_password(password: &str, stored_hash: &str) -> Result<bool> {
    let password = password.to_owned();
    let stored = stored_hash.to_owned();
    hashing("password check", move || {
        verify_password_blocking(&password, &stored)
    })
    .await
}

/// Rivo's argon2 PHC strings, and the hashes of the original Django app (`pbkdf2_sha256$…`,
/// `argon2$argon2id$…`) so imported logins keep working. `!…` (unusable) never matches.
fn verify_password_blocking(password: &str, stored_hash: &str) -> bool {
    use crate::django_hash::{self, HashKind};
    match django_hash::kind(stored_hash) {
        HashKind::Argon2 => match PasswordHash::new(stored_hash) {
            Ok(hash) => Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok(),
            Err(_) => false,
        },
        HashKind::DjangoPbkdf2 => django_hash::verify_pbkdf2_sha256(password, stored_hash),
        HashKind::DjangoArgon2 => django_hash::verify_django_argon2(password, stored_hash),
        HashKind::Unusable | HashKind::Unsupported => false,
    }
}

/// Whether some password can match this stored hash: rivo's argon2, or a Django
/// `pbkdf2_sha256$…`/`argon2$…` hash. `false` for Django's unusable passwords (`!…`), empty
/// hashes and hashers rivo does not support (bcrypt, md5, …).
///
/// ```
/// use rivo_core::accounts::is_usable_hash;
/// assert!(is_usable_hash("pbkdf2_sha256$1000$salt$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4="));
/// assert!(!is_usable_hash("!Yq0Tf2d1Ut3dYJJqQcBn6ZkdV4aVxL0dGg0Z9EYr"));
/// assert!(!is_usable_hash("md5$salt$0123456789abcdef"));
/// ```
pub fn is_usable_hash(stored_hash: &str) -> bool {
    use crate::django_hash::{self, HashKind};
    !matches!(
        django_hash::kind(stored_hash),
        HashKind::Unusable | HashKind::Unsupported
    )
}

/// Whether a stored hash that just matched should be replaced by rivo's argon2 (Django's hasher
/// upgrade): every usable hash that is not rivo's own argon2 PHC string.
fn needs_rehash(stored_hash: &str) -> bool {
    use crate::django_hash::{self, HashKind};
    matches!(
        django_hash::kind(stored_hash),
        HashKind::DjangoPbkdf2 | HashKind::DjangoArgon2
    )
}

/// A hash no password matches, for accounts without a usable password (Django's `!` prefix).
pub(crate) fn unusable_password() -> String {
    format!("!{}", uuid::Uuid::new_v4().simple())
}

/// A real argon2 hash to check against when the email is unknown, so that a wrong email takes
/// as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password_blocking("rivo-timing-equaliser").unwrap_or_else(|_| unusable_password())
    })
}

/// Words a unique rule broken by a user or role write, in Django REST framework's sentences
/// (the SQL layer only says which rule: [`Error::unique_violation`]). Other errors pass through.
fn account_conflict(err: Error) -> Error {
    let (field, message) = match err.unique_violation() {
        None => return err,
        Some(UniqueRule::UserEmail) => ("email", "A user with that email already exists."),
        Some(UniqueRule::UserUsername) => ("username", "A user with that username already exists."),
        Some(UniqueRule::RoleName) => ("name", "A role with this name already exists."),
        Some(UniqueRule::OneActiveAssignment | UniqueRule::Other) => {
            ("non_field_errors", "This value is already taken.")
        }
    };
    Error::Conflict {
        field,
        message: message.to_owned(),
    }
}

/// What the store keeps of a login: the hash and whether the account may log in.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub user_id: UserId,
    pub password_hash: String,
    pub is_active: bool,
}

/// The store's account operations.
impl Store {
    /// Creates a role. Its name must be unique ([`Error::Conflict`] on `name` otherwise).
    pub async fn create_role(&self, role: NewRole) -> Result<Role> {
        let mut errors = ValidationErrors::new();
        let name = errors.check("name", clean_role_name(&role.name));
        let description = errors.check(
            "description",
            validate::optional_text(&role.description, None),
        );
        errors.into_result()?;
        let (Some(name), Some(description)) = (name, description) else {
            return Err(Error::Internal("validated fields missing".into()));
        };
        let role = NewRole {
            name,
            description,
            permissions: role.permissions,
        };
        let changes = json!({
            "name": role.name,
            "description": role.description,
            "permissions": role.permissions,
        });
        dispatch!(self.create_role(&role, self.audit(changes))).map_err(account_conflict)
    }

    /// One role by id.
    pub async fn role(&self, id: RoleId) -> Result<Role> {
        dispatch!(self.role(id))
    }

    /// Changes a role; permissions, when given, replace the old set. One transaction.
    pub async fn update_role(&self, id: RoleId, mut update: RoleUpdate) -> Result<Role> {
        let mut errors = ValidationErrors::new();
        if let Some(name) = &update.name {
            update.name = errors.check("name", clean_role_name(name));
        }
        if let Some(description) = &update.description {
            update.description =
                errors.check("description", validate::optional_text(description, None));
        }
        errors.into_result()?;
        let changes = set_fields([
            ("name", update.name.as_ref().map(|v| json!(v))),
            ("description", update.description.as_ref().map(|v| json!(v))),
            ("permissions", update.permissions.as_ref().map(|v| json!(v))),
        ]);
        dispatch!(self.update_role(id, &update, self.audit(changes))).map_err(account_conflict)
    }

    /// Deletes a role; its users keep their accounts with no role.
    pub async fn delete_role(&self, id: RoleId) -> Result<()> {
        dispatch!(self.delete_role(id, self.audit(json!({}))))
    }

    /// Roles matching `filter`, sorted (by name by default), one page.
    pub async fn list_roles(
        &self,
        filter: &RoleFilter,
        sort: Sort<RoleSort>,
        page: PageRequest,
    ) -> Result<Page<Role>> {
        dispatch!(self.list_roles(filter, sort, page))
    }

    /// Creates a user, hashing the password with argon2 off the async threads. Email and
    /// username must be unique ([`Error::Conflict`] naming the field otherwise); every field
    /// rule is checked first and all broken ones are reported together.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), rivo_core::Error> {
    /// use rivo_core::{accounts::NewUser, Store};
    /// let store = Store::open("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let ann = store
    ///     .create_user(NewUser::new("ann@example.com", "ann").password("long enough secret"))
    ///     .await?;
    /// let again = store.authenticate("ANN@example.com", "long enough secret").await?;
    /// assert_eq!(again.id, ann.id);
    /// assert!(store.authenticate("ann@example.com", "wrong").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn create_user(&self, user: NewUser) -> Result<User> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", validate::email(&user.email));
        let username = errors.check("username", validate::username(&user.username));
        let first_name = errors.check("first_name", clean_name(&user.first_name));
        let last_name = errors.check("last_name", clean_name(&user.last_name));
        let phone = errors.check("phone", clean_phone(&user.phone));
        if let Some(password) = &user.password {
            password_errors(
                &mut errors,
                "password",
                password,
                &[
                    &user.email,
                    &user.username,
                    &user.first_name,
                    &user.last_name,
                ],
            );
        }
        errors.into_result()?;
        let (Some(email), Some(username), Some(first_name), Some(last_name), Some(phone)) =
            (email, username, first_name, last_name, phone)
        else {
            return Err(Error::Internal("validated fields missing".into()));
        };
        let hash = match &user.password {
            Some(password) => hash_password(password).await?,
            None => unusable_password(),
        };
        let clean = CleanUser {
            email,
            username,
            first_name,
            last_name,
            phone,
        };
        let changes = json!({
            "email": clean.email,
            "username": clean.username,
            "first_name": clean.first_name,
            "last_name": clean.last_name,
            "phone": clean.phone,
            "role_id": user.role_id,
            "is_active": user.is_active,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "permissions": user.permissions,
        });
        dispatch!(self.create_user(&clean, &user, &hash, self.audit(changes)))
            .map_err(account_conflict)
    }

    /// One user by id.
    pub async fn user(&self, id: UserId) -> Result<User> {
        dispatch!(self.user(id))
    }

    /// One user by email (case-insensitive).
    pub async fn user_by_email(&self, email: &str) -> Result<User> {
        dispatch!(self.user_by_email(email.trim()))
    }

    /// Changes a user; permissions, when given, replace the directly held set. One transaction.
    pub async fn update_user(&self, id: UserId, mut update: UserUpdate) -> Result<User> {
        let mut errors = ValidationErrors::new();
        if let Some(v) = &update.email {
            update.email = errors.check("email", validate::email(v));
        }
        if let Some(v) = &update.username {
            update.username = errors.check("username", validate::username(v));
        }
        if let Some(v) = &update.first_name {
            update.first_name = errors.check("first_name", clean_name(v));
        }
        if let Some(v) = &update.last_name {
            update.last_name = errors.check("last_name", clean_name(v));
        }
        if let Some(v) = &update.phone {
            update.phone = errors.check("phone", clean_phone(v));
        }
        errors.into_result()?;
        let changes = set_fields([
            ("email", update.email.as_ref().map(|v| json!(v))),
            ("username", update.username.as_ref().map(|v| json!(v))),
            ("first_name", update.first_name.as_ref().map(|v| json!(v))),
            ("last_name", update.last_name.as_ref().map(|v| json!(v))),
            ("phone", update.phone.as_ref().map(|v| json!(v))),
            ("role_id", update.role_id.map(|v| json!(v))),
            ("is_active", update.is_active.map(|v| json!(v))),
            ("is_staff", update.is_staff.map(|v| json!(v))),
            ("is_superuser", update.is_superuser.map(|v| json!(v))),
            ("permissions", update.permissions.as_ref().map(|v| json!(v))),
        ]);
        dispatch!(self.update_user(id, &update, self.audit(changes))).map_err(account_conflict)
    }

    /// Deletes a user. Their assignments go with them; stage changes and assignments they made,
    /// and users they created, keep existing with the link set to none.
    pub async fn delete_user(&self, id: UserId) -> Result<()> {
        dispatch!(self.delete_user(id, self.audit(json!({}))))
    }

    /// Users matching `filter`, sorted (newest first by default), one page.
    pub async fn list_users(
        &self,
        filter: &UserFilter,
        sort: Sort<UserSort>,
        page: PageRequest,
    ) -> Result<Page<User>> {
        dispatch!(self.list_users(filter, sort, page))
    }

    /// Sets a new password after checking it against [`check_password`] with the user's own
    /// attributes, and ends every token and session of the user (in the same transaction). The
    /// hash is computed off the async threads.
    pub async fn set_password(&self, id: UserId, password: &str) -> Result<()> {
        let user = self.user(id).await?;
        let mut errors = ValidationErrors::new();
        password_errors(
            &mut errors,
            "password",
            password,
            &[
                &user.email,
                &user.username,
                &user.first_name,
                &user.last_name,
            ],
        );
        errors.into_result()?;
        let hash = hash_password(password).await?;
        let changes = json!({ "password": "changed" });
        dispatch!(self.set_password_hash(id, &hash, self.audit(changes)))
    }

    /// Checks an email and password and records the login time.
    ///
    /// Fails with [`Error::Authentication`] for an unknown email, a wrong password or an
    /// inactive account alike; its [`AuthFailure`] says which for logs. An unknown email costs
    /// as much time as a wrong password.
    ///
    /// Hashes imported from the Django app (`pbkdf2_sha256$…`) are accepted and replaced by an
    /// argon2 hash at the first successful login.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, email: &str, password: &str) -> Result<User> {
        // No stored email holds NUL (validation refuses it; PostgreSQL text cannot hold it).
        let credentials: Option<Credentials> = if email.contains('\0') {
            None
        } else {
            dispatch!(self.credentials(email.trim()))?
        };
        let Some(credentials) = credentials else {
            // The dummy hash is made (once) on the hashing thread too, never on a runtime worker.
            let password = password.to_owned();
            let _ = hashing("password check", move || {
                verify_password_blocking(&password, dummy_hash())
            })
            .await?;
            return Err(Error::Authentication(AuthFailure::UnknownEmail));
        };
        if !verify_password(password, &credentials.password_hash).await? {
            return Err(Error::Authentication(AuthFailure::WrongPassword));
        }
        if needs_rehash(&credentials.password_hash) {
            // An imported Django hash matched: store rivo's argon2 instead, like Django's own
            // hasher upgrade (only the hash changes). A failure here must not fail the login.
            let old = credentials.password_hash.as_str();
            let upgraded = match hash_password(password).await {
                Ok(new) => dispatch!(self.upgrade_password_hash(credentials.user_id, old, &new)),
                Err(e) => Err(e),
            };
            if let Err(e) = upgraded {
                tracing::warn!(user_id = %credentials.user_id, error = %e, "password hash upgrade failed");
            }
        }
        if !credentials.is_active {
            return Err(Error::Authentication(AuthFailure::Inactive));
        }
        dispatch!(self.record_login(credentials.user_id))
    }

    /// The permissions held by the user directly (not through the role).
    pub async fn user_permissions(&self, id: UserId) -> Result<BTreeSet<Permission>> {
        dispatch!(self.user_permissions(id))
    }

    /// The permissions each of `ids` holds directly (not through the role), in one query: a
    /// page of users costs one query, whatever its size. Every id is a key (unknown ids and
    /// users without permissions map to an empty set).
    pub async fn permissions_of_users(
        &self,
        ids: &[UserId],
    ) -> Result<std::collections::BTreeMap<UserId, BTreeSet<Permission>>> {
        dispatch!(self.permissions_of_users(ids))
    }

    /// The emails of the users `ids` (their `__str__` in the admin), in one query; unknown ids
    /// are left out.
    pub async fn user_emails(
        &self,
        ids: &[UserId],
    ) -> Result<std::collections::BTreeMap<UserId, String>> {
        let raw: Vec<i64> = ids.iter().map(|id| id.0).collect();
        Ok(dispatch!(self.user_emails(&raw))?
            .into_iter()
            .map(|(id, email)| (UserId(id), email))
            .collect())
    }

    /// Everything the user may do: nothing when inactive, every permission for a superuser,
    /// otherwise their own permissions plus their role's.
    pub async fn effective_permissions(&self, user: &User) -> Result<BTreeSet<Permission>> {
        if !user.is_active {
            return Ok(BTreeSet::new());
        }
        if user.is_superuser {
            return Ok(Permission::all().collect());
        }
        let mut permissions = self.user_permissions(user.id).await?;
        if let Some(role) = user.role_id {
            match self.role(role).await {
                Ok(role) => permissions.extend(role.permissions),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(permissions)
    }

    /// Creates a user on behalf of `actor`, who must hold `account.add_user`, after checking
    /// what the new account would be granted ([`Store::check_user_grants`]).
    pub async fn create_user_as(&self, actor: &User, user: NewUser) -> Result<User> {
        self.check_user_grants(
            actor,
            UserGrants {
                is_superuser: user.is_superuser,
                is_staff: user.is_staff,
                permissions: !user.permissions.is_empty(),
                role: user.role_id.is_some(),
            },
        )
        .await?;
        self.create_user(user).await
    }

    /// Changes a user on behalf of `actor` (who must hold `account.change_user`), after checking
    /// the grants the change makes ([`Store::check_user_grants`]): setting `is_superuser` to
    /// a value other than the current one counts as granting (or revoking) it.
    pub async fn update_user_as(
        &self,
        actor: &User,
        id: UserId,
        update: UserUpdate,
    ) -> Result<User> {
        let superuser_changes = match update.is_superuser {
            Some(wanted) => self.user(id).await?.is_superuser != wanted,
            None => false,
        };
        self.check_user_grants(
            actor,
            UserGrants {
                is_superuser: superuser_changes,
                is_staff: update.is_staff.is_some(),
                permissions: update.permissions.is_some(),
                role: update.role_id.is_some(),
            },
        )
        .await?;
        self.update_user(id, update).await
    }

    /// The rule of who grants what on user accounts (issue 15, finding 4), like Django's admin,
    /// whose add form cannot set `is_superuser` and leaves staff status, groups and permissions
    /// to the change form:
    ///
    /// - only an active superuser grants or revokes `is_superuser`;
    /// - setting `is_staff`, permissions or a role (which grants its permissions) needs
    ///   `account.change_user`, so `account.add_user` alone creates plain, non-staff accounts.
    ///
    /// Answers [`Error::PermissionDenied`] when `actor` may not.
    pub async fn check_user_grants(&self, actor: &User, grants: UserGrants) -> Result<()> {
        if grants.is_superuser && !(actor.is_active && actor.is_superuser) {
            return Err(Error::PermissionDenied(
                "Only a superuser may grant or revoke superuser status.",
            ));
        }
        if (grants.is_staff || grants.permissions || grants.role)
            && !self
                .has_permission(actor, Permission::new(Action::Change, Model::User))
                .await?
        {
            return Err(Error::PermissionDenied(
                "Setting staff status, a role or permissions requires the \"account.change_user\" permission.",
            ));
        }
        Ok(())
    }

    /// Whether the user may do `permission` (see [`Store::effective_permissions`]).
    pub async fn has_permission(&self, user: &User, permission: Permission) -> Result<bool> {
        if !user.is_active {
            return Ok(false);
        }
        if user.is_superuser {
            return Ok(true);
        }
        Ok(self
            .effective_permissions(user)
            .await?
            .contains(&permission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_round_trips() {
        for p in Permission::all() {
            assert_eq!(p.to_string().parse::<Permission>().unwrap(), p);
        }
        assert!("chat.fly_chathistory".parse::<Permission>().is_err());
        assert_eq!(
            Permission::new(Action::View, Model::ChatHistory).to_string(),
            "chat.view_chathistory"
        );
        assert_eq!(
            Permission::new(Action::Change, Model::ClientStageHistory).description(),
            "Can change client stage history"
        );
    }

    #[test]
    fn password_rules() {
        assert!(check_password("12345678901", &[]).is_err());
        assert!(check_password("Password", &[]).is_err());
        // From Django's list, not only the obvious ones.
        assert!(check_password("Sunshine1", &[]).unwrap_err()[0].contains("too common"));
        assert!(check_password("letmein123", &[]).is_err());
        assert!(check_password("a reasonably long one", &[]).is_ok());
        let problems = check_password("abc", &[]).unwrap_err();
        assert!(problems[0].contains("at least 8"));
        assert!(check_password("a reasonably long one", &["bob@example.com", "bob"]).is_ok());
    }

    /// Issue 15, finding 11: 64 concurrent password checks never run more hashes at once than
    /// the bound (one per core), whatever else the test binary is hashing meanwhile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_hashing_is_bounded_by_the_cores() {
        let hash = hash_password("bounded").await.unwrap();
        let checks: Vec<_> = (0..64)
            .map(|_| {
                let hash = hash.clone();
                tokio::spawn(async move { verify_password("wrong", &hash).await })
            })
            .collect();
        for check in checks {
            assert!(!check.await.unwrap().unwrap());
        }
        let bound = std::thread::available_parallelism().map_or(2, |n| n.get());
        let peak = HASHES_RUNNING.1.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            peak >= 1 && peak <= bound,
            "{peak} hashes ran at once (bound {bound})"
        );
    }

    #[test]
    fn hashes_are_argon2_and_verify() {
        let hash = hash_password_blocking("secret words").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password_blocking("secret words", &hash));
        assert!(!verify_password_blocking("other", &hash));
        assert!(!verify_password_blocking("x", &unusable_password()));
    }

    #[test]
    fn new_user_debug_hides_password() {
        let user = NewUser::new("a@b.co", "a").password("hunter22");
        assert!(!format!("{user:?}").contains("hunter22"));
    }
}
