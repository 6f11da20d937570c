//! The page templates and the plain data they show. Askama escapes every value.

use askama::Template;
use axum::response::Html;
use shared::catalog::Catalog;

use crate::chart::Chart;
use crate::error::WebError;
use crate::session::SignedIn;

/// Renders a template into an HTML response.
pub fn html(template: &impl Template) -> Result<Html<String>, WebError> {
    Ok(Html(template.render()?))
}

/// A game in the header's navigation.
pub struct NavGame {
    pub slug: String,
    pub label: String,
    pub current: bool,
}

/// What every page's frame shows: the title, the games, who is signed in.
pub struct Chrome {
    /// Where the page is; " · matchlog" follows it in the title.
    pub title: String,
    pub user_name: Option<String>,
    /// The session's CSRF token, for the sign-out button.
    pub csrf: String,
    pub games: Vec<NavGame>,
    /// Sign-in and create-account links, on the signed-out pages.
    pub account_links: bool,
}

impl Chrome {
    pub fn signed_in(user: &SignedIn, title: impl Into<String>, current: Option<&str>) -> Self {
        let games = Catalog::builtin()
            .games()
            .iter()
            .map(|game| NavGame {
                slug: game.slug.clone(),
                label: game.label.clone(),
                current: current == Some(game.slug.as_str()),
            })
            .collect();
        Self {
            title: title.into(),
            user_name: Some(user.user_name.clone()),
            csrf: user.csrf.clone(),
            games,
            account_links: false,
        }
    }

    pub fn signed_out(title: impl Into<String>) -> Self {
        Self {
            account_links: true,
            ..Self::neutral(title)
        }
    }

    /// For error pages, which do not know who is asking.
    pub fn neutral(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            user_name: None,
            csrf: String::new(),
            games: Vec::new(),
            account_links: false,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorView {
    pub chrome: Chrome,
    pub status: u16,
    pub message: String,
    pub request_id: String,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInView {
    pub chrome: Chrome,
    pub csrf: String,
    pub user_name: String,
    pub error: Option<&'static str>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "sign_up.html")]
pub struct SignUpView {
    pub chrome: Chrome,
    pub csrf: String,
    pub user_name: String,
    pub name_error: Option<String>,
    pub pass_error: Option<String>,
    pub form_error: Option<String>,
}

pub struct GameCard {
    pub slug: String,
    pub label: String,
    pub fields: String,
    /// How the player is doing in this game; `None` when the numbers could not be had.
    pub record: Option<GameRecord>,
}

/// A game card's numbers.
pub struct GameRecord {
    pub matches: u64,
    pub win_rate: String,
    /// The date of the latest match, when there is one.
    pub last_played: Option<String>,
}

#[derive(Template)]
#[template(path = "games.html")]
pub struct GamesView {
    pub chrome: Chrome,
    pub notice: Option<&'static str>,
    pub games: Vec<GameCard>,
}

/// A sortable column header.
pub struct Column {
    pub label: String,
    pub href: String,
    /// `ascending`, `descending`, or empty when the table is not sorted by this column.
    pub aria_sort: &'static str,
    /// Numbers and durations line up on the right, their heading too.
    pub numeric: bool,
}

pub struct Row {
    pub cells: Vec<Cell>,
    pub edit_href: String,
    pub delete_href: String,
    /// Names the row in its links' accessible names ("Edit the match of 2026-12-04").
    pub summary: String,
}

/// One table cell and how it is set: `num` right-aligned, `win`/`loss` as a badge.
pub struct Cell {
    pub text: String,
    pub class: &'static str,
}

/// A link in the pager: a page number, or a gap (`number == 0`) between distant pages.
pub struct PageLink {
    pub number: u32,
    pub href: String,
    pub current: bool,
}

/// A filter `<select>` for one choice field.
pub struct Filter {
    pub name: String,
    pub label: String,
    pub options: Vec<FilterOption>,
}

pub struct FilterOption {
    pub value: String,
    pub selected: bool,
}

pub struct TotalView {
    pub label: String,
    pub sum: i64,
    pub average: String,
}

pub struct BreakdownView {
    pub label: String,
    pub rows: Vec<BreakdownRowView>,
}

pub struct BreakdownRowView {
    pub value: String,
    pub matches: u64,
    pub wins: u64,
    pub win_rate: String,
    pub kills: i64,
}

/// One page of results with its stats, as the results page shows them.
pub struct Listing {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub total: usize,
    pub page: u32,
    pub pages: u32,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    pub page_links: Vec<PageLink>,
    pub matches: u64,
    pub wins: u64,
    pub win_rate: String,
    pub totals: Vec<TotalView>,
    pub breakdowns: Vec<BreakdownView>,
    pub chart: Option<Chart>,
}

#[derive(Template)]
#[template(path = "results.html")]
pub struct ResultsView {
    pub chrome: Chrome,
    pub slug: String,
    pub label: String,
    pub notice: Option<&'static str>,
    /// After a save, the notice offers to record another match.
    pub saved: bool,
    /// crud's plain message for a sort, filter or page it could not use.
    pub query_error: Option<String>,
    pub filters: Vec<Filter>,
    pub from: String,
    pub to: String,
    pub sort: String,
    pub dir: String,
    pub per_page: String,
    pub filtered: bool,
    pub listing: Option<Listing>,
}

impl ResultsView {
    /// Filters help once there is something to filter; an empty game shows only the way
    /// to record a first match.
    pub fn show_filters(&self) -> bool {
        self.filtered
            || self.query_error.is_some()
            || self
                .listing
                .as_ref()
                .is_some_and(|listing| listing.total > 0)
    }
}

/// One labelled input of the match form.
pub struct FormField {
    pub name: String,
    pub label: String,
    /// `radio`, `choice`, `number`, `date`, `duration` or `names`.
    pub kind: &'static str,
    /// Takes the form's full width; short inputs share a row.
    pub wide: bool,
    pub value: String,
    pub error: Option<String>,
    pub options: Vec<String>,
    pub required: bool,
    pub min: String,
    pub max: String,
    pub hint: String,
}

impl FormField {
    /// Whether `option` is the current value of a group of radio buttons.
    pub fn is_selected(&self, option: &str) -> bool {
        self.value.eq_ignore_ascii_case(option)
    }
}

#[derive(Template)]
#[template(path = "match_form.html")]
pub struct MatchFormView {
    pub chrome: Chrome,
    pub heading: String,
    pub action: String,
    pub submit: &'static str,
    pub slug: String,
    pub fields: Vec<FormField>,
    pub has_errors: bool,
    pub form_error: Option<String>,
    /// On the edit form, the way to delete the match instead.
    pub delete_href: Option<String>,
}

impl MatchFormView {
    /// Whether any field has a message, for the list of them above the form.
    pub fn any_field_error(&self) -> bool {
        self.fields.iter().any(|field| field.error.is_some())
    }
}

pub struct Detail {
    pub label: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "delete.html")]
pub struct DeleteView {
    pub chrome: Chrome,
    pub label: String,
    pub slug: String,
    pub action: String,
    pub details: Vec<Detail>,
}
