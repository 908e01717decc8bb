//! The diagram's geometry: a deterministic grid over a [`Scene`].
//!
//! Contract: the internet on top; one region box; VPCs side by side in it, all as tall as the
//! tallest; inside a VPC, its header (and the internet gateway across its top edge), one
//! column per availability zone with the subnets as rows (the k-th subnets of all columns
//! share a row height), then one row of VPC-wide resources (endpoints, load balancers,
//! endpoint services); PrivateLink arrows run below the VPCs, one lane each, so they cross no
//! box and no text. Every box is sized from its text in a monospace font ([`text_width`]), so
//! text is never clipped; boxes with the same parent never overlap, and every box lies inside
//! its parent (the internet gateway straddles its VPC's top edge, as AWS draws it).

use super::{Line, LinkKind, Node, NodeKind, Scene, SubnetBox, VpcBox};

/// The font size of all text, in pixels.
pub const FONT: f64 = 12.0;
/// The advance of one character cell in a monospace font at [`FONT`] (DejaVu Sans Mono's is
/// 0.602 em: 7.22 px), with a margin.
pub const CHAR_W: f64 = 7.4;
/// The distance between baselines.
pub const LINE_H: f64 = 16.0;
/// Padding inside a box.
pub const PAD: f64 = 8.0;
/// Space between boxes.
pub const GAP: f64 = 14.0;
/// The coloured bar on the left of a resource box.
pub const STRIPE: f64 = 5.0;
/// Space around the whole drawing.
pub const MARGIN: f64 = 20.0;
/// The height of one PrivateLink lane below the VPCs.
const LANE: f64 = 30.0;

/// A rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge, in SVG units (pixels at scale 1).
    pub x: f64,
    /// Top edge, growing downward.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// The right edge (`x + w`).
    pub fn right(&self) -> f64 {
        self.x + self.w
    }
    /// The bottom edge (`y + h`).
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
    /// Whether the two rectangles share interior points.
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.right() && o.x < self.right() && self.y < o.bottom() && o.y < self.bottom()
    }
    /// Whether `o` lies within `self`.
    pub fn contains(&self, o: &Rect) -> bool {
        o.x >= self.x && o.y >= self.y && o.right() <= self.right() && o.bottom() <= self.bottom()
    }
}

/// What a placed box is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The region box around every VPC.
    Region,
    /// A VPC's box.
    Vpc,
    /// An Availability Zone's column.
    Az,
    /// A subnet's box.
    Subnet {
        /// Routes to an internet gateway (drawn green; private ones blue).
        public: bool,
    },
    /// A resource box of that kind.
    Node(NodeKind),
}

/// A placed box and the text drawn in it, from its top-left corner down.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// The scene's key of what it shows (an AWS id where there is one).
    pub key: String,
    /// Where it is.
    pub rect: Rect,
    /// What it is (its style).
    pub role: Role,
    /// Its text, top down.
    pub lines: Vec<Line>,
    /// Drawn in red (an unhealthy target, a rejected endpoint).
    pub alert: bool,
    /// The index of the enclosing box in [`Layout::boxes`].
    pub parent: Option<usize>,
}

/// A polyline with an arrowhead at its last point, and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    /// The polyline's points, from the start to the arrowhead.
    pub points: Vec<(f64, f64)>,
    /// Its text (may be empty).
    pub label: String,
    /// The label's left end on its baseline.
    pub label_at: (f64, f64),
    /// What the link means (its style).
    pub kind: LinkKind,
}

/// A scene placed on a canvas.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The canvas's width, in SVG units.
    pub width: f64,
    /// The canvas's height, in SVG units.
    pub height: f64,
    /// Parents before children.
    pub boxes: Vec<Placed>,
    /// The links, routed around the boxes.
    pub arrows: Vec<Arrow>,
}

fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF
        | 0x20000..=0x3FFFD)
}

/// The width of `s` in the diagram's font: one cell per character, two for East Asian wide
/// characters.
pub fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| if is_wide(c) { 2.0 } else { 1.0 })
        .sum::<f64>()
        * CHAR_W
}

fn lines_width(lines: &[Line]) -> f64 {
    lines
        .iter()
        .map(|l| text_width(&l.text))
        .fold(0.0, f64::max)
}

fn lines_height(lines: &[Line]) -> f64 {
    lines.len() as f64 * LINE_H
}

/// A resource box's size: its text, padding and the stripe.
fn node_size(n: &Node) -> (f64, f64) {
    (
        lines_width(&n.lines) + 2.0 * PAD + STRIPE,
        lines_height(&n.lines) + 2.0 * PAD,
    )
}

fn route_table<'a>(v: &'a VpcBox, s: &SubnetBox) -> Option<&'a Node> {
    let key = s.route_table.as_deref()?;
    v.route_tables.iter().find(|n| n.key == key)
}

