use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, sudo};
use crate::remote::fake::{FakeRemote, exact, ok, prefix};

fn zones(list: &[(&str, i32, i32)]) -> Vec<(String, i32, i32)> {
    list.iter()
        .map(|(n, l, o)| (n.to_string(), *l, *o))
        .collect()
}

#[test]
fn offsets_and_zone_lines_parse() {
    assert_eq!(parse_utc_offset("+1400"), Some(840));
    assert_eq!(parse_utc_offset("-0930"), Some(-570));
    assert_eq!(parse_utc_offset("+0000"), Some(0));
    assert_eq!(parse_utc_offset("0000"), None);
    assert_eq!(parse_utc_offset("+14"), None);
    assert_eq!(
        parse_zone_line("Pacific/Kiritimati 0042+1400"),
        Some(("Pacific/Kiritimati".into(), 42, 840))
    );
    assert_eq!(
        parse_zone_line("America/St_Johns 2312-0230"),
        Some(("America/St_Johns".into(), 23 * 60 + 12, -150))
    );
    assert_eq!(parse_zone_line("Asia/Tokyo"), None);
    assert_eq!(parse_zone_line("Asia/Tokyo 12:00+0900"), None);
}

#[test]
fn the_chosen_zone_differs_and_is_earliest_in_its_day() {
    let z = zones(&[
        ("Europe/London", 5, 0),
        ("Asia/Dubai", 4 * 60 + 5, 240),
        ("Pacific/Kiritimati", 14 * 60 + 5, 840),
        ("Pacific/Honolulu", 14 * 60 + 5, -600),
        ("America/New_York", 19 * 60 + 5, -300),
    ]);
    // From UTC at 00:05, London (same offset) is out.
    assert_eq!(choose_zone(0, &z), Some("Asia/Dubai"));
    // From Dubai, Dubai itself is out.
    assert_eq!(choose_zone(240, &z), Some("Europe/London"));
    assert_eq!(
        choose_zone(30, &z),
        Some("Asia/Dubai"),
        "half an hour is not enough"
    );
    assert_eq!(choose_zone(0, &zones(&[("Europe/London", 5, 0)])), None);
}

/// For every minute of a day, from UTC, the candidates give a zone less than an hour past
/// midnight (less than two in the first hour of the UTC day, when the ideal zone is UTC
/// itself): items older than that drop out of "today".
#[test]
fn every_moment_has_a_zone_just_past_midnight() {
    let offsets: Vec<i32> = (-11..=14).map(|h| h * 60).collect();
    for utc_minute in (0..24 * 60).step_by(7) {
        let z: Vec<(String, i32, i32)> = offsets
            .iter()
            .map(|o| (format!("Z{o}"), (utc_minute + o).rem_euclid(24 * 60), *o))
            .collect();
        let (_, local, offset) = z
            .iter()
            .find(|(n, _, _)| Some(n.as_str()) == choose_zone(0, &z))
            .unwrap();
        let bound = if utc_minute < 60 { 120 } else { 60 };
        assert!(*local < bound, "utc minute {utc_minute}: local {local}");
        assert_ne!(*offset, 0);
    }
}

#[test]
fn build_checks_modes_and_their_params() {
    let b = |p: &[(&str, &str)]| build("time-drift", &app1(), p);
    assert_eq!(
        b(&[]).unwrap(),
        Fault::TimeDrift(TimeDrift::Timezone(Timezone::default()))
    );
    assert_eq!(
        b(&[("mode", "clock")]).unwrap(),
        Fault::TimeDrift(TimeDrift::Clock(Clock {
            offset_s: -10_800,
            sync_units: None
        }))
    );
    let err = |p: &[(&str, &str)]| b(p).unwrap_err().to_string();
    assert_eq!(
        err(&[("mode", "clock"), ("zone", "Asia/Tokyo")]),
        "time-drift: --param zone=\"Asia/Tokyo\" is not valid: it is for mode=timezone"
    );
    assert_eq!(
        err(&[("offset", "-3h")]),
        "time-drift: --param offset=\"-3h\" is not valid: it is for mode=clock"
    );
    assert_eq!(
        err(&[("zone", "../../etc/passwd")]),
        "time-drift: --param zone=\"../../etc/passwd\" is not valid: write a zone name like Asia/Tokyo"
    );
    assert_eq!(
        err(&[("mode", "clock"), ("offset", "10s")]),
        "time-drift: --param offset=\"10s\" is not valid: it must be between 1m and 30d, either way"
    );
    assert_eq!(
        err(&[("mode", "sundial")]),
        "time-drift: --param mode=\"sundial\" is not valid: choose one of: timezone, clock"
    );
}

