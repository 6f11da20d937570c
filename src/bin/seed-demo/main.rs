//! `seed-demo`: fills a demo account with a few hundred plausible matches, through a
//! running matchlog's own pages, as a browser would (sign in or sign up, then form posts).
//!
//! ```sh
//! cargo run --release --bin seed-demo -- http://127.0.0.1:8080/ demo password
//! ```

mod generate;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use shared::catalog::{Catalog, Game};
use time::{Date, OffsetDateTime};

use generate::{FormValues, Generator};

const USAGE: &str = "usage: seed-demo <web url> <user name> <password> \
[--matches N] [--games apex,fortnite,...] [--months N] [--seed N]

Signs in as <user name> (creating the account when it does not exist yet) and records
N matches (300 unless told) spread over the games and the last few months (6 unless told).
The same seed gives the same matches.";

struct Options {
    base: String,
    user_name: String,
    password: String,
    matches: usize,
    games: Vec<&'static Game>,
    months: u32,
    seed: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1).collect()) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("seed-demo: {err:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("seed-demo: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: Vec<String>) -> anyhow::Result<Options> {
    let mut positional = Vec::new();
    let mut options = Options {
        base: String::new(),
        user_name: String::new(),
        password: String::new(),
        matches: 300,
        games: Catalog::builtin().games().iter().collect(),
        months: 6,
        seed: 2026,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--matches" => options.matches = value("--matches")?.parse().context("--matches")?,
            "--months" => options.months = value("--months")?.parse().context("--months")?,
            "--seed" => options.seed = value("--seed")?.parse().context("--seed")?,
            "--games" => options.games = games(&value("--games")?)?,
            "-h" | "--help" => bail!("help asked for"),
            flag if flag.starts_with("--") => bail!("unknown option {flag}"),
            _ => positional.push(arg),
        }
    }
    let [base, user_name, password] = <[String; 3]>::try_from(positional)
        .map_err(|_| anyhow::anyhow!("expected a URL, a user name and a password"))?;
    options.base = base.trim_end_matches('/').to_string();
    options.user_name = user_name;
    options.password = password;
    if options.months == 0 {
        bail!("--months must be at least 1");
    }
    Ok(options)
}

fn games(list: &str) -> anyhow::Result<Vec<&'static Game>> {
    list.split(',')
        .map(|slug| {
            Catalog::builtin()
                .game(slug.trim())
                .with_context(|| format!("no game {slug:?} in the catalog"))
        })
        .collect()
}

async fn run(options: &Options) -> anyhow::Result<()> {
    let site = Site::new(&options.base)?;
    site.sign_in_or_up(&options.user_name, &options.password)
        .await?;
    let csrf = site.session_csrf().await?;

    let mut rng = StdRng::seed_from_u64(options.seed);
    let today = OffsetDateTime::now_utc().date();
    let mut counts = Vec::new();
    for (index, game) in options.games.iter().enumerate() {
        // An even share, the remainder going to the first games.
        let share = options.matches / options.games.len()
            + usize::from(index < options.matches % options.games.len());
        let generator = Generator::new(game, &mut rng);
        for date in play_dates(&mut rng, game, share, options.months, today) {
            let values = generator
                .one(&mut rng, date, today)
                .map_err(|message| anyhow::anyhow!("a generated match is invalid: {message}"))?;
            site.record(&game.slug, &csrf, &values).await?;
        }
        counts.push(format!("{} {share}", game.slug));
    }
    println!(
        "Recorded {} matches for {} ({}). Open {}/ and sign in as {}.",
        options.matches,
        options.user_name,
        counts.join(", "),
        options.base,
        options.user_name
    );
    Ok(())
}

/// `count` dates in the last `months` months, oldest first, as a player would log them;
/// none before the game came out.
fn play_dates(rng: &mut StdRng, game: &Game, count: usize, months: u32, today: Date) -> Vec<Date> {
    let span = i64::from(months) * 30;
    let mut dates: Vec<Date> = (0..count)
        .map(|_| {
            let date = today - time::Duration::days(rng.random_range(0..span));
            date.max(game.released)
        })
        .collect();
    dates.sort();
    dates
}

/// A cookie-keeping client that follows no redirect on its own, so each answer is checked.
struct Site {
    client: reqwest::Client,
    base: String,
}

impl Site {
    fn new(base: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .context("build the HTTP client")?;
        Ok(Self {
            client,
            base: base.to_string(),
        })
    }

