//! The bot table: entries parsed from `data/bots/bots.tsv`, one shared
//! literal prefilter, and each entry's regex compiled on first use.
//!
//! Built once per process and shared by every rule set. Every entry has
//! prefilter keys, 4-byte lower-case substrings one of which any match of its
//! pattern contains (chosen by scripts/gen_bot_data.py). A User-Agent is
//! lower-cased (ASCII) and each of its 4-byte windows is looked up, through a
//! 64 Kbit bitmap first, in a sorted key table; only the entries whose key
//! occurs are confirmed with their (case-sensitive, exact) regex. A typical
//! browser UA contains no key, so it costs one pass of bit tests.
//!
//! This index builds in tens of microseconds; an Aho-Corasick automaton over
//! the whole literals took 1.5 ms (6 ms ASCII-case-insensitive), too much for
//! the first rule set compiled in a process.

use std::collections::HashMap;

use memchr::memmem;
use once_cell::sync::OnceCell;
use regex::Regex;

/// The generated table (see scripts/gen_bot_data.py for the columns).
const DATA: &str = include_str!("../../../data/bots/bots.tsv");

/// Bot categories, in bit order. `UNKNOWN` is the category of a request with
/// no User-Agent; `OTHER` is for entries the source list leaves untagged.
pub(crate) const CATEGORIES: &[&str] = &[
    "SEARCH_ENGINE",
    "AI_CRAWLER",
    "MONITOR",
    "SEO",
    "SCANNER",
    "HTTP_LIBRARY",
    "FEED_READER",
    "SOCIAL_PREVIEW",
    "ARCHIVER",
    "BROWSER_AUTOMATION",
    "ADVERTISING",
    "ACADEMIC",
    "OTHER",
    "UNKNOWN",
];

/// The bit of a category name.
pub(crate) fn category_bit(name: &str) -> Option<u16> {
    CATEGORIES.iter().position(|c| *c == name).map(|i| 1u16 << i)
}

pub(crate) const UNKNOWN_BIT: u16 = 1 << 13;
const TOOLING: u16 = (1 << 5) | (1 << 9); // HTTP_LIBRARY | BROWSER_AUTOMATION

/// One bot of the table.
pub(crate) struct Entry {
    pub(crate) name: &'static str,
    pub(crate) categories: u16,
    pub(crate) pattern: &'static str,
    /// Rank among several matching entries: lower wins.
    rank: (bool, std::cmp::Reverse<usize>, usize),
    regex: OnceCell<Option<Regex>>,
}

impl Entry {
    /// Whether the entry's regex matches. A pattern that does not compile
    /// (caught by the table's tests, never expected) matches nothing.
    pub(crate) fn is_match(&self, ua: &str) -> bool {
        self.regex.get_or_init(|| Regex::new(self.pattern).ok()).as_ref().map_or(false, |r| r.is_match(ua))
    }

    /// Compiles the regex now, returning its error if any (for tests).
    #[cfg(test)]
    pub(crate) fn compile(&self) -> Result<(), regex::Error> {
        Regex::new(self.pattern).map(|_| ())
    }
}

/// Every entry, the prefilter, and the name index.
pub(crate) struct Table {
    pub(crate) entries: Vec<Entry>,
    /// 4-byte keys (little-endian) and the entry requiring each, sorted.
    keys: Vec<(u32, u16)>,
    /// Bit `hash(key)` is set for every key in `keys`.
    bloom: Vec<u64>,
    /// Literals that are not 4 bytes long, searched one by one (few).
    others: Vec<(memmem::Finder<'static>, u16)>,
    /// Entries without a literal: always confirmed (none at present).
    always: Vec<u16>,
    by_name: HashMap<&'static str, u16>,
}

const BLOOM_BITS: u32 = 16;

fn key_hash(k: u32) -> usize {
    (k.wrapping_mul(0x9E37_79B1) >> (32 - BLOOM_BITS)) as usize
}

static TABLE: OnceCell<Table> = OnceCell::new();

/// The process-wide table, built on first use.
pub(crate) fn table() -> &'static Table {
    TABLE.get_or_init(Table::build)
}

