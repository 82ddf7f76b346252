//! Sign-in identifiers and passwords as users type them. Parsing never
//! panics, and a parsed value parses again to itself (normalising is
//! idempotent), so one account has one stored form.

#![no_main]

use latch_core::model::{EmailAddress, Identifier, Password, PhoneNumber, Username};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Ok(parsed) = Identifier::parse(raw) {
        let again = Identifier::parse(parsed.as_str()).expect("a parsed identifier parses again");
        assert_eq!(again, parsed);
    }
    if let Ok(email) = EmailAddress::parse(raw) {
        assert_eq!(EmailAddress::parse(email.as_str()).ok(), Some(email));
    }
    if let Ok(phone) = PhoneNumber::parse(raw) {
        assert_eq!(PhoneNumber::parse(phone.as_str()).ok(), Some(phone));
    }
    if let Ok(username) = Username::parse(raw) {
        assert_eq!(Username::parse(username.as_str()).ok(), Some(username));
    }
    let _ = Password::parse(raw, 8);
});
