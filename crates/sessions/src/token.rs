//! Sessions in a signed token: the server keeps nothing.
//!
//! The whole session travels in the `sid` cookie as a JSON Web Token signed
//! with HS256 (HMAC-SHA256) under a key every node shares. Any node holding
//! the key can check a token and read the session out of it, so any node can
//! serve any request and no store needs to be up. Since the server does not
//! remember the new state, it hands it back: every authenticated answer
//! carries a new token ([`Updated::reissued`]) with the change applied and a
//! fresh expiry, and the client must send that one next time.
//!
//! # What a token holds
//!
//! ```text
//! header  {"typ":"JWT","alg":"HS256"}
//! payload {"jti":"q3N0…","sub":"alice","created_at":1764385200123,"requests":3,
//!          "cart":{"book":2},"exp":1764387001,"exp_ms":1764387000456}
//! ```
//!
//! | claim | meaning |
//! |---|---|
//! | `jti` | the session's id: 128 random bits, base64url. It stays the same across re-issues, so denying it refuses every copy the session ever produced |
//! | `sub` | the user name |
//! | `created_at`, `requests`, `cart` | as in [`Session`]; `created_at` also starts the session's absolute lifetime ([`TokenStore::with_max_age`]) |
//! | `exp` | expiry in whole seconds (RFC 7519), rounded up, for standard tools |
//! | `exp_ms` | the precise expiry in Unix milliseconds, which the store enforces: one TTL after the token was issued, or the end of the session's absolute lifetime (`created_at` + max age) if that comes first |
//!
//! The payload is signed, not encrypted: a client can read it (base64url),
//! it just cannot change it.
//!
//! # Checks, cheapest first
//!
//! A credential longer than [`MAX_TOKEN_LEN`] is refused unread. Then the
//! header must name HS256 (so `alg: none` and every other algorithm are
//! refused), the signature must match under this node's key, `exp_ms` must
//! be in the future, and so must `created_at` plus the absolute lifetime
//! (`--session-max-age`): a session in constant use, whose every request
//! re-issues its token, still ends then, and a node configured with a
//! shorter lifetime than the one that issued the token goes by its own.
//! Only a token that passed all of that is looked up in the deny list, so
//! forged, malformed or too old cookies never cost a Redis round trip.
//!
//! # Size
//!
//! Browsers need only keep cookies up to 4096 bytes, name and attributes
//! included (RFC 6265 §6.1). A token is at most [`MAX_TOKEN_LEN`] bytes,
//! which leaves room for `sid=` and `; HttpOnly; SameSite=Lax; Path=/`. A cart
//! change that would outgrow [`MAX_TOKEN_LEN`] minus a small headroom (so
//! that counting later requests always fits) fails with
//! [`StoreError::TooLarge`]; the client's current token stays valid.
//!
//! # Logout and the deny list
//!
//! Without a deny list, [`destroy`](SessionStore::destroy) can do nothing:
//! the server cannot reach into the client's copies, and a captured token
//! stays valid until `exp_ms`. With one ([`TokenStore::with_revocation`]),
//! logout (and a login that replaces a session) writes the token's `jti` to
//! Redis under `revoked:<jti>`, and every node asks Redis about every token
//! it accepts. The entry lives as long as the longest-lived copy of the
//! session can: a copy an attacker kept refreshing may expire later than the
//! one shown at logout, but none expires later than one `--session-ttl`
//! after the logout (plus [`REVOCATION_MARGIN`] for requests in flight).
//! After that every copy is refused by its own expiry, and the entry goes.
//!
//! # Ending every session of a user
//!
//! A token store keeps no list of a user's sessions, so it cannot list them
//! ([`sessions`](SessionStore::sessions) shows the caller's own token only,
//! `Reach::Caller`) nor name them one by one. What it can do, with a deny
//! list, is refuse them all by age: [`end_all`](SessionStore::end_all)
//! writes the user's "not before" time, `revoked-before:<user>` = the Unix
//! milliseconds of the end, and every node then refuses every token of that
//! user whose `created_at` is not after it, whichever copy it is. A login
//! after the end has a later `created_at` and is accepted. The key lives as
//! long as a session can (the absolute lifetime, plus
//! [`REVOCATION_MARGIN`]): every token it could refuse is past its lifetime
//! by then. Since the store cannot count the sessions it ended,
//! [`Ended::count`] is 1, meaning "at least the caller's". The time is the
//! ending node's clock and `created_at` the creating node's, so nodes whose
//! clocks differ move the line by the difference. Without a deny list
//! `end_all` answers [`StoreError::Unsupported`] ([`NEEDS_DENY_LIST`]).
//!
//! [`end_one`](SessionStore::end_one) can name only the caller's own
//! session (its [handle](SessionStore::handle) is that of its `jti`, the
//! same across re-issues): it revokes that `jti`, as logout does. Any other
//! handle is unknown to it (`Ok(false)`).
//!
//! A request still asks Redis once: a single `MGET revoked:<jti>
//! revoked-before:<user>` answers both questions.
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `revoked:<jti>` | `1` | `--session-ttl` + [`REVOCATION_MARGIN`] |
//! | `revoked-before:<user>` | Unix ms of the end | `--session-max-age` + [`REVOCATION_MARGIN`] |
//!
//! That is server-side state again, and Redis availability again: while the
//! deny list cannot be asked, authenticated requests answer 503 rather than
//! risk accepting a revoked token.
//!
//! ```text
//! $ redis-cli -p PORT --scan --pattern 'revoked*'
//! $ redis-cli -p PORT PTTL revoked:q3N0...
//! $ redis-cli -p PORT GET revoked-before:alice
//! ```
//!
//! The deny list reuses [`RedisStore`]'s connection handling (a connection
//! per worker thread, a deadline per operation, reconnect after a failure),
//! so an outage looks the same on the Redis twin and here.
//!
//! # Lost updates
//!
//! Two requests sent at once with the same token each start from the same
//! state and each answer with their own new token; the client keeps one of
//! them, and the other change is gone. The server-side stores apply changes
//! inside the store and lose nothing; a token cannot. That is a property of
//! the design, and `tests/token.rs` shows it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::redis::RedisError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::id::{self, SessionId};
use crate::redis::{RedisSettings, RedisStore};
use crate::resp::{Reply, WireError, encode, itoa};
use crate::session::{Name, Session, now_ms};
use crate::store::{Change, Ended, Listed, Reach, SessionInfo, SessionStore, StoreError, Updated};
use crate::view::SessionView;

