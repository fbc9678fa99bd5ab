//! Everything doctor looks at, gathered in one place: the only module of doctor that touches the
//! host, libvirt and the image cache. The checks read these facts and nothing else.

use super::access::{FileMode, Principal};
use super::deep::DeepBoot;
use crate::host::HostRoute;
use crate::lab::AccelChoice;
use crate::paths::Home;
use ipnetwork::Ipv4Network;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub accel: AccelChoice,
    /// `/dev/kvm`'s owner and mode; `None` when it does not exist.
    pub kvm: Option<FileMode>,
    /// The CPU advertises vmx (Intel) or svm (AMD).
    pub cpu_vendor: Option<CpuVirt>,
    /// This host is itself a virtual machine.
    pub nested: bool,
    /// The tiny boot under KVM, with `--deep` only.
    pub deep: Option<DeepBoot>,
    /// PID 1 is systemd (decides how to start libvirtd).
    pub systemd: bool,
    pub qemu_user: Principal,
    pub libvirt: Result<LibvirtFacts, String>,
    pub dnsmasq: Option<PathBuf>,
    pub apparmor: bool,
    pub selinux_enforcing: bool,
    pub images_dir: PathBuf,
    /// The SELinux label of the image directory, when SELinux is on.
    pub image_dir_label: Option<String>,
    /// Each path QEMU opens, with its ancestors (outermost first), and what the last needs.
    pub qemu_paths: Vec<(Vec<FileMode>, u32)>,
    pub mem_total_mib: u64,
    pub mem_available_mib: u64,
    pub cpus: u32,
    pub routes: Vec<HostRoute>,
    /// Free space where the lab's disks go (FIREDRILL_HOME) and where images go.
    pub home_free: Option<Free>,
    pub images_free: Option<Free>,
    pub tools: Vec<(&'static str, Option<PathBuf>)>,
    pub images: Vec<ImageFacts>,
    /// The lab file given on the command line, and what it says (or why it cannot be used).
    pub lab_file: Option<PathBuf>,
    pub lab: Option<Result<LabFacts, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Free {
    pub path: PathBuf,
    pub bytes: u64,
    /// The file system's device, to tell whether two paths share one.
    pub dev: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CpuVirt {
    Intel,
    Amd,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LibvirtFacts {
    pub uri: String,
    /// libvirt's and QEMU's versions, as libvirt encodes them (major * 1e6 + minor * 1e3 + micro).
    pub version: u32,
    pub qemu_version: u32,
    pub networks: Vec<NetFacts>,
    /// Memory of running guests of other labs (and anything else libvirt runs), in MiB.
    pub others_running_mib: u64,
    /// Running guests of the lab given on the command line.
    pub lab_running: Vec<String>,
    /// How long looking up a domain took (a re-probing libvirtd takes tens of seconds).
    pub lookup: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NetFacts {
    pub name: String,
    pub cidr: Option<Ipv4Network>,
    pub active: bool,
    /// The firedrill lab (of this home) that made it.
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ImageState {
    Missing,
    Broken(String),
    /// Built from another recipe than this firedrill's.
    Stale,
    /// A digest in the manifest does not match the file.
    Corrupt(String),
    Verified {
        disk_bytes: u64,
        created: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ImageFacts {
    pub name: String,
    pub state: ImageState,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LabFacts {
    pub name: String,
    pub file: PathBuf,
    /// (network name, subnet).
    pub networks: Vec<(String, Ipv4Network)>,
    /// (node, memory MiB, cpus).
    pub nodes: Vec<(String, u64, u32)>,
    /// The images its nodes boot, each once, in file order.
    pub images: Vec<String>,
}

pub(crate) fn gather(
    home: &Home,
    lab_file: Option<&Path>,
    accel: AccelChoice,
    deep: bool,
) -> Facts {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let local = crate::host::HostFacts::local().unwrap_or_default();
    let lab = lab_file.map(lab_facts);
    let lab_name = lab
        .as_ref()
        .and_then(|l| l.as_ref().ok())
        .map(|l| l.name.clone());
    let image_names = match &lab {
        Some(Ok(l)) => l.images.clone(),
        _ => vec![crate::spec::DEFAULT_IMAGE.to_string()],
    };
    let images: Vec<ImageFacts> = image_names.iter().map(|n| image_facts(home, n)).collect();
    let qemu_user = qemu_user(home.root());
    let deep = deep.then(|| super::deep::boot(home, &image_names[0]));
    let selinux_enforcing = read_trim("/sys/fs/selinux/enforce").as_deref() == Some("1");
    Facts {
        accel,
        kvm: file_mode(Path::new("/dev/kvm")),
        cpu_vendor: cpu_virt(&cpuinfo),
        nested: has_flag(&cpuinfo, "hypervisor"),
        deep,
        systemd: read_trim("/proc/1/comm").as_deref() == Some("systemd"),
        libvirt: libvirt_facts(lab_name.as_deref()),
        dnsmasq: crate::image::which("dnsmasq", "dnsmasq-base").ok(),
        apparmor: read_trim("/sys/module/apparmor/parameters/enabled").as_deref() == Some("Y"),
        selinux_enforcing,
        images_dir: home.images(),
        image_dir_label: selinux_enforcing
            .then(|| selinux_label(&home.images()))
            .flatten(),
        qemu_paths: qemu_paths(home, &images),
        qemu_user,
        mem_total_mib: local.mem_total_mib,
        mem_available_mib: crate::host::meminfo_mib(&meminfo, "MemAvailable:").unwrap_or(0),
        cpus: local.cpus,
        routes: local.routes,
        home_free: free_space(home.root()),
        images_free: free_space(&home.images()),
        tools: [
            "qemu-system-x86_64",
            "qemu-img",
            "genisoimage",
            "debootstrap",
        ]
        .into_iter()
        .map(|t| (t, crate::image::which(t, "").ok()))
        .collect(),
        images,
        lab_file: lab_file.map(Path::to_path_buf),
        lab,
    }
}

/// The lab file, checked on its own (doctor compares it with the host itself).
fn lab_facts(file: &Path) -> Result<LabFacts, String> {
    let (valid, _) =
        crate::spec::check(file, &crate::host::HostFacts::default(), true).map_err(|p| {
            format!(
                "{} has {} problem(s)",
                file.display(),
                p.0.iter().filter(|p| p.is_error()).count()
            )
        })?;
    Ok(LabFacts {
        name: valid.name.to_string(),
        file: file.to_path_buf(),
        networks: valid
            .networks
            .iter()
            .map(|n| (n.name.clone(), n.cidr))
            .collect(),
        nodes: valid
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.memory_mib, n.cpus))
            .collect(),
        images: valid.nodes.iter().fold(Vec::new(), |mut v, n| {
            if !v.contains(&n.image) {
                v.push(n.image.clone());
            }
            v
        }),
    })
}

fn libvirt_facts(lab: Option<&str>) -> Result<LibvirtFacts, String> {
    use crate::hypervisor::{DomainState, Hypervisor};
    let hv = crate::hypervisor::Libvirt::open(None).map_err(|e| e.to_string())?;
    let (version, qemu_version) = hv.versions().map_err(|e| e.to_string())?;
    let networks = hv
        .networks()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|n| NetFacts {
            name: n.name,
            cidr: n.cidr,
            active: n.active,
            owner: n.owner,
        })
        .collect();
    // A lookup is what a re-probing libvirtd makes slow; the name is one no lab can have.
    let started = Instant::now();
    hv.domain("firedrill-doctor-probe")
        .map_err(|e| e.to_string())?;
    let lookup = started.elapsed();
    let domains = hv.domains().map_err(|e| e.to_string())?;
    let mut others_running_mib = 0;
    let mut lab_running = Vec::new();
    for d in domains.iter().filter(|d| d.state == DomainState::Running) {
        match &d.owner {
            Some((l, node)) if Some(l.as_str()) == lab => lab_running.push(node.clone()),
            _ => others_running_mib += d.memory_mib,
        }
    }
    Ok(LibvirtFacts {
        uri: hv.uri().to_string(),
        version,
        qemu_version,
        networks,
        others_running_mib,
        lab_running,
        lookup,
    })
}

fn image_facts(home: &Home, name: &str) -> ImageFacts {
    let state = match crate::image::find(home, name) {
        Ok(None) => ImageState::Missing,
        Err(e) => ImageState::Broken(e.to_string()),
        Ok(Some(image)) => match crate::image::verify(&image) {
            Err(problem) => ImageState::Corrupt(problem),
            Ok(()) if crate::image::is_current(&image.manifest) == Some(false) => ImageState::Stale,
            Ok(()) => ImageState::Verified {
                disk_bytes: image.manifest.disk_bytes,
                created: image.manifest.created.clone(),
            },
        },
    };
    ImageFacts {
        name: name.to_string(),
        state,
    }
}

/// QEMU runs as the owner of FIREDRILL_HOME (or, before it exists, as whoever creates it).
fn qemu_user(home: &Path) -> Principal {
    // SAFETY: geteuid has no preconditions.
    let uid = std::fs::metadata(home).map_or_else(|_| unsafe { libc::geteuid() }, |m| m.uid());
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    super::access::principal(uid, &passwd, &group).unwrap_or(Principal {
        name: uid.to_string(),
        uid,
        gid: uid,
        groups: Vec::new(),
    })
}

/// The lab directories (QEMU opens the disks and seeds in them) and each image's files.
fn qemu_paths(home: &Home, images: &[ImageFacts]) -> Vec<(Vec<FileMode>, u32)> {
    use super::access::{EXEC, READ};
    let mut out = Vec::new();
    if let Some(chain) = chain(&home.labs()) {
        out.push((chain, READ | EXEC));
    }
    for image in images {
        if let Ok(Some(found)) = crate::image::find(home, &image.name) {
            for file in [&found.disk, &found.kernel, &found.initrd] {
                out.extend(chain(file).map(|c| (c, READ)));
            }
        }
    }
    out
}

/// `path` and its ancestors, outermost first; `None` when `path` does not exist.
fn chain(path: &Path) -> Option<Vec<FileMode>> {
    let mut out: Vec<FileMode> = path.ancestors().map(file_mode).collect::<Option<_>>()?;
    out.reverse();
    Some(out)
}

fn file_mode(path: &Path) -> Option<FileMode> {
    std::fs::metadata(path).ok().map(|m| FileMode {
        path: path.to_path_buf(),
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
    })
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn has_flag(cpuinfo: &str, flag: &str) -> bool {
    cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == flag))
}

fn cpu_virt(cpuinfo: &str) -> Option<CpuVirt> {
    if has_flag(cpuinfo, "vmx") {
        Some(CpuVirt::Intel)
    } else if has_flag(cpuinfo, "svm") {
        Some(CpuVirt::Amd)
    } else {
        None
    }
}

fn selinux_label(path: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut buf = [0u8; 256];
    // SAFETY: both pointers are valid for the lengths given.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"security.selinux".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).ok()?;
    Some(
        String::from_utf8_lossy(&buf[..n])
            .trim_end_matches('\0')
            .to_string(),
    )
}

/// Free bytes on the file system that holds `path` (its nearest existing ancestor).
fn free_space(path: &Path) -> Option<Free> {
    use std::os::unix::ffi::OsStrExt;
    let existing = path.ancestors().find(|p| p.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct it is given; c is a valid C string.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some(Free {
        path: path.to_path_buf(),
        bytes: s.f_bavail.saturating_mul(s.f_frsize),
        dev: std::fs::metadata(existing).ok()?.dev(),
    })
}
