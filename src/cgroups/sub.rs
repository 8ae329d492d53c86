//! `exec --cgroup`: a sub-cgroup of the container's cgroup for one exec'd process (runc
//! 1.2's flag). `[CONTROLLER[,CONTROLLER…]:]PATH`, PATH relative to the container's cgroup
//! (a leading `/` too); it must exist and stay below the container's cgroup.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{Cgroup, CgroupError};

/// Parsed `--cgroup` arguments: controller → path below the container's cgroup; the key ""
/// (a single argument without a controller) stands for every controller.
pub type SubPaths = BTreeMap<String, String>;

fn invalid(reason: String) -> CgroupError {
    CgroupError::Invalid { config: "--cgroup".into(), reason }
}

/// Parses the `--cgroup` arguments as runc does: `PATH` alone (then it is the only one), or
/// any number of `CONTROLLER[,CONTROLLER]:PATH`, each controller named once.
pub fn parse(args: &[String]) -> Result<SubPaths, CgroupError> {
    let mut paths = SubPaths::new();
    for arg in args {
        match arg.split(':').collect::<Vec<_>>()[..] {
            [path] if args.len() == 1 => {
                paths.insert(String::new(), path.to_owned());
            }
            [_] => {
                return Err(invalid(format!(
                    "{arg:?} needs a CONTROLLER: prefix when --cgroup is given more than once"
                )))
            }
            [controllers, path] => {
                for controller in controllers.split(',') {
                    if controller.is_empty() {
                        return Err(invalid(format!("{arg:?} has an empty controller name")));
                    }
                    if paths.insert(controller.to_owned(), path.to_owned()).is_some() {
                        return Err(invalid(format!("controller {controller} is given twice")));
                    }
                }
            }
            _ => return Err(invalid(format!("{arg:?} is not [CONTROLLER:]PATH"))),
        }
    }
    Ok(paths)
}

/// `sub` as a relative path that stays below its base: `/` and `.` are dropped, `..` may
/// only go back up what the path itself went down.
fn below(sub: &str) -> Result<PathBuf, CgroupError> {
    let mut out = PathBuf::new();
    for component in Path::new(sub).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir if out.pop() => {}
            Component::ParentDir => {
                return Err(invalid(format!("{sub:?} leads out of the container's cgroup")))
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// An existing directory `base/sub`.
fn existing(base: &Path, sub: &str) -> Result<PathBuf, CgroupError> {
    let dir = base.join(below(sub)?);
    if !dir.is_dir() {
        return Err(invalid(format!("{} is not an existing sub-cgroup", dir.display())));
    }
    Ok(dir)
}

impl Cgroup {
    /// The cgroup an exec'd process joins for `sub`: on v1, each named controller's
    /// directory goes down its path (every controller for a plain PATH) and the others stay
    /// the container's; on v2, the one directory goes down a plain PATH.
    pub fn sub_cgroup(&self, sub: &SubPaths) -> Result<Cgroup, CgroupError> {
        match self {
            Cgroup::V2(dir) => match (sub.get(""), sub.len()) {
                (Some(path), 1) => Ok(Cgroup::V2(existing(dir, path)?)),
                _ => {
                    Err(invalid("on cgroup v2 it takes a plain PATH, without a controller".into()))
                }
            },
            Cgroup::V1(paths) => {
                if let Some(unknown) =
                    sub.keys().find(|c| !c.is_empty() && !paths.contains_key(c.as_str()))
                {
                    return Err(invalid(format!("the container has no {unknown} cgroup")));
                }
                let mut joined = paths.clone();
                for (controller, dir) in joined.iter_mut() {
                    let named = sub.get(controller);
                    let Some(path) = named.or_else(|| sub.get("")) else { continue };
                    // A hybrid host's unified cgroup has no controllers; a plain PATH made in
                    // the v1 hierarchies need not exist there, and then that one stays.
                    if controller == super::UNIFIED_KEY
                        && named.is_none()
                        && !dir.join(below(path)?).is_dir()
                    {
                        continue;
                    }
                    *dir = existing(dir, path)?;
                }
                Ok(Cgroup::V1(joined))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_parse_as_runc_takes_them() {
        assert_eq!(parse(&args(&["sub"])).unwrap(), SubPaths::from([("".into(), "sub".into())]));
        let two = parse(&args(&["cpu,cpuacct:a", "pids:b"])).unwrap();
        assert_eq!(two.get("cpuacct").map(String::as_str), Some("a"));
        assert_eq!(two.get("pids").map(String::as_str), Some("b"));
        for bad in [&["a", "b"][..], &["pids:a", "pids:b"], &[":a"], &["a:b:c"], &["cpu,:a"]] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths_stay_below_the_container() {
        assert_eq!(below("/a/./b").unwrap(), PathBuf::from("a/b"));
        assert_eq!(below("a/../b").unwrap(), PathBuf::from("b"));
        assert!(below("..").is_err());
        assert!(below("a/../../x").is_err());
    }
}
