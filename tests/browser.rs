//! The pages in a real browser: Debian's headless Chromium driven through chromedriver
//! against the real tier binaries, at a phone's width and a desktop's. Every page visited
//! is checked by axe-core and saved as a PNG under `target/screenshots/<width>px/`.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages) and axe-core under
//! `target/test-services/axe`; `./scripts/test` installs all three when they are missing.

mod support;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;
use serde_json::{Value as Json, json};
use support::{Stack, free_port, today, valid_match};

/// Chromium's flags: headless, and nothing that talks to any server but ours.
const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];
const PASSWORD: &str = "a long enough secret";
/// Where `./scripts/test` installs axe-core, relative to the workspace root.
const AXE_PATH: &str = "target/test-services/axe/node_modules/axe-core/axe.min.js";
/// How long a page may take to arrive after a click.
const PAGE_WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_player_on_a_phone_uses_every_page() {
    walk_through_at(375, 812).await;
}

#[tokio::test]
async fn a_player_on_a_desktop_uses_every_page() {
    walk_through_at(1280, 800).await;
}

/// Starts the tiers, chromedriver and Chromium, walks every flow, and always closes the
/// browser, so no Chromium outlives a failed test.
async fn walk_through_at(width: u32, height: u32) {
    let stack = Stack::start().await;
    let driver = ChromeDriver::start();
    let profile = stack.root().join(format!("chromium-{width}"));
    let client = driver.connect(&profile).await;
    client
        .set_window_rect(0, 0, width, height)
        .await
        .expect("size the window");
    let mut tab = Tab::new(client, &stack.web_url, width, height);
    let outcome = AssertUnwindSafe(flows(&mut tab, &stack))
        .catch_unwind()
        .await;
    let _ = tab.client.clone().close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn flows(tab: &mut Tab, stack: &Stack) {
    let user = format!("player{}", tab.width);
    signed_out_pages_send_you_to_sign_in(tab).await;
    a_stale_form_gets_a_plain_explanation(tab).await;
    sign_up_sign_out_and_sign_in(tab, &user).await;
    for game in ["apex", "fortnite", "hots"] {
        record_a_first_match(tab, game).await;
    }
    an_invalid_match_is_explained_beside_its_field(tab).await;
    seed(stack, &user, 58, "apex");
    sort_and_page_sixty_matches(tab).await;
    filter_by_a_legend(tab).await;
    edit_a_match(tab).await;
    delete_a_match_after_confirming(tab).await;
    account_page_explains_a_wrong_password(tab).await;
    tab.open("/games/no-such-game").await;
    tab.page("not-found", "Page not found").await;
    sign_out_closes_the_pages(tab).await;
}

async fn account_page_explains_a_wrong_password(tab: &mut Tab) {
    tab.open("/account").await;
    tab.page("account", "Your account").await;
    tab.fill("current_password", "not my password").await;
    tab.fill("new_password", "another long secret").await;
    tab.submit_with_enter("new_password").await;
    tab.page("account-refused", "Your account").await;
    let said = tab.all(".field-error, .alert").await;
    assert!(!said.is_empty(), "the refusal is explained");
}

/// A form whose token went stale (a sign-in page left open for days) gets our page.
async fn a_stale_form_gets_a_plain_explanation(tab: &mut Tab) {
    tab.open("/").await;
    tab.script("document.querySelector('input[name=csrf]').value = 'stale'; return true;")
        .await;
    tab.fill("user_name", "someone").await;
    tab.fill("user_pass", PASSWORD).await;
    tab.submit_with_enter("user_pass").await;
    tab.page("form-refused", "Form refused").await;
    assert!(tab.text("main").await.contains("reload and try again"));
}

async fn signed_out_pages_send_you_to_sign_in(tab: &mut Tab) {
    tab.open("/games/apex/new").await;
    let url = tab.client.current_url().await.expect("read the URL");
    assert_eq!(url.path(), "/", "a page past sign-in lands on sign-in");
    assert_eq!(url.query(), Some("next=%2Fgames%2Fapex%2Fnew"));
    tab.page("sign-in-required", "Sign in").await;
    focus_is_visible_from_the_keyboard(tab).await;
}

/// Tabbing from the top reaches the skip link first, then the header links; each shows
/// a focus ring.
async fn focus_is_visible_from_the_keyboard(tab: &Tab) {
    let body = tab.find("body").await;
    body.send_keys(&Key::Tab.to_string())
        .await
        .expect("press Tab");
    let first = tab.focused().await;
    assert_eq!(first.text, "Skip to the content");
    assert!(first.ring, "the skip link shows focus: {first:?}");
    for _ in 0..6 {
        tab.press(Key::Tab).await;
        let focused = tab.focused().await;
        assert!(focused.ring, "focus is visible on {focused:?}");
    }
}

async fn sign_up_sign_out_and_sign_in(tab: &mut Tab, user: &str) {
    tab.open("/signup").await;
    tab.page("sign-up", "Create an account").await;

    tab.fill("user_name", "no").await;
    tab.fill("user_pass", PASSWORD).await;
    tab.click_and_wait("form.stack button[type=submit]").await;
    tab.page("sign-up-refused", "Create an account").await;
    let error = tab.text("#user_name-error").await;
    assert!(!error.is_empty(), "the name's problem is said beside it");
    assert_eq!(tab.value("user_name").await, "no", "the name typed is kept");

    tab.fill("user_name", user).await;
    tab.fill("user_pass", PASSWORD).await;
    tab.submit_with_enter("user_pass").await;
    tab.page("games-welcome", "Your games").await;
    assert!(tab.text(".notice").await.contains("Your account is ready"));

    tab.click_and_wait("form.signout button").await;
    tab.page("signed-out", "Sign in").await;

    tab.fill("user_name", user).await;
    tab.fill("user_pass", "not the password").await;
    tab.submit_with_enter("user_pass").await;
    tab.page("sign-in-refused", "Sign in").await;
    assert_eq!(tab.text(".alert").await, "Wrong user name or password.");
    assert_eq!(tab.value("user_name").await, user);

    // Keyboard only: type the name, Tab to the password, Enter to send.
    tab.fill("user_name", user).await;
    tab.press(Key::Tab).await;
    assert_eq!(tab.focused().await.id, "user_pass");
    tab.type_keys(PASSWORD).await;
    tab.press_and_wait(Key::Enter).await;
    tab.page("games", "Your games").await;
}

async fn record_a_first_match(tab: &mut Tab, game: &str) {
    tab.click_and_wait(&format!("nav.games a[href='/games/{game}']"))
        .await;
    let label = tab.text("h1").await.replace(" results", "");
    tab.page(&format!("{game}-empty"), &format!("{label} results"))
        .await;
    assert!(tab.text(".empty").await.contains("not recorded any"));

    tab.click_and_wait(".empty a.button").await;
    tab.page(&format!("{game}-new"), &format!("New {label} match"))
        .await;
    assert_eq!(tab.value("date").await, today(), "today is filled in");
    every_field_is_labelled_and_lists_are_suggested(tab).await;

    if game == "fortnite" {
        fill_the_fortnite_form_by_keyboard(tab).await;
    } else {
        for (name, value) in valid_match(game) {
            if name != "date" {
                tab.set(name, &value).await;
            }
        }
        tab.click_and_wait("form.match-form button[type=submit]")
            .await;
    }
    tab.page(&format!("{game}-saved"), &format!("{label} results"))
        .await;
    assert_eq!(tab.text(".notice").await, "Match saved. Record another");
    assert_eq!(tab.all("table.results tbody tr").await.len(), 1);
}

/// Tab from the top of the page to each field, type or pick with Space and the arrow
/// keys, and send with Enter: no pointer at all.
async fn fill_the_fortnite_form_by_keyboard(tab: &Tab) {
    tab.find("body")
        .await
        .send_keys(&Key::Tab.to_string())
        .await
        .expect("press Tab");
    tab.tab_to("result").await;
    tab.press(Key::Space).await;
    tab.tab_to("kills").await;
    tab.type_keys("5").await;
    tab.tab_to("placement").await;
    tab.type_keys("1").await;
    // The mode starts on solo; the right arrow moves the choice to duos.
    tab.tab_to("mode").await;
    tab.press(Key::Right).await;
    tab.tab_to("teammates").await;
    tab.type_keys("Kai").await;
    tab.press_and_wait(Key::Enter).await;
    let row = tab.text("table.results tbody tr").await;
    for shown in ["Win", "5", "1", "duos", "Kai"] {
        assert!(
            row.split_whitespace().any(|cell| cell == shown),
            "{shown} in {row:?}"
        );
    }
}

async fn every_field_is_labelled_and_lists_are_suggested(tab: &Tab) {
    let unlabelled = tab
        .script(
            "return [...document.querySelectorAll('main input:not([type=hidden]), main select')]
               .filter(e => e.labels.length === 0).map(e => e.name);",
        )
        .await;
    assert_eq!(unlabelled, json!([]), "every field has a label");
    let lists = tab
        .script(
            "return [...document.querySelectorAll('input[list]')]
               .map(e => [e.name, e.list ? e.list.options.length : 0]);",
        )
        .await;
    for pair in lists.as_array().expect("a list") {
        assert!(pair[1].as_u64() > Some(1), "{pair} offers suggestions");
    }
}

async fn an_invalid_match_is_explained_beside_its_field(tab: &mut Tab) {
    tab.open("/games/apex/new").await;
    for (name, value) in valid_match("apex") {
        if name != "date" {
            tab.set(name, &value).await;
        }
    }
    // The browser allows up to 30 (duos); trios stop at 20, which only the server knows.
    tab.set("placement", "25").await;
    tab.set("legend", "Nobody").await;
    tab.click_and_wait("form.match-form button[type=submit]")
        .await;
    tab.page("apex-refused", "New Apex Legends match").await;
    assert!(tab.text(".alert").await.contains("need fixing"));
    assert_eq!(
        tab.text("#e-placement").await,
        "Placement must be between 1 and 20 in trios."
    );
    assert_eq!(
        tab.text("#e-legend").await,
        "Choose a legend from the list."
    );
    assert_eq!(tab.value("kills").await, "7", "the other values are kept");
    assert_eq!(tab.value("legend").await, "Nobody", "the faulty value too");
    let invalid = tab.find("#f-placement").await;
    assert_eq!(
        invalid.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );

    tab.set("placement", "3").await;
    tab.set("legend", "Wraith").await;
    tab.click_and_wait("form.match-form button[type=submit]")
        .await;
    assert_eq!(tab.text(".notice").await, "Match saved. Record another");
}

async fn sort_and_page_sixty_matches(tab: &mut Tab) {
    tab.open("/games/apex").await;
    tab.page("apex-sixty", "Apex Legends results").await;
    assert_eq!(tab.text("#matches-heading").await, "Matches (60)");
    assert_eq!(tab.text(".pager .page-of").await, "Page 1 of 3");
    assert_eq!(tab.all("table.results tbody tr").await.len(), 20);
    let numbers = tab
        .script("return [...document.querySelectorAll('.pager li a')].map(a => a.textContent);")
        .await;
    assert_eq!(
        numbers,
        json!(["Page 1", "Page 2", "Page 3"]),
        "a link per page"
    );

    let kills = tab.column_of("Kills").await;
    tab.click_and_wait(&format!("table.results thead th:nth-child({kills}) a"))
        .await;
    assert_sorted(&tab.numbers(kills).await, true);
    let header = tab
        .find(&format!("table.results thead th:nth-child({kills})"))
        .await;
    assert_eq!(
        header.attr("aria-sort").await.unwrap().as_deref(),
        Some("descending")
    );
    tab.click_and_wait(&format!("table.results thead th:nth-child({kills}) a"))
        .await;
    let first_page = tab.numbers(kills).await;
    assert_sorted(&first_page, false);
    tab.page("apex-by-kills", "Apex Legends results").await;

    tab.click_and_wait(".pager a[rel=next]").await;
    assert_eq!(tab.text(".pager .page-of").await, "Page 2 of 3");
    assert_eq!(
        tab.title().await,
        "Apex Legends results, page 2 of 3 · matchlog"
    );
    let second_page = tab.numbers(kills).await;
    assert_sorted(&second_page, false);
    assert!(
        first_page.last() <= second_page.first(),
        "the order runs on"
    );
    tab.click_and_wait(".pager a[rel=next]").await;
    tab.page("apex-page-3", "Apex Legends results, page 3 of 3")
        .await;
    assert_eq!(tab.all("table.results tbody tr").await.len(), 20);
    assert!(tab.all(".pager a[rel=next]").await.is_empty());
    tab.click_and_wait(".pager a[rel=prev]").await;
    assert_eq!(tab.text(".pager .page-of").await, "Page 2 of 3");

    let dates = tab.column_of("Date").await;
    tab.click_and_wait(&format!("table.results thead th:nth-child({dates}) a"))
        .await;
    let shown = tab.cells(dates).await;
    assert!(
        shown.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {shown:?}"
    );
}

async fn filter_by_a_legend(tab: &mut Tab) {
    tab.open("/games/apex").await;
    tab.find("details.filters summary")
        .await
        .click()
        .await
        .expect("open the filters");
    tab.set("filter-legend", "Wraith").await;
    tab.click_and_wait(".filters button[type=submit]").await;
    tab.page("apex-filtered", "Apex Legends results").await;
    let legend = tab.column_of("Legend").await;
    let shown = tab.cells(legend).await;
    assert!(
        !shown.is_empty() && shown.iter().all(|l| l == "Wraith"),
        "{shown:?}"
    );
    tab.click_and_wait(".filters .actions a").await;
    assert_eq!(tab.text("#matches-heading").await, "Matches (60)");
}

async fn edit_a_match(tab: &mut Tab) {
    tab.open("/games/apex?sort=kills&dir=asc").await;
    tab.click_and_wait("table.results tbody tr:first-child .row-actions a[href$='/edit']")
        .await;
    tab.page("apex-edit", "Edit Apex Legends match").await;
    let edit_url = tab.client.current_url().await.expect("read the URL");
    assert_ne!(
        tab.value("legend").await,
        "",
        "the stored values fill the form"
    );
    assert_eq!(tab.text(".actions .danger-link").await, "Delete this match");

    tab.set("kills", "59").await;
    tab.click_and_wait("form.match-form button[type=submit]")
        .await;
    tab.page("apex-updated", "Apex Legends results").await;
    assert_eq!(tab.text(".notice").await, "Match updated.");
    tab.open(edit_url.path()).await;
    assert_eq!(tab.value("kills").await, "59", "the change is stored");
}

async fn delete_a_match_after_confirming(tab: &mut Tab) {
    tab.open("/games/apex").await;
    tab.click_and_wait("table.results tbody tr:first-child .row-actions a[href$='/delete']")
        .await;
    tab.page("apex-delete", "Delete Apex Legends match").await;
    assert!(tab.text("h1").await.starts_with("Delete this"));

    tab.click_and_wait("form.actions a").await;
    assert_eq!(tab.text("#matches-heading").await, "Matches (60)", "kept");

    tab.click_and_wait("table.results tbody tr:first-child .row-actions a[href$='/delete']")
        .await;
    tab.click_and_wait("form.actions button.danger").await;
    tab.page("apex-deleted", "Apex Legends results").await;
    assert_eq!(tab.text(".notice").await, "Match deleted.");
    assert_eq!(tab.text("#matches-heading").await, "Matches (59)");
}

async fn sign_out_closes_the_pages(tab: &mut Tab) {
    tab.open("/games").await;
    tab.page("games-played", "Your games").await;
    let apex = tab.text(".card:first-child .record").await;
    assert!(
        apex.contains("59"),
        "the Apex card counts the matches: {apex:?}"
    );
    let results = tab
        .script("return document.querySelector('nav.games a').getAttribute('href');")
        .await;
    tab.click_and_wait("form.signout button").await;
    tab.open(results.as_str().expect("a link")).await;
    let url = tab.client.current_url().await.expect("read the URL");
    assert_eq!(
        url.path(),
        "/",
        "signed out, the results page lands on sign-in"
    );
    assert_eq!(tab.title().await, "Sign in · matchlog");
}

fn assert_sorted(values: &[i64], descending: bool) {
    let ordered = values.windows(2).all(|w| {
        if descending {
            w[0] >= w[1]
        } else {
            w[0] <= w[1]
        }
    });
    assert!(
        ordered,
        "{values:?} is not sorted (descending: {descending})"
    );
}

/// Records `count` matches for `user` with the `seed-demo` command, as a player would
/// try matchlog out.
fn seed(stack: &Stack, user: &str, count: usize, game: &str) {
    let output = Command::new(sibling_binary("seed-demo"))
        .args([&stack.web_url, user, PASSWORD])
        .args(["--matches", &count.to_string(), "--games", game])
        .output()
        .expect("run seed-demo");
    assert!(
        output.status.success(),
        "seed-demo failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A binary of this workspace, built beside the test binary.
fn sibling_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`)",
        path.display()
    );
    path
}

/// `target/`, wherever cargo put it: two levels above the test binary's directory.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// A program on the PATH, or a failure that says how to install it.
fn program(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: `apt-get install -y {package}` (./scripts/test does)")
        })
}

/// chromedriver on a free loopback port, stopped (by its own PID) when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new(program("chromedriver", "chromium-driver"))
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A session in a fresh Chromium with its own profile directory.
    async fn connect(&self, profile: &Path) -> Client {
        std::fs::create_dir_all(profile).expect("create the Chromium profile dir");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let chromium = program("chromium", "chromium");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let Json::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt = ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&self.url)
                .await;
            match attempt {
                Ok(client) => return client,
                // chromedriver takes a moment to listen.
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("start a Chromium session: {err}"),
            }
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What has the keyboard focus, and whether it shows.
#[derive(Debug)]
struct Focused {
    id: String,
    name: String,
    text: String,
    ring: bool,
}

/// One browser window at one width, with the page checks every visit gets.
struct Tab {
    client: Client,
    base: String,
    width: u32,
    height: u32,
    shots: PathBuf,
    axe: String,
    taken: usize,
}

impl Tab {
    fn new(client: Client, base: &str, width: u32, height: u32) -> Self {
        let shots = target_dir().join("screenshots").join(format!("{width}px"));
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("create the screenshot dir");
        let axe_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(AXE_PATH);
        let axe = std::fs::read_to_string(&axe_path).unwrap_or_else(|err| {
            panic!(
                "read {}: {err}; install axe-core there (`npm install --prefix \
                 target/test-services/axe axe-core`; ./scripts/test does)",
                axe_path.display()
            )
        });
        Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            width,
            height,
            shots,
            axe,
            taken: 0,
        }
    }

    async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|err| panic!("open {path}: {err}"));
    }

    /// Checks the page a flow arrived on: its title says where you are, it fits the width,
    /// axe finds nothing serious, and a full-length screenshot is saved.
    async fn page(&mut self, name: &str, heading: &str) {
        let title = self.title().await;
        assert_eq!(
            title,
            format!("{heading} · matchlog"),
            "the title of {name}"
        );
        // Wide tables scroll inside their frames; the page itself never scrolls sideways.
        let sideways = self
            .script("const d = document.documentElement; return d.scrollWidth - d.clientWidth;")
            .await;
        assert!(
            sideways.as_i64() <= Some(0),
            "{name} scrolls sideways by {sideways}px at {}px",
            self.width
        );
        let fetched = self
            .script(
                "return performance.getEntriesByType('resource').map(r => r.name)
                   .concat([...document.scripts].map(s => 'script: ' + s.src));",
            )
            .await;
        for url in fetched.as_array().expect("a list") {
            let url = url.as_str().unwrap_or_default();
            assert!(
                url.starts_with(&format!("{}/", self.base)),
                "{name} loads {url}: pages use only our own files and no script"
            );
        }
        self.check_accessibility(name).await;
        self.screenshot(name).await;
    }

    async fn title(&self) -> String {
        self.client.title().await.expect("read the title")
    }

    async fn check_accessibility(&self, name: &str) {
        self.client
            .execute(&format!("{}\nreturn true;", self.axe), Vec::new())
            .await
            .expect("load axe-core into the page");
        let script = "const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ['violations'] })
              .then(r => done(r.violations.map(v => ({
                 id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.map(n => n.target.join(' ')) }))))
              .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));";
        let found = self
            .client
            .execute_async(script, Vec::new())
            .await
            .expect("run axe-core");
        let violations = found.as_array().cloned().unwrap_or_default();
        let grave: Vec<&Json> = violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        for minor in violations.iter().filter(|v| !grave.contains(v)) {
            eprintln!(
                "axe ({name} at {}px, {}): {minor}",
                self.width, minor["impact"]
            );
        }
        assert!(
            grave.is_empty(),
            "accessibility violations on {name} at {}px:\n{}",
            self.width,
            serde_json::to_string_pretty(&grave).unwrap_or_default()
        );
    }

    /// A PNG of the whole page: the window grows to the page's height for the shot.
    async fn screenshot(&mut self, name: &str) {
        let size = self
            .script(
                "return [document.documentElement.scrollHeight,
                         window.outerHeight - window.innerHeight];",
            )
            .await;
        let page_height = size[0].as_u64().unwrap_or(0) as u32;
        let frame = size[1].as_u64().unwrap_or(0) as u32;
        let full = (page_height + frame).max(self.height);
        self.client
            .set_window_rect(0, 0, self.width, full)
            .await
            .expect("grow the window");
        let png = self.client.screenshot().await.expect("take a screenshot");
        self.client
            .set_window_rect(0, 0, self.width, self.height)
            .await
            .expect("restore the window");
        self.taken += 1;
        let path = self.shots.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&path, png).expect("save the screenshot");
    }

    async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("find {css}: {err}"))
    }

    async fn all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("find {css}: {err}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("read text")
    }

    /// The current value of the field named `name`.
    async fn value(&self, name: &str) -> String {
        self.find(&format!("[name='{name}']"))
            .await
            .prop("value")
            .await
            .expect("read a value")
            .unwrap_or_default()
    }

    async fn script(&self, script: &str) -> Json {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|err| panic!("run {script}: {err}"))
    }

    /// Types into a text field, replacing what was there.
    async fn fill(&self, name: &str, value: &str) {
        let field = self.find(&format!("[name='{name}']")).await;
        field.clear().await.expect("clear a field");
        field.send_keys(value).await.expect("type into a field");
    }

    /// Fills a field by its name or id: picks a radio button or an option of a `<select>`,
    /// or types into anything else.
    async fn set(&self, name: &str, value: &str) {
        let radio = format!("input[type=radio][name='{name}'][value='{value}']");
        if let Some(button) = self.all(&radio).await.into_iter().next() {
            button.click().await.expect("pick a radio button");
            return;
        }
        let field = self.find(&format!("[name='{name}'], #{name}")).await;
        if field.tag_name().await.expect("read a tag") == "select" {
            field
                .select_by_value(value)
                .await
                .expect("choose an option");
        } else {
            self.fill(name, value).await;
        }
    }

    async fn press(&self, key: Key) {
        let focused = self.client.active_element().await.expect("the focus");
        focused
            .send_keys(&key.to_string())
            .await
            .expect("press a key");
    }

    async fn type_keys(&self, text: &str) {
        let focused = self.client.active_element().await.expect("the focus");
        focused.send_keys(text).await.expect("type");
    }

    async fn focused(&self) -> Focused {
        let seen = self
            .script(
                "const e = document.activeElement;
                 // A radio button is drawn by the chip beside it, which shows the ring.
                 const drawn = e.type === 'radio' ? e.nextElementSibling : e;
                 const s = getComputedStyle(drawn);
                 // A date field's calendar button is the browser's own part: the field
                 // keeps the focus without matching :focus, and the browser draws it.
                 const inner = e.type === 'date' && !e.matches(':focus');
                 return [e.id, e.name || '', e.textContent.trim(), inner ||
                         (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)];",
            )
            .await;
        Focused {
            id: seen[0].as_str().unwrap_or_default().to_string(),
            name: seen[1].as_str().unwrap_or_default().to_string(),
            text: seen[2].as_str().unwrap_or_default().to_string(),
            ring: seen[3].as_bool().unwrap_or(false),
        }
    }

    /// Presses Tab until the field named `name` has the focus; every stop on the way
    /// must show where the focus is.
    async fn tab_to(&self, name: &str) {
        for _ in 0..20 {
            self.press(Key::Tab).await;
            let focused = self.focused().await;
            assert!(focused.ring, "focus is visible on {focused:?}");
            if focused.name == name {
                return;
            }
        }
        panic!("Tab never reached the field {name}");
    }

    /// Marks the current document so that its replacement can be recognised.
    async fn mark(&self) {
        self.script("window.__previous = true; return true;").await;
    }

    async fn wait_for_new_page(&self) {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let state = self
                .client
                .execute(
                    "return window.__previous !== true && document.readyState === 'complete';",
                    Vec::new(),
                )
                .await;
            // A script can fail while the old page is going away; ask again.
            if let Ok(Json::Bool(true)) = state {
                return;
            }
            assert!(Instant::now() < deadline, "no new page arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn click_and_wait(&self, css: &str) {
        let target = self.find(css).await;
        self.mark().await;
        target
            .click()
            .await
            .unwrap_or_else(|err| panic!("click {css}: {err}"));
        self.wait_for_new_page().await;
    }

    async fn press_and_wait(&self, key: Key) {
        self.mark().await;
        self.press(key).await;
        self.wait_for_new_page().await;
    }

    async fn submit_with_enter(&self, name: &str) {
        self.mark().await;
        let field = self.find(&format!("[name='{name}']")).await;
        field
            .send_keys(&Key::Enter.to_string())
            .await
            .expect("press Enter");
        self.wait_for_new_page().await;
    }

    /// The 1-based position of the results table's column headed `label`.
    async fn column_of(&self, label: &str) -> usize {
        let headers = self.all("table.results thead th").await;
        for (index, header) in headers.iter().enumerate() {
            let text = header.text().await.expect("read a header");
            if text.trim_end_matches([' ', '▲', '▼']) == label {
                return index + 1;
            }
        }
        panic!("no column headed {label}");
    }

    async fn cells(&self, column: usize) -> Vec<String> {
        let mut texts = Vec::new();
        for cell in self
            .all(&format!("table.results tbody td:nth-child({column})"))
            .await
        {
            texts.push(cell.text().await.expect("read a cell"));
        }
        texts
    }

    async fn numbers(&self, column: usize) -> Vec<i64> {
        self.cells(column)
            .await
            .iter()
            .map(|text| {
                text.parse()
                    .unwrap_or_else(|_| panic!("{text:?} is a number"))
            })
            .collect()
    }
}
