//! The station's account on a SIP server: REGISTER with digest authentication, renewal
//! before expiry, an OPTIONS keepalive that notices a server which restarted (and forgot
//! us), backoff while it is away, and unregistering at the end. The schedule is
//! [`crate::call::registration`]'s; this is the sending.

use super::message::OutOfDialog;
use super::{UaEvent, UserAgent};
use crate::call::registration::{keepalive_timeout, AccountStatus, Outcome, RegistrationState, Schedule};
use crate::config::{AccountConfig, AccountTransport};
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::registration::Registration;
use rsipstack::sip::Uri;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

/// How long a REGISTER may take before the server counts as unreachable.
const REGISTER_WAIT: Duration = Duration::from_secs(8);
/// How long the last REGISTER (expires 0) may take at shutdown.
const UNREGISTER_WAIT: Duration = Duration::from_secs(2);

/// What calls through the server need: where it is, and who we are to it.
#[derive(Clone)]
pub(super) struct AccountRoute {
    /// Where requests go.
    pub server: SocketAddr,
    /// Over TCP rather than UDP.
    pub tcp: bool,
    /// Our address of record.
    pub aor: String,
    /// For the server's challenges.
    pub credential: Option<Credential>,
}

/// The running registration; stop it to unregister.
pub struct AccountHandle {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl AccountHandle {
    /// Unregisters (briefly waiting for the server) and stops.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = tokio::time::timeout(UNREGISTER_WAIT + Duration::from_secs(1), self.task).await;
    }
}

impl UserAgent {
    /// Starts registering `account` when it is enabled (and valid), once `replaced` (an
    /// earlier registration) has been removed; its state comes as [`UaEvent::Account`]
    /// events.
    pub fn start_account(&self, account: AccountConfig, replaced: Option<AccountHandle>) -> Option<AccountHandle> {
        let Some(aor) = account.aor() else {
            if let Some(old) = replaced {
                tokio::spawn(old.stop());
            }
            return None;
        };
        let cancel = self.inner.cancel.child_token();
        let span = info_span!("account", %aor);
        let ua = self.clone();
        let token = cancel.clone();
        let task = tokio::spawn(
            async move {
                if let Some(old) = replaced {
                    old.stop().await;
                }
                ua.keep_registered(account, aor, token).await
            }
            .instrument(span),
        );
        Some(AccountHandle { cancel, task })
    }

    /// Where the account's SIP server is, once found.
    pub fn account_server_addr(&self) -> Option<SocketAddr> {
        self.inner.account.lock().unwrap().as_ref().map(|r| r.server)
    }

    /// The SIP server's address, when an account has found it: calls from there carry
    /// the server's word on who is calling.
    pub(super) fn account_server(&self) -> Option<IpAddr> {
        self.inner.account.lock().unwrap().as_ref().map(|r| r.server.ip())
    }

    pub(super) fn account_route(&self) -> Option<AccountRoute> {
        self.inner.account.lock().unwrap().clone()
    }

