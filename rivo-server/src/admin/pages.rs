//! The pages of the admin lists, in DRF's shape (named schemas in the spec).

use poem_openapi::Object;
use serde::Serialize;

use super::Paged;
use super::bodies::{
    AssignmentBody, AuditEntryBody, ChatSessionBody, ClientBody, ContextBody, RoleBody,
    StageChangeBody, UserBody,
};
use super::webhooks::{DeliveryBody, WebhookBody};
use crate::chat::ChatMessageBody;

/// A named page schema and the row type of its `results`.
pub trait PageBody: From<Paged<Self::Item>> {
    /// One row.
    type Item;
}

/// Declares a DRF page type of `item`: `{count, count_is_estimate, next, previous, results}`,
/// built from a [`Paged`]. The docs of `count`, `count_is_estimate` and `results` may be given
/// (they show in the spec); by default they describe an admin list.
macro_rules! page_body {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        page_body!(
            $(#[$doc])* $name, $item,
            count:
            /// Rows matching the filters, in all pages. Exact up to 10,000 rows; beyond, an
            /// estimate (see `count_is_estimate`), so that counting never reads a whole table.
            count_is_estimate:
            /// `true` when `count` is an estimate: the table's statistics for an unfiltered
            /// list, or a lower bound (there are more than `count` rows) for a filtered one,
            /// like Django admin's `show_full_result_count = False`. `next` is exact either way.
            results:
            /// This page's rows.
        );
    };
    (
        $(#[$doc:meta])* $name:ident, $item:ty,
        count: $(#[$count_doc:meta])*
        count_is_estimate: $(#[$estimate_doc:meta])*
        results: $(#[$results_doc:meta])*
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Object, Serialize)]
        pub struct $name {
            $(#[$count_doc])*
            pub count: u64,
            $(#[$estimate_doc])*
            pub count_is_estimate: bool,
            /// URL of the next page, null on the last.
            pub next: Option<String>,
            /// URL of the previous page, null on the first.
            pub previous: Option<String>,
            $(#[$results_doc])*
            pub results: Vec<$item>,
        }

        impl PageBody for $name {
            type Item = $item;
        }

        impl From<Paged<$item>> for $name {
            fn from(p: Paged<$item>) -> Self {
                Self {
                    count: p.count,
                    count_is_estimate: p.count_is_estimate,
                    next: p.next,
                    previous: p.previous,
                    results: p.results,
                }
            }
        }
    };
}

page_body!(
    /// A page of users.
    UserPage,
    UserBody
);
page_body!(
    /// A page of roles.
    RolePage,
    RoleBody
);
page_body!(
    /// A page of chat messages.
    ChatMessagePage,
    ChatMessageBody
);
page_body!(
    /// A page of chat sessions.
    ChatSessionPage,
    ChatSessionBody
);
page_body!(
    /// A page of clients.
    ClientPage,
    ClientBody
);
page_body!(
    /// A page of client contexts.
    ContextPage,
    ContextBody
);
page_body!(
    /// A page of stage history.
    StageChangePage,
    StageChangeBody
);
page_body!(
    /// A page of assignments.
    AssignmentPage,
    AssignmentBody
);
page_body!(
    /// A page of the audit log.
    AuditPage,
    AuditEntryBody
);
page_body!(
    /// A page of webhook endpoints.
    WebhookPage,
    WebhookBody,
    count:
    /// Endpoints in all pages.
    count_is_estimate:
    /// Always `false` (the count is exact).
    results:
    /// This page's endpoints.
);
page_body!(
    /// A page of deliveries, newest first.
    WebhookDeliveryPage,
    DeliveryBody,
    count:
    /// Deliveries in all pages.
    count_is_estimate:
    /// Always `false` (the count is exact).
    results:
    /// This page's deliveries.
);
