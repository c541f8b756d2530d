//! Bot detection by User-Agent (`detect_bot`).
//!
//! Configuration: `{"kind": "bot", "allow": [...]}` or `{"kind": "bot",
//! "deny": [...]}` (exactly one list, non-empty). Items are
//! `"CATEGORY:<CATEGORY>"` or a bot name (`"GOOGLEBOT"`, `"CURL"`), names
//! being the UPPER_SNAKE names of `data/bots/bots.tsv`.
//!
//! A request may match several entries (`W3C-checklink/4.5 libwww-perl/5.8`
//! is both W3C_CHECKLINK and LIBWWW_PERL). A deny list denies when any
//! matched entry is listed, by name or by one of its categories; an allow
//! list allows when any matched entry is listed and denies every other bot.
//! A missing or blank User-Agent is the bot `UNKNOWN` of category `UNKNOWN`.
//! Requests that match no entry are not bots and are always allowed.

mod table;

use serde_json::Value;

use crate::config::{string_list, ConfigError};
use crate::request::Request;
use crate::result::{json_str, Conclusion, RuleResult};

use table::{category_bit, table, CATEGORIES, UNKNOWN_BIT};

/// One item of an allow or deny list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Category(u16),
    Name(u16),
    /// The name `UNKNOWN`: no User-Agent.
    Unknown,
}

#[derive(Debug)]
pub(crate) struct BotRule {
    /// `true` for an allow list, `false` for a deny list.
    allow: bool,
    items: Vec<(Item, String)>,
}

impl BotRule {
    pub(crate) fn from_config(v: &Value) -> Result<Self, ConfigError> {
        let allow = string_list(v, "allow")?;
        let deny = string_list(v, "deny")?;
        let (is_allow, option, list) = match (allow.is_empty(), deny.is_empty()) {
            (false, true) => (true, "allow", allow),
            (true, false) => (false, "deny", deny),
            (false, false) => {
                return Err(ConfigError::new("allow", "give either `allow` or `deny`, not both"))
            }
            (true, true) => {
                return Err(ConfigError::new("deny", "one of `allow` or `deny` must be a non-empty list"))
            }
        };
        let mut items = Vec::with_capacity(list.len());
        for (i, s) in list.into_iter().enumerate() {
            let item = parse_item(&s).map_err(|m| ConfigError::new(&format!("{}[{}]", option, i), m))?;
            items.push((item, s));
        }
        Ok(BotRule { allow: is_allow, items })
    }

    pub(crate) fn evaluate(&self, req: &Request) -> RuleResult {
        let ua = req.header("user-agent").unwrap_or("");
        let t = table();
        let unknown = ua.trim().is_empty();
        let matched: Vec<u16> = if unknown { Vec::new() } else { t.detect(ua) };
        if !unknown && matched.is_empty() {
            return RuleResult::new(Conclusion::Allow, NOT_A_BOT.to_string());
        }
        // The first listed item that applies to this bot, if any.
        let hit = self.items.iter().find(|(item, _)| match *item {
            Item::Unknown => unknown,
            Item::Category(bit) if unknown => bit & UNKNOWN_BIT != 0,
            Item::Category(bit) => matched.iter().any(|&id| t.entries[id as usize].categories & bit != 0),
            Item::Name(n) => matched.contains(&n),
        });
        let denied = hit.is_some() != self.allow;

        let mut reason = String::with_capacity(128);
        reason.push_str("{\"type\":\"BOT\",\"bot\":");
        let mut cats = 0u16;
        if unknown {
            reason.push_str("\"UNKNOWN\",\"bots\":[\"UNKNOWN\"]");
            cats = UNKNOWN_BIT;
        } else {
            json_str(&mut reason, t.entries[matched[0] as usize].name);
            reason.push_str(",\"bots\":[");
            for (i, &id) in matched.iter().enumerate() {
                if i > 0 {
                    reason.push(',');
                }
                let e = &t.entries[id as usize];
                json_str(&mut reason, e.name);
                cats |= e.categories;
            }
            reason.push(']');
        }
        reason.push_str(",\"categories\":[");
        let mut first = true;
        for (i, c) in CATEGORIES.iter().enumerate() {
            if cats & (1 << i) != 0 {
                if !first {
                    reason.push(',');
                }
                first = false;
                json_str(&mut reason, c);
            }
        }
        reason.push_str("],\"denied\":");
        reason.push_str(if denied { "true" } else { "false" });
        reason.push_str(",\"matched\":");
        match hit {
            Some((_, s)) => json_str(&mut reason, s),
            None => reason.push_str("null"),
        }
        reason.push('}');
        let c = if denied { Conclusion::Deny } else { Conclusion::Allow };
        RuleResult::new(c, reason)
    }
}

const NOT_A_BOT: &str =
    "{\"type\":\"BOT\",\"bot\":null,\"bots\":[],\"categories\":[],\"denied\":false,\"matched\":null}";

fn parse_item(s: &str) -> Result<Item, String> {
    if let Some(cat) = s.strip_prefix("CATEGORY:") {
        return category_bit(cat).map(Item::Category).ok_or_else(|| {
            format!("unknown bot category {:?}; known: {}", cat, CATEGORIES.join(", "))
        });
    }
    if s == "UNKNOWN" {
        return Ok(Item::Unknown);
    }
    let t = table();
    if let Some(id) = t.by_name(s) {
        return Ok(Item::Name(id));
    }
    let mut msg = format!("unknown bot name {:?}", s);
    let upper = s.to_ascii_uppercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    if category_bit(&upper).is_some() {
        msg.push_str(&format!(" (for the category write \"CATEGORY:{}\")", upper));
    } else if let Some(g) = t.by_name(&upper).map(|id| t.entries[id as usize].name).or_else(|| t.closest_name(&upper)) {
        msg.push_str(&format!(" (did you mean {:?}?)", g));
    }
    Err(msg)
}

#[cfg(test)]
mod tests;
