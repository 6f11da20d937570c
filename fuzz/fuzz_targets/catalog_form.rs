//! A submitted match form, as url-encoded pairs, through each game's form parser:
//! no panic, and values that parse come back the same through the JSON parser, the
//! stored form and the text a form shows again.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use shared::catalog::Catalog;
use time::macros::date;

fuzz_target!(|pairs: (u8, Vec<(String, String)>)| {
    let (pick, pairs) = pairs;
    let games = Catalog::builtin().games();
    let game = &games[usize::from(pick) % games.len()];
    let form: HashMap<String, String> = pairs.into_iter().collect();
    let today = date!(2026 - 12 - 04);
    let Ok(fields) = game.parse_form(&form, today) else {
        return;
    };
    let wire = game.encode(&fields);
    assert_eq!(game.parse_json(&wire, today), Ok(fields.clone()));
    assert_eq!(game.decode(&wire), Ok(fields.clone()));
    let shown: HashMap<String, String> = fields
        .iter()
        .map(|(name, value)| (name.clone(), value.display()))
        .collect();
    assert_eq!(game.parse_form(&shown, today), Ok(fields));
});
