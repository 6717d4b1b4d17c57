//! A task-definition template on any text: rendered offline as a service's template and checked
//! (template errors, JSON errors, the shape and the RegisterTaskDefinition rules, locations in
//! the rendered text), never a panic or a hang. The same text is also checked as JSON directly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use wharf::project::manifest::Manifest;
use wharf::project::render::{offline_inputs, render_unit, Unit};

const PROJECT: &str = "app = \"shop\"\n[images.app]\nrepository = \"shop/app\"\n\
[environments.dev]\nregion = \"us-east-1\"\naccount = \"123456789012\"\n\
[services.web]\ntask_definition = \"web.json\"\nlaunch_type = \"FARGATE\"\n\
[jobs.migrate]\ntask_definition = \"web.json\"\nlaunch_type = \"EC2\"\n";

fn folder() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("wharf.toml"), PROJECT).expect("write wharf.toml");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = folder();
    std::fs::write(dir.path().join("web.json"), data).expect("write the template");
    let manifest = Manifest::load(&dir.path().join("wharf.toml")).expect("the project loads");
    let inputs = offline_inputs(&manifest, "dev", Some("t1"));
    for unit in [Unit::Service("web"), Unit::Job("migrate")] {
        let _ = render_unit(&inputs, unit);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) {
            let spans = wharf::project::taskdef::json_spans(text);
            for launch in [None, Some("FARGATE"), Some("EC2")] {
                for p in wharf::project::taskdef::check(&doc, launch) {
                    let _ = wharf::project::taskdef::problem_span(&spans, &p);
                }
            }
        }
        let _ = wharf::project::template_hints::unclosed(text);
        let _ = wharf::project::template_hints::literal_syntax(text, Some(0..text.len().min(3)));
    }
});
