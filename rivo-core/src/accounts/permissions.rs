//! Permissions: an [`Action`] on a [`Model`], named like Django's (`chat.view_chathistory`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, Rule};
use crate::names::names;

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
}

names! {
    /// `view`, `add`, `change`, `delete` or `erase`.
    Action {
        View => "view",
        Add => "add",
        Change => "change",
        Delete => "delete",
        Erase => "erase",
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
}
