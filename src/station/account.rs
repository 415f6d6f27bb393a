//! The station's account on a SIP server: started with the station, restarted when the
//! config changes, its state on the screen and in `status`, and calls to addresses of
//! record through the server.

use super::sip::Unreachable;
use super::Station;
use crate::call::registration::AccountStatus;
use crate::call::ua::{AccountHandle, UserAgent};
use crate::call::Peer;
use crate::config::{AccountTransport, Config, PlainCalls};
use std::net::SocketAddr;

/// The registration task and what it last reported.
#[derive(Default)]
pub(super) struct Account {
    handle: Option<AccountHandle>,
    status: Option<AccountStatus>,
}

impl Account {
    /// Registers when the config has an account.
    pub(super) fn start(ua: &UserAgent, config: &Config) -> Account {
        Account {
            handle: ua.start_account(config.account.clone(), None),
            status: None,
        }
    }

    /// What the server last said of the registration, if anything.
    pub(super) fn status(&self) -> Option<&AccountStatus> {
        self.status.as_ref()
    }

    /// The server said `status` of the registration.
    pub(super) fn set_status(&mut self, status: AccountStatus) {
        self.status = Some(status);
    }

    /// Registers with `config`'s account, the old registration removed first, so the
    /// server never holds both.
    pub(super) fn restart(&mut self, ua: &UserAgent, config: &Config) {
        let old = self.handle.take();
        self.status = None;
        self.handle = ua.start_account(config.account.clone(), old);
    }

    /// Unregisters (waiting briefly for the server).
    pub(super) async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop().await;
        }
    }
}

impl Station {
    /// The registration changed.
    pub(super) fn on_account(&mut self, status: AccountStatus) {
        self.links.set_account_status(status);
        self.update_screen();
        self.publish_status();
    }

    /// A lost or refused registration, for the idle screen.
    pub(super) fn account_problem(&self) -> Option<String> {
        self.links.account_status().and_then(AccountStatus::problem)
    }

    /// A changed `[account]` registers anew: the old registration is removed first,
    /// so the server never holds both.
    pub(super) fn apply_account(&mut self, new: &Config) {
        if new.account == self.config.account {
            return;
        }
        self.links.restart_account(&self.ua, new);
    }

    /// How to reach a contact whose address is an address of record: through the
    /// account's server.
    pub(super) fn reach_through_server(&self, name: &str, aor: String) -> Result<Peer, Unreachable> {
        if !self.config.account.enabled() {
            return Err(Unreachable::BadAddress(format!(
                "{name}: {aor} is an address of record; calling it needs an [account] on a SIP server"
            )));
        }
        if self.config.security.plain_calls == PlainCalls::Refuse {
            return Err(Unreachable::BadAddress(format!(
                "{name}: calls through the SIP server are not encrypted, and plain calls are refused (security.plain_calls)"
            )));
        }
        let server = self
            .ua
            .account_server_addr()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok(Peer {
            uri: aor,
            addr: server,
            tcp: self.config.account.transport == AccountTransport::Tcp,
            secure: None,
            proxied: true,
        })
    }
}
