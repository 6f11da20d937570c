//! The game catalog: each game's fields, their kinds and limits, as data.
//!
//! Forms, validation, tables, stats and the list of DynamoDB tables all follow from it;
//! adding a game is adding an entry to `games.json`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value as Json};
use time::Date;
use time::macros::format_description;

/// Values of one match, by field name.
pub type Fields = BTreeMap<String, Value>;
/// Messages for the fields at fault, by field name.
pub type FieldErrors = BTreeMap<String, String>;

/// The most digits a whole number may have on the way in (DynamoDB numbers carry 38);
/// longer input is refused before any arithmetic.
const MAX_DIGITS: usize = 38;
/// A name in a list of names (teammates).
const MAX_NAME_CHARS: usize = 32;

#[derive(Clone, Debug)]
pub struct Catalog {
    games: Vec<Game>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Game {
    pub slug: String,
    pub label: String,
    #[serde(deserialize_with = "iso_date")]
    pub released: Date,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Field {
    pub name: String,
    pub label: String,
    #[serde(flatten)]
    pub kind: FieldKind,
    /// An optional field may be left empty.
    #[serde(default)]
    pub optional: bool,
    /// Stats are broken down by this field's values (legend, hero, map).
    #[serde(default)]
    pub breakdown: bool,
    /// The value a new form starts with.
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FieldKind {
    /// A calendar date, not before the game's release and not in the future.
    Date,
    /// A whole number within `min..=max`, or within the range that another field's value picks.
    Whole {
        min: i64,
        max: i64,
        range_by: Option<RangeBy>,
    },
    /// One of a fixed list, matched without regard to case.
    Choice { options: Vec<String> },
    /// Minutes and seconds.
    Duration {
        #[serde(default)]
        min_seconds: u32,
        max_seconds: u32,
    },
    /// A short list of names, comma-separated in forms.
    Names { max_items: usize },
}

/// A whole number's range chosen by another (choice) field's value.
#[derive(Clone, Debug, Deserialize)]
pub struct RangeBy {
    pub field: String,
    pub ranges: HashMap<String, (i64, i64)>,
}

/// One field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Whole(i64),
    Text(String),
    Date(Date),
    /// Seconds.
    Duration(u32),
    Names(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the catalog is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the catalog is inconsistent: {0}")]
    Inconsistent(String),
}

impl Catalog {
    /// The catalog shipped with matchlog.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            Catalog::from_json(include_str!("../games.json"))
                .expect("the shipped games.json is valid")
        })
    }

    pub fn from_json(text: &str) -> Result<Self, CatalogError> {
        #[derive(Deserialize)]
        struct File {
            games: Vec<Game>,
        }
        let file: File = serde_json::from_str(text)?;
        let catalog = Self { games: file.games };
        catalog.check()?;
        Ok(catalog)
    }

    pub fn games(&self) -> &[Game] {
        &self.games
    }

    /// The game with this slug; `None` for unknown or empty slugs.
    pub fn game(&self, slug: &str) -> Option<&Game> {
        self.games.iter().find(|game| game.slug == slug)
    }

    fn check(&self) -> Result<(), CatalogError> {
        let fail = |message: String| Err(CatalogError::Inconsistent(message));
        let mut slugs = HashSet::new();
        for game in &self.games {
            let slug_ok = !game.slug.is_empty()
                && game
                    .slug
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !slug_ok || !slugs.insert(&game.slug) {
                return fail(format!(
                    "slug {:?} is empty, malformed or repeated",
                    game.slug
                ));
            }
            let mut names = HashSet::new();
            for field in &game.fields {
                if !names.insert(&field.name) {
                    return fail(format!("{}: field {} is repeated", game.slug, field.name));
                }
                if let FieldKind::Whole {
                    range_by: Some(range_by),
                    ..
                } = &field.kind
                {
                    let Some(FieldKind::Choice { options }) =
                        game.field(&range_by.field).map(|f| &f.kind)
                    else {
                        return fail(format!(
                            "{}.{}: range_by names no choice field",
                            game.slug, field.name
                        ));
                    };
                    if options
                        .iter()
                        .any(|option| !range_by.ranges.contains_key(option))
                    {
                        return fail(format!(
                            "{}.{}: a {} has no range",
                            game.slug, field.name, range_by.field
                        ));
                    }
                }
            }
            if !matches!(game.field("date").map(|f| &f.kind), Some(FieldKind::Date)) {
                return fail(format!("{}: every game needs a date field", game.slug));
            }
        }
        Ok(())
    }
}

