//! One game's match list: the query (sort, direction, page, filters) parsed at the edge,
//! then filtering, sorting, paging and stats over the store's full listing.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use results_store::StoredMatch;
use shared::api::{MatchList, MatchRecord, SortDir};
use shared::catalog::{FieldKind, Fields, Game, Value};
use time::Date;
use time::macros::format_description;

use crate::error::CrudError;

const DEFAULT_PER_PAGE: u32 = 20;
const MAX_PER_PAGE: u32 = 100;
/// Sorts by when the match was recorded rather than by a field.
const SORT_CREATED: &str = "created";

/// A parsed list query. Only valid values get here.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// A field name of the game, or [`SORT_CREATED`].
    sort: String,
    dir: SortDir,
    page: u32,
    per_page: u32,
    /// Choice field name → canonical option.
    choices: BTreeMap<String, String>,
    from: Option<Date>,
    to: Option<Date>,
}

impl ListQuery {
    /// Reads `pairs` for `game`. An empty value means "not set", as an untouched form
    /// control sends it.
    pub fn parse(game: &Game, pairs: &[(String, String)]) -> Result<Self, CrudError> {
        let mut query = Self {
            sort: "date".into(),
            dir: SortDir::Desc,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            choices: BTreeMap::new(),
            from: None,
            to: None,
        };
        let mut seen = Vec::new();
        for (name, value) in pairs {
            if seen.contains(&name) {
                return Err(bad(format!("{} is given more than once.", shown(name))));
            }
            seen.push(name);
            let value = value.trim();
            if !value.is_empty() {
                query.set(game, name, value)?;
            }
        }
        if let (Some(from), Some(to)) = (query.from, query.to)
            && from > to
        {
            return Err(bad("from must not be after to.".into()));
        }
        Ok(query)
    }

    fn set(&mut self, game: &Game, name: &str, value: &str) -> Result<(), CrudError> {
        match name {
            "sort" => self.sort = parse_sort(game, value)?,
            "dir" => self.dir = parse_dir(value)?,
            "page" => {
                self.page = parse_number(value, 1, u32::MAX)
                    .ok_or_else(|| bad("page must be a whole number of at least 1.".into()))?
            }
            "per_page" => {
                self.per_page = parse_number(value, 1, MAX_PER_PAGE).ok_or_else(|| {
                    bad(format!(
                        "per_page must be a whole number from 1 to {MAX_PER_PAGE}."
                    ))
                })?;
            }
            "from" => self.from = Some(parse_date("from", value)?),
            "to" => self.to = Some(parse_date("to", value)?),
            _ => {
                let option = parse_choice(game, name, value)?;
                self.choices.insert(name.to_string(), option);
            }
        }
        Ok(())
    }

    /// The filters in effect, by name, as the list echoes them.
    fn filters(&self) -> BTreeMap<String, String> {
        let mut filters = self.choices.clone();
        let dates = [("from", self.from), ("to", self.to)];
        for (name, date) in dates {
            if let Some(date) = date {
                filters.insert(name.into(), Value::Date(date).display());
            }
        }
        filters
    }

    fn keeps(&self, fields: &Fields) -> bool {
        let choices_match = self.choices.iter().all(
            |(name, option)| matches!(fields.get(name), Some(Value::Text(text)) if text == option),
        );
        let date = match fields.get("date") {
            Some(Value::Date(date)) => Some(*date),
            _ => None,
        };
        let in_range = |bound: Option<Date>, ok: fn(&Date, &Date) -> bool| match (bound, date) {
            (None, _) => true,
            (Some(bound), Some(date)) => ok(&date, &bound),
            (Some(_), None) => false,
        };
        choices_match && in_range(self.from, |d, b| d >= b) && in_range(self.to, |d, b| d <= b)
    }

