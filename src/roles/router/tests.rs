use super::*;
use crate::golden::assert_golden;
use crate::roles::OptionsByRole;
use crate::spec::testutil::{problems, valid};

const LAB: &str = "name: net
networks:
  - {name: lan, cidr: 10.77.0.0/24}
  - {name: dmz-1, cidr: 10.80.0.0/24, mode: routed, router: gw}
nodes:
  - name: gw
    roles: [router]
    networks: [{name: lan, ip: 10.77.0.2}, {name: dmz-1, ip: 10.80.0.2}]
    router: {forward: drop, allow: [{from: lan, to: dmz-1, tcp: [80, 3306]}, {from: dmz-1, to: lan}], masquerade: [dmz-1]}
";

fn context(options: Options) -> NodeContext {
    NodeContext {
        lab: "net".into(),
        node: "gw".into(),
        ip: "10.77.0.2".parse().unwrap(),
        subnet: "10.77.0.0/24".parse().unwrap(),
        clients: Vec::new(),
        roles: vec![crate::roles::RoleConfig::Router(options)],
        peers: Vec::new(),
    }
}

/// The router role's settings in `ctx`.
fn router(ctx: &NodeContext) -> &Config {
    ctx.roles
        .iter()
        .find_map(|c| match c {
            crate::roles::RoleConfig::Router(c) => Some(c),
            _ => None,
        })
        .expect("a router node")
}

fn options_of(text: &str) -> Options {
    valid(text).nodes[0]
        .options
        .router()
        .cloned()
        .expect("router options")
}

#[test]
fn the_lab_file_becomes_a_readable_nftables_conf() {
    let o = options_of(LAB);
    assert_eq!(o.forward, "drop");
    assert_eq!(
        o.allow[0],
        Allow {
            from: "lan".into(),
            to: "dmz-1".into(),
            tcp: vec![80, 3306]
        }
    );
    let conf = render_nftables(&context(o.clone()), &o).expect("renders");
    assert_golden("roles/router-nftables.conf", &conf);
    assert!(conf.contains("define dmz_1 = 10.80.0.0/24\n"), "{conf}");
    assert!(
        conf.contains("ip saddr $lan ip daddr $dmz_1 tcp dport { 80, 3306 } accept\n"),
        "{conf}"
    );
    assert!(
        conf.contains("ip saddr $dmz_1 ip daddr $lan accept\n"),
        "{conf}"
    );
    assert!(
        conf.contains("ip saddr $dmz_1 ip daddr != $dmz_1 masquerade\n"),
        "{conf}"
    );
}

#[test]
fn without_a_block_it_forwards_everything() {
    let text = LAB.replace(
        "    router: {forward: drop, allow: [{from: lan, to: dmz-1, tcp: [80, 3306]}, {from: dmz-1, to: lan}], masquerade: [dmz-1]}\n",
        "",
    );
    let o = options_of(&text);
    assert_eq!(
        (o.forward.as_str(), o.allow.len(), o.masquerade.len()),
        ("accept", 0, 0)
    );
    let conf = render_nftables(&context(o.clone()), &o).expect("renders");
    assert!(conf.contains("policy accept;"), "{conf}");
}

#[test]
fn unknown_networks_and_policies_are_reported_where_they_are() {
    let text = LAB
        .replace("forward: drop", "forward: reject")
        .replace("masquerade: [dmz-1]", "masquerade: [dmz-2]");
    assert_eq!(
        problems(&text),
        [
            "t.yaml:9:23: nodes[0].router.forward: `reject` is not a forwarding policy\n  \
             hint: use `accept` (forward everything) or `drop` (only what `allow` lists)",
            "t.yaml:9:118: nodes[0].router.masquerade[0]: no network named `dmz-2`\n  \
             hint: did you mean `dmz-1`? (networks: lan, dmz-1)",
        ]
    );
}

#[test]
fn health_reads_the_kernel_forwarding_switch() {
    let out = |s: &str| Output {
        status: 0,
        stdout: s.as_bytes().to_vec(),
        stderr: Vec::new(),
    };
    assert!(judge_health(&out("1\n")).ok);
    let off = judge_health(&out("0\n"));
    assert!(!off.ok);
    assert_eq!(off.detail, "not forwarding: net.ipv4.ip_forward is off");
}

mod apply {
    use super::*;
    use crate::remote::fake::{FakeRemote, answer, contains};
    use crate::roles::files::state_script;
    use crate::roles::role_tests::{
        as_root, commands, run_apply, service_cmd, state_of, uploads_of,
    };

    fn fake(files: &str, service: &str) -> FakeRemote {
        FakeRemote::new("gw")
            .answers(contains("sha256sum"), vec![answer(0, files)])
            .answers(contains("chown"), vec![answer(0, "")])
            .answers(contains("sysctl -q -w"), vec![answer(0, "")])
            .answers(contains("systemctl is-enabled"), vec![answer(3, service)])
            .answers(contains("systemctl enable"), vec![answer(0, "")])
            .answers(contains("systemctl start"), vec![answer(0, "")])
            .answers(contains("systemctl reload"), vec![answer(0, "")])
    }

    #[tokio::test]
    async fn a_fresh_router_forwards_now_and_loads_its_rules() {
        let ctx = context(options_of(LAB));
        let files = managed(&ctx, router(&ctx)).expect("renders");
        let fake = fake("missing\nmissing\n", "disabled\ninactive\n");
        let (result, _) = run_apply(&fake, &ctx).await;
        let report = result.expect("apply succeeds");
        assert_eq!(
            commands(&fake.calls()),
            vec![
                as_root(&state_script(&[SYSCTL_PATH, NFTABLES_PATH])),
                uploads_of(&files[0..=1]),
                as_root(FORWARDING_ON),
                state_of(SERVICE),
                service_cmd("enable --no-reload", "nftables.service"),
                service_cmd("start", "nftables.service"),
            ]
        );
        assert_eq!(
            report.changed,
            vec![
                "/etc/sysctl.d/60-firedrill-router.conf updated",
                "/etc/nftables.conf updated",
                "IP forwarding on",
                "nftables.service enabled",
                "nftables.service started",
            ]
        );
    }

    #[tokio::test]
    async fn new_rules_are_reloaded_and_forwarding_left_alone() {
        let ctx = context(options_of(LAB));
        let files = managed(&ctx, router(&ctx)).expect("renders");
        let sysctl_in_place = crate::roles::role_tests::in_place(&files[..1]);
        let fake = fake(
            &format!("{sysctl_in_place}0000 755 root:root\n"),
            "enabled\nactive\n",
        );
        let (result, _) = run_apply(&fake, &ctx).await;
        assert_eq!(
            result.expect("apply succeeds").changed,
            vec!["/etc/nftables.conf updated", "nftables.service reloaded"]
        );
    }
}
