//! Any bearer credential between tiers: never a panic, never accepted without the key;
//! a minted one verifies with its claims.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shared::tokens::{Key, KeyRing, mint_credential, verify_credential};

fn keys() -> &'static KeyRing {
    static KEYS: OnceLock<KeyRing> = OnceLock::new();
    KEYS.get_or_init(|| KeyRing::new(Key::from_bytes(vec![9; 32]).unwrap(), None))
}

fuzz_target!(|input: (&str, i64, u128)| {
    let (token, now, user) = input;
    assert!(verify_credential(keys(), token, now).is_err(), "{token:?} verified");
    let now = now.clamp(0, 1 << 40);
    let sub = Some(uuid::Uuid::from_u128(user));
    let minted = mint_credential(keys(), sub, now);
    assert_eq!(verify_credential(keys(), &minted, now).map(|c| c.sub), Ok(sub));
});