#[test]
fn records_keep_the_mode_beside_the_kind() {
    let f = build(
        "time-drift",
        &app1(),
        &[("mode", "clock"), ("offset", "+90m")],
    )
    .unwrap();
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"kind": "time-drift", "mode": "clock", "offset_s": 5400, "sync_units": null})
    );
    assert_eq!(serde_json::from_value::<Fault>(json).unwrap(), f);
}

const TZ_INJECT: &str = r#"set -e
R=''
t=$(mktemp -u "$R/etc/.localtime.XXXXXX")
ln -s /usr/share/zoneinfo/Pacific/Kiritimati "$t"
mv -fT "$t" "$R/etc/localtime"
if [ -f "$R/etc/timezone" ]; then echo Pacific/Kiritimati > "$R/etc/timezone"; fi
echo "local=$(TZ=":$R/etc/localtime" date '+%Y-%m-%d %H:%M %Z')"
"#;

const TZ_VERIFY: &str = r#"R=''
echo "link=$(readlink "$R/etc/localtime")"
echo "local=$(TZ=":$R/etc/localtime" date '+%Y-%m-%d %H:%M %Z')"
"#;

const TZ_REVERT: &str = r#"set -e
R=''
if [ "$(readlink "$R/etc/localtime")" != /usr/share/zoneinfo/Etc/UTC ]; then
t=$(mktemp -u "$R/etc/.localtime.XXXXXX")
ln -s /usr/share/zoneinfo/Etc/UTC "$t"
mv -fT "$t" "$R/etc/localtime"
echo "restored /etc/localtime -> "/usr/share/zoneinfo/Etc/UTC
fi
if [ "$(cat "$R/etc/timezone" 2>/dev/null)" != Etc/UTC ]; then printf '%s\n' Etc/UTC > "$R/etc/timezone"; echo 'restored /etc/timezone'; fi
"#;

#[tokio::test]
async fn timezone_inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let fault = build("time-drift", &app1(), &[]).unwrap();
    let prepare = {
        let mut f = fault.clone();
        f.ops().prepare_script()
    };
    assert!(prepare.starts_with("R=''\nif [ -L \"$R/etc/localtime\" ]; then echo \"link=$(readlink \"$R/etc/localtime\")\"\n"), "{prepare}");
    assert!(
        prepare.contains(&format!("for z in {}; do\n", CANDIDATES.join(" "))),
        "{prepare}"
    );
    let node = FakeRemote::new("app1")
        .once(
            exact(&sudo(&prepare)),
            ok("link=/usr/share/zoneinfo/Etc/UTC\ntimezone_file=Etc/UTC\ncurrent=+0000\n\
                zone=Europe/London 1030+0100\nzone=Asia/Tokyo 1830+0900\nzone=Pacific/Kiritimati 0030+1400\n\
                zone=Pacific/Honolulu 0030-1000\n"),
        )
        .once(exact(&sudo(TZ_INJECT)), ok("local=2024-05-02 00:30 +14\n"))
        .once(
            exact(&sudo(TZ_VERIFY)),
            ok("link=/usr/share/zoneinfo/Pacific/Kiritimati\nlocal=2024-05-02 00:31 +14\n"),
        )
        .once(exact(&sudo(TZ_REVERT)), ok("restored /etc/localtime -> /usr/share/zoneinfo/Etc/UTC\nrestored /etc/timezone\n"));
    let engine = bench.engine(&node, "d");
    let mut rec = FaultRecord::new("app1", fault);
    engine.inject(&mut rec, None).await.unwrap();
    let Fault::TimeDrift(TimeDrift::Timezone(z)) = &rec.fault else {
        panic!()
    };
    // Kiritimati comes before Honolulu in the list and is as early in its day.
    assert_eq!(z.zone.as_deref(), Some("Pacific/Kiritimati"));
    assert_eq!(
        z.previous,
        Some(Localtime::Link {
            target: "/usr/share/zoneinfo/Etc/UTC".into()
        })
    );
    assert_eq!(z.previous_timezone_file.as_deref(), Some("Etc/UTC"));
    let mut stored = bench.stored("f1");
    assert_eq!(
        engine.verify(&mut stored).await.unwrap(),
        Verdict {
            active: true,
            detail: "timezone Pacific/Kiritimati (was Etc/UTC); local time 2024-05-02 00:31 +14"
                .into()
        }
    );
    assert_eq!(
        engine.revert(&mut stored).await.unwrap(),
        Reverted::Done(vec![
            "restored /etc/localtime -> /usr/share/zoneinfo/Etc/UTC".into(),
            "restored /etc/timezone".into()
        ])
    );
    node.assert_all_used();
}