/// A subnet's content, top to bottom: its resources, then its route table.
fn subnet_nodes<'a>(v: &'a VpcBox, s: &'a SubnetBox) -> Vec<&'a Node> {
    s.nodes.iter().chain(route_table(v, s)).collect()
}

fn subnet_size(v: &VpcBox, s: &SubnetBox) -> (f64, f64) {
    let nodes = subnet_nodes(v, s);
    let w = nodes
        .iter()
        .map(|n| node_size(n).0)
        .fold(lines_width(&s.lines), f64::max);
    let h: f64 = nodes.iter().map(|n| node_size(n).1 + GAP).sum();
    (w + 2.0 * PAD, PAD + lines_height(&s.lines) + GAP + h)
}

/// The sizes a VPC's parts need.
struct VpcSize {
    /// Per AZ column: its width.
    az_w: Vec<f64>,
    /// Per subnet row: its height.
    rows: Vec<f64>,
    w: f64,
    header_h: f64,
    az_h: f64,
    band_h: f64,
}

fn header_h(v: &VpcBox) -> f64 {
    let igw_half = v.igw.as_ref().map_or(0.0, |g| node_size(g).1 / 2.0);
    lines_height(&v.lines).max(igw_half) + PAD
}

fn measure(v: &VpcBox, min_w: f64) -> VpcSize {
    let az_w: Vec<f64> = v
        .azs
        .iter()
        .map(|az| {
            az.subnets
                .iter()
                .map(|s| subnet_size(v, s).0)
                .fold(text_width(&az.name), f64::max)
                + 2.0 * PAD
        })
        .collect();
    let n_rows = v.azs.iter().map(|a| a.subnets.len()).max().unwrap_or(0);
    let rows: Vec<f64> = (0..n_rows)
        .map(|k| {
            v.azs
                .iter()
                .filter_map(|a| a.subnets.get(k))
                .map(|s| subnet_size(v, s).1)
                .fold(0.0, f64::max)
        })
        .collect();
    let az_h = if v.azs.is_empty() {
        0.0
    } else {
        PAD + LINE_H + GAP + rows.iter().sum::<f64>() + GAP * (rows.len().max(1) - 1) as f64 + PAD
    };
    let spread = |ws: &mut dyn Iterator<Item = f64>| {
        let (sum, n) = ws.fold((0.0, 0), |(s, n), w| (s + w, n + 1));
        sum + GAP * (n.max(1) - 1) as f64
    };
    let columns = spread(&mut az_w.iter().copied());
    let band = spread(&mut v.band.iter().map(|n| node_size(n).0));
    let igw_w = v.igw.as_ref().map_or(0.0, |g| node_size(g).0);
    let header = lines_width(&v.lines) + igw_w + 2.0 * GAP;
    let band_h = v.band.iter().map(|n| node_size(n).1).fold(0.0, f64::max);
    VpcSize {
        w: columns.max(band).max(header).max(min_w) + 4.0 * PAD,
        rows,
        az_w,
        header_h: header_h(v),
        az_h,
        band_h,
    }
}

struct Builder {
    boxes: Vec<Placed>,
}

impl Builder {
    fn push(
        &mut self,
        key: &str,
        rect: Rect,
        role: Role,
        lines: &[Line],
        alert: bool,
        parent: Option<usize>,
    ) -> usize {
        self.boxes.push(Placed {
            key: key.to_string(),
            rect,
            role,
            lines: lines.to_vec(),
            alert,
            parent,
        });
        self.boxes.len() - 1
    }

    fn node(&mut self, n: &Node, x: f64, y: f64, w: f64, parent: usize) -> f64 {
        let (nw, h) = node_size(n);
        let rect = Rect {
            x,
            y,
            w: w.max(nw),
            h,
        };
        self.push(
            &n.key,
            rect,
            Role::Node(n.kind),
            &n.lines,
            n.alert,
            Some(parent),
        );
        h
    }
}

