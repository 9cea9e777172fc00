//! Filesystems: the mount list from sysinfo (which already leaves out proc,
//! sysfs, tmpfs, network filesystems that could hang, …), sizes and inodes
//! from `statvfs(2)` so they match `df` exactly.

use std::ffi::CString;
use std::path::Path;

use dcwatch_common::lp::Point;

use super::memory::pct;

/// Pseudo filesystems sysinfo still lists: never a disk a technician means.
const PSEUDO_FS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "configfs",
    "debugfs",
    "efivarfs",
    "fusectl",
    "nsfs",
    "ramfs",
    "securityfs",
    "selinuxfs",
    "tracefs",
    "fuse.lxcfs",
    "fuse.gvfsd-fuse",
    "fuse.portal",
];

/// What `statvfs(2)` says of one filesystem, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    pub total_bytes: u64,
    /// Free to unprivileged users (df's "Avail").
    pub free_bytes: u64,
    pub used_bytes: u64,
    pub inodes_total: u64,
    pub inodes_free: u64,
    pub read_only: bool,
}

impl FsStats {
    /// Used share as `df` computes it: used / (used + available), so the
    /// blocks reserved for root count as neither.
    pub fn used_pct(&self) -> f64 {
        pct(self.used_bytes, self.used_bytes + self.free_bytes)
    }
}

pub fn statvfs(path: &Path) -> std::io::Result<FsStats> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path, `s` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = s.f_frsize as u64;
    Ok(FsStats {
        total_bytes: s.f_blocks as u64 * frsize,
        free_bytes: s.f_bavail as u64 * frsize,
        used_bytes: (s.f_blocks as u64).saturating_sub(s.f_bfree as u64) * frsize,
        inodes_total: s.f_files as u64,
        inodes_free: s.f_ffree as u64,
        read_only: s.f_flag & libc::ST_RDONLY != 0,
    })
}

/// Whether a mount is worth reporting.
pub fn is_reported(fs_type: &str, mount: &Path, ignore_mounts: &[String]) -> bool {
    if PSEUDO_FS.contains(&fs_type) || ignore_mounts.iter().any(|m| Path::new(m) == mount) {
        return false;
    }
    // A bind-mounted file (containers mount /etc/hosts this way) is not a filesystem.
    mount.is_dir()
}

pub fn collect(disks: &sysinfo::Disks, ignore_mounts: &[String], base: &Point, out: &mut Vec<Point>) -> u64 {
    let mut errors = 0;
    let mut seen = std::collections::HashSet::new();
    for d in disks {
        let mount = d.mount_point();
        let fs_type = d.file_system().to_string_lossy();
        if !is_reported(&fs_type, mount, ignore_mounts) || !seen.insert(mount.to_path_buf()) {
            continue;
        }
        match statvfs(mount) {
            Ok(s) => {
                let mut p = base
                    .clone()
                    .tag("mount", mount.to_string_lossy())
                    .tag("fstype", fs_type.as_ref())
                    .tag("device", d.name().to_string_lossy())
                    .u64("total_bytes", s.total_bytes)
                    .u64("free_bytes", s.free_bytes)
                    .u64("used_bytes", s.used_bytes)
                    .f64("used_pct", s.used_pct())
                    .bool("read_only", s.read_only);
                // Some filesystems (btrfs, vfat) have no fixed inode table.
                if s.inodes_total > 0 {
                    p = p.u64("inodes_total", s.inodes_total).u64("inodes_free", s.inodes_free).f64(
                        "inodes_used_pct",
                        pct(s.inodes_total - s.inodes_free.min(s.inodes_total), s.inodes_total),
                    );
                }
                out.push(p);
            }
            Err(e) => {
                errors += 1;
                tracing::warn!(mount = %mount.display(), error = %e, "statvfs failed; filesystem not reported this time");
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_pct_leaves_reserved_blocks_out_like_df() {
        let s = FsStats {
            total_bytes: 100,
            free_bytes: 45,
            used_bytes: 45,
            inodes_total: 0,
            inodes_free: 0,
            read_only: false,
        };
        assert_eq!(s.used_pct(), 50.0);
    }

    #[test]
    fn statvfs_of_root_agrees_with_itself() {
        let s = statvfs(Path::new("/")).unwrap();
        assert!(s.total_bytes >= s.used_bytes + s.free_bytes, "{s:?}");
    }

    #[test]
    fn pseudo_filesystems_ignored_mounts_and_bind_mounted_files_are_not_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts");
        std::fs::write(&file, "").unwrap();
        assert!(is_reported("ext4", dir.path(), &[]));
        assert!(!is_reported("tracefs", dir.path(), &[]));
        assert!(!is_reported("ext4", dir.path(), &[dir.path().to_string_lossy().into_owned()]));
        assert!(!is_reported("ext4", &file, &[]));
    }
}
