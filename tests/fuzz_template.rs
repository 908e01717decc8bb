//! The template loader never panics, whatever the input: random text, and the shipped
//! templates with random bytes changed, lines dropped or duplicated. (The libFuzzer target
//! in fuzz/ does the same, coverage-guided, for longer runs.)

mod common;

use proptest::prelude::*;

fn templates() -> Vec<String> {
    let mut out = vec![];
    for e in std::fs::read_dir(common::root().join("templates")).unwrap() {
        out.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    out.push(
        std::fs::read_to_string(common::root().join("tests/fixtures/seed2-as-published.yaml"))
            .unwrap(),
    );
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
        let _ = vpclab::template::load(&s, &Default::default());
    }

    #[test]
    fn yaml_like_text_never_panics(s in "([A-Za-z:#!\\-\\[\\]{}, '\"0-9./\n]|  |Ref|Fn::|!GetAtt|!Sub|\\$\\{){0,120}") {
        let _ = vpclab::template::load(&s, &Default::default());
    }

    #[test]
    fn mutated_templates_never_panic(which in 0usize..16, edits in proptest::collection::vec((any::<u32>(), any::<u8>(), 0u8..4), 1..8)) {
        let all = templates();
        let mut lines: Vec<String> = all[which % all.len()].lines().map(str::to_string).collect();
        for (pos, byte, op) in edits {
            if lines.is_empty() { break; }
            let i = pos as usize % lines.len();
            match op {
                0 => { lines.remove(i); }
                1 => { let l = lines[i].clone(); lines.insert(i, l); }
                2 => {
                    let mut b = lines[i].clone().into_bytes();
                    if !b.is_empty() { let j = byte as usize % b.len(); b[j] = b"x:#-! {}[]0 '"[byte as usize % 13]; }
                    lines[i] = String::from_utf8_lossy(&b).into_owned();
                }
                _ => { lines[i] = lines[i].trim_start().to_string(); }
            }
        }
        let _ = vpclab::template::load(&lines.join("\n"), &Default::default());
    }
}
