use super::domains::{disposable, free, listed, registrable, suffixes};
use super::syntax::{parse, SyntaxOptions};
use super::*;

fn rule(config: &str) -> EmailRule {
    EmailRule::from_config(&serde_json::from_str(config).unwrap()).unwrap()
}

fn reason(r: &RuleResult) -> Value {
    serde_json::from_str(&r.reason).expect("reason is JSON")
}

fn types(r: &RuleResult) -> Vec<String> {
    reason(r)["email_types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

fn ok(input: &str) -> String {
    match parse(input, SyntaxOptions::default()) {
        Ok(a) => a.normalized(),
        Err(e) => panic!("{:?} should be valid: {}", input, e),
    }
}

fn err(input: &str) -> String {
    match parse(input, SyntaxOptions::default()) {
        Ok(a) => panic!("{:?} should be invalid, got {:?}", input, a),
        Err(e) => e,
    }
}

#[test]
fn common_addresses_are_valid_and_normalised() {
    assert_eq!(ok("user@example.com"), "user@example.com");
    assert_eq!(ok("First.Last+tag@Example.COM"), "First.Last+tag@example.com");
    assert_eq!(ok("a!#$%&'*+-/=?^_`{|}~z@example.org"), "a!#$%&'*+-/=?^_`{|}~z@example.org");
    assert_eq!(ok("x@sub-domain.example.co.uk"), "x@sub-domain.example.co.uk");
    assert_eq!(ok("1234@123.example"), "1234@123.example");
}

#[test]
fn internationalised_addresses_are_normalised() {
    // Unicode in, Unicode display, punycode for DNS.
    let a = parse("jörg@Bücher.de", SyntaxOptions::default()).unwrap();
    assert_eq!(a.local, "jörg");
    assert_eq!(a.domain, "bücher.de");
    assert_eq!(a.ascii_domain, "xn--bcher-kva.de");
    // Punycode in: shown in Unicode.
    assert_eq!(ok("info@xn--bcher-kva.de"), "info@bücher.de");
    // Non-transitional UTS #46: ß stays.
    assert_eq!(parse("a@faß.de", SyntaxOptions::default()).unwrap().ascii_domain, "xn--fa-hia.de");
    // A full-width dot is a dot; NFC of the local part.
    assert_eq!(ok("a@example\u{3002}com"), "a@example.com");
    assert_eq!(ok("e\u{301}@example.com"), "\u{e9}@example.com");
    assert_eq!(ok("用户@例子.广告"), "用户@例子.广告");
}

#[test]
fn invalid_addresses_say_what_is_wrong() {
    assert!(err("").contains("empty"));
    assert!(err("plainaddress").contains("no @-sign"));
    assert!(err("a@b@example.com").contains("more than one"));
    assert!(err("@example.com").contains("nothing before"));
    assert!(err("user@").contains("nothing after"));
    assert!(err(".user@example.com").contains("starts with a dot"));
    assert!(err("user.@example.com").contains("ends with a dot"));
    assert!(err("us..er@example.com").contains("two dots"));
    assert!(err("user@example..com").contains("two dots"));
    assert!(err("user@.example.com").contains("starts with a dot"));
    assert!(err("user@example.com.").contains("ends with a dot"));
    assert!(err(" user@example.com").contains("white space"));
    assert!(err("us er@example.com").contains("space"));
    assert!(err("John Doe <john@example.com>").contains("bare address"));
    assert!(err("user@exam_ple.com").contains("'_'"));
    assert!(err("user@-example.com").contains("hyphen"));
    assert!(err("user@example-.com").contains("hyphen"));
    assert!(err("user@ab--cd.com").contains("third and fourth"));
    assert!(err("user@localhost").contains("no top-level domain"));
    assert!(err("user@example.123").contains("all digits"));
    assert!(err("user\u{FF20}example.com").contains("look-alike"));
    assert!(err("us\u{202E}er@example.com").contains("unsafe"));
    assert!(err("us\u{200D}er@example.com").contains("unsafe"));
    assert!(err("user@exa\u{0007}mple.com").contains("invalid character"));
    assert!(err("\u{301}user@example.com").contains("unsafe"));
    assert!(err("user@xn--zz.com").contains("punycode") || err("user@xn--zz.com").contains("UTS"));
}

#[test]
fn lengths_are_bounded() {
    let local64 = "a".repeat(64);
    assert_eq!(ok(&format!("{}@example.com", local64)), format!("{}@example.com", local64));
    assert!(err(&format!("{}a@example.com", local64)).contains("local part is too long"));
    let label63 = "b".repeat(63);
    ok(&format!("x@{}.com", label63));
    assert!(err(&format!("x@{}b.com", label63)).contains("label is too long"));
    // 254 octets in all is the limit.
    let domain = format!("{}.{}.{}.{}", "c".repeat(63), "d".repeat(63), "e".repeat(63), "f".repeat(57));
    assert_eq!(domain.len(), 249);
    ok(&format!("abcd@{}", domain));
    assert!(err(&format!("abcde@{}", domain)).contains("address is too long"));
    assert!(err(&"x".repeat(5000)).contains("too long"));
}

#[test]
fn quoted_local_parts_and_literals_are_opt_in() {
    let on = SyntaxOptions { allow_quoted_local: true, allow_domain_literal: true, require_tld: true };
    assert!(err("\"john doe\"@example.com").contains("quoted"));
    assert!(err("user@[192.0.2.1]").contains("literal"));
    assert_eq!(parse("\"john doe\"@example.com", on).unwrap().normalized(), "\"john doe\"@example.com");
    // Quoting that is not needed is removed (RFC 5321 4.1.2).
    assert_eq!(parse("\"john\"@example.com", on).unwrap().normalized(), "john@example.com");
    assert_eq!(parse("\"a\\\"b@c\"@example.com", on).unwrap().local, "\"a\\\"b@c\"");
    let lit = parse("user@[192.0.2.1]", on).unwrap();
    assert!(lit.literal);
    assert_eq!(lit.domain, "[192.0.2.1]");
    assert_eq!(parse("user@[IPv6:2001:db8::1]", on).unwrap().domain, "[IPv6:2001:db8::1]");
    assert!(parse("user@[300.1.1.1]", on).is_err());
    assert!(parse("user@[2001:db8::1]", on).is_err());
    let no_tld = SyntaxOptions { require_tld: false, ..SyntaxOptions::default() };
    assert_eq!(parse("user@localhost", no_tld).unwrap().domain, "localhost");
}

#[test]
fn registrable_domains_follow_the_public_suffix_list_tests() {
    // From the PSL's own test file (tests/test_psl.txt, public domain), ASCII cases.
    let cases: &[(&str, Option<&str>)] = &[
        ("com", None),
        ("example.com", Some("example.com")),
        ("b.example.com", Some("example.com")),
        ("a.b.example.com", Some("example.com")),
        ("example", None),
        ("example.example", Some("example.example")),
        ("b.example.example", Some("example.example")),
        ("biz", None),
        ("domain.biz", Some("domain.biz")),
        ("a.b.domain.biz", Some("domain.biz")),
        ("uk.com", None),
        ("example.uk.com", Some("example.uk.com")),
        ("a.b.example.uk.com", Some("example.uk.com")),
        ("test.ac", Some("test.ac")),
        ("mm", None),
        ("c.mm", None),
        ("b.c.mm", Some("b.c.mm")),
        ("a.b.c.mm", Some("b.c.mm")),
        ("jp", None),
        ("test.jp", Some("test.jp")),
        ("www.test.jp", Some("test.jp")),
        ("ac.jp", None),
        ("test.ac.jp", Some("test.ac.jp")),
        ("kyoto.jp", None),
        ("test.kyoto.jp", Some("test.kyoto.jp")),
        ("ide.kyoto.jp", None),
        ("b.ide.kyoto.jp", Some("b.ide.kyoto.jp")),
        ("a.b.ide.kyoto.jp", Some("b.ide.kyoto.jp")),
        ("c.kobe.jp", None),
        ("b.c.kobe.jp", Some("b.c.kobe.jp")),
        ("a.b.c.kobe.jp", Some("b.c.kobe.jp")),
        ("city.kobe.jp", Some("city.kobe.jp")),
        ("www.city.kobe.jp", Some("city.kobe.jp")),
        ("ck", None),
        ("test.ck", None),
        ("b.test.ck", Some("b.test.ck")),
        ("a.b.test.ck", Some("b.test.ck")),
        ("www.ck", Some("www.ck")),
        ("www.www.ck", Some("www.ck")),
        ("us", None),
        ("test.us", Some("test.us")),
        ("ak.us", None),
        ("test.ak.us", Some("test.ak.us")),
        ("k12.ak.us", None),
        ("test.k12.ak.us", Some("test.k12.ak.us")),
        ("www.test.k12.ak.us", Some("test.k12.ak.us")),
        ("xn--85x722f.com.cn", Some("xn--85x722f.com.cn")),
        ("xn--85x722f.xn--55qx5d.cn", Some("xn--85x722f.xn--55qx5d.cn")),
        ("www.xn--85x722f.xn--55qx5d.cn", Some("xn--85x722f.xn--55qx5d.cn")),
        ("shishi.xn--55qx5d.cn", Some("shishi.xn--55qx5d.cn")),
        ("xn--55qx5d.cn", None),
        ("xn--85x722f.xn--fiqs8s", Some("xn--85x722f.xn--fiqs8s")),
        ("www.xn--85x722f.xn--fiqs8s", Some("xn--85x722f.xn--fiqs8s")),
        ("shishi.xn--fiqs8s", Some("shishi.xn--fiqs8s")),
        ("xn--fiqs8s", None),
    ];
    for (domain, want) in cases {
        assert_eq!(registrable(domain), *want, "{}", domain);
    }
    // The private section counts: a dynamic-DNS user's name is registrable.
    assert_eq!(registrable("0-mailer.dynv6.net"), Some("0-mailer.dynv6.net"));
    assert_eq!(registrable("x.0-mailer.dynv6.net"), Some("0-mailer.dynv6.net"));
}

#[test]
fn lists_match_the_registrable_domain_and_its_subdomains() {
    let d = disposable();
    let at = |domain: &str| listed(d, domain, registrable(domain)).map(str::to_string);
    assert_eq!(at("mailinator.com").as_deref(), Some("mailinator.com"));
    assert_eq!(at("x.mailinator.com").as_deref(), Some("mailinator.com"));
    assert_eq!(at("a.b.mailinator.com").as_deref(), Some("mailinator.com"));
    assert_eq!(at("mailinator.com.example.org"), None);
    assert_eq!(at("mailinator-fan.com"), None);
    assert_eq!(at("0-mailer.dynv6.net").as_deref(), Some("0-mailer.dynv6.net"));
    assert_eq!(at("in.0-mailer.dynv6.net").as_deref(), Some("0-mailer.dynv6.net"));
    assert_eq!(at("someone-else.dynv6.net"), None);
    let f = free();
    assert_eq!(listed(f, "gmail.com", registrable("gmail.com")), Some("gmail.com"));
    assert_eq!(listed(f, "mail.google.com", registrable("mail.google.com")), None);
    assert_eq!(listed(f, "yahoo.co.uk", registrable("yahoo.co.uk")), Some("yahoo.co.uk"));
}

#[test]
fn the_lists_are_large_sorted_and_never_overlap() {
    assert!(disposable().len() > 8000, "disposable list has {}", disposable().len());
    assert!(free().len() > 150, "free list has {}", free().len());
    assert!(suffixes().len() > 9000);
    let overlap: Vec<_> = free().iter().filter(|d| disposable().contains(d)).collect();
    assert!(overlap.is_empty(), "free and disposable overlap: {:?}", overlap);
    for d in free().iter() {
        assert_eq!(registrable(d), Some(d), "free entry {} is not a registrable domain", d);
    }
}

#[test]
fn deny_list_decides_locally_when_it_can() {
    let r = rule(r#"{"deny":["INVALID","DISPOSABLE"]}"#);
    assert_eq!(r.check("user@example.com").conclusion, Conclusion::Allow);
    let inv = r.check("not-an-address");
    assert_eq!(inv.conclusion, Conclusion::Deny);
    assert_eq!(types(&inv), vec!["INVALID"]);
    assert!(reason(&inv)["error"].as_str().unwrap().contains("@-sign"));
    let disp = r.check("Someone@X.Mailinator.com");
    assert_eq!(disp.conclusion, Conclusion::Deny);
    assert_eq!(types(&disp), vec!["DISPOSABLE"]);
    let v = reason(&disp);
    assert_eq!(v["email"], "Someone@x.mailinator.com");
    assert_eq!(v["registrable_domain"], "mailinator.com");
    assert_eq!(v["listed"], "mailinator.com");
    assert_eq!(v["mx"], Value::Null);
    // FREE is a type but not denied here.
    let free = r.check("a@gmail.com");
    assert_eq!(free.conclusion, Conclusion::Allow);
    assert_eq!(types(&free), vec!["FREE"]);
}

#[test]
fn mx_types_escalate_only_when_nothing_else_decided() {
    let r = rule(r#"{"deny":["INVALID","DISPOSABLE","NO_MX_RECORDS"]}"#);
    let res = r.check("user@example.com");
    assert_eq!(res.conclusion, Conclusion::NeedsRemote);
    let v = reason(&res);
    assert_eq!(v["mx"], "pending");
    assert_eq!(v["ascii_domain"], "example.com");
    assert_eq!(v["denied"], false);
    // Syntax and lists decided: no lookup.
    assert_eq!(r.check("bad@@x").conclusion, Conclusion::Deny);
    assert_eq!(r.check("a@mailinator.com").conclusion, Conclusion::Deny);
    // IDN domains are looked up in ASCII.
    assert_eq!(reason(&r.check("a@bücher.de"))["ascii_domain"], "xn--bcher-kva.de");
    // A literal has no MX to look up.
    let lit = rule(r#"{"deny":["NO_MX_RECORDS"],"allow_domain_literal":true}"#);
    assert_eq!(lit.check("a@[192.0.2.1]").conclusion, Conclusion::Allow);
    // UNKNOWN alone also needs the lookup.
    assert_eq!(rule(r#"{"deny":["UNKNOWN"]}"#).check("a@example.com").conclusion, Conclusion::NeedsRemote);
}

#[test]
fn allow_list_denies_every_other_type() {
    let r = rule(r#"{"allow":["FREE","NO_MX_RECORDS","UNKNOWN"]}"#);
    assert_eq!(r.check("a@gmail.com").conclusion, Conclusion::Allow);
    assert_eq!(r.check("a@example.com").conclusion, Conclusion::Allow);
    assert_eq!(r.check("a@mailinator.com").conclusion, Conclusion::Deny);
    assert_eq!(r.check("nope").conclusion, Conclusion::Deny);
    // Without NO_MX_RECORDS in the allow list it is denied: the lookup is needed.
    assert_eq!(rule(r#"{"allow":["FREE"]}"#).check("a@example.com").conclusion, Conclusion::NeedsRemote);
}

#[test]
fn no_email_is_an_error_and_config_errors_name_the_item() {
    let r = rule(r#"{"deny":["INVALID"]}"#);
    let res = r.evaluate(&Request::default());
    assert_eq!(res.conclusion, Conclusion::Error);
    assert!(res.reason.contains("no email given"));
    let mut req = Request::default();
    req.extras.push(("email".into(), "a@example.com".into()));
    assert_eq!(r.evaluate(&req).conclusion, Conclusion::Allow);
    let e = EmailRule::from_config(&serde_json::from_str(r#"{"deny":["INVALID","disposable"]}"#).unwrap())
        .unwrap_err();
    assert_eq!(e.option, "deny[1]");
    assert!(e.message.contains("did you mean \"DISPOSABLE\""), "{}", e.message);
    assert!(EmailRule::from_config(&serde_json::from_str(r#"{"deny":["X"],"allow":["FREE"]}"#).unwrap()).is_err());
    assert!(EmailRule::from_config(&serde_json::from_str(r#"{}"#).unwrap()).is_err());
    assert!(EmailRule::from_config(&serde_json::from_str(r#"{"deny":["FREE"],"require_tld":"yes"}"#).unwrap()).is_err());
}
