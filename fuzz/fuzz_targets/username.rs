//! A typed user name and password: no panic; a valid name parses back to itself and its
//! canonical form is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::username::{Password, Username, canonical_form};

fuzz_target!(|input: &str| {
    if let Ok(name) = Username::parse(input) {
        assert_eq!(Username::parse(name.as_str()), Ok(name.clone()));
        assert_eq!(canonical_form(name.canonical()), name.canonical());
    }
    if let Ok(password) = Password::parse_new(input) {
        assert_eq!(password.expose(), input);
    }
});
