//! The WebAssembly ABI of the ArcGuard core. It only moves bytes: all logic
//! is in `arcguard-core`.
//!
//! Exports (all integers little-endian, pointers are offsets in `memory`):
//! - `ag_buffer(len) -> ptr`: make the input buffer `len` bytes long and return
//!   where the host should write.
//! - `ag_compile(len) -> i64`: compile the JSON rule configuration held in
//!   the input buffer.
//! - `ag_decide(ruleset, len) -> i64`: evaluate the encoded request held in the
//!   input buffer with a compiled rule set.
//! - `ag_drop(ruleset)`: forget a compiled rule set.
//! - `ag_provisional() -> i64`: after the host stopped an `ag_decide` for
//!   exceeding its budget (fuel or epoch deadline), the results to answer
//!   instead: `(ptr << 32) | len` of encoded results (no status byte), or 0
//!   when the call stopped before any. Before each expensive rule (the
//!   shield) `ag_decide` records every cheap rule's result and, for the
//!   expensive rules not yet done, the result their configuration gives an
//!   exhausted budget (see `RuleSet::evaluate_with`). The call only reads an
//!   atomic, so it works on an instance whose `ag_decide` trapped; the host
//!   replaces that instance afterwards.
//!
//! `ag_compile` and `ag_decide` return `(ptr << 32) | len` of the output
//! buffer, whose first byte is a status: 0 ok, then the payload (for
//! `ag_compile` a u32 rule set id, for `ag_decide` the encoded results);
//! 1 configuration error, 2 undecodable request, 3 unknown rule set, each
//! followed by a UTF-8 message (JSON for configuration errors).
//! A panic aborts, which the host sees as a trap and handles by replacing
//! the instance.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use arcguard_core::{encode_results, Request, RuleResult, RuleSet};

const STATUS_OK: u8 = 0;
const STATUS_CONFIG: u8 = 1;
const STATUS_DECODE: u8 = 2;
const STATUS_NO_RULESET: u8 = 3;

#[derive(Default)]
struct State {
    input: Vec<u8>,
    output: Vec<u8>,
    scratch: Vec<u8>,
    rulesets: Vec<Option<RuleSet>>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
    /// The last checkpoint's encoded results (see `ag_provisional`); apart
    /// from `STATE`, which a stopped `ag_decide` leaves borrowed.
    static CHECKPOINT: RefCell<Vec<u8>> = RefCell::new(Vec::new());
}

/// `(ptr << 32) | len` of `CHECKPOINT`'s bytes, 0 while they are not whole.
static PROVISIONAL: AtomicU64 = AtomicU64::new(0);

fn checkpoint(results: &[RuleResult]) {
    PROVISIONAL.store(0, Ordering::Relaxed);
    CHECKPOINT.with(|c| {
        let mut buf = c.borrow_mut();
        encode_results(results, &mut buf);
        PROVISIONAL.store(packed(&buf) as u64, Ordering::Relaxed);
    })
}

fn packed(out: &[u8]) -> i64 {
    ((out.as_ptr() as usize as i64) << 32) | out.len() as i64
}

fn respond(state: &mut State, status: u8, payload: &[u8]) -> i64 {
    state.output.clear();
    state.output.push(status);
    state.output.extend_from_slice(payload);
    packed(&state.output)
}

#[no_mangle]
pub extern "C" fn ag_buffer(len: u32) -> u32 {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.input.resize(len as usize, 0);
        s.input.as_mut_ptr() as usize as u32
    })
}

#[no_mangle]
pub extern "C" fn ag_compile(len: u32) -> i64 {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let len = (len as usize).min(s.input.len());
        let text = String::from_utf8_lossy(&s.input[..len]).into_owned();
        match RuleSet::compile(&text) {
            Ok(rs) => {
                let id = match s.rulesets.iter().position(Option::is_none) {
                    Some(i) => {
                        s.rulesets[i] = Some(rs);
                        i
                    }
                    None => {
                        s.rulesets.push(Some(rs));
                        s.rulesets.len() - 1
                    }
                };
                respond(&mut s, STATUS_OK, &(id as u32).to_le_bytes())
            }
            Err(e) => respond(&mut s, STATUS_CONFIG, e.to_json().as_bytes()),
        }
    })
}

#[no_mangle]
pub extern "C" fn ag_decide(ruleset: u32, len: u32) -> i64 {
    STATE.with(|s| {
        let mut guard = s.borrow_mut();
        let state = &mut *guard;
        let len = (len as usize).min(state.input.len());
        let rs = match state.rulesets.get(ruleset as usize).and_then(Option::as_ref) {
            Some(rs) => rs,
            None => return respond(state, STATUS_NO_RULESET, b"unknown rule set"),
        };
        PROVISIONAL.store(0, Ordering::Relaxed);
        match Request::decode(&state.input[..len]) {
            Ok(req) => {
                let results = rs.evaluate_with(&req, Some(&mut checkpoint));
                encode_results(&results, &mut state.scratch);
                state.output.clear();
                state.output.push(STATUS_OK);
                state.output.extend_from_slice(&state.scratch);
                packed(&state.output)
            }
            Err(e) => {
                let msg = e.to_string();
                respond(state, STATUS_DECODE, msg.as_bytes())
            }
        }
    })
}

#[no_mangle]
pub extern "C" fn ag_provisional() -> i64 {
    PROVISIONAL.load(Ordering::Relaxed) as i64
}

#[no_mangle]
pub extern "C" fn ag_drop(ruleset: u32) {
    STATE.with(|s| {
        if let Some(slot) = s.borrow_mut().rulesets.get_mut(ruleset as usize) {
            *slot = None;
        }
    })
}
