use super::*;
use crate::spec::testutil::{HEAD, problems};

fn parse_lab(text: &str) -> (Option<Lab>, Vec<String>) {
    let (lab, problems) = parse(Path::new("t.yaml"), text);
    (lab, problems.iter().map(ToString::to_string).collect())
}

fn at<T>(value: T, line: usize, column: usize) -> At<T> {
    At {
        value,
        pos: Pos { line, column },
    }
}

#[test]
fn parses_every_field_with_its_position() {
    let text = "name: demo\n\
                defaults: {image: debian-12, cpus: 2, memory: 1024, disk: 10}\n\
                networks:\n  - {name: lan, cidr: 10.77.0.0/24, mode: isolated, domain: demo.test}\n\
                nodes:\n  - name: web\n    roles: [app, mysql]\n    ip: 10.77.0.10\n    network: lan\n    \
                image: other\n    cpus: 1\n    memory: \"384\"\n    disk: 0x10\n    \
                app: {database: web, port: 80}\n    haproxy: {backends: [web]}\n";
    let (lab, problems) = parse_lab(text);
    assert_eq!(problems, Vec::<String>::new());
    let lab = lab.expect("lab");
    assert_eq!(lab.name, at("demo".to_string(), 1, 7));
    assert_eq!(
        lab.defaults,
        Defaults {
            image: Some(at("debian-12".to_string(), 2, 19)),
            cpus: Some(at(2, 2, 36)),
            memory: Some(at(1024, 2, 47)),
            disk: Some(at(10, 2, 59)),
        }
    );
    assert_eq!(
        lab.networks.value,
        vec![Network {
            pos: Pos { line: 4, column: 5 },
            name: at("lan".to_string(), 4, 12),
            cidr: at("10.77.0.0/24".to_string(), 4, 23),
            mode: Some(at(NetMode::Isolated, 4, 43)),
            router: None,
            domain: Some(at("demo.test".to_string(), 4, 61)),
            dns: vec![],
        }]
    );
    let node = &lab.nodes.value[0];
    assert_eq!(node.pos, Pos { line: 6, column: 5 });
    assert_eq!(
        node.roles,
        vec![at(Role::App, 7, 13), at(Role::Mysql, 7, 18)]
    );
    assert_eq!(node.ip, Some(at("10.77.0.10".to_string(), 8, 9)));
    assert_eq!(node.network, Some(at("lan".to_string(), 9, 14)));
    assert_eq!(node.image, Some(at("other".to_string(), 10, 12)));
    // A quoted number and a hex number are both numbers.
    assert_eq!(node.memory, Some(at(384, 12, 13)));
    assert_eq!(node.disk, Some(at(16, 13, 11)));
    // Each role's block is kept as written, with its place, for the role to read.
    let blocks: Vec<(&str, Pos)> = node
        .role_options
        .iter()
        .map(|(k, y)| (k.name.as_str(), y.pos))
        .collect();
    assert_eq!(
        blocks,
        [
            (
                "app",
                Pos {
                    line: 14,
                    column: 10
                }
            ),
            (
                "haproxy",
                Pos {
                    line: 15,
                    column: 14
                }
            ),
        ]
    );
}

#[test]
fn scalars_of_other_types_are_text_in_string_fields() {
    let (lab, problems) = parse_lab(&format!("{HEAD}  - name: 12\n    image: 1.5\n"));
    assert_eq!(problems, Vec::<String>::new());
    let node = &lab.expect("lab").nodes.value[0];
    assert_eq!(node.name.value, "12");
    assert_eq!(node.image.as_ref().map(|i| i.value.as_str()), Some("1.5"));
}

#[test]
fn unknown_key_suggests_the_close_one() {
    assert_eq!(
        problems(&format!("{HEAD}  - name: web\n    memroy: 512\n")),
        ["t.yaml:7:5: nodes[0].memroy: unknown key `memroy`\n  hint: did you mean `memory`?"]
    );
}

