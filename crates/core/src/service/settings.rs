//! The instance's settings as they stand now: one shared value every service
//! reads, replaced whole when an operator changes it ([`LiveSettings`]), and
//! the use cases that change, store and reload it ([`Instance`]).
//!
//! The configuration file gives the base settings and a new instance's first
//! document; after that the durable store is the truth. Each replica polls
//! the store's generation (a number that grows with every change of the
//! settings or the lists) and reloads when it moved, so a change made through
//! one replica is in force on all of them within one poll. A use case reads
//! one snapshot from start to end; a sign-in begun under the old settings
//! meets the new ones at its next step (a strategy turned off is refused
//! there).

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use super::oauth::seal_client_secret;
use super::{Audit, OAuthProviders};
use crate::error::{Error, Problem, Resource};
use crate::model::{
    AccessList, AccessLists, AuditAction, IdPrefix, InstanceSettings, ListEntry, MAX_CLIENT_SECRET,
    SettingProblem, SettingsRefusal, SsoRules, UserManagement, new_id, parse_entry,
};
use crate::ports::{Clock, Random, SettingsStore, SettingsVersion};
use crate::secrets::SecretBox;

/// The settings in force, shared by every service. A use case takes one
/// [`current`](Self::current) value and reads it to its end, so a change
/// landing meanwhile never mixes two versions in one decision.
#[derive(Clone)]
pub struct LiveSettings {
    inner: Arc<ArcSwap<Versioned>>,
}

/// Settings with the store's generation and the document version they came
/// from (both 0 before any was read from a store), swapped together.
struct Versioned {
    generation: u64,
    version: u64,
    settings: Arc<InstanceSettings>,
}

impl LiveSettings {
    /// Settings that start as `settings`, at generation 0.
    pub fn new(settings: InstanceSettings) -> Self {
        Self {
            inner: Arc::new(ArcSwap::from_pointee(Versioned {
                generation: 0,
                version: 0,
                settings: Arc::new(settings),
            })),
        }
    }

    /// The settings in force.
    pub fn current(&self) -> Arc<InstanceSettings> {
        self.inner.load().settings.clone()
    }

    /// The stored document version of the settings in force (0: none).
    pub fn version(&self) -> u64 {
        self.inner.load().version
    }

    /// The store generation the settings in force were read at.
    pub fn generation(&self) -> u64 {
        self.inner.load().generation
    }

    /// Puts `settings` in force as read at `generation` (document
    /// `version`), unless a later generation is in force already: two
    /// reloads racing keep the newer. Returns whether it replaced them.
    pub fn install(&self, generation: u64, version: u64, settings: InstanceSettings) -> bool {
        let settings = Arc::new(settings);
        let previous = self.inner.rcu(|now| {
            if now.generation >= generation {
                now.clone()
            } else {
                Arc::new(Versioned {
                    generation,
                    version,
                    settings: settings.clone(),
                })
            }
        });
        previous.generation < generation
    }
}

impl std::fmt::Debug for LiveSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSettings")
            .field("generation", &self.generation())
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

/// The most entries one list holds.
pub const MAX_LIST_ENTRIES: usize = 10_000;

/// How many times a change is retried when another replica stores a
/// version between its read and its write.
const SAVE_ATTEMPTS: usize = 5;

/// The instance's runtime settings and lists: read, changed, reloaded.
#[derive(Clone)]
pub struct Instance {
    pub(super) live: LiveSettings,
    pub(super) store: Arc<dyn SettingsStore>,
    /// The configuration file's settings, under every document.
    pub(super) base: Arc<InstanceSettings>,
    /// The OAuth providers the configuration file sets up.
    pub(super) providers: Arc<[String]>,
    /// The providers themselves, built again when their client changes.
    pub(super) oauth: OAuthProviders,
    /// Seals the client secrets operators give.
    pub(super) secrets: Arc<SecretBox>,
    /// Document paths the configuration file pins.
    pub(super) pins: Arc<[String]>,
    pub(super) audit: Audit,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
}

/// The settings document in force, with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsView {
    pub version: u64,
    pub document: UserManagement,
    /// The paths the configuration file pins.
    pub pinned: Vec<String>,
}

