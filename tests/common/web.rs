//! A small HTTPS client for the web page's tests: one connection per request, the
//! station's certificate checked against its fingerprint, a cookie jar of one cookie.

use doorway::security::identity::{Fingerprint, Identity};
use http_body_util::BodyExt;
use std::net::SocketAddr;

/// What came back.
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// A browser of the station's page.
pub struct Browser {
    pub addr: SocketAddr,
    /// The address it connects from (any loopback address names another machine).
    pub from: Option<std::net::IpAddr>,
    tls: tokio_rustls::TlsConnector,
    /// The session cookie, once logged in.
    pub cookie: Option<String>,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Browser {
    /// A browser that trusts only the certificate with `fingerprint`.
    pub fn new(addr: SocketAddr, fingerprint: &str) -> Browser {
        let me = Identity::ephemeral("browser").unwrap();
        let pin = Fingerprint::parse(fingerprint).expect("a fingerprint");
        let (config, _) = doorway::security::tls::client_config(&me, Some(pin)).unwrap();
        Browser {
            addr,
            from: None,
            tls: tokio_rustls::TlsConnector::from(config),
            cookie: None,
            csrf: String::new(),
        }
    }

    /// A request over TLS; a Set-Cookie in the answer fills the jar.
    pub async fn request(&mut self, method: &str, path: &str, body: Option<serde_json::Value>) -> Reply {
        self.request_with(method, path, body, &[]).await
    }

    pub async fn request_with(
        &mut self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.try_request(method, path, body, headers)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A request that may fail on the way (a station refusing or closing connections).
    pub async fn try_request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let stream = self
            .connect()
            .await
            .map_err(|e| format!("TLS with the station's certificate: {e}"))?;
        let reply = exchange(
            hyper_util::rt::TokioIo::new(stream),
            method,
            path,
            body,
            self.cookie.as_deref(),
            &self.csrf,
            headers,
        )
        .await?;
        if let Some(set) = reply.headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap_or("");
            let value = pair.split_once('=').map(|(_, v)| v).unwrap_or("");
            self.cookie = (!value.is_empty()).then(|| pair.to_string());
        }
        Ok(reply)
    }

    /// A TLS connection to the page, from [`Browser::from`] when set.
    pub async fn connect(&self) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        if let Some(from) = self.from {
            socket.bind(SocketAddr::new(from, 0))?;
        }
        let tcp = socket.connect(self.addr).await?;
        let name = rustls::pki_types::ServerName::try_from("doorway.local").unwrap();
        self.tls.connect(name, tcp).await
    }

    /// Logs in (or sets up with the screen's code first); keeps the CSRF token.
    pub async fn log_in(&mut self, password: &str) -> Reply {
        let r = self
            .request("POST", "/api/login", Some(serde_json::json!({ "password": password })))
            .await;
        if r.status == 200 {
            self.csrf = r.json()["csrf"].as_str().unwrap().to_string();
        }
        r
    }

    /// First visit: the code from the screen and a new password.
    pub async fn set_up(&mut self, code: &str, password: &str) -> Reply {
        let r = self
            .request(
                "POST",
                "/api/setup",
                Some(serde_json::json!({ "code": code, "password": password })),
            )
            .await;
        if r.status == 200 {
            self.csrf = r.json()["csrf"].as_str().unwrap().to_string();
        }
        r
    }
}

/// A plain HTTP request (no TLS) to `addr`.
pub async fn plain(addr: SocketAddr, path: &str) -> Reply {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    exchange(hyper_util::rt::TokioIo::new(tcp), "GET", path, None, None, "", &[])
        .await
        .unwrap()
}

async fn exchange<S>(
    io: hyper_util::rt::TokioIo<S>,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    cookie: Option<&str>,
    csrf: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "doorway.local");
    if let Some(c) = cookie {
        request = request.header("cookie", c);
    }
    if !csrf.is_empty() {
        request = request.header("x-csrf-token", csrf);
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let bytes = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            serde_json::to_vec(&b).unwrap()
        }
        None => vec![],
    };
    let request = request
        .body(http_body_util::Full::new(hyper::body::Bytes::from(bytes)))
        .unwrap();
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    // An event stream never ends: take what came within a moment.
    let mut incoming = response.into_body();
    let mut body = vec![];
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until, incoming.frame()).await {
        if let Some(data) = frame.data_ref() {
            body.extend_from_slice(data);
        }
    }
    Ok(Reply { status, headers, body })
}
