//! The offering policy: which identifiers and factors a sign-in lists for a
//! user on this instance, and how their targets are masked for display.
//!
//! Two rules shape what a sign-in may show and use of the user it names:
//!
//! - An email address or phone number that is not verified names nobody
//!   and receives nothing (Clerk's rule): it does not identify the account
//!   ([`identifies`]) and is never a factor's target ([`offered_user`]).
//! - Under enumeration protection, until the first factor passes, a
//!   sign-in shows only what the typed identifier gives
//!   ([`identifier_only`]). A stand-in is built by that same function, so a
//!   real account and a stand-in cannot look different before then.

use super::{SignIn, SignInStatus, Strategy};
use crate::model::{
    IdentificationRecord, Identifier, IdentifierKind, InstanceSettings, Timestamp, User, UserId,
};

/// A factor the identified user can use, as listed in `supported_*_factors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    pub strategy: Strategy,
    pub safe_identifier: Option<String>,
    pub email_address_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub primary: Option<bool>,
    /// Second factors: whether this is the one the user gets by default.
    pub default: Option<bool>,
}

/// What a sign-in shows of the user it names (Clerk's `supported_*_factors`
/// and `user_data`), as [`offered_user`] allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownUser {
    pub first_factors: Vec<Factor>,
    /// Listed only while the sign-in waits for its second factor.
    pub second_factors: Option<Vec<Factor>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// Whether `identifier` names `user` at sign-in: an email address or a
/// phone number only if it is verified (and a number only if it is not kept
/// for the second factor); a username always.
pub fn identifies(identifier: &Identifier, user: &User) -> bool {
    match identifier {
        Identifier::Email(address) => user.email(address).is_some_and(|e| e.verified),
        Identifier::Phone(number) => user
            .phone(number)
            .is_some_and(|p| p.verified && !p.reserved_for_second_factor),
        Identifier::Username(name) => user.username.as_ref() == Some(name),
    }
}

/// A user made of what `identifier` gives and nothing else: the id, the
/// identifier itself (an email address or phone number as the verified
/// primary record `record_id`, when given) and no name, password or other
/// address. Before its first factor, a sign-in under enumeration protection
/// shows a real account as this, and a stand-in is this.
pub fn identifier_only(id: UserId, identifier: &Identifier, record_id: Option<String>) -> User {
    let mut user = User::blank(id, Timestamp(0));
    let record = |id: String| IdentificationRecord {
        id,
        value: identifier.as_str().to_owned(),
        verified: true,
        reserved_for_second_factor: false,
        verification: None,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    };
    match identifier {
        Identifier::Email(_) => {
            if let Some(id) = record_id {
                user.primary_email_address_id = Some(id.clone());
                user.email_addresses.push(record(id));
            }
        }
        Identifier::Phone(_) => {
            if let Some(id) = record_id {
                user.primary_phone_number_id = Some(id.clone());
                user.phone_numbers.push(record(id));
            }
        }
        Identifier::Username(name) => user.username = Some(name.clone()),
    }
    user
}

/// `user` as `sign_in` may show and use it: every factor listed and every
/// code sent is taken from this. Unverified email addresses and phone
/// numbers are left out; under enumeration protection, until the first
/// factor passes, only what the typed identifier gives is left
/// ([`identifier_only`]).
pub fn offered_user(sign_in: &SignIn, user: &User, settings: &InstanceSettings) -> User {
    let hidden = sign_in.first_factor_verified_at().is_none()
        && (settings.enumeration_protection || sign_in.is_phantom());
    if hidden {
        let Some(identifier) = sign_in.identifier().and_then(|i| Identifier::parse(i).ok()) else {
            return User::blank(user.id.clone(), Timestamp(0));
        };
        let record_id = match &identifier {
            Identifier::Email(address) => user.email(address),
            Identifier::Phone(number) => {
                user.phone(number).filter(|p| !p.reserved_for_second_factor)
            }
            Identifier::Username(_) => None,
        }
        .filter(|r| r.verified)
        .map(|r| r.id.clone());
        return identifier_only(user.id.clone(), &identifier, record_id);
    }
    let mut offered = user.clone();
    offered.email_addresses.retain(|e| e.verified);
    offered.phone_numbers.retain(|p| p.verified);
    offered
}

