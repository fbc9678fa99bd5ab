//! `image build`: debootstrap a root filesystem, apply the recipe, fill an ext4 file straight
//! from the directory (`mkfs.ext4 -d`, no loop device or mount), convert it to qcow2 and keep the
//! kernel and initrd beside it. Everything happens in `IMAGES/.NAME.build/` and is renamed into
//! place at the end, so an interrupted build is never mistaken for a good image.

use super::cache::{self, MANIFEST};
use super::exec::{output, run};
use super::recipe::{self, CMDLINE, RECIPE_VERSION, Recipe, Step};
use super::rootfs;
use super::util::{
    fmt_bytes, fmt_duration, io_err, rfc3339, sha256_file, validate_name, write_atomic,
};
use super::{Image, ImageError, Manifest};
use crate::paths::Home;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};
use tokio::process::Command;

const STEPS: usize = 7;

/// Builds image `name` unless an image from the same recipe is cached (or `rebuild`).
/// `progress` gets one line when a step starts (ending in `...`) and one when it ends.
pub(crate) async fn build(
    home: &Home,
    name: &str,
    rebuild: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Image, ImageError> {
    validate_name(name)?;
    let recipe = recipe::recipe(name).ok_or_else(|| ImageError::UnknownRecipe {
        name: name.to_string(),
        known: recipe::known_names(),
    })?;
    let hash = recipe.hash();
    if !rebuild
        && let Ok(Some(image)) = cache::find(home, name)
        && image.manifest.recipe_hash == hash
    {
        progress(&format!(
            "image {name} is up to date (built {}, recipe {}): nothing to do; --rebuild builds it again",
            image.manifest.created,
            &hash[..12]
        ));
        return Ok(image);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(ImageError::NotRoot {
            name: name.to_string(),
        });
    }
    let tools = Tools::find()?;
    let images = home.images();
    let final_dir = images.join(name);
    if final_dir.exists() {
        // Replacing an image that node disks are linked clones of would corrupt them.
        cache::refuse_foreign_or_used(home, name, &final_dir)?;
    }
    let _lock = cache::lock(home, name)?;
    let work = images.join(format!(".{name}.build"));
    let log = images.join(format!(".{name}.build.log"));
    let cache_dir = images.join(".cache/debootstrap");
    // We hold the lock, so anything at `work` is left over from an interrupted build.
    remove_dir(&work).await?;
    for d in [&work, &cache_dir] {
        std::fs::create_dir_all(d).map_err(io_err("cannot create", d))?;
    }
    std::fs::write(
        &log,
        format!("firedrill image build {name} (recipe {hash})\n"),
    )
    .map_err(io_err("cannot write", &log))?;

    // On Ctrl-C, dropping the build future kills the running command (kill_on_drop) and the
    // temp dir goes, instead of the process dying with debootstrap still writing into it.
    let result = tokio::select! {
        r = build_in(recipe, &hash, &tools, &work, &log, &cache_dir, progress) => r,
        _ = tokio::signal::ctrl_c() => Err(ImageError::Interrupted { name: name.to_string() }),
    };
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = remove_dir(&work).await;
            return Err(e);
        }
    };

    let mut p = Progress::new(progress, 7, "install into the cache");
    let installed = {
        let (home, name, work) = (home.clone(), name.to_string(), work.clone());
        blocking(move || cache::install(&home, &name, &work)).await
    };
    let image = match installed {
        Ok(image) => image,
        Err(e) => {
            let _ = remove_dir(&work).await;
            return Err(e);
        }
    };
    p.done(&image.dir.display().to_string());
    progress(&format!(
        "image {name} built: {} qcow2 ({} virtual), {} packages, kernel {}",
        fmt_bytes(manifest.disk_bytes),
        fmt_bytes(manifest.virtual_size),
        manifest.packages.len(),
        manifest.kernel_release
    ));
    Ok(image)
}

