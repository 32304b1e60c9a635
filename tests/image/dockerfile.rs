//! The Dockerfile, read as text (Docker cannot run here): its build stage
//! lays out `image/layout.sh`'s tree (checked in `layout.rs`) and its final
//! stage copies it, starts `/server` as Porch's image does, ships no shell,
//! and copies exactly the catalog functions `image/catalog.yaml` lists.

use std::collections::BTreeMap;

use fn_runner::image_layout as layout;

use crate::support::image::repo;

/// The Dockerfile's instructions, comments dropped and continuations joined.
fn instructions() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(body) => (body.trim_end(), true),
            None => (trimmed, false),
        };
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(body);
        if !continues {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// Whether the Dockerfile has `line` as one instruction.
fn has_instruction(line: &str) -> bool {
    instructions().iter().any(|i| i == line)
}

/// Stages by name (the last, unnamed one as `""`), each a list of instructions.
fn stages() -> BTreeMap<String, Vec<String>> {
    let mut stages = BTreeMap::new();
    let mut name = None;
    for ins in instructions() {
        if let Some(from) = ins.strip_prefix("FROM ") {
            let words: Vec<&str> = from.split_whitespace().collect();
            let stage = match words.as_slice() {
                [_, "AS", stage] => (*stage).to_owned(),
                [image] => format!("final {image}"),
                other => panic!("unexpected FROM: {other:?}"),
            };
            name = Some(stage.clone());
            stages.insert(stage, vec![ins.clone()]);
            continue;
        }
        if let Some(stage) = &name {
            stages.get_mut(stage).expect("stage").push(ins);
        }
    }
    stages
}

fn final_stage(stages: &BTreeMap<String, Vec<String>>) -> &Vec<String> {
    let finals: Vec<_> = stages.keys().filter(|k| k.starts_with("final ")).collect();
    assert_eq!(finals.len(), 1, "one unnamed final stage: {finals:?}");
    &stages[finals[0]]
}

#[test]
fn final_stage_is_distroless_and_starts_the_server_like_porchs_image() {
    let stages = stages();
    let image = final_stage(&stages);
    assert_eq!(image[0], "FROM gcr.io/distroless/static-debian12:nonroot");
    let has = |want: &str| image.iter().any(|i| i == want);
    assert!(has("COPY --link --from=build /out/ /"), "{image:#?}");
    assert!(has(&format!(
        "COPY --link --from=functions {0}/ {0}/",
        layout::FUNCTIONS
    )));
    assert!(has(&format!(
        "COPY --link --from=functions {0} {0}",
        layout::CONFIG
    )));
    assert!(has("USER 65532:65532"));
    assert!(
        has("WORKDIR /"),
        "any uid must be able to start in the working directory"
    );
    let entrypoint = image
        .iter()
        .find_map(|i| i.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    let entrypoint: Vec<String> = serde_json::from_str(entrypoint).expect("exec form");
    assert_eq!(
        entrypoint,
        [
            layout::SERVER.to_owned(),
            format!("--config={}", layout::CONFIG),
            format!("--functions={}", layout::FUNCTIONS),
        ]
    );
    let labels = image
        .iter()
        .find(|i| i.starts_with("LABEL "))
        .expect("LABEL");
    for key in ["source", "version", "licenses", "revision"] {
        assert!(
            labels.contains(&format!("org.opencontainers.image.{key}=")),
            "{key}: {labels}"
        );
    }
    assert!(labels.contains(&format!(
        "org.opencontainers.image.licenses=\"{}\"",
        env!("CARGO_PKG_LICENSE")
    )));
    assert!(
        has_instruction(&format!("ARG VERSION={}", env!("CARGO_PKG_VERSION"))),
        "ARG VERSION defaults to Cargo.toml's version"
    );
    assert!(
        !instructions()
            .iter()
            .any(|i| i.to_lowercase().contains("busybox")),
        "no busybox: cp is a name of the binary"
    );
}

#[test]
fn build_stage_lays_out_the_static_binary_with_the_layout_script() {
    let stages = stages();
    let build = &stages["build"];
    assert!(build[0].starts_with("FROM rust:"), "{}", build[0]);
    assert!(build.iter().any(|i| i == "ARG TARGET"));
    let run = build
        .iter()
        .find(|i| i.contains("cargo build"))
        .expect("cargo build");
    assert!(
        run.contains("cargo build --release --locked --target \"$TARGET\" --bin fn-runner"),
        "{run}"
    );
    assert!(
        run.contains("CARGO_PROFILE_RELEASE_STRIP=symbols"),
        "stripped: {run}"
    );
    assert!(
        run.contains("image/layout.sh \"target/$TARGET/release/fn-runner\" /out"),
        "{run}"
    );
    assert!(
        has_instruction("ARG TARGET=x86_64-unknown-linux-musl"),
        "static musl by default"
    );
}

/// image/catalog.yaml: function name -> image strings.
fn catalog() -> BTreeMap<String, Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Catalog {
        functions: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        function: String,
        images: Vec<String>,
    }
    let text = std::fs::read_to_string(repo().join("image/catalog.yaml")).expect("catalog");
    let parsed: Catalog = serde_saphyr::from_str(&text).expect("catalog YAML");
    parsed
        .functions
        .into_iter()
        .map(|e| (e.function, e.images))
        .collect()
}

#[test]
fn catalog_stage_copies_exactly_the_catalog_functions() {
    let stages = stages();
    let catalog = catalog();
    assert!(!catalog.is_empty());
    let copied: BTreeMap<String, String> = stages["functions-catalog"]
        .iter()
        .filter_map(|i| i.strip_prefix("COPY --from="))
        .filter_map(|rest| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let [stage, _, destination] = words.as_slice() else {
                return None;
            };
            let name = destination.strip_prefix(&format!("{}/", layout::FUNCTIONS))?;
            Some((name.to_owned(), (*stage).to_owned()))
        })
        .collect();
    assert_eq!(
        copied.keys().collect::<Vec<_>>(),
        catalog.keys().collect::<Vec<_>>(),
        "the Dockerfile copies what the catalog lists"
    );
    for (name, stage) in &copied {
        let from = &stages
            .get(stage)
            .unwrap_or_else(|| panic!("{name}: no stage {stage}"))[0];
        let image = from
            .strip_prefix("FROM ")
            .and_then(|f| f.split_whitespace().next())
            .expect("FROM image");
        assert!(
            catalog[name].iter().any(|i| i == image),
            "{name} is copied from {image}, which its catalog entry does not list"
        );
    }
    assert!(
        has_instruction("FROM functions-${FUNCTIONS} AS functions"),
        "FUNCTIONS=none must pull no kpt-fn image"
    );
    assert!(stages.contains_key("functions-none"));
}
