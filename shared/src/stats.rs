//! Summaries of a player's matches: counts, wins, totals, breakdowns and a monthly series.
//!
//! Everything follows from the catalog: totals for every whole-number field, breakdowns for
//! every field marked `breakdown` plus `mode` and `result`.

use std::collections::BTreeMap;

use crate::api::{Breakdown, BreakdownRow, MonthCount, Stats, Total};
use crate::catalog::{FieldKind, Fields, Game, Value};

/// The fields that are always broken down when a game has them, besides marked ones.
const ALWAYS_BROKEN_DOWN: [&str; 2] = ["mode", "result"];

/// The statistics over `matches`, which are values of `game`.
pub fn compute(game: &Game, matches: &[Fields]) -> Stats {
    Stats {
        matches: matches.len() as u64,
        wins: matches.iter().filter(|fields| is_win(fields)).count() as u64,
        totals: totals(game, matches),
        breakdowns: breakdowns(game, matches),
        months: months(matches),
    }
}

fn is_win(fields: &Fields) -> bool {
    matches!(fields.get("result"), Some(Value::Text(result)) if result == "win")
}

fn kills(fields: &Fields) -> i64 {
    match fields.get("kills") {
        Some(Value::Whole(kills)) => *kills,
        _ => 0,
    }
}

/// Sum and average of each whole-number field, averaged over the matches that have it.
fn totals(game: &Game, matches: &[Fields]) -> Vec<Total> {
    game.fields
        .iter()
        .filter(|field| matches!(field.kind, FieldKind::Whole { .. }))
        .map(|field| {
            let values: Vec<i64> = matches
                .iter()
                .filter_map(|fields| match fields.get(&field.name) {
                    Some(Value::Whole(n)) => Some(*n),
                    _ => None,
                })
                .collect();
            // i128 holds any sum of i64 values we can hold in memory; clamp on the way out.
            let sum: i128 = values.iter().map(|&n| i128::from(n)).sum();
            Total {
                field: field.name.clone(),
                label: field.label.clone(),
                sum: clamp_to_i64(sum),
                average: average(sum, values.len()),
            }
        })
        .collect()
}

fn clamp_to_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// Rounded to one decimal place; 0 when there is nothing to average.
fn average(sum: i128, count: usize) -> f64 {
    if count == 0 {
        return 0.0;
    }
    let mean = sum as f64 / count as f64;
    (mean * 10.0).round() / 10.0
}

fn breakdowns(game: &Game, matches: &[Fields]) -> Vec<Breakdown> {
    game.fields
        .iter()
        .filter(|field| field.breakdown || ALWAYS_BROKEN_DOWN.contains(&field.name.as_str()))
        .map(|field| Breakdown {
            field: field.name.clone(),
            label: field.label.clone(),
            rows: breakdown_rows(&field.name, matches),
        })
        .collect()
}

/// One row per value seen, most played first, then by value.
fn breakdown_rows(name: &str, matches: &[Fields]) -> Vec<BreakdownRow> {
    let mut rows: BTreeMap<String, BreakdownRow> = BTreeMap::new();
    for fields in matches {
        let Some(value) = fields.get(name) else {
            continue;
        };
        let text = value.display();
        let row = rows.entry(text.clone()).or_insert_with(|| BreakdownRow {
            value: text,
            matches: 0,
            wins: 0,
            kills: 0,
        });
        row.matches += 1;
        row.wins += u64::from(is_win(fields));
        row.kills = row.kills.saturating_add(kills(fields));
    }
    let mut rows: Vec<BreakdownRow> = rows.into_values().collect();
    rows.sort_by(|a, b| {
        b.matches
            .cmp(&a.matches)
            .then_with(|| a.value.cmp(&b.value))
    });
    rows
}