    /// Orders two matches: by the sort key in the chosen direction, matches without a
    /// value last either way, then by creation and id so that pages never shuffle.
    fn compare(&self, a: &Entry, b: &Entry) -> Ordering {
        let directed = |ordering: Ordering| match self.dir {
            SortDir::Asc => ordering,
            SortDir::Desc => ordering.reverse(),
        };
        let primary = if self.sort == SORT_CREATED {
            Ordering::Equal
        } else {
            match (a.fields.get(&self.sort), b.fields.get(&self.sort)) {
                (Some(x), Some(y)) => directed(x.cmp(y)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        };
        primary
            .then_with(|| directed(a.record.created_at.cmp(&b.record.created_at)))
            .then_with(|| directed(a.record.id.cmp(&b.record.id)))
    }
}

fn bad(message: String) -> CrudError {
    CrudError::BadQuery(message)
}

/// A parameter name fit to repeat in a message: plain and short, or not repeated at all.
fn shown(name: &str) -> String {
    let plain = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        name.to_string()
    } else {
        "A query parameter".into()
    }
}

fn parse_sort(game: &Game, value: &str) -> Result<String, CrudError> {
    if value == SORT_CREATED || game.field(value).is_some() {
        return Ok(value.to_string());
    }
    let mut names: Vec<&str> = game.fields.iter().map(|f| f.name.as_str()).collect();
    names.push(SORT_CREATED);
    Err(bad(format!("sort must be one of: {}.", names.join(", "))))
}

fn parse_dir(value: &str) -> Result<SortDir, CrudError> {
    match value {
        "asc" => Ok(SortDir::Asc),
        "desc" => Ok(SortDir::Desc),
        _ => Err(bad("dir must be asc or desc.".into())),
    }
}

fn parse_number(value: &str, min: u32, max: u32) -> Option<u32> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
}

fn parse_date(name: &str, value: &str) -> Result<Date, CrudError> {
    Date::parse(value, format_description!("[year]-[month]-[day]"))
        .map_err(|_| bad(format!("{name} must be a date like 2024-05-31.")))
}

/// A filter on a choice field, matched without regard to case like the forms are.
fn parse_choice(game: &Game, name: &str, value: &str) -> Result<String, CrudError> {
    let Some(field) = game.field(name) else {
        return Err(bad(format!(
            "{} is not something this list can be filtered or sorted by.",
            shown(name)
        )));
    };
    let FieldKind::Choice { options } = &field.kind else {
        return Err(bad(format!(
            "{name} cannot be used as a filter; only fields with a fixed list of choices can."
        )));
    };
    options
        .iter()
        .find(|option| option.to_lowercase() == value.to_lowercase())
        .cloned()
        .ok_or_else(|| bad(format!("{name} must be one of this game's choices.")))
}

/// A stored match with its values read through the catalog.
struct Entry {
    record: StoredMatch,
    fields: Fields,
}

/// The page of `records` that `query` asks for, with stats over every match it keeps.
pub fn build(game: &Game, query: &ListQuery, records: Vec<StoredMatch>) -> MatchList {
    let mut kept: Vec<Entry> = records
        .into_iter()
        .map(|record| read_entry(game, record))
        .filter(|entry| query.keeps(&entry.fields))
        .collect();
    kept.sort_by(|a, b| query.compare(a, b));

    let values: Vec<Fields> = kept.iter().map(|entry| entry.fields.clone()).collect();
    let stats = shared::stats::compute(game, &values);
    let total = kept.len();
    let per_page = query.per_page as usize;
    let pages = total.div_ceil(per_page).max(1);
    let skip = (query.page as usize - 1).saturating_mul(per_page);
    let items = kept
        .into_iter()
        .skip(skip)
        .take(per_page)
        .map(|entry| to_record(game, entry.record))
        .collect();

    MatchList {
        items,
        total,
        page: query.page,
        per_page: query.per_page,
        pages: u32::try_from(pages).unwrap_or(u32::MAX),
        sort: query.sort.clone(),
        dir: query.dir,
        filters: query.filters(),
        stats,
    }
}

