//! The game select page and one game's results: table, filters, paging, stats and chart.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::api::{MatchList, MatchRecord, SortDir, Stats};
use shared::catalog::{FieldKind, Game};
use shared::client::CallError;

use crate::WebState;
use crate::chart;
use crate::error::WebError;
use crate::extract::{PagePath, QueryPairs};
use crate::session::SignedIn;
use crate::urls::with_query;
use crate::views::{
    BreakdownRowView, BreakdownView, Cell, Chrome, Column, Filter, FilterOption, GameCard,
    GameRecord, GamesView, Listing, PageLink, ResultsView, Row, TotalView, html,
};

/// Query keys that each link sets afresh rather than carrying over.
const LINK_KEYS: [&str; 4] = ["page", "sort", "dir", "notice"];
/// Query keys that shape the view rather than choose which matches are shown.
const VIEW_KEYS: [&str; 5] = ["page", "sort", "dir", "notice", "per_page"];

/// The fixed message for a known `notice` value; anything else shows nothing.
pub fn notice(value: Option<&str>) -> Option<&'static str> {
    match value? {
        "saved" => Some("Match saved."),
        "updated" => Some("Match updated."),
        "deleted" => Some("Match deleted."),
        "welcome" => Some("Your account is ready. Pick a game to record your first match."),
        _ => None,
    }
}