#[test]
fn unknown_key_without_a_close_one_lists_the_keys() {
    assert_eq!(
        problems(
            "name: t\ncolour: red\nnetworks: [{name: lan, cidr: 10.77.0.0/24}]\nnodes: [{name: a}]\n"
        ),
        [
            "t.yaml:2:1: colour: unknown key `colour`\n  hint: keys allowed here: name, defaults, networks, nodes"
        ]
    );
}

#[test]
fn repeated_key_is_reported_with_the_first_line() {
    assert_eq!(
        problems(&format!("{HEAD}  - name: web\n    cpus: 1\n    cpus: 2\n")),
        [
            "t.yaml:8:5: nodes[0].cpus: `cpus` is given twice (first on line 7)\n  hint: keep only one of them"
        ]
    );
}

#[test]
fn missing_required_fields_point_at_their_mapping() {
    let text = "name: t\nnetworks:\n  - name: lan\nnodes:\n  - roles: [app]\n";
    assert_eq!(
        problems(text),
        [
            "t.yaml:3:5: networks[0]: missing required field `cidr`\n  \
             hint: add `cidr: A.B.C.D/N`, e.g. `cidr: 10.77.0.0/24`",
            "t.yaml:5:5: nodes[0]: missing required field `name`\n  \
             hint: add `name: NAME`, e.g. `name: web`",
        ]
    );
}

#[test]
fn missing_top_level_fields() {
    assert_eq!(
        problems("name: t\n"),
        [
            "t.yaml:1:1: missing required field `networks`\n  hint: add `networks:` with at least one network",
            "t.yaml:1:1: missing required field `nodes`\n  hint: add `nodes:` with at least one node",
        ]
    );
}

#[test]
fn a_key_without_value_is_reported() {
    assert_eq!(
        problems(&format!("{HEAD}  - name:\n")),
        [
            "t.yaml:6:5: nodes[0].name: `name` has no value\n  hint: add `name: NAME`, e.g. `name: web`"
        ]
    );
}

#[test]
fn wrong_types_are_reported_with_what_was_found() {
    let text = format!(
        "{HEAD}  - name: web\n    memory: lots\n    cpus: [1]\n    roles: app\n    app: {{port: 70000}}\n"
    );
    assert_eq!(
        problems(&text),
        [
            "t.yaml:7:13: nodes[0].memory: expected a whole number, found `lots`\n  \
             hint: memory is in MiB, e.g. `memory: 512`",
            "t.yaml:8:11: nodes[0].cpus: expected a whole number, found a list\n  \
             hint: the number of virtual CPUs, e.g. `cpus: 1`",
            "t.yaml:9:12: nodes[0].roles: expected a list of roles, found `app`\n  \
             hint: write a list, e.g. `roles: [app]`",
            // Validation goes on without the roles it could not read, hence the last error; the
            // app's block is read by the app role once the node has it (`app_port_out_of_range`).
            "t.yaml:10:5: nodes[0].app: `app:` options on node `web`, which has no `app` role\n  \
             hint: add `app` to its `roles`, or remove `app:`",
        ]
    );
}

#[test]
fn negative_numbers_are_out_of_range() {
    assert_eq!(
        problems(&format!("{HEAD}  - name: web\n    disk: -1\n")),
        ["t.yaml:7:11: nodes[0].disk: -1 is out of range\n  hint: disk is in GiB, e.g. `disk: 8`"]
    );
}

#[test]
fn unknown_role_suggests_and_lists_the_roles() {
    assert_eq!(
        problems(&format!("{HEAD}  - name: web\n    roles: [mysql, apps]\n")),
        ["t.yaml:7:20: nodes[0].roles[1]: unknown role `apps`\n  \
          hint: did you mean `app`? Roles are: router, dns, mysql, postgres, app, haproxy, nginx, monitor"]
    );
    assert_eq!(
        problems(&format!("{HEAD}  - name: web\n    roles: [cache]\n")),
        ["t.yaml:7:13: nodes[0].roles[0]: unknown role `cache`\n  \
          hint: roles are: router, dns, mysql, postgres, app, haproxy, nginx, monitor"]
    );
}

