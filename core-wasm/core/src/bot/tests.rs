use super::table::{table, CATEGORIES};
use super::*;

const INSTANCES: &str = include_str!("../../../data/bots/instances.tsv");
const BROWSERS: &str = include_str!("../../../data/bots/browsers.txt");

fn rule(config: &str) -> BotRule {
    BotRule::from_config(&serde_json::from_str(config).unwrap()).unwrap()
}

fn config_err(config: &str) -> ConfigError {
    BotRule::from_config(&serde_json::from_str(config).unwrap()).unwrap_err()
}

fn req(ua: Option<&str>) -> Request<'static> {
    let mut r = Request::default();
    if let Some(ua) = ua {
        r.headers.push(("user-agent".into(), ua.to_string().into()));
    }
    r
}

fn reason(r: &RuleResult) -> Value {
    serde_json::from_str(&r.reason).expect("reason is JSON")
}

fn lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines().filter(|l| !l.is_empty() && !l.starts_with('#'))
}

#[test]
fn every_pattern_compiles_as_a_rust_regex() {
    let bad: Vec<_> = table().entries.iter().filter(|e| e.compile().is_err()).map(|e| e.pattern).collect();
    assert!(bad.is_empty(), "patterns that do not compile: {:?}", bad);
}

#[test]
fn every_source_sample_is_detected_with_its_entry_and_categories() {
    let t = table();
    let mut n = 0;
    let mut failures = Vec::new();
    for line in lines(INSTANCES) {
        let (name, ua) = line.split_once('\t').expect("NAME<TAB>UA");
        let id = t.by_name(name).expect("sample names an entry");
        let found = t.detect(ua);
        if !found.contains(&id) {
            failures.push(format!("{} not detected in {:?} (found {:?})", name, ua, found));
        }
        // The reason's categories include the entry's own.
        let r = rule(r#"{"deny":["CATEGORY:UNKNOWN"]}"#).evaluate(&req(Some(ua)));
        let cats = reason(&r)["categories"].as_array().unwrap().clone();
        for (i, c) in CATEGORIES.iter().enumerate() {
            if t.entries[id as usize].categories & (1 << i) != 0 && !cats.contains(&Value::from(*c)) {
                failures.push(format!("{}: category {} missing for {:?}", name, c, ua));
            }
        }
        n += 1;
    }
    assert!(n > 2000, "corpus has {} samples", n);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn browser_corpus_is_never_a_bot() {
    let r = rule(r#"{"allow":["CATEGORY:SEARCH_ENGINE"]}"#);
    let mut n = 0;
    for ua in lines(BROWSERS) {
        assert!(table().detect(ua).is_empty(), "browser detected as a bot: {:?}", ua);
        let res = r.evaluate(&req(Some(ua)));
        assert_eq!(res.conclusion, Conclusion::Allow, "{}", ua);
        assert_eq!(reason(&res)["bot"], Value::Null);
        n += 1;
    }
    assert!(n >= 40, "browser corpus has {} UAs", n);
}

#[test]
fn deny_list_denies_a_listed_name() {
    let r = rule(r#"{"kind":"bot","mode":"LIVE","deny":["CURL"]}"#);
    let res = r.evaluate(&req(Some("curl/8.4.0")));
    assert_eq!(res.conclusion, Conclusion::Deny);
    let v = reason(&res);
    assert_eq!(v["type"], "BOT");
    assert_eq!(v["bot"], "CURL");
    assert_eq!(v["categories"], serde_json::json!(["HTTP_LIBRARY"]));
    assert_eq!(v["denied"], true);
    assert_eq!(v["matched"], "CURL");
    assert_eq!(r.evaluate(&req(Some("python-requests/2.31.0"))).conclusion, Conclusion::Allow);
}

#[test]
fn deny_list_denies_a_listed_category() {
    let r = rule(r#"{"deny":["CATEGORY:HTTP_LIBRARY","CATEGORY:AI_CRAWLER"]}"#);
    assert_eq!(r.evaluate(&req(Some("python-requests/2.31.0"))).conclusion, Conclusion::Deny);
    let gpt = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; +https://openai.com/gptbot)";
    assert_eq!(r.evaluate(&req(Some(gpt))).conclusion, Conclusion::Deny);
    let google = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let res = r.evaluate(&req(Some(google)));
    assert_eq!(res.conclusion, Conclusion::Allow);
    assert_eq!(reason(&res)["bot"], "GOOGLEBOT");
    assert_eq!(reason(&res)["denied"], false);
}

#[test]
fn allow_list_denies_every_other_bot() {
    let r = rule(r#"{"allow":["CATEGORY:SEARCH_ENGINE","CURL"]}"#);
    let google = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let res = r.evaluate(&req(Some(google)));
    assert_eq!(res.conclusion, Conclusion::Allow);
    assert_eq!(reason(&res)["matched"], "CATEGORY:SEARCH_ENGINE");
    assert_eq!(r.evaluate(&req(Some("curl/7.88.1"))).conclusion, Conclusion::Allow);
    let res = r.evaluate(&req(Some("sqlmap/1.7.2#stable (https://sqlmap.org)")));
    assert_eq!(res.conclusion, Conclusion::Deny);
    assert_eq!(reason(&res)["categories"], serde_json::json!(["SCANNER"]));
    assert_eq!(reason(&res)["matched"], Value::Null);
    // Browsers are not bots: allowed by any allow list.
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    assert_eq!(r.evaluate(&req(Some(chrome))).conclusion, Conclusion::Allow);
}

#[test]
fn missing_or_blank_user_agent_is_the_unknown_bot() {
    for ua in [None, Some(""), Some("   ")] {
        let res = rule(r#"{"deny":["CATEGORY:UNKNOWN"]}"#).evaluate(&req(ua));
        assert_eq!(res.conclusion, Conclusion::Deny, "{:?}", ua);
        let v = reason(&res);
        assert_eq!(v["bot"], "UNKNOWN");
        assert_eq!(v["categories"], serde_json::json!(["UNKNOWN"]));
        assert_eq!(rule(r#"{"deny":["UNKNOWN"]}"#).evaluate(&req(ua)).conclusion, Conclusion::Deny);
        assert_eq!(rule(r#"{"deny":["CURL"]}"#).evaluate(&req(ua)).conclusion, Conclusion::Allow);
        assert_eq!(rule(r#"{"allow":["CURL"]}"#).evaluate(&req(ua)).conclusion, Conclusion::Deny);
        assert_eq!(rule(r#"{"allow":["CATEGORY:UNKNOWN"]}"#).evaluate(&req(ua)).conclusion, Conclusion::Allow);
    }
}

#[test]
fn the_bot_itself_is_named_before_the_library_it_runs_on() {
    let ua = "Mozilla/5.0 (compatible; Go-http-client/1.1; +centurybot9@gmail.com)";
    let v = reason(&rule(r#"{"deny":["GO_HTTP_CLIENT"]}"#).evaluate(&req(Some(ua))));
    assert_eq!(v["bot"], "CENTURYBOT");
    assert_eq!(v["bots"], serde_json::json!(["CENTURYBOT", "GO_HTTP_CLIENT"]));
    // Any matched entry decides: the library is listed, so it is denied.
    assert_eq!(v["denied"], true);
}

#[test]
fn matching_is_exact_after_the_case_insensitive_prefilter() {
    // `^curl` is case-sensitive in the source list.
    assert!(table().detect("CURL/8").is_empty());
    assert!(!table().detect("curl/8").is_empty());
    // `[wW]get` matches either case of the first letter only.
    assert!(!table().detect("Wget/1.21").is_empty());
    assert!(table().detect("WGET/1.21").is_empty());
}

#[test]
fn arcguard_additions_are_detected() {
    let t = table();
    for (ua, name) in [
        ("Nuclei - Open-source project (github.com/projectdiscovery/nuclei)", "NUCLEI"),
        ("Java/17.0.2", "JAVA"),
        ("python-urllib3/2.0.7", "PYTHON_URLLIB3"),
    ] {
        let found = t.detect(ua);
        assert_eq!(t.entries[found[0] as usize].name, name);
    }
}

#[test]
fn config_needs_exactly_one_non_empty_list() {
    let e = config_err(r#"{"kind":"bot"}"#);
    assert_eq!(e.option, "deny");
    let e = config_err(r#"{"allow":[],"deny":[]}"#);
    assert_eq!(e.option, "deny");
    let e = config_err(r#"{"allow":["CURL"],"deny":["WGET"]}"#);
    assert_eq!(e.option, "allow");
    assert!(e.message.contains("not both"));
    let e = config_err(r#"{"deny":"CURL"}"#);
    assert_eq!(e.option, "deny");
}

#[test]
fn config_rejects_unknown_categories_and_names() {
    let e = config_err(r#"{"deny":["CURL","CATEGORY:SEARCH"]}"#);
    assert_eq!(e.option, "deny[1]");
    assert!(e.message.contains("unknown bot category \"SEARCH\""), "{}", e.message);
    let e = config_err(r#"{"allow":["GOOGLBOT"]}"#);
    assert_eq!(e.option, "allow[0]");
    assert!(e.message.contains("unknown bot name \"GOOGLBOT\""), "{}", e.message);
    assert!(e.message.contains("did you mean \"GOOGLEBOT\""), "{}", e.message);
    let e = config_err(r#"{"allow":["googlebot"]}"#);
    assert!(e.message.contains("did you mean \"GOOGLEBOT\""), "{}", e.message);
    let e = config_err(r#"{"deny":["SCANNER"]}"#);
    assert!(e.message.contains("CATEGORY:SCANNER"), "{}", e.message);
    // Every category and a sample of names are accepted.
    for c in CATEGORIES {
        rule(&format!(r#"{{"deny":["CATEGORY:{}"]}}"#, c));
    }
    rule(r#"{"deny":["GOOGLEBOT","CURL","PYTHON_REQUESTS","WGET","HEADLESSCHROME","UNKNOWN"]}"#);
}

/// Timing, not run by default:
/// `cargo test -p arcguard-core --release -- --ignored --nocapture bot_timing`
#[test]
#[ignore]
fn bot_timing() {
    use std::time::Instant;
    let t0 = Instant::now();
    let r = rule(r#"{"deny":["CATEGORY:AI_CRAWLER","CURL"]}"#);
    println!("first rule compile (builds the table): {:?}", t0.elapsed());
    let t0 = Instant::now();
    for _ in 0..100 {
        rule(r#"{"deny":["CATEGORY:AI_CRAWLER","CURL"]}"#);
    }
    println!("later rule compile: {:?}", t0.elapsed() / 100);
    let cases = [
        ("chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
        ("safari-ios", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"),
        ("firefox", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
        ("googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
        ("curl", "curl/8.4.0"),
    ];
    for (label, ua) in cases {
        let rq = req(Some(ua));
        r.evaluate(&rq);
        let n = 100_000;
        let mut sink = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            sink += r.evaluate(&rq).reason.len();
        }
        println!("evaluate {:<10} {:?} ({})", label, t0.elapsed() / n, sink % 7);
    }
}
