//! The session id's text form: how the Redis and token stores read a
//! cookie before they ask Redis or check a signature.
//!
//! Properties: text is an id if and only if it is 22 digits of base64url
//! whose 4 spare bits are zero (the `base64` crate, strict, is the
//! reference); an id re-encodes to the very text it was read from; and any
//! 128 bits written as base64url read back as the same id.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use sessions::SessionId;

fn check(text: &str) {
    let reference = URL_SAFE_NO_PAD.decode(text).ok().filter(|bytes| bytes.len() == 16);
    let parsed = SessionId::parse(text);
    assert_eq!(parsed.is_some(), reference.is_some(), "{text:?}: the id parser and base64 disagree");
    if let Some(id) = parsed {
        assert_eq!(text.len(), SessionId::TEXT_LEN);
        assert_eq!(id.to_string(), text, "an id does not re-encode to its text");
    }
}

fuzz_target!(|data: &[u8]| {
    check(&String::from_utf8_lossy(data));
    // Any 128 bits are an id; their base64url is its text.
    if let Some(bits) = data.get(..16) {
        let text = URL_SAFE_NO_PAD.encode(bits);
        let id = SessionId::parse(&text).expect("the base64url of 128 bits is an id");
        assert_eq!(id.to_string(), text);
        check(&text);
    }
});
