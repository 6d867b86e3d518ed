//! Notes' markdown as HTML for their preview (spec ui.md, Notes). The text is the user's own,
//! but pages are shared within a tenant, so nothing in it may become markup of ours: raw HTML
//! is shown as text, and links and images keep only `http`, `https`, `mailto`, relative and
//! fragment addresses (a `javascript:` link becomes `#`).

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

/// Whether a link or image address is one a note may carry.
fn safe_address(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    match lower.split_once(':') {
        // A colon after a slash, `?` or `#` is not a scheme (`/a:b`, `?t=10:00`).
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

fn defused(url: CowStr<'_>) -> CowStr<'_> {
    if safe_address(&url) { url } else { "#".into() }
}

/// `text` (CommonMark with tables, strikethrough and task lists) as HTML.
pub fn to_html(text: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: defused(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: defused(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_and_nothing_in_it_becomes_markup() {
        assert_eq!(
            to_html("# Plan\n\n- [x] **done**\n"),
            "<h1>Plan</h1>\n<ul>\n<li><input disabled=\"\" type=\"checkbox\" checked=\"\"/>\n<strong>done</strong></li>\n</ul>\n"
        );
        let hostile = to_html("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>");
        assert!(
            !hostile.contains("<script") && !hostile.contains("<img"),
            "{hostile}"
        );
        assert!(hostile.contains("&lt;script&gt;"), "{hostile}");
        for bad in [
            "javascript:alert(1)",
            " JavaScript:x",
            "data:text/html,x",
            "vbscript:x",
        ] {
            let out = to_html(&format!("[a]({bad}) ![i]({bad})"));
            assert!(
                out.contains(r##"href="#""##) && out.contains(r##"src="#""##),
                "{bad}: {out}"
            );
        }
        for good in [
            "https://example.com/a",
            "/bots?q=a:b",
            "#top",
            "mailto:a@b.c",
            "notes/1",
        ] {
            let out = to_html(&format!("[a]({good})"));
            assert!(
                !out.contains(r##"href="#""##) || good == "#top",
                "{good}: {out}"
            );
        }
    }
}
