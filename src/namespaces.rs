//! Namespaces: the ordered table of kinds, setns/unshare and uid/gid maps.
