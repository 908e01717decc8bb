//! `vpclab diagram` on the seed templates: valid SVG with every instance and endpoint as
//! text, Mermaid and Graphviz naming every instance, and PNGs that are real images.

mod common;

use common::*;
use vpclab::control::diagram::{self, Fonts};
use vpclab::model::EndpointKind;

const TEMPLATES: [&str; 4] = [
    "templates/seed2-gateway-endpoint.yaml",
    "templates/interface-endpoint.yaml",
    "templates/endpoint-service.yaml",
    "templates/default.yaml",
];

/// Every text node of an SVG document, parsed as XML (a parse error fails the test).
fn svg_texts(doc: &str) -> Vec<String> {
    let xml = roxmltree::Document::parse(doc).unwrap_or_else(|e| panic!("not XML ({e})"));
    assert!(xml.root_element().has_tag_name("svg"));
    xml.descendants()
        .filter(|n| n.is_element() && (n.has_tag_name("text") || n.has_tag_name("title")))
        .filter_map(|n| n.text().map(str::to_string))
        .collect()
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG signature"
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let n = |o: usize| u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    (n(16), n(20))
}

#[test]
fn svg_of_every_seed_is_xml_naming_every_instance_ip_and_endpoint() {
    for t in TEMPLATES {
        let lab = load_file(t);
        let texts = svg_texts(&diagram::svg(&lab, None));
        let has = |needle: &str| texts.iter().any(|x| x.contains(needle));
        assert!(!lab.instances.is_empty(), "{t}");
        for i in &lab.instances {
            let name = i.tags.name().expect("seed instances are named");
            assert!(has(name), "{t}: instance {name} missing");
            assert!(has(&i.private_ip.to_string()), "{t}: {name}'s IP missing");
            assert!(has(i.id.as_str()), "{t}: {}", i.id);
            if let Some(p) = i.public_ip {
                assert!(has(&p.to_string()), "{t}: {name}'s public IP missing");
            }
        }
        for e in &lab.vpc_endpoints {
            assert!(has(e.id.as_str()), "{t}: endpoint {} missing", e.id);
            if let EndpointKind::Interface {
                network_interfaces, ..
            } = &e.kind
            {
                for n in network_interfaces {
                    let eni = lab.eni(n).expect("endpoint ENI");
                    assert!(has(&eni.private_ip.to_string()), "{t}: ENI IP missing");
                }
            }
        }
        for s in &lab.endpoint_services {
            assert!(has(s.id.as_str()), "{t}: service {} missing", s.id);
        }
        assert!(has(&lab.stack_name), "{t}: the title names the lab");
    }
}

#[test]
fn mermaid_and_dot_name_every_instance() {
    for t in TEMPLATES {
        let lab = load_file(t);
        let m = diagram::mermaid(&lab, None);
        let d = diagram::dot(&lab, None);
        assert!(m.contains("flowchart"), "{t}");
        assert!(d.starts_with("digraph"), "{t}");
        for i in &lab.instances {
            let name = i.tags.name().expect("named");
            for (what, out) in [("mermaid", &m), ("dot", &d)] {
                assert!(out.contains(name), "{t}: {what} lacks {name}");
                assert!(out.contains(&i.private_ip.to_string()), "{t}: {what}");
            }
        }
    }
}

#[test]
fn png_renders_through_the_library() {
    let lab = load_file("templates/endpoint-service.yaml");
    let png = diagram::png(&lab, None, &Fonts::system(), 1.0).expect("renders");
    assert!(png.width > 0 && png.height > 0);
    assert_eq!(png_size(&png.bytes), (png.width, png.height));
    // Twice the scale, twice the pixels (rounded up).
    let big = diagram::png(&lab, None, &Fonts::none(), 2.0).expect("renders without fonts");
    assert!(big.width >= 2 * png.width - 1 && big.width <= 2 * png.width + 1);
}

/// A file under the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn png_renders_through_the_cli_into_a_file() {
    let out = TempFile(
        std::env::temp_dir().join(format!("vpclab-test-{}-diagram.png", std::process::id())),
    );
    let (code, _, err) = vpclab(&[
        "diagram",
        "-t",
        "templates/interface-endpoint.yaml",
        "--format",
        "png",
        "-o",
        s(&out.0),
    ]);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&out.0).expect("the PNG was written");
    let (w, h) = png_size(&bytes);
    assert!(w > 0 && h > 0);
}

#[test]
fn cli_writes_svg_to_stdout_and_refuses_png_without_a_file() {
    let (code, out, err) = vpclab(&["diagram", "-t", "templates/endpoint-service.yaml"]);
    assert_eq!(code, 0, "{err}");
    let texts = svg_texts(&out);
    assert!(texts.iter().any(|x| x.contains("WEB1")));
    let (code, out, err) = vpclab(&["diagram", "--format", "mermaid"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("flowchart"));
    let (code, out, err) = vpclab(&["diagram", "--format", "png"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("-o FILE"), "{err}");
}
