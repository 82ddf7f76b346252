//! `display_config`: the application's name, links and images
//! (`[display]`), and what follows from the other settings.

use serde::Serialize;

use latch_core::model::{Environment, InstanceSettings};

/// Clerk's `Client.DisplayConfig`.
#[derive(Debug, Serialize)]
pub struct DisplayConfig {
    pub object: &'static str,
    pub id: String,
    pub instance_environment_type: &'static str,
    pub application_name: String,
    /// Latch has no dashboard theme; clerk-js reads none.
    pub theme: Theme,
    pub preferred_sign_in_strategy: PreferredSignInStrategy,
    pub logo_image_url: Option<String>,
    pub favicon_image_url: Option<String>,
    pub home_url: String,
    pub sign_in_url: String,
    pub sign_up_url: String,
    pub user_profile_url: String,
    /// Latch keeps no waitlist: empty.
    pub waitlist_url: String,
    /// Latch is no OAuth authorization server: empty.
    pub oauth_consent_url: String,
    pub after_sign_in_url: String,
    pub after_sign_up_url: String,
    pub after_sign_out_one_url: String,
    pub after_sign_out_all_url: String,
    pub after_switch_session_url: String,
    pub after_join_waitlist_url: String,
    /// Organizations are off: the four organization pages are empty.
    pub organization_profile_url: String,
    pub create_organization_url: String,
    pub after_leave_organization_url: String,
    pub after_create_organization_url: String,
    pub logo_link_url: String,
    pub support_email: Option<String>,
    /// Whether Clerk's "Secured by Clerk" badge shows: never.
    pub branded: bool,
    pub experimental_force_oauth_first: bool,
    /// Latch pins no clerk-js version.
    pub clerk_js_version: Option<String>,
    /// Clerk's components mark development instances as such.
    pub show_devmode_warning: bool,
    /// Google One Tap is not offered.
    pub google_one_tap_client_id: Option<String>,
    pub help_url: Option<String>,
    pub privacy_policy_url: Option<String>,
    pub terms_url: Option<String>,
    /// The deprecated names of `logo_image_url` and `favicon_image_url`.
    pub logo_url: Option<String>,
    pub favicon_url: Option<String>,
    /// Clerk's uploaded image objects: Latch's images are URLs only.
    pub logo_image: Option<Image>,
    pub favicon_image: Option<Image>,
    /// Latch shows no CAPTCHA.
    pub captcha_public_key: Option<String>,
    pub captcha_widget_type: Option<String>,
    pub captcha_public_key_invisible: Option<String>,
    pub captcha_provider: Option<String>,
    pub captcha_oauth_bypass: Vec<String>,
    pub captcha_heartbeat: Option<bool>,
}

/// An empty object: no theme.
#[derive(Debug, Serialize)]
pub struct Theme {}

/// An uploaded image; never built, as Latch uploads none.
#[derive(Debug, Serialize)]
pub enum Image {}

/// Which first factor Clerk's sign-in form leads with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PreferredSignInStrategy {
    Password,
    Otp,
}

pub fn display_config(settings: &InstanceSettings, instance_id: &str) -> DisplayConfig {
    let d = &settings.display;
    DisplayConfig {
        object: "display_config",
        id: instance_id.to_owned(),
        instance_environment_type: settings.environment.as_str(),
        application_name: d.application_name.clone(),
        theme: Theme {},
        preferred_sign_in_strategy: if settings.strategies.password {
            PreferredSignInStrategy::Password
        } else {
            PreferredSignInStrategy::Otp
        },
        logo_image_url: d.logo_image_url.clone(),
        favicon_image_url: d.favicon_image_url.clone(),
        home_url: d.home_url.clone(),
        sign_in_url: d.sign_in_url.clone(),
        sign_up_url: d.sign_up_url.clone(),
        user_profile_url: d.user_profile_url.clone(),
        waitlist_url: String::new(),
        oauth_consent_url: String::new(),
        after_sign_in_url: d.after_sign_in_url.clone(),
        after_sign_up_url: d.after_sign_up_url.clone(),
        after_sign_out_one_url: d.after_sign_out_one_url.clone(),
        after_sign_out_all_url: d.after_sign_out_all_url.clone(),
        after_switch_session_url: d.after_switch_session_url.clone(),
        after_join_waitlist_url: String::new(),
        organization_profile_url: String::new(),
        create_organization_url: String::new(),
        after_leave_organization_url: String::new(),
        after_create_organization_url: String::new(),
        logo_link_url: d.logo_link_url.clone(),
        support_email: d.support_email.clone(),
        branded: false,
        experimental_force_oauth_first: false,
        clerk_js_version: None,
        show_devmode_warning: settings.environment == Environment::Development,
        google_one_tap_client_id: None,
        help_url: d.help_url.clone(),
        privacy_policy_url: d.privacy_policy_url.clone(),
        terms_url: d.terms_url.clone(),
        logo_url: d.logo_image_url.clone(),
        favicon_url: d.favicon_image_url.clone(),
        logo_image: None,
        favicon_image: None,
        captcha_public_key: None,
        captcha_widget_type: None,
        captcha_public_key_invisible: None,
        captcha_provider: None,
        captcha_oauth_bypass: Vec::new(),
        captcha_heartbeat: Some(false),
    }
}
