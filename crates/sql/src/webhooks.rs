//! The stored forms of webhook fields both adapters share.

use latch_core::model::EventType;

/// The `event_types` column: `,a,b,` (so a type is found by looking for
/// `,type,`), or empty for every type.
pub fn event_types_column(types: &[EventType]) -> String {
    if types.is_empty() {
        return String::new();
    }
    let mut out = String::from(",");
    for t in types {
        out.push_str(t.as_str());
        out.push(',');
    }
    out
}

/// The types an `event_types` column names; unknown names (from a later
/// version) are skipped.
pub fn parse_event_types(column: &str) -> Vec<EventType> {
    column
        .split(',')
        .filter(|name| !name.is_empty())
        .filter_map(EventType::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip() {
        let types = [EventType::UserCreated, EventType::SessionRevoked];
        let column = event_types_column(&types);
        assert_eq!(column, ",user.created,session.revoked,");
        assert_eq!(parse_event_types(&column), types.to_vec());
        assert_eq!(event_types_column(&[]), "");
        assert!(parse_event_types("").is_empty());
    }
}