fn refused(refusal: SettingsRefusal) -> Error {
    Error::InvalidParam {
        param: refusal.path.into(),
        problem: Problem::Setting(refusal.problem),
    }
}

impl Instance {
    /// The configuration file's document.
    fn file_document(&self) -> UserManagement {
        UserManagement::of(&self.base, self.providers.iter().map(String::as_str))
    }

    /// A stored version read through the file's document, with the pins.
    fn read_stored(&self, file: &UserManagement, stored: &SettingsVersion) -> UserManagement {
        let document = file.over_stored(&stored.document).unwrap_or_else(|| {
            tracing::warn!(
                version = stored.version,
                "a stored settings document does not read; the file's settings apply"
            );
            file.clone()
        });
        document.with_pins(file, &self.pins)
    }

    /// The settings in force now, as a document.
    pub fn view(&self) -> SettingsView {
        let settings = self.live.current();
        SettingsView {
            version: self.live.version(),
            document: UserManagement::of(&settings, self.providers.iter().map(String::as_str))
                .redacted(),
            pinned: self.pins.to_vec(),
        }
    }

    /// Checks that every pin names a setting.
    pub fn check_pins(&self) -> Result<(), Error> {
        let file = self.file_document();
        match self.pins.iter().find(|pin| !file.has_path(pin)) {
            Some(pin) => Err(refused(SettingsRefusal {
                path: pin.clone(),
                problem: SettingProblem::Unknown,
            })),
            None => Ok(()),
        }
    }

    /// At start: stores the configuration file's document as version 1 on
    /// a new instance, then loads what the store holds.
    pub async fn start(&self) -> Result<(), Error> {
        self.check_pins()?;
        if self.store.latest().await?.is_none() {
            let file = self.file_document();
            file.check(&self.base).map_err(refused)?;
            // Another replica starting at once may store it first: either
            // way version 1 is a file's document.
            let _ = self
                .store
                .save(0, &file.to_stored(), "system", self.clock.now())
                .await?;
        }
        self.reload().await
    }

