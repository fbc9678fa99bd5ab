//! `image export --vagrant`: packs a golden image as a vagrant-libvirt box (a tar of
//! vagrant_box.rs's files). Everything is made in a staging directory beside the output, which
//! goes at the end; the box is linked into place only if nothing is at the output by then, so
//! firedrill never writes over a file it did not make, and an interrupted export leaves no box.

use super::build::which;
use super::cache;
use super::util::{fmt_bytes, fmt_duration, io_err, validate_name};
use super::vagrant_box::{self, BOX_FILES};
use super::{Image, ImageError};
use crate::paths::Home;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio::process::Command;

/// The box file `image export --vagrant` writes when no `--output` is given.
pub(crate) fn default_output(name: &str) -> PathBuf {
    PathBuf::from(format!("{name}.box"))
}

/// Packs image `name` into the box file `output`. `progress` gets one line per step.
pub(crate) async fn export_vagrant(
    home: &Home,
    name: &str,
    output: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, ImageError> {
    validate_name(name)?;
    refuse_existing(output)?;
    let image = cache::find(home, name)?.ok_or_else(|| ImageError::NoSuchImage {
        name: name.to_string(),
        dir: home.images(),
    })?;
    let qemu_img = which("qemu-img", "qemu-utils")?;
    let tar = which("tar", "tar")?;
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            io_err("cannot write a box to", output)(std::io::Error::other(
                "not a file name: give --output a file such as debian-12.box",
            ))
        })?;
    let staging = parent.join(format!(".{file_name}.firedrill-{}", std::process::id()));
    // create_dir, not create_dir_all: a directory already there is not ours to fill or remove.
    std::fs::create_dir(&staging).map_err(io_err("cannot create", &staging))?;

    let mut seed_task = None;
    let result = tokio::select! {
        r = pack(&image, &qemu_img, &tar, &staging, output, &mut seed_task, progress) => r,
        _ = tokio::signal::ctrl_c() => Err(ImageError::ExportInterrupted { output: output.to_path_buf() }),
    };
    // The commands were killed with the future (kill_on_drop); the box, if linked, stays. A
    // blocking task cannot be stopped that way: the seed ISO being written into the staging
    // directory is waited for (a few ms), so that nothing writes there while it is removed.
    if let Some(task) = seed_task {
        let _ = task.await;
    }
    let removed = crate::fsutil::remove_tree_inside(&parent, &staging)
        .map_err(|e| io_err("cannot remove", &staging)(std::io::Error::other(e.to_string())));
    result?;
    removed?;
    Ok(output.to_path_buf())
}

fn refuse_existing(output: &Path) -> Result<(), ImageError> {
    // symlink_metadata: a dangling symlink is something at that path too.
    if std::fs::symlink_metadata(output).is_ok() {
        return Err(ImageError::OutputExists {
            path: output.to_path_buf(),
        });
    }
    Ok(())
}

/// Writing the box's seed ISO, on a blocking thread.
type SeedTask = tokio::task::JoinHandle<Result<(), crate::seed::SeedError>>;

