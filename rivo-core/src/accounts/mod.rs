//! Accounts: users who log in with their email, roles, and the permissions roles grant.

mod passwords;
mod permissions;
mod store;
mod users;

pub(crate) use passwords::unusable_password;
pub use passwords::{
    PASSWORD_MIN_LENGTH, check_password, hash_password, is_usable_hash, set_max_concurrent_hashes,
    verify_password,
};
pub use permissions::{Action, Model, Permission};
pub(crate) use store::Credentials;
pub(crate) use users::{CleanUser, clean_name, clean_phone, clean_role_name};
pub use users::{
    NewRole, NewUser, Role, RoleFilter, RoleSort, RoleUpdate, User, UserFilter, UserGrants,
    UserSort, UserUpdate,
};
