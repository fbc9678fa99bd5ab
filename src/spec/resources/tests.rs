use crate::spec::testutil::{HEAD, host, problems, problems_with};

/// HEAD with `defaults:` after the name and the given node lines (the first node is on line 7).
fn lab(defaults: &str, nodes: &str) -> String {
    format!(
        "name: t\ndefaults: {{{defaults}}}\n{}{nodes}",
        &HEAD["name: t\n".len()..]
    )
}

#[test]
fn memory_below_what_the_image_needs_is_refused_once_per_place() {
    // Two nodes inherit 200 from `defaults`: reported once, where it is written.
    let yaml = lab(
        "memory: 200",
        "  - {name: a}\n  - {name: b}\n  - {name: c, memory: 255}\n  - {name: d, memory: 256}\n",
    );
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:2:20: defaults.memory: 200 MiB of memory is too little for image `debian-12`: it needs at least 256 MiB\n  \
             hint: give `memory: 256` or more (memory is in MiB), or leave it out for the default 512",
            "t.yaml:9:23: nodes[2].memory: 255 MiB of memory is too little for image `debian-12`: it needs at least 256 MiB\n  \
             hint: give `memory: 256` or more (memory is in MiB), or leave it out for the default 512",
        ]
    );
}

#[test]
fn memory_above_a_tebibyte_is_refused_even_with_force() {
    let yaml = lab(
        "",
        "  - {name: a, memory: 1048577}\n  - {name: b, memory: 1048576}\n",
    );
    assert_eq!(
        problems_with(&yaml, &host(), true),
        [
            "t.yaml:7:3: nodes: the nodes need 2097153 MiB of memory in total but this host has 16384 MiB; going ahead because of `--force`\n  \
             hint: the host may swap or kill VMs; lower `memory` on some nodes to avoid it",
            "t.yaml:7:23: nodes[0].memory: 1048577 MiB of memory is more than firedrill gives a node (at most 1048576 MiB, 1 TiB)\n  \
             hint: memory is in MiB: `memory: 2048` is 2 GiB",
        ]
    );
}

#[test]
fn cpus_above_the_host_warn_and_above_libvirts_limit_are_refused() {
    let yaml = lab(
        "cpus: 256",
        "  - {name: a, cpus: 5}\n  - {name: b, cpus: 4}\n  - {name: c, cpus: 255}\n  - {name: d}\n",
    );
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:2:18: defaults.cpus: 256 CPUs is more than a node can have: libvirt starts at most 255 on firedrill's q35 machine\n  \
             hint: lower `cpus`; a lab node rarely needs more than 2",
            "t.yaml:7:21: nodes[0].cpus: 5 CPUs is more than this host has (4)\n  \
             hint: the node still runs, sharing the host's 4; give `cpus: 4` or fewer",
            "t.yaml:9:21: nodes[2].cpus: 255 CPUs is more than this host has (4)\n  \
             hint: the node still runs, sharing the host's 4; give `cpus: 4` or fewer",
        ]
    );
    // A host whose CPUs are unknown warns about nothing.
    let unknown = crate::host::HostFacts { cpus: 0, ..host() };
    assert_eq!(
        problems_with(&lab("", "  - {name: a, cpus: 64}\n"), &unknown, false),
        Vec::<String>::new()
    );
}

#[test]
fn disk_above_two_tebibytes_is_refused() {
    let yaml = lab("disk: 2048", "  - {name: a, disk: 2049}\n  - {name: b}\n");
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:7:21: nodes[0].disk: 2049 GiB of disk is more than firedrill gives a node (at most 2048 GiB)\n  \
             hint: disk is in GiB and grows as the node writes; the default 8 is enough for every role"
        ]
    );
}
