//! Image references as docker/distribution's grammar takes them; a parsed
//! reference must print to a string that parses back to itself.
#![no_main]
use fn_runner::registry::reference::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|image: &str| {
    if let Ok(reference) = Reference::parse(image) {
        assert_eq!(Reference::parse(&reference.to_string()).as_ref(), Ok(&reference));
    }
});