#[test]
fn unknown_network_mode() {
    let text = "name: t\nnetworks:\n  - {name: lan, cidr: 10.77.0.0/24, mode: bridge}\nnodes: [{name: a}]\n";
    assert_eq!(
        problems(text),
        [
            "t.yaml:3:43: networks[0].mode: unknown network mode `bridge`\n  \
          hint: use `nat` (the nodes reach the outside through the host), `isolated` (they do not) or `routed` with `router: NODE` (through a node of the lab)"
        ]
    );
}

#[test]
fn a_section_that_is_not_a_mapping() {
    assert_eq!(
        problems(
            "name: t\ndefaults: [1]\nnetworks: [{name: lan, cidr: 10.77.0.0/24}]\nnodes: [{name: a}]\n"
        ),
        [
            "t.yaml:2:11: defaults: expected a mapping, found a list\n  \
          hint: give `key: value` lines here; keys allowed: image, cpus, memory, disk"
        ]
    );
}

#[test]
fn nodes_that_is_not_a_list() {
    assert_eq!(
        problems("name: t\nnetworks: []\nnodes: web\n"),
        ["t.yaml:3:8: nodes: expected a list, found `web`\n  \
          hint: write one `- ` entry per item on its own line, indented under the key"]
    );
}

#[test]
fn empty_file() {
    assert_eq!(
        problems(""),
        ["t.yaml:1:1: the lab file is empty\n  \
          hint: start from labs/minimal.yaml: it has `name`, `networks` and `nodes`"]
    );
}

#[test]
fn tabs_get_a_clear_message() {
    assert_eq!(
        problems(&format!("{HEAD}  - name: web\n\troles: [app]\n")),
        [
            "t.yaml:7:1: tab character in indentation: YAML indents with spaces only\n  \
          hint: replace the tab with spaces (for example two per level)"
        ]
    );
}

#[test]
fn syntax_errors_name_line_and_column() {
    assert_eq!(
        problems("name: [t\nnodes: 1\n"),
        [
            "t.yaml:2:6: YAML syntax error: illegal placement of ':' indicator\n  \
          hint: fix the YAML at this position: check indentation, colons, brackets and quotes"
        ]
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    // Two load problems and one validation problem, in file order.
    let text = format!("{HEAD}  - name: web\n    cpu: 1\n    ip: 10.0.0.5\n    roles: [ap]\n");
    assert_eq!(
        problems(&text),
        [
            "t.yaml:7:5: nodes[0].cpu: unknown key `cpu`\n  hint: did you mean `cpus`?",
            "t.yaml:8:9: nodes[0].ip: 10.0.0.5 is outside network `lan` (10.77.0.0/24)\n  \
             hint: pick an address from 10.77.0.2 to 10.77.0.254, or leave `ip:` out to get one assigned",
            "t.yaml:9:13: nodes[0].roles[0]: unknown role `ap`\n  \
             hint: did you mean `app`? Roles are: router, dns, mysql, postgres, app, haproxy, nginx, monitor",
        ]
    );
}

#[test]
fn check_reads_the_file_once_with_a_bound_and_reports_an_unreadable_one() {
    let host = crate::spec::testutil::host();
    let (lab, _) =
        crate::spec::check(Path::new("labs/minimal.yaml"), &host, false).expect("minimal is valid");
    assert_eq!(lab.name.as_str(), "minimal");
    assert_eq!(lab.nodes.len(), 2);
    let err = |path: &str| {
        crate::spec::check(Path::new(path), &host, false)
            .expect_err("unreadable")
            .to_string()
    };
    assert_eq!(
        err("labs/nope.yaml"),
        "labs/nope.yaml: cannot read the lab file: No such file or directory (os error 2)\n  \
         hint: check the path; ready-made labs are in labs/"
    );
    // Endless: refused after 4 MiB + 1 byte instead of growing until memory runs out.
    assert_eq!(
        err("/dev/zero"),
        "/dev/zero: cannot read the lab file: it is larger than 4 MiB, far more than a lab or level file needs\n  \
         hint: check the path; ready-made labs are in labs/"
    );
}
