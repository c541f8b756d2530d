//! The request as the host hands it over, and its lean binary decoding.
//!
//! Wire layout (all integers u32 little-endian):
//!
//! ```text
//! n_headers, n_extras, len[0] .. len[6 + 2*n_headers + 2*n_extras - 1], data...
//! ```
//! The items in order are `ip, method, host, path, query, body`, then
//! `n_headers` (name, value) pairs with names already lower-cased, then
//! `n_extras` (key, value) pairs of user-supplied fields. Strings that are
//! not valid UTF-8 are decoded lossily, so a malformed request is still
//! evaluated rather than rejected.

use std::borrow::Cow;

/// Why a buffer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ends before the item at this index.
    Truncated { item: usize },
    /// The header says more items than the buffer can hold.
    TooManyItems { declared: usize },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated { item } => write!(f, "request buffer truncated at item {}", item),
            DecodeError::TooManyItems { declared } => {
                write!(f, "request buffer declares {} items, more than it holds", declared)
            }
        }
    }
}

/// Request details for one evaluation. Header names are lower-case.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub ip: Cow<'a, str>,
    pub method: Cow<'a, str>,
    pub host: Cow<'a, str>,
    /// The path as sent on the wire (still percent-encoded).
    pub path: Cow<'a, str>,
    /// The query string as sent on the wire, without `?`.
    pub query: Cow<'a, str>,
    /// A bounded prefix of the body (the host decides how much to send).
    pub body: &'a [u8],
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// User-supplied fields (`protect(..., email=...)`), by name.
    pub extras: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

fn text(b: &[u8]) -> Cow<'_, str> {
    // Valid UTF-8 (nearly every request) is checked by `from_utf8`, whose
    // ASCII fast path reads a word at a time; `from_utf8_lossy` walks
    // byte by byte, which in Wasm costs more than the rest of decoding.
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

fn read_u32(buf: &[u8], at: usize) -> Option<usize> {
    let b = buf.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

impl<'a> Request<'a> {
    /// Decodes the host's buffer. See the module docs for the layout.
    pub fn decode(buf: &'a [u8]) -> Result<Request<'a>, DecodeError> {
        let n_headers = read_u32(buf, 0).ok_or(DecodeError::Truncated { item: 0 })?;
        let n_extras = read_u32(buf, 4).ok_or(DecodeError::Truncated { item: 0 })?;
        let n_items = n_headers
            .checked_mul(2)
            .and_then(|h| n_extras.checked_mul(2).map(|e| (h, e)))
            .and_then(|(h, e)| h.checked_add(e))
            .and_then(|x| x.checked_add(6))
            .ok_or(DecodeError::TooManyItems { declared: usize::MAX })?;
        if n_items.saturating_mul(4) > buf.len() {
            return Err(DecodeError::TooManyItems { declared: n_items });
        }
        let mut pos = 8 + 4 * n_items;
        let mut items: Vec<&'a [u8]> = Vec::with_capacity(n_items);
        for i in 0..n_items {
            let len = read_u32(buf, 8 + 4 * i).ok_or(DecodeError::Truncated { item: i })?;
            let end = pos.checked_add(len).ok_or(DecodeError::Truncated { item: i })?;
            let item = buf.get(pos..end).ok_or(DecodeError::Truncated { item: i })?;
            items.push(item);
            pos = end;
        }
        let mut headers = Vec::with_capacity(n_headers);
        for i in 0..n_headers {
            headers.push((text(items[6 + 2 * i]), text(items[7 + 2 * i])));
        }
        let base = 6 + 2 * n_headers;
        let mut extras = Vec::with_capacity(n_extras);
        for i in 0..n_extras {
            extras.push((text(items[base + 2 * i]), text(items[base + 1 + 2 * i])));
        }
        Ok(Request {
            ip: text(items[0]),
            method: text(items[1]),
            host: text(items[2]),
            path: text(items[3]),
            query: text(items[4]),
            body: items[5],
            headers,
            extras,
        })
    }

    /// The first value of a header (name must be lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// A user-supplied field.
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extras.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// Cookies from every `cookie` header, as (name, value) pairs.
    pub fn cookies(&self) -> Vec<(&str, &str)> {
        self.cookie_pairs().collect()
    }

    /// [`Request::cookies`] without collecting them.
    pub fn cookie_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| match part.find('=') {
                Some(i) => (part[..i].trim(), part[i + 1..].trim()),
                None => (part, ""),
            })
    }

    /// One cookie's value.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies().into_iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// Encodes a request in the wire layout (used by tests and fuzzers).
    pub fn encode(&self) -> Vec<u8> {
        let mut items: Vec<&[u8]> = vec![
            self.ip.as_bytes(),
            self.method.as_bytes(),
            self.host.as_bytes(),
            self.path.as_bytes(),
            self.query.as_bytes(),
            self.body,
        ];
        for (k, v) in &self.headers {
            items.push(k.as_bytes());
            items.push(v.as_bytes());
        }
        for (k, v) in &self.extras {
            items.push(k.as_bytes());
            items.push(v.as_bytes());
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(self.headers.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.extras.len() as u32).to_le_bytes());
        for it in &items {
            out.extend_from_slice(&(it.len() as u32).to_le_bytes());
        }
        for it in &items {
            out.extend_from_slice(it);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let r = Request {
            ip: "1.2.3.4".into(),
            method: "GET".into(),
            host: "example.com".into(),
            path: "/a%20b".into(),
            query: "x=1".into(),
            body: b"hello",
            headers: vec![("user-agent".into(), "curl/8".into()), ("cookie".into(), "a=1; b=2".into())],
            extras: vec![("userId".into(), "u1".into())],
        };
        let buf = r.encode();
        let d = Request::decode(&buf).unwrap();
        assert_eq!(d.ip, "1.2.3.4");
        assert_eq!(d.path, "/a%20b");
        assert_eq!(d.body, b"hello");
        assert_eq!(d.header("user-agent"), Some("curl/8"));
        assert_eq!(d.cookie("b"), Some("2"));
        assert_eq!(d.extra("userId"), Some("u1"));
    }

    #[test]
    fn truncated_buffer_is_an_error_not_a_panic() {
        let r = Request { ip: "1.2.3.4".into(), ..Default::default() };
        let buf = r.encode();
        for n in 0..buf.len() {
            let _ = Request::decode(&buf[..n]);
        }
        assert!(Request::decode(&buf[..buf.len() - 1]).is_err());
        assert!(Request::decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let mut r = Request::default();
        r.body = b"\xff\xfe";
        let mut buf = r.encode();
        // Corrupt the (empty) method into invalid UTF-8 by rebuilding by hand.
        let _ = &mut buf;
        let r2 = Request { path: String::from_utf8_lossy(b"/\xff").into_owned().into(), ..Default::default() };
        assert!(Request::decode(&r2.encode()).is_ok());
    }
}
