//! A strict first look at every SIP request datagram, before rsipstack parses it
//! (RFC 3261 sections 7, 8.2 and 18.3; RFC 4475's torture messages). The stack is
//! lenient where a door station must not be (it would ring for an INVITE whose
//! Request-URI is in angle brackets) and strict where it must not be (it drops a valid
//! request with unusual whitespace without a word). So here:
//! - malformed requests get their status: 400, 505 for another SIP version, 416 for a
//!   Request-URI scheme we cannot use, 420 for an extension we do not support, 406
//!   when we cannot answer in an accepted format, 501 for a method we do not know;
//! - valid requests written with unusual whitespace or line folding are rewritten into
//!   the plain form the stack reads (bodies untouched);
//! - everything else passes as it came.
//!
//! Replies copy the request's Via, From, To (with a tag added), Call-ID and CSeq lines
//! as they were written: a To URI is never re-encoded.

/// What to do with a datagram.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Hand it to the stack as it is.
    Pass,
    /// Hand the stack this plain rewrite instead.
    Rewrite(Vec<u8>),
    /// Answer with this response and drop the request.
    Reply {
        /// The response text.
        response: String,
        /// Why, for the log.
        why: String,
    },
}

/// Methods the stack and the station handle; others get 501.
const KNOWN_METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "UPDATE",
    "REGISTER",
    "MESSAGE",
    "INFO",
    "PRACK",
    "NOTIFY",
    "SUBSCRIBE",
    "REFER",
    "PUBLISH",
];

/// Headers that may appear once (RFC 3261 section 7.3.1).
const SINGLE: &[&str] = &[
    "call-id",
    "cseq",
    "from",
    "to",
    "max-forwards",
    "content-length",
    "content-type",
];

fn full_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let full = match lower.as_str() {
        "i" => "call-id",
        "m" => "contact",
        "e" => "content-encoding",
        "l" => "content-length",
        "c" => "content-type",
        "f" => "from",
        "s" => "subject",
        "k" => "supported",
        "t" => "to",
        "v" => "via",
        other => other,
    };
    full.to_string()
}

/// The usual spelling of a header the stack reads, else the name as written.
fn canonical_spelling(full: &str, written: &str) -> String {
    match full {
        "call-id" => "Call-ID",
        "cseq" => "CSeq",
        "from" => "From",
        "to" => "To",
        "via" => "Via",
        "contact" => "Contact",
        "max-forwards" => "Max-Forwards",
        "content-length" => "Content-Length",
        "content-type" => "Content-Type",
        "subject" => "Subject",
        "supported" => "Supported",
        "require" => "Require",
        "accept" => "Accept",
        "expires" => "Expires",
        _ => written,
    }
    .to_string()
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
}

/// Collapses whitespace outside quoted strings, and drops it around `/ ; = ,`.
fn plain_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut quoted, mut escaped, mut pending_space) = (false, false, false);
    for c in value.trim().chars() {
        if quoted {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        let glue = "/;=,".contains(c);
        if pending_space && !glue && !out.ends_with(['/', ';', '=', ',']) && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        if c == '"' {
            quoted = true;
        }
        out.push(c);
    }
    out
}

/// Whether the quotes of a value balance (escapes inside quoted strings count).
fn quotes_balance(value: &str) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, _, '"') => quoted = !quoted,
            _ => {}
        }
    }
    !quoted
}

/// Problems of a From, To or Contact value: angle brackets that do not close, spaces
/// just inside them, empty parameters.
fn name_addr_problem(value: &str) -> Option<&'static str> {
    if !quotes_balance(value) {
        return Some("unbalanced quotes");
    }
    if value.trim() == "*" {
        return None;
    }
    let params = match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            let inner = &value[open + 1..close];
            if inner.starts_with(char::is_whitespace) || inner.ends_with(char::is_whitespace) {
                return Some("spaces inside the angle brackets of an address");
            }
            &value[close + 1..]
        }
        (None, None) => value.split_once(';').map(|(_, p)| p).unwrap_or(""),
        _ => return Some("angle brackets that do not close"),
    };
    let params = params.trim_start();
    if !params.is_empty() && params.trim_start_matches(';').split(';').any(|p| p.trim().is_empty()) {
        return Some("an empty header parameter");
    }
    None
}

struct Request<'a> {
    method: &'a str,
    uri: &'a str,
    /// Unfolded header lines as (written name, full lower-case name, value).
    headers: Vec<(String, String, String)>,
    body: &'a [u8],
}

