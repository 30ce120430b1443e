use super::*;
use crate::accounts::{RoleSort, UserSort};
use crate::audit::AuditSort;
use crate::chat::MessageSort;
use crate::clients::{ClientSort, HistorySort};
use crate::query::SortField;

fn names<F: SortField>() -> Vec<&'static str> {
    F::ALL.iter().map(|f| f.name()).collect()
}

fn sort_names(kind: ResourceKind) -> Vec<&'static str> {
    match kind {
        ResourceKind::Users => names::<UserSort>(),
        ResourceKind::Roles => names::<RoleSort>(),
        ResourceKind::ChatSessions => vec![],
        ResourceKind::ChatMessages => names::<MessageSort>(),
        ResourceKind::Clients => names::<ClientSort>(),
        ResourceKind::Contexts | ResourceKind::StageHistory | ResourceKind::Assignments => {
            names::<HistorySort>()
        }
        ResourceKind::Log => names::<AuditSort>(),
    }
}

#[test]
fn orderings_are_exactly_the_store_sort_fields() {
    for spec in RESOURCES {
        let mut declared = spec.orderings.to_vec();
        let mut actual = sort_names(spec.kind);
        declared.sort_unstable();
        actual.sort_unstable();
        assert_eq!(declared, actual, "{}", spec.name);
    }
}

#[test]
fn default_orderings_and_sortable_columns_are_accepted_orderings() {
    for spec in RESOURCES {
        if let Some(default) = spec.default_ordering {
            assert!(
                spec.orderings
                    .contains(&default.strip_prefix('-').unwrap_or(default)),
                "{}: default {default}",
                spec.name
            );
        }
        for column in spec.columns {
            if let Some(sort) = column.sort {
                assert!(spec.orderings.contains(&sort), "{}.{sort}", spec.name);
            }
        }
    }
}

#[test]
fn names_and_kinds_are_unique() {
    let mut names: Vec<_> = RESOURCES.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), RESOURCES.len());
    let kinds: std::collections::HashSet<_> = RESOURCES.iter().map(|r| r.kind).collect();
    assert_eq!(kinds.len(), RESOURCES.len());
}

#[test]
fn every_section_names_itself_over_the_list_only_template() {
    for spec in RESOURCES {
        let texts = [
            spec.name,
            spec.label,
            spec.singular,
            spec.plural,
            spec.path,
            spec.list_operation,
        ];
        assert!(texts.iter().all(|t| !t.is_empty()), "{texts:?}");
        assert!(
            spec.path.ends_with('/') && !spec.columns.is_empty(),
            "{}",
            spec.name
        );
    }
}

#[test]
fn stages_come_from_the_stage_type_in_pipeline_order() {
    let all: Vec<_> = stages().collect();
    assert_eq!(all.len(), 14);
    assert_eq!(all[0], ("lead", "Lead"));
    assert_eq!(all[3], ("docs_pending", "Docs Pending"));
}
