//! The web console against the real collector over HTTP: users made with
//! `dcwatch-collector user add` (password on standard input), the login and
//! its cookie, the CSRF and role checks, logout, a disabled user's session,
//! and the login rate limit with its audit records.

use std::io::Write as _;
use std::process::{Command, Stdio};

use dcwatch_tests::*;

const NAM_PW: &str = "mật-khẩu-của-nam-1";
const LAN_PW: &str = "mật-khẩu-của-lan-1";

fn start() -> Collector {
    let dir = TempDir::new().expect("tempdir");
    let yaml = format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  allow_anonymous: true\n\
         alarms:\n  db: {alarms}\n  sites:\n    - {{name: hn, feeds: [A, B]}}\n    - {{name: hcm, feeds: [A, B]}}\n\
         web:\n  users_db: {users}\n  title: TTDL Lào Cai\n",
        alarms = dir.path().join("alarms.db").display(),
        users = dir.path().join("users.db").display(),
    );
    Collector::start_in(dir, &yaml)
}

/// `dcwatch-collector -c … user ARGS`, with `stdin` piped in: (exit code, stdout + stderr).
fn user(c: &Collector, args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new(bin("dcwatch-collector"))
        .arg("-c")
        .arg(c.dir.path().join("collector.yaml"))
        .arg("user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dcwatch-collector user");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

struct Answer {
    status: u16,
    location: String,
    cookies: Vec<String>,
    body: String,
}

fn send(c: &Collector, method: &str, path: &str, cookie: &str, form: &[(&str, &str)]) -> Answer {
    let mut req = client().request(method.parse().unwrap(), format!("{}{path}", c.url())).header("Cookie", cookie);
    if method == "POST" {
        let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
        req = req.header("Content-Type", "application/x-www-form-urlencoded").body(body.join("&"));
    }
    let r = req.send().expect("request");
    let h = |k: &str| r.headers().get_all(k).iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>();
    let (status, location, cookies) = (r.status().as_u16(), h("location").join(""), h("set-cookie"));
    Answer { status, location, cookies, body: r.text().unwrap() }
}

/// The value of the first `name="csrf"` field of a page.
fn csrf(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).unwrap_or_else(|| panic!("no csrf field in {page}"));
    page[at + 19..].split('"').next().unwrap().to_string()
}

/// Logs in: (the session cookie as the browser sends it, the answer's Set-Cookie).
fn login(c: &Collector, name: &str, password: &str) -> (Answer, String) {
    let form = send(c, "GET", "/ui/login", "", &[]);
    assert_eq!(form.status, 200, "{}", form.body);
    let login_cookie = form.cookies[0].split(';').next().unwrap().to_string();
    let token = csrf(&form.body);
    let a = send(c, "POST", "/ui/login", &login_cookie, &[("csrf", &token), ("user", name), ("password", password)]);
    let session = a.cookies.iter().find(|k| k.starts_with("dcwatch_session=")).map(|k| k.split(';').next().unwrap());
    let session = session.unwrap_or_default().to_string();
    (a, session)
}

