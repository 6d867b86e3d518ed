//! Tokens a client presents: an access token (JWT), a signed value, a sealed credential.
//! Anything not made with the server's key is refused without a panic.
#![no_main]

use botmox_server::keys::ServerKey;
use botmox_server::keys::jwt::AccessTokens;
use botmox_server::sealed::Sealer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let key = ServerKey::from_secret("fuzzing-secret-key-0123456789abcdef");
    assert!(AccessTokens::new(&key).verify(text).is_none());
    let (data, signature) = text.split_once('.').unwrap_or((text, ""));
    assert!(!key.verify("download", data, signature));
    assert!(Sealer::new(&key).open("records/bots", text).is_none());
});