/// `GET /games`: a card per catalog game, with how the player is doing in it.
pub async fn list_games(
    State(state): State<WebState>,
    user: SignedIn,
    query: QueryPairs,
) -> Result<Response, WebError> {
    let mut games = Vec::new();
    for game in state.catalog.games() {
        games.push(GameCard {
            slug: game.slug.clone(),
            label: game.label.clone(),
            fields: game
                .fields
                .iter()
                .map(|field| field.label.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            record: game_record(&state, &user, game).await,
        });
    }
    let view = GamesView {
        chrome: Chrome::signed_in(&user, "Your games", None),
        notice: notice(query.get("notice")),
        games,
    };
    Ok(html(&view)?.into_response())
}

/// A game's match count, win rate and latest date: one one-item page from crud. The page
/// still shows without them when crud cannot answer; the numbers are a convenience.
async fn game_record(state: &WebState, user: &SignedIn, game: &Game) -> Option<GameRecord> {
    let newest_first = [("per_page".to_string(), "1".to_string())];
    match state
        .crud
        .list(user.context(), &game.slug, &newest_first)
        .await
    {
        Ok(list) => Some(GameRecord {
            matches: list.stats.matches,
            win_rate: win_rate(list.stats.wins, list.stats.matches),
            last_played: list
                .items
                .first()
                .and_then(|record| record.fields.get("date"))
                .map(|date| raw_text(Some(date))),
        }),
        Err(err) => {
            tracing::warn!(game = %game.slug, error = %err, "game card numbers unavailable");
            None
        }
    }
}

/// `GET /games/{game}`: the query goes to `crud` as the browser sent it.
pub async fn show_results(
    State(state): State<WebState>,
    user: SignedIn,
    PagePath(slug): PagePath<String>,
    query: QueryPairs,
) -> Result<Response, WebError> {
    let game = state.catalog.game(&slug).ok_or(WebError::NotFound)?;
    let upstream: Vec<(String, String)> = query
        .0
        .iter()
        .filter(|(key, value)| key != "notice" && !value.is_empty())
        .cloned()
        .collect();
    let mut view = results_view(&user, game, &query);
    let status = match state.crud.list(user.context(), &game.slug, &upstream).await {
        Ok(list) => {
            view.sort = list.sort.clone();
            view.dir = dir_text(list.dir).to_string();
            view.listing = Some(listing(game, &list, &query));
            // Past the first page the title says which page, as the browser's history shows it.
            if list.page > 1 {
                view.chrome.title = format!(
                    "{} results, page {} of {}",
                    game.label, list.page, list.pages
                );
            }
            StatusCode::OK
        }
        Err(CallError::Refused { status, error, .. }) if error.code == "invalid_query" => {
            view.query_error = Some(error.message);
            status
        }
        Err(err) => return Err(err.into()),
    };
    Ok((status, html(&view)?).into_response())
}

/// The parts of the page that do not depend on crud's answer.
fn results_view(user: &SignedIn, game: &Game, query: &QueryPairs) -> ResultsView {
    let value = |key: &str| query.get(key).unwrap_or("").to_string();
    let filters = filters(game, query);
    let filtered = query
        .0
        .iter()
        .any(|(key, value)| !VIEW_KEYS.contains(&key.as_str()) && !value.is_empty());
    ResultsView {
        chrome: Chrome::signed_in(user, format!("{} results", game.label), Some(&game.slug)),
        slug: game.slug.clone(),
        label: game.label.clone(),
        notice: notice(query.get("notice")),
        saved: query.get("notice") == Some("saved"),
        query_error: None,
        filters,
        from: value("from"),
        to: value("to"),
        sort: value("sort"),
        dir: value("dir"),
        per_page: value("per_page"),
        filtered,
        listing: None,
    }
}

fn filters(game: &Game, query: &QueryPairs) -> Vec<Filter> {
    game.fields
        .iter()
        .filter_map(|field| match &field.kind {
            FieldKind::Choice { options } => Some(Filter {
                name: field.name.clone(),
                label: field.label.clone(),
                options: options
                    .iter()
                    .map(|option| FilterOption {
                        value: option.clone(),
                        selected: query
                            .get(&field.name)
                            .is_some_and(|chosen| chosen.eq_ignore_ascii_case(option)),
                    })
                    .collect(),
            }),
            _ => None,
        })
        .collect()
}

fn listing(game: &Game, list: &MatchList, query: &QueryPairs) -> Listing {
    let kept: Vec<(&str, &str)> = query
        .0
        .iter()
        .filter(|(key, value)| !LINK_KEYS.contains(&key.as_str()) && !value.is_empty())
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    let base = format!("/games/{}", game.slug);
    let dir = dir_text(list.dir);
    let page_href = |page: u32| {
        let page = page.to_string();
        let mut pairs = kept.clone();
        pairs.extend([
            ("sort", list.sort.as_str()),
            ("dir", dir),
            ("page", page.as_str()),
        ]);
        with_query(&base, pairs)
    };
    let stats = &list.stats;
    Listing {
        columns: columns(game, list, &base, &kept),
        rows: list.items.iter().map(|record| row(game, record)).collect(),
        total: list.total,
        page: list.page,
        pages: list.pages,
        prev_href: (list.page > 1).then(|| page_href(list.page - 1)),
        next_href: (list.page < list.pages).then(|| page_href(list.page + 1)),
        page_links: page_numbers(list.page, list.pages)
            .into_iter()
            .map(|number| PageLink {
                number,
                href: if number == 0 {
                    String::new()
                } else {
                    page_href(number)
                },
                current: number == list.page,
            })
            .collect(),
        matches: stats.matches,
        wins: stats.wins,
        win_rate: win_rate(stats.wins, stats.matches),
        totals: totals(stats),
        breakdowns: breakdowns(stats),
        chart: chart::layout(&stats.months),
    }
}

/// A header per catalog field; a click sorts by it, a second click reverses.
fn columns(game: &Game, list: &MatchList, base: &str, kept: &[(&str, &str)]) -> Vec<Column> {
    game.fields
        .iter()
        .map(|field| {
            let current = list.sort == field.name;
            let next_dir = match (current, list.dir, &field.kind) {
                (true, SortDir::Desc, _) => "asc",
                (true, SortDir::Asc, _) => "desc",
                (false, _, FieldKind::Choice { .. } | FieldKind::Names { .. }) => "asc",
                (false, _, _) => "desc",
            };
            let mut pairs = kept.to_vec();
            pairs.extend([("sort", field.name.as_str()), ("dir", next_dir)]);
            Column {
                label: field.label.clone(),
                href: with_query(base, pairs),
                aria_sort: match (current, list.dir) {
                    (false, _) => "",
                    (true, SortDir::Asc) => "ascending",
                    (true, SortDir::Desc) => "descending",
                },
                numeric: matches!(
                    field.kind,
                    FieldKind::Whole { .. } | FieldKind::Duration { .. }
                ),
            }
        })
        .collect()
}

/// Pages to offer by number: the first, the last and two either side of the current one;
/// `0` stands for the pages left out between them.
fn page_numbers(current: u32, pages: u32) -> Vec<u32> {
    let mut numbers = Vec::new();
    for number in 1..=pages {
        let near = number.abs_diff(current) <= 2;
        if number == 1 || number == pages || near {
            match numbers.last() {
                // A gap of one page shows that page rather than a mark standing for it.
                Some(&last) if last + 2 == number => numbers.push(last + 1),
                Some(&last) if last + 2 < number => numbers.push(0),
                _ => {}
            }
            numbers.push(number);
        }
    }
    numbers
}

fn row(game: &Game, record: &MatchRecord) -> Row {
    let texts: Vec<String> = match game.decode(&record.fields) {
        Ok(fields) => game
            .fields
            .iter()
            .map(|field| {
                fields
                    .get(&field.name)
                    .map(|v| v.display())
                    .unwrap_or_default()
            })
            .collect(),
        Err(errors) => {
            // A stored value of the wrong kind is shown as stored rather than hiding the row.
            tracing::warn!(result.id = %record.id, ?errors, "stored match does not decode");
            game.fields
                .iter()
                .map(|field| raw_text(record.fields.get(&field.name)))
                .collect()
        }
    };
    let summary = texts
        .iter()
        .filter(|text| !text.is_empty())
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let cells = game
        .fields
        .iter()
        .zip(texts)
        .map(|(field, text)| Cell {
            class: cell_class(&field.name, &field.kind, &text),
            text,
        })
        .collect();
    let base = format!("/games/{}/{}", game.slug, record.id);
    Row {
        cells,
        edit_href: format!("{base}/edit"),
        delete_href: format!("{base}/delete"),
        summary,
    }
}

/// Numbers line up on the right; a result reads as a badge.
fn cell_class(name: &str, kind: &FieldKind, text: &str) -> &'static str {
    match kind {
        FieldKind::Whole { .. } | FieldKind::Duration { .. } => "num",
        FieldKind::Choice { .. } if name == "result" && text.eq_ignore_ascii_case("win") => "win",
        FieldKind::Choice { .. } if name == "result" => "loss",
        _ => "",
    }
}

