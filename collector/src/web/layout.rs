//! What every page shares: the header with the console's name, the nav,
//! the user menu (language switch, logout), and the one stylesheet, built
//! into the binary and served under a name that holds its hash (so it is
//! cached for good and a new version is fetched at once).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::{Caller, Web};
use crate::i18n::Lang;

const CSS: &str = include_str!("assets/web.css");
/// The live updates, the console's one script (the pages work without it).
const JS: &str = include_str!("assets/live.js");

/// How often a page asks for itself again (seconds), with the script.
pub const LIVE_SECS: u32 = 5;

/// `<stem>-<first 16 hex digits of the SHA-256>.<ext>`.
fn hashed(stem: &str, ext: &str, body: &str) -> String {
    format!("{stem}-{}.{ext}", &hex::encode(crate::auth::sha256(body))[..16])
}

static CSS_NAME: LazyLock<String> = LazyLock::new(|| hashed("web", "css", CSS));
static JS_NAME: LazyLock<String> = LazyLock::new(|| hashed("live", "js", JS));

/// The nav's pages, in the catalogue's order (`Text::nav`).
pub const NAV: [&str; 7] =
    ["/ui/", "/ui/alarms", "/ui/hosts", "/ui/devices", "/ui/backups", "/ui/reports", "/ui/audit"];

pub async fn asset(Path(name): Path<String>) -> Response {
    let (kind, body) = if name == *CSS_NAME {
        ("text/css; charset=utf-8", CSS)
    } else if name == *JS_NAME {
        ("text/javascript; charset=utf-8", JS)
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], body)
        .into_response()
}

/// A whole page: `active` is the nav entry it is (None: none). A page of
/// the nav (and the wall display, which passes its entry without a
/// caller) updates itself every [`LIVE_SECS`] with the script.
pub fn page(
    web: &Web,
    lang: Lang,
    caller: Option<&Caller>,
    active: Option<usize>,
    title: &str,
    body: Markup,
) -> Markup {
    page_of(web, lang, caller, active, active.is_some(), title, body)
}

/// [`page`] of the nav that does not update itself: one whose reading is
/// a search of a large store (the audit log), asked for when wanted.
pub fn still_page(web: &Web, lang: Lang, caller: &Caller, active: usize, title: &str, body: Markup) -> Markup {
    page_of(web, lang, Some(caller), Some(active), false, title, body)
}

fn page_of(
    web: &Web,
    lang: Lang,
    caller: Option<&Caller>,
    active: Option<usize>,
    live: bool,
    title: &str,
    body: Markup,
) -> Markup {
    let t = lang.web();
    html! {
        (DOCTYPE)
        html lang=(t.html_lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (web.cfg.title) }
                link rel="stylesheet" href=(format!("/ui/assets/{}", *CSS_NAME));
                @if live {
                    script src=(format!("/ui/assets/{}", *JS_NAME)) defer {}
                }
            }
            body {
                a.skip href="#main" { (t.skip_to_content) }
                header.top {
                    a.brand href="/ui/" { (web.cfg.title) }
                    @if let Some(c) = caller {
                        nav aria-label=(t.nav_label) {
                            ul {
                                @for (i, (href, word)) in NAV.iter().zip(t.nav).enumerate() {
                                    li {
                                        @if Some(i) == active {
                                            a href=(href) aria-current="page" { (word) }
                                        } @else {
                                            a href=(href) { (word) }
                                        }
                                    }
                                }
                            }
                        }
                        div.user {
                            span { ((t.signed_in_as)(&c.user.name, c.user.role.as_str())) }
                            form method="post" action="/ui/lang" {
                                input type="hidden" name="csrf" value=(c.session.csrf);
                                input type="hidden" name="lang" value=(other(lang).code());
                                button type="submit" lang=(other(lang).code()) { (t.other_language) }
                            }
                            form method="post" action="/ui/logout" {
                                input type="hidden" name="csrf" value=(c.session.csrf);
                                button type="submit" { (t.logout) }
                            }
                        }
                    }
                }
                @if live {
                    div #live-lost .notice.error role="status" hidden { (t.live_lost) }
                    main #main data-live=(LIVE_SECS) { (body) }
                } @else {
                    main #main { (body) }
                }
            }
        }
    }
}

pub fn other(lang: Lang) -> Lang {
    match lang {
        Lang::Vi => Lang::En,
        Lang::En => Lang::Vi,
    }
}

/// A page that says one thing (a refusal, a page not found), with `status`.
pub fn message(web: &Web, caller: Option<&Caller>, status: StatusCode, title: &str, text: &str) -> Response {
    let lang = caller.map_or(Lang::Vi, |c| c.lang);
    message_in(web, lang, caller, status, title, text)
}

pub fn message_in(
    web: &Web,
    lang: Lang,
    caller: Option<&Caller>,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    let t = lang.web();
    let body = html! {
        h1 { (title) }
        p.notice { (text) }
        p { a href="/ui/" { (t.back) } }
    };
    (status, page(web, lang, caller, None, title, body)).into_response()
}