/// Places `scene`.
pub fn layout(scene: &Scene) -> Layout {
    let mut b = Builder { boxes: Vec::new() };
    let region_label_w = text_width(&scene.region);
    let sizes: Vec<VpcSize> = scene
        .vpcs
        .iter()
        .enumerate()
        // The first VPC is wide enough that its gateway's line to the internet passes right
        // of the region's label.
        .map(|(i, v)| measure(v, if i == 0 { region_label_w } else { 0.0 }))
        .collect();
    let internet_h = scene.internet.as_ref().map_or(0.0, |n| node_size(n).1);
    let max_igw_half = scene
        .vpcs
        .iter()
        .filter_map(|v| v.igw.as_ref())
        .map(|g| node_size(g).1 / 2.0)
        .fold(0.0, f64::max);
    let vpc_h = sizes
        .iter()
        .map(|s| {
            PAD + s.header_h
                + s.az_h
                + if s.band_h > 0.0 { GAP + s.band_h } else { 0.0 }
                + 2.0 * PAD
        })
        .fold(0.0, f64::max);
    let vpcs_w: f64 =
        sizes.iter().map(|s| s.w).sum::<f64>() + 2.0 * GAP * (sizes.len().max(1) - 1) as f64;
    let private_links = scene
        .links
        .iter()
        .filter(|l| matches!(l.kind, LinkKind::PrivateLink(_)))
        .count();
    let region_w = vpcs_w.max(region_label_w) + 4.0 * PAD;
    let region_y = MARGIN
        + if scene.internet.is_some() {
            internet_h + 3.0 * GAP
        } else {
            0.0
        };
    let vpc_y = region_y + PAD + LINE_H + GAP + max_igw_half;
    let channel_top = vpc_y + vpc_h + 2.0 * GAP;
    let region_h = channel_top - region_y + private_links as f64 * LANE + PAD;
    let region = b.push(
        "region",
        Rect {
            x: MARGIN,
            y: region_y,
            w: region_w,
            h: region_h,
        },
        Role::Region,
        &[super::title(scene.region.clone())],
        false,
        None,
    );
    if let Some(n) = &scene.internet {
        b.push(
            &n.key,
            Rect {
                x: MARGIN,
                y: MARGIN,
                w: region_w,
                h: internet_h,
            },
            Role::Node(n.kind),
            &n.lines,
            false,
            None,
        );
    }
    let mut x = MARGIN + 2.0 * PAD;
    for (v, s) in scene.vpcs.iter().zip(&sizes) {
        place_vpc(&mut b, v, s, x, vpc_y, vpc_h, region);
        x += s.w + 2.0 * GAP;
    }
    let mut arrows = Vec::new();
    let find = |b: &Builder, key: &str| {
        b.boxes
            .iter()
            .find(|p| p.key == key && matches!(p.role, Role::Node(_)))
            .map(|p| p.rect)
    };
    for l in &scene.links {
        match l.kind {
            LinkKind::Internet => {
                if let (Some(g), Some(i)) = (find(&b, &l.from), find(&b, &l.to)) {
                    let cx = g.x + g.w / 2.0;
                    arrows.push(Arrow {
                        points: vec![(cx, g.y), (cx, i.bottom())],
                        label: String::new(),
                        label_at: (cx, g.y),
                        kind: l.kind.clone(),
                    });
                }
            }
            LinkKind::PrivateLink(_) => {
                let (Some(from), Some(to)) = (find(&b, &l.from), find(&b, &l.to)) else {
                    continue;
                };
                let lane = arrows
                    .iter()
                    .filter(|a: &&Arrow| matches!(a.kind, LinkKind::PrivateLink(_)))
                    .count();
                // Arrows into one box enter side by side.
                let into = scene
                    .links
                    .iter()
                    .take_while(|o| !std::ptr::eq(*o, l))
                    .filter(|o| o.to == l.to && matches!(o.kind, LinkKind::PrivateLink(_)))
                    .count();
                let x1 = from.x + from.w / 2.0;
                let x2 = (to.x + to.w / 2.0 + into as f64 * 2.0 * PAD).min(to.right() - PAD);
                let y = channel_top + lane as f64 * LANE + LINE_H;
                let lw = text_width(&l.label);
                let lx = if x2 >= x1 { x1 + PAD } else { x1 - PAD - lw };
                arrows.push(Arrow {
                    points: vec![(x1, from.bottom()), (x1, y), (x2, y), (x2, to.bottom())],
                    label: l.label.clone(),
                    label_at: (lx, y - 5.0),
                    kind: l.kind.clone(),
                });
            }
            _ => {}
        }
    }
    Layout {
        width: region_w + 2.0 * MARGIN,
        height: region_y + region_h + MARGIN,
        boxes: b.boxes,
        arrows,
    }
}

