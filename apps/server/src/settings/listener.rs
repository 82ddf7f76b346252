//! `[dashboard]` and `[metrics]`: whether each is served, and on which
//! listener.

use std::net::SocketAddr;

use anyhow::bail;

use super::raw::ListenerSection;

/// Where the dashboard (or the metrics) is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Not at all: its path is 404.
    Off,
    /// On `server.addr`, beside the API.
    Main,
    /// On a listener of its own (plain HTTP), and not on the main one.
    Own(SocketAddr),
}

impl Listener {
    /// `key` names the section (`dashboard`); `main` is `server.addr`,
    /// which a listener of its own cannot share.
    pub fn parse(key: &str, section: &ListenerSection, main: SocketAddr) -> anyhow::Result<Self> {
        if !section.enabled {
            return Ok(Self::Off);
        }
        let listen = section.listen.trim();
        if listen.is_empty() {
            return Ok(Self::Main);
        }
        let Ok(addr) = listen.parse::<SocketAddr>() else {
            bail!("{key}.listen: {listen:?} is not an address like 127.0.0.1:3001");
        };
        // Two listeners on port 0 are two ports, each chosen at start.
        if addr == main && addr.port() != 0 {
            bail!(
                "{key}.listen: {addr} is server.addr; leave {key}.listen empty to serve it there"
            );
        }
        Ok(Self::Own(addr))
    }
}
