//! The probe: started as the container's process, it reads the config.json the runner copied
//! into the rootfs and checks from inside the container that every field it knows took effect.
//! It prints TAP (`ok N - name`, `not ok N - name # got X want Y`) and a plan, and exits 0;
//! the runner decides what a failure means.

mod devices;
mod facts;
mod kernel;
mod mounts;
mod namespaces;
mod process;

use berth_oci_conformance::tap::Check;
use serde_json::Value;

/// Where the runner puts a copy of the bundle's config.json inside the rootfs.
const CONFIG_PATH: &str = "/oci-conformance/config.json";

fn main() {
    let checks = match std::fs::read_to_string(CONFIG_PATH)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str::<Value>(&s).map_err(|e| e.to_string()))
    {
        Ok(cfg) => all_checks(&cfg),
        Err(e) => vec![Check::holds("read config.json", false, format!("{CONFIG_PATH}: {e}"))],
    };
    let mut out = String::new();
    for (i, c) in checks.iter().enumerate() {
        out.push_str(&c.line(i + 1));
        out.push('\n');
    }
    out.push_str(&format!("1..{}\n", checks.len()));
    print!("{out}");
}

/// Every check group, in the order of config.md.
fn all_checks(cfg: &Value) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.extend(process::checks(cfg));
    checks.extend(namespaces::checks(cfg));
    checks.extend(mounts::checks(cfg));
    checks.extend(devices::checks(cfg));
    checks.extend(kernel::checks(cfg));
    checks
}
