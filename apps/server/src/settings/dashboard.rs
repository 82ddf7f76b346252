//! `[dashboard]`: whether the operators' dashboard is served, and on which
//! listener.

use std::net::SocketAddr;

use anyhow::bail;

use super::raw::DashboardSection;

/// Where the dashboard is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dashboard {
    /// Not at all: `/dashboard` is 404.
    Off,
    /// On `server.addr`, beside the API.
    Main,
    /// On a listener of its own (plain HTTP), and not on the main one.
    Own(SocketAddr),
}

impl Dashboard {
    /// `main` is `server.addr`, which a listener of its own cannot share.
    pub fn parse(section: &DashboardSection, main: SocketAddr) -> anyhow::Result<Self> {
        if !section.enabled {
            return Ok(Self::Off);
        }
        let listen = section.listen.trim();
        if listen.is_empty() {
            return Ok(Self::Main);
        }
        let Ok(addr) = listen.parse::<SocketAddr>() else {
            bail!("dashboard.listen: {listen:?} is not an address like 127.0.0.1:3001");
        };
        // Two listeners on port 0 are two ports, each chosen at start.
        if addr == main && addr.port() != 0 {
            bail!(
                "dashboard.listen: {addr} is server.addr; leave dashboard.listen empty to serve the dashboard there"
            );
        }
        Ok(Self::Own(addr))
    }
}
