//! A user's cookies, kept as a browser keeps them.

use std::collections::BTreeMap;

/// Cookies a user was given, sent back on every request. Every cookie is
/// kept (not only `sid`), since a real load balancer may add its own for
/// stickiness.
#[derive(Clone, Debug, Default)]
pub struct CookieJar {
    cookies: BTreeMap<String, String>,
}

impl CookieJar {
    /// Applies one `Set-Cookie` header (parsed by the `cookie` crate):
    /// stores the cookie, or removes it when the value is empty or
    /// `Max-Age` is zero or less (a cleared cookie). A header that is not a
    /// cookie is ignored.
    pub fn store(&mut self, set_cookie: &str) {
        let Ok(cookie) = cookie::Cookie::parse(set_cookie) else {
            return;
        };
        let (name, value) = (cookie.name(), cookie.value().trim_matches('"'));
        if value.is_empty() || cookie.max_age().is_some_and(|age| age <= cookie::time::Duration::ZERO) {
            self.cookies.remove(name);
        } else {
            self.cookies.insert(name.to_string(), value.to_string());
        }
    }

    /// The `Cookie` header to send, if any cookie is held.
    pub fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        Some(self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
    }

    /// A cookie's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Forgets every cookie.
    pub fn clear(&mut self) {
        self.cookies.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jar_keeps_every_cookie_and_drops_cleared_ones() {
        let mut jar = CookieJar::default();
        assert_eq!(jar.header(), None);
        jar.store("sid=abc; HttpOnly; SameSite=Lax; Path=/");
        jar.store("SERVERID=n2; Path=/");
        assert_eq!(jar.header().unwrap(), "SERVERID=n2; sid=abc");
        jar.store("sid=; Max-Age=0; Path=/");
        assert_eq!(jar.get("sid"), None);
        assert_eq!(jar.get("SERVERID"), Some("n2"));
        jar.store("sid=new; max-age=60");
        assert_eq!(jar.get("sid"), Some("new"));
        jar.store("garbage");
        assert_eq!(jar.header().unwrap(), "SERVERID=n2; sid=new");
    }
}