fn raw_text(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

fn totals(stats: &Stats) -> Vec<TotalView> {
    stats
        .totals
        .iter()
        .map(|total| TotalView {
            label: total.label.clone(),
            sum: total.sum,
            average: format!("{:.1}", total.average),
        })
        .collect()
}

fn breakdowns(stats: &Stats) -> Vec<BreakdownView> {
    stats
        .breakdowns
        .iter()
        .map(|breakdown| BreakdownView {
            label: breakdown.label.clone(),
            rows: breakdown
                .rows
                .iter()
                .map(|row| BreakdownRowView {
                    value: row.value.clone(),
                    matches: row.matches,
                    wins: row.wins,
                    win_rate: win_rate(row.wins, row.matches),
                    kills: row.kills,
                })
                .collect(),
        })
        .collect()
}

fn win_rate(wins: u64, matches: u64) -> String {
    if matches == 0 {
        return "–".to_string();
    }
    format!("{:.0}%", wins as f64 * 100.0 / matches as f64)
}

fn dir_text(dir: SortDir) -> &'static str {
    match dir {
        SortDir::Asc => "asc",
        SortDir::Desc => "desc",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_notices_show_a_message() {
        assert_eq!(notice(Some("saved")), Some("Match saved."));
        assert_eq!(notice(Some("deleted")), Some("Match deleted."));
        assert_eq!(notice(Some("<script>")), None);
        assert_eq!(notice(None), None);
    }

    #[test]
    fn pagers_offer_the_ends_and_the_pages_near_the_current_one() {
        assert_eq!(page_numbers(1, 1), vec![1]);
        assert_eq!(page_numbers(1, 3), vec![1, 2, 3]);
        assert_eq!(page_numbers(1, 9), vec![1, 2, 3, 0, 9]);
        assert_eq!(page_numbers(5, 9), vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(page_numbers(6, 12), vec![1, 0, 4, 5, 6, 7, 8, 0, 12]);
        assert_eq!(page_numbers(12, 12), vec![1, 0, 10, 11, 12]);
    }

    #[test]
    fn results_read_as_badges_and_numbers_line_up() {
        let choice = FieldKind::Choice {
            options: vec!["win".into(), "loss".into()],
        };
        assert_eq!(cell_class("result", &choice, "win"), "win");
        assert_eq!(cell_class("result", &choice, "loss"), "loss");
        assert_eq!(cell_class("mode", &choice, "win"), "");
        let whole = FieldKind::Whole {
            min: 0,
            max: 9,
            range_by: None,
        };
        assert_eq!(cell_class("kills", &whole, "3"), "num");
    }

    #[test]
    fn win_rates_round_and_survive_zero_matches() {
        assert_eq!(win_rate(1, 3), "33%");
        assert_eq!(win_rate(0, 0), "–");
    }
}
