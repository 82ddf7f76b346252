//! Sign-in strategies: every way Clerk names to pass a factor, and which
//! factor each can pass.

use serde::{Deserialize, Serialize};

/// Every sign-in verification strategy Clerk names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Strategy {
    Password,
    EmailCode,
    PhoneCode,
    EmailLink,
    ResetPasswordEmailCode,
    ResetPasswordPhoneCode,
    Passkey,
    Ticket,
    Totp,
    BackupCode,
    /// `oauth_<provider>`, e.g. `oauth_google` or `oauth_custom_acme`.
    OAuth(String),
}

impl Strategy {
    /// Reads a strategy name; `None` when Clerk has no such strategy.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "password" => Self::Password,
            "email_code" => Self::EmailCode,
            "phone_code" => Self::PhoneCode,
            "email_link" => Self::EmailLink,
            "reset_password_email_code" => Self::ResetPasswordEmailCode,
            "reset_password_phone_code" => Self::ResetPasswordPhoneCode,
            "passkey" => Self::Passkey,
            "ticket" => Self::Ticket,
            "totp" => Self::Totp,
            "backup_code" => Self::BackupCode,
            other => {
                let provider = other.strip_prefix("oauth_")?;
                if !Self::is_provider_name(provider) {
                    return None;
                }
                Self::OAuth(provider.to_owned())
            }
        })
    }

    /// The longest OAuth provider name, the part after `oauth_`.
    pub const PROVIDER_NAME_MAX_LEN: usize = 64;

    /// Whether `name` may name an OAuth provider: 1 to 64 lower-case ASCII
    /// letters, digits and `_`.
    pub fn is_provider_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= Self::PROVIDER_NAME_MAX_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    pub fn name(&self) -> String {
        match self {
            Self::OAuth(provider) => format!("oauth_{provider}"),
            other => other.static_name().to_owned(),
        }
    }

    fn static_name(&self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::EmailCode => "email_code",
            Self::PhoneCode => "phone_code",
            Self::EmailLink => "email_link",
            Self::ResetPasswordEmailCode => "reset_password_email_code",
            Self::ResetPasswordPhoneCode => "reset_password_phone_code",
            Self::Passkey => "passkey",
            Self::Ticket => "ticket",
            Self::Totp => "totp",
            Self::BackupCode => "backup_code",
            Self::OAuth(_) => "oauth",
        }
    }

    /// Whether this strategy can pass the first factor.
    pub fn is_first_factor(&self) -> bool {
        !matches!(self, Self::Totp | Self::BackupCode)
    }

    /// Whether this strategy can pass the second factor.
    pub fn is_second_factor(&self) -> bool {
        matches!(
            self,
            Self::PhoneCode | Self::Totp | Self::BackupCode | Self::EmailCode
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clerk_strategy_round_trips() {
        for name in [
            "password",
            "email_code",
            "phone_code",
            "email_link",
            "reset_password_email_code",
            "reset_password_phone_code",
            "passkey",
            "ticket",
            "totp",
            "backup_code",
            "oauth_google",
            "oauth_custom_acme",
        ] {
            assert_eq!(
                Strategy::parse(name).map(|s| s.name()).as_deref(),
                Some(name)
            );
        }
        for bad in ["", "oauth_", "oauth_Google", "pass word", "oauth_a/b"] {
            assert_eq!(Strategy::parse(bad), None, "{bad}");
        }
        assert!(Strategy::Totp.is_second_factor() && !Strategy::Totp.is_first_factor());
    }
}