#[test]
fn a_requested_zone_must_exist_and_differ() {
    let mut z = Timezone {
        requested: Some("Asia/Tokyo".into()),
        ..Timezone::default()
    };
    assert!(z.prepare_script().contains("for z in Asia/Tokyo; do\n"));
    let fields = |s: &str| crate::faults::text::Fields::parse(s);
    assert_eq!(
        z.prepared(&fields("link=/usr/share/zoneinfo/Etc/UTC\ncurrent=+0000\n")),
        Err("the node has no zone Asia/Tokyo (/usr/share/zoneinfo/Asia/Tokyo is missing)".into())
    );
    assert_eq!(
        z.prepared(&fields("link=x\ncurrent=+0900\nzone=Asia/Tokyo 1200+0900\n")),
        Err("Asia/Tokyo has the node's current UTC offset, so nothing would change; choose a zone many hours away".into())
    );
    assert_eq!(
        z.prepared(&fields(
            "link=x\ncurrent=+0000\nzone=Asia/Tokyo 1200+0900\n"
        )),
        Ok(())
    );
    assert_eq!(z.zone.as_deref(), Some("Asia/Tokyo"));
}

/// The scripts for real against a stand-in root: a symlinked /etc/localtime is replaced and
/// restored, then a copied one (a regular file) comes back byte for byte.
#[test]
fn timezone_scripts_switch_and_restore_a_stand_in_root() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::create_dir_all(r.join("usr/share")).unwrap();
    std::os::unix::fs::symlink("/usr/share/zoneinfo", r.join("usr/share/zoneinfo")).unwrap();
    std::os::unix::fs::symlink("/usr/share/zoneinfo/Etc/UTC", r.join("etc/localtime")).unwrap();
    std::fs::write(r.join("etc/timezone"), "Etc/UTC\n").unwrap();
    let sh = crate::faults::testing::sh;
    let fields = |o: &crate::remote::Output| crate::faults::text::Fields::parse(&o.stdout_str());

    let mut z = Timezone {
        root: r.to_str().unwrap().to_string(),
        ..Timezone::default()
    };
    let out = sh(&z.prepare_script());
    assert!(out.success(), "{out:?}");
    z.prepared(&fields(&out)).unwrap();
    let chosen = z.zone.clone().unwrap();
    assert!(CANDIDATES.contains(&chosen.as_str()), "{chosen}");
    let out = sh(&z.inject_script());
    assert!(out.success(), "{out:?}");
    assert_eq!(
        std::fs::read_link(r.join("etc/localtime"))
            .unwrap()
            .to_str()
            .unwrap(),
        format!("/usr/share/zoneinfo/{chosen}")
    );
    assert_eq!(
        std::fs::read_to_string(r.join("etc/timezone")).unwrap(),
        format!("{chosen}\n")
    );
    assert!(z.verdict(&fields(&sh(&z.verify_script()))).active);
    let out = sh(&z.revert_script());
    assert_eq!(
        out.stdout_str(),
        "restored /etc/localtime -> /usr/share/zoneinfo/Etc/UTC\nrestored /etc/timezone\n"
    );
    assert_eq!(
        std::fs::read_link(r.join("etc/localtime"))
            .unwrap()
            .to_str()
            .unwrap(),
        "/usr/share/zoneinfo/Etc/UTC"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("etc/timezone")).unwrap(),
        "Etc/UTC\n"
    );
    assert!(!z.verdict(&fields(&sh(&z.verify_script()))).active);
    assert_eq!(
        sh(&z.revert_script()).stdout_str(),
        "",
        "a second revert changes nothing"
    );

    // A copied zone file instead of a link, and no /etc/timezone.
    std::fs::remove_file(r.join("etc/localtime")).unwrap();
    std::fs::remove_file(r.join("etc/timezone")).unwrap();
    let original = std::fs::read("/usr/share/zoneinfo/Europe/Paris").unwrap();
    std::fs::write(r.join("etc/localtime"), &original).unwrap();
    let mut z = Timezone {
        root: r.to_str().unwrap().to_string(),
        requested: Some("Asia/Tokyo".into()),
        ..Timezone::default()
    };
    z.prepared(&fields(&sh(&z.prepare_script()))).unwrap();
    assert!(matches!(z.previous, Some(Localtime::File { .. })));
    assert!(sh(&z.inject_script()).success());
    assert!(!r.join("etc/timezone").exists());
    assert_eq!(
        sh(&z.revert_script()).stdout_str(),
        "restored /etc/localtime\n"
    );
    let meta = std::fs::symlink_metadata(r.join("etc/localtime")).unwrap();
    assert!(meta.is_file());
    assert_eq!(std::fs::read(r.join("etc/localtime")).unwrap(), original);
    let leftovers: Vec<_> = std::fs::read_dir(r.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("localtime")]);
}

