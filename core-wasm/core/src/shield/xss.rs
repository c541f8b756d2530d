//! Cross-site scripting by context, on a normalised (entity-decoded, lower
//! case) value:
//!
//! - tags: `<script`, `<iframe`, `<object`, `<embed`, ... anywhere; any tag
//!   with an event-handler attribute (`<img src=x onerror=`), `srcdoc=`, or a
//!   script-carrying `style`; closing tags that end a raw-text context
//!   (`</textarea>`, `</title>`, `</script>`);
//! - attribute breakouts: `"><tag`, and `" onfocus=` with a known event name;
//! - URL schemes `javascript:`, `vbscript:`, `data:text/html` (tabs and
//!   newlines inside the scheme name are ignored, as browsers do), when
//!   followed by code rather than prose ("JavaScript: The Good Parts" is not);
//! - CSS `expression(`, `behavior:url(`, `-moz-binding`;
//! - script-context breakouts: a quote, punctuation, then a sink call
//!   (`';alert(1)//`, `"-prompt(1)-"`).
//!
//! `a < b > c`, `I <3 you`, `if (a<b && c>d)` and plain markup without
//! handlers (`<b>`, `<a href="https://...">`) are not flagged.
//!
//! Work: one pass; each `<` scans forward at most to the next `<` or `>`, and
//! each `:` looks back at most 32 bytes.

use memchr::{memchr, memchr_iter};

/// Event-handler names (`on` + name), from the HTML and SVG specifications
/// and the PortSwigger XSS cheat sheet's event list.
const EVENTS: &[&str] = &[
    "abort", "activate", "afterprint", "afterscriptexecute", "animationcancel", "animationend",
    "animationiteration", "animationstart", "auxclick", "beforeactivate", "beforecopy",
    "beforecut", "beforedeactivate", "beforeinput", "beforepaste", "beforeprint",
    "beforescriptexecute", "beforetoggle", "beforeunload", "begin", "blur", "bounce", "canplay",
    "canplaythrough", "change", "click", "close", "contextmenu", "copy", "cuechange", "cut",
    "dblclick", "deactivate", "drag", "dragend", "dragenter", "dragleave", "dragover",
    "dragstart", "drop", "durationchange", "end", "ended", "error", "finish", "focus", "focusin",
    "focusout", "formdata", "fullscreenchange", "hashchange", "input", "invalid", "keydown",
    "keypress", "keyup", "load", "loadeddata", "loadedmetadata", "loadend", "loadstart",
    "message", "mousedown", "mouseenter", "mouseleave", "mousemove", "mouseout", "mouseover",
    "mouseup", "mousewheel", "offline", "online", "pagehide", "pageshow", "paste", "pause",
    "play", "playing", "pointercancel", "pointerdown", "pointerenter", "pointerleave",
    "pointermove", "pointerout", "pointerover", "pointerrawupdate", "pointerup", "popstate",
    "progress", "ratechange", "readystatechange", "repeat", "reset", "resize", "scroll",
    "scrollend", "search", "seeked", "seeking", "select", "selectionchange", "selectstart",
    "show", "start", "stalled", "storage", "submit", "suspend", "timeupdate", "toggle",
    "touchend", "touchmove", "touchstart", "transitioncancel", "transitionend", "transitionrun",
    "transitionstart", "unhandledrejection", "unload", "volumechange", "waiting", "wheel",
    "webkitanimationend", "webkitanimationstart", "webkittransitionend", "securitypolicyviolation",
    "contentvisibilityautostatechange", "message", "afterupdate", "beforeupdate", "filterchange",
    "propertychange", "help", "losecapture", "rowenter", "rowexit", "mozfullscreenchange",
];

/// Tags that are dangerous by their mere presence in user input.
fn dangerous_tag(name: &[u8]) -> bool {
    let base = match name.iter().rposition(|&b| b == b':') {
        Some(p) => &name[p + 1..],
        None => name,
    };
    matches!(
        base,
        b"script" | b"iframe" | b"frame" | b"frameset" | b"object" | b"embed" | b"applet"
            | b"base" | b"meta" | b"isindex" | b"math" | b"portal" | b"xss" | b"import"
            | b"handler" | b"listener"
    )
}

