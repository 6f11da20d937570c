//! Any session cookie value and CSRF token: never a panic, never accepted without the
//! key. A cookie sealed with the key opens to its token, and only unaltered.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shared::tokens::{
    Key, KeyRing, check_session_csrf, csrf_for_session, open_session, seal_session,
};

fn keys() -> &'static KeyRing {
    static KEYS: OnceLock<KeyRing> = OnceLock::new();
    KEYS.get_or_init(|| KeyRing::new(Key::from_bytes(vec![7; 32]).unwrap(), None))
}

fuzz_target!(|input: (&str, &str)| {
    let (cookie, csrf) = input;
    assert_eq!(open_session(keys(), cookie), None, "{cookie:?} opened");
    let token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let expected = csrf == csrf_for_session(keys(), token);
    assert_eq!(check_session_csrf(keys(), token, csrf), expected, "{csrf:?}");
    let sealed = seal_session(keys(), token);
    assert_eq!(open_session(keys(), &sealed), Some(token));
    if !cookie.is_empty() && cookie != sealed {
        let spliced = format!("{sealed}{cookie}");
        assert_eq!(open_session(keys(), &spliced), None);
    }
});