impl Game {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// Parses a submitted form: every catalog field from its text, other keys ignored.
    pub fn parse_form(
        &self,
        form: &HashMap<String, String>,
        today: Date,
    ) -> Result<Fields, FieldErrors> {
        self.parse_with(today, |field| {
            Ok(form.get(&field.name).map(|text| Raw::Text(text.clone())))
        })
    }

    /// Parses a JSON object from the API: numbers as JSON numbers, lists as arrays, the
    /// rest as strings; unknown keys are refused.
    pub fn parse_json(
        &self,
        object: &Map<String, Json>,
        today: Date,
    ) -> Result<Fields, FieldErrors> {
        let mut unknown = FieldErrors::new();
        for key in object.keys().filter(|key| self.field(key).is_none()) {
            unknown.insert(key.clone(), "is not a field of this game".into());
        }
        let parsed = self.parse_with(today, |field| raw_from_json(field, object.get(&field.name)));
        match parsed {
            Ok(fields) if unknown.is_empty() => Ok(fields),
            Ok(_) => Err(unknown),
            Err(mut errors) => {
                errors.extend(unknown);
                Err(errors)
            }
        }
    }

    /// Reads values that a store wrote with [`Game::encode`], checking kinds but not limits,
    /// so a match stays readable after the catalog's limits change.
    pub fn decode(&self, object: &Map<String, Json>) -> Result<Fields, FieldErrors> {
        let mut fields = Fields::new();
        let mut errors = FieldErrors::new();
        for field in &self.fields {
            match object
                .get(&field.name)
                .map(|json| decode_value(&field.kind, json))
            {
                Some(Some(value)) => {
                    fields.insert(field.name.clone(), value);
                }
                Some(None) => {
                    errors.insert(field.name.clone(), "has the wrong kind".into());
                }
                None => {}
            }
        }
        if errors.is_empty() {
            Ok(fields)
        } else {
            Err(errors)
        }
    }

    /// The wire and storage form: whole numbers as JSON numbers, dates as `YYYY-MM-DD`,
    /// durations as `M:SS`, names as arrays.
    pub fn encode(&self, fields: &Fields) -> Map<String, Json> {
        fields
            .iter()
            .map(|(name, value)| (name.clone(), value.to_json()))
            .collect()
    }

    /// The values a new-match form starts with.
    pub fn form_defaults(&self, today: Date) -> HashMap<String, String> {
        let mut values = HashMap::new();
        for field in &self.fields {
            if let Some(default) = &field.default {
                values.insert(field.name.clone(), default.clone());
            }
        }
        values.insert("date".into(), Value::Date(today).display());
        values
    }

    fn parse_with(
        &self,
        today: Date,
        raw: impl Fn(&Field) -> Result<Option<Raw>, String>,
    ) -> Result<Fields, FieldErrors> {
        let mut fields = Fields::new();
        let mut errors = FieldErrors::new();
        for field in &self.fields {
            let parsed = raw(field).and_then(|raw| self.parse_field(field, raw, today));
            match parsed {
                Ok(Some(value)) => {
                    fields.insert(field.name.clone(), value);
                }
                Ok(None) => {}
                Err(message) => {
                    errors.insert(field.name.clone(), message);
                }
            }
        }
        self.check_ranges(&fields, &mut errors);
        if errors.is_empty() {
            Ok(fields)
        } else {
            Err(errors)
        }
    }