fn read_entry(game: &Game, record: StoredMatch) -> Entry {
    let fields = game.decode(&record.fields).unwrap_or_else(|errors| {
        // Kept in the list so the player still sees it; it just sorts and counts as empty.
        tracing::warn!(
            game = %game.slug,
            result.id = %record.id,
            ?errors,
            "stored match does not fit the catalog"
        );
        Fields::new()
    });
    Entry { record, fields }
}

/// The wire form of a stored match.
pub fn to_record(game: &Game, record: StoredMatch) -> MatchRecord {
    MatchRecord {
        id: record.id,
        game: game.slug.clone(),
        fields: record.fields,
        created_at: record.created_at,
        updated_at: record.updated_at,
    }
}

#[cfg(test)]
mod tests {
    use shared::catalog::Catalog;

    use super::*;

    fn apex() -> &'static Game {
        Catalog::builtin().game("apex").unwrap()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn message(items: &[(&str, &str)]) -> String {
        match ListQuery::parse(apex(), &pairs(items)) {
            Err(CrudError::BadQuery(message)) => message,
            other => panic!("{items:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn an_empty_query_takes_the_defaults() {
        let query = ListQuery::parse(apex(), &[]).unwrap();
        assert_eq!(query.sort, "date");
        assert_eq!(query.dir, SortDir::Desc);
        assert_eq!((query.page, query.per_page), (1, 20));
        assert!(query.filters().is_empty());
    }

    #[test]
    fn valid_values_are_read_and_choices_made_canonical() {
        let query = ListQuery::parse(
            apex(),
            &pairs(&[
                ("sort", "kills"),
                ("dir", "asc"),
                ("page", "3"),
                ("per_page", "100"),
                ("legend", "wraith"),
                ("result", "WIN"),
                ("from", "2026-01-01"),
                ("to", ""),
            ]),
        )
        .unwrap();
        assert_eq!((query.sort.as_str(), query.dir), ("kills", SortDir::Asc));
        assert_eq!((query.page, query.per_page), (3, 100));
        let filters = query.filters();
        assert_eq!(filters["legend"], "Wraith");
        assert_eq!(filters["result"], "win");
        assert_eq!(filters["from"], "2026-01-01");
        assert!(!filters.contains_key("to"));
    }

    #[test]
    fn bad_values_get_plain_messages() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("page", "abc")],
                "page must be a whole number of at least 1.",
            ),
            (
                &[("page", "0")],
                "page must be a whole number of at least 1.",
            ),
            (
                &[("page", "-1")],
                "page must be a whole number of at least 1.",
            ),
            (
                &[("page", "99999999999")],
                "page must be a whole number of at least 1.",
            ),
            (
                &[("per_page", "101")],
                "per_page must be a whole number from 1 to 100.",
            ),
            (&[("dir", "up")], "dir must be asc or desc."),
            (
                &[("from", "yesterday")],
                "from must be a date like 2024-05-31.",
            ),
            (
                &[("from", "2026-02-01"), ("to", "2026-01-01")],
                "from must not be after to.",
            ),
            (
                &[("legend", "Master Chief")],
                "legend must be one of this game's choices.",
            ),
            (
                &[("kills", "3")],
                "kills cannot be used as a filter; only fields with a fixed list of choices can.",
            ),
            (
                &[("colour", "red")],
                "colour is not something this list can be filtered or sorted by.",
            ),
            (
                &[("<script>", "x")],
                "A query parameter is not something this list can be filtered or sorted by.",
            ),
            (
                &[("page", "1"), ("page", "2")],
                "page is given more than once.",
            ),
        ];
        for (items, expected) in cases {
            assert_eq!(message(items), *expected, "{items:?}");
        }
        assert!(message(&[("sort", "colour")]).starts_with("sort must be one of: date, mode,"));
    }
}
