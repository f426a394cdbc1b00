//! The README's configuration reference is generated from the clap definitions in
//! `sink/src/config*.rs`: every command, every flag, its env var, its default and its help. This
//! test renders the table and compares it with the README; on a mismatch it writes the expected
//! text to `$CARGO_TARGET_TMPDIR/readme-config.md` to paste between the `config` markers.

use accesslake::config::Cli;
use clap::CommandFactory;

fn cell(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn render() -> String {
    let cli = Cli::command();
    let mut out = String::new();
    let mut cmds: Vec<&clap::Command> = vec![&cli];
    cmds.extend(cli.get_subcommands().filter(|c| c.get_name() != "help"));
    for cmd in cmds {
        let args: Vec<&clap::Arg> = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version")
            .filter(|a| cmd.get_name() == "accesslake" || !a.is_global_set())
            .collect();
        if args.is_empty() {
            continue;
        }
        let title = if cmd.get_name() == "accesslake" {
            "Global flags (every command)".to_owned()
        } else {
            format!(
                "`accesslake {}`: {}",
                cmd.get_name(),
                cell(&cmd.get_about().map(|a| a.to_string()).unwrap_or_default())
            )
        };
        out.push_str(&format!(
            "\n**{title}**\n\n| flag | env | default | what it does |\n|---|---|---|---|\n"
        ));
        for a in args {
            let flag = match (a.get_short(), a.get_long()) {
                (_, Some(l)) => format!("`--{l}`"),
                (Some(s), None) => format!("`-{s}`"),
                (None, None) => format!(
                    "`{}`",
                    a.get_value_names()
                        .map_or(a.get_id().to_string().to_uppercase(), |v| v.join(" "))
                ),
            };
            let flag = match (a.get_short(), a.get_long()) {
                (Some(s), Some(_)) => format!("`-{s}`, {flag}"),
                _ => flag,
            };
            let env = a
                .get_env()
                .map_or(String::new(), |e| format!("`{}`", e.to_string_lossy()));
            let default: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let default = if default.is_empty() {
                String::new()
            } else {
                format!("`{}`", default.join(","))
            };
            let help = cell(&a.get_help().map(|h| h.to_string()).unwrap_or_default());
            out.push_str(&format!("| {flag} | {env} | {default} | {help} |\n"));
        }
    }
    out
}

#[test]
fn readme_configuration_reference_matches_the_flags() {
    let readme = std::fs::read_to_string(format!(
        "{}/../README.md",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let start = readme
        .find("<!-- config:start -->")
        .expect("config:start marker")
        + "<!-- config:start -->".len();
    let end = readme
        .find("<!-- config:end -->")
        .expect("config:end marker");
    let want = render();
    if readme[start..end].trim() != want.trim() {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-config.md");
        std::fs::write(&path, &want).unwrap();
        panic!(
            "README configuration reference is out of date; the generated text is in {}",
            path.display()
        );
    }
}