/// Matches and wins per `YYYY-MM` of the `date` field, oldest first.
fn months(matches: &[Fields]) -> Vec<MonthCount> {
    let mut months: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for fields in matches {
        let Some(Value::Date(date)) = fields.get("date") else {
            continue;
        };
        let month = format!("{:04}-{:02}", date.year(), u8::from(date.month()));
        let entry = months.entry(month).or_default();
        entry.0 += 1;
        entry.1 += u64::from(is_win(fields));
    }
    months
        .into_iter()
        .map(|(month, (matches, wins))| MonthCount {
            month,
            matches,
            wins,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use time::macros::date;

    use super::*;
    use crate::catalog::Catalog;

    fn game(slug: &str) -> &'static Game {
        Catalog::builtin().game(slug).unwrap()
    }

    fn apex_match(date: &str, result: &str, legend: &str, kills: &str) -> Fields {
        let form: HashMap<String, String> = [
            ("date", date),
            ("mode", "trios"),
            ("result", result),
            ("legend", legend),
            ("kills", kills),
            ("placement", "3"),
            ("damage", "1000"),
            ("time", "10:00"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        game("apex")
            .parse_form(&form, date!(2026 - 12 - 04))
            .unwrap()
    }

    fn sample() -> Vec<Fields> {
        vec![
            apex_match("2026-11-02", "win", "Wraith", "7"),
            apex_match("2026-10-15", "loss", "Wraith", "2"),
            apex_match("2026-11-20", "loss", "Loba", "4"),
        ]
    }

    #[test]
    fn no_matches_give_zeroes_and_empty_rows() {
        let stats = compute(game("hots"), &[]);
        assert_eq!(stats.matches, 0);
        assert_eq!(stats.wins, 0);
        let names: Vec<&str> = stats.totals.iter().map(|t| t.field.as_str()).collect();
        assert_eq!(names, ["kills", "deaths", "assists"]);
        assert!(stats.totals.iter().all(|t| t.sum == 0 && t.average == 0.0));
        assert!(stats.breakdowns.iter().all(|b| b.rows.is_empty()));
        assert!(stats.months.is_empty());
    }

    #[test]
    fn counts_wins_and_totals_with_rounded_averages() {
        let stats = compute(game("apex"), &sample());
        assert_eq!((stats.matches, stats.wins), (3, 1));
        let kills = stats.totals.iter().find(|t| t.field == "kills").unwrap();
        assert_eq!(kills.sum, 13);
        assert_eq!(kills.average, 4.3);
        assert_eq!(kills.label, "Kills");
        let damage = stats.totals.iter().find(|t| t.field == "damage").unwrap();
        assert_eq!((damage.sum, damage.average), (3000, 1000.0));
    }

    #[test]
    fn breakdowns_cover_marked_fields_and_mode_and_result() {
        let stats = compute(game("apex"), &sample());
        let fields: Vec<&str> = stats.breakdowns.iter().map(|b| b.field.as_str()).collect();
        assert_eq!(fields, ["mode", "result", "legend"]);
        let legend = &stats.breakdowns[2];
        assert_eq!(
            legend.rows,
            [
                BreakdownRow {
                    value: "Wraith".into(),
                    matches: 2,
                    wins: 1,
                    kills: 9
                },
                BreakdownRow {
                    value: "Loba".into(),
                    matches: 1,
                    wins: 0,
                    kills: 4
                },
            ]
        );
        let result = &stats.breakdowns[1];
        assert_eq!(result.rows[0].value, "loss");
        assert_eq!(result.rows[0].matches, 2);
    }

    #[test]
    fn hots_breaks_down_by_hero_and_map_and_fortnite_by_mode() {
        let hots: Vec<String> = compute(game("hots"), &[])
            .breakdowns
            .into_iter()
            .map(|b| b.field)
            .collect();
        assert_eq!(hots, ["result", "hero", "map"]);
        let fortnite: Vec<String> = compute(game("fortnite"), &[])
            .breakdowns
            .into_iter()
            .map(|b| b.field)
            .collect();
        assert_eq!(fortnite, ["result", "mode"]);
    }

    #[test]
    fn months_run_oldest_first_with_wins() {
        let stats = compute(game("apex"), &sample());
        assert_eq!(
            stats.months,
            [
                MonthCount {
                    month: "2026-10".into(),
                    matches: 1,
                    wins: 0
                },
                MonthCount {
                    month: "2026-11".into(),
                    matches: 2,
                    wins: 1
                },
            ]
        );
    }

    #[test]
    fn huge_sums_clamp_instead_of_overflowing() {
        let catalog = Catalog::from_json(
            r#"{"games":[{"slug":"big","label":"Big","released":"2020-01-01","fields":[
            {"name":"date","label":"Date","kind":"date"},
            {"name":"score","label":"Score","kind":"whole","min":0,"max":9223372036854775807}]}]}"#,
        )
        .unwrap();
        let game = catalog.game("big").unwrap();
        let one: Fields = [
            ("date".to_string(), Value::Date(date!(2024 - 01 - 01))),
            ("score".to_string(), Value::Whole(i64::MAX)),
        ]
        .into_iter()
        .collect();
        let stats = compute(game, &[one.clone(), one]);
        assert_eq!(stats.totals[0].sum, i64::MAX);
        assert!(stats.totals[0].average > 9.2e18);
    }
}