    async fn keep_registered(self, account: AccountConfig, aor: String, cancel: CancellationToken) {
        let user = account.user.clone().unwrap_or_default();
        let mut schedule = Schedule::new(&user);
        let mut registration: Option<(Registration, SocketAddr)> = None;
        let keepalive = Duration::from_secs(u64::from(account.keepalive_seconds));
        let mut shown = None;
        let report = |schedule: &Schedule, server: Option<SocketAddr>, shown: &mut Option<AccountStatus>| {
            let status = AccountStatus {
                aor: aor.clone(),
                server: server.map(|s| s.to_string()),
                state: schedule.state().clone(),
            };
            if shown.as_ref() != Some(&status) {
                match &status.state {
                    RegistrationState::Registered { expires } => info!(expires, "registered"),
                    RegistrationState::Failed { reason, retry_in } => {
                        warn!(%reason, retry_in, "not registered")
                    }
                    RegistrationState::Registering => {}
                }
                *shown = Some(status.clone());
                self.emit(UaEvent::Account(status));
            }
        };
        'registering: loop {
            schedule.registering();
            report(&schedule, registration.as_ref().map(|r| r.1), &mut shown);
            let outcome = self.register_once(&account, &aor, &mut registration).await;
            let wait = schedule.after(outcome);
            let server = registration.as_ref().map(|r| r.1);
            report(&schedule, server, &mut shown);
            let renew_at = Instant::now() + wait;
            if !schedule.state().is_registered() {
                tokio::select! {
                    _ = tokio::time::sleep_until(renew_at) => continue 'registering,
                    _ = cancel.cancelled() => break 'registering,
                }
            }
            // Registered: check on the server until the renewal is due.
            loop {
                let next = renew_at.min(Instant::now() + keepalive);
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = cancel.cancelled() => break 'registering,
                }
                if Instant::now() >= renew_at {
                    continue 'registering;
                }
                let Some(server) = server else { continue 'registering };
                if self.server_answers(&account, &aor, server, keepalive).await {
                    continue;
                }
                let wait = schedule.lost("the SIP server stopped answering");
                report(&schedule, Some(server), &mut shown);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue 'registering,
                    _ = cancel.cancelled() => break 'registering,
                }
            }
        }
        if let (true, Some((mut registration, _))) = (schedule.state().is_registered(), registration) {
            let uri = registrar_uri(&account);
            match tokio::time::timeout(UNREGISTER_WAIT, registration.register(uri, Some(0))).await {
                Ok(Ok(resp)) => info!(status = %resp.status_code, "unregistered"),
                Ok(Err(e)) => warn!(error = %e, "could not unregister"),
                Err(_) => warn!("no answer to unregistering"),
            }
        }
        *self.inner.account.lock().unwrap() = None;
    }

    /// One REGISTER (with its challenge answered): finds the server, reads the
    /// password, and keeps the registration (its Call-ID and CSeq) across renewals.
    async fn register_once(
        &self,
        account: &AccountConfig,
        aor: &str,
        registration: &mut Option<(Registration, SocketAddr)>,
    ) -> Outcome {
        let server = match find_server(account).await {
            Ok(server) => server,
            Err(why) => return Outcome::Unreachable(why),
        };
        let password = match account.credentials().read_password() {
            Ok(p) => p,
            Err((file, e)) => return Outcome::Unreachable(format!("cannot read {}: {e}", file.display())),
        };
        let tcp = account.transport == AccountTransport::Tcp;
        let credential = password.map(|password| Credential {
            username: account.user.clone().unwrap_or_default(),
            password,
            realm: None,
            auth_username: None,
        });
        *self.inner.account.lock().unwrap() = Some(AccountRoute {
            server,
            tcp,
            aor: aor.to_string(),
            credential: credential.clone(),
        });
        let same = registration
            .as_ref()
            .is_some_and(|(r, at)| *at == server && same_credential(&r.credential, &credential));
        if !same {
            let mut fresh = Registration::new(self.inner.layer.endpoint.clone(), credential);
            fresh.outbound_proxy = Some(server);
            fresh.contact = Some(rsipstack::sip::typed::Contact {
                display_name: None,
                uri: self.account_contact(account, tcp),
                params: vec![],
            });
            *registration = Some((fresh, server));
        }
        let (registration, _) = registration.as_mut().expect("just set");
        let uri = registrar_uri(account);
        match tokio::time::timeout(REGISTER_WAIT, registration.register(uri, Some(account.expires))).await {
            Ok(Ok(resp)) if resp.status_code.kind() == rsipstack::sip::StatusCodeKind::Successful => {
                Outcome::Registered {
                    granted: registration.expires(),
                }
            }
            Ok(Ok(resp)) => Outcome::Refused {
                status: resp.status_code.code(),
                phrase: resp.status_code.text().to_string(),
            },
            Ok(Err(e)) => Outcome::Unreachable(format!("the SIP server at {server} cannot be reached ({e})")),
            Err(_) => Outcome::Unreachable(format!("no answer from the SIP server at {server}")),
        }
    }

    /// Our Contact on the server: our own address, with the account's user.
    fn account_contact(&self, account: &AccountConfig, tcp: bool) -> Uri {
        let s = &self.inner.settings;
        let user = account.user.as_deref().unwrap_or(&s.user);
        let suffix = if tcp { ";transport=tcp" } else { "" };
        let text = format!(
            "sip:{user}@{}{suffix}",
            SocketAddr::new(self.advertise(), self.inner.local.port())
        );
        Uri::try_from(text.as_str()).expect("own URI is valid")
    }

    /// Whether the server answers an OPTIONS (any final answer will do).
    async fn server_answers(
        &self,
        account: &AccountConfig,
        aor: &str,
        server: SocketAddr,
        keepalive: Duration,
    ) -> bool {
        let transport = match account.transport {
            AccountTransport::Tcp => rsipstack::sip::Transport::Tcp,
            AccountTransport::Udp => rsipstack::sip::Transport::Udp,
        };
        let Ok(from_uri) = Uri::try_from(aor) else {
            return false;
        };
        let from = rsipstack::sip::typed::From {
            display_name: None,
            uri: from_uri,
            params: vec![rsipstack::sip::Param::Tag(
                format!("{:08x}", rand::random::<u32>()).into(),
            )],
        };
        let request = OutOfDialog {
            method: rsipstack::sip::Method::Options,
            target: registrar_uri(account),
            from,
            destination: rsipstack::transport::SipAddr::new(transport, server.into()),
            headers: vec![],
            body: vec![],
        };
        matches!(
            self.request_out_of_dialog(request, keepalive_timeout(keepalive)).await,
            Ok(Some(_))
        )
    }
}

/// `sip:DOMAIN[:PORT]`, with `;transport=tcp` over TCP.
fn registrar_uri(account: &AccountConfig) -> Uri {
    let registrar = account.registrar().expect("validated");
    let port = registrar.port.map(|p| format!(":{p}")).unwrap_or_default();
    let suffix = match account.transport {
        AccountTransport::Tcp => ";transport=tcp",
        AccountTransport::Udp => "",
    };
    let text = format!("sip:{}{port}{suffix}", registrar.domain);
    Uri::try_from(text.as_str()).expect("validated registrar")
}

/// The proxy when set; else the registrar's address, looked up when it is a name.
async fn find_server(account: &AccountConfig) -> Result<SocketAddr, String> {
    if let Some(proxy) = account.proxy_addr() {
        return Ok(proxy);
    }
    let registrar = account.registrar().ok_or("the registrar is not a SIP URI")?;
    let port = registrar.port.unwrap_or(5060);
    let host = registrar.domain.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let lookup = tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, port))).await;
    match lookup {
        Ok(Ok(mut found)) => found
            .next()
            .ok_or_else(|| format!("{host} has no address (set [account] proxy)")),
        Ok(Err(e)) => Err(format!("cannot find {host}: {e} (set [account] proxy)")),
        Err(_) => Err(format!("no answer looking up {host} (set [account] proxy)")),
    }
}

fn same_credential(a: &Option<Credential>, b: &Option<Credential>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.username == b.username && a.password == b.password,
        _ => false,
    }
}
