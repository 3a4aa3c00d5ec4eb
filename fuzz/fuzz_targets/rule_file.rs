//! Fuzz target: `lcu_rules::fuzzing::rule_file` (see that function for what the bytes are).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| lcu_rules::fuzzing::rule_file(bytes));