/// What `sign_in`, at `status`, shows of `user`: the one view of a sign-in's
/// user, for real accounts and stand-ins alike.
pub fn shown_user(
    sign_in: &SignIn,
    status: SignInStatus,
    user: &User,
    settings: &InstanceSettings,
) -> ShownUser {
    let offered = offered_user(sign_in, user, settings);
    let second_factors = (status == SignInStatus::NeedsSecondFactor).then(|| {
        let first = sign_in.first_factor_verification().map(|v| &v.strategy);
        supported_second_factors(&offered, settings, first)
    });
    ShownUser {
        first_factors: supported_first_factors(&offered, settings),
        second_factors,
        first_name: offered.first_name,
        last_name: offered.last_name,
    }
}

/// The identifiers the instance accepts at sign-in, in Clerk's order.
pub fn supported_identifiers(settings: &InstanceSettings) -> Vec<IdentifierKind> {
    [
        IdentifierKind::EmailAddress,
        IdentifierKind::PhoneNumber,
        IdentifierKind::Username,
    ]
    .into_iter()
    .filter(|k| settings.identifiers.allows(*k))
    .collect()
}

/// The first factors `user` can pass on this instance. Under enumeration
/// protection the password is offered whether or not the account has one
/// (without one, every password fails as a wrong one does).
pub fn supported_first_factors(user: &User, settings: &InstanceSettings) -> Vec<Factor> {
    let mut factors = Vec::new();
    if settings.strategies.password && (user.has_password() || settings.enumeration_protection) {
        factors.push(Factor {
            strategy: Strategy::Password,
            safe_identifier: None,
            email_address_id: None,
            phone_number_id: None,
            primary: None,
            default: None,
        });
    }
    let email_factor = |strategy: Strategy, email: &IdentificationRecord| Factor {
        strategy,
        safe_identifier: Some(mask_email(&email.value)),
        email_address_id: Some(email.id.clone()),
        phone_number_id: None,
        primary: Some(user.primary_email_address_id.as_deref() == Some(email.id.as_str())),
        default: None,
    };
    let phone_factor = |strategy: Strategy, phone: &IdentificationRecord| Factor {
        strategy,
        safe_identifier: Some(mask_phone(&phone.value)),
        email_address_id: None,
        phone_number_id: Some(phone.id.clone()),
        primary: Some(user.primary_phone_number_id.as_deref() == Some(phone.id.as_str())),
        default: None,
    };
    let phones = || {
        user.phone_numbers
            .iter()
            .filter(|p| !p.reserved_for_second_factor)
    };
    for (strategy, for_emails) in [
        (Strategy::EmailCode, true),
        (Strategy::PhoneCode, false),
        (Strategy::ResetPasswordEmailCode, true),
        (Strategy::ResetPasswordPhoneCode, false),
    ] {
        if !settings.strategies.allows(&strategy) {
            continue;
        }
        if for_emails {
            factors.extend(
                user.email_addresses
                    .iter()
                    .map(|e| email_factor(strategy.clone(), e)),
            );
        } else {
            factors.extend(phones().map(|p| phone_factor(strategy.clone(), p)));
        }
    }
    factors.extend(
        settings
            .strategies
            .oauth_providers
            .iter()
            .map(|provider| Factor {
                strategy: Strategy::OAuth(provider.clone()),
                safe_identifier: None,
                email_address_id: None,
                phone_number_id: None,
                primary: None,
                default: None,
            }),
    );
    factors
}

/// The second factors `user` can pass on this instance after passing the
/// first factor with `first`. An email code is a second factor only where
/// the instance turns it on, and never after an email-borne first factor.
pub fn supported_second_factors(
    user: &User,
    settings: &InstanceSettings,
    first: Option<&Strategy>,
) -> Vec<Factor> {
    let mut factors = Vec::new();
    if settings.strategies.phone_code && settings.strategies.phone_code_second_factor {
        let default_phone = user.default_second_factor_phone().map(|p| p.id.as_str());
        factors.extend(
            user.phone_numbers
                .iter()
                .filter(|p| p.reserved_for_second_factor)
                .map(|p| Factor {
                    strategy: Strategy::PhoneCode,
                    safe_identifier: Some(mask_phone(&p.value)),
                    email_address_id: None,
                    phone_number_id: Some(p.id.clone()),
                    primary: Some(user.primary_phone_number_id.as_deref() == Some(p.id.as_str())),
                    default: Some(default_phone == Some(p.id.as_str())),
                }),
        );
    }
    let bare = |strategy: Strategy| Factor {
        strategy,
        safe_identifier: None,
        email_address_id: None,
        phone_number_id: None,
        primary: None,
        default: None,
    };
    if settings.strategies.totp && user.totp_enabled() {
        factors.push(bare(Strategy::Totp));
    }
    if settings.strategies.backup_code && user.backup_code_enabled() {
        factors.push(bare(Strategy::BackupCode));
    }
    let email_first = matches!(
        first,
        Some(Strategy::EmailCode | Strategy::EmailLink | Strategy::ResetPasswordEmailCode)
    );
    if settings.strategies.email_code
        && settings.strategies.email_code_second_factor
        && !email_first
    {
        factors.extend(user.email_addresses.iter().map(|e| Factor {
            strategy: Strategy::EmailCode,
            safe_identifier: Some(mask_email(&e.value)),
            email_address_id: Some(e.id.clone()),
            phone_number_id: None,
            primary: Some(user.primary_email_address_id.as_deref() == Some(e.id.as_str())),
            default: None,
        }));
    }
    factors
}