fn place_vpc(b: &mut Builder, v: &VpcBox, s: &VpcSize, x: f64, y: f64, h: f64, region: usize) {
    let vpc = b.push(
        &v.key,
        Rect { x, y, w: s.w, h },
        Role::Vpc,
        &v.lines,
        false,
        Some(region),
    );
    if let Some(g) = &v.igw {
        let (gw, gh) = node_size(g);
        let gx = x + s.w - 2.0 * PAD - gw;
        b.node(g, gx, y - gh / 2.0, gw, vpc);
    }
    let inner_x = x + 2.0 * PAD;
    let az_y = y + PAD + s.header_h;
    let mut ax = inner_x;
    for (az, aw) in v.azs.iter().zip(&s.az_w) {
        let azb = b.push(
            &format!("{}/{}", v.key, az.name),
            Rect {
                x: ax,
                y: az_y,
                w: *aw,
                h: s.az_h,
            },
            Role::Az,
            &[super::normal(az.name.clone())],
            false,
            Some(vpc),
        );
        let mut sy = az_y + PAD + LINE_H + GAP;
        for (sub, rh) in az.subnets.iter().zip(&s.rows) {
            let sw = aw - 2.0 * PAD;
            let sb = b.push(
                &sub.key,
                Rect {
                    x: ax + PAD,
                    y: sy,
                    w: sw,
                    h: *rh,
                },
                Role::Subnet { public: sub.public },
                &sub.lines,
                false,
                Some(azb),
            );
            let mut ny = sy + PAD + lines_height(&sub.lines) + GAP;
            for n in subnet_nodes(v, sub) {
                ny += b.node(n, ax + 2.0 * PAD, ny, sw - 2.0 * PAD, sb) + GAP;
            }
            sy += rh + GAP;
        }
        ax += aw + GAP;
    }
    let mut bx = inner_x;
    let band_y = az_y + s.az_h + GAP;
    for n in &v.band {
        let w = node_size(n).0;
        b.node(n, bx, band_y, w, vpc);
        bx += w + GAP;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{self, Options};

    fn lab(file: &str) -> crate::model::Lab {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        template::load_file(&path, &Options::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    const TEMPLATES: [&str; 4] = [
        "templates/default.yaml",
        "templates/seed2-gateway-endpoint.yaml",
        "templates/interface-endpoint.yaml",
        "templates/endpoint-service.yaml",
    ];

    #[test]
    fn boxes_of_one_parent_never_overlap_and_children_stay_inside() {
        for t in TEMPLATES {
            let l = layout(&super::super::scene(&lab(t), None));
            for (i, a) in l.boxes.iter().enumerate() {
                for c in l.boxes.iter().skip(i + 1) {
                    if a.parent == c.parent {
                        assert!(
                            !a.rect.overlaps(&c.rect),
                            "{t}: {} overlaps {}",
                            a.key,
                            c.key
                        );
                    }
                }
                if let Some(p) = a.parent {
                    let parent = &l.boxes[p].rect;
                    if a.role == Role::Node(NodeKind::InternetGateway) {
                        // Across the top edge: half in, half out.
                        assert!(a.rect.y < parent.y && a.rect.bottom() > parent.y, "{t}");
                        assert!(a.rect.x >= parent.x && a.rect.right() <= parent.right());
                    } else {
                        assert!(
                            parent.contains(&a.rect),
                            "{t}: {} outside its parent",
                            a.key
                        );
                    }
                }
                let canvas = Rect {
                    x: 0.0,
                    y: 0.0,
                    w: l.width,
                    h: l.height,
                };
                assert!(canvas.contains(&a.rect), "{t}: {} off the canvas", a.key);
            }
        }
    }

    #[test]
    fn every_line_of_text_fits_its_box() {
        for t in TEMPLATES {
            let l = layout(&super::super::scene(&lab(t), None));
            for p in &l.boxes {
                let need = p
                    .lines
                    .iter()
                    .map(|x| text_width(&x.text))
                    .fold(0.0, f64::max);
                assert!(
                    need + 2.0 * PAD <= p.rect.w,
                    "{t}: text of {} clipped",
                    p.key
                );
                if matches!(p.role, Role::Node(_)) {
                    assert!(
                        lines_height(&p.lines) + 2.0 * PAD <= p.rect.h,
                        "{t}: {}",
                        p.key
                    );
                }
            }
        }
    }

    #[test]
    fn private_link_arrows_run_below_every_vpc_and_their_labels_touch_no_box() {
        let l = layout(&super::super::scene(
            &lab("templates/endpoint-service.yaml"),
            None,
        ));
        let links: Vec<&Arrow> = l
            .arrows
            .iter()
            .filter(|a| matches!(a.kind, LinkKind::PrivateLink(_)))
            .collect();
        assert_eq!(links.len(), 1);
        let lowest_vpc = l
            .boxes
            .iter()
            .filter(|p| p.role == Role::Vpc)
            .map(|p| p.rect.bottom())
            .fold(0.0, f64::max);
        let a = links[0];
        assert!(a.points[1].1 > lowest_vpc && a.points[2].1 > lowest_vpc);
        let label = Rect {
            x: a.label_at.0,
            y: a.label_at.1 - FONT,
            w: text_width(&a.label),
            h: FONT,
        };
        for p in l.boxes.iter().filter(|p| p.role != Role::Region) {
            assert!(!label.overlaps(&p.rect), "label over {}", p.key);
        }
    }

    #[test]
    fn wide_characters_take_two_cells() {
        assert_eq!(text_width("ab"), 2.0 * CHAR_W);
        assert_eq!(text_width("서버"), 4.0 * CHAR_W);
        assert_eq!(text_width("a → b"), 5.0 * CHAR_W);
    }
}
