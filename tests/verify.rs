//! Root tests of `vpclab verify`: each seed lab's EXPECT file (labs/*.expect.yaml) passes on
//! the lab as its template brings it up, with the real tools inside the instances; a removed
//! route makes the expectations that need it fail, by line, with exit code 1 and JUnit
//! failures; a wrong file is refused with its lines. Run through `netns-scripts/test.sh`.

mod common;

use common::lab::Lab;

fn junit_path(lab: &Lab) -> String {
    std::env::temp_dir()
        .join(format!("{}-junit.xml", lab.name))
        .display()
        .to_string()
}

/// Runs `verify`; (exit code, output, JUnit XML).
fn verify(lab: &Lab, expect: &str) -> (i32, String, String) {
    let junit = junit_path(lab);
    let (code, out) = lab.vpclab(&["verify", expect, "--junit", &junit]);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    let _ = std::fs::remove_file(&junit);
    (code, out, xml)
}

fn expectations(file: &str) -> usize {
    std::fs::read_to_string(common::root().join(file))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("- "))
        .count()
}

#[test]
fn the_gateway_endpoint_lab_passes_its_expectations_and_fails_by_line_without_its_route() {
    const EXPECT: &str = "labs/seed2-gateway-endpoint.expect.yaml";
    let lab = Lab::up("templates/seed2-gateway-endpoint.yaml");
    let n = expectations(EXPECT);
    let (code, out, xml) = verify(&lab, EXPECT);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{n} of {n} expectations passed")),
        "{out}"
    );
    assert!(
        xml.contains(&format!("tests=\"{n}\" failures=\"0\"")),
        "{xml}"
    );

    // Without the public route table's default route, the public instance loses the internet
    // (line 6 of the file) and the internet loses it.
    let (code, out) = lab.vpclab(&[
        "delete-route",
        "--route-table-id",
        "CloudNetaPublicRT",
        "--destination-cidr-block",
        "0.0.0.0/0",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out, xml) = verify(&lab, EXPECT);
    assert_eq!(code, 1, "{out}");
    let row6 = out
        .lines()
        .find(|l| l.contains("│ 6 "))
        .unwrap_or_else(|| panic!("no row for line 6:\n{out}"));
    assert!(
        row6.contains("CloudNetaPublicEC2 ping → internet") && row6.contains("FAIL"),
        "{row6}"
    );
    assert!(
        xml.contains("name=\"line 6: CloudNetaPublicEC2 ping → internet\">")
            && xml.contains("<failure message=\"expected reachable, got unreachable\"/>"),
        "{xml}"
    );
    // What does not need that route still passes: the private instance reaches S3.
    let row14 = out.lines().find(|l| l.contains("│ 14 ")).unwrap();
    assert!(row14.contains("PASS"), "{row14}");
}

#[test]
fn the_interface_and_endpoint_service_labs_pass_their_expectations() {
    for (template, expect) in [
        (
            "templates/interface-endpoint.yaml",
            "labs/interface-endpoint.expect.yaml",
        ),
        (
            "templates/endpoint-service.yaml",
            "labs/endpoint-service.expect.yaml",
        ),
    ] {
        let lab = Lab::up(template);
        let n = expectations(expect);
        let (code, out, xml) = verify(&lab, expect);
        assert_eq!(code, 0, "{template}:\n{out}");
        assert!(
            out.contains(&format!("{n} of {n} expectations passed")),
            "{out}"
        );
        assert!(xml.contains("failures=\"0\""), "{xml}");
    }
}

#[test]
fn a_wrong_expect_file_is_refused_with_every_line_and_a_missing_lab_is_named() {
    let dir = std::env::temp_dir().join(format!("vl-expect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "- from: A\n  to: B\n  tool: telnet\n  expect: reachable\n- from: A\n  to: B\n  tool: ping\n  expect: sometimes\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let (code, out, err) = common::vpclab(&["verify", "--name", "nolab_here", &path]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("{path}:line 3: unknown tool `telnet`")),
        "{err}"
    );
    assert!(err.contains(&format!("{path}:line 8:")), "{err}");
    std::fs::write(
        &file,
        "- from: A\n  to: B\n  tool: ping\n  expect: reachable\n",
    )
    .unwrap();
    let (code, _, err) = common::vpclab(&["verify", "--name", "nolab_here", &path]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("lab 'nolab_here' is not running"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