fn problem_of_request_line(line: &str) -> Result<(&str, &str), (u16, String)> {
    let bad = |why: &str| Err((400, why.to_string()));
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return bad("the request line must be METHOD SP Request-URI SP SIP/2.0");
    }
    let (method, uri, version) = (parts[0], parts[1], parts[2]);
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        if version.to_ascii_uppercase().starts_with("SIP/") {
            return Err((505, format!("SIP version {version} is not supported")));
        }
        return bad("the request line must end with SIP/2.0");
    }
    if !is_token(method) {
        return bad("the method is not a token");
    }
    if uri.contains(['<', '>', '"']) {
        return bad("the Request-URI must not be in angle brackets or quotes");
    }
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    if scheme != "sip" && scheme != "sips" {
        return Err((416, format!("Request-URI scheme {scheme:?} is not supported")));
    }
    // Headers come after the host ('?' may also appear in the user part).
    let host_part = uri.rsplit_once('@').map(|(_, h)| h).unwrap_or(uri);
    if host_part.contains('?') {
        return bad("headers in the Request-URI are not allowed");
    }
    Ok((method, uri))
}

fn parse(datagram: &[u8]) -> Option<Result<Request<'_>, (u16, String)>> {
    let head_end = datagram.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&datagram[..head_end]).ok()?;
    let body = &datagram[head_end + 4..];
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    if first.starts_with("SIP/") {
        return None; // A response: the stack's business.
    }
    let (method, uri) = match problem_of_request_line(first) {
        Ok(ok) => ok,
        Err(e) => return Some(Err(e)),
    };
    let mut unfolded: Vec<String> = Vec::new();
    for line in lines {
        match unfolded.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => unfolded.push(line.to_string()),
        }
    }
    let mut headers = Vec::new();
    for line in unfolded {
        let Some((name, value)) = line.split_once(':') else {
            return Some(Err((400, "a header line without a colon".into())));
        };
        let name = name.trim();
        if !is_token(name) {
            return Some(Err((400, "a header name that is not a token".into())));
        }
        headers.push((name.to_string(), full_name(name), value.trim().to_string()));
    }
    Some(Ok(Request {
        method,
        uri,
        headers,
        body,
    }))
}

fn digits(value: &str) -> Option<u64> {
    (!value.is_empty() && value.len() <= 19 && value.bytes().all(|b| b.is_ascii_digit()))
        .then(|| value.parse().ok())
        .flatten()
}

/// The status a well-formed request still gets here, if any.
fn problem(req: &Request<'_>) -> Option<(u16, String)> {
    let bad = |why: String| Some((400, why));
    for single in SINGLE {
        if req.headers.iter().filter(|(_, n, _)| n == single).count() > 1 {
            return bad(format!("more than one {single} header"));
        }
    }
    for (_, name, value) in &req.headers {
        let value = value.as_str();
        match name.as_str() {
            "content-length" => match digits(value) {
                Some(n) if n as usize > req.body.len() => {
                    return bad("Content-Length is larger than the datagram's body".into())
                }
                Some(_) => {}
                None => return bad("Content-Length is not a number".into()),
            },
            "cseq" => {
                let mut parts = value.split_whitespace();
                let number = parts.next().and_then(digits);
                if number.is_none_or(|n| n >= 1 << 31) || parts.next().is_none() {
                    return bad("CSeq must be a number below 2^31 and a method".into());
                }
            }
            "max-forwards" if digits(value).is_none_or(|n| n > 255) => {
                return bad("Max-Forwards must be 0 to 255".into())
            }
            "expires" if digits(value).is_none_or(|n| n > u32::MAX as u64) => {
                return bad("Expires must be a number of seconds".into())
            }
            "from" | "to" | "contact" => {
                if let Some(why) = name_addr_problem(value) {
                    return bad(format!("{name}: {why}"));
                }
            }
            "via" => {
                for via in value.split(',') {
                    if via.split(';').skip(1).any(|p| p.trim().is_empty()) || via.trim().is_empty() {
                        return bad("Via: an empty parameter".into());
                    }
                }
            }
            _ => {}
        }
    }
    if !KNOWN_METHODS.contains(&req.method) {
        return Some((501, format!("method {} is not implemented", req.method)));
    }
    let is_ack_or_cancel = req.method == "ACK" || req.method == "CANCEL";
    if let Some((_, _, tags)) = req.headers.iter().find(|(_, n, _)| n == "require") {
        if !is_ack_or_cancel && !tags.is_empty() {
            return Some((420, tags.clone()));
        }
    }
    if req.method == "INVITE" {
        if let Some((_, _, accept)) = req.headers.iter().find(|(_, n, _)| n == "accept") {
            let lower = accept.to_ascii_lowercase();
            let fits = lower.is_empty()
                || ["application/sdp", "application/*", "*/*"]
                    .iter()
                    .any(|t| lower.contains(t));
            if !fits {
                return Some((406, "we can only answer with application/sdp".into()));
            }
        }
    }
    None
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        406 => "Not Acceptable",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        501 => "Not Implemented",
        505 => "Version Not Supported",
        _ => "Error",
    }
}