/// Closing tags that end a raw-text or escapable context.
fn context_closer(name: &[u8]) -> bool {
    matches!(
        name,
        b"script" | b"textarea" | b"title" | b"style" | b"noscript" | b"iframe" | b"xmp"
            | b"noembed" | b"noframes" | b"plaintext" | b"template" | b"math" | b"svg" | b"select"
            | b"option"
    )
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `on<letters>` then optional space then `=`, at `i`. Returns the name.
fn handler_at(b: &[u8], i: usize) -> Option<&[u8]> {
    if !b[i..].starts_with(b"on") {
        return None;
    }
    let mut j = i + 2;
    while j < b.len() && b[j].is_ascii_alphabetic() {
        j += 1;
    }
    if j - (i + 2) < 3 {
        return None;
    }
    let name = &b[i + 2..j];
    while j < b.len() && (is_space(b[j]) || b[j] == 0) {
        j += 1;
    }
    if j < b.len() && b[j] == b'=' {
        Some(name)
    } else {
        None
    }
}

fn known_event(name: &[u8]) -> bool {
    EVENTS.iter().any(|e| e.as_bytes() == name)
}

/// Inside a tag starting at `start` (just after the name): an event handler,
/// `srcdoc`, `formaction` with a script URL is reported by the scheme check.
fn tag_attrs(b: &[u8], start: usize) -> bool {
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if c == b'>' || c == b'<' {
            return false;
        }
        let boundary = is_space(c) || matches!(c, b'/' | b'"' | b'\'' | b'`' | 0);
        if boundary && i + 1 < b.len() {
            let j = i + 1;
            if handler_at(b, j).is_some() {
                return true;
            }
            if b[j..].starts_with(b"srcdoc") || b[j..].starts_with(b"xlink:href") && b[j..].len() > 10
            {
                let mut k = j + if b[j] == b's' { 6 } else { 10 };
                while k < b.len() && is_space(b[k]) {
                    k += 1;
                }
                if k < b.len() && b[k] == b'=' && b[j] == b's' {
                    return true;
                }
            }
        }
        i += 1;
    }
    false
}

fn tags(b: &[u8]) -> bool {
    for p in memchr_iter(b'<', b) {
        let mut i = p + 1;
        let closing = i < b.len() && b[i] == b'/';
        if closing {
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b':' || b[i] == b'-' || b[i] == b'_') {
            i += 1;
        }
        if i == start || !b[start].is_ascii_alphabetic() {
            continue;
        }
        let name = &b[start..i];
        let after = if i < b.len() { b[i] } else { 0 };
        let tag_end = i == b.len() || is_space(after) || after == b'/' || after == b'>' || after == 0;
        if !tag_end {
            continue;
        }
        if closing {
            if context_closer(name) {
                return true;
            }
            continue;
        }
        if dangerous_tag(name) || tag_attrs(b, i) {
            return true;
        }
    }
    false
}

/// `"><x`, `'><x`, `"/><x`.
fn attr_breakout(b: &[u8]) -> bool {
    for p in memchr_iter(b'>', b) {
        if p == 0 {
            continue;
        }
        let mut q = p - 1;
        if b[q] == b'/' && q > 0 {
            q -= 1;
        }
        if !matches!(b[q], b'"' | b'\'' | b'`') {
            continue;
        }
        let mut j = p + 1;
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        if j + 1 < b.len() && b[j] == b'<' && (b[j + 1].is_ascii_alphabetic() || b[j + 1] == b'!' || b[j + 1] == b'/') {
            return true;
        }
    }
    false
}

/// A handler attribute injected into an existing tag: `" onmouseover=`.
fn injected_handler(b: &[u8]) -> bool {
    let mut from = 0;
    while let Some(off) = super::normalize::find(&b[from..], b"on") {
        let i = from + off;
        from = i + 2;
        let prev = if i > 0 { b[i - 1] } else { b' ' };
        if !(is_space(prev) || matches!(prev, b'"' | b'\'' | b'`' | b'/' | 0)) {
            continue;
        }
        if let Some(name) = handler_at(b, i) {
            if known_event(name) {
                return true;
            }
        }
    }
    false
}

const SCHEMES: &[&[u8]] = &[b"javascript", b"vbscript", b"livescript", b"mocha"];

/// Reads the scheme name ending just before `colon`, skipping tab, newline
/// and NUL as URL parsers do. Returns it reversed into `buf`.
fn scheme_before(b: &[u8], colon: usize, buf: &mut [u8; 24]) -> usize {
    let mut n = 0;
    let mut i = colon;
    let mut steps = 0;
    while i > 0 && steps < 40 {
        i -= 1;
        steps += 1;
        let c = b[i];
        if matches!(c, b'\t' | b'\n' | b'\r' | 0) {
            continue;
        }
        if c.is_ascii_alphabetic() && n < buf.len() {
            buf[n] = c;
            n += 1;
        } else {
            break;
        }
    }
    n
}

fn rev_eq(rev: &[u8], name: &[u8]) -> bool {
    rev.len() == name.len() && rev.iter().rev().eq(name.iter())
}

/// After `javascript:`: code, not prose.
fn code_follows(b: &[u8], mut j: usize) -> bool {
    while j < b.len() && matches!(b[j], b'\t' | b'\n' | b'\r' | 0) {
        j += 1;
    }
    if j >= b.len() {
        return false;
    }
    if !is_space(b[j]) {
        return true;
    }
    while j < b.len() && is_space(b[j]) {
        j += 1;
    }
    if j >= b.len() {
        return false;
    }
    if !b[j].is_ascii_alphabetic() {
        return !b[j].is_ascii_digit();
    }
    while j < b.len() && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'_' | b'$' | b'.')) {
        j += 1;
    }
    j < b.len() && matches!(b[j], b'(' | b'=' | b'`' | b'[')
}

