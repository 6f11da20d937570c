//! Building links and checking where a sign-in may send the browser next.

/// `next` when it is a path on this site, else `None`.
///
/// Browsers treat `//host` and `/\host` as links to another host, and a scheme
/// (`https:`, `javascript:`) leaves the site, so only a single leading slash followed by
/// an ordinary path character is kept.
pub fn local_next(next: &str) -> Option<&str> {
    let rest = next.strip_prefix('/')?;
    let safe = !rest.starts_with('/')
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2048;
    safe.then_some(next)
}

/// Percent-encodes a query component: everything but unreserved characters.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `path?k=v&...`, or the bare path when there are no pairs.
pub fn with_query<'a>(path: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let query: Vec<String> = pairs
        .into_iter()
        .map(|(key, value)| format!("{}={}", encode_component(key), encode_component(value)))
        .collect();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for kept in [
            "/games",
            "/games?x=1",
            "/games/apex?sort=kills&dir=asc",
            "/",
        ] {
            assert_eq!(local_next(kept), Some(kept), "{kept}");
        }
        for refused in [
            "//evil.example",
            "https://x",
            "/\\evil",
            "\\\\evil",
            "javascript:alert(1)",
            "",
            "games",
            "/\tevil",
            "/games\\..\\x",
        ] {
            assert_eq!(local_next(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn components_are_encoded_for_a_query() {
        assert_eq!(encode_component("/games?x=1"), "%2Fgames%3Fx%3D1");
        assert_eq!(encode_component("Åsa b"), "%C3%85sa%20b");
        assert_eq!(
            with_query("/games/apex", [("sort", "kills"), ("legend", "Mad Maggie")]),
            "/games/apex?sort=kills&legend=Mad%20Maggie"
        );
        assert_eq!(with_query("/x", []), "/x");
    }
}