/// `alice@example.com` -> `a***e@example.com`.
fn mask_email(email: &str) -> String {
    let Some((local, domain)) = email.split_once('@') else {
        return "***".to_owned();
    };
    let mut chars = local.chars();
    let first = chars.next().unwrap_or('*');
    match chars.last() {
        Some(last) if local.chars().count() > 2 => format!("{first}***{last}@{domain}"),
        _ => format!("{first}***@{domain}"),
    }
}

/// `+15555550100` -> `+1*******0100`.
fn mask_phone(phone: &str) -> String {
    let n = phone.chars().count();
    phone
        .chars()
        .enumerate()
        .map(|(i, c)| if i < 2 || i + 4 >= n { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sign_in::fixtures::{sign_in, user};

    #[test]
    fn factors_follow_user_and_settings() {
        let mut settings = InstanceSettings::default();
        settings.strategies.email_code = false;
        settings.strategies.phone_code = false;
        let u = user();
        let f = supported_first_factors(&u, &settings);
        assert_eq!(
            f.iter().map(|f| f.strategy.name()).collect::<Vec<_>>(),
            ["password"]
        );
        settings.strategies.email_code = true;
        let f = supported_first_factors(&u, &settings);
        // With email codes on, a password user can also reset it by email code.
        assert_eq!(
            f.iter().map(|f| f.strategy.name()).collect::<Vec<_>>(),
            ["password", "email_code", "reset_password_email_code"]
        );
        assert_eq!(f[1].safe_identifier.as_deref(), Some("a***e@example.com"));
        assert_eq!(f[1].primary, Some(true));
        let no_password = User {
            password_digest: None,
            ..u
        };
        settings.strategies.email_code = false;
        assert!(supported_first_factors(&no_password, &settings).is_empty());
        settings.identifiers.phone_number = false;
        assert_eq!(
            supported_identifiers(&settings),
            [IdentifierKind::EmailAddress, IdentifierKind::Username]
        );
    }

    fn record(id: &str, value: &str, verified: bool) -> IdentificationRecord {
        IdentificationRecord {
            id: id.into(),
            value: value.into(),
            verified,
            reserved_for_second_factor: false,
            verification: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn unverified_addresses_name_nobody_and_are_offered_nowhere() {
        let mut u = user();
        u.email_addresses
            .push(record("idn_2", "alice.old@example.com", false));
        u.phone_numbers.push(record("idn_3", "+15555550100", false));
        u.username = Some(crate::model::Username::parse("alice").unwrap());
        let parse = |raw: &str| Identifier::parse(raw).unwrap();
        assert!(identifies(&parse("alice@example.com"), &u));
        assert!(!identifies(&parse("alice.old@example.com"), &u));
        assert!(!identifies(&parse("+15555550100"), &u));
        assert!(identifies(&parse("alice"), &u), "a username always names");

        let mut s = sign_in(0);
        s.identify("alice".into(), &u, Timestamp(1)).unwrap();
        let settings = InstanceSettings::default();
        let offered = offered_user(&s, &u, &settings);
        assert_eq!(offered.email_addresses, vec![u.email_addresses[0].clone()]);
        assert!(offered.phone_numbers.is_empty());
        let shown = shown_user(&s, SignInStatus::NeedsFirstFactor, &u, &settings);
        assert!(
            shown
                .first_factors
                .iter()
                .all(|f| f.email_address_id.as_deref() != Some("idn_2")
                    && f.phone_number_id.is_none()),
            "{shown:?}"
        );
    }

    #[test]
    fn under_protection_a_sign_in_shows_only_its_identifier_until_the_first_factor() {
        let settings = InstanceSettings {
            enumeration_protection: true,
            ..InstanceSettings::default()
        };
        let mut u = user();
        u.first_name = Some("Alice".into());
        u.password_digest = None;
        u.email_addresses
            .push(record("idn_2", "alice.work@example.com", true));
        u.phone_numbers.push(record("idn_3", "+15555550100", true));
        let mut s = sign_in(0);
        s.identify("alice.work@example.com".into(), &u, Timestamp(1))
            .unwrap();
        let typed = Identifier::parse("alice.work@example.com").unwrap();
        // Exactly what a stand-in for the address is, ids aside.
        assert_eq!(
            offered_user(&s, &u, &settings),
            identifier_only(u.id.clone(), &typed, Some("idn_2".into()))
        );
        let shown = shown_user(&s, SignInStatus::NeedsFirstFactor, &u, &settings);
        assert_eq!(shown.first_name, None);
        assert_eq!(
            shown
                .first_factors
                .iter()
                .map(|f| (f.strategy.name(), f.safe_identifier.clone()))
                .collect::<Vec<_>>(),
            [
                ("password".to_owned(), None),
                (
                    "email_code".to_owned(),
                    Some("a***k@example.com".to_owned())
                ),
                (
                    "reset_password_email_code".to_owned(),
                    Some("a***k@example.com".to_owned())
                ),
            ]
        );
        // Once the first factor passes, the account shows itself.
        s.first_factor_passed(Strategy::EmailCode, false, Timestamp(2))
            .unwrap();
        let shown = shown_user(&s, SignInStatus::Complete, &u, &settings);
        assert_eq!(shown.first_name.as_deref(), Some("Alice"));
        assert!(
            shown
                .first_factors
                .iter()
                .any(|f| f.strategy == Strategy::PhoneCode)
        );
    }

    #[test]
    fn masks() {
        assert_eq!(mask_phone("+15555550100"), "+1******0100");
        assert_eq!(mask_email("ab@x.io"), "a***@x.io");
    }

    #[test]
    fn second_factors_follow_the_user_and_the_instance() {
        let mut u = user();
        u.phone_numbers = vec![
            IdentificationRecord {
                id: "idn_p1".into(),
                value: "+15555550100".into(),
                verified: true,
                reserved_for_second_factor: false,
                verification: None,
                created_at: Timestamp(0),
                updated_at: Timestamp(0),
            },
            IdentificationRecord {
                id: "idn_p2".into(),
                value: "+15555550123".into(),
                verified: true,
                reserved_for_second_factor: true,
                verification: None,
                created_at: Timestamp(0),
                updated_at: Timestamp(0),
            },
        ];
        u.totp_secret = Some("v1.sealed".into());
        u.backup_codes = vec!["digest".into()];
        assert!(u.two_factor_enabled());
        let mut settings = InstanceSettings::default();
        let names = |factors: Vec<Factor>| {
            factors
                .iter()
                .map(|f| f.strategy.name())
                .collect::<Vec<_>>()
        };
        let factors = supported_second_factors(&u, &settings, Some(&Strategy::Password));
        assert_eq!(
            names(factors.clone()),
            ["phone_code", "totp", "backup_code"]
        );
        // Only the reserved number, which is the default, masked.
        assert_eq!(factors[0].phone_number_id.as_deref(), Some("idn_p2"));
        assert_eq!(factors[0].default, Some(true));
        assert_eq!(factors[0].safe_identifier.as_deref(), Some("+1******0123"));

        settings.strategies.email_code_second_factor = true;
        let factors = supported_second_factors(&u, &settings, Some(&Strategy::Password));
        assert_eq!(
            names(factors),
            ["phone_code", "totp", "backup_code", "email_code"]
        );
        // Never a second email code after an email-borne first factor.
        let factors = supported_second_factors(&u, &settings, Some(&Strategy::EmailCode));
        assert_eq!(names(factors), ["phone_code", "totp", "backup_code"]);

        settings.strategies.totp = false;
        settings.strategies.phone_code = false;
        settings.strategies.email_code_second_factor = false;
        let factors = supported_second_factors(&u, &settings, Some(&Strategy::Password));
        assert_eq!(names(factors), ["backup_code"]);

        // Without any second factor, two-factor is off.
        let plain = user();
        assert!(!plain.two_factor_enabled());
        assert!(supported_second_factors(&plain, &InstanceSettings::default(), None).is_empty());
    }
}
