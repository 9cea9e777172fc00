//! Keeping secrets out of what is shown or logged: a URL's userinfo
//! (`user:password@`) is never printed.

/// `url` with any `user:password@` before the host replaced by `***@`.
/// Text that is not a URL with an authority comes back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..authority_start], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// [`redact_url`] for a value that should be a URL but may be misspelt (a
/// config mistake such as `admin:pw@hooks.local/x`, or a mangled scheme
/// `https:/u:pw@h`, `https//u:pw@h`): without `://`, a leading `http` or
/// `https` with one or two slashes, with or without its colon, is set
/// aside, and the text up to the first `/`, `?` or `#` is taken as the
/// authority.
pub fn redact_config_url(url: &str) -> String {
    if url.contains("://") {
        return redact_url(url);
    }
    let lower = url.to_ascii_lowercase();
    let scheme = ["https", "http"].iter().find(|s| lower.starts_with(*s)).map_or(0, |s| s.len());
    let after = &url[scheme..];
    let slashes = after.strip_prefix(':').unwrap_or(after);
    let prefix_len =
        if scheme > 0 && slashes.starts_with('/') { url.len() - slashes.trim_start_matches('/').len() } else { 0 };
    let (prefix, rest) = url.split_at(prefix_len);
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => format!("{prefix}***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Every URL inside `text` (an error message that quotes one) redacted.
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        // The scheme starts after the last character that cannot be in one.
        let start = rest[..i]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || "+-.".contains(*c)))
            .map_or(0, |(p, c)| p + c.len_utf8());
        let end = rest[i..].find(|c: char| c.is_whitespace() || "\"'<>()`".contains(c)).map_or(rest.len(), |e| i + e);
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_replaced_and_the_rest_kept() {
        assert_eq!(redact_url("http://admin:S3cretPw@influx:8086/write?db=x"), "http://***@influx:8086/write?db=x");
        assert_eq!(redact_url("https://user@host/"), "https://***@host/");
        assert_eq!(redact_url("http://host:8086/a@b"), "http://host:8086/a@b", "an @ in the path is no userinfo");
        assert_eq!(redact_url("http://a:b@c@host/"), "http://***@host/");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn a_config_url_without_its_scheme_loses_its_userinfo_too() {
        assert_eq!(redact_config_url("admin:S3cretPw@hooks.local/x@y"), "***@hooks.local/x@y");
        assert_eq!(redact_config_url("ftp://admin:S3cretPw@hooks.local/"), "ftp://***@hooks.local/");
        assert_eq!(redact_config_url("hooks.local/a@b"), "hooks.local/a@b");
        // A scheme misspelt keeps no password either.
        assert_eq!(redact_config_url("https:/admin:S3cretPw@hooks.local/x"), "https:/***@hooks.local/x");
        assert_eq!(redact_config_url("https//admin:S3cretPw@hooks.local/x"), "https//***@hooks.local/x");
        assert_eq!(redact_config_url("HTTP:admin:S3cretPw@hooks.local"), "***@hooks.local");
    }

    #[test]
    fn urls_inside_an_error_message_are_redacted() {
        assert_eq!(
            redact_urls_in("error sending request for url (http://admin:pw@127.0.0.1:9/write): refused"),
            "error sending request for url (http://***@127.0.0.1:9/write): refused"
        );
        assert_eq!(redact_urls_in("no url here"), "no url here");
        assert_eq!(redact_urls_in("lỗi http://u:p@h/ và ở https://x@y"), "lỗi http://***@h/ và ở https://***@y");
    }
}
