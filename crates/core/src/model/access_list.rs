//! The allowlist and the blocklist: identifiers, and email domains, that may
//! or may not sign up and sign in (Clerk's restrictions).

use crate::error::{Error, Problem};

use super::{EmailAddress, Identifier, PhoneNumber, Restrictions, Timestamp};

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessList {
    Allow,
    Block,
}

impl AccessList {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Block => "block",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "allow" => Some(Self::Allow),
            "block" => Some(Self::Block),
            _ => None,
        }
    }
}

/// What a list entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    EmailAddress,
    PhoneNumber,
    /// Every email address at this domain (the entry is the domain alone).
    EmailDomain,
}

impl EntryKind {
    /// Clerk's `identifier_type` (a domain is an email address type there).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailAddress => "email_address",
            Self::PhoneNumber => "phone_number",
            Self::EmailDomain => "email_domain",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "email_address" => Some(Self::EmailAddress),
            "phone_number" => Some(Self::PhoneNumber),
            "email_domain" => Some(Self::EmailDomain),
            _ => None,
        }
    }
}

/// One entry of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub id: String,
    pub list: AccessList,
    /// Canonical: an email address, an E.164 number, or a domain.
    pub identifier: String,
    pub kind: EntryKind,
    pub created_at: Timestamp,
}

/// Reads an entry as given: an email address, a phone number in E.164, or
/// an email domain written `example.com`, `@example.com` or `*@example.com`.
pub fn parse_entry(raw: &str) -> Result<(String, EntryKind), Error> {
    let raw = raw.trim();
    let invalid = || Error::invalid("identifier", Problem::NotListIdentifier);
    if raw.starts_with('+') {
        let phone = PhoneNumber::parse(raw).map_err(|_| invalid())?;
        return Ok((phone.as_str().to_owned(), EntryKind::PhoneNumber));
    }
    let domain = raw
        .strip_prefix("*@")
        .or_else(|| raw.strip_prefix('@'))
        .or((!raw.contains('@')).then_some(raw));
    if let Some(domain) = domain {
        // A domain is what follows `@` in an address that parses.
        let address = EmailAddress::parse(&format!("x@{domain}")).map_err(|_| invalid())?;
        let domain = address.as_str().split_once('@').map(|(_, d)| d.to_owned());
        return domain
            .filter(|d| d.contains('.'))
            .map(|d| (d, EntryKind::EmailDomain))
            .ok_or_else(invalid);
    }
    let email = EmailAddress::parse(raw).map_err(|_| invalid())?;
    Ok((email.as_str().to_owned(), EntryKind::EmailAddress))
}

/// Both lists, as the settings in force hold them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessLists {
    pub allow: Vec<ListEntry>,
    pub block: Vec<ListEntry>,
}

/// Whether `entry` names `identifier`.
fn names(entry: &ListEntry, identifier: &Identifier) -> bool {
    match (entry.kind, identifier) {
        (EntryKind::EmailAddress, Identifier::Email(e)) => e.as_str() == entry.identifier,
        (EntryKind::PhoneNumber, Identifier::Phone(p)) => p.as_str() == entry.identifier,
        (EntryKind::EmailDomain, Identifier::Email(e)) => e
            .as_str()
            .rsplit_once('@')
            .is_some_and(|(_, domain)| domain == entry.identifier),
        _ => false,
    }
}

