//! The scene as SVG 1.1, and that SVG as PNG.
//!
//! Contract: [`svg`] is a standalone, well-formed SVG document (every text escaped) with a
//! `<title>` and every line of every box as a `<text>` element; [`png`] renders exactly that
//! document with `resvg`, at one pixel per SVG unit times `scale`.

use std::fmt::Write as _;
use std::sync::Arc;

use resvg::{tiny_skia, usvg};

use super::layout::{layout, Layout, Role, FONT, LINE_H, PAD, STRIPE};
use super::{scene, Error, Health, LinkKind, NodeKind, Weight};
use crate::model::Lab;

const FONT_FAMILY: &str = "DejaVu Sans Mono, Menlo, Consolas, Liberation Mono, monospace";
const RED: &str = "#D13212";

/// XML's five escapes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// (stroke, fill, dashed) of a box.
fn style(role: Role) -> (&'static str, &'static str, bool) {
    match role {
        Role::Region => ("#00A4A6", "#FFFFFF", true),
        Role::Vpc => ("#8C4FFF", "#FFFFFF", false),
        Role::Az => ("#147EBA", "#FFFFFF", true),
        Role::Subnet { public: true } => ("#7AA116", "#F2F6E8", false),
        Role::Subnet { public: false } => ("#147EBA", "#E6F2F8", false),
        Role::Node(k) => match k {
            NodeKind::Internet => ("#232F3E", "#F2F3F3", false),
            NodeKind::Instance => ("#ED7100", "#FFFFFF", false),
            NodeKind::RouteTable => ("#7D8998", "#F7F8F9", false),
            NodeKind::GatewayEndpoint => ("#7AA116", "#FFFFFF", false),
            NodeKind::InternetGateway
            | NodeKind::InterfaceEndpoint
            | NodeKind::EndpointEni
            | NodeKind::LoadBalancer
            | NodeKind::LoadBalancerNode
            | NodeKind::EndpointService => ("#8C4FFF", "#FFFFFF", false),
        },
    }
}

fn num(v: f64) -> String {
    // One decimal is enough and keeps the output stable.
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

fn draw(l: &Layout, title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}" font-size="{fs}">
<title>{t}</title>
<defs>
<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#232F3E"/></marker>
<marker id="arrow-ok" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8C4FFF"/></marker>
<marker id="arrow-wait" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#E07000"/></marker>
<marker id="arrow-bad" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{RED}"/></marker>
</defs>
<rect x="0" y="0" width="{w}" height="{h}" fill="#FFFFFF"/>"##,
        w = num(l.width),
        h = num(l.height),
        fs = num(FONT),
        t = escape(title),
    );
    for p in &l.boxes {
        let (stroke, fill, dashed) = style(p.role);
        let stroke = if p.alert { RED } else { stroke };
        let r = p.rect;
        let width = match p.role {
            Role::Vpc | Role::Region => 2.0,
            _ if p.alert => 2.5,
            _ => 1.2,
        };
        let _ = writeln!(
            s,
            r#"<g id="{id}"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"{dash}/>"#,
            id = escape(&format!("box-{}", p.key)),
            x = num(r.x),
            y = num(r.y),
            w = num(r.w),
            h = num(r.h),
            sw = num(width),
            dash = if dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            },
        );
        let mut tx = r.x + PAD;
        if let Role::Node(_) = p.role {
            let _ = writeln!(
                s,
                r#"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{stroke}"/>"#,
                x = num(r.x),
                y = num(r.y),
                w = num(STRIPE),
                h = num(r.h),
            );
            tx += STRIPE;
        }
        for (i, line) in p.lines.iter().enumerate() {
            let y = r.y + PAD + FONT + i as f64 * LINE_H - 1.0;
            let attrs = match line.weight {
                Weight::Title => r##" font-weight="bold" fill="#232F3E""##.to_string(),
                Weight::Normal => r##" fill="#232F3E""##.to_string(),
                Weight::Alert => format!(r#" font-weight="bold" fill="{RED}""#),
            };
            let _ = writeln!(
                s,
                r#"<text x="{x}" y="{y}"{attrs} xml:space="preserve">{t}</text>"#,
                x = num(tx),
                y = num(y),
                t = escape(&line.text),
            );
        }
        s.push_str("</g>\n");
    }
    for a in &l.arrows {
        let (stroke, marker, dash) = match &a.kind {
            LinkKind::Internet => ("#232F3E", "arrow", ""),
            LinkKind::PrivateLink(state) => match state.as_str() {
                "available" => ("#8C4FFF", "arrow-ok", ""),
                "rejected" | "failed" => (RED, "arrow-bad", r#" stroke-dasharray="6 4""#),
                _ => ("#E07000", "arrow-wait", r#" stroke-dasharray="6 4""#),
            },
            _ => ("#232F3E", "arrow", ""),
        };
        let points: Vec<String> = a
            .points
            .iter()
            .map(|(x, y)| format!("{},{}", num(*x), num(*y)))
            .collect();
        let marker = if matches!(a.kind, LinkKind::Internet) {
            String::new()
        } else {
            format!(r#" marker-end="url(#{marker})""#)
        };
        let _ = writeln!(
            s,
            r#"<polyline points="{p}" fill="none" stroke="{stroke}" stroke-width="2"{dash}{marker}/>"#,
            p = points.join(" "),
        );
        if !a.label.is_empty() {
            let w = super::layout::text_width(&a.label);
            let _ = writeln!(
                s,
                r##"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#FFFFFF"/><text x="{tx}" y="{ty}" font-weight="bold" fill="{stroke}" xml:space="preserve">{t}</text>"##,
                x = num(a.label_at.0 - 2.0),
                y = num(a.label_at.1 - FONT),
                w = num(w + 4.0),
                h = num(FONT + 4.0),
                tx = num(a.label_at.0),
                ty = num(a.label_at.1),
                t = escape(&a.label),
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// The lab as a standalone SVG document.
pub fn svg(lab: &Lab, health: Option<&Health>) -> String {
    let sc = scene(lab, health);
    draw(&layout(&sc), &sc.title)
}

/// The fonts text is drawn with.
#[derive(Clone)]
pub struct Fonts(Arc<usvg::fontdb::Database>);

impl Fonts {
    /// The system's fonts (fontconfig's directories); may be empty.
    pub fn system() -> Fonts {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        Fonts(Arc::new(db))
    }

    /// No fonts at all: shapes render, text does not.
    pub fn none() -> Fonts {
        Fonts(Arc::new(usvg::fontdb::Database::new()))
    }

    /// How many font faces there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no font to draw text with.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A rendered PNG.
#[derive(Debug, Clone)]
pub struct Png {
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// The image's width in pixels.
    pub width: u32,
    /// The image's height in pixels.
    pub height: u32,
}

/// The lab's SVG rendered as a PNG with `fonts`, `scale` pixels per SVG unit.
pub fn png(lab: &Lab, health: Option<&Health>, fonts: &Fonts, scale: f32) -> Result<Png, Error> {
    let text = svg(lab, health);
    let opt = usvg::Options {
        fontdb: fonts.0.clone(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(&text, &opt).map_err(|e| Error::Parse(e.to_string()))?;
    let size = tree.size();
    let width = (size.width() * scale).ceil() as u32;
    let height = (size.height() * scale).ceil() as u32;
    let mut pixmap = tiny_skia::Pixmap::new(width, height).ok_or(Error::Size(width, height))?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let bytes = pixmap
        .encode_png()
        .map_err(|e| Error::Encode(e.to_string()))?;
    Ok(Png {
        bytes,
        width,
        height,
    })
}
