//! The built spec carries typed devices, and the cgroup code parses the text of
//! `linux.resources` with the spec check's own functions: a device node the clone could not
//! make is refused by `check` and `create` alike before anything exists, and `update` (whose
//! resources never pass the check) refuses what the check would have.

use std::fs;

use serde_json::{json, Value};

use crate::harness::{Config, TestEnv};

/// `linux.devices` set to `devices`: check and create refuse it alike naming `field`.
#[track_caller]
fn refused_alike(env: &TestEnv, devices: Value, field: &str) -> String {
    env.check_and_create_agree(&Config::new(&["true"]).set("/linux/devices", devices), None, field)
}

#[test]
fn a_device_number_out_of_range_is_refused_before_anything_exists() {
    let env = TestEnv::new("tbmajor");
    let node = json!([{ "path": "/dev/x", "type": "c", "major": -1, "minor": 3 }]);
    let problem = refused_alike(&env, node, "linux.devices[0].major");
    assert!(problem.ends_with("-1 is out of range (0 to 4294967295)"), "{problem}");
    let node = json!([{ "path": "/dev/y", "type": "b", "major": 8, "minor": 4294967296u64 }]);
    let problem = refused_alike(&env, node, "linux.devices[0].minor");
    assert!(problem.ends_with("4294967296 is out of range (0 to 4294967295)"), "{problem}");
}

#[test]
fn a_device_path_naming_no_file_is_refused_before_anything_exists() {
    let env = TestEnv::new("tbroot");
    let node = json!([{ "path": "/", "type": "c", "major": 1, "minor": 3 }]);
    let problem = refused_alike(&env, node, "linux.devices[0].path");
    assert!(problem.ends_with("\"/\" must name a file below /"), "{problem}");
}

#[test]
fn a_good_device_is_made_as_typed() {
    let env = TestEnv::new("tbnode");
    let nodes = json!([
        { "path": "/dev/berth-c", "type": "c", "major": 1, "minor": 5, "fileMode": 0o20640,
          "uid": 7, "gid": 8 },
        { "path": "/dev/sub/berth-p", "type": "p" }
    ]);
    let cfg = Config::sh("stat -c '%F %t:%T %a %u:%g' /dev/berth-c /dev/sub/berth-p")
        .set("/linux/devices", nodes);
    let bundle = env.bundle(&cfg);
    let id = env.id("n");
    env.track(&id);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["character special file 1:5 640 7:8", "fifo 0:0 666 0:0"], "{out:#?}");
}

/// `update` with `resources`; the one error line.
fn update_refused(env: &TestEnv, id: &str, resources: Value) -> String {
    let file = env.dir.join("resources.json");
    fs::write(&file, resources.to_string()).unwrap();
    let out = env.berth(&["update", "--resources", file.to_str().unwrap(), id]);
    out.fails_with_one_line();
    out.stderr
}

#[test]
fn update_refuses_what_the_check_refuses() {
    let env = TestEnv::new("tbupdate");
    let bundle = env.bundle(&Config::sh("sleep 100"));
    let id = env.id("u");
    env.create(&id, &bundle);
    env.start(&id);
    // An allow rule for every device (no type) with a letter that is not access: on cgroup
    // v1 it once went out as "a", allowing every device.
    let rule = json!({ "devices": [{ "allow": true, "access": "rwx" }] });
    let err = update_refused(&env, &id, rule);
    assert!(
        err.contains("linux.resources.devices[0].access: \"rwx\" may only hold r, w and m"),
        "{err}"
    );
    // A page size is part of a file name.
    let pages = json!({ "hugepageLimits": [{ "pageSize": "../2MB", "limit": 4096 }] });
    let err = update_refused(&env, &id, pages);
    assert!(
        err.contains(
            "linux.resources.hugepageLimits[0].pageSize: \"../2MB\" is not a page size such as 2MB"
        ),
        "{err}"
    );
    env.kill(&id, Some("KILL"));
    env.wait_status(&id, "stopped");
    env.delete(&id, false);
}

#[test]
fn a_page_size_with_a_multibyte_letter_is_a_problem_not_a_crash() {
    let env = TestEnv::new("tbpage");
    let pages = json!({ "hugepageLimits": [{ "pageSize": "éB", "limit": 4096 }] });
    let bundle = env.bundle(&Config::new(&["true"]).set("/linux/resources", pages));
    let bundle = bundle.to_str().unwrap();
    let check = env.berth(&["check", "--bundle", bundle]);
    assert_eq!(check.code(), 1, "{check:#?}");
    let field = "linux.resources.hugepageLimits[0].pageSize: \"éB\" is not a page size such as 2MB";
    assert!(check.stdout.contains(field), "{check:#?}");
    let id = env.id("p");
    env.track(&id);
    let create = env.berth(&["create", "--bundle", bundle, &id]);
    create.fails_with_one_line();
    assert!(create.stderr.contains(field), "{create:#?}");
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}
