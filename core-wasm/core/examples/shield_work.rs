//! The shield on the requests of `benchmarks/bench_shield.py`, natively: the
//! browser GET of `benchmarks/_requests.py` and the JSON POSTs of
//! `json_document()`, built here as the Python host encodes them.
//!
//! Timing (best of seven batches, the machine may be shared):
//!
//! ```text
//! cargo run --release --example shield_work
//! ```
//!
//! Fixed work for instruction counting, which load does not disturb
//! (divide by the iterations):
//!
//! ```text
//! cargo build --release --example shield_work
//! valgrind --tool=callgrind --toggle-collect='*ShieldRule*evaluate*' \
//!     target/release/examples/shield_work get 1000
//! ```
//!
//! Arguments: `[get|post1k|post4k|post16k|post64k|all] [iterations]`.

use std::time::Instant;

use arcguard_core::{Conclusion, Request, RuleSet};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// `browser_scope()` as `guard.details(scope).encode()` hands it to the core.
fn browser_get() -> Request<'static> {
    Request {
        ip: "203.0.113.7".into(),
        method: "GET".into(),
        host: "shop.example.com".into(),
        path: "/products/shoes".into(),
        query: "color=blue&size=42&page=2".into(),
        body: b"",
        headers: vec![
            ("host".into(), "shop.example.com".into()),
            ("user-agent".into(), CHROME.into()),
            ("accept".into(), "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".into()),
            ("accept-language".into(), "en-US,en;q=0.9,de;q=0.8".into()),
            ("accept-encoding".into(), "gzip, deflate, br, zstd".into()),
            ("cookie".into(), "session=9f8e7d6c5b4a; theme=dark; cart=3".into()),
            ("referer".into(), "https://shop.example.com/products".into()),
            ("sec-fetch-dest".into(), "document".into()),
            ("sec-fetch-mode".into(), "navigate".into()),
            ("sec-fetch-site".into(), "same-origin".into()),
            ("sec-ch-ua".into(), "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\"".into()),
            ("upgrade-insecure-requests".into(), "1".into()),
        ],
        extras: vec![],
    }
}

/// `json_document(size)`: an order with line items, padded to `size` bytes
/// (`json.dumps` spacing).
fn json_document(size: usize) -> String {
    let doc = |items: &[String], pad: usize| {
        format!(
            "{{\"customer\": {{\"id\": \"c_81723\", \"email\": \"ann@example.com\", \"name\": \"Ann O'Neil\"}}, \"items\": [{}], \"pad\": \"{}\"}}",
            items.join(", "),
            "x".repeat(pad)
        )
    };
    let mut items = Vec::new();
    let mut last = doc(&items, 0);
    for i in 0.. {
        items.push(format!(
            "{{\"sku\": \"SKU-{}\", \"name\": \"Trail running shoe, model {}\", \"qty\": {}, \"price\": {}, \"tags\": [\"outdoor\", \"running\", \"sale\"], \"note\": \"Please gift-wrap this one; it's for my sister's birthday.\"}}",
            10000 + i,
            i,
            1 + i % 3,
            89.95 + i as f64
        ));
        let next = doc(&items, 0);
        if next.len() > size {
            items.pop();
            break;
        }
        last = next;
    }
    let pad = size.saturating_sub(last.len());
    doc(&items, pad)
}

/// `post_scope(body)` with the body the middleware read.
fn json_post(body: &str) -> Request<'_> {
    let mut r = browser_get();
    r.method = "POST".into();
    r.path = "/api/orders".into();
    r.query = "".into();
    r.body = body.as_bytes();
    r.headers.push(("content-type".into(), "application/json".into()));
    r.headers.push(("content-length".into(), body.len().to_string().into()));
    r
}

fn best_us_per_call(iters: u32, mut f: impl FnMut()) -> f64 {
    let batch = (iters / 7).max(1);
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / batch as f64);
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("all");
    let iters: Option<u32> = args.get(2).and_then(|n| n.parse().ok());
    let set = RuleSet::compile(r#"{"rules":[{"kind":"shield","mode":"LIVE","sensitivity":2,"body_limit":65536,"on_body_limit":"prefix"}]}"#)
        .expect("shield configuration");
    let bodies: Vec<(String, String)> = [1usize, 4, 16, 64].iter().map(|kb| (format!("post{}k", kb), json_document(kb * 1024))).collect();
    let mut cases: Vec<(&str, Request)> = vec![("get", browser_get())];
    for (name, body) in &bodies {
        cases.push((name, json_post(body)));
    }
    for (name, req) in &cases {
        if which != "all" && which != *name {
            continue;
        }
        let r = set.evaluate(req).remove(0);
        assert_eq!(r.conclusion, Conclusion::Allow, "{}: {}", name, r.reason);
        match iters {
            // Fixed work, for instruction counts.
            Some(n) if which != "all" => {
                for _ in 0..n {
                    let _ = set.evaluate(req);
                }
            }
            _ => {
                let n = if req.body.len() > 8192 { 700 } else { 7000 };
                let us = best_us_per_call(iters.unwrap_or(n), || {
                    let _ = set.evaluate(req);
                });
                println!("{:<8} {:>9.2} µs  ({} body bytes)", name, us, req.body.len());
            }
        }
    }
}
