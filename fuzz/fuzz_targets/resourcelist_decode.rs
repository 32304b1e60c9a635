//! A function's output as the wrapper server checks it: the skim of kyaml's
//! layout, the bounded YAML parse, and the results rendering.
#![no_main]
use fn_runner::resourcelist::ResourceList;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|output: &[u8]| {
    if let Ok(list) = ResourceList::decode(output, "fuzz", 1 << 20) {
        let _ = list.render_results();
    }
});
