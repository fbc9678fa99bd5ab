//! Golden files live in tests/golden/seed/; `FIREDRILL_UPDATE_GOLDEN=1 cargo test seed` rewrites
//! them after an intended template change (review the diff before committing).

use super::*;
use std::collections::BTreeSet;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/seed");
// A throwaway key pair made for these tests only.
const HOST_KEY: &str = include_str!("../tests/golden/seed/test_host_key");
const HOST_KEY_PUB: &str = include_str!("../tests/golden/seed/test_host_key.pub");
const USER_KEY_PUB: &str = include_str!("../tests/golden/seed/test_user_key.pub");

fn input() -> SeedInput {
    SeedInput {
        instance_id: "minimal-web-1a2b3c".into(),
        hostname: "web".into(),
        fqdn: "web.minimal.lab".into(),
        user: "lab".into(),
        authorized_key: USER_KEY_PUB.into(),
        host_key_private: HOST_KEY.into(),
        host_key_public: HOST_KEY_PUB.into(),
        mac: "52:54:00:AB:cd:01".into(),
        ip: Ipv4Addr::new(10, 77, 0, 10),
        prefix: 24,
        more_nics: Vec::new(),
        routes: Vec::new(),
        gateway: Ipv4Addr::new(10, 77, 0, 1),
        dns: Ipv4Addr::new(10, 77, 0, 1),
        domain: "minimal.lab".into(),
        time: TimeSource::Follow {
            server: "db.minimal.lab".into(),
        },
    }
}

