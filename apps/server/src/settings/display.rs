//! `[display]` and the providers' `display_name` and `logo_url`: how the
//! instance presents itself ([`DisplaySettings`]), every URL checked.

use std::collections::BTreeMap;

use anyhow::bail;

use latch_core::model::{DisplayProblem, DisplayRule, DisplaySettings, ProviderDisplay};

use super::raw::{DisplaySection, ProviderSection};

/// The display settings, with the empty `after_*` and `logo_link_url` keys
/// derived: after signing in, up or switching, the home page; after the last
/// sign-out, the sign-in page; after one of several, its account chooser.
pub fn display_settings(
    d: &DisplaySection,
    providers: &BTreeMap<String, ProviderSection>,
    issuer: &str,
) -> anyhow::Result<DisplaySettings> {
    let or = |value: &str, derived: &str| {
        if value.trim().is_empty() {
            derived.to_owned()
        } else {
            value.trim().to_owned()
        }
    };
    let unset_if_empty = |value: &str| (!value.trim().is_empty()).then(|| value.trim().to_owned());
    let home = d.home_url.trim();
    // An application with no page of its own uses Latch's hosted one.
    let hosted = |value: &str, page: &str| or(value, &format!("{issuer}{page}"));
    let sign_in = &hosted(&d.sign_in_url, "/sign-in");
    let chooser = if sign_in.contains('#') {
        sign_in.to_owned()
    } else {
        format!("{sign_in}#/choose")
    };
    let display = DisplaySettings {
        application_name: d.application_name.trim().to_owned(),
        home_url: home.to_owned(),
        sign_in_url: sign_in.to_owned(),
        sign_up_url: hosted(&d.sign_up_url, "/sign-up"),
        user_profile_url: hosted(&d.user_profile_url, "/user"),
        after_sign_in_url: or(&d.after_sign_in_url, home),
        after_sign_up_url: or(&d.after_sign_up_url, home),
        after_sign_out_one_url: or(&d.after_sign_out_one_url, &chooser),
        after_sign_out_all_url: or(&d.after_sign_out_all_url, sign_in),
        after_switch_session_url: or(&d.after_switch_session_url, home),
        logo_link_url: or(&d.logo_link_url, home),
        logo_image_url: unset_if_empty(&d.logo_image_url),
        favicon_image_url: unset_if_empty(&d.favicon_image_url),
        support_email: unset_if_empty(&d.support_email),
        help_url: unset_if_empty(&d.help_url),
        privacy_policy_url: unset_if_empty(&d.privacy_policy_url),
        terms_url: unset_if_empty(&d.terms_url),
        oauth_providers: providers
            .iter()
            .map(|(name, p)| {
                let defaults = DisplaySettings::default().provider(name);
                let shown = ProviderDisplay {
                    name: unset_if_empty(&p.display_name).unwrap_or(defaults.name),
                    logo_url: unset_if_empty(&p.logo_url),
                };
                (name.clone(), shown)
            })
            .collect(),
    };
    if let Some(DisplayProblem { field, rule }) = display.problem() {
        let key = match field.strip_prefix("oauth_providers.") {
            Some(rest) => format!(
                "oauth.providers.{}",
                rest.replacen(".name", ".display_name", 1)
            ),
            None => format!("display.{field}"),
        };
        let must = match rule {
            DisplayRule::Name => format!(
                "must be 1 to {} characters, none of them control characters",
                DisplaySettings::NAME_MAX_CHARS
            ),
            DisplayRule::UrlOrPath => {
                "must be an absolute http(s) URL or a path starting with /".to_owned()
            }
            DisplayRule::Url => "must be an absolute http(s) URL, or empty".to_owned(),
            DisplayRule::EmailAddress => "must be an email address, or empty".to_owned(),
        };
        bail!("{key} {must}");
    }
    Ok(display)
}
