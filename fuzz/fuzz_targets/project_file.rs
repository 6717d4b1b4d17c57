//! The project-file loader on any text: it must return a project or located errors, never
//! panic or hang (the tolerant re-parsing loops are bounded).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = wharf::project::manifest::Manifest::parse(Path::new("wharf.toml"), text.to_string()) {
        // Every error names the file.
        assert!(e.to_string().contains("wharf.toml"), "{e}");
    }
});
