//! The scene as text for other tools: a Mermaid `flowchart` and a Graphviz digraph.
//!
//! Contract: both name the same boxes (as nested subgraphs/clusters: region, VPC, AZ,
//! subnet) and the same links as the SVG's scene; identifiers are the AWS ids made safe for
//! each language, and every label is escaped, so any Name tag gives valid input.

use std::fmt::Write as _;

use super::{scene, Health, Line, LinkKind, Node, NodeKind, Scene, Weight};
use crate::model::Lab;

/// An identifier both languages accept: ASCII letters, digits and `_`, not starting with a
/// digit.
fn ident(key: &str) -> String {
    let mut s: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert(0, 'n');
    }
    s
}

fn mermaid_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn mermaid_label(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| match l.weight {
            Weight::Title => format!("<b>{}</b>", mermaid_text(&l.text)),
            _ => mermaid_text(&l.text),
        })
        .collect::<Vec<_>>()
        .join("<br/>")
}

fn class(n: &Node) -> &'static str {
    if n.alert {
        return "alert";
    }
    match n.kind {
        NodeKind::Instance => "ec2",
        NodeKind::RouteTable => "rtb",
        NodeKind::GatewayEndpoint => "gw",
        NodeKind::Internet => "net",
        _ => "net2",
    }
}

/// The lab as a Mermaid flowchart.
pub fn mermaid(lab: &Lab, health: Option<&Health>) -> String {
    let sc = scene(lab, health);
    let mut s = String::new();
    let _ = writeln!(s, "---\ntitle: \"{}\"\n---", mermaid_text(&sc.title));
    s.push_str("flowchart TB\n");
    let node = |s: &mut String, indent: &str, n: &Node| {
        let _ = writeln!(
            s,
            "{indent}{}[\"{}\"]:::{}",
            ident(&n.key),
            mermaid_label(&n.lines),
            class(n)
        );
    };
    if let Some(n) = &sc.internet {
        let _ = writeln!(
            s,
            "  {}((\"{}\")):::net",
            ident(&n.key),
            mermaid_label(&n.lines)
        );
    }
    let _ = writeln!(s, "  subgraph region[\"{}\"]", mermaid_text(&sc.region));
    for v in &sc.vpcs {
        let _ = writeln!(
            s,
            "    subgraph {}[\"{}\"]",
            ident(&v.key),
            mermaid_label(&v.lines)
        );
        if let Some(g) = &v.igw {
            node(&mut s, "      ", g);
        }
        for az in &v.azs {
            let _ = writeln!(
                s,
                "      subgraph {}[\"{}\"]",
                ident(&format!("{}_{}", v.key, az.name)),
                mermaid_text(&az.name)
            );
            for sub in &az.subnets {
                let _ = writeln!(
                    s,
                    "        subgraph {}[\"{}\"]",
                    ident(&sub.key),
                    mermaid_label(&sub.lines)
                );
                for n in &sub.nodes {
                    node(&mut s, "          ", n);
                }
                s.push_str("        end\n");
                let _ = writeln!(
                    s,
                    "        style {} fill:{},stroke:{}",
                    ident(&sub.key),
                    if sub.public { "#F2F6E8" } else { "#E6F2F8" },
                    if sub.public { "#7AA116" } else { "#147EBA" }
                );
            }
            s.push_str("      end\n");
        }
        for n in v.route_tables.iter().chain(&v.band) {
            node(&mut s, "      ", n);
        }
        s.push_str("    end\n");
    }
    s.push_str("  end\n");
    for l in &sc.links {
        let (from, to) = (ident(&l.from), ident(&l.to));
        let _ = match &l.kind {
            LinkKind::Internet => writeln!(s, "  {from} --- {to}"),
            LinkKind::Uses => writeln!(s, "  {from} -.- {to}"),
            _ => writeln!(s, "  {from} -->|\"{}\"| {to}", mermaid_text(&l.label)),
        };
    }
    s.push_str(
        "  classDef ec2 fill:#FFFFFF,stroke:#ED7100\n  classDef rtb fill:#F7F8F9,stroke:#7D8998\n  \
         classDef gw fill:#FFFFFF,stroke:#7AA116\n  classDef net fill:#F2F3F3,stroke:#232F3E\n  \
         classDef net2 fill:#FFFFFF,stroke:#8C4FFF\n  classDef alert fill:#FFFFFF,stroke:#D13212,color:#D13212\n",
    );
    s
}