    async fn sign_in_or_up(&self, user_name: &str, password: &str) -> anyhow::Result<()> {
        let account = [("user_name", user_name), ("user_pass", password)];
        let signed_in = self.post_form("/", "/signin", &account).await?;
        if signed_in == StatusCode::SEE_OTHER {
            return Ok(());
        }
        if signed_in != StatusCode::UNAUTHORIZED {
            bail!("signing in answered {signed_in}");
        }
        match self.post_form("/signup", "/signup", &account).await? {
            StatusCode::SEE_OTHER => Ok(()),
            StatusCode::UNPROCESSABLE_ENTITY => bail!(
                "{user_name:?} could not sign in with that password, and the name cannot be \
                 signed up (taken, or not a valid user name)"
            ),
            other => bail!("signing up answered {other}"),
        }
    }

    /// Opens the page holding a form for its CSRF token, then posts the form.
    async fn post_form(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> anyhow::Result<StatusCode> {
        let csrf = self.csrf_on(page).await?;
        let mut form = fields.to_vec();
        form.push(("csrf", &csrf));
        let response = self
            .client
            .post(format!("{}{action}", self.base))
            .form(&form)
            .send()
            .await
            .with_context(|| format!("post {action}"))?;
        Ok(response.status())
    }

    /// The session's CSRF token, from the sign-out form every signed-in page carries.
    async fn session_csrf(&self) -> anyhow::Result<String> {
        self.csrf_on("/games").await
    }

    async fn csrf_on(&self, path: &str) -> anyhow::Result<String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("open {}{path}", self.base))?;
        if response.status() != StatusCode::OK {
            bail!("{path} answered {}", response.status());
        }
        let html = response.text().await.context("read the page")?;
        hidden_value(&html, "csrf").with_context(|| format!("no form token on {path}"))
    }

    async fn record(&self, slug: &str, csrf: &str, values: &FormValues) -> anyhow::Result<()> {
        let mut form: Vec<(&str, &str)> = values
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        form.push(("csrf", csrf));
        let response = self
            .client
            .post(format!("{}/games/{slug}", self.base))
            .form(&form)
            .send()
            .await
            .with_context(|| format!("record a {slug} match"))?;
        let status = response.status();
        let saved = status == StatusCode::SEE_OTHER
            && response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.contains("notice=saved"));
        if !saved {
            bail!("recording a {slug} match answered {status} for {values:?}");
        }
        Ok(())
    }
}

/// The value of the input named `name` in a page, with the HTML escapes undone.
fn hidden_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at + html[at..].find('>')?];
    let start = tag.find("value=\"")? + "value=\"".len();
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').and_then(|semi| {
            let entity = &rest[1..semi];
            let ch = match entity {
                "amp" => Some('&'),
                "quot" => Some('"'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((ch, semi + 1))
        });
        match decoded {
            Some((ch, used)) => {
                out.push(ch);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tokens_are_read_with_their_escapes_undone() {
        let html = r#"<form><input type="hidden" name="csrf" value="a&#x2b;b&#61;&amp;c"></form>"#;
        assert_eq!(hidden_value(html, "csrf").as_deref(), Some("a+b=&c"));
        assert_eq!(hidden_value(html, "next"), None);
        assert_eq!(unescape("x & y &#zz;"), "x & y &#zz;");
    }

    #[test]
    fn arguments_need_a_url_a_name_and_a_password() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let options = parse_args(args(&[
            "http://127.0.0.1:8080/",
            "demo",
            "pw",
            "--matches",
            "60",
            "--games",
            "apex",
        ]))
        .unwrap();
        assert_eq!(options.base, "http://127.0.0.1:8080");
        assert_eq!((options.matches, options.games.len()), (60, 1));
        assert!(parse_args(args(&["http://x", "demo"])).is_err());
        assert!(parse_args(args(&["http://x", "demo", "pw", "--games", "chess"])).is_err());
        assert!(parse_args(args(&["http://x", "demo", "pw", "--bogus"])).is_err());
    }

    #[test]
    fn play_dates_are_in_order_within_the_months_and_after_release() {
        let mut rng = StdRng::seed_from_u64(1);
        let game = Catalog::builtin().game("hots").unwrap();
        let today = time::macros::date!(2026 - 12 - 01);
        let dates = play_dates(&mut rng, game, 200, 6, today);
        assert!(dates.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(
            dates
                .iter()
                .all(|d| *d <= today && *d > today - time::Duration::days(181))
        );
        assert!(dates.first().unwrap() < &(today - time::Duration::days(120)));
    }
}