/// The response to a request this module refuses, from its raw header lines.
fn reply(req: &Request<'_>, status: u16, why: &str) -> Option<String> {
    fn get<'r>(req: &'r Request<'_>, n: &'static str) -> impl Iterator<Item = &'r (String, String, String)> {
        req.headers.iter().filter(move |(_, name, _)| name == n)
    }
    let get = |n: &'static str| get(req, n);
    // Without a Via there is nowhere to send it.
    get("via").next()?;
    let mut out = format!("SIP/2.0 {status} {}\r\n", reason_phrase(status));
    for (written, _, value) in get("via") {
        out.push_str(&format!("{written}: {value}\r\n"));
    }
    for name in ["from", "to", "call-id", "cseq"] {
        if let Some((written, _, value)) = get(name).next() {
            let tagged = name == "to" && !value.to_ascii_lowercase().contains("tag=");
            let tag = if tagged {
                format!(";tag={:08x}", rand::random::<u32>())
            } else {
                String::new()
            };
            out.push_str(&format!("{written}: {value}{tag}\r\n"));
        }
    }
    if status == 420 {
        out.push_str(&format!("Unsupported: {why}\r\n"));
    } else if status == 416 || status == 406 || status == 501 || status == 505 || status == 400 {
        let why: String = why.chars().filter(|c| *c != '"' && !c.is_control()).collect();
        out.push_str(&format!("Warning: 399 doorway \"{why}\"\r\n"));
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Some(out)
}

/// The answer `status` (with `why` in a Warning) to `message`, built from its head
/// lines as [`check`] builds its own; None when the head does not say where to send it.
pub fn refusal(message: &[u8], status: u16, why: &str) -> Option<String> {
    match parse(message)? {
        Ok(req) => reply(&req, status, why),
        Err(_) => match check(message) {
            Verdict::Reply { response, .. } => Some(response),
            _ => None,
        },
    }
}

/// Looks at one datagram.
pub fn check(datagram: &[u8]) -> Verdict {
    let req = match parse(datagram) {
        None => return Verdict::Pass,
        Some(Ok(req)) => req,
        Some(Err((status, why))) => {
            // The request line is bad; answer if the headers still say where.
            let head_end = datagram.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
            let head = String::from_utf8_lossy(&datagram[..head_end]).to_string();
            let fixed = head.split_once("\r\n").map(|(_, rest)| rest).unwrap_or("");
            let stand_in = format!("X sip:x SIP/2.0\r\n{fixed}\r\n\r\n");
            return match parse(stand_in.as_bytes()) {
                Some(Ok(req)) => match reply(&req, status, &why) {
                    Some(response) => Verdict::Reply { response, why },
                    None => Verdict::Pass,
                },
                _ => Verdict::Pass,
            };
        }
    };
    if req.method == "ACK" {
        // ACK is never answered; the stack matches or drops it.
        return plain(&req, datagram);
    }
    if let Some((status, why)) = problem(&req) {
        return match reply(&req, status, &why) {
            Some(response) => Verdict::Reply { response, why },
            None => Verdict::Pass,
        };
    }
    plain(&req, datagram)
}

/// Whether the stack would stumble on how the head is written: folded lines, space
/// before a header's colon, or a Via written `SIP / 2.0 / UDP`.
fn needs_plain(req: &Request<'_>, datagram: &[u8]) -> bool {
    let head_end = datagram.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
    let head = String::from_utf8_lossy(&datagram[..head_end]);
    let folded = head.split("\r\n").skip(1).any(|l| l.starts_with([' ', '\t']));
    let spaced_colon = head
        .split("\r\n")
        .skip(1)
        .any(|l| l.split_once(':').is_some_and(|(n, _)| n.ends_with([' ', '\t'])));
    let spaced_via = req
        .headers
        .iter()
        .any(|(_, n, v)| n == "via" && (v.contains(" /") || v.contains("/ ")));
    folded || spaced_colon || spaced_via
}

/// The request in plain form, when the stack needs it.
fn plain(req: &Request<'_>, datagram: &[u8]) -> Verdict {
    if !needs_plain(req, datagram) {
        return Verdict::Pass;
    }
    let mut head = format!("{} {} SIP/2.0\r\n", req.method, req.uri);
    for (written, full, value) in &req.headers {
        head.push_str(&format!(
            "{}: {}\r\n",
            canonical_spelling(full, written),
            plain_value(value)
        ));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(req.body);
    if out == datagram {
        Verdict::Pass
    } else {
        Verdict::Rewrite(out)
    }
}

pub mod stream;

#[cfg(test)]
mod tests;
