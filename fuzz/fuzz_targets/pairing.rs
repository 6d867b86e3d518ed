//! The agent's pairing paste (bundle, `botmox://` URI or link): never a panic, and a bundle
//! that parses comes back the same from its own URI and its own encoding.
#![no_main]

use botmox_proto::agent::{PairingBundle, parse_pairing_string};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(bundle) = parse_pairing_string(text) {
        assert_eq!(parse_pairing_string(&bundle.uri()).as_ref(), Ok(&bundle));
        assert_eq!(
            PairingBundle::decode(&bundle.encode()).as_ref(),
            Ok(&bundle)
        );
    }
});