const CLOCK_PREPARE: &str = r#"for u in chrony.service systemd-timesyncd.service; do
  echo "sync=$u $(systemctl is-active $u 2>/dev/null)"
done
echo "now=$(date +%s)"
"#;

const CLOCK_INJECT: &str = r#"set -e
systemctl stop chrony.service
step() { ns=$(date +%s%N); ns=$((ns + $1)); date -s "@$((ns / 1000000000)).$(printf %09d $((ns % 1000000000)))" >/dev/null; }
step -10800000000000
echo "now=$(date +%s)"
"#;

fn clock_revert(reference: &str) -> String {
    format!(
        r#"set -e
off=-10800
{reference}
step() {{ ns=$(date +%s%N); ns=$((ns + $1)); date -s "@$((ns / 1000000000)).$(printf %09d $((ns % 1000000000)))" >/dev/null; }}
if [ -z "$ref" ]; then step 10800000000000; echo "stepped the clock back by +3h"
else
  d=$(($(date +%s) - ref))
  if [ $((d - off)) -ge -120 ] && [ $((d - off)) -le 120 ]; then step 10800000000000; echo "stepped the clock back by +3h"
  elif [ $d -lt -120 ] || [ $d -gt 120 ]; then
    date -s "@$ref" >/dev/null; echo "set the clock to the reference time (it was off by ${{d}}s)"
  fi
fi
if ! systemctl is-active --quiet chrony.service; then systemctl start chrony.service; echo "started chrony.service"; fi
"#
    )
}

