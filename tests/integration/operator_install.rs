//! Installing berth for an operator: `make install` puts the binary, man pages and shell
//! completions where the system looks; `berth` alone prints its help as runc does.

use std::path::Path;
use std::process::Command;

use crate::harness::{bin, reference_runc, TestEnv, COMMANDS};

/// Runs `sh -c script` (with `$1` = `arg`), asserting success; its stdout.
fn shell(shell: &str, script: &str, arg: &Path) -> String {
    let out = Command::new(shell).args(["-c", script, "sh"]).arg(arg).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{shell} -c {script:?}: {:?}\n{text}\n{err}", out.status);
    text
}

#[test]
fn make_install_puts_binary_man_pages_and_completions_under_destdir() {
    let env = TestEnv::new("install");
    let dest = env.dir.join("dest");
    // The binaries this test run built; `-o build`: no cargo run inside the tests.
    let out = Command::new("make")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["-s", "-o", "build", "install"])
        .arg(format!("DESTDIR={}", dest.display()))
        .arg(format!("DOCS_DIR={}", env.dir.join("docs").display()))
        .arg(concat!("BERTH=", env!("CARGO_BIN_EXE_berth")))
        .arg(concat!("BERTH_DOCS=", env!("CARGO_BIN_EXE_berth-docs")))
        .output()
        .unwrap();
    assert!(out.status.success(), "make install: {}", String::from_utf8_lossy(&out.stderr));
    let prefix = dest.join("usr/local");

    let version = Command::new(prefix.join("bin/berth")).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("berth version"));

    // Each page renders (man -l runs groff on it) and is about its command.
    let man = prefix.join("share/man/man8");
    let pages = std::iter::once("berth".to_owned()).chain(COMMANDS.map(|c| format!("berth-{c}")));
    for page in pages {
        let text = shell("sh", "MANWIDTH=80 man -l \"$1\" 2>&1", &man.join(format!("{page}.8")));
        let name = text.lines().skip_while(|l| l.trim() != "NAME").nth(1).unwrap_or_default();
        assert!(name.trim_start().starts_with(&format!("{page} ")), "{page}:\n{text}");
        if page == "berth" {
            for command in COMMANDS {
                assert!(text.contains(&format!("berth-{command}(8)")), "{command} not in berth(8)");
            }
        }
    }

    // bash loads the completion, registers it for berth, and completes commands.
    let bash = prefix.join("share/bash-completion/completions/berth");
    let complete = |word: &str| {
        let script = format!(
            ". \"$1\" && complete -p berth >/dev/null && COMP_WORDS=(berth {word}) COMP_CWORD=1 \
             && _berth berth '{word}' berth && printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let mut words: Vec<String> =
            shell("bash", &script, &bash).lines().map(Into::into).collect();
        words.sort();
        words
    };
    assert_eq!(complete("st"), ["start", "state"]);
    let all = complete("");
    for command in COMMANDS {
        assert!(all.iter().any(|w| w == command), "{command} not completed: {all:?}");
    }

    // zsh and fish are not installed here: their files name every command.
    for file in ["zsh/site-functions/_berth", "fish/vendor_completions.d/berth.fish"] {
        let text = std::fs::read_to_string(prefix.join("share").join(file)).unwrap();
        for command in COMMANDS {
            assert!(text.contains(command), "{command} not in {file}");
        }
    }
}

#[test]
fn no_arguments_prints_the_help_and_exits_0() {
    // Not even --root: the bare command an operator types first.
    let out = Command::new(bin()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("Usage:") || stdout.contains("USAGE:"), "{stdout}");
    if !reference_runc() {
        assert!(out.stderr.is_empty(), "{out:?}");
        for command in COMMANDS {
            assert!(stdout.contains(command), "{command} not in the help: {stdout}");
        }
    }
}