async fn pack(
    image: &Image,
    qemu_img: &Path,
    tar: &Path,
    staging: &Path,
    output: &Path,
    seed_task: &mut Option<SeedTask>,
    progress: &mut dyn FnMut(&str),
) -> Result<(), ImageError> {
    let m = &image.manifest;
    let started = Instant::now();
    progress(&format!(
        "[1/4] check image {} against its manifest ...",
        image.name
    ));
    let checked = image.clone();
    tokio::task::spawn_blocking(move || cache::verify(&checked))
        .await
        .map_err(|e| io_err("cannot check", &image.disk)(std::io::Error::other(e)))?
        .map_err(|problem| ImageError::Broken {
            name: image.name.clone(),
            dir: image.dir.clone(),
            problem,
        })?;

    let dir = staging.join("box");
    std::fs::create_dir(&dir).map_err(io_err("cannot create", &dir))?;
    let gib = vagrant_box::virtual_gib(m.virtual_size);
    progress(&format!(
        "[2/4] compress the disk into box.img ({} qcow2, {gib} GiB virtual) ...",
        fmt_bytes(m.disk_bytes)
    ));
    let disk = dir.join("box.img");
    run(
        "qemu-img convert",
        Command::new(qemu_img)
            .args(["convert", "-c", "-O", "qcow2"])
            .arg(&image.disk)
            .arg(&disk),
        output,
    )
    .await?;
    if m.virtual_size != gib << 30 {
        // vagrant-libvirt sizes the volume from metadata.json, in whole GiB.
        run(
            "qemu-img resize",
            Command::new(qemu_img)
                .args(["resize", "-q", "-f", "qcow2"])
                .arg(&disk)
                .arg(format!("{gib}G")),
            output,
        )
        .await?;
    }

    progress("[3/4] write the kernel, initrd, seed, metadata.json and Vagrantfile ...");
    for (from, to) in [(&image.kernel, "vmlinuz"), (&image.initrd, "initrd.img")] {
        let to = dir.join(to);
        std::fs::copy(from, &to).map_err(io_err("cannot copy", from))?;
    }
    for (file, text) in [
        ("metadata.json", vagrant_box::metadata_json(gib)),
        ("Vagrantfile", vagrant_box::vagrantfile(m)),
    ] {
        let p = dir.join(file);
        std::fs::write(&p, text).map_err(io_err("cannot write", &p))?;
    }
    // genisoimage runs as a child process: off the async runtime, in a task the caller holds
    // until it ends, also when Ctrl-C drops this future.
    let (files, seed) = (vagrant_box::seed(&image.name), dir.join("seed.iso"));
    let task = seed_task.insert(tokio::task::spawn_blocking(move || {
        crate::seed::write_iso(&files, &seed)
    }));
    let written = task.await;
    *seed_task = None;
    written
        .map_err(|e| io_err("cannot write", &dir.join("seed.iso"))(std::io::Error::other(e)))??;
    // Unpacked into the user's VAGRANT_HOME, each file is opened by libvirt's QEMU user; none
    // holds a secret (the seed has a public key only).
    for file in BOX_FILES {
        let p = dir.join(file);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))
            .map_err(io_err("cannot chmod", &p))?;
    }

    progress(&format!("[4/4] pack {} ...", output.display()));
    let packed = staging.join("box.tar");
    run(
        "tar",
        Command::new(tar)
            .args(["-cf"])
            .arg(&packed)
            .args(["--owner=0", "--group=0", "--numeric-owner", "-C"])
            .arg(&dir)
            .args(BOX_FILES),
        output,
    )
    .await?;
    // A hard link fails if anything appeared at the output meanwhile: never replaced.
    std::fs::hard_link(&packed, output).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => ImageError::OutputExists {
            path: output.to_path_buf(),
        },
        _ => io_err("cannot create", output)(e),
    })?;
    let bytes = std::fs::metadata(output)
        .map_err(io_err("cannot stat", output))?
        .len();
    progress(&format!(
        "box {} written: {} ({}); add it with `vagrant box add --name {} {}`",
        output.display(),
        fmt_bytes(bytes),
        fmt_duration(started.elapsed()),
        crate::export::box_name(&image.name),
        output.display()
    ));
    Ok(())
}

/// Runs one of the export's commands; a failure carries its stderr.
async fn run(step: &'static str, cmd: &mut Command, output: &Path) -> Result<(), ImageError> {
    let std = cmd.as_std();
    let described = std::iter::once(std.get_program())
        .chain(std.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd
        .stdin(std::process::Stdio::null())
        .env("LC_ALL", "C")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(io_err("cannot run", Path::new(&described)))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(ImageError::ExportCommand {
        step,
        command: described,
        status: out.status.to_string(),
        stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        output: output.to_path_buf(),
    })
}
