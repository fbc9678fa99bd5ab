//! The provision script `export vagrant` renders, on a bare node.

use crate::harness::Sandbox;

pub(super) fn vagrant_provision_script_configures_a_bare_node() {
    let started = std::time::Instant::now();
    let sb = Sandbox::start("vagprov");
    sb.ensure_image();
    let served = "name: vagprov
defaults:
  image: debian-12
networks:
  - name: lan
    cidr: 10.83.0.0/24
nodes:
  - name: server
    ip: 10.83.0.10
    memory: 1024
    roles: [app, mysql]
    app:
      port: 80
";
    let bare = served
        .replace("    roles: [app, mysql]\n", "")
        .replace("    app:\n      port: 80\n", "");
    let files = sb.home().join("vagprov-files");
    std::fs::create_dir_all(&files).expect("create the lab files' directory");
    let (served_file, bare_file) = (files.join("served.yaml"), files.join("bare.yaml"));
    std::fs::write(&served_file, served).expect("write served.yaml");
    std::fs::write(&bare_file, &bare).expect("write bare.yaml");
    let export_dir = files.join("vagrant");
    std::fs::create_dir_all(&export_dir).expect("create the export directory");
    sb.firedrill(&[
        "export",
        "vagrant",
        served_file.to_str().expect("utf-8"),
        "--dir",
        export_dir.to_str().expect("utf-8"),
    ])
    .assert_success("export vagrant");
    let script = export_dir.join("provision/server.sh");
    assert!(script.exists(), "provision/server.sh written");

    sb.firedrill(&["up", bare_file.to_str().expect("utf-8"), "--accel", "tcg"])
        .assert_success("up of the bare node");
    let booted = started.elapsed();
    // Nothing serves yet: the node has no roles.
    assert_eq!(sb.http("GET", "http://10.83.0.10/todos", None).status, 0);

    sb.firedrill(&["ssh-config"]).assert_success("ssh-config");
    let config = sb.lab_file("vagprov", "ssh_config");
    let ssh = |command: &str| {
        vec![
            "ssh".to_string(),
            "-F".into(),
            config.clone(),
            "-o".into(),
            "BatchMode=yes".into(),
            "server".into(),
            command.to_string(),
        ]
    };
    let upload = ssh("cat > /tmp/provision.sh");
    let upload: Vec<&str> = upload.iter().map(String::as_str).collect();
    sb.run_in_ns_with_input(&upload, &script)
        .assert_success("copy provision/server.sh to the node");
    // As Vagrant runs it: as root, the password in the environment.
    let provision = ssh("sudo env FIREDRILL_DB_PASSWORD=VagrantE2ePassw0rd sh /tmp/provision.sh");
    let provision: Vec<&str> = provision.iter().map(String::as_str).collect();
    for run in ["first", "second"] {
        let t = std::time::Instant::now();
        let out = sb.run_in_ns(&provision);
        eprintln!(
            "provision ({run} run, {:.0} s):\n{}{}",
            t.elapsed().as_secs_f64(),
            out.stdout,
            out.stderr
        );
        out.assert_success(&format!("provision/server.sh, {run} run"));
        // `systemctl start` returns before the app listens: under TCG it takes seconds more.
        let t = std::time::Instant::now();
        let todos = loop {
            let todos = sb.http("GET", "http://10.83.0.10/todos", None);
            if todos.status == 200 || t.elapsed() > std::time::Duration::from_secs(90) {
                break todos;
            }
            std::thread::sleep(std::time::Duration::from_secs(2));
        };
        eprintln!(
            "the app answered {:.0} s after the {run} run",
            t.elapsed().as_secs_f64()
        );
        assert_eq!(todos.status, 200, "after the {run} run: {}", todos.body);
        assert!(todos.body.contains("Get Milk"), "{}", todos.body);
        assert_eq!(
            todos.header("X-Served-By"),
            Some("server"),
            "{:?}",
            todos.headers
        );
    }
    // The app's config holds the password the script was given, and records its own digest.
    let check = ssh(
        "sudo sh -c 'grep -c VagrantE2ePassw0rd /etc/todo/config.ini; \
         [ \"$(sha256sum < /etc/todo/config.ini | cut -c1-64)\" = \"$(cat /var/lib/firedrill/written/%etc%todo%config.ini)\" ] && echo recorded'",
    );
    let check: Vec<&str> = check.iter().map(String::as_str).collect();
    let out = sb.run_in_ns(&check);
    out.assert_success("read the app's config");
    assert_eq!(out.stdout.trim(), "1\nrecorded", "{}", out.stdout);
    eprintln!(
        "vagrant provision e2e: booted in {:.0} s, all in {:.0} s",
        booted.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
