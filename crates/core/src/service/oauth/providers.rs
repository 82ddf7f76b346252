//! The identity providers, by name: built at start from what the deployment
//! sets up, and built again on every replica when an operator changes a
//! provider's client (id, secret, scopes) at runtime.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::error::Error;
use crate::model::OAuthCredentials;
use crate::ports::{OAuthProvider, OAuthProviderFactory, ProviderClient, Random};
use crate::secrets::SecretBox;

/// The identity providers OAuth strategies go to. Cheap to clone: clones
/// share the providers in force.
#[derive(Clone, Default)]
pub struct OAuthProviders {
    built: Arc<ArcSwap<HashMap<String, Built>>>,
    factory: Option<Arc<dyn OAuthProviderFactory>>,
}

#[derive(Clone)]
struct Built {
    provider: Arc<dyn OAuthProvider>,
    /// The runtime client it was built with; `None`: the deployment's.
    client: Option<OAuthCredentials>,
}

impl OAuthProviders {
    /// These providers, as they are: without a factory, runtime clients
    /// are kept in the settings but change no provider.
    pub fn new(providers: Vec<Arc<dyn OAuthProvider>>) -> Self {
        let built = providers
            .into_iter()
            .map(|provider| {
                let built = Built {
                    provider: provider.clone(),
                    client: None,
                };
                (provider.name(), built)
            })
            .collect();
        Self {
            built: Arc::new(ArcSwap::from_pointee(built)),
            factory: None,
        }
    }

    /// Providers that `factory` builds again when their client changes.
    pub fn with_factory(mut self, factory: Arc<dyn OAuthProviderFactory>) -> Self {
        self.factory = Some(factory);
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn OAuthProvider>> {
        self.built.load().get(name).map(|b| b.provider.clone())
    }

    /// The providers' names.
    pub fn names(&self) -> Vec<String> {
        self.built.load().keys().cloned().collect()
    }

    /// `name` built with `client`, to check that it can be; `Ok(None)` when
    /// nothing builds providers here. The reason is one to show.
    pub(crate) fn build(
        &self,
        name: &str,
        client: &OAuthCredentials,
        secrets: &SecretBox,
    ) -> Result<Option<Arc<dyn OAuthProvider>>, String> {
        let Some(factory) = &self.factory else {
            return Ok(None);
        };
        let secret = if client.sealed_secret.is_empty() {
            None
        } else {
            Some(
                open_client_secret(secrets, name, &client.sealed_secret).map_err(|_| {
                    "the stored client secret does not open with the instance's key".to_owned()
                })?,
            )
        };
        let built = factory.build(
            name,
            &ProviderClient {
                client_id: &client.client_id,
                client_secret: secret.as_deref(),
                scopes: &client.scopes,
            },
        )?;
        Ok(Some(built))
    }

    /// Puts `clients` in force: each provider whose client changed is built
    /// again. One that no longer builds keeps its previous client, and the
    /// log says why.
    pub(crate) fn install(
        &self,
        clients: &BTreeMap<String, OAuthCredentials>,
        secrets: &SecretBox,
    ) {
        if self.factory.is_none() {
            return;
        }
        let current = self.built.load_full();
        let mut next = (*current).clone();
        let mut changed = false;
        for (name, built) in &mut next {
            let Some(client) = clients.get(name) else {
                continue;
            };
            if built.client.as_ref() == Some(client) {
                continue;
            }
            match self.build(name, client, secrets) {
                Ok(Some(provider)) => {
                    *built = Built {
                        provider,
                        client: Some(client.clone()),
                    };
                    changed = true;
                }
                Ok(None) => {}
                Err(why) => {
                    tracing::warn!(provider = %name, %why, "an OAuth provider's new client does not build; it keeps its previous one");
                }
            }
        }
        if changed {
            // Two reloads racing: each installs what it read, and the
            // settings' generation already decided which one is newer.
            self.built.store(Arc::new(next));
        }
    }
}

/// What a provider's client secret is sealed for.
fn secret_context(name: &str) -> String {
    format!("oauth-client-secret/{name}")
}

/// Seals the client secret an operator gave provider `name`.
pub(crate) fn seal_client_secret(
    secrets: &SecretBox,
    name: &str,
    secret: &str,
    random: &dyn Random,
) -> Result<String, Error> {
    secrets.seal(secret.as_bytes(), &secret_context(name), random)
}

fn open_client_secret(secrets: &SecretBox, name: &str, sealed: &str) -> Result<String, Error> {
    let plain = secrets.open(sealed, &secret_context(name))?;
    String::from_utf8(plain).map_err(|_| Error::internal("an OAuth client secret"))
}
