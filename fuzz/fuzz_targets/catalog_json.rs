//! A JSON body of the results API through each game's JSON parser and the stored-form
//! decoder: no panic, and what parses round-trips through the wire form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use shared::catalog::Catalog;
use time::macros::date;

fuzz_target!(|data: &[u8]| {
    let Ok(object) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return;
    };
    let today = date!(2026 - 12 - 04);
    for game in Catalog::builtin().games() {
        let _ = game.decode(&object);
        if let Ok(fields) = game.parse_json(&object, today) {
            let wire = game.encode(&fields);
            assert_eq!(game.parse_json(&wire, today), Ok(fields.clone()));
            assert_eq!(game.decode(&wire), Ok(fields));
        }
    }
});
