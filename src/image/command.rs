//! `firedrill image build | list | export | rm`: argument types, dispatch and output. The listing is a
//! pure function of the cache entries so its layout is tested exactly.

use super::cache::{self, Entry};
use super::util::fmt_bytes;
use crate::paths::Home;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Build a golden image with debootstrap (needs root and the Debian mirror; a few minutes).
    Build {
        /// Which image to build.
        #[arg(long, default_value = "debian-12")]
        name: String,
        /// Build again even if the cached image comes from the current recipe.
        #[arg(long)]
        rebuild: bool,
    },
    /// List cached images: created, size and whether they match the current recipe.
    List,
    /// Package a cached image for another tool: `--vagrant` writes a vagrant-libvirt box
    /// (box.img, metadata.json, a Vagrantfile, the kernel, initrd and a cloud-init seed that
    /// makes the `vagrant` user); add it with `vagrant box add --name firedrill/NAME FILE`.
    Export {
        /// The image to export, as shown by `firedrill image list`.
        #[arg(long, default_value = "debian-12")]
        name: String,
        /// Write a Vagrant box (vagrant-libvirt), the only format for now.
        #[arg(long, required = true)]
        vagrant: bool,
        /// The box file to write (refused if anything is there); NAME.box by default.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Remove a cached image (refused while a lab's node disk is a clone of it).
    Rm {
        /// The image to remove, as shown by `firedrill image list`.
        name: String,
    },
}

pub(crate) async fn run(cmd: ImageCommand, home: &Home) -> Result<(), super::ImageError> {
    match cmd {
        ImageCommand::Build { name, rebuild } => {
            let mut out = Output::new();
            let result = super::build(home, &name, rebuild, &mut |line| out.line(line)).await;
            out.finish();
            result.map(|_| ())
        }
        ImageCommand::List => {
            print!("{}", format_list(&cache::scan(home)?));
            Ok(())
        }
        ImageCommand::Export {
            name,
            vagrant: _,
            output,
        } => {
            let output = output.unwrap_or_else(|| super::default_output(&name));
            let mut out = Output::new();
            let result =
                super::export_vagrant(home, &name, &output, &mut |line| out.line(line)).await;
            out.finish();
            result.map(|_| ())
        }
        ImageCommand::Rm { name } => {
            let dir = cache::remove(home, &name)?;
            println!("removed image {name} ({})", dir.display());
            Ok(())
        }
    }
}

/// A spinner with the running step on a terminal; plain lines otherwise (CI logs).
struct Output {
    bar: Option<ProgressBar>,
}

impl Output {
    fn new() -> Output {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Output { bar }
    }

    /// Lines ending in `...` describe the step now running; the others are results to keep.
    fn line(&mut self, line: &str) {
        match &self.bar {
            Some(bar) => match line.strip_suffix(" ...") {
                Some(running) => {
                    // The elapsed clock restarts with each step (`[n/N]`), not with details.
                    let message = bar.message();
                    if running.split(']').next() != message.split(']').next() {
                        bar.reset_elapsed();
                    }
                    bar.set_message(running.to_string());
                }
                None => {
                    bar.println(line);
                    bar.set_message("");
                }
            },
            None => println!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub(crate) fn format_list(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return format!(
            "no images; build one with `sudo firedrill image build --name {}`\n",
            super::known_names()[0]
        );
    }
    let mut rows = vec![[
        "NAME".to_string(),
        "CREATED".to_string(),
        "SIZE".to_string(),
        "VIRTUAL".to_string(),
        "RECIPE".to_string(),
    ]];
    for e in entries {
        rows.push(match e {
            Entry::Ok(i) => [
                i.name.clone(),
                i.manifest.created.clone(),
                fmt_bytes(i.manifest.disk_bytes),
                fmt_bytes(i.manifest.virtual_size),
                match cache::is_current(&i.manifest) {
                    Some(true) => "current".to_string(),
                    Some(false) => "stale (`image build` rebuilds it)".to_string(),
                    None => "unknown recipe".to_string(),
                },
            ],
            Entry::Broken { name, problem, .. } => [
                name.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!("broken: {problem}"),
            ],
        });
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (c, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", r[c]));
        }
        out.push_str(&r[4]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{Image, Manifest, recipe};
    use std::path::PathBuf;

    fn image(name: &str, recipe_hash: String) -> Image {
        let dir = PathBuf::from("/cache").join(name);
        Image {
            name: name.into(),
            disk: dir.join("disk.qcow2"),
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
            dir,
            manifest: Manifest {
                name: name.into(),
                created: "2026-11-22T03:00:00Z".into(),
                recipe_version: 1,
                recipe_hash,
                suite: "bookworm".into(),
                packages: vec![],
                disk: "disk.qcow2".into(),
                kernel: "vmlinuz".into(),
                initrd: "initrd.img".into(),
                disk_sha256: String::new(),
                kernel_sha256: String::new(),
                initrd_sha256: String::new(),
                disk_bytes: 1_181_116_006,
                virtual_size: 2_415_919_104,
                kernel_release: "6.1.0-50-amd64".into(),
                cmdline: String::new(),
                first_boot: true,
            },
        }
    }

    #[test]
    fn list_shows_size_and_recipe_state_in_columns() {
        let current = recipe::recipe("debian-12").expect("recipe").hash();
        let entries = vec![
            Entry::Ok(Box::new(image("debian-12", current))),
            Entry::Ok(Box::new(image("custom", "0".into()))),
            Entry::Broken {
                name: "half".into(),
                problem: "/cache/half/vmlinuz is missing".into(),
            },
        ];
        assert_eq!(
            format_list(&entries),
            "NAME       CREATED               SIZE     VIRTUAL  RECIPE\n\
             debian-12  2026-11-22T03:00:00Z  1.1 GiB  2.2 GiB  current\n\
             custom     2026-11-22T03:00:00Z  1.1 GiB  2.2 GiB  unknown recipe\n\
             half       -                     -        -        broken: /cache/half/vmlinuz is missing\n"
        );
    }

    #[test]
    fn an_image_from_an_older_recipe_is_stale() {
        let out = format_list(&[Entry::Ok(Box::new(image("debian-12", "0".into())))]);
        assert_eq!(
            out.lines().nth(1),
            Some(
                "debian-12  2026-11-22T03:00:00Z  1.1 GiB  2.2 GiB  stale (`image build` rebuilds it)"
            )
        );
    }

    #[test]
    fn empty_list_says_how_to_build() {
        assert_eq!(
            format_list(&[]),
            "no images; build one with `sudo firedrill image build --name debian-12`\n"
        );
    }
}