    fn parse_field(
        &self,
        field: &Field,
        raw: Option<Raw>,
        today: Date,
    ) -> Result<Option<Value>, String> {
        let raw = raw.filter(|raw| !raw.is_blank());
        let Some(raw) = raw else {
            return match (&field.kind, field.optional) {
                (FieldKind::Names { .. }, true) => Ok(Some(Value::Names(Vec::new()))),
                (_, true) => Ok(None),
                (_, false) => Err(format!("{} is required.", field.label)),
            };
        };
        let value = match (&field.kind, raw) {
            (FieldKind::Names { max_items }, raw) => {
                parse_names(field, raw.into_items(), *max_items)?
            }
            (kind, Raw::Text(text)) => parse_text(self, field, kind, text.trim(), today)?,
            (_, Raw::List(_)) => {
                return Err(format!("{} takes one value, not a list.", field.label));
            }
        };
        Ok(Some(value))
    }

    /// Ranges that depend on another field (Apex placement by mode).
    fn check_ranges(&self, fields: &Fields, errors: &mut FieldErrors) {
        for field in &self.fields {
            let FieldKind::Whole {
                range_by: Some(range_by),
                ..
            } = &field.kind
            else {
                continue;
            };
            let (Some(Value::Whole(number)), Some(Value::Text(chooser))) =
                (fields.get(&field.name), fields.get(&range_by.field))
            else {
                continue;
            };
            if let Some(&(min, max)) = range_by.ranges.get(chooser)
                && !(min..=max).contains(number)
            {
                let message = format!(
                    "{} must be between {min} and {max} in {chooser}.",
                    field.label
                );
                errors.insert(field.name.clone(), message);
            }
        }
    }
}

/// Input for one field before parsing.
enum Raw {
    Text(String),
    List(Vec<String>),
}

impl Raw {
    fn is_blank(&self) -> bool {
        match self {
            Raw::Text(text) => text.trim().is_empty(),
            Raw::List(items) => items.iter().all(|item| item.trim().is_empty()),
        }
    }

    fn into_items(self) -> Vec<String> {
        match self {
            Raw::Text(text) => text.split(',').map(str::to_string).collect(),
            Raw::List(items) => items,
        }
    }
}

fn raw_from_json(field: &Field, json: Option<&Json>) -> Result<Option<Raw>, String> {
    let wrong = |expected: &str| Err(format!("{} must be {expected}.", field.label));
    let raw = match (&field.kind, json) {
        (_, None | Some(Json::Null)) => return Ok(None),
        (FieldKind::Whole { .. }, Some(Json::Number(number))) => Raw::Text(number.to_string()),
        (FieldKind::Whole { .. }, Some(_)) => return wrong("a whole number"),
        (FieldKind::Names { .. }, Some(Json::Array(items))) => {
            let texts: Option<Vec<String>> = items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect();
            match texts {
                Some(texts) => Raw::List(texts),
                None => return wrong("a list of names"),
            }
        }
        (FieldKind::Names { .. }, Some(_)) => return wrong("a list of names"),
        (_, Some(Json::String(text))) => Raw::Text(text.clone()),
        (_, Some(_)) => return wrong("text"),
    };
    Ok(Some(raw))
}

fn parse_text(
    game: &Game,
    field: &Field,
    kind: &FieldKind,
    text: &str,
    today: Date,
) -> Result<Value, String> {
    let label = &field.label;
    match kind {
        FieldKind::Date => {
            let date = parse_date(text)
                .ok_or_else(|| format!("{label} must be a date like 2024-05-31."))?;
            if date < game.released {
                return Err(format!(
                    "{label} cannot be before {} came out ({}).",
                    game.label, game.released
                ));
            }
            // A player a day ahead of UTC may log tonight's match under tomorrow's date.
            if date > today.next_day().unwrap_or(today) {
                return Err(format!("{label} cannot be in the future."));
            }
            Ok(Value::Date(date))
        }
        FieldKind::Whole { min, max, .. } => {
            let number =
                parse_whole(text).ok_or_else(|| format!("{label} must be a whole number."))?;
            let number =
                number.map_err(|()| format!("{label} must be between {min} and {max}."))?;
            if !(*min..=*max).contains(&number) {
                return Err(format!("{label} must be between {min} and {max}."));
            }
            Ok(Value::Whole(number))
        }
        FieldKind::Choice { options } => options
            .iter()
            .find(|option| option.to_lowercase() == text.to_lowercase())
            .map(|option| Value::Text(option.clone()))
            .ok_or_else(|| format!("Choose a {} from the list.", label.to_lowercase())),
        FieldKind::Duration {
            min_seconds,
            max_seconds,
        } => {
            let seconds = parse_duration(text)
                .ok_or_else(|| format!("{label} must be minutes:seconds, like 12:34."))?;
            if !(*min_seconds..=*max_seconds).contains(&seconds) {
                return Err(format!(
                    "{label} must be between {} and {}.",
                    Value::Duration(*min_seconds).display(),
                    Value::Duration(*max_seconds).display()
                ));
            }
            Ok(Value::Duration(seconds))
        }
        FieldKind::Names { .. } => unreachable!("names are parsed as lists"),
    }
}

