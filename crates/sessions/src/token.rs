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
//! | `created_at`, `requests`, `cart` | as in [`Session`] |
//! | `exp` | expiry in whole seconds (RFC 7519), rounded up, for standard tools |
//! | `exp_ms` | the precise expiry in Unix milliseconds, which the store enforces |
//!
//! The payload is signed, not encrypted: a client can read it (base64url),
//! it just cannot change it.
//!
//! # Checks, cheapest first
//!
//! A credential longer than [`MAX_TOKEN_LEN`] is refused unread. Then the
//! header must name HS256 (so `alg: none` and every other algorithm are
//! refused), the signature must match under this node's key, and `exp_ms`
//! must be in the future. Only a token that passed all of that is looked up
//! in the deny list, so forged or malformed cookies never cost a Redis round
//! trip.
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
//! That is server-side state again, and Redis availability again: while the
//! deny list cannot be asked, authenticated requests answer 503 rather than
//! risk accepting a revoked token.
//!
//! ```text
//! $ redis-cli -p PORT --scan --pattern 'revoked:*'
//! $ redis-cli -p PORT PTTL revoked:q3N0...
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

use crate::id::SessionId;
use crate::redis::{RedisSettings, RedisStore};
use crate::resp::{Reply, WireError, encode, itoa};
use crate::session::{Name, Session, now_ms};
use crate::store::{Change, SessionStore, StoreError, Updated};
use crate::view::SessionView;

/// The longest token issued or accepted, in bytes: 4096 (what browsers keep
/// per cookie) less 96 for the cookie's name and attributes.
pub const MAX_TOKEN_LEN: usize = 4096 - 96;

/// Room kept free when the cart grows, so that the request counter and
/// expiry can still grow (up to 20 digits each) in later tokens.
const HEADROOM: usize = 64;

/// The prefix of every deny-list key: `revoked:<jti>`.
pub const REVOKED_PREFIX: &str = "revoked:";

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

    /// Signature, algorithm, size and expiry: everything that needs no I/O.
    fn check(&self, credential: &str) -> Option<Claims> {
        if credential.len() > MAX_TOKEN_LEN {
            return None;
        }
        let claims =
            jsonwebtoken::decode::<Claims>(credential, &self.shared.key.decoding, &self.shared.validation).ok()?.claims;
        // Only ids this store could have made name a Redis key.
        SessionId::parse(&claims.jti)?;
        (claims.exp_ms > now_ms()).then_some(claims)
    }

    /// Signs `session` under `jti`, expiring one TTL from now; refuses a
    /// token longer than `limit`.
    fn issue(&self, jti: &str, session: &Session, limit: usize) -> Result<String, StoreError> {
        let exp_ms = now_ms().saturating_add(self.shared.ttl_ms);
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

    /// Whether the deny list holds `jti`; always `false` without one.
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let Some(redis) = &self.revocation else {
            return Ok(false);
        };
        let key = Self::revocation_key(jti);
        let replies = redis.call("revoked?", 1, |out| encode(out, &[b"EXISTS", key.as_bytes()])).await?;
        RedisStore::read("revoked?", &replies, |replies| match replies.next()? {
            Reply::Integer(found) => Ok(found > 0),
            other => Err(WireError::Reply(format!("EXISTS answered {other:?}"))),
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
        if self.is_revoked(&claims.jti).await? {
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
        if self.is_revoked(&claims.jti).await? {
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

    async fn health(&self) -> Result<(), StoreError> {
        match &self.revocation {
            Some(redis) => redis.health().await,
            None => Ok(()),
        }
    }
}
