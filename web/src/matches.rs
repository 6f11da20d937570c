//! Recording, editing and deleting one match. The form is built from the catalog, so a
//! new game needs no new page.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::api::{ApiError, MatchRecord, MatchUpdate, NewMatch};
use shared::catalog::{FieldErrors, FieldKind, Game};
use shared::client::CallError;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::WebState;
use crate::account::see_other;
use crate::error::WebError;
use crate::extract::{Form, PagePath};
use crate::session::{SessionCookie, SignedIn};
use crate::views::{Chrome, DeleteView, Detail, FormField, MatchFormView, html};

/// A form's values by field name, as submitted or as stored.
type Values = HashMap<String, String>;

/// Choice fields with at most this many options are radio buttons rather than a text
/// field with suggestions (a result, a mode).
const MAX_RADIOS: usize = 4;

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Which of the two match forms is shown.
enum Mode {
    New,
    Edit(Uuid),
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn find_game(state: &WebState, slug: &str) -> Result<&'static Game, WebError> {
    state.catalog.game(slug).ok_or(WebError::NotFound)
}

/// An id that is not a UUID names no match.
fn parse_id(text: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(text).map_err(|_| WebError::NotFound)
}

/// `GET /games/{game}/new`.
pub async fn new_match(
    State(state): State<WebState>,
    user: SignedIn,
    PagePath(slug): PagePath<String>,
) -> Result<Response, WebError> {
    let game = find_game(&state, &slug)?;
    let values = game.form_defaults(today());
    form_page(&user, game, &Mode::New, &values, &FieldErrors::new(), None)
}

/// `POST /games/{game}`: records a match under an id chosen here, so that a retried
/// create is stored once.
pub async fn create_match(
    State(state): State<WebState>,
    cookie: SessionCookie,
    PagePath(slug): PagePath<String>,
    Form(values): Form<Values>,
) -> Result<Response, WebError> {
    let user = authorize(&state, cookie, &values).await?;
    let game = find_game(&state, &slug)?;
    let fields = match game.parse_form(&values, today()) {
        Ok(fields) => fields,
        Err(errors) => return form_page(&user, game, &Mode::New, &values, &errors, None),
    };
    let new = NewMatch {
        id: Uuid::now_v7(),
        fields: game.encode(&fields),
    };
    match state.crud.create(user.context(), &game.slug, &new).await {
        Ok(_) => Ok(back_to_results(game, "saved")),
        Err(err) => refused_form(err, &user, game, &Mode::New, &values),
    }
}

/// `GET /games/{game}/{id}/edit`: the form filled with the stored values.
pub async fn edit_match(
    State(state): State<WebState>,
    user: SignedIn,
    PagePath((slug, id)): PagePath<(String, String)>,
) -> Result<Response, WebError> {
    let game = find_game(&state, &slug)?;
    let id = parse_id(&id)?;
    let record = state.crud.get(user.context(), &game.slug, id).await?;
    let values = stored_values(game, &record);
    form_page(
        &user,
        game,
        &Mode::Edit(id),
        &values,
        &FieldErrors::new(),
        None,
    )
}

/// `GET /games/{game}/{id}`: a match has no page of its own; its edit form shows it.
pub async fn show_match(
    State(state): State<WebState>,
    PagePath((slug, id)): PagePath<(String, String)>,
) -> Result<Response, WebError> {
    let game = find_game(&state, &slug)?;
    let id = parse_id(&id)?;
    Ok(see_other(
        &format!("/games/{}/{id}/edit", game.slug),
        Vec::new(),
    ))
}

/// `POST /games/{game}/{id}`.
pub async fn update_match(
    State(state): State<WebState>,
    cookie: SessionCookie,
    PagePath((slug, id)): PagePath<(String, String)>,
    Form(values): Form<Values>,
) -> Result<Response, WebError> {
    let user = authorize(&state, cookie, &values).await?;
    let game = find_game(&state, &slug)?;
    let id = parse_id(&id)?;
    let mode = Mode::Edit(id);
    let fields = match game.parse_form(&values, today()) {
        Ok(fields) => fields,
        Err(errors) => return form_page(&user, game, &mode, &values, &errors, None),
    };
    let update = MatchUpdate {
        fields: game.encode(&fields),
    };
    match state
        .crud
        .update(user.context(), &game.slug, id, &update)
        .await
    {
        Ok(_) => Ok(back_to_results(game, "updated")),
        Err(err) => refused_form(err, &user, game, &mode, &values),
    }
}

/// `GET /games/{game}/{id}/delete`: asks before deleting.
pub async fn confirm_delete(
    State(state): State<WebState>,
    user: SignedIn,
    PagePath((slug, id)): PagePath<(String, String)>,
) -> Result<Response, WebError> {
    let game = find_game(&state, &slug)?;
    let id = parse_id(&id)?;
    let record = state.crud.get(user.context(), &game.slug, id).await?;
    let values = stored_values(game, &record);
    let details = game
        .fields
        .iter()
        .filter_map(|field| {
            let value = values.get(&field.name).filter(|v| !v.is_empty())?;
            Some(Detail {
                label: field.label.clone(),
                value: value.clone(),
            })
        })
        .collect();
    let view = DeleteView {
        chrome: Chrome::signed_in(
            &user,
            format!("Delete {} match", game.label),
            Some(&game.slug),
        ),
        label: game.label.clone(),
        slug: game.slug.clone(),
        action: format!("/games/{}/{id}/delete", game.slug),
        details,
    };
    Ok(html(&view)?.into_response())
}