async fn build_in(
    recipe: &Recipe,
    hash: &str,
    tools: &Tools,
    work: &Path,
    log: &Path,
    cache_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Manifest, ImageError> {
    let root = work.join("rootfs");
    let root_str = root.to_string_lossy().into_owned();

    let mut p = Progress::new(progress, 1, "debootstrap");
    p.detail(&format!(
        "{} {}, {} packages; downloads are cached in {}",
        recipe.suite,
        recipe.variant,
        recipe.packages.len(),
        cache_dir.display()
    ));
    let mut cmd = Command::new(&tools.debootstrap);
    cmd.arg(format!("--variant={}", recipe.variant))
        .arg(recipe.include_arg())
        .arg(format!("--cache-dir={}", cache_dir.display()))
        .arg(recipe.suite)
        .arg(&root);
    run("debootstrap", &mut cmd, log).await?;
    p.done(&format!("{}", root.display()));

    let mut p = Progress::new(progress, 2, "configure the root file system");
    for step in &recipe.steps {
        match step {
            Step::Chroot { argv } => {
                let mut cmd = Command::new(&tools.chroot);
                cmd.arg(&root).args(argv.iter());
                run("configure", &mut cmd, log).await?;
            }
            _ => rootfs::apply_file_step(&root, step)?,
        }
    }
    p.done(&format!("{} steps", recipe.steps.len()));

    let mut p = Progress::new(progress, 3, "check the installed packages");
    let out = output(
        "package check",
        Command::new(&tools.chroot).arg(&root).args([
            "dpkg-query",
            "-W",
            "-f=${Package}=${Version} ${db:Status-Abbrev}\n",
        ]),
        log,
    )
    .await?;
    let packages =
        rootfs::inventory(&out, &recipe.packages).map_err(|problem| ImageError::BadRootfs {
            problem,
            log: log.to_path_buf(),
        })?;
    p.done(&format!("{} packages installed", packages.len()));

    let mut p = Progress::new(progress, 4, "copy the kernel and initrd");
    let release = rootfs::kernel_release(&root).map_err(|problem| ImageError::BadRootfs {
        problem,
        log: log.to_path_buf(),
    })?;
    let (vmlinuz, initrd) = rootfs::kernel_files(&root, &release);
    let kernel_out = work.join("vmlinuz");
    let initrd_out = work.join("initrd.img");
    for (from, to) in [(&vmlinuz, &kernel_out), (&initrd, &initrd_out)] {
        std::fs::copy(from, to).map_err(io_err("cannot copy", from))?;
        // libvirt's qemu user must be able to read them for direct kernel boot.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o644))
            .map_err(io_err("cannot chmod", to))?;
    }
    p.done(&format!("kernel {release}"));

    let mut p = Progress::new(progress, 5, "make the ext4 file system");
    let used = blocking(move || rootfs::disk_usage(Path::new(&root_str))).await?;
    let size = rootfs::fs_size(used);
    p.detail(&format!(
        "{} of files, {} file system",
        fmt_bytes(used),
        fmt_bytes(size)
    ));
    let raw = work.join("disk.raw");
    let f = std::fs::File::create(&raw).map_err(io_err("cannot create", &raw))?;
    f.set_len(size).map_err(io_err("cannot size", &raw))?;
    drop(f);
    let mut cmd = Command::new(&tools.mkfs);
    cmd.args(["-q", "-F", "-L", "firedrill-root", "-d"])
        .arg(&root)
        .arg(&raw);
    run("mkfs.ext4", &mut cmd, log).await?;
    remove_dir(&root).await?;
    p.done(&format!("{} raw", fmt_bytes(size)));

    let mut p = Progress::new(progress, 6, "convert to qcow2 and write the manifest");
    let disk = work.join("disk.qcow2");
    let mut cmd = Command::new(&tools.qemu_img);
    cmd.args(["convert", "-O", "qcow2"]).arg(&raw).arg(&disk);
    run("qemu-img convert", &mut cmd, log).await?;
    std::fs::remove_file(&raw).map_err(io_err("cannot remove", &raw))?;
    let disk_bytes = std::fs::metadata(&disk)
        .map_err(io_err("cannot stat", &disk))?
        .len();
    let (disk_sha256, kernel_sha256, initrd_sha256) = {
        let (d, k, i) = (disk.clone(), kernel_out.clone(), initrd_out.clone());
        blocking(move || Ok((sha256_file(&d)?, sha256_file(&k)?, sha256_file(&i)?))).await?
    };
    let manifest = Manifest {
        name: recipe.name.to_string(),
        created: rfc3339(SystemTime::now()),
        recipe_version: RECIPE_VERSION,
        recipe_hash: hash.to_string(),
        suite: recipe.suite.to_string(),
        packages,
        disk: "disk.qcow2".into(),
        kernel: "vmlinuz".into(),
        initrd: "initrd.img".into(),
        disk_sha256,
        kernel_sha256,
        initrd_sha256,
        disk_bytes,
        virtual_size: size,
        kernel_release: release,
        cmdline: CMDLINE.into(),
        first_boot: true,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ImageError::Io {
        action: "cannot encode",
        path: work.join(MANIFEST),
        source: e.into(),
    })?;
    write_atomic(&work.join(MANIFEST), &json)?;
    p.done(&format!("{} qcow2", fmt_bytes(disk_bytes)));
    Ok(manifest)
}

/// Absolute paths of the host tools the build runs, checked before anything is created.
struct Tools {
    debootstrap: PathBuf,
    chroot: PathBuf,
    mkfs: PathBuf,
    qemu_img: PathBuf,
}

impl Tools {
    fn find() -> Result<Tools, ImageError> {
        Ok(Tools {
            debootstrap: which("debootstrap", "debootstrap")?,
            chroot: which("chroot", "coreutils")?,
            mkfs: which("mkfs.ext4", "e2fsprogs")?,
            qemu_img: which("qemu-img", "qemu-utils")?,
        })
    }
}

/// Looks in PATH and in the sbin directories, which a non-login root shell may lack.
pub(crate) fn which(tool: &'static str, package: &'static str) -> Result<PathBuf, ImageError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(ImageError::MissingTool { tool, package })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ImageError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(io_err("worker thread failed for", Path::new("image build"))(std::io::Error::other(e)))
    })
}

async fn remove_dir(dir: &Path) -> Result<(), ImageError> {
    let d = dir.to_path_buf();
    blocking(move || match std::fs::remove_dir_all(&d) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("cannot remove", &d)(e)),
        _ => Ok(()),
    })
    .await
}

/// `[n/7] title ...` when a step starts, `[n/7] title: detail (time)` when it ends.
struct Progress<'a> {
    sink: &'a mut dyn FnMut(&str),
    n: usize,
    title: &'static str,
    started: Instant,
}

impl<'a> Progress<'a> {
    fn new(sink: &'a mut dyn FnMut(&str), n: usize, title: &'static str) -> Progress<'a> {
        sink(&format!("[{n}/{STEPS}] {title} ..."));
        Progress {
            sink,
            n,
            title,
            started: Instant::now(),
        }
    }

    fn detail(&mut self, text: &str) {
        (self.sink)(&format!("[{}/{STEPS}] {}: {text} ...", self.n, self.title));
    }

    fn done(&mut self, result: &str) {
        (self.sink)(&format!(
            "[{}/{STEPS}] {}: {result} ({})",
            self.n,
            self.title,
            fmt_duration(self.started.elapsed())
        ));
    }
}