impl Table {
    fn build() -> Table {
        let mut entries = Vec::with_capacity(1600);
        let mut keys = Vec::with_capacity(1600);
        let mut bloom = vec![0u64; 1 << (BLOOM_BITS - 6)];
        let mut others = Vec::new();
        let mut always = Vec::new();
        let mut by_name = HashMap::with_capacity(1600);
        for line in DATA.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut cols = line.split('\t');
            let (name, cats, pattern) = match (cols.next(), cols.next(), cols.next()) {
                (Some(n), Some(c), Some(p)) => (n, c, p),
                _ => continue, // the generator never writes such a line
            };
            let id = entries.len() as u16;
            let categories = cats.split(',').filter_map(category_bit).fold(0, |a, b| a | b);
            let mut any = false;
            for lit in cols {
                any = true;
                match <[u8; 4]>::try_from(lit.as_bytes()) {
                    Ok(b) => {
                        let k = u32::from_le_bytes(b);
                        let h = key_hash(k);
                        bloom[h >> 6] |= 1 << (h & 63);
                        keys.push((k, id));
                    }
                    Err(_) => others.push((memmem::Finder::new(lit.as_bytes()), id)),
                }
            }
            if !any {
                always.push(id);
            }
            // The bot's own identity beats the library or browser it runs
            // on, then the longer pattern (more specific), then table order.
            let rank = (categories & !TOOLING == 0, std::cmp::Reverse(pattern.len()), id as usize);
            by_name.insert(name, id);
            entries.push(Entry { name, categories, pattern, rank, regex: OnceCell::new() });
        }
        keys.sort_unstable();
        Table { entries, keys, bloom, others, always, by_name }
    }

    /// The entry with this name.
    pub(crate) fn by_name(&self, name: &str) -> Option<u16> {
        self.by_name.get(name).copied()
    }

    /// Every entry matching `ua`, the most specific first. Allocates only
    /// when some prefilter literal occurs.
    pub(crate) fn detect(&self, ua: &str) -> Vec<u16> {
        let mut cands: Vec<u16> = self.always.clone();
        let mut stack = [0u8; 512];
        let mut heap = Vec::new();
        let lower: &mut [u8] = if ua.len() <= stack.len() {
            &mut stack[..ua.len()]
        } else {
            heap.resize(ua.len(), 0);
            &mut heap
        };
        lower.copy_from_slice(ua.as_bytes());
        lower.make_ascii_lowercase();
        let lower = &*lower;
        for w in lower.windows(4) {
            let k = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let h = key_hash(k);
            if self.bloom[h >> 6] & (1 << (h & 63)) == 0 {
                continue;
            }
            let start = self.keys.partition_point(|&(x, _)| x < k);
            for &(x, id) in &self.keys[start..] {
                if x != k {
                    break;
                }
                cands.push(id);
            }
        }
        for (finder, id) in &self.others {
            if finder.find(lower).is_some() {
                cands.push(*id);
            }
        }
        if cands.is_empty() {
            return cands;
        }
        cands.sort_unstable();
        cands.dedup();
        cands.retain(|&id| self.entries[id as usize].is_match(ua));
        cands.sort_by_key(|&id| self.entries[id as usize].rank);
        cands
    }

    /// The closest entry name to a misspelt one, for error messages.
    pub(crate) fn closest_name(&self, name: &str) -> Option<&'static str> {
        let mut best: Option<(usize, &'static str)> = None;
        for e in &self.entries {
            let d = edit_distance(name, e.name);
            if d <= 2 && best.map_or(true, |(bd, bn)| (d, e.name) < (bd, bn)) {
                best = Some((d, e.name));
            }
        }
        best.map(|(_, n)| n)
    }
}

/// Levenshtein distance (only used on the error path).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
