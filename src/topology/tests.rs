use super::*;
use crate::golden::assert_golden;
use crate::spec::testutil::valid;

/// Two networks, a router on both, a node behind it and one in front that routes through it.
const TWO_NETWORKS: &str = "name: net
networks:
  - {name: lan, cidr: 10.77.0.0/24}
  - {name: dmz, cidr: 10.80.0.0/24, mode: routed, router: gw}
nodes:
  - name: gw
    networks: [{name: lan, ip: 10.77.0.2}, {name: dmz, ip: 10.80.0.2}]
  - {name: web, network: dmz, roles: [app, mysql]}
  - {name: pc, routes: [{to: dmz, via: gw}]}
";

#[test]
fn two_networks_in_every_format() {
    let lab = valid(TWO_NETWORKS);
    assert_golden("topology/two-networks.mmd", &render(&lab, Format::Mermaid));
    assert_golden("topology/two-networks.dot", &render(&lab, Format::Dot));
    assert_golden("topology/two-networks.svg", &render(&lab, Format::Svg));
}

#[test]
fn the_svg_is_well_formed_xml_with_every_address() {
    let lab = valid(TWO_NETWORKS);
    let svg = render(&lab, Format::Svg);
    let mut reader = quick_xml::Reader::from_str(&svg);
    let mut texts = Vec::new();
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Text(t)) => {
                let text: &str = t.as_ref();
                texts.push(text.trim().to_string());
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Err(e) => panic!("not well-formed: {e}"),
            _ => {}
        }
    }
    for want in [
        "10.77.0.2",
        "10.80.0.2",
        "10.80.0.10",
        "10.77.0.10",
        "app, mysql",
        "10.80.0.0/24 via 10.77.0.2",
    ] {
        assert!(
            texts.iter().any(|t| t == want),
            "{want} missing from {texts:?}"
        );
    }
}

#[test]
fn a_shipped_single_network_lab() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/three-tier.yaml");
    let text = std::fs::read_to_string(path).expect("shipped lab");
    assert_golden(
        "topology/three-tier.mmd",
        &render(&valid(&text), Format::Mermaid),
    );
}

#[test]
fn the_shipped_network_lab() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/network.yaml");
    let text = std::fs::read_to_string(path).expect("shipped lab");
    assert_golden("topology/network.svg", &render(&valid(&text), Format::Svg));
}