fn parse_names(field: &Field, items: Vec<String>, max_items: usize) -> Result<Value, String> {
    let names: Vec<String> = items
        .iter()
        .map(|item| item.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if names.len() > max_items {
        return Err(format!("{} takes at most {max_items} names.", field.label));
    }
    if let Some(bad) = names
        .iter()
        .find(|name| name.chars().count() > MAX_NAME_CHARS)
    {
        let shown: String = bad.chars().take(12).collect();
        return Err(format!(
            "\"{shown}…\" is longer than {MAX_NAME_CHARS} characters."
        ));
    }
    if names.iter().any(|name| name.chars().any(char::is_control)) {
        return Err(format!(
            "{} cannot contain control characters.",
            field.label
        ));
    }
    Ok(Value::Names(names))
}

/// `Some(Ok(n))` for a whole number that fits, `Some(Err(()))` for one too large to hold,
/// `None` for text that is not a whole number at all. Never goes through floating point.
fn parse_whole(text: &str) -> Option<Result<i64, ()>> {
    let digits = text
        .strip_prefix('-')
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > MAX_DIGITS {
        return Some(Err(()));
    }
    Some(text.parse::<i64>().map_err(|_| ()))
}

fn parse_date(text: &str) -> Option<Date> {
    Date::parse(text, format_description!("[year]-[month]-[day]")).ok()
}

/// `M:SS` (seconds below 60), or `H:MM:SS`.
fn parse_duration(text: &str) -> Option<u32> {
    let parts: Vec<&str> = text.split(':').collect();
    let number = |part: &str| -> Option<u32> {
        (!part.is_empty() && part.len() <= 4 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())?
    };
    let (hours, minutes, seconds) = match parts.as_slice() {
        [m, s] => (0, number(m)?, number(s)?),
        [h, m, s] if m.len() == 2 => (number(h)?, number(m)?, number(s)?),
        _ => return None,
    };
    if seconds >= 60 || parts.last()?.len() != 2 || (parts.len() == 3 && minutes >= 60) {
        return None;
    }
    Some(hours * 3600 + minutes * 60 + seconds)
}

fn decode_value(kind: &FieldKind, json: &Json) -> Option<Value> {
    match (kind, json) {
        (FieldKind::Whole { .. }, Json::Number(n)) => n.as_i64().map(Value::Whole),
        (FieldKind::Date, Json::String(s)) => parse_date(s).map(Value::Date),
        (FieldKind::Duration { .. }, Json::String(s)) => parse_duration(s).map(Value::Duration),
        (FieldKind::Choice { .. }, Json::String(s)) => Some(Value::Text(s.clone())),
        (FieldKind::Names { .. }, Json::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .map(Value::Names),
        _ => None,
    }
}

impl Value {
    /// The text shown in tables and put back into forms.
    pub fn display(&self) -> String {
        match self {
            Value::Whole(n) => n.to_string(),
            Value::Text(text) => text.clone(),
            Value::Date(date) => date
                .format(format_description!("[year]-[month]-[day]"))
                .expect("dates format"),
            Value::Duration(seconds) if *seconds >= 3600 => {
                format!(
                    "{}:{:02}:{:02}",
                    seconds / 3600,
                    seconds % 3600 / 60,
                    seconds % 60
                )
            }
            Value::Duration(seconds) => format!("{}:{:02}", seconds / 60, seconds % 60),
            Value::Names(names) => names.join(", "),
        }
    }

    pub fn to_json(&self) -> Json {
        match self {
            Value::Whole(n) => Json::from(*n),
            Value::Names(names) => Json::from(names.clone()),
            other => Json::from(other.display()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Whole(_) => 0,
            Value::Text(_) => 1,
            Value::Date(_) => 2,
            Value::Duration(_) => 3,
            Value::Names(_) => 4,
        }
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Whole(a), Value::Whole(b)) => a.cmp(b),
            (Value::Text(a), Value::Text(b)) => a
                .to_lowercase()
                .cmp(&b.to_lowercase())
                .then_with(|| a.cmp(b)),
            (Value::Date(a), Value::Date(b)) => a.cmp(b),
            (Value::Duration(a), Value::Duration(b)) => a.cmp(b),
            (Value::Names(a), Value::Names(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn iso_date<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_date(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a YYYY-MM-DD date")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2026 - 12 - 04);

    fn apex() -> &'static Game {
        Catalog::builtin().game("apex").unwrap()
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn valid_apex() -> HashMap<String, String> {
        form(&[
            ("date", "2026-11-30"),
            ("mode", "trios"),
            ("result", "win"),
            ("legend", "wraith"),
            ("kills", "7"),
            ("placement", "1"),
            ("damage", "1450"),
            ("time", "18:05"),
            ("teammates", "Ann Lee, bob"),
        ])
    }

    #[test]
    fn the_shipped_catalog_has_the_three_games_with_their_form_field_names() {
        let catalog = Catalog::builtin();
        let names = |slug: &str| -> Vec<String> {
            catalog
                .game(slug)
                .unwrap()
                .fields
                .iter()
                .map(|f| f.name.clone())
                .collect()
        };
        let mut apex = names("apex");
        apex.sort();
        assert_eq!(
            apex,
            [
                "damage",
                "date",
                "kills",
                "legend",
                "mode",
                "placement",
                "result",
                "teammates",
                "time"
            ]
        );
        let mut fortnite = names("fortnite");
        fortnite.sort();
        assert_eq!(
            fortnite,
            ["date", "kills", "mode", "placement", "result", "teammates"]
        );
        let mut hots = names("hots");
        hots.sort();
        assert_eq!(
            hots,
            [
                "assists", "date", "deaths", "hero", "kills", "map", "result", "time"
            ]
        );
        assert!(catalog.game("").is_none());
        assert!(catalog.game("APEX").is_none());
    }

    #[test]
    fn a_valid_form_parses_to_canonical_values() {
        let fields = apex().parse_form(&valid_apex(), TODAY).unwrap();
        assert_eq!(fields["legend"], Value::Text("Wraith".into()));
        assert_eq!(fields["time"], Value::Duration(18 * 60 + 5));
        assert_eq!(
            fields["teammates"],
            Value::Names(vec!["Ann Lee".into(), "bob".into()])
        );
        assert_eq!(fields["date"].display(), "2026-11-30");
    }

    #[test]
    fn bad_values_get_a_message_at_their_field() {
        let cases = [
            ("kills", "-1", "Kills must be between 0 and 60."),
            ("kills", "seven", "Kills must be a whole number."),
            ("kills", "1.5", "Kills must be a whole number."),
            ("kills", "", "Kills is required."),
            ("kills", &"9".repeat(40), "Kills must be between 0 and 60."),
            (
                "placement",
                "21",
                "Placement must be between 1 and 20 in trios.",
            ),
            ("legend", "Master Chief", "Choose a legend from the list."),
            ("date", "2027-01-01", "Date cannot be in the future."),
            (
                "date",
                "2018-01-01",
                "Date cannot be before Apex Legends came out (2019-02-04).",
            ),
            ("date", "yesterday", "Date must be a date like 2024-05-31."),
            (
                "time",
                "12:75",
                "Time survived must be minutes:seconds, like 12:34.",
            ),
            (
                "time",
                "41:00",
                "Time survived must be between 0:00 and 40:00.",
            ),
            ("teammates", "a, b, c", "Teammates takes at most 2 names."),
            ("mode", "octuples", "Choose a mode from the list."),
        ];
        for (name, value, message) in cases {
            let mut input = valid_apex();
            input.insert(name.into(), value.into());
            let errors = apex().parse_form(&input, TODAY).unwrap_err();
            assert_eq!(
                errors.get(name).map(String::as_str),
                Some(message),
                "{name}={value:?}: {errors:?}"
            );
            assert_eq!(errors.len(), 1, "{name}={value:?}: {errors:?}");
        }
    }

    #[test]
    fn placement_range_follows_the_apex_mode() {
        let mut input = valid_apex();
        input.insert("mode".into(), "duos".into());
        input.insert("placement".into(), "30".into());
        assert!(apex().parse_form(&input, TODAY).is_ok());
        input.insert("placement".into(), "31".into());
        assert!(apex().parse_form(&input, TODAY).is_err());
    }

    #[test]
    fn json_input_is_typed_strictly_and_exactly() {
        let game = apex();
        let mut object = game.encode(&game.parse_form(&valid_apex(), TODAY).unwrap());
        assert_eq!(
            game.parse_json(&object, TODAY).unwrap(),
            game.parse_form(&valid_apex(), TODAY).unwrap()
        );

        object.insert("kills".into(), json!("7"));
        object.insert("surprise".into(), json!(1));
        let errors = game.parse_json(&object, TODAY).unwrap_err();
        assert_eq!(errors["kills"], "Kills must be a whole number.");
        assert_eq!(errors["surprise"], "is not a field of this game");

        let big: Json = serde_json::from_str("9007199254740993").unwrap();
        object.remove("surprise");
        object.insert("kills".into(), big);
        assert_eq!(
            game.parse_json(&object, TODAY).unwrap_err()["kills"],
            "Kills must be between 0 and 60."
        );
    }

    #[test]
    fn whole_numbers_never_pass_through_floating_point() {
        assert_eq!(
            parse_whole("9007199254740993"),
            Some(Ok(9_007_199_254_740_993))
        );
        assert_eq!(parse_whole(&"1".repeat(40)), Some(Err(())));
        assert_eq!(parse_whole("99999999999999999999"), Some(Err(())));
        assert_eq!(parse_whole("1e3"), None);
        let a = Value::Whole(9_007_199_254_740_992);
        let b = Value::Whole(9_007_199_254_740_993);
        assert!(a < b);
        assert_eq!(b.to_json().to_string(), "9007199254740993");
    }

    #[test]
    fn stored_values_decode_without_limits() {
        let game = apex();
        let fields = game.parse_form(&valid_apex(), TODAY).unwrap();
        let stored = game.encode(&fields);
        assert_eq!(game.decode(&stored).unwrap(), fields);
        let mut wrong = stored.clone();
        wrong.insert("kills".into(), json!("many"));
        assert!(game.decode(&wrong).is_err());
    }

    #[test]
    fn durations_read_and_print_both_ways() {
        for (text, seconds) in [
            ("0:00", 0),
            ("18:05", 1085),
            ("95:00", 5700),
            ("1:02:03", 3723),
        ] {
            assert_eq!(parse_duration(text), Some(seconds), "{text}");
        }
        for bad in [
            "",
            "5",
            "1:5",
            "1:60",
            "a:bc",
            "-1:00",
            "1:00:00:00",
            "1:60:00",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(Value::Duration(1085).display(), "18:05");
        assert_eq!(Value::Duration(3723).display(), "1:02:03");
    }

    #[test]
    fn inconsistent_catalogs_are_refused() {
        let repeated = r#"{"games":[{"slug":"a","label":"A","released":"2020-01-01","fields":[
            {"name":"date","label":"D","kind":"date"}]},{"slug":"a","label":"B","released":"2020-01-01",
            "fields":[{"name":"date","label":"D","kind":"date"}]}]}"#;
        assert!(Catalog::from_json(repeated).is_err());
        let no_date = r#"{"games":[{"slug":"a","label":"A","released":"2020-01-01","fields":[]}]}"#;
        assert!(Catalog::from_json(no_date).is_err());
        let empty_slug = r#"{"games":[{"slug":"","label":"A","released":"2020-01-01","fields":[
            {"name":"date","label":"D","kind":"date"}]}]}"#;
        assert!(Catalog::from_json(empty_slug).is_err());
    }
}
