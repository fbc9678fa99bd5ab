//! Command-line interface: clap definitions and dispatch. Printing errors and choosing the exit
//! code happens here and nowhere else.

use crate::error::Error;
use crate::lab::{self, AccelChoice, LabError, UpOptions};
use crate::paths::Home;
use crate::spec::{Problem, Severity};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "firedrill",
    version,
    about = "Build a lab of libvirt VMs, run a real service on it, and break it on purpose"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a lab or level file and print every problem. Creates nothing.
    Validate {
        /// The lab file, e.g. labs/minimal.yaml or a shipped lab's name (minimal), or a level
        /// file, e.g. labs/levels/disk-full.yaml
        lab: PathBuf,
        /// Accept more guest memory than the host has, as `up --force` does
        #[arg(long)]
        force: bool,
    },
    /// Draw the lab's networks, nodes, addresses and roles: Mermaid (for a README), Graphviz
    /// DOT, or SVG (open it in a browser): firedrill topology lab.yaml --format svg > lab.svg
    Topology {
        /// The lab file or a shipped lab's name; without it, the lab that is up.
        lab: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "mermaid")]
        format: crate::topology::Format,
    },
    /// Validate, then create or converge the lab: network, disks, seeds, domains; wait until
    /// every node is ready.
    Up {
        /// The lab file, or the name of a shipped lab (three-tier, minimal, ...).
        file: PathBuf,
        /// Hardware acceleration: kvm, tcg (software, slow) or auto.
        #[arg(long, value_enum, env = "FIREDRILL_ACCEL", default_value = "auto")]
        accel: AccelChoice,
        /// Bring the lab up even if its guests need more memory than the host has.
        #[arg(long)]
        force: bool,
        /// How long each node may take to become ready, in seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
        /// Print what would change, node by node, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Restart NODE if that is what applying its new memory or cpus takes (repeatable).
        #[arg(long, value_name = "NODE")]
        restart: Vec<String>,
    },
    /// Remove the lab's domains, network, disks, seeds and state (cached images stay).
    Down {
        #[arg(long)]
        lab: Option<String>,
        /// Remove the lab even while faults are active on it.
        #[arg(long)]
        force: bool,
    },
    /// The lab's nodes: state, roles, IP, DNS name, memory, uptime.
    Status {
        #[arg(long)]
        lab: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The labs on this host and their state.
    List,
    /// Is this host ready for a lab? KVM, libvirt, networks, memory, disk, tools, the golden
    /// image: each check with its verdict, and the command that fixes a failing one. Exit 1
    /// when a check fails.
    Doctor {
        /// Also check the lab file's networks, memory, CPUs, disk and images.
        lab: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Also boot a guest kernel under KVM for a few seconds, to see that KVM really works.
        #[arg(long)]
        deep: bool,
        /// The acceleration the lab will use, as for `up`.
        #[arg(long, value_enum, env = "FIREDRILL_ACCEL", default_value = "auto")]
        accel: AccelChoice,
    },
    /// Log into a node, or run a command on it: firedrill ssh web -- uptime
    Ssh {
        node: String,
        #[arg(long)]
        lab: Option<String>,
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Forward a local TCP port to a node's port until interrupted: firedrill forward 8080:lb:80
    Forward {
        /// LOCALPORT:NODE:PORT
        spec: String,
        #[arg(long)]
        lab: Option<String>,
        /// The local address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::Ipv4Addr,
    },
    /// Print the URL of a page a role serves: firedrill open prometheus (or "haproxy stats"),
    /// and how to forward a local port to it when the lab's network is not reachable from here.
    Open {
        page: String,
        #[arg(long)]
        lab: Option<String>,
    },
    /// Capture packets on a node into a pcap file (Wireshark, `tcpdump -r`):
    /// firedrill capture lb --filter 'tcp port 80' --for 30s -o lb.pcap
    Capture {
        node: String,
        #[arg(long)]
        lab: Option<String>,
        /// The node's interface (`ip -br link` on the node), or `any`.
        #[arg(long, default_value = "any")]
        iface: String,
        /// A tcpdump filter expression, e.g. 'tcp port 3306' or 'host db'.
        #[arg(long)]
        filter: Option<String>,
        /// How long, e.g. 30s or 2m (at most 10m).
        #[arg(long = "for", value_name = "DURATION", default_value = "30s", value_parser = crate::faults::params::parse_span)]
        duration: u64,
        /// Stop after this many packets.
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// The pcap file to write (a new file: never overwritten).
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
    /// Print an OpenSSH config for the lab (use with `ssh -F` and scp).
    SshConfig {
        #[arg(long)]
        lab: Option<String>,
    },
    /// Print the lab's generated passwords (database user `todo`).
    Secrets {
        #[arg(long)]
        lab: Option<String>,
    },
    /// Print a node's serial console log.
    Console {
        node: String,
        #[arg(long)]
        lab: Option<String>,
        /// Only the last N lines.
        #[arg(short = 'n', long)]
        lines: Option<usize>,
    },
    /// Build, list and remove golden images (`image build` needs root).
    Image {
        #[command(subcommand)]
        command: crate::image::command::ImageCommand,
    },
    /// Send open-loop traffic to the lab's service and show, second by second, what a user feels
    Client(Box<crate::client::ClientArgs>),
    /// Play an incident level: bring its lab up, start the mock client, break it, brief you.
    Play {
        /// An incident from labs/levels/ (e.g. disk-full), an exercise from labs/exercises/
        /// (e.g. drain-app-server), or a level file.
        #[arg(
            required_unless_present_any = ["random", "list"],
            conflicts_with_all = ["random", "list"]
        )]
        level: Option<String>,
        /// Play an incident chosen at random.
        #[arg(long, conflicts_with = "list")]
        random: bool,
        /// With --random: only incidents of this difficulty.
        #[arg(long, value_enum, requires = "random")]
        difficulty: Option<crate::levels::Difficulty>,
        /// List the incidents and exercises, with difficulty and minutes.
        #[arg(long)]
        list: bool,
        #[arg(long, value_enum, env = "FIREDRILL_ACCEL", default_value = "auto")]
        accel: AccelChoice,
        /// How long each node may take to become ready, in seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
    },
    /// The next hint of the level being played (each costs points).
    Hint,
    /// Are the level's objectives met and its guards intact? Never says why not.
    Check {
        /// Apply the level's reference solution first (for level authors and CI; scores 0).
        #[arg(long, hide = true)]
        apply_solution: bool,
        /// Say "solved" only after this many checks in a row agree (Level CI: 3).
        #[arg(long, hide = true, default_value_t = 1)]
        confirm: u32,
    },
    /// End the level: the debrief, then the faults are reverted.
    GiveUp {
        /// Also show the reference solution.
        #[arg(long)]
        solution: bool,
    },
    /// Revert the level's faults and restore the lab to its healthy baseline.
    Reset {
        #[arg(long, value_enum, env = "FIREDRILL_ACCEL", default_value = "auto")]
        accel: AccelChoice,
        #[arg(long, default_value_t = 900)]
        timeout: u64,
    },
    /// Write the incident report and postmortem skeleton (Markdown) into the current directory.
    Report {
        /// Write it here instead.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the play's timeline as one HTML page instead (charts of the client's success,
        /// latency and failures, with the faults, hints and checks; opens offline).
        #[arg(long)]
        html: bool,
    },
    /// Past plays with their times and scores.
    Score,
    /// Game master: inject a hidden fault into the play that is running (for a second person;
    /// the player sees only the symptoms).
    Gm {
        #[command(subcommand)]
        command: crate::levels::gm::GmCommand,
    },
    /// Print a shell completion script: firedrill completions bash > /etc/bash_completion.d/firedrill
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Snapshots of the whole lab (every node's disks and memory, taken together): save, list,
    /// restore, rm.
    Snapshot {
        #[command(subcommand)]
        command: crate::lab::snapshot::SnapshotCommand,
    },
    /// Print the manual page firedrill(1), or write every page into a directory:
    /// firedrill man > /usr/local/share/man/man1/firedrill.1
    Man {
        /// Write firedrill.1 and a page per command (firedrill-up.1, ...) into DIR instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Write the lab for another tool: a Vagrantfile (vagrant-libvirt) whose nodes are
    /// configured by the same role code as `up`.
    Export {
        #[command(subcommand)]
        command: crate::export::ExportCommand,
    },
    /// Break the lab on purpose, check what is broken, and undo it.
    Fault {
        #[command(subcommand)]
        command: crate::faults::FaultCommand,
    },
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    // The client runs its own runtimes (a sender thread per two cores), so it starts outside ours.
    if let Command::Client(args) = &cli.command {
        return match crate::client::run(args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        };
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(
            Error::Lab(LabError::Invalid(problems))
            | Error::Level(crate::levels::LevelError::Invalid(problems)),
        ) => {
            print_problems(&problems.0);
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let home = Home::from_env();
    match cli.command {
        Command::Validate { lab: file, force } => {
            let file = crate::builtin::lab_file(&home, &file)?;
            // Read once: the same text decides lab or level and is checked.
            let hint = "check the path; ready-made labs are in labs/ and levels in labs/levels/";
            let text = crate::spec::read_input(&file, "file", hint).map_err(LabError::Invalid)?;
            let (facts, unreachable) = lab::validation_facts(&home).await?;
            if crate::levels::is_level(&file, &text) {
                // As `play` does: a level's lab is usually up while it is played (or another
                // test's copy of it), and its own networks are no conflict; `up` checks them.
                let mut facts = facts;
                facts.routes.clear();
                facts.libvirt_networks.clear();
                let checked = crate::levels::check_level(&file, &text, &facts)
                    .map_err(crate::levels::LevelError::Invalid)?;
                let mut warnings = checked.warnings;
                warnings.extend(
                    unreachable.map(|e| lab::libvirt_unchecked(&checked.level.lab_path, &e)),
                );
                print_problems(&warnings);
                print!("{}", crate::levels::summary(&checked.level));
            } else {
                let (valid, mut warnings) = crate::spec::check_text(&file, &text, &facts, force)
                    .map_err(LabError::Invalid)?;
                warnings.extend(unreachable.map(|e| lab::libvirt_unchecked(&file, &e)));
                print_problems(&warnings);
                print!("{valid}");
            }
        }
        Command::Topology { lab: file, format } => {
            let file = match file {
                Some(file) => crate::builtin::lab_file(&home, &file)?,
                None => {
                    lab::Lab::open(&home, None)
                        .map_err(LabError::from)?
                        .state
                        .source
                }
            };
            // A picture needs no host: other labs' networks and this host's memory do not
            // change it (`validate` and `up` check those).
            let (mut facts, _) = lab::validation_facts(&home).await?;
            facts.routes.clear();
            facts.libvirt_networks.clear();
            let (valid, _) = crate::spec::check(&file, &facts, true).map_err(LabError::Invalid)?;
            print!("{}", crate::topology::render(&valid, format));
        }
        Command::Up {
            file,
            accel,
            force,
            timeout,
            dry_run,
            restart,
        } => {
            let opts = UpOptions {
                file: crate::builtin::lab_file(&home, &file)?,
                accel,
                force,
                timeout: Duration::from_secs(timeout),
                dry_run,
                restart,
            };
            lab::up(&home, &opts).await?;
        }
        Command::Down { lab, force } => lab::down(&home, lab.as_deref(), force).await?,
        Command::Status { lab, json } => lab::status(&home, lab.as_deref(), json).await?,
        Command::List => lab::list(&home).await?,
        Command::Doctor {
            lab,
            json,
            deep,
            accel,
        } => {
            let opts = crate::doctor::DoctorOptions {
                lab: lab
                    .map(|l| crate::builtin::lab_file(&home, &l))
                    .transpose()?,
                json,
                deep,
                accel,
            };
            if !crate::doctor::run(&home, &opts).await? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Ssh { node, lab, command } => {
            let code = lab::ssh(&home, lab.as_deref(), &node, &command).await?;
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(255)));
        }
        Command::Forward { spec, lab, bind } => {
            lab::forward(&home, lab.as_deref(), &spec, bind).await?
        }
        Command::Open { page, lab } => lab::open(&home, lab.as_deref(), &page)?,
        Command::Capture {
            node,
            lab,
            iface,
            filter,
            duration,
            count,
            output,
        } => {
            let what = lab::Capture {
                iface,
                filter,
                duration: std::time::Duration::from_secs(duration),
                max_packets: count,
            };
            lab::capture(&home, lab.as_deref(), &node, &what, &output).await?
        }
        Command::SshConfig { lab } => lab::ssh_config(&home, lab.as_deref())?,
        Command::Secrets { lab } => lab::secrets(&home, lab.as_deref())?,
        Command::Console { node, lab, lines } => lab::console(&home, lab.as_deref(), &node, lines)?,
        Command::Image { command } => crate::image::command::run(command, &home).await?,
        Command::Client(_) => unreachable!("the client runs before the runtime starts"),
        Command::Play { list: true, .. } => crate::levels::list(&home)?,
        Command::Play {
            level,
            random: _,
            list: _,
            difficulty,
            accel,
            timeout,
        } => {
            let opts = crate::levels::PlayOptions {
                level,
                difficulty,
                accel,
                timeout: Duration::from_secs(timeout),
            };
            crate::levels::play(&home, &opts).await?;
        }
        Command::Hint => crate::levels::hint(&home)?,
        Command::Check {
            apply_solution,
            confirm,
        } => crate::levels::check(&home, apply_solution, confirm).await?,
        Command::GiveUp { solution } => crate::levels::give_up(&home, solution).await?,
        Command::Reset { accel, timeout } => {
            crate::levels::reset(&home, accel, Duration::from_secs(timeout)).await?
        }
        Command::Report { out, html } => crate::levels::report(&home, out, html)?,
        Command::Score => crate::levels::score(&home)?,
        Command::Snapshot { command } => crate::lab::snapshot::run(command, &home).await?,
        Command::Gm { command } => crate::levels::gm::run(command, &home).await?,
        Command::Fault { command } => crate::faults::run(command, &home).await?,
        Command::Export { command } => crate::export::run(command, &home).await?,
        Command::Completions { shell } => print!("{}", completions(shell)),
        Command::Man { dir: None } => {
            let page = crate::manpage::main_page(<Cli as clap::CommandFactory>::command());
            std::io::Write::write_all(&mut std::io::stdout(), &page)?;
        }
        Command::Man { dir: Some(dir) } => {
            let cmd = <Cli as clap::CommandFactory>::command();
            for p in crate::manpage::write_all(cmd, &dir)? {
                println!("{}", p.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The completion script for `shell`, generated from the command definitions above.
fn completions(shell: clap_complete::Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(
        shell,
        &mut <Cli as clap::CommandFactory>::command(),
        "firedrill",
        &mut out,
    );
    String::from_utf8_lossy(&out).into_owned()
}

/// Each problem with its severity in front, then a count, on stderr.
fn print_problems(problems: &[Problem]) {
    let errors = problems.iter().filter(|p| p.is_error()).count();
    let warnings = problems.len() - errors;
    for p in problems {
        match p.severity {
            Severity::Error => eprintln!("error: {p}"),
            Severity::Warning => eprintln!("warning: {p}"),
        }
    }
    if errors > 0 {
        eprintln!(
            "{} and {}: fix the errors and run `firedrill validate` again",
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap_complete::Shell;

    #[test]
    fn completions_know_every_command_in_each_shell() {
        let bash = completions(Shell::Bash);
        assert!(bash.contains("complete -F _firedrill"), "{bash}");
        let zsh = completions(Shell::Zsh);
        assert!(zsh.starts_with("#compdef firedrill"), "{zsh}");
        let fish = completions(Shell::Fish);
        for cmd in ["up", "doctor", "forward", "fault", "completions"] {
            assert!(bash.contains(cmd), "bash lacks {cmd}");
            assert!(zsh.contains(&format!("'{cmd}:")), "zsh lacks {cmd}");
            assert!(fish.contains(&format!("-a \"{cmd}\"")), "fish lacks {cmd}");
        }
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