#[tokio::test]
async fn clock_inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let host_now = crate::faults::text::unix_now();
    let node_now = host_now - 10_800;
    let node = FakeRemote::new("db")
        .once(
            exact(&sudo(CLOCK_PREPARE)),
            ok(&format!("sync=chrony.service active\nsync=systemd-timesyncd.service inactive\nnow={host_now}\n")),
        )
        .once(exact(&sudo(CLOCK_INJECT)), ok(&format!("now={node_now}\n")))
        .once(
            prefix("sudo -n sh -c 'echo \"now=$(date +%s)\"\n"),
            ok(&format!("now={node_now}\nsync=chrony.service inactive\nsync=systemd-timesyncd.service inactive\n")),
        )
        .once(prefix("sudo -n sh -c 'set -e\noff=-10800\nref="), ok("stepped the clock back by +3h\nstarted chrony.service\n"));
    let engine = bench.engine(&node, "d");
    let fault = build("time-drift", &app1(), &[("mode", "clock")]).unwrap();
    let mut rec = FaultRecord::new("db", fault);
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        rec.fault,
        Fault::TimeDrift(TimeDrift::Clock(Clock {
            offset_s: -10_800,
            sync_units: Some(vec!["chrony.service".into()])
        }))
    );
    let v = engine.verify(&mut rec).await.unwrap();
    assert!(v.active, "{v:?}");
    assert!(
        v.detail.starts_with("clock -3h")
            && v.detail
                .ends_with(" from firedrill's host (stepped -3h); chrony.service inactive")
            || v.detail
                == "clock -2h59m59s from firedrill's host (stepped -3h); chrony.service inactive",
        "{}",
        v.detail
    );
    let done = engine.revert(&mut rec).await.unwrap();
    assert_eq!(
        done,
        Reverted::Done(vec![
            "stepped the clock back by +3h".into(),
            "started chrony.service".into()
        ])
    );
    // The reference is this host's clock at the time of the revert.
    let revert_cmd = &node.commands()[3];
    let reference = revert_cmd
        .split("\nref=")
        .nth(1)
        .and_then(|r| r.split('\n').next())
        .unwrap();
    let t: i64 = reference.parse().unwrap();
    assert!((t - crate::faults::text::unix_now()).abs() <= 5);
    assert_eq!(*revert_cmd, sudo(&clock_revert(&format!("ref={t}"))));
    node.assert_all_used();
}

#[test]
fn the_timer_revert_uses_the_hardware_clock() {
    let c = Clock {
        offset_s: -10_800,
        sync_units: Some(vec!["chrony.service".into()]),
    };
    assert_eq!(
        c.revert_script(None),
        clock_revert("ref=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null || true)")
    );
}

/// The clock revert's decisions, for real in sh, with `date` and `systemctl` standing in as
/// scripts that log what they would do: this host's clock is never touched.
#[test]
fn clock_revert_steps_back_only_a_clock_that_still_has_the_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path();
    let log = bin.join("log");
    std::fs::write(
        bin.join("date"),
        format!(
            "#!/bin/sh\ncase \"$1\" in\n +%s) echo $NODE_NOW ;;\n +%s%N) echo ${{NODE_NOW}}000000000 ;;\n -s) echo \"date -s $2\" >> {log} ;;\nesac\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::write(
        bin.join("systemctl"),
        format!(
            "#!/bin/sh\necho \"systemctl $*\" >> {}\n[ \"$1\" != is-active ]\n",
            log.display()
        ),
    )
    .unwrap();
    for f in ["date", "systemctl"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let c = Clock {
        offset_s: -10_800,
        sync_units: Some(vec!["chrony.service".into()]),
    };
    let host = 1_700_000_000i64;
    let run = |node_now: i64| {
        let _ = std::fs::remove_file(&log);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(c.revert_script(Some(host)))
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("NODE_NOW", node_now.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    };
    // Still 3 h behind (give or take a minute): stepped forward by 3 h, sync restarted.
    assert_eq!(
        run(host - 10_800 + 30),
        (
            "stepped the clock back by +3h\nstarted chrony.service\n".to_string(),
            format!(
                "date -s @{}.000000000\nsystemctl is-active --quiet chrony.service\nsystemctl start chrony.service\n",
                host + 30
            )
        )
    );
    // Already fixed by the learner: the clock is left alone.
    assert_eq!(run(host + 2).0, "started chrony.service\n");
    assert!(!run(host + 2).1.contains("date -s"));
    // Wrong in some other way: set to the reference.
    assert_eq!(
        run(host + 5000),
        (
            "set the clock to the reference time (it was off by 5000s)\nstarted chrony.service\n"
                .to_string(),
            format!(
                "date -s @{host}\nsystemctl is-active --quiet chrony.service\nsystemctl start chrony.service\n"
            )
        )
    );
    // The inject's step, with the same stand-in.
    let _ = std::fs::remove_file(&log);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(c.inject_script())
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("NODE_NOW", host.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!(
            "systemctl stop chrony.service\ndate -s @{}.000000000\n",
            host - 10_800
        )
    );
}