fn schemes(b: &[u8]) -> bool {
    let mut buf = [0u8; 24];
    for colon in memchr_iter(b':', b) {
        let n = scheme_before(b, colon, &mut buf);
        if n < 4 {
            continue;
        }
        let rev = &buf[..n];
        if SCHEMES.iter().any(|s| rev_eq(rev, s)) {
            if code_follows(b, colon + 1) {
                return true;
            }
            continue;
        }
        if rev_eq(rev, b"data") {
            let mut j = colon + 1;
            while j < b.len() && is_space(b[j]) {
                j += 1;
            }
            let rest = &b[j..];
            if [&b"text/html"[..], b"application/xhtml", b"image/svg", b"text/xml", b"text/javascript", b"application/javascript", b"application/x-javascript", b"text/xsl"]
                .iter()
                .any(|m| rest.starts_with(m))
            {
                return true;
            }
        }
    }
    false
}

fn css(b: &[u8]) -> bool {
    // `expression` + spaces + `(`: found from each `(` looking back, as
    // values hold few parentheses and many `e`s.
    for j in memchr_iter(b'(', b) {
        let mut e = j;
        while e > 0 && is_space(b[e - 1]) {
            e -= 1;
        }
        if e < 10 || &b[e - 10..e] != b"expression" {
            continue;
        }
        let i = e - 10;
        let mut k = i;
        while k > 0 && is_space(b[k - 1]) {
            k -= 1;
        }
        if k > 0 && matches!(b[k - 1], b':' | b'=' | b'"' | b'\'' | b'{') {
            return true;
        }
    }
    super::normalize::find(b, b"-moz-binding").is_some()
        || memchr(b':', b).is_some() && [&b"behavior"[..], b"behaviour"].iter().any(|w| {
            super::normalize::find_iter(b, w).any(|i| {
                let mut j = i + w.len();
                while j < b.len() && is_space(b[j]) {
                    j += 1;
                }
                j < b.len() && b[j] == b':'
            })
        })
}

const SINKS: &[&[u8]] = &[
    b"alert", b"prompt", b"confirm", b"eval", b"settimeout", b"setinterval", b"fetch",
    b"import", b"function", b"document.write", b"document.location", b"window.location",
    b"location.href", b"document.cookie", b"top[", b"self[", b"this[", b"window[",
    b"constructor", b"print", b"open",
];

/// A script-context breakout: a quote, then punctuation, then a sink call.
fn script_breakout(b: &[u8]) -> bool {
    for q in 0..b.len() {
        if !matches!(b[q], b'"' | b'\'' | b'`') {
            continue;
        }
        let mut j = q + 1;
        let mut punct = 0;
        while j < b.len() && j - q < 12 {
            let c = b[j];
            if is_space(c) || c == b'\\' {
                j += 1;
            } else if matches!(c, b';' | b'-' | b'+' | b'*' | b'/' | b'%' | b')' | b'}' | b']' | b',' | b'|' | b'&' | b'^' | b'?' | b':') {
                punct += 1;
                j += 1;
            } else {
                break;
            }
        }
        if punct == 0 || j >= b.len() {
            continue;
        }
        let rest = &b[j..];
        for s in SINKS {
            if rest.starts_with(s) {
                let mut k = j + s.len();
                while k < b.len() && is_space(b[k]) {
                    k += 1;
                }
                if s.ends_with(b"[") || (k < b.len() && matches!(b[k], b'(' | b'`' | b'=' | b'.')) {
                    return true;
                }
            }
        }
    }
    false
}

/// Whether `s` (normalised, lower case) is an XSS payload.
#[cfg(test)]
pub(crate) fn is_xss(s: &str, sens: u8) -> bool {
    is_xss_classes(s, super::prefilter::classes(s.as_bytes()), sens)
}

/// [`is_xss`] given the byte classes `m` of `s`.
pub(crate) fn is_xss_classes(s: &str, m: u64, sens: u8) -> bool {
    use super::prefilter::{BTICK, COLON, DQUOTE, EQ, LPAR, LT, SQUOTE};
    let b = s.as_bytes();
    if m & LT != 0 && (tags(b) || attr_breakout(b)) {
        return true;
    }
    if m & EQ != 0 && injected_handler(b) {
        return true;
    }
    if m & COLON != 0 && schemes(b) {
        return true;
    }
    if m & LPAR != 0 && css(b) {
        return true;
    }
    if sens >= 2 && m & (DQUOTE | SQUOTE | BTICK) != 0 && script_breakout(b) {
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts() {
        for s in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "<svg/onload=alert(1)>",
            "\"><b>",
            "java\tscript:alert(1)",
            "\" autofocus onfocus=alert(1) x=\"",
            "';alert(1)//",
            "<div style=\"width: expression(alert(1))\">",
        ] {
            assert!(is_xss(s, 2), "{}", s);
        }
        for s in ["a < b > c", "i <3 you", "if (a<b && c>d)", "javascript: the good parts", "<b>bold</b>"] {
            assert!(!is_xss(s, 2), "{}", s);
        }
    }
}
