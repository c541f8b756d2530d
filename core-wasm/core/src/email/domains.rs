//! Domain lists compiled into the core: the Public Suffix List, disposable
//! email domains and free email providers (see `data/email/` and
//! scripts/gen_email_data.py for their sources and dates).
//!
//! Each list is a sorted table of `&'static str` slices of the embedded text,
//! made on first use (no copy of the text) and searched by binary search.
//!
//! A domain is on a list when it, or a parent of it down to its registrable
//! domain, is listed: `x.mailinator.com` is disposable because
//! `mailinator.com` is listed, while `mailinator.com.example.org` is not
//! (its registrable domain is `example.org`, and `mailinator.com.example.org`,
//! `com.example.org`, `example.org` are not listed).

use once_cell::sync::OnceCell;

const SUFFIXES: &str = include_str!("../../../data/email/public_suffixes.txt");
const DISPOSABLE: &str = include_str!("../../../data/email/disposable.txt");
const FREE: &str = include_str!("../../../data/email/free_providers.txt");

/// A sorted table of the non-comment lines of an embedded text.
pub(crate) struct Sorted {
    items: Vec<&'static str>,
}

impl Sorted {
    fn from_text(text: &'static str) -> Sorted {
        let mut items: Vec<&'static str> =
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        if !items.windows(2).all(|w| w[0] < w[1]) {
            items.sort_unstable();
            items.dedup();
        }
        Sorted { items }
    }

    pub(crate) fn contains(&self, s: &str) -> bool {
        self.items.binary_search(&s).is_ok()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.items.iter().copied()
    }
}

static SUFFIX_TABLE: OnceCell<Sorted> = OnceCell::new();
static DISPOSABLE_TABLE: OnceCell<Sorted> = OnceCell::new();
static FREE_TABLE: OnceCell<Sorted> = OnceCell::new();

pub(crate) fn suffixes() -> &'static Sorted {
    SUFFIX_TABLE.get_or_init(|| Sorted::from_text(SUFFIXES))
}

pub(crate) fn disposable() -> &'static Sorted {
    DISPOSABLE_TABLE.get_or_init(|| Sorted::from_text(DISPOSABLE))
}

pub(crate) fn free() -> &'static Sorted {
    FREE_TABLE.get_or_init(|| Sorted::from_text(FREE))
}

/// Byte offsets where each label of `domain` starts (0, then after each dot).
fn label_starts(domain: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(domain.match_indices('.').map(|(i, _)| i + 1));
    starts
}

/// The registrable domain (public suffix plus one label) of a lower-case
/// ASCII domain, by the PSL algorithm (https://publicsuffix.org/list/): the
/// matching exception rule wins, else the matching rule with the most labels,
/// else `*` (the last label). None when the domain is itself a public suffix.
pub(crate) fn registrable(domain: &str) -> Option<&str> {
    let table = suffixes();
    let starts = label_starts(domain);
    let n = starts.len();
    let mut suffix_labels = 1;
    let mut probe = String::with_capacity(domain.len() + 2);
    for (i, &at) in starts.iter().enumerate() {
        let cand = &domain[at..];
        probe.clear();
        probe.push('!');
        probe.push_str(cand);
        if table.contains(&probe) {
            suffix_labels = n - i - 1;
            break;
        }
        if table.contains(cand) {
            suffix_labels = suffix_labels.max(n - i);
        }
        if i + 1 < n {
            probe.clear();
            probe.push_str("*.");
            probe.push_str(&domain[starts[i + 1]..]);
            if table.contains(&probe) {
                suffix_labels = suffix_labels.max(n - i);
            }
        }
    }
    if n <= suffix_labels {
        return None;
    }
    Some(&domain[starts[n - suffix_labels - 1]..])
}

/// The entry of `list` that `domain` falls under: the domain itself or a
/// parent down to `registrable` (the whole domain when it has none).
pub(crate) fn listed<'d>(list: &Sorted, domain: &'d str, registrable: Option<&str>) -> Option<&'d str> {
    let floor = registrable.map_or(domain.len(), str::len);
    for at in label_starts(domain) {
        let cand = &domain[at..];
        if cand.len() < floor {
            break;
        }
        if list.contains(cand) {
            return Some(cand);
        }
    }
    None
}