/// The longest token issued or accepted, in bytes: 4096 (what browsers keep
/// per cookie) less 96 for the cookie's name and attributes.
pub const MAX_TOKEN_LEN: usize = 4096 - 96;

/// Room kept free when the cart grows, so that the request counter and
/// expiry can still grow (up to 20 digits each) in later tokens.
const HEADROOM: usize = 64;

/// The prefix of every deny-list key: `revoked:<jti>`.
pub const REVOKED_PREFIX: &str = "revoked:";

/// The prefix of a user's "not before" time: `revoked-before:<user>`.
pub const REVOKED_BEFORE_PREFIX: &str = "revoked-before:";

/// Why [`SessionStore::end_all`] cannot work without a deny list; the app
/// shows it to the client.
pub const NEEDS_DENY_LIST: &str = "ending every session needs a deny list: start token-server with --revocation-redis";

/// Why [`SessionStore::end_one`] cannot end the caller's session without a
/// deny list.
pub const ONE_NEEDS_DENY_LIST: &str = "ending a session needs a deny list: start token-server with --revocation-redis";

/// The longest TTL given to a deny-list key (Redis refuses expiry times
/// past what its clock can count): a hundred years.
const LONGEST_TTL_MS: u64 = 100 * 365 * 24 * 60 * 60 * 1000;

/// Added to the TTL of a deny-list entry for a request that passed the deny
/// check just before the logout and is still issuing its token.
pub const REVOCATION_MARGIN: Duration = Duration::from_secs(10);

/// The secret that signs and checks tokens. Every node of a cluster must hold
/// the same one: a node with another key refuses every token it did not sign,
/// which logs users out exactly as losing a RAM store does.
#[derive(Clone)]
pub struct TokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// Why a key was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    /// HS256 is only as strong as its key; RFC 7518 §3.2 asks for at least
    /// as many bytes as the hash output.
    #[error("the token key must be at least {min} bytes, got {0}", min = TokenKey::MIN_LEN)]
    TooShort(usize),
}

impl TokenKey {
    /// The shortest key accepted, in bytes (the size of an HMAC-SHA256 output).
    pub const MIN_LEN: usize = 32;

    /// A key from `secret`'s bytes, used as they are.
    pub fn new(secret: &[u8]) -> Result<TokenKey, TokenKeyError> {
        if secret.len() < Self::MIN_LEN {
            return Err(TokenKeyError::TooShort(secret.len()));
        }
        // Both only refuse an empty secret, which the length check excludes.
        let too_short = |_| TokenKeyError::TooShort(secret.len());
        Ok(TokenKey {
            encoding: EncodingKey::from_secret(secret).map_err(too_short)?,
            decoding: DecodingKey::from_secret(secret).map_err(too_short)?,
        })
    }
}

