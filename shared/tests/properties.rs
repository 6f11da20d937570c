//! Property tests of everything that parses user input: the catalog's field parsers (form
//! and JSON), user names, passwords, the session cookie opener and the credential
//! verifier. For any input they never panic; for valid input their round trips hold.
//! The same parsers have cargo-fuzz targets in `fuzz/` for longer, coverage-guided runs.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{Map, Value as Json};
use shared::catalog::{Catalog, FieldKind, Game, Value};
use shared::tokens::{
    KeyRing, mint_credential, open_session, random_token, seal_session, verify_credential,
};
use shared::username::{Password, Username, canonical_form};
use time::Date;
use time::macros::date;
use uuid::Uuid;

const TODAY: Date = date!(2026 - 12 - 04);

fn game() -> impl Strategy<Value = &'static Game> {
    prop::sample::select(Catalog::builtin().games().iter().collect::<Vec<_>>())
}

/// Text for one field: mostly values of the right shape, sometimes anything at all.
fn field_text(game: &'static Game, index: usize) -> BoxedStrategy<String> {
    let field = &game.fields[index];
    let plausible: BoxedStrategy<String> = match &field.kind {
        FieldKind::Date => (0i64..4000)
            .prop_map(|days| {
                let date = TODAY - time::Duration::days(days);
                Value::Date(date).display()
            })
            .boxed(),
        FieldKind::Whole { min, max, .. } => {
            (*min - 1..=*max + 1).prop_map(|n| n.to_string()).boxed()
        }
        FieldKind::Choice { options } => prop::sample::select(options.clone())
            .prop_map(|option| option.to_uppercase())
            .boxed(),
        FieldKind::Duration { max_seconds, .. } => (0..=*max_seconds + 5)
            .prop_map(|seconds| Value::Duration(seconds).display())
            .boxed(),
        FieldKind::Names { .. } => prop::collection::vec("[A-Za-z ]{0,12}", 0..4)
            .prop_map(|names| names.join(", "))
            .boxed(),
    };
    prop_oneof![12 => plausible, 1 => any::<String>()].boxed()
}

/// A submitted form for `game`: every field, some left out, and a stray key now and then.
fn form_for(game: &'static Game) -> impl Strategy<Value = HashMap<String, String>> {
    let fields: Vec<_> = (0..game.fields.len())
        .map(|i| prop::option::weighted(0.97, field_text(game, i)))
        .collect();
    (fields, prop::option::of(("[a-z_]{1,8}", any::<String>()))).prop_map(move |(values, stray)| {
        let mut form: HashMap<String, String> = game
            .fields
            .iter()
            .zip(values)
            .filter_map(|(field, value)| value.map(|v| (field.name.clone(), v)))
            .collect();
        if let Some((key, value)) = stray {
            form.entry(key).or_insert(value);
        }
        form
    })
}

fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        any::<String>().prop_map(Json::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::from),
            prop::collection::btree_map("[a-z]{1,9}", inner, 0..4)
                .prop_map(|map| Json::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_form_parses_or_names_its_faults_and_valid_values_round_trip(
        (game, form) in game().prop_flat_map(|game| (Just(game), form_for(game)))
    ) {
        match game.parse_form(&form, TODAY) {
            Ok(fields) => {
                // The wire form parses back to the same values through the JSON parser...
                let wire = game.encode(&fields);
                prop_assert_eq!(game.parse_json(&wire, TODAY), Ok(fields.clone()));
                // ...the stored form decodes to them...
                prop_assert_eq!(game.decode(&wire), Ok(fields.clone()));
                // ...and the text a form shows again parses to them too.
                let shown: HashMap<String, String> = fields
                    .iter()
                    .map(|(name, value)| (name.clone(), value.display()))
                    .collect();
                prop_assert_eq!(game.parse_form(&shown, TODAY), Ok(fields));
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for (name, message) in &errors {
                    prop_assert!(game.field(name).is_some(), "a fault names a field: {}", name);
                    prop_assert!(!message.is_empty());
                }
            }
        }
    }

    #[test]
    fn any_json_object_is_parsed_or_refused_without_panicking(
        game in game(),
        object in prop::collection::btree_map(
            prop_oneof![
                prop::sample::select(vec!["date", "kills", "result", "teammates", "time", "map", "mode"])
                    .prop_map(str::to_string),
                "[a-z]{1,8}",
            ],
            any_json(),
            0..10,
        )
    ) {
        let object: Map<String, Json> = object.into_iter().collect();
        if let Ok(fields) = game.parse_json(&object, TODAY) {
            prop_assert_eq!(game.decode(&game.encode(&fields)), Ok(fields));
        }
        let _ = game.decode(&object);
    }

    #[test]
    fn user_names_parse_without_panicking_and_their_forms_are_stable(input in any::<String>()) {
        if let Ok(name) = Username::parse(&input) {
            prop_assert_eq!(Username::parse(name.as_str()), Ok(name.clone()));
            prop_assert_eq!(canonical_form(name.canonical()), name.canonical().to_string());
            let json = serde_json::to_string(&name).unwrap();
            prop_assert_eq!(serde_json::from_str::<Username>(&json).unwrap(), name);
        }
    }

    #[test]
    fn case_variants_of_a_valid_name_share_its_canonical_form(input in "[A-Za-z0-9._-]{3,32}") {
        let name = Username::parse(&input).unwrap();
        let upper = Username::parse(&input.to_uppercase()).unwrap();
        prop_assert_eq!(name.canonical(), upper.canonical());
    }

    #[test]
    fn new_passwords_are_checked_without_panicking(input in any::<String>()) {
        if let Ok(password) = Password::parse_new(&input) {
            prop_assert_eq!(password.expose(), input.as_str());
            prop_assert!(input.len() <= 72 && input.chars().count() >= 8);
        }
    }

    #[test]
    fn any_cookie_value_is_opened_or_refused_without_panicking(cookie in any::<String>()) {
        let keys = KeyRing::generate();
        prop_assert_eq!(open_session(&keys, &cookie), None);
    }

    #[test]
    fn a_sealed_session_opens_and_any_change_to_it_does_not(
        position in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_.-]",
    ) {
        let keys = KeyRing::generate();
        let token = random_token();
        let cookie = seal_session(&keys, &token);
        prop_assert_eq!(open_session(&keys, &cookie), Some(token.as_str()));
        let at = position.index(cookie.len());
        let mut altered = cookie.clone();
        altered.replace_range(at..=at, &replacement);
        if altered != cookie {
            prop_assert_eq!(open_session(&keys, &altered), None, "{}", altered);
        }
    }

    #[test]
    fn any_credential_text_is_refused_without_panicking(token in any::<String>(), now in any::<i64>()) {
        let keys = KeyRing::generate();
        prop_assert!(verify_credential(&keys, &token, now).is_err());
    }

    #[test]
    fn a_minted_credential_verifies_until_it_expires(
        user in prop::option::of(any::<u128>()),
        now in 0i64..4_000_000_000,
        later in 0i64..120,
    ) {
        let keys = KeyRing::generate();
        let sub = user.map(Uuid::from_u128);
        let token = mint_credential(&keys, sub, now);
        let verdict = verify_credential(&keys, &token, now + later);
        if later < shared::tokens::CREDENTIAL_TTL_SECONDS {
            prop_assert_eq!(verdict.map(|claims| claims.sub), Ok(sub));
        } else {
            prop_assert!(verdict.is_err());
        }
        prop_assert!(verify_credential(&KeyRing::generate(), &token, now).is_err());
    }
}