fn dot_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn dot_label(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| dot_text(&l.text))
        .collect::<Vec<_>>()
        .join("\\l")
        + "\\l"
}

fn dot_node(s: &mut String, indent: &str, n: &Node) {
    let color = if n.alert {
        "#D13212"
    } else {
        match n.kind {
            NodeKind::Instance => "#ED7100",
            NodeKind::RouteTable => "#7D8998",
            NodeKind::GatewayEndpoint => "#7AA116",
            NodeKind::Internet => "#232F3E",
            _ => "#8C4FFF",
        }
    };
    let _ = writeln!(
        s,
        "{indent}\"{}\" [label=\"{}\", color=\"{color}\"{}];",
        dot_text(&n.key),
        dot_label(&n.lines),
        if n.alert {
            ", fontcolor=\"#D13212\""
        } else {
            ""
        }
    );
}

fn dot_scene(sc: &Scene) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "digraph vpclab {{\n  label=\"{}\";\n  labelloc=t;\n  fontname=\"DejaVu Sans Mono\";\n  \
         node [shape=box, style=\"rounded\", fontname=\"DejaVu Sans Mono\", fontsize=10];\n  \
         edge [fontname=\"DejaVu Sans Mono\", fontsize=10];",
        dot_text(&sc.title)
    );
    if let Some(n) = &sc.internet {
        dot_node(&mut s, "  ", n);
    }
    let _ = writeln!(
        s,
        "  subgraph cluster_region {{\n    label=\"{}\";\n    style=dashed;\n    color=\"#00A4A6\";",
        dot_text(&sc.region)
    );
    for v in &sc.vpcs {
        let _ = writeln!(
            s,
            "    subgraph \"cluster_{}\" {{\n      label=\"{}\";\n      color=\"#8C4FFF\";",
            dot_text(&v.key),
            dot_label(&v.lines)
        );
        if let Some(g) = &v.igw {
            dot_node(&mut s, "      ", g);
        }
        for az in &v.azs {
            let _ = writeln!(
                s,
                "      subgraph \"cluster_{}/{}\" {{\n        label=\"{}\";\n        style=dashed;\n        color=\"#147EBA\";",
                dot_text(&v.key),
                dot_text(&az.name),
                dot_text(&az.name)
            );
            for sub in &az.subnets {
                let (fill, stroke) = if sub.public {
                    ("#F2F6E8", "#7AA116")
                } else {
                    ("#E6F2F8", "#147EBA")
                };
                let _ = writeln!(
                    s,
                    "        subgraph \"cluster_{}\" {{\n          label=\"{}\";\n          style=filled;\n          fillcolor=\"{fill}\";\n          color=\"{stroke}\";\n          \"{}\" [shape=point, style=invis];",
                    dot_text(&sub.key),
                    dot_label(&sub.lines),
                    dot_text(&sub.key),
                );
                for n in &sub.nodes {
                    dot_node(&mut s, "          ", n);
                }
                s.push_str("        }\n");
            }
            s.push_str("      }\n");
        }
        for n in v.route_tables.iter().chain(&v.band) {
            dot_node(&mut s, "      ", n);
        }
        s.push_str("    }\n");
    }
    s.push_str("  }\n");
    for l in &sc.links {
        let attrs = match &l.kind {
            LinkKind::Internet => "dir=none".to_string(),
            LinkKind::Uses => "dir=none, style=dotted".to_string(),
            LinkKind::PrivateLink(state) => format!(
                "label=\"{}\", color=\"{}\", penwidth=2",
                dot_text(&l.label),
                match state.as_str() {
                    "available" => "#8C4FFF",
                    "rejected" | "failed" => "#D13212",
                    _ => "#E07000",
                }
            ),
            LinkKind::Target(Some(false)) => format!(
                "label=\"{}\", color=\"#D13212\", fontcolor=\"#D13212\"",
                dot_text(&l.label)
            ),
            _ => format!("label=\"{}\"", dot_text(&l.label)),
        };
        let _ = writeln!(
            s,
            "  \"{}\" -> \"{}\" [{attrs}];",
            dot_text(&l.from),
            dot_text(&l.to)
        );
    }
    s.push_str("}\n");
    s
}

/// The lab as a Graphviz digraph (`dot -Tsvg`).
pub fn dot(lab: &Lab, health: Option<&Health>) -> String {
    dot_scene(&scene(lab, health))
}
