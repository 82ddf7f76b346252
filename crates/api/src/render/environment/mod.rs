//! `/v1/environment`: the instance settings as clerk-js reads them, in the
//! shape of Clerk's `Client.Environment` schema. Every object is a struct,
//! built in full from the settings, so a key the schema requires cannot be
//! left out; `None` is Clerk's `null`.

mod auth_config;
mod display_config;
mod user_settings;

use serde::Serialize;

use latch_core::model::{InstanceSettings, Strategy};

use auth_config::AuthConfig;
use display_config::DisplayConfig;
use user_settings::UserSettings;

/// The environment: what clerk-js needs to know of the instance before it
/// signs anyone in. `commerce_settings`, optional in the schema, is left
/// out: Latch has no billing to describe.
#[derive(Debug, Serialize)]
pub struct Environment {
    pub auth_config: AuthConfig,
    pub display_config: DisplayConfig,
    pub user_settings: UserSettings,
    pub organization_settings: OrganizationSettings,
    pub fraud_settings: FraudSettings,
    pub api_keys_settings: ApiKeysSettings,
    pub protect_config: ProtectConfig,
    pub client_debug_mode: bool,
    /// Latch's cookies are not `Partitioned`.
    pub partitioned_cookies: bool,
    pub maintenance_mode: bool,
}

/// Organizations: Latch has none, so they are off and nothing about them is
/// configurable.
#[derive(Debug, Serialize)]
pub struct OrganizationSettings {
    pub enabled: bool,
    pub max_allowed_memberships: u32,
    pub actions: OrganizationActions,
    pub domains: OrganizationDomains,
    pub slug: OrganizationSlug,
    pub creator_role: &'static str,
}

#[derive(Debug, Serialize)]
pub struct OrganizationActions {
    pub admin_delete: bool,
}

#[derive(Debug, Serialize)]
pub struct OrganizationDomains {
    pub enabled: bool,
    pub enrollment_modes: Vec<&'static str>,
    pub default_role: &'static str,
}

#[derive(Debug, Serialize)]
pub struct OrganizationSlug {
    pub disabled: bool,
}

/// Device attestation of native apps: not done.
#[derive(Debug, Serialize)]
pub struct FraudSettings {
    pub object: &'static str,
    pub native: FraudNative,
}

#[derive(Debug, Serialize)]
pub struct FraudNative {
    pub device_attestation_mode: &'static str,
}

/// API keys issued to users or organizations: not offered.
#[derive(Debug, Serialize)]
pub struct ApiKeysSettings {
    pub enabled: bool,
    pub user_api_keys_enabled: bool,
    pub orgs_api_keys_enabled: bool,
}

/// Scripts Clerk's bot protection loads: none, always.
#[derive(Debug, Serialize)]
pub struct ProtectConfig {
    pub loaders: [(); 0],
}

/// The environment of an instance with these settings; `instance_id` names
/// its configuration objects.
pub fn environment(settings: &InstanceSettings, instance_id: &str) -> Environment {
    Environment {
        auth_config: auth_config::auth_config(settings, instance_id),
        display_config: display_config::display_config(settings, instance_id),
        user_settings: user_settings::user_settings(settings),
        organization_settings: OrganizationSettings {
            enabled: false,
            max_allowed_memberships: 0,
            actions: OrganizationActions {
                admin_delete: false,
            },
            domains: OrganizationDomains {
                enabled: false,
                enrollment_modes: Vec::new(),
                default_role: "org:member",
            },
            slug: OrganizationSlug { disabled: false },
            creator_role: "org:admin",
        },
        fraud_settings: FraudSettings {
            object: "fraud_settings",
            native: FraudNative {
                device_attestation_mode: "disabled",
            },
        },
        api_keys_settings: ApiKeysSettings {
            enabled: false,
            user_api_keys_enabled: false,
            orgs_api_keys_enabled: false,
        },
        protect_config: ProtectConfig { loaders: [] },
        client_debug_mode: false,
        partitioned_cookies: false,
        maintenance_mode: false,
    }
}

/// The strategies (`oauth_<name>`) of the enabled OAuth providers, sorted.
fn oauth_strategies(settings: &InstanceSettings) -> Vec<String> {
    let mut strategies: Vec<String> = settings
        .strategies
        .oauth_providers
        .iter()
        .map(|provider| Strategy::OAuth(provider.clone()).name())
        .collect();
    strategies.sort();
    strategies
}
