//! The token twin's decoder: a JWT from the cookie, checked and read into
//! a session.
//!
//! Properties: a token that decodes re-verifies (signing the session it
//! holds gives a token that decodes to the same session); a token decodes
//! only if an independent HS256 check (`jsonwebtoken` with the same key)
//! accepts it too; a signed token changed in any byte decodes no more.
//!
//! The first byte of the input picks what the rest is: a whole token, a
//! payload to sign (JSON, as a client cannot forge it but a bug in the
//! claims could mishandle it), or edits to a token the store signed.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use libfuzzer_sys::fuzz_target;
use sessions::{Name, Session, TokenKey, TokenStore};

const SECRET: &[u8] = b"fuzz-key-fuzz-key-fuzz-key-fuzz-key";

fn store() -> &'static (TokenStore, String) {
    static STORE: OnceLock<(TokenStore, String)> = OnceLock::new();
    STORE.get_or_init(|| {
        // A token that neither idles out nor outlives its lifetime during a run.
        let day = Duration::from_secs(24 * 3600);
        let store = TokenStore::new(TokenKey::new(SECRET).unwrap(), day).with_max_age(day);
        let mut session = Session::new(&Name::parse("alice").unwrap());
        session.cart.insert("book".into(), 2);
        let token = store.sign(&session).unwrap();
        (store, token)
    })
}

/// The independent check: signature and algorithm only.
fn reference_accepts(token: &str) -> bool {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    jsonwebtoken::decode::<serde_json::Value>(token, &DecodingKey::from_secret(SECRET).unwrap(), &validation).is_ok()
}

fn check(store: &TokenStore, token: &str) -> Option<Session> {
    let session = store.verify(token)?;
    assert!(reference_accepts(token), "accepted a token HS256 refuses: {token:?}");
    let again = store.sign(&session).expect("a session read from a token signs again");
    assert_eq!(store.verify(&again).as_ref(), Some(&session), "a decoded session does not re-verify");
    Some(session)
}

fuzz_target!(|data: &[u8]| {
    let (store, signed) = store();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            check(store, &String::from_utf8_lossy(rest));
        }
        1 => {
            let Ok(payload) = serde_json::from_slice::<serde_json::Value>(rest) else {
                return;
            };
            let key = EncodingKey::from_secret(SECRET).unwrap();
            let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &payload, &key).unwrap();
            if let Some(session) = check(store, &token) {
                assert_eq!(payload["sub"].as_str(), Some(session.user.as_str()));
                assert_eq!(payload["requests"].as_u64(), Some(session.requests));
            }
        }
        _ => {
            let mut token = signed.clone().into_bytes();
            for edit in rest.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([edit[0], edit[1]]));
                match token.get_mut(at) {
                    Some(byte) => *byte = edit[2],
                    None => token.truncate(at % (token.len() + 1)),
                }
            }
            let token = String::from_utf8_lossy(&token);
            let decoded = check(store, &token);
            assert_eq!(decoded.is_some(), token == *signed, "an altered token decoded: {token:?}");
        }
    }
});
