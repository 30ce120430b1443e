//! `/api/v1/admin/users/`, `/roles/` and `/permissions/`.

use poem_openapi::{Object, OpenApi, param::Path};
use rivo_core::accounts::{
    Action, Model, NewRole, NewUser, RoleFilter, RoleSort, RoleUpdate, UserFilter, UserSort,
    UserUpdate,
};
use rivo_core::admin::{ROLES, USERS};
use rivo_core::{Permission, RoleId, Sort, Store, UserId};

use super::bodies::{PermissionBody, RoleBody, UserBody};
use super::pages::{RolePage, UserPage};
use rivo_core::access::Access;

use super::ctx::AdminCtx;
use super::input::JsonBody;
use super::resource::admin_resource;
use super::{AdminTag, Created, Found, NoContent, Paged, ReadErrors, WriteErrors, created, found};
use crate::error::OpError;

/// A user to create.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserCreateRequest {
    /// Login email (required, unique case-insensitively).
    pub email: String,
    /// Username (required, unique; letters, digits and `@.+-_`).
    pub username: String,
    /// Password (checked: length, commonness, similarity); omit for an account that cannot log
    /// in yet.
    pub password: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Role id.
    pub role: Option<i64>,
    /// Default `true`.
    pub is_active: Option<bool>,
    /// Default `false`.
    pub is_staff: Option<bool>,
    /// Default `false`.
    pub is_superuser: Option<bool>,
    /// Permission codenames held directly.
    pub permissions: Option<Vec<String>>,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserUpdateRequest {
    /// Login email.
    pub email: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Role id (`null` removes it).
    pub role: Option<i64>,
    /// Active flag.
    pub is_active: Option<bool>,
    /// Staff flag.
    pub is_staff: Option<bool>,
    /// Superuser flag.
    pub is_superuser: Option<bool>,
    /// Permission codenames held directly (replaces the set).
    pub permissions: Option<Vec<String>>,
}

/// A new password.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PasswordRequest {
    /// The new password (checked: length, commonness, similarity).
    pub password: String,
}

/// A role to create.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RoleCreateRequest {
    /// Unique name, 1 to 100 characters.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Permission codenames.
    pub permissions: Option<Vec<String>>,
}

/// Changes to a role; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RoleUpdateRequest {
    /// Unique name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Permission codenames (replaces the set).
    pub permissions: Option<Vec<String>>,
}

async fn user_body(store: &Store, user: rivo_core::User) -> Result<UserBody, rivo_core::Error> {
    let permissions = store.user_permissions(user.id).await?;
    Ok(UserBody::new(user, permissions))
}

/// Users, roles and permissions.
#[derive(Default)]
pub struct AdminAccountsApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "AdminTag::AdminAccounts")]
impl AdminAccountsApi {
    /// Create a user
    ///
    /// The password is hashed with argon2 and never returned or logged.
    #[oai(path = "/users/", method = "post", operation_id = "admin_users_create")]
    async fn users_create(
        &self,
        ctx: AdminCtx<'_>,
        mut body: JsonBody<UserCreateRequest>,
    ) -> Result<Created<UserBody>, OpError<WriteErrors>> {
        let admin = ctx.require(Access::admin(Action::Add, Model::User)).await?;
        let email = body.string("email");
        let username = body.string("username");
        let password = body.opt_string("password");
        let first_name = body.opt_string("first_name");
        let last_name = body.opt_string("last_name");
        let phone = body.opt_string("phone");
        let role = body.opt_nullable_id("role").flatten();
        let is_active = body.opt_bool("is_active");
        let is_staff = body.opt_bool("is_staff");
        let is_superuser = body.opt_bool("is_superuser");
        let permissions = body.opt_permissions("permissions");
        body.finish()?;
        let default = NewUser::default();
        let user = admin
            .store
            .create_user_as(
                &admin.user,
                NewUser {
                    email: email.unwrap_or_default(),
                    username: username.unwrap_or_default(),
                    password,
                    first_name: first_name.unwrap_or_default(),
                    last_name: last_name.unwrap_or_default(),
                    phone: phone.unwrap_or_default(),
                    role_id: role.map(RoleId),
                    created_by: Some(admin.user.id),
                    is_active: is_active.unwrap_or(default.is_active),
                    is_staff: is_staff.unwrap_or(default.is_staff),
                    is_superuser: is_superuser.unwrap_or(default.is_superuser),
                    permissions: permissions.unwrap_or_default(),
                },
            )
            .await?;
        Ok(created(user_body(&admin.store, user).await?))
    }

