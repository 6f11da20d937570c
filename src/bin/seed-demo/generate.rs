//! Plausible match values for any catalog game: a player with favourite picks, wins that
//! go with first place, kills, damage and time that follow the placement.
//!
//! Everything is driven by the catalog's field kinds; a few well-known field names
//! (`result`, `placement`, `kills`, `deaths`, `assists`, `damage`, `mode`) get shaped
//! values, any other field gets a value inside its limits.

use std::collections::HashMap;

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use shared::catalog::{Field, FieldKind, Game, Value};
use time::Date;

/// The friends a demo player queues with; the first few come along most often.
const FRIENDS: [&str; 12] = [
    "Kai", "Mina", "Oskar", "Priya", "Rafa", "Sol", "Tess", "Yuki", "Jonas", "Lena", "Noor", "Ivo",
];
/// Long choice lists (legends, heroes, maps) get this many favourites.
const FAVOURITES: usize = 3;
/// How often a favourite is picked over any other option.
const FAVOURITE_SHARE: f64 = 0.65;

/// Form values by field name, as a browser would send them.
pub type FormValues = HashMap<String, String>;

pub struct Generator<'a> {
    game: &'a Game,
    favourites: HashMap<String, Vec<String>>,
    /// Battle royales have a placement: one winner, and the rest ranked below.
    battle_royale: bool,
}

impl<'a> Generator<'a> {
    /// A player's habits in `game`, fixed for the whole run.
    pub fn new(game: &'a Game, rng: &mut StdRng) -> Self {
        let favourites = game
            .fields
            .iter()
            .filter_map(|field| match &field.kind {
                FieldKind::Choice { options } if options.len() > FAVOURITES + 1 => {
                    let mut picks = options.clone();
                    picks.shuffle(rng);
                    picks.truncate(FAVOURITES);
                    Some((field.name.clone(), picks))
                }
                _ => None,
            })
            .collect();
        Self {
            game,
            favourites,
            battle_royale: game.field("placement").is_some(),
        }
    }

    /// One match played on `date`, checked against the catalog as the server will check it.
    pub fn one(&self, rng: &mut StdRng, date: Date, today: Date) -> Result<FormValues, String> {
        let mut values = FormValues::new();
        values.insert("date".into(), Value::Date(date).display());
        // Choices first: the numbers below depend on the mode and the result.
        for field in &self.game.fields {
            if let FieldKind::Choice { options } = &field.kind {
                let value = self.choose(rng, field, options);
                values.insert(field.name.clone(), value);
            }
        }
        // The placement next: kills, damage and time follow from it.
        let (placement, others): (Vec<&Field>, Vec<&Field>) = self
            .game
            .fields
            .iter()
            .partition(|field| field.name == "placement");
        for field in placement.into_iter().chain(others) {
            if let Some(value) = self.number_or_names(rng, field, &values) {
                values.insert(field.name.clone(), value);
            }
        }
        match self.game.parse_form(&values, today) {
            Ok(_) => Ok(values),
            Err(errors) => Err(format!(
                "{}: generated {values:?}, refused: {errors:?}",
                self.game.slug
            )),
        }
    }

    fn choose(&self, rng: &mut StdRng, field: &Field, options: &[String]) -> String {
        if field.name == "result" {
            let win_share = if self.battle_royale { 0.1 } else { 0.52 };
            let wanted = if rng.random_bool(win_share) {
                "win"
            } else {
                "loss"
            };
            if let Some(option) = options.iter().find(|o| o.eq_ignore_ascii_case(wanted)) {
                return option.clone();
            }
        }
        if let Some(favourites) = self.favourites.get(&field.name)
            && rng.random_bool(FAVOURITE_SHARE)
        {
            return pick(rng, favourites);
        }
        if options.len() <= FAVOURITES + 1 {
            // Short lists (modes) lean towards their first entries, the usual queue.
            let weights: Vec<usize> = (1..=options.len()).rev().collect();
            let total: usize = weights.iter().sum();
            let mut roll = rng.random_range(0..total);
            for (option, weight) in options.iter().zip(weights) {
                if roll < weight {
                    return option.clone();
                }
                roll -= weight;
            }
        }
        pick(rng, options)
    }

    fn number_or_names(
        &self,
        rng: &mut StdRng,
        field: &Field,
        values: &FormValues,
    ) -> Option<String> {
        let won = values.get("result").is_some_and(|r| r == "win");
        match &field.kind {
            FieldKind::Whole { min, max, .. } => {
                let (min, max) = self.range(field, *min, *max, values);
                let number = self.whole(rng, &field.name, won, values, (min, max));
                Some(number.clamp(min, max).to_string())
            }
            FieldKind::Duration {
                min_seconds,
                max_seconds,
            } => {
                let seconds = self.seconds(rng, won, values);
                Some(Value::Duration(seconds.clamp(*min_seconds, *max_seconds)).display())
            }
            FieldKind::Names { max_items } => {
                Some(teammates(rng, values.get("mode"), *max_items).join(", "))
            }
            FieldKind::Date | FieldKind::Choice { .. } => None,
        }
    }

    /// The field's limits, narrowed by the mode where the catalog says so.
    fn range(&self, field: &Field, min: i64, max: i64, values: &FormValues) -> (i64, i64) {
        let FieldKind::Whole {
            range_by: Some(range_by),
            ..
        } = &field.kind
        else {
            return (min, max);
        };
        values
            .get(&range_by.field)
            .and_then(|chooser| range_by.ranges.get(chooser))
            .copied()
            .unwrap_or((min, max))
    }