// A key is a secret: keep it out of Debug output (and so out of logs).
impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// The token's payload.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    jti: String,
    sub: Name,
    created_at: u64,
    requests: u64,
    #[serde(default)]
    cart: BTreeMap<String, u64>,
    exp: u64,
    exp_ms: u64,
}

impl Claims {
    fn session(&self) -> Session {
        Session { user: self.sub, created_at: self.created_at, requests: self.requests, cart: self.cart.clone() }
    }
}

/// The signed-token store. Clones share the key; each clone borrows its own
/// deny-list connection (see [`RedisStore`]).
#[derive(Clone)]
pub struct TokenStore {
    shared: Arc<Shared>,
    revocation: Option<RedisStore>,
    /// Absolute lifetime of a session, in milliseconds after its login.
    max_age_ms: u64,
}

struct Shared {
    key: TokenKey,
    header: Header,
    validation: Validation,
    ttl_ms: u64,
}

impl TokenStore {
    /// A store that signs with `key` and whose tokens expire `ttl` after they
    /// were issued (every request issues a new one, so the expiry slides).
    /// Without a deny list: see [`with_revocation`](Self::with_revocation).
    pub fn new(key: TokenKey, ttl: Duration) -> TokenStore {
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp_ms` is the precise check; `exp` only has to agree with it.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        TokenStore {
            shared: Arc::new(Shared {
                key,
                header: Header::new(Algorithm::HS256),
                validation,
                ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            }),
            revocation: None,
            max_age_ms: u64::try_from(crate::store::DEFAULT_MAX_AGE.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The same store with sessions ending `max_age` after their login,
    /// however often their token was re-issued
    /// ([`DEFAULT_MAX_AGE`](crate::store::DEFAULT_MAX_AGE) by default).
    pub fn with_max_age(mut self, max_age: Duration) -> TokenStore {
        self.max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Adds the deny list in the Redis at `url`: logout then refuses the
    /// token on every node sharing that Redis. Does not connect yet; fails
    /// only on a URL it cannot use.
    pub fn with_revocation(mut self, url: &str) -> Result<TokenStore, RedisError> {
        let ttl = Duration::from_millis(self.shared.ttl_ms);
        self.revocation = Some(RedisStore::new(&RedisSettings::new(url, ttl))?);
        Ok(self)
    }

    /// Whether logout denies tokens through Redis.
    pub fn revokes(&self) -> bool {
        self.revocation.is_some()
    }

    /// The deny-list key for a token id.
    pub fn revocation_key(jti: &str) -> String {
        format!("{REVOKED_PREFIX}{jti}")
    }

    /// The key of `user`'s "not before" time (see the module docs).
    pub fn revoked_before_key(user: &Name) -> String {
        format!("{REVOKED_BEFORE_PREFIX}{user}")
    }

    /// Signs `session` as a new token with a fresh id, valid for the TTL from
    /// now. For benchmarks and tests; requests go through [`SessionStore`].
    pub fn sign(&self, session: &Session) -> Result<String, StoreError> {
        self.issue(&SessionId::generate().to_string(), session, MAX_TOKEN_LEN)
    }

    /// The session in `token` if its signature and expiry are good, without
    /// asking the deny list. For benchmarks and tests.
    pub fn verify(&self, token: &str) -> Option<Session> {
        self.check(token).map(|claims| claims.session())
    }

    /// The token's id, if the token is good (signature and expiry).
    pub fn token_id(&self, token: &str) -> Option<String> {
        self.check(token).map(|claims| claims.jti)
    }

    /// Signature, algorithm, size, expiry and absolute lifetime: everything
    /// that needs no I/O.
    fn check(&self, credential: &str) -> Option<Claims> {
        if credential.len() > MAX_TOKEN_LEN {
            return None;
        }
        let claims =
            jsonwebtoken::decode::<Claims>(credential, &self.shared.key.decoding, &self.shared.validation).ok()?.claims;
        // Only ids this store could have made name a Redis key.
        SessionId::parse(&claims.jti)?;
        let now = now_ms();
        (claims.exp_ms > now && self.end_of_life(claims.created_at) > now).then_some(claims)
    }

    /// When a session created at `created_at` reaches its absolute
    /// lifetime, Unix milliseconds.
    fn end_of_life(&self, created_at: u64) -> u64 {
        created_at.saturating_add(self.max_age_ms)
    }

    /// Signs `session` under `jti`, expiring one TTL from now or at the end
    /// of its lifetime if that comes first; refuses a token longer than
    /// `limit`.
    fn issue(&self, jti: &str, session: &Session, limit: usize) -> Result<String, StoreError> {
        let exp_ms = now_ms().saturating_add(self.shared.ttl_ms).min(self.end_of_life(session.created_at));
        let claims = Claims {
            jti: jti.to_string(),
            sub: session.user,
            created_at: session.created_at,
            requests: session.requests,
            cart: session.cart.clone(),
            exp: exp_ms.div_ceil(1000),
            exp_ms,
        };
        let token = jsonwebtoken::encode(&self.shared.header, &claims, &self.shared.key.encoding).map_err(|e| {
            // HS256 with a checked key cannot fail to sign; if it ever does,
            // it is this node that cannot serve, not the client's fault.
            tracing::error!(error = %e, "cannot sign a session token");
            StoreError::Unavailable(format!("signing: {e}"))
        })?;
        if token.len() > limit {
            return Err(StoreError::TooLarge(format!("token of {} bytes, limit {limit}", token.len())));
        }
        Ok(token)
    }

    /// Whether the deny list refuses the session: its `jti` is denied, or
    /// its user's sessions were all ended after it was created. One round
    /// trip; always `false` without a deny list.
    async fn is_revoked(&self, claims: &Claims) -> Result<bool, StoreError> {
        let Some(redis) = &self.revocation else {
            return Ok(false);
        };
        let (denied, not_before) = (Self::revocation_key(&claims.jti), Self::revoked_before_key(&claims.sub));
        let replies =
            redis.call("revoked?", 1, |out| encode(out, &[b"MGET", denied.as_bytes(), not_before.as_bytes()])).await?;
        RedisStore::read("revoked?", &replies, |replies| {
            let unexpected = |other: Reply<'_>| WireError::Reply(format!("MGET answered {other:?}"));
            match replies.next()? {
                Reply::Array(Some(2)) => {}
                other => return Err(unexpected(other)),
            }
            let denied = match replies.next()? {
                Reply::Bulk(found) => found.is_some(),
                other => return Err(unexpected(other)),
            };
            let ended_at = match replies.next()? {
                Reply::Bulk(None) => None,
                Reply::Bulk(Some(ms)) => Some(
                    std::str::from_utf8(ms)
                        .ok()
                        .and_then(|ms| ms.parse::<u64>().ok())
                        .ok_or_else(|| WireError::Reply(format!("{not_before} is not a time")))?,
                ),
                other => return Err(unexpected(other)),
            };
            Ok(denied || ended_at.is_some_and(|ended_at| claims.created_at <= ended_at))
        })
    }

    /// Puts the session's id on the deny list until every copy of it has
    /// expired by itself; nothing to do without a deny list.
    async fn revoke(&self, claims: &Claims) -> Result<(), StoreError> {
        let Some(redis) = &self.revocation else {
            return Ok(());
        };
        // Not the shown token's remaining life: a copy refreshed later (by
        // the other tab, or by whoever captured it) outlives that one.
        let margin_ms = u64::try_from(REVOCATION_MARGIN.as_millis()).unwrap_or(u64::MAX);
        let ttl_ms = self.shared.ttl_ms.saturating_add(margin_ms);
        let key = Self::revocation_key(&claims.jti);
        redis
            .send("revoke", 1, |out| encode(out, &[b"SET", key.as_bytes(), b"1", b"PX", itoa(ttl_ms, &mut [0; 20])]))
            .await
    }
}

impl SessionStore for TokenStore {
    fn kind(&self) -> &'static str {
        "token"
    }

    async fn create(&self, user: &Name, _node: &str, replacing: Option<&str>) -> Result<(String, Session), StoreError> {
        // Without a deny list the replaced token cannot be ended: it stays
        // valid until it expires (see the module docs).
        if let Some(old) = replacing.and_then(|credential| self.check(credential)) {
            self.revoke(&old).await?;
        }
        let session = Session::new(user);
        let token = self.issue(&SessionId::generate().to_string(), &session, MAX_TOKEN_LEN)?;
        Ok((token, session))
    }

    async fn update_with<R: Send>(
        &self,
        credential: &str,
        change: Change,
        read: impl FnOnce(SessionView<'_>) -> R + Send,
    ) -> Result<Option<Updated<R>>, StoreError> {
        let Some(claims) = self.check(credential) else {
            return Ok(None);
        };
        if self.is_revoked(&claims).await? {
            return Ok(None);
        }
        let mut session = claims.session();
        session.apply(&change);
        // Counting a request must always fit, or a full cart would lock its
        // owner out; only growing the cart is held to the lower limit.
        let limit = match change {
            Change::Touch => MAX_TOKEN_LEN,
            Change::AddItem { .. } => MAX_TOKEN_LEN - HEADROOM,
        };
        let token = self.issue(&claims.jti, &session, limit)?;
        Ok(Some(Updated { session: read(session.view()), reissued: Some(token) }))
    }

    /// Re-issues the token with an empty cart and hands back the items of
    /// the one shown. The client's *old* token still carries the cart: one
    /// who replays it can check the same cart out again. The deny list does
    /// not help here (it refuses a session's every copy, and this session
    /// lives on); refusing the replay would take a record of every token
    /// spent, which is server-side state. The harness measures what the
    /// design gives up rather than hiding it.
    async fn take_cart(&self, credential: &str) -> Result<Option<Updated>, StoreError> {
        let Some(claims) = self.check(credential) else {
            return Ok(None);
        };
        if self.is_revoked(&claims).await? {
            return Ok(None);
        }
        let mut session = claims.session();
        session.apply(&Change::Touch);
        let taken = session.clone();
        session.cart.clear();
        let token = self.issue(&claims.jti, &session, MAX_TOKEN_LEN)?;
        Ok(Some(Updated { session: taken, reissued: Some(token) }))
    }

    async fn destroy(&self, credential: &str) -> Result<(), StoreError> {
        match self.check(credential) {
            Some(claims) => self.revoke(&claims).await,
            None => Ok(()),
        }
    }

    /// The handle of the token's `jti`, so the same for every copy the
    /// session was re-issued as; `None` for a token that does not check.
    fn handle(&self, credential: &str) -> Option<String> {
        self.check(credential).map(|claims| id::handle(&claims.jti))
    }

    /// The caller's own session alone (`Reach::Caller`): the store keeps no
    /// list. Its `last_seen` is now, since the caller is using it.
    async fn sessions(&self, user: &Name, current: &str) -> Result<Listed, StoreError> {
        let sessions = self
            .check(current)
            .filter(|claims| claims.sub == *user)
            .map(|claims| SessionInfo {
                handle: id::handle(&claims.jti),
                created_at: claims.created_at,
                last_seen: now_ms().max(claims.created_at),
                node: None,
            })
            .into_iter()
            .collect();
        Ok(Listed { sessions, reach: Reach::Caller })
    }

    /// Writes the user's "not before" time to the deny list (see the module
    /// docs): every token of `user` created until now is refused on every
    /// node. `count` is 1: at least the caller's; the store cannot know how
    /// many there were.
    async fn end_all(&self, user: &Name, _current: &str) -> Result<Ended, StoreError> {
        let Some(redis) = &self.revocation else {
            return Err(StoreError::Unsupported(NEEDS_DENY_LIST));
        };
        let key = Self::revoked_before_key(user);
        let ended_at = now_ms();
        let margin_ms = u64::try_from(REVOCATION_MARGIN.as_millis()).unwrap_or(u64::MAX);
        let ttl_ms = self.max_age_ms.saturating_add(margin_ms).min(LONGEST_TTL_MS);
        redis
            .send("end all", 1, |out| {
                let (mut at, mut ttl) = ([0; 20], [0; 20]);
                encode(out, &[b"SET", key.as_bytes(), itoa(ended_at, &mut at), b"PX", itoa(ttl_ms, &mut ttl)]);
            })
            .await?;
        Ok(Ended { count: 1, reach: Reach::Everywhere })
    }

    /// Only the caller's own session can be named: its `jti` goes on the
    /// deny list, as at logout. Any other handle: `Ok(false)`.
    async fn end_one(&self, user: &Name, current: &str, handle: &str) -> Result<bool, StoreError> {
        let Some(claims) = self.check(current).filter(|claims| claims.sub == *user) else {
            return Ok(false);
        };
        if id::handle(&claims.jti) != handle {
            return Ok(false);
        }
        if self.revocation.is_none() {
            return Err(StoreError::Unsupported(ONE_NEEDS_DENY_LIST));
        }
        self.revoke(&claims).await?;
        Ok(true)
    }

    async fn health(&self) -> Result<(), StoreError> {
        match &self.revocation {
            Some(redis) => redis.health().await,
            None => Ok(()),
        }
    }
}