    /// Update a user
    ///
    /// Only the fields sent change. Passwords change with `admin_users_set_password`.
    #[oai(
        path = "/users/:id/",
        method = "patch",
        operation_id = "admin_users_update"
    )]
    async fn users_update(
        &self,
        ctx: AdminCtx<'_>,
        /// User id.
        id: Path<i64>,
        mut body: JsonBody<UserUpdateRequest>,
    ) -> Result<Found<UserBody>, OpError<WriteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Change, Model::User))
            .await?;
        let update = UserUpdate {
            email: body.opt_string("email"),
            username: body.opt_string("username"),
            first_name: body.opt_string("first_name"),
            last_name: body.opt_string("last_name"),
            phone: body.opt_string("phone"),
            role_id: body.opt_nullable_id("role").map(|r| r.map(RoleId)),
            is_active: body.opt_bool("is_active"),
            is_staff: body.opt_bool("is_staff"),
            is_superuser: body.opt_bool("is_superuser"),
            permissions: body.opt_permissions("permissions"),
        };
        body.finish()?;
        let user = admin
            .store
            .update_user_as(&admin.user, UserId(id.0), update)
            .await?;
        Ok(found(user_body(&admin.store, user).await?))
    }

    /// Set a user's password
    ///
    /// Checks the password like Django's validators and ends every session and token of the
    /// user.
    #[oai(
        path = "/users/:id/password/",
        method = "post",
        operation_id = "admin_users_set_password"
    )]
    async fn users_set_password(
        &self,
        ctx: AdminCtx<'_>,
        /// User id.
        id: Path<i64>,
        mut body: JsonBody<PasswordRequest>,
    ) -> Result<NoContent, OpError<WriteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Change, Model::User))
            .await?;
        let password = body.string("password");
        body.finish()?;
        admin
            .store
            .set_password(UserId(id.0), &password.unwrap_or_default())
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Create a role
    #[oai(path = "/roles/", method = "post", operation_id = "admin_roles_create")]
    async fn roles_create(
        &self,
        ctx: AdminCtx<'_>,
        mut body: JsonBody<RoleCreateRequest>,
    ) -> Result<Created<RoleBody>, OpError<WriteErrors>> {
        let admin = ctx.require(Access::admin(Action::Add, Model::Role)).await?;
        let name = body.string("name");
        let description = body.opt_string("description");
        let permissions = body.opt_permissions("permissions");
        body.finish()?;
        let role = admin
            .store
            .create_role(NewRole {
                name: name.unwrap_or_default(),
                description: description.unwrap_or_default(),
                permissions: permissions.unwrap_or_default(),
            })
            .await?;
        Ok(created(role.into()))
    }

    /// Update a role
    ///
    /// Only the fields sent change; `permissions` replaces the whole set.
    #[oai(
        path = "/roles/:id/",
        method = "patch",
        operation_id = "admin_roles_update"
    )]
    async fn roles_update(
        &self,
        ctx: AdminCtx<'_>,
        /// Role id.
        id: Path<i64>,
        mut body: JsonBody<RoleUpdateRequest>,
    ) -> Result<Found<RoleBody>, OpError<WriteErrors>> {
        let admin = ctx
            .require(Access::admin(Action::Change, Model::Role))
            .await?;
        let update = RoleUpdate {
            name: body.opt_string("name"),
            description: body.opt_string("description"),
            permissions: body.opt_permissions("permissions"),
        };
        body.finish()?;
        Ok(found(
            admin.store.update_role(RoleId(id.0), update).await?.into(),
        ))
    }

    /// List permissions
    ///
    /// Every permission a role or user can hold, model by model (not paginated).
    #[oai(
        path = "/permissions/",
        method = "get",
        operation_id = "admin_permissions_list"
    )]
    async fn permissions_list(
        &self,
        ctx: AdminCtx<'_>,
    ) -> Result<Found<Vec<PermissionBody>>, OpError<ReadErrors>> {
        ctx.require(Access::admin(Action::View, Model::Role))
            .await?;
        Ok(found(Permission::all().map(Into::into).collect()))
    }
}