/// `POST /games/{game}/{id}/delete`.
pub async fn delete_match(
    State(state): State<WebState>,
    cookie: SessionCookie,
    PagePath((slug, id)): PagePath<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let user = state.authorize(cookie, &form.csrf).await?;
    let game = find_game(&state, &slug)?;
    let id = parse_id(&id)?;
    state.crud.delete(user.context(), &game.slug, id).await?;
    Ok(back_to_results(game, "deleted"))
}

async fn authorize(
    state: &WebState,
    cookie: SessionCookie,
    values: &Values,
) -> Result<SignedIn, WebError> {
    let csrf = values.get("csrf").map_or("", String::as_str);
    state.authorize(cookie, csrf).await
}

fn back_to_results(game: &Game, notice: &str) -> Response {
    see_other(&format!("/games/{}?notice={notice}", game.slug), Vec::new())
}

/// crud's 422 comes back like our own validation; anything else is an error page.
fn refused_form(
    err: CallError,
    user: &SignedIn,
    game: &Game,
    mode: &Mode,
    values: &Values,
) -> Result<Response, WebError> {
    match err {
        CallError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error,
            ..
        } => {
            let (errors, other) = split_errors(game, &error);
            form_page(user, game, mode, values, &errors, other)
        }
        other => Err(other.into()),
    }
}

/// Messages for catalog fields go beside them; anything else goes above the form.
fn split_errors(game: &Game, error: &ApiError) -> (FieldErrors, Option<String>) {
    let (known, unknown): (FieldErrors, FieldErrors) = error
        .fields
        .clone()
        .into_iter()
        .partition(|(name, _)| game.field(name).is_some());
    let other = (known.is_empty() || !unknown.is_empty()).then(|| error.message.clone());
    (known, other)
}

/// The stored match as form text: decoded by the catalog, each value as it displays.
fn stored_values(game: &Game, record: &MatchRecord) -> Values {
    match game.decode(&record.fields) {
        Ok(fields) => fields
            .iter()
            .map(|(name, value)| (name.clone(), value.display()))
            .collect(),
        Err(errors) => {
            tracing::warn!(result.id = %record.id, ?errors, "stored match does not decode");
            record
                .fields
                .iter()
                .map(|(name, value)| {
                    let text = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_string);
                    (name.clone(), text)
                })
                .collect()
        }
    }
}

fn form_page(
    user: &SignedIn,
    game: &Game,
    mode: &Mode,
    values: &Values,
    errors: &FieldErrors,
    form_error: Option<String>,
) -> Result<Response, WebError> {
    let (heading, action, submit, delete_href) = match mode {
        Mode::New => (
            format!("New {} match", game.label),
            format!("/games/{}", game.slug),
            "Save match",
            None,
        ),
        Mode::Edit(id) => (
            format!("Edit {} match", game.label),
            format!("/games/{}/{id}", game.slug),
            "Save changes",
            Some(format!("/games/{}/{id}/delete", game.slug)),
        ),
    };
    let has_errors = !errors.is_empty() || form_error.is_some();
    let view = MatchFormView {
        chrome: Chrome::signed_in(user, heading.clone(), Some(&game.slug)),
        heading,
        action,
        submit,
        slug: game.slug.clone(),
        fields: form_fields(game, values, errors),
        has_errors,
        form_error,
        delete_href,
    };
    let status = if has_errors {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, html(&view)?).into_response())
}

fn form_fields(game: &Game, values: &Values, errors: &FieldErrors) -> Vec<FormField> {
    game.fields
        .iter()
        .map(|field| {
            let mut input = FormField {
                name: field.name.clone(),
                label: field.label.clone(),
                kind: "choice",
                wide: true,
                value: values.get(&field.name).cloned().unwrap_or_default(),
                error: errors.get(&field.name).cloned(),
                options: Vec::new(),
                required: !field.optional,
                min: String::new(),
                max: String::new(),
                hint: String::new(),
            };
            match &field.kind {
                FieldKind::Date => {
                    input.kind = "date";
                    input.wide = false;
                }
                FieldKind::Choice { options } => {
                    // A few options are one tap each; longer lists are typed with suggestions.
                    input.kind = if options.len() <= MAX_RADIOS {
                        "radio"
                    } else {
                        "choice"
                    };
                    input.options = options.clone();
                }
                FieldKind::Whole { min, max, .. } => {
                    input.kind = "number";
                    input.wide = false;
                    input.min = min.to_string();
                    input.max = max.to_string();
                }
                FieldKind::Duration { .. } => {
                    input.kind = "duration";
                    input.wide = false;
                    input.hint = "Minutes:seconds, like 12:34.".into();
                }
                FieldKind::Names { max_items } => {
                    input.kind = "names";
                    input.hint = format!("Up to {max_items}, separated by commas.");
                }
            }
            input
        })
        .collect()
}
