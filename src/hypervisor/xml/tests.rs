use super::*;
use crate::golden::assert_golden;

fn network() -> NetworkSpec {
    NetworkSpec {
        name: "fd-minimal-lan".into(),
        lab: "minimal".into(),
        installation: "0123456789ab".into(),
        bridge: "fd1a2b3c4d".into(),
        mode: ForwardMode::Nat,
        domain: "minimal.lab".into(),
        cidr: "10.77.0.0/24".parse().unwrap(),
        gateway: "10.77.0.1".parse().unwrap(),
        hosts: vec![
            HostEntry {
                name: "web".into(),
                mac: "52:54:00:aa:bb:01".into(),
                ip: "10.77.0.10".parse().unwrap(),
            },
            HostEntry {
                name: "db".into(),
                mac: "52:54:00:aa:bb:02".into(),
                ip: "10.77.0.11".parse().unwrap(),
            },
        ],
        dns: vec![
            DnsHost {
                ip: "10.77.0.10".parse().unwrap(),
                names: vec!["web.minimal.lab".into(), "web".into()],
            },
            DnsHost {
                ip: "10.77.0.11".parse().unwrap(),
                names: vec!["db.minimal.lab".into(), "db".into()],
            },
        ],
    }
}

fn domain(accel: Accel) -> DomainSpec {
    DomainSpec {
        name: "fd-minimal-web".into(),
        lab: "minimal".into(),
        installation: "0123456789ab".into(),
        node: "web".into(),
        accel,
        memory_mib: 384,
        cpus: 1,
        kernel: "/home/u/.local/share/firedrill/images/debian-12/vmlinuz".into(),
        initrd: "/home/u/.local/share/firedrill/images/debian-12/initrd.img".into(),
        cmdline: crate::plan::kernel_cmdline(accel, true),
        disk: "/state/labs/minimal/nodes/web/disk.qcow2".into(),
        seed: "/state/labs/minimal/nodes/web/seed.iso".into(),
        console_log: "/state/labs/minimal/nodes/web/console.log".into(),
        network: "fd-minimal-lan".into(),
        mac: "52:54:00:aa:bb:01".into(),
        more_nics: Vec::new(),
        run_as: (1000, 1000),
    }
}

#[test]
fn network_xml_matches_golden() {
    assert_golden("network-nat.xml", &network_xml(&network()));
}

#[test]
fn isolated_network_has_no_forward() {
    let mut n = network();
    n.mode = ForwardMode::Isolated;
    let xml = network_xml(&n);
    assert!(!xml.contains("<forward"), "{xml}");
    assert!(xml.contains("<bridge name='fd1a2b3c4d'"));
}

#[test]
fn domain_xml_matches_golden_for_tcg_and_kvm() {
    assert_golden("domain-tcg.xml", &domain_xml(&domain(Accel::Tcg)));
    assert_golden("domain-kvm.xml", &domain_xml(&domain(Accel::Kvm)));
}

#[test]
fn values_are_escaped() {
    let mut d = domain(Accel::Tcg);
    d.disk = "/tmp/a&b<c>/disk.qcow2".into();
    let xml = domain_xml(&d);
    assert!(xml.contains("/tmp/a&amp;b&lt;c&gt;/disk.qcow2"), "{xml}");
}

#[test]
fn parse_reads_back_owner_bridge_and_normalised_subnet() {
    let p = parse(&network_xml(&network()));
    assert_eq!(p.lab.as_deref(), Some("minimal"));
    assert_eq!(p.bridge.as_deref(), Some("fd1a2b3c4d"));
    assert_eq!(p.cidr, Some("10.77.0.0/24".parse().unwrap()));
    let p = parse(&domain_xml(&domain(Accel::Kvm)));
    assert_eq!(p.lab.as_deref(), Some("minimal"));
    assert_eq!(p.node.as_deref(), Some("web"));
    // The overlay is writable; the seed is read-only (snapshots leave it out).
    assert_eq!(
        p.disks,
        [("vda".to_string(), false), ("vdb".to_string(), true)]
    );
}

#[test]
fn parse_ignores_metadata_of_other_namespaces() {
    let xml = "<network><name>default</name><metadata><x:lab xmlns:x='https://example.com/'>minimal</x:lab></metadata>\
               <bridge name='virbr0'/><ip address='192.168.122.1' prefix='24'/></network>";
    let p = parse(xml);
    assert_eq!(p.lab, None);
    assert_eq!(p.bridge.as_deref(), Some("virbr0"));
    assert_eq!(p.cidr, Some("192.168.122.0/24".parse().unwrap()));
}

#[test]
fn name_of_finds_the_name() {
    assert_eq!(name_of(&network_xml(&network())), "fd-minimal-lan");
    assert_eq!(name_of("<domain/>"), "?");
}

#[test]
fn an_object_of_another_firedrill_home_is_not_ours() {
    let xml = network_xml(&network());
    let parsed = parse(&xml);
    assert_eq!(parsed.owner("0123456789ab").as_deref(), Some("minimal"));
    assert_eq!(parsed.owner("ba9876543210"), None, "another home's lab");
    // Objects of older versions carry no home: still the lab's.
    let old = xml.replace(" home=\"0123456789ab\"", "");
    assert_eq!(
        parse(&old).owner("ba9876543210").as_deref(),
        Some("minimal")
    );
}

#[test]
fn the_translation_cache_is_a_quarter_of_the_guest_between_160_and_256_mib() {
    let sizes: Vec<u64> = [256, 384, 448, 768, 1024, 4096]
        .into_iter()
        .map(tb_cache_mib)
        .collect();
    assert_eq!(sizes, [160, 160, 160, 192, 256, 256]);
}

#[test]
fn tcg_domains_size_the_translation_cache_and_kvm_domains_leave_it_alone() {
    let spec = domain(Accel::Tcg);
    let tcg = domain_xml(&spec);
    assert!(
        tcg.contains(&format!(
            "  <features>\n    <acpi/>\n    <apic/>\n    <tcg>\n      <tb-cache unit='MiB'>{}</tb-cache>\n    </tcg>\n  </features>\n",
            tb_cache_mib(spec.memory_mib)
        )),
        "{tcg}"
    );
    let kvm = domain_xml(&domain(Accel::Kvm));
    assert!(!kvm.contains("<tcg>"), "{kvm}");
}