admin_resource! {
    /// `GET` and `DELETE` of users (create, update and passwords: [`AdminAccountsApi`]).
    AdminUsersApi for USERS, tag = "AdminTag::AdminAccounts";

    list:
    /// List users
    ///
    /// Newest first by default. `search` matches email, username, first and last name.
    ("/users/", "admin_users_list") -> UserPage {
        /// Case-insensitive text to find.
        search: String,
        /// `email`, `username`, `first_name`, `last_name`, `date_joined`, `last_login`,
        /// `created_at` or `id`; `-` for descending.
        ordering: String,
        /// Only active (or inactive) users.
        is_active: bool,
        /// Only staff (or non-staff) users.
        is_staff: bool,
        /// Only superusers (or others).
        is_superuser: bool,
        /// Only users with this role id.
        role: i64,
    } |list| {
        let filter = UserFilter {
            search,
            is_active,
            is_staff,
            is_superuser,
            role_id: role.map(RoleId),
        };
        let sort = list.sort(ordering, Sort::desc(UserSort::CreatedAt));
        let users = list.store().list_users(&filter, sort, list.request()).await?;
        let users: Paged<rivo_core::User> = list.paged(users)?;
        let ids: Vec<UserId> = users.results.iter().map(|u| u.id).collect();
        let mut held = list.store().permissions_of_users(&ids).await?;
        Ok(found(UserPage::from(users.map(|user| {
            let permissions = held.remove(&user.id).unwrap_or_default();
            UserBody::new(user, permissions)
        }))))
    }

    read:
    /// Read a user
    ("/users/:id/", "admin_users_read", /// User id.
        id: i64) -> UserBody
    |admin| {
        let user = admin.store.user(UserId(id)).await?;
        user_body(&admin.store, user).await?
    }

    delete:
    /// Delete a user
    ///
    /// Their assignments go with them; what they changed keeps existing without them.
    ("admin_users_delete") |admin| {
        admin.store.delete_user(UserId(id)).await?;
    }
}

admin_resource! {
    /// `GET` and `DELETE` of roles (create and update: [`AdminAccountsApi`]).
    AdminRolesApi for ROLES, tag = "AdminTag::AdminAccounts";

    list:
    /// List roles
    ///
    /// By name by default. `search` matches name and description.
    ("/roles/", "admin_roles_list") -> RolePage {
        /// Case-insensitive text to find.
        search: String,
        /// `name`, `created_at` or `id`; `-` for descending.
        ordering: String,
    } |list| {
        let sort = list.sort(ordering, Sort::asc(RoleSort::Name));
        list.found(list.store().list_roles(&RoleFilter { search }, sort, list.request()).await?)
    }

    read:
    /// Read a role
    ("/roles/:id/", "admin_roles_read", /// Role id.
        id: i64) -> RoleBody
    |admin| { admin.store.role(RoleId(id)).await?.into() }

    delete:
    /// Delete a role
    ///
    /// Its users keep their accounts without a role.
    ("admin_roles_delete") |admin| {
        admin.store.delete_role(RoleId(id)).await?;
    }
}