fn golden(file: &str, actual: &str) {
    let path = Path::new(GOLDEN).join(file);
    if std::env::var_os("FIREDRILL_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("update golden file");
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(actual, expected, "{} differs", path.display());
}

#[test]
fn render_matches_golden_files() {
    let files = render(&input()).expect("render");
    golden("user-data", &files.user_data);
    golden("meta-data", &files.meta_data);
    golden("network-config", &files.network_config);
    golden("first-boot", &files.first_boot);
}

/// The first-boot script parses as POSIX sh (dash, what /bin/sh is on the nodes), in both of
/// its shapes: one NIC following the lab's time; two NICs with routes, serving time.
#[test]
fn the_first_boot_script_is_sh() {
    let mut two = input();
    two.more_nics = second_nic();
    two.routes = vec![("10.81.0.0/24".parse().unwrap(), Ipv4Addr::new(10, 80, 0, 3))];
    two.time = TimeSource::Serve {
        allow: vec!["10.77.0.0/24".into(), "10.80.0.0/24".into()],
    };
    let serving = render(&two).expect("renders").first_boot;
    golden("first-boot-routes", &serving);
    for script in [
        render(&input()).expect("renders").first_boot,
        serving.clone(),
    ] {
        crate::ssh::assert_sh_parses(&script);
        // Every here-document ends, and the keys and names went in unquoted only where they
        // are plain tokens.
        assert_eq!(
            script.matches("<<'FIREDRILL_EOF'").count(),
            script.lines().filter(|l| *l == "FIREDRILL_EOF").count()
        );
    }
    assert!(serving.contains("allow 10.77.0.0/24\nallow 10.80.0.0/24\nFIREDRILL_EOF\n"));
    assert!(serving.contains("nic 52:54:00:ab:cd:02 eth1\n"));
    assert!(serving.contains("ip route replace 10.81.0.0/24 via 10.80.0.3 dev eth1"));
}

/// The rendered YAML parses back to exactly the input values, keys with newlines included.
#[test]
fn rendered_yaml_carries_the_values_unchanged() {
    let files = render(&input()).expect("render");
    assert!(files.user_data.starts_with("#cloud-config\n"));
    let user: serde_json::Value = serde_saphyr::from_str(&files.user_data).expect("user-data YAML");
    assert_eq!(user["hostname"], "web");
    assert_eq!(user["fqdn"], "web.minimal.lab");
    assert_eq!(user["ssh_keys"]["ed25519_private"], HOST_KEY);
    assert_eq!(user["ssh_keys"]["ed25519_public"], HOST_KEY_PUB.trim());
    assert_eq!(user["users"][0]["name"], "lab");
    assert_eq!(user["users"][0]["sudo"], "ALL=(ALL) NOPASSWD:ALL");
    assert_eq!(
        user["users"][0]["ssh_authorized_keys"][0],
        USER_KEY_PUB.trim()
    );
    assert_eq!(user["ssh_pwauth"], false);
    assert_eq!(user["ssh_deletekeys"], true);
    assert_eq!(user["locale"], "C.UTF-8");
    assert_eq!(user["resize_rootfs"], true);
    assert_eq!(user["package_update"], false);
    assert_eq!(
        user["write_files"][0]["content"],
        "127.0.0.1\tlocalhost\n10.77.0.10\tweb.minimal.lab web\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    );

    let meta: serde_json::Value = serde_saphyr::from_str(&files.meta_data).expect("meta-data YAML");
    assert_eq!(
        meta,
        serde_json::json!({"instance-id": "minimal-web-1a2b3c", "local-hostname": "web"})
    );

    let net: serde_json::Value =
        serde_saphyr::from_str(&files.network_config).expect("network-config YAML");
    assert_eq!(
        net,
        serde_json::json!({
            "version": 2,
            "ethernets": {"eth0": {
                "match": {"macaddress": "52:54:00:ab:cd:01"},
                "set-name": "eth0",
                "addresses": ["10.77.0.10/24"],
                "gateway4": "10.77.0.1",
                "nameservers": {"addresses": ["10.77.0.1"], "search": ["minimal.lab"]}
            }}
        })
    );
}

/// The lab's time: a follower gets the server as a chrony source, the server serves its
/// networks, and either restarts chrony once at first boot; a seed without one has neither.
#[test]
fn the_lab_time_source_is_written_for_chrony() {
    let parse = |i: &SeedInput| -> serde_json::Value {
        serde_saphyr::from_str(&render(i).expect("render").user_data).expect("user-data YAML")
    };
    let file = |user: &serde_json::Value, path: &str| -> Option<String> {
        user["write_files"]
            .as_array()?
            .iter()
            .find(|f| f["path"] == path)
            .map(|f| f["content"].as_str().unwrap_or_default().to_string())
    };
    let restart = serde_json::json!([["systemctl", "restart", "chrony.service"]]);

    let follower = parse(&input());
    let sources = file(
        &follower,
        "/etc/chrony/sources.d/firedrill-lab-time.sources",
    );
    assert!(
        sources
            .as_deref()
            .is_some_and(|s| s.contains("\nserver db.minimal.lab iburst minpoll 4 maxpoll 6\n")),
        "{sources:?}"
    );
    assert_eq!(
        file(&follower, "/etc/chrony/conf.d/firedrill-lab-time.conf"),
        None
    );
    assert_eq!(follower["runcmd"], restart);

    let mut i = input();
    i.time = TimeSource::Serve {
        allow: vec!["10.77.0.0/24".into(), "10.78.0.0/24".into()],
    };
    let server = parse(&i);
    assert_eq!(
        file(&server, "/etc/chrony/conf.d/firedrill-lab-time.conf").as_deref(),
        Some(
            "# firedrill: this node is the lab's time source (the lab has no internet).\n\
             local stratum 8\nallow 10.77.0.0/24\nallow 10.78.0.0/24\n"
        )
    );
    assert_eq!(
        file(&server, "/etc/chrony/sources.d/firedrill-lab-time.sources"),
        None
    );
    assert_eq!(server["runcmd"], restart);

    i.time = TimeSource::Unset;
    let old = parse(&i);
    assert_eq!(old["write_files"].as_array().map(Vec::len), Some(1));
    assert!(old.get("runcmd").is_none());
}

#[test]
fn render_refuses_values_that_would_break_the_seed() {
    type Case = (fn(&mut SeedInput), &'static str);
    let cases: Vec<Case> = vec![
        (
            |i| i.hostname = "Web_1".into(),
            "seed of node Web_1: hostname must be a DNS label (a-z, 0-9, '-', at most 63) (got \"Web_1\")",
        ),
        (
            |i| i.fqdn = "web.other.lab".into(),
            "seed of node web: fqdn must be hostname.domain (got \"web.other.lab\")",
        ),
        (
            |i| i.domain = "minimal..lab".into(),
            "seed of node web: domain must be a DNS name like minimal.lab (got \"minimal..lab\")",
        ),
        (
            |i| i.user = "root".into(),
            "seed of node web: user must be a plain user name (a-z, 0-9, '_', '-'), not root (got \"root\")",
        ),
        (
            |i| i.instance_id = "a b".into(),
            "seed of node web: instance_id must be non-empty without spaces (got \"a b\")",
        ),
        (
            |i| i.authorized_key = "ssh-ed25519 AAAA\nssh-rsa BBBB".into(),
            "seed of node web: authorized_key must be one OpenSSH public key line (got \"ssh-ed25519 AAAA\\nssh-rsa BBBB\")",
        ),
        (
            |i| i.host_key_public = "ssh-rsa AAAA".into(),
            "seed of node web: host_key_public must be one `ssh-ed25519 ...` line (got \"ssh-rsa AAAA\")",
        ),
        (
            |i| i.host_key_private = "secret".into(),
            "seed of node web: host_key_private must be an OpenSSH private key (got \"(not shown)\")",
        ),
        (
            |i| i.mac = "52:54:00:ab:cd".into(),
            "seed of node web: mac must be six hex pairs like 52:54:00:12:34:56 (got \"52:54:00:ab:cd\")",
        ),
        (
            |i| i.prefix = 31,
            "seed of node web: prefix must be between 8 and 30 (got \"31\")",
        ),
        (
            |i| i.gateway = Ipv4Addr::new(10, 78, 0, 1),
            "seed of node web: gateway must be in the node's subnet (got \"10.78.0.1\")",
        ),
        (
            |i| i.ip = Ipv4Addr::new(10, 77, 0, 1),
            "seed of node web: ip must differ from the gateway (got \"10.77.0.1\")",
        ),
        (
            |i| {
                i.time = TimeSource::Follow {
                    server: "db.lab\nruncmd: [x]".into(),
                }
            },
            "seed of node web: time server must be a DNS name like db.minimal.lab (got \"db.lab\\nruncmd: [x]\")",
        ),
        (
            |i| {
                i.time = TimeSource::Serve {
                    allow: vec!["10.77.0.0/24 # x".into()],
                }
            },
            "seed of node web: time allow must be one or more IPv4 networks like 10.77.0.0/24 (got \"10.77.0.0/24 # x\")",
        ),
    ];
    for (change, message) in cases {
        let mut i = input();
        change(&mut i);
        assert_eq!(render(&i).expect_err(message).to_string(), message);
    }
}

/// Reads the ISO's primary volume descriptor (sector 16) for the volume label, and lists and
/// extracts files with isoinfo (package genisoimage) using Rock Ridge names.
#[test]
fn write_iso_makes_a_cidata_volume_with_the_seed_files() {
    let dir = std::env::temp_dir().join(format!("fd-seed-iso-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let iso = dir.join("seed.iso");
    let files = render(&input()).expect("render");
    write_iso(&files, &iso).expect("write_iso (needs genisoimage)");

    let bytes = std::fs::read(&iso).expect("read iso");
    let pvd = &bytes[16 * 2048..17 * 2048];
    assert_eq!(&pvd[..6], b"\x01CD001");
    assert_eq!(String::from_utf8_lossy(&pvd[40..72]).trim_end(), "cidata");
    assert_eq!(
        std::fs::metadata(&iso).expect("stat").permissions().mode() & 0o777,
        0o600
    );

    let isoinfo = |args: &[&str]| {
        let out = Command::new("isoinfo")
            .args(args)
            .arg("-i")
            .arg(&iso)
            .output()
            .expect("isoinfo (package genisoimage)");
        assert!(out.status.success(), "isoinfo {args:?} failed");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let listed: BTreeSet<String> = isoinfo(&["-R", "-f"]).lines().map(str::to_string).collect();
    let expected: BTreeSet<String> = ["/first-boot", "/meta-data", "/network-config", "/user-data"]
        .map(String::from)
        .into();
    assert_eq!(listed, expected);
    assert_eq!(isoinfo(&["-R", "-x", "/user-data"]), files.user_data);
    assert_eq!(isoinfo(&["-R", "-x", "/meta-data"]), files.meta_data);
    assert_eq!(
        isoinfo(&["-R", "-x", "/network-config"]),
        files.network_config
    );
    assert_eq!(isoinfo(&["-R", "-x", "/first-boot"]), files.first_boot);

    // Only the ISO is left behind: no staging dir, no temp file.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["seed.iso"]);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// eth1, on 10.80.0.0/24.
fn second_nic() -> Vec<SeedNic> {
    vec![SeedNic {
        mac: "52:54:00:ab:cd:02".into(),
        ip: Ipv4Addr::new(10, 80, 0, 2),
        prefix: 24,
    }]
}

#[test]
fn a_node_on_two_networks_with_routes() {
    let mut i = input();
    i.more_nics = second_nic();
    i.routes = vec![
        ("10.81.0.0/24".parse().unwrap(), Ipv4Addr::new(10, 80, 0, 3)),
        ("10.82.0.0/16".parse().unwrap(), Ipv4Addr::new(10, 77, 0, 4)),
    ];
    i.gateway = Ipv4Addr::new(10, 80, 0, 1);
    let files = render(&i).expect("renders");
    golden("network-config-two-nics", &files.network_config);
    let net: serde_json::Value =
        serde_saphyr::from_str(&files.network_config).expect("network-config YAML");
    assert_eq!(
        net["ethernets"]["eth1"],
        serde_json::json!({
            "match": {"macaddress": "52:54:00:ab:cd:02"},
            "set-name": "eth1",
            "addresses": ["10.80.0.2/24"],
            "gateway4": "10.80.0.1",
        })
    );
    golden("user-data-routes", &files.user_data);
    let user: serde_json::Value = serde_saphyr::from_str(&files.user_data).expect("user-data YAML");
    // /etc/hosts, the lab's time source, the route hook.
    assert_eq!(
        user["write_files"][2]["content"],
        "#!/bin/sh\n# Static routes from the lab file, written by firedrill. ifupdown runs this for each\n\
         # interface it brings up, with its name in $IFACE.\ncase \"$IFACE\" in\neth0)\n    \
         ip route replace 10.82.0.0/16 via 10.77.0.4 dev eth0\n    ;;\neth1)\n    \
         ip route replace 10.81.0.0/24 via 10.80.0.3 dev eth1\n    ;;\nesac\nexit 0\n"
    );
    assert_eq!(
        user["runcmd"],
        serde_json::json!([
            [
                "sh",
                "-c",
                "for i in eth0 eth1; do IFACE=$i /etc/network/if-up.d/firedrill-routes; done"
            ],
            ["systemctl", "restart", "chrony.service"]
        ])
    );
    assert!(net["ethernets"]["eth0"].get("gateway4").is_none());
    // A next hop on none of the NICs' subnets is refused.
    i.routes
        .push(("10.83.0.0/24".parse().unwrap(), Ipv4Addr::new(10, 99, 0, 1)));
    assert_eq!(
        render(&i).unwrap_err().to_string(),
        "seed of node web: route must go via an address in one of the node's subnets (got \"10.99.0.1\")"
    );
}