impl Restrictions {
    /// Whether the email addresses and phone numbers among `identifiers`
    /// may sign up (`sign_up`) or sign in under these restrictions and
    /// `lists`: none on the blocklist, each on the allowlist. Usernames are
    /// on no list; an instance with the allowlist on requires an email
    /// address or a phone number at sign-up (see
    /// [`UserManagement::check`](super::UserManagement::check)).
    pub fn admit(&self, lists: &AccessLists, identifiers: &[Identifier], sign_up: bool) -> bool {
        let addresses = || {
            identifiers
                .iter()
                .filter(|i| !matches!(i, Identifier::Username(_)))
        };
        if sign_up && self.block_email_subaddresses {
            let subaddressed = addresses().any(|i| {
                i.as_str()
                    .split_once('@')
                    .is_some_and(|(local, _)| local.contains('+'))
            });
            if subaddressed {
                return false;
            }
        }
        if !sign_up && self.lists_skip_sign_in {
            return true;
        }
        let on = |list: &[ListEntry], i: &Identifier| list.iter().any(|entry| names(entry, i));
        if self.blocklist && addresses().any(|i| on(&lists.block, i)) {
            return false;
        }
        !self.allowlist || addresses().all(|i| on(&lists.allow, i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(list: AccessList, raw: &str) -> ListEntry {
        let (identifier, kind) = parse_entry(raw).expect("valid entry");
        ListEntry {
            id: format!("{}_{identifier}", list.as_str()),
            list,
            identifier,
            kind,
            created_at: Timestamp(0),
        }
    }

    fn id(raw: &str) -> Identifier {
        Identifier::parse(raw).expect("valid identifier")
    }

    #[test]
    fn entries_are_addresses_numbers_or_domains() {
        assert_eq!(
            parse_entry(" Ann@Example.com ").ok(),
            Some(("ann@example.com".into(), EntryKind::EmailAddress))
        );
        assert_eq!(
            parse_entry("+15555550100").ok(),
            Some(("+15555550100".into(), EntryKind::PhoneNumber))
        );
        for domain in ["example.com", "@example.com", "*@Example.com"] {
            assert_eq!(
                parse_entry(domain).ok(),
                Some(("example.com".into(), EntryKind::EmailDomain)),
                "{domain}"
            );
        }
        for bad in [
            "",
            "localhost",
            "+12",
            "a@",
            "@",
            "not an address",
            "a b.com",
        ] {
            assert_eq!(
                parse_entry(bad),
                Err(Error::invalid("identifier", Problem::NotListIdentifier)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_blocklist_refuses_what_it_names_and_the_allowlist_admits_only_that() {
        let lists = AccessLists {
            allow: vec![
                entry(AccessList::Allow, "example.com"),
                entry(AccessList::Allow, "+15555550100"),
            ],
            block: vec![entry(AccessList::Block, "eve@example.com")],
        };
        let both = Restrictions {
            allowlist: true,
            blocklist: true,
            ..Restrictions::default()
        };
        assert!(both.admit(&lists, &[id("ann@example.com")], true));
        assert!(both.admit(&lists, &[id("+15555550100")], false));
        assert!(!both.admit(&lists, &[id("eve@example.com")], true));
        assert!(!both.admit(&lists, &[id("ann@example.org")], true));
        assert!(!both.admit(&lists, &[id("ann@sub.example.com")], true));
        // Usernames are on no list.
        assert!(both.admit(&lists, &[id("ann_user")], true));
        assert!(!both.admit(&lists, &[id("ann_user"), id("bob@example.org")], true));
        // Off, the lists change nothing.
        let off = Restrictions::default();
        assert!(off.admit(&lists, &[id("eve@example.com")], true));
        // Sign-ins may skip the lists.
        let skip = Restrictions {
            lists_skip_sign_in: true,
            ..both
        };
        assert!(skip.admit(&lists, &[id("eve@example.com")], false));
        assert!(!skip.admit(&lists, &[id("eve@example.com")], true));
    }

    #[test]
    fn subaddresses_may_be_refused_at_sign_up() {
        let r = Restrictions {
            block_email_subaddresses: true,
            ..Restrictions::default()
        };
        let lists = AccessLists::default();
        assert!(!r.admit(&lists, &[id("ann+news@example.com")], true));
        assert!(r.admit(&lists, &[id("ann+news@example.com")], false));
        assert!(r.admit(&lists, &[id("ann@example.com")], true));
    }
}