    /// Reloads when the store's generation moved past the one in force;
    /// what each replica runs every poll. Returns whether it reloaded.
    pub async fn refresh(&self) -> Result<bool, Error> {
        let generation = self.store.generation().await?;
        if generation <= self.live.generation() {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Reads the latest document and both lists, and puts them in force.
    async fn reload(&self) -> Result<(), Error> {
        // The generation first: anything changed after it is read again
        // at the next poll.
        let generation = self.store.generation().await?;
        let latest = self.store.latest().await?;
        let lists = AccessLists {
            allow: self.store.entries(AccessList::Allow).await?,
            block: self.store.entries(AccessList::Block).await?,
        };
        let file = self.file_document();
        let (version, document) = match latest {
            Some(stored) => (stored.version, self.read_stored(&file, &stored)),
            None => (0, file),
        };
        if let Err(refusal) = document.check(&self.base) {
            // Settings stored under another configuration file may no
            // longer fit it; they stay in force, and the log says why.
            tracing::warn!(
                version,
                path = %refusal.path,
                problem = ?refusal.problem,
                "the stored settings do not pass the checks under this configuration"
            );
        }
        let mut settings = document.apply(&self.base);
        settings.lists = lists;
        let clients = settings.oauth_credentials.clone();
        // A generation of 0 would never replace the start-up value.
        if self.live.install(generation.max(1), version, settings) {
            self.oauth.install(&clients, &self.secrets);
            crate::metrics::settings_version(version);
        }
        Ok(())
    }

    /// Applies `patch` (a JSON merge patch over the document) as a new
    /// version, checked whole; with `expected`, only if that version is
    /// the latest. Refusals name the setting they are about. A patch that
    /// changes nothing stores nothing.
    pub async fn update(
        &self,
        patch: &Value,
        expected: Option<u64>,
    ) -> Result<SettingsView, Error> {
        let file = self.file_document();
        let patch = &self.seal_client_secrets(patch)?;
        for _ in 0..SAVE_ATTEMPTS {
            let latest = self.store.latest().await?;
            let (version, current) = match latest {
                Some(stored) => (stored.version, self.read_stored(&file, &stored)),
                None => (0, file.clone()),
            };
            if let Some(expected) = expected
                && expected != version
            {
                return Err(Error::SettingsVersionStale {
                    expected,
                    current: version,
                });
            }
            let next = current.patched(patch).map_err(refused)?;
            let changed = current.changed_paths(&next);
            if let Some(path) = changed.iter().find(|path| self.pinned(path)) {
                return Err(refused(SettingsRefusal {
                    path: path.clone(),
                    problem: SettingProblem::Pinned,
                }));
            }
            next.check(&self.base).map_err(refused)?;
            self.check_clients(&current, &next, &changed)?;
            if changed.is_empty() {
                self.refresh().await?;
                return Ok(self.view());
            }
            // Who changed it: the actor, and which operator through the
            // dashboard.
            let request = super::current_request();
            let changed_by = match &request.operator {
                Some(operator) => format!("{}:{}", request.actor.as_str(), operator.0),
                None => request.actor.as_str().to_owned(),
            };
            if self
                .store
                .save(version, &next.to_stored(), &changed_by, self.clock.now())
                .await?
            {
                let new_version = (version + 1).to_string();
                let paths = changed.join(",");
                self.audit
                    .record(
                        AuditAction::SettingsChanged,
                        None,
                        &[("version", &new_version), ("changed", &paths)],
                    )
                    .await;
                self.refresh().await?;
                return Ok(self.view());
            }
            if expected.is_some() {
                let current = self.store.latest().await?.map_or(0, |v| v.version);
                return Err(Error::SettingsVersionStale {
                    expected: version,
                    current,
                });
            }
        }
        Err(Error::Conflict)
    }

    /// `patch` with each client secret it gives sealed, and each empty one
    /// left out (an empty secret keeps the one in force: the document
    /// never shows it).
    fn seal_client_secrets(&self, patch: &Value) -> Result<Value, Error> {
        let mut patch = patch.clone();
        let Some(Value::Object(sso)) = patch.get_mut("sso") else {
            return Ok(patch);
        };
        for (name, rules) in sso.iter_mut() {
            let Value::Object(rules) = rules else {
                continue;
            };
            let secret = match rules.get("client_secret") {
                Some(Value::String(secret)) => secret.clone(),
                // Another type is refused by the merge, by its path.
                _ => continue,
            };
            if secret.is_empty() {
                rules.remove("client_secret");
                continue;
            }
            if secret.len() > MAX_CLIENT_SECRET || !secret.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(refused(SettingsRefusal {
                    path: format!("sso.{}.client_secret", crate::model::truncate(name)),
                    problem: SettingProblem::Invalid(format!(
                        "1 to {MAX_CLIENT_SECRET} visible characters, without spaces"
                    )),
                }));
            }
            let sealed = seal_client_secret(&self.secrets, name, &secret, &*self.random)?;
            rules.insert("client_secret".into(), Value::String(sealed));
        }
        Ok(patch)
    }

    /// Builds each provider whose client `next` changes, so that a client
    /// the provider cannot take is refused before it is stored.
    fn check_clients(
        &self,
        current: &UserManagement,
        next: &UserManagement,
        changed: &[String],
    ) -> Result<(), Error> {
        for (name, rules) in &next.sso {
            let client = rules.client();
            if current.sso.get(name).map(SsoRules::client).as_ref() == Some(&client) {
                continue;
            }
            if let Err(why) = self.oauth.build(name, &client, &self.secrets) {
                let group = format!("sso.{name}.");
                let path = changed
                    .iter()
                    .find(|path| path.starts_with(&group) && !path.ends_with(".enabled"))
                    .cloned()
                    .unwrap_or_else(|| format!("{group}client_id"));
                return Err(refused(SettingsRefusal {
                    path,
                    problem: SettingProblem::Invalid(why),
                }));
            }
        }
        Ok(())
    }

    /// Whether the configuration file pins `path` (it or a group holding
    /// it).
    fn pinned(&self, path: &str) -> bool {
        self.pins.iter().any(|pin| {
            path == pin
                || path
                    .strip_prefix(pin.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }

    /// Up to `limit` stored versions, newest first.
    /// Client secrets, sealed as they are, are left out.
    pub async fn history(&self, limit: u32) -> Result<Vec<SettingsVersion>, Error> {
        let mut versions = self.store.history(limit.clamp(1, 100)).await?;
        for version in &mut versions {
            UserManagement::redact_stored(&mut version.document);
        }
        Ok(versions)
    }

    /// Every entry of `list`, oldest first.
    pub async fn entries(&self, list: AccessList) -> Result<Vec<ListEntry>, Error> {
        Ok(self.store.entries(list).await?)
    }

    /// Adds `raw` (an email address, a phone number or an email domain)
    /// to `list`.
    pub async fn add_entry(&self, list: AccessList, raw: &str) -> Result<ListEntry, Error> {
        let (identifier, kind) = parse_entry(raw)?;
        // The lists in force (this replica reloads after each change it
        // makes): no read of the whole list per entry added.
        let lists = &self.live.current().lists;
        let held = match list {
            AccessList::Allow => lists.allow.len(),
            AccessList::Block => lists.block.len(),
        };
        if held >= MAX_LIST_ENTRIES {
            return Err(Error::invalid(
                "identifier",
                Problem::TooManyListEntries {
                    max: MAX_LIST_ENTRIES,
                },
            ));
        }
        let prefix = match list {
            AccessList::Allow => IdPrefix::AllowlistEntry,
            AccessList::Block => IdPrefix::BlocklistEntry,
        };
        let entry = ListEntry {
            id: new_id(prefix, &*self.random),
            list,
            identifier,
            kind,
            created_at: self.clock.now(),
        };
        if !self.store.add_entry(&entry).await? {
            return Err(Error::AlreadyListed);
        }
        self.list_changed(list, "added", &entry.identifier).await?;
        Ok(entry)
    }

    /// Removes the entry `id` from `list`.
    pub async fn remove_entry(&self, list: AccessList, id: &str) -> Result<(), Error> {
        let entry = self
            .store
            .entries(list)
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or(Error::NotFound(Resource::ListEntry))?;
        if !self.store.remove_entry(list, id).await? {
            return Err(Error::NotFound(Resource::ListEntry));
        }
        self.list_changed(list, "removed", &entry.identifier).await
    }

    async fn list_changed(
        &self,
        list: AccessList,
        change: &str,
        identifier: &str,
    ) -> Result<(), Error> {
        self.audit
            .record(
                AuditAction::RestrictionListChanged,
                None,
                &[("list", list.as_str()), (change, identifier)],
            )
            .await;
        self.refresh().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::model::UserManagement;
    use crate::service::Services;
    use crate::service::test_support::{Mocks, NOW};

    /// A settings store in memory: versions and a generation.
    fn store_in_memory(mocks: &mut Mocks) -> Arc<Mutex<Vec<Value>>> {
        let versions: Arc<Mutex<Vec<Value>>> = Arc::default();
        store_over(mocks, &versions);
        versions
    }

    /// `mocks`' settings store over `versions` (shared: two replicas).
    fn store_over(mocks: &mut Mocks, versions: &Arc<Mutex<Vec<Value>>>) {
        let store = &mut mocks.settings_store;
        let (v1, v2, v3) = (versions.clone(), versions.clone(), versions.clone());
        store.expect_latest().returning(move || {
            let versions = v1.lock().unwrap();
            Ok(versions.last().map(|document| SettingsVersion {
                version: versions.len() as u64,
                document: document.clone(),
                changed_at: NOW,
                changed_by: "system".into(),
            }))
        });
        store.expect_save().returning(move |after, document, _, _| {
            let mut versions = v2.lock().unwrap();
            if versions.len() as u64 != after {
                return Ok(false);
            }
            versions.push(document.clone());
            Ok(true)
        });
        store
            .expect_generation()
            .returning(move || Ok(v3.lock().unwrap().len() as u64));
        store.expect_entries().returning(|_| Ok(Vec::new()));
        let v4 = versions.clone();
        store.expect_history().returning(move |_| {
            let versions = v4.lock().unwrap();
            Ok(versions
                .iter()
                .enumerate()
                .rev()
                .map(|(i, document)| SettingsVersion {
                    version: i as u64 + 1,
                    document: document.clone(),
                    changed_at: NOW,
                    changed_by: "system".into(),
                })
                .collect())
        });
    }

    fn with_store() -> (Services, Arc<Mutex<Vec<Value>>>) {
        let mut mocks = Mocks::new();
        let versions = store_in_memory(&mut mocks);
        (mocks.services(), versions)
    }

    #[tokio::test]
    async fn a_new_instance_stores_the_file_s_settings_as_version_one() {
        let (services, versions) = with_store();
        services.instance.start().await.unwrap();
        assert_eq!(versions.lock().unwrap().len(), 1);
        assert_eq!(services.instance.view().version, 1);
        // A second start stores nothing more.
        services.instance.start().await.unwrap();
        assert_eq!(versions.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_pinned_setting_is_refused_and_keeps_the_file_s_value() {
        let (services, versions) = with_store();
        let services = services.with_pinned_settings(vec!["sessions".into()]);
        services.instance.start().await.unwrap();
        let err = services
            .instance
            .update(&json!({"sessions": {"lifetime_secs": 60}}), None)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::InvalidParam {
                param: "sessions.lifetime_secs".into(),
                problem: Problem::Setting(SettingProblem::Pinned),
            }
        );
        assert_eq!(versions.lock().unwrap().len(), 1, "nothing stored");
        // A stored value under a pin (from before the pin) yields to the file.
        let mut stored = versions.lock().unwrap()[0].clone();
        stored["sessions"]["lifetime_secs"] = json!(60);
        versions.lock().unwrap().push(stored);
        services.instance.refresh().await.unwrap();
        assert_eq!(
            services.settings().session_lifetime,
            InstanceSettings::default().session_lifetime
        );
    }

    #[tokio::test]
    async fn a_change_over_a_stale_version_is_refused_and_one_over_the_latest_lands() {
        let (services, versions) = with_store();
        services.instance.start().await.unwrap();
        let patch = json!({"password": {"min_length": 10}});
        let view = services.instance.update(&patch, Some(1)).await.unwrap();
        assert_eq!(view.version, 2);
        assert_eq!(services.settings().password_min_length, 10);
        let err = services.instance.update(&patch, Some(1)).await.unwrap_err();
        assert_eq!(
            err,
            Error::SettingsVersionStale {
                expected: 1,
                current: 2
            }
        );
        assert_eq!(versions.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_stored_document_missing_a_setting_takes_the_file_s_value() {
        let (services, versions) = with_store();
        let file = UserManagement::of(&InstanceSettings::default(), []);
        let mut older = file.to_stored();
        older["password"]
            .as_object_mut()
            .unwrap()
            .remove("min_length");
        older["password"]["may_match_identifier"] = json!(true);
        older["retired_setting"] = json!(1);
        versions.lock().unwrap().push(older);
        services.instance.start().await.unwrap();
        let settings = services.settings();
        assert_eq!(settings.password_min_length, 8, "the file's");
        assert!(settings.sign_up.password_may_match_identifier, "the stored");
    }

    /// Builds providers as a deployment's adapter would, keeping each
    /// client it was given; it refuses the client id `refused`.
    #[derive(Default)]
    struct Builds {
        clients: Mutex<Vec<Built>>,
    }

    /// (provider, client id, client secret, scopes).
    type Built = (String, String, Option<String>, Vec<String>);

    impl crate::ports::OAuthProviderFactory for Builds {
        fn build(
            &self,
            name: &str,
            client: &crate::ports::ProviderClient<'_>,
        ) -> Result<Arc<dyn crate::ports::OAuthProvider>, String> {
            if client.client_id == "refused" {
                return Err("the provider knows no such client".into());
            }
            self.clients.lock().unwrap().push((
                name.to_owned(),
                client.client_id.to_owned(),
                client.client_secret.map(str::to_owned),
                client.scopes.to_vec(),
            ));
            let mut provider = crate::ports::MockOAuthProvider::new();
            provider.expect_name().return_const(name.to_owned());
            Ok(Arc::new(provider))
        }
    }

    /// A replica with GitHub set up by its file, over `versions`.
    fn replica(versions: &Arc<Mutex<Vec<Value>>>) -> (Services, Arc<Builds>) {
        let mut mocks = Mocks::new();
        store_over(&mut mocks, versions);
        let mut github = crate::ports::MockOAuthProvider::new();
        github.expect_name().return_const("github".to_owned());
        mocks.oauth.push(github);
        mocks.settings.strategies.oauth_providers = vec!["github".into()];
        mocks.settings.oauth_credentials.insert(
            "github".into(),
            crate::model::OAuthCredentials {
                client_id: "file-client".into(),
                ..Default::default()
            },
        );
        let builds = Arc::new(Builds::default());
        mocks.oauth_factory = Some(builds.clone());
        (mocks.services(), builds)
    }

    fn last_build(builds: &Builds) -> Built {
        builds.clients.lock().unwrap().last().cloned().unwrap()
    }

    #[tokio::test]
    async fn an_oauth_client_changes_on_every_replica_with_its_secret_sealed_and_never_shown() {
        let versions: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (a, builds_a) = replica(&versions);
        let (b, builds_b) = replica(&versions);
        a.instance.start().await.unwrap();
        b.instance.start().await.unwrap();
        let patch = json!({"sso": {"github": {
            "client_id": "runtime-client",
            "client_secret": "s3cret-value",
            "scopes": ["read:user", "user:email"],
        }}});
        let view = a.instance.update(&patch, None).await.unwrap();
        let shown = &view.document.sso["github"];
        assert_eq!(shown.client_id, "runtime-client");
        assert_eq!(shown.client_secret, "", "never shown");
        let stored = versions.lock().unwrap().last().cloned().unwrap();
        let sealed = stored["sso"]["github"]["client_secret"].as_str().unwrap();
        assert!(sealed.starts_with("v1."), "{stored}");
        assert!(!stored.to_string().contains("s3cret-value"), "{stored}");
        let expected = (
            "github".to_owned(),
            "runtime-client".to_owned(),
            Some("s3cret-value".to_owned()),
            vec!["read:user".to_owned(), "user:email".to_owned()],
        );
        assert_eq!(
            last_build(&builds_a),
            expected,
            "built with the secret opened"
        );
        // The other replica builds it at its next poll.
        assert!(b.instance.refresh().await.unwrap());
        assert_eq!(last_build(&builds_b), expected);
        assert_eq!(b.instance.view().document.sso["github"].client_secret, "");
        for version in a.instance.history(10).await.unwrap() {
            assert_eq!(version.document["sso"]["github"]["client_secret"], "");
        }

        // An empty secret keeps the one in force.
        let keep = json!({"sso": {"github": {"client_secret": "", "scopes": []}}});
        a.instance.update(&keep, None).await.unwrap();
        let (_, id, secret, scopes) = last_build(&builds_a);
        assert_eq!(
            (id.as_str(), secret.as_deref()),
            ("runtime-client", Some("s3cret-value"))
        );
        assert!(scopes.is_empty());

        // Refused by field, and nothing stored.
        let stored = versions.lock().unwrap().len();
        for (patch, path) in [
            (json!({"client_id": "refused"}), "sso.github.client_id"),
            (json!({"client_id": "has space"}), "sso.github.client_id"),
            (
                json!({"client_secret": "has space"}),
                "sso.github.client_secret",
            ),
            (
                json!({"client_secret": "x".repeat(1025)}),
                "sso.github.client_secret",
            ),
            (json!({"scopes": ["read user"]}), "sso.github.scopes"),
            (json!({"scopes": [""]}), "sso.github.scopes"),
        ] {
            let err = a
                .instance
                .update(&json!({"sso": {"github": patch}}), None)
                .await
                .unwrap_err();
            match err {
                Error::InvalidParam {
                    param,
                    problem: Problem::Setting(SettingProblem::Invalid(_)),
                } => assert_eq!(param, path),
                other => panic!("{patch}: {other:?}"),
            }
        }
        assert_eq!(versions.lock().unwrap().len(), stored);
    }

    #[tokio::test]
    async fn racing_installs_keep_the_newer_generation() {
        let live = LiveSettings::new(InstanceSettings::default());
        let newer = InstanceSettings {
            password_min_length: 20,
            ..InstanceSettings::default()
        };
        assert!(live.install(5, 3, newer));
        assert!(!live.install(4, 2, InstanceSettings::default()), "older");
        assert!(!live.install(5, 3, InstanceSettings::default()), "the same");
        assert_eq!(live.current().password_min_length, 20);
        assert_eq!((live.generation(), live.version()), (5, 3));
    }
}