    fn whole(
        &self,
        rng: &mut StdRng,
        name: &str,
        won: bool,
        values: &FormValues,
        (min, max): (i64, i64),
    ) -> i64 {
        let standing = self.standing(values);
        match name {
            "placement" if won => min,
            // Losses spread over the field, the top half more often than the bottom.
            "placement" => min + 1 + ((max - min) as f64 * rng.random::<f64>().powf(1.4)) as i64,
            // Most of a battle royale's kills come to those who last.
            "kills" if self.battle_royale => {
                let mean = 0.3 + 4.5 * standing * standing;
                (mean * rng.random_range(0.2..1.8)).round() as i64
            }
            "kills" => rng.random_range(0..=6) + if won { 3 } else { 0 },
            "deaths" => rng.random_range(0..=5) + if won { 0 } else { 3 },
            "assists" => rng.random_range(3..=14) + if won { 6 } else { 0 },
            "damage" => {
                let kills = values
                    .get("kills")
                    .and_then(|k| k.parse::<i64>().ok())
                    .unwrap_or(1);
                kills * rng.random_range(170..=320) + rng.random_range(60..=700)
            }
            // A field we know nothing about: somewhere in the low part of its range.
            _ => rng.random_range(min..=min + (max - min) / 4),
        }
    }

    /// 1.0 for the winner, falling to 0.0 for the first one out; 0.5 without a placement.
    fn standing(&self, values: &FormValues) -> f64 {
        let Some(field) = self.game.field("placement") else {
            return 0.5;
        };
        let FieldKind::Whole { min, max, .. } = &field.kind else {
            return 0.5;
        };
        let (min, max) = self.range(field, *min, *max, values);
        let placement = values
            .get("placement")
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(max);
        1.0 - (placement - min) as f64 / (max - min).max(1) as f64
    }

    /// Time survived in a battle royale follows the placement; other games run 13 to 30
    /// minutes, wins a little longer.
    fn seconds(&self, rng: &mut StdRng, won: bool, values: &FormValues) -> u32 {
        if self.battle_royale {
            let standing = self.standing(values);
            (90.0 + standing * 1150.0 * rng.random_range(0.8..1.05)) as u32
        } else {
            rng.random_range(780..=1620) + if won { 120 } else { 0 }
        }
    }
}

fn pick(rng: &mut StdRng, options: &[String]) -> String {
    options.choose(rng).cloned().unwrap_or_default()
}

/// Friends for a squad of the mode's size; now and then the player queues with strangers.
fn teammates(rng: &mut StdRng, mode: Option<&String>, max_items: usize) -> Vec<String> {
    let wanted = match mode.map(String::as_str) {
        Some("solo") => 0,
        Some("duos") => 1,
        Some("trios" | "ranked") => 2,
        Some("squads") => 3,
        _ => rng.random_range(0..=max_items),
    };
    let known = if rng.random_bool(0.25) {
        rng.random_range(0..=wanted)
    } else {
        wanted
    };
    // The first four friends play most nights; the rest now and then.
    let mut pool: Vec<&str> = FRIENDS[..4].to_vec();
    if rng.random_bool(0.4) {
        pool.extend_from_slice(&FRIENDS[4..]);
    }
    pool.shuffle(rng);
    pool.into_iter()
        .take(known.min(max_items))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use shared::catalog::Catalog;
    use time::macros::date;

    use super::*;

    #[test]
    fn every_generated_match_passes_the_catalog_and_wins_come_first() {
        let today = date!(2026 - 12 - 01);
        let mut rng = StdRng::seed_from_u64(7);
        for game in Catalog::builtin().games() {
            let generator = Generator::new(game, &mut rng);
            for _ in 0..300 {
                let values = generator.one(&mut rng, today, today).unwrap();
                if let Some(placement) = values.get("placement") {
                    assert_eq!(values["result"] == "win", placement == "1", "{values:?}");
                }
            }
        }
    }

    #[test]
    fn favourites_show_up_most_and_squads_bring_friends() {
        let today = date!(2026 - 12 - 01);
        let mut rng = StdRng::seed_from_u64(11);
        let game = Catalog::builtin().game("apex").unwrap();
        let generator = Generator::new(game, &mut rng);
        let favourites = generator.favourites["legend"].clone();
        let matches: Vec<_> = (0..400)
            .map(|_| generator.one(&mut rng, today, today).unwrap())
            .collect();
        let on_favourites = matches
            .iter()
            .filter(|m| favourites.contains(&m["legend"]))
            .count();
        assert!(on_favourites > 200, "{on_favourites} of 400 on favourites");
        let kills = |wanted: &str| -> f64 {
            let picked: Vec<f64> = matches
                .iter()
                .filter(|m| (m["result"] == "win") == (wanted == "win"))
                .map(|m| m["kills"].parse::<f64>().unwrap())
                .collect();
            picked.iter().sum::<f64>() / picked.len() as f64
        };
        assert!(kills("win") > 2.0 * kills("loss"), "winners kill more");
        assert!(
            (1.0..4.0).contains(&kills("loss")),
            "{} a loss",
            kills("loss")
        );
        let wins = matches.iter().filter(|m| m["result"] == "win").count();
        assert!((10..120).contains(&wins), "{wins} wins of 400");
        assert!(
            matches
                .iter()
                .any(|m| m["mode"] == "trios" && m["teammates"].split(", ").count() == 2)
        );
    }
}
