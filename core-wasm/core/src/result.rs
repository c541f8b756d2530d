//! Per-rule results and their serialisation for the host.

/// What one rule concluded about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    Allow = 0,
    Deny = 1,
    /// The rule needs shared state or the network: ask the decide service.
    NeedsRemote = 2,
    /// The rule does not apply to this request (e.g. its `match` is false).
    NotRun = 3,
    Error = 4,
}

/// One rule's result: a conclusion and a reason as a JSON object text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleResult {
    pub conclusion: Conclusion,
    /// A JSON object; `{"type": ...}` names the rule family.
    pub reason: String,
}

impl RuleResult {
    pub fn new(conclusion: Conclusion, reason: String) -> Self {
        RuleResult { conclusion, reason }
    }
}

/// Appends `s` to `out` as a JSON string literal.
pub(crate) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Serialises results: `u32 count`, then per rule `u8 conclusion`,
/// `u32 reason length`, reason bytes (all little-endian).
pub fn encode_results(results: &[RuleResult], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(results.len() as u32).to_le_bytes());
    for r in results {
        out.push(r.conclusion as u8);
        out.extend_from_slice(&(r.reason.len() as u32).to_le_bytes());
        out.extend_from_slice(r.reason.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
