//! Documented work limits for every parser and matcher, in one place.

/// Work limits. Exceeding one is a typed error or a stated outcome in a
/// rule's reason, never a hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest filter expression accepted, in bytes.
    pub max_expression_len: usize,
    /// Deepest nesting of parentheses / `not` in a filter expression.
    pub max_expression_depth: usize,
    /// Largest compiled regex (`matches`), in bytes of program.
    pub max_regex_size: usize,
    /// Most request headers the shield inspects (see `on_header_limit`).
    pub max_headers: usize,
    /// Default number of header and cookie value bytes the shield inspects.
    pub header_inspect_bytes: usize,
    /// Most query parameters looked at by the shield.
    pub max_query_params: usize,
    /// Default number of body bytes the shield inspects.
    pub body_inspect_bytes: usize,
    /// Most rounds of percent-decoding applied during normalisation.
    pub max_decode_rounds: usize,
    /// Deepest JSON nesting walked by the shield.
    pub max_json_depth: usize,
    /// Longest single value (query value, header value, JSON string, text
    /// body) the shield inspects, in bytes; the rest of the value is not.
    pub max_value_bytes: usize,
}

/// The defaults used unless a rule overrides them.
pub const DEFAULT_LIMITS: Limits = Limits {
    max_expression_len: 4096,
    max_expression_depth: 32,
    max_regex_size: 256 * 1024,
    max_headers: 128,
    header_inspect_bytes: 64 * 1024,
    max_query_params: 1024,
    body_inspect_bytes: 64 * 1024,
    max_decode_rounds: 4,
    max_json_depth: 32,
    max_value_bytes: 64 * 1024,
};

impl Default for Limits {
    fn default() -> Self {
        DEFAULT_LIMITS
    }
}
