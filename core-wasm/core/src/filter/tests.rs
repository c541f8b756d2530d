use super::*;
use crate::limits::DEFAULT_LIMITS;

fn request() -> Request<'static> {
    Request {
        ip: "203.0.113.7".into(),
        method: "POST".into(),
        host: "shop.example.com".into(),
        path: "/admin/Caf%C3%A9%20Menu".into(),
        query: "q=caf%C3%A9+au+lait&page=2&page=3&empty=&flag".into(),
        body: b"{\"user\":\"alice\"}",
        headers: vec![
            ("user-agent".into(), "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0".into()),
            ("referer".into(), "https://example.com/start".into()),
            ("x-api-key".into(), "SeCrEt".into()),
            ("content-length".into(), "1024".into()),
            ("cookie".into(), "session=abc123; theme=dark".into()),
            ("x-api-key".into(), "second".into()),
        ],
        extras: vec![("userId".into(), "u-42".into()), ("plan".into(), "pro".into())],
    }
}

fn eval(src: &str, req: &Request) -> bool {
    match Expr::parse(src, &DEFAULT_LIMITS) {
        Ok(e) => e.eval(req),
        Err((m, p)) => panic!("{:?} does not parse: {} at position {}", src, m, p),
    }
}

fn err(src: &str) -> (String, usize) {
    match Expr::parse(src, &DEFAULT_LIMITS) {
        Ok(_) => panic!("{:?} parsed", src),
        Err(e) => e,
    }
}

