//! A real headless Chromium driven over the W3C WebDriver protocol by
//! Debian's `chromedriver`: the console's tests click, type and read the
//! DOM as a user's browser does, and take screenshots. The protocol is a
//! handful of JSON requests, sent with the blocking reqwest client the
//! other helpers use.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::{Proc, free_port, system_program, wait_for};

/// The key WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    _driver: Proc,
    base: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

/// An element on the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile,
    /// its window `width` × `height` CSS pixels.
    pub fn start(width: u32, height: u32) -> Browser {
        let profile = tempfile::TempDir::new().expect("tempdir");
        let port = free_port();
        let driver = Proc::spawn(
            "chromedriver",
            Command::new(system_program("chromedriver")).arg(format!("--port={port}")),
            profile.path(),
        );
        let http = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("http client");
        let url = format!("http://127.0.0.1:{port}");
        wait_for("chromedriver", || http.get(format!("{url}/status")).send().ok().filter(|r| r.status().is_success()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": system_program("chromium").display().to_string(),
                // The browser of a Vietnamese user: Accept-Language vi first.
                "prefs": {"intl.accept_languages": "vi-VN,vi,en"},
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--lang=vi",
                         format!("--user-data-dir={}", profile.path().join("chrome").display()),
                         format!("--window-size={width},{height}")],
            },
        }}});
        let r = http.post(format!("{url}/session")).header("Content-Type", "application/json").body(caps.to_string());
        let r: Value = serde_json::from_str(&r.send().expect("new session").text().unwrap()).expect("json");
        let id = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}")).to_string();
        let b = Browser { _driver: driver, base: format!("{url}/session/{id}"), http, _profile: profile };
        b.viewport(width, height);
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A WebDriver command; its error (a stale element while a page loads) as text.
    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let req = self.http.request(method.parse().unwrap(), &url);
        let req = match body {
            Some(b) => req.header("Content-Type", "application/json").body(b.to_string()),
            None => req,
        };
        let text = req.send().map_err(|e| format!("{method} {path}: {e}"))?.text().map_err(|e| e.to_string())?;
        let r: Value = serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}: {text}"))?;
        match r["value"]["error"].as_str() {
            Some(err) => Err(format!("{method} {path}: {err}: {}", r["value"]["message"])),
            None => Ok(r["value"].clone()),
        }
    }

    /// The text of the first element matching `css`, if there is one now
    /// (None while the page is still loading): for `wait_for`.
    pub fn try_text(&self, css: &str) -> Option<String> {
        let v = self.try_call("POST", "/elements", Some(json!({"using": "css selector", "value": css}))).ok()?;
        let id = v.as_array()?.first()?[ELEMENT].as_str()?.to_string();
        let t = self.try_call("GET", &format!("/element/{id}/text"), None).ok()?;
        t.as_str().map(str::to_string)
    }

    /// The page's viewport, exactly (a phone: 360 × 740), as DevTools sets it.
    pub fn viewport(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": "Emulation.setDeviceMetricsOverride",
                "params": {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}})),
        );
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap_or("").to_string()
    }

    /// The elements matching a CSS selector (none: empty).
    pub fn all(&self, css: &str) -> Vec<Element> {
        let v = self.call("POST", "/elements", Some(json!({"using": "css selector", "value": css})));
        v.as_array()
            .map(|a| a.iter().filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_string()))).collect())
            .unwrap_or_default()
    }

    /// The one element matching `css`; panics, with the page, if none.
    pub fn find(&self, css: &str) -> Element {
        self.all(css).into_iter().next().unwrap_or_else(|| panic!("no `{css}` in\n{}", self.source()))
    }

    pub fn text(&self, e: &Element) -> String {
        self.call("GET", &format!("/element/{}/text", e.0), None).as_str().unwrap_or("").to_string()
    }

    /// The text of the one element matching `css`.
    pub fn text_of(&self, css: &str) -> String {
        self.on(css, |id| self.try_call("GET", &format!("/element/{id}/text"), None)).as_str().unwrap_or("").to_string()
    }

    pub fn click(&self, e: &Element) {
        self.call("POST", &format!("/element/{}/click", e.0), Some(json!({})));
    }

    pub fn click_on(&self, css: &str) {
        self.on(css, |id| self.try_call("POST", &format!("/element/{id}/click"), Some(json!({}))));
    }

    /// Types `text` into the field matching `css` (after what it holds).
    pub fn type_into(&self, css: &str, text: &str) {
        self.on(css, |id| self.try_call("POST", &format!("/element/{id}/value"), Some(json!({ "text": text }))));
    }

    /// Empties the field matching `css`.
    pub fn clear(&self, css: &str) {
        self.on(css, |id| self.try_call("POST", &format!("/element/{id}/clear"), Some(json!({}))));
    }

    /// `act` on the element matching `css`, found again if the page's live
    /// update replaced it between the finding and the acting (a stale
    /// element reference): the same element, as a user would see it.
    fn on(&self, css: &str, act: impl Fn(&str) -> Result<Value, String>) -> Value {
        let mut tries = 0;
        loop {
            let e = self.find(css);
            match act(&e.0) {
                Ok(v) => return v,
                Err(err) if err.contains("stale element reference") && tries < 5 => tries += 1,
                Err(err) => panic!("{err}"),
            }
        }
    }

    /// Runs `script` (a function body) in the page; what it returns.
    pub fn run(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({"script": script, "args": []})))
    }

    /// The page's HTML as the browser holds it now.
    pub fn source(&self) -> String {
        self.call("GET", "/source", None).as_str().unwrap_or("").to_string()
    }

    /// A PNG of the viewport, written to `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let b64 = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or("")).expect("base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// A PNG of the whole page (not only the viewport), for the docs.
    pub fn full_screenshot(&self, path: &Path, width: u32) {
        let height =
            self.run("return Math.ceil(document.documentElement.scrollHeight);").as_u64().unwrap_or(800) as u32;
        self.viewport(width, height.clamp(200, 4000));
        self.screenshot(path);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.base).send();
    }
}