fn audit(c: &Collector, action: &str) -> Vec<(String, String, String, String)> {
    let r = client()
        .get(format!("{}/api/audit?limit=1000&action={action}", c.url()))
        .bearer_auth(API_TOKEN)
        .send()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    let mut rows: Vec<_> = v["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (s("actor"), s("source"), s("comment"), s("outcome"))
        })
        .collect();
    rows.reverse();
    rows
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn a_user_made_on_the_command_line_logs_in_and_the_console_checks_csrf_roles_sessions_and_failed_logins() {
    let c = start();
    // Users, passwords from standard input.
    assert_eq!(user(&c, &["add", "nam", "--role", "operator"], &format!("{NAM_PW}\n")), (0, "user_add: nam\n".into()));
    assert_eq!(user(&c, &["add", "lan", "--role", "viewer", "--lang", "en"], &format!("{LAN_PW}\n")).0, 0);
    let (code, text) = user(&c, &["add", "minh", "--role", "admin"], "ngắn\n");
    assert_eq!(
        (code, text.as_str()),
        (2, "dcwatch-collector user: the password is 4 characters long; use at least 10\n")
    );
    let (code, list) = user(&c, &["list"], "");
    let list: Vec<_> = list.lines().map(|l| l.split('\t').take(4).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!((code, list), (0, vec!["lan viewer enabled en".to_string(), "nam operator enabled -".to_string()]));

    // Without a session, a page sends the browser to the login.
    let a = send(&c, "GET", "/ui/", "", &[]);
    assert_eq!((a.status, a.location.as_str()), (303, "/ui/login"));

    // Login: the cookie has exactly its attributes (no TLS: not Secure).
    let (a, nam) = login(&c, "nam", NAM_PW);
    assert_eq!((a.status, a.location.as_str()), (303, "/ui/"));
    let set = a.cookies.iter().find(|k| k.starts_with("dcwatch_session=")).unwrap();
    let token = &nam["dcwatch_session=".len()..];
    assert_eq!(token.len(), 64, "{set}");
    assert_eq!(set, &format!("dcwatch_session={token}; Path=/ui; HttpOnly; SameSite=Strict"));
    let page = send(&c, "GET", "/ui/", &nam, &[]);
    assert_eq!(page.status, 200);
    for words in ["<title>Tổng quan — TTDL Lào Cai</title>", "<h2>hcm</h2>", "<h2>hn</h2>", "Đăng nhập: nam (operator)"]
    {
        assert!(page.body.contains(words), "{words} in {}", page.body);
    }
    let nam_csrf = csrf(&page.body);

    // A POST without the CSRF token: 403.
    let a = send(&c, "POST", "/ui/lang", &nam, &[("lang", "en")]);
    assert_eq!(a.status, 403, "{}", a.body);
    // A viewer's forged POST to an operator's action, with a good token: 403.
    let (_, lan) = login(&c, "lan", LAN_PW);
    let lan_page = send(&c, "GET", "/ui/", &lan, &[]);
    assert!(lan_page.body.contains("Signed in: lan (viewer)"), "lan chose English: {}", lan_page.body);
    let a = send(&c, "POST", "/ui/alarms/0123abcd/ack", &lan, &[("csrf", &csrf(&lan_page.body)), ("comment", "x")]);
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("This needs the role operator."), "{}", a.body);
    // The operator passes the same check (and the alarm does not exist: 404).
    let a = send(&c, "POST", "/ui/alarms/0123abcd/ack", &nam, &[("csrf", &nam_csrf), ("comment", "x")]);
    assert_eq!(a.status, 404, "{}", a.body);

    // A disabled user's session ends at the next request.
    assert_eq!(user(&c, &["disable", "lan"], "").0, 0);
    let a = send(&c, "GET", "/ui/", &lan, &[]);
    assert_eq!((a.status, a.location.as_str()), (303, "/ui/login?m=ended"));

    // Logout ends the session: the old cookie leads to the login page.
    let a = send(&c, "POST", "/ui/logout", &nam, &[("csrf", &nam_csrf)]);
    assert_eq!((a.status, a.location.as_str()), (303, "/ui/login?m=out"));
    let a = send(&c, "GET", "/ui/", &nam, &[]);
    assert_eq!((a.status, a.location.as_str()), (303, "/ui/login?m=ended"));

    // Five wrong passwords, each refused and audited; then even the right one waits (429).
    for _ in 0..5 {
        let (a, _) = login(&c, "nam", "sai-mật-khẩu-9");
        assert_eq!(a.status, 401, "{}", a.body);
        assert!(a.body.contains("Sai tên đăng nhập hoặc mật khẩu."), "{}", a.body);
    }
    let (a, session) = login(&c, "nam", NAM_PW);
    assert_eq!((a.status, session.as_str()), (429, ""));
    assert!(a.body.contains("Đăng nhập sai quá nhiều lần. Hãy thử lại sau khoảng 15 phút."), "{}", a.body);
    let failed = audit(&c, "web_login_failed");
    let want = ("nam".to_string(), "127.0.0.1".to_string(), "wrong password".to_string(), "refused".to_string());
    assert_eq!(failed, vec![want; 5]);
    assert_eq!(audit(&c, "web_login_limited").len(), 1);
    let logins: Vec<_> = audit(&c, "web_login").into_iter().map(|r| (r.0, r.3)).collect();
    assert_eq!(logins, vec![("nam".into(), "ok".into()), ("lan".into(), "ok".into())]);
    let cli: Vec<_> = audit(&c, "user_disable").into_iter().map(|r| (r.1, r.3)).collect();
    assert_eq!(cli, vec![("cli".into(), "ok".into())]);
}