#[test]
fn expression_table() {
    let req = request();
    let v6 = Request { ip: "2001:db8:1234::1".into(), ..request() };
    let internal = Request { ip: "10.20.30.40".into(), ..request() };
    let cases: &[(&str, &Request, bool)] = &[
        // The example of the docs.
        (r#"http.request.uri.path matches "^/admin" and not ip.src in {10.0.0.0/8}"#, &req, true),
        (r#"http.request.uri.path matches "^/admin" and not ip.src in {10.0.0.0/8}"#, &internal, false),
        // Equality, both spellings.
        (r#"http.request.method == "POST""#, &req, true),
        (r#"http.request.method eq "GET""#, &req, false),
        (r#"http.request.method != "GET""#, &req, true),
        (r#"http.request.method ne "POST""#, &req, false),
        (r#"http.host == "shop.example.com""#, &req, true),
        // URI fields.
        (r#"http.request.uri == "/admin/Caf%C3%A9%20Menu?q=caf%C3%A9+au+lait&page=2&page=3&empty=&flag""#, &req, true),
        (r#"http.request.uri.path == "/admin/Café Menu""#, &req, true),
        (r#"http.request.uri.path.raw == "/admin/Caf%C3%A9%20Menu""#, &req, true),
        (r#"http.request.uri.query contains "page=2""#, &req, true),
        (r#"http.request.uri.args["q"] == "café au lait""#, &req, true),
        (r#"http.request.uri.args["page"] == "2""#, &req, true),
        (r#"http.request.uri.args["empty"] == """#, &req, true),
        (r#"http.request.uri.args["missing"] == """#, &req, true),
        (r#"url_decode(http.request.uri.query) contains "café au lait""#, &req, true),
        // Headers: names are case-insensitive, the first value counts.
        (r#"http.request.headers["X-API-Key"] == "SeCrEt""#, &req, true),
        (r#"http.request.headers["x-api-key"] == "second""#, &req, false),
        (r#"lower(http.request.headers["x-api-key"]) == "secret""#, &req, true),
        (r#"upper(http.request.headers["x-api-key"]) == "SECRET""#, &req, true),
        (r#"http.request.headers["x-missing"] == """#, &req, true),
        (r#"http.user_agent contains "Firefox""#, &req, true),
        (r#"http.referer matches "^https://example\.com/""#, &req, true),
        (r#"http.cookie contains "theme=dark""#, &req, true),
        (r#"http.request.cookies["session"] == "abc123""#, &req, true),
        (r#"http.request.cookies["theme"] in {"light" "dark"}"#, &req, true),
        (r#"http.request.body.raw contains "alice""#, &req, true),
        // Local fields.
        (r#"local.userId == "u-42""#, &req, true),
        (r#"local["plan"] in {"pro", "team"}"#, &req, true),
        (r#"local.missing == """#, &req, true),
        // Numeric and lexicographic ordering.
        (r#"http.request.headers["content-length"] > 1000"#, &req, true),
        (r#"http.request.headers["content-length"] > "999""#, &req, true),
        (r#"http.request.headers["content-length"] <= 1024.0"#, &req, true),
        (r#"http.request.headers["content-length"] lt 100"#, &req, false),
        (r#"http.request.headers["content-length"] == 1024.0"#, &req, true),
        (r#"http.request.headers["content-length"] == "1024.0""#, &req, false),
        (r#"http.host < "tea""#, &req, true),
        (r#"http.host ge "shop""#, &req, true),
        // len().
        (r#"len(http.request.method) == 4"#, &req, true),
        (r#"len(http.request.headers["x-none"]) == 0"#, &req, true),
        (r#"len(http.user_agent) in {1..10 40..60}"#, &req, true),
        (r#"len(http.user_agent) > 100"#, &req, false),
        // starts_with / ends_with.
        (r#"starts_with(http.request.uri.path, "/admin/")"#, &req, true),
        (r#"ends_with(lower(http.host), ".example.com")"#, &req, true),
        (r#"not ends_with(http.host, ".org")"#, &req, true),
        // Sets of strings, `not in`.
        (r#"http.request.method in {"GET" "HEAD"}"#, &req, false),
        (r#"http.request.method not in {"GET" "HEAD"}"#, &req, true),
        (r#"http.request.method in {"A" "B" "C" "D" "E" "F" "G" "H" "I" "POST"}"#, &req, true),
        // IP addresses and ranges, IPv4 and IPv6.
        (r#"ip.src == 203.0.113.7"#, &req, true),
        (r#"ip.src != 203.0.113.7"#, &req, false),
        (r#"ip.src in {10.0.0.0/8 192.168.1.1 203.0.113.0/24}"#, &req, true),
        (r#"ip.src in {10.0.0.0/8, 192.168.1.1}"#, &req, false),
        (r#"ip.src in {2001:db8::/32}"#, &req, false),
        (r#"ip.src in {2001:db8::/32}"#, &v6, true),
        (r#"ip.src in {2001:db9::/32 10.0.0.0/8}"#, &v6, false),
        (r#"ip.src == 2001:db8:1234::1"#, &v6, true),
        (r#"ip.src in {::ffff:203.0.113.0/120}"#, &req, true),
        (r#"ip.src not in {0.0.0.0/0}"#, &req, false),
        // Boolean structure and precedence: not > and > xor > or.
        (r#"http.request.method == "GET" or http.host == "shop.example.com""#, &req, true),
        (r#"http.request.method == "GET" || http.request.method == "PUT""#, &req, false),
        (r#"http.request.method == "POST" && http.host contains "shop""#, &req, true),
        (r#"http.request.method == "POST" xor http.host contains "shop""#, &req, false),
        (r#"http.request.method == "POST" ^^ http.host contains "nope""#, &req, true),
        (r#"http.request.method == "GET" and http.host == "x" or ip.src == 203.0.113.7"#, &req, true),
        (r#"http.request.method == "GET" and (http.host == "x" or ip.src == 203.0.113.7)"#, &req, false),
        (r#"not http.request.method == "GET" and not http.host == "x""#, &req, true),
        (r#"!(http.request.method == "POST")"#, &req, false),
        (r#"not not http.request.method == "POST""#, &req, true),
        // Regexes: matches and ~, raw strings, escaped quotes.
        (r#"http.request.uri.path ~ "^/admin/""#, &req, true),
        (r#"http.request.uri.path matches "(?i)^/ADMIN""#, &req, true),
        (r#"http.request.uri.query matches r"page=\d+""#, &req, true),
        (r##"http.request.body.raw matches r#""user":"alice""#"##, &req, true),
        (r#"http.request.body.raw matches "\"user\"""#, &req, true),
        (r#"http.request.body.raw contains "\"user\"""#, &req, true),
        // String escapes.
        (r#"http.request.method != "a\\b\n\t\x41""#, &req, true),
    ];
    for (src, req, want) in cases {
        assert_eq!(eval(src, req), *want, "{}", src);
    }
}

#[test]
fn missing_and_unparsable_client_ip() {
    let req = Request { ip: "".into(), ..request() };
    assert!(!eval("ip.src == 1.2.3.4", &req));
    assert!(eval("ip.src != 1.2.3.4", &req));
    assert!(!eval("ip.src in {0.0.0.0/0 ::/0}", &req));
}

#[test]
fn parse_errors_name_what_was_expected_and_where() {
    let cases: &[(&str, &str, usize)] = &[
        ("http.host", "expected an operator after field http.host", 9),
        ("http.host ", "expected an operator after field http.host", 10),
        ("http.host \"x\"", "expected an operator after field http.host, found `\"x\"`", 10),
        ("http.hots == \"x\"", "unknown field \"http.hots\" (did you mean \"http.host\"?)", 0),
        ("  nope == 1", "unknown field \"nope\"", 2),
        ("", "expected a field, a function, `not` or `(`, found the end of the expression", 0),
        ("http.host == ", "expected a quoted string or a number, found the end of the expression", 13),
        ("http.host == \"x", "unterminated string", 13),
        ("http.host == \"\\q\"", "unknown escape `\\q`", 14),
        ("(http.host == \"x\"", "expected `)` to close the `(` at position 0", 17),
        ("http.host == \"x\")", "unbalanced `)`", 16),
        ("http.host == \"x\" http.host", "expected `and`, `or`, `xor` or the end of the expression", 17),
        ("http.host == \"x\" and", "expected a field", 20),
        ("ip.src contains 3", "ip.src is an IP address", 7),
        ("ip.src matches \"x\"", "ip.src is an IP address", 7),
        ("ip.src == \"1.2.3.4\"", "expected an IP address", 10),
        ("ip.src in {1.2.3.4/33}", "invalid prefix length (0 to 32)", 11),
        ("ip.src in {10.0.0.0/8 nope}", "expected an IP address or a CIDR range, found `nope`", 22),
        ("http.host in {10.0.0.0/8}", "expected a quoted string or a number in the set, found `10.0.0.0/8`", 14),
        ("http.host in {}", "the set is empty", 13),
        ("http.host in {\"a\"", "expected `}` to close the set opened at position 13", 17),
        ("http.host in \"a\"", "expected `{` to start a set", 13),
        ("http.host == 10.0.0.1", "expected a quoted string or a number, found `10.0.0.1`", 13),
        ("http.host contains 3", "expected a quoted string after `contains`", 19),
        ("len(http.host) contains \"a\"", "len(http.host) is an integer", 15),
        ("len(http.host) == \"a\"", "expected an integer to compare with len(http.host)", 18),
        ("http.request.headers == \"x\"", "field http.request.headers needs a key in brackets", 21),
        ("http.request.headers[x] == \"x\"", "expected a quoted key", 21),
        ("http.request.headers[\"x\" == \"x\"", "expected `]` to close the key", 25),
        ("lowr(http.host) == \"x\"", "unknown function \"lowr\"", 0),
        ("lower http.host", "expected `(` after function lower", 6),
        ("starts_with(http.host)", "expected `,` and a second argument to starts_with()", 21),
        ("http.request.uri.path matches \"(\"", "invalid regular expression: unclosed group", 30),
        ("http.host = \"x\"", "expected an operator after field http.host, found `=`", 10),
    ];
    for (src, want, pos) in cases {
        let (msg, at) = err(src);
        assert!(msg.contains(want), "{:?}: message {:?} lacks {:?}", src, msg, want);
        assert_eq!(at, *pos, "{:?}: {:?}", src, msg);
    }
}

#[test]
fn regex_size_is_limited() {
    let limits = Limits { max_regex_size: 1000, ..DEFAULT_LIMITS };
    let e = Expr::parse(r#"http.host matches "\w{100}""#, &limits).unwrap_err();
    assert!(e.0.contains("compiled size exceeds the limit"), "{}", e.0);
    assert_eq!(e.1, 18);
}

#[test]
fn length_limit_is_an_error() {
    let src = format!("http.host == \"{}\"", "a".repeat(5000));
    let (msg, at) = err(&src);
    assert!(msg.contains("more than the limit of 4096"), "{}", msg);
    assert_eq!(at, 4096);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let limits = Limits { max_expression_len: 1 << 20, ..DEFAULT_LIMITS };
    let inner = "http.host == \"x\"";
    let parens = format!("{}{}{}", "(".repeat(10_000), inner, ")".repeat(10_000));
    let (msg, at) = Expr::parse(&parens, &limits).unwrap_err();
    assert!(msg.contains("nested deeper than the limit of 32"), "{}", msg);
    assert_eq!(at, 32);
    let nots = format!("{}{}", "not ".repeat(10_000), inner);
    let (msg, at) = Expr::parse(&nots, &limits).unwrap_err();
    assert!(msg.contains("nested deeper"), "{}", msg);
    assert_eq!(at, 128);
    let bangs = format!("{}{}", "!".repeat(10_000), inner);
    assert!(Expr::parse(&bangs, &limits).is_err());
    let calls = format!("{}http.host{} == \"x\"", "lower(".repeat(10_000), ")".repeat(10_000));
    assert!(Expr::parse(&calls, &limits).unwrap_err().0.contains("nested deeper"));
    // Within the limit, nesting works.
    let ok = format!("{}{}{}", "(".repeat(31), inner, ")".repeat(31));
    assert!(Expr::parse(&ok, &DEFAULT_LIMITS).is_ok());
    // Long flat chains are not nesting.
    let chain = vec![inner; 200].join(" or ");
    assert!(Expr::parse(&chain, &DEFAULT_LIMITS).is_ok());
}

fn rule(config: &str) -> Result<FilterRule, ConfigError> {
    FilterRule::from_config(&serde_json::from_str(config).unwrap(), &DEFAULT_LIMITS)
}

#[test]
fn deny_list_denies_on_the_first_true_expression() {
    let r = rule(r#"{"kind":"filter","mode":"LIVE","deny":["http.host == \"x\"","http.request.method == \"POST\""]}"#).unwrap();
    let res = r.evaluate(&request());
    assert_eq!(res.conclusion, Conclusion::Deny);
    let v: Value = serde_json::from_str(&res.reason).unwrap();
    assert_eq!(v, serde_json::json!({"type":"FILTER","matched":"http.request.method == \"POST\"","index":1,"list":"deny"}));
    let get = Request { method: "GET".into(), ..request() };
    let res = r.evaluate(&get);
    assert_eq!(res.conclusion, Conclusion::Allow);
    let v: Value = serde_json::from_str(&res.reason).unwrap();
    assert_eq!(v, serde_json::json!({"type":"FILTER","matched":null,"index":null,"list":"deny"}));
}

#[test]
fn allow_list_denies_when_no_expression_is_true() {
    let r = rule(r#"{"allow":["ip.src in {10.0.0.0/8}"]}"#).unwrap();
    assert_eq!(r.evaluate(&request()).conclusion, Conclusion::Deny);
    let inside = Request { ip: "10.1.1.1".into(), ..request() };
    let res = r.evaluate(&inside);
    assert_eq!(res.conclusion, Conclusion::Allow);
    assert!(res.reason.contains("\"index\":0"), "{}", res.reason);
}

#[test]
fn config_errors_name_the_option_and_position() {
    assert_eq!(rule(r#"{"kind":"filter"}"#).unwrap_err().option, "deny");
    assert_eq!(rule(r#"{"allow":["ip.src == 1.1.1.1"],"deny":["ip.src == 1.1.1.1"]}"#).unwrap_err().option, "allow");
    let e = rule(r#"{"deny":["http.host == \"a\"","http.hots == \"a\""]}"#).unwrap_err();
    assert_eq!(e.option, "deny[1]");
    assert_eq!(e.position, Some(0));
    assert!(e.message.contains("http.hots"));
    assert_eq!(
        e.to_string(),
        "deny[1]: unknown field \"http.hots\" (did you mean \"http.host\"?) at position 0"
    );
}

/// Timing, not run by default:
/// `cargo test -p arcguard-core --release -- --ignored --nocapture filter_timing`
#[test]
#[ignore]
fn filter_timing() {
    use std::time::Instant;
    let req = request();
    let cases = [
        r#"http.request.uri.path matches "^/admin" and not ip.src in {10.0.0.0/8}"#,
        r#"http.request.headers["x-api-key"] == "SeCrEt" or http.user_agent contains "curl""#,
        r#"ip.src in {10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 2001:db8::/32}"#,
        r#"lower(http.request.uri.args["q"]) contains "lait""#,
    ];
    for src in cases {
        let t0 = Instant::now();
        let e = Expr::parse(src, &DEFAULT_LIMITS).unwrap();
        let parse = t0.elapsed();
        let n = 200_000;
        let mut hits = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            hits += e.eval(&req) as u32;
        }
        println!("{:?}\n  parse {:?}, eval {:?} ({})", src, parse, t0.elapsed() / n, hits % 2);
    }
}
