//! The NIR-like test (the French social security number, which no file recours reads or
//! writes may hold): one definition for the extracts, the reference map, the configuration
//! file and the portal's paths.

/// What a character is to the NIR scan: a digit (ASCII or full-width), a letter (any
/// alphabet: it ends a number), or a separator (anything else: spaces of every kind, tabs,
/// line ends, dots, dashes, slashes, punctuation), which a NIR written by hand may carry
/// between its groups.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NirChar {
    Digit(u8),
    Letter(char),
    Separator,
}

fn nir_char(c: char) -> NirChar {
    match c {
        '0'..='9' => NirChar::Digit(c as u8),
        '\u{FF10}'..='\u{FF19}' => NirChar::Digit(b'0' + (c as u32 - 0xFF10) as u8),
        c if c.is_alphanumeric() => NirChar::Letter(c),
        _ => NirChar::Separator,
    }
}

/// The characters a hex id is made of besides digits: a run of digits next to one of them
/// may be the middle of an id, not a number of its own.
fn is_hex_letter(c: char) -> bool {
    matches!(c, 'a'..='f' | 'A'..='F')
}

/// The fewest characters of a word (letters and digits between separators) all
/// hexadecimal that is taken for a hash id (MD5 has 32, SHA-1 40, SHA-256 64): a shorter
/// word glued to a number (`de185…`, `cafe185…`) is text, and the number is scanned.
const HASH_ID_CHARS: usize = 32;

/// A NIR as normalised (13 or 15 characters, separators removed): first digit 1, 2, 7 or 8,
/// then digits, but `2A`/`2B` as the département of persons born in Corsica (positions 5
/// and 6).
fn is_nir(chars: &[u8]) -> bool {
    matches!(chars.len(), 13 | 15)
        && matches!(chars[0], b'1' | b'2' | b'7' | b'8')
        && chars.iter().enumerate().skip(1).all(|(k, &b)| {
            b.is_ascii_digit() || (k == 6 && chars[5] == b'2' && matches!(b, b'A' | b'B'))
        })
}

/// Whether `s` holds a NIR (13 digits, or 15 with its key, first digit 1, 2, 7 or 8;
/// `2A`/`2B` allowed as the département), anywhere in it and however it is written:
/// groups separated by spaces, non-breaking spaces, tabs, line ends, dots or dashes,
/// leading or trailing blanks, inside a longer free text.
///
/// The text is cut into runs of digits; a candidate is one run or several in a row with
/// only separators between them (no letter), 13 or 15 characters in all, that is not glued
/// to a hexadecimal letter on either side inside a word of [`HASH_ID_CHARS`] or more
/// hexadecimal characters (a run of digits inside a hash id is not a number of its own:
/// ids never match, lower or upper case). A number glued to another letter (`NIR185…`) or
/// to a short word (`de185…`) is caught.
///
/// Runs on every text value of every extract: values that cannot hold one (shorter than
/// 13 bytes, fewer than 12 digits, a well-formed id) are answered without a scan.
pub fn is_nir_like(s: &str) -> bool {
    if s.len() < 13 || is_hex64(s) {
        return false;
    }
    // Full-width digits take 3 bytes: only ASCII text is rejected on its digit count.
    if s.is_ascii() && s.bytes().filter(u8::is_ascii_digit).count() < 12 {
        return false;
    }
    // Runs of digits (with a Corsican `A`/`B` right after a `2`): their characters, their
    // ends in `chars`, whether a letter separates each from the previous one, and whether
    // a hex letter touches each end.
    struct Run {
        start: usize,
        end: usize,
        linked: bool,
        glued_left: bool,
        glued_right: bool,
        /// The word (letters and digits between separators) the run is part of.
        word: usize,
    }
    // Each word's length and whether it is all hexadecimal, in order.
    let mut words: Vec<(usize, bool)> = Vec::new();
    let mut in_word = false;
    let mut chars: Vec<u8> = Vec::with_capacity(s.len());
    let mut runs: Vec<Run> = Vec::new();
    let mut open = false;
    let mut letter_since_run = true;
    let mut previous: Option<char> = None;
    for c in s.chars() {
        let kind = nir_char(c);
        let corsica = open && chars.last() == Some(&b'2') && matches!(c, 'A' | 'B' | 'a' | 'b');
        if kind == NirChar::Separator {
            in_word = false;
        } else {
            if !in_word {
                words.push((0, true));
                in_word = true;
            }
            let word = words.last_mut().expect("an open word");
            word.0 += 1;
            word.1 &= c.is_ascii_digit() || is_hex_letter(c);
        }
        match kind {
            NirChar::Digit(d) => {
                if !open {
                    runs.push(Run {
                        start: chars.len(),
                        end: chars.len(),
                        linked: !letter_since_run,
                        glued_left: previous.is_some_and(is_hex_letter),
                        glued_right: false,
                        word: words.len() - 1,
                    });
                    open = true;
                }
                chars.push(d);
            }
            NirChar::Letter(c) if corsica => chars.push(c.to_ascii_uppercase() as u8),
            NirChar::Letter(c) => {
                if open {
                    let run = runs.last_mut().expect("an open run");
                    run.end = chars.len();
                    run.glued_right = is_hex_letter(c);
                    open = false;
                }
                letter_since_run = true;
            }
            NirChar::Separator => {
                if open {
                    runs.last_mut().expect("an open run").end = chars.len();
                    open = false;
                    letter_since_run = false;
                }
            }
        }
        previous = Some(c);
    }
    if open {
        runs.last_mut().expect("an open run").end = chars.len();
    }
    let in_hash_id = |run: &Run| {
        let (len, hex) = words[run.word];
        hex && len >= HASH_ID_CHARS
    };
    for (i, first) in runs.iter().enumerate() {
        if first.glued_left && in_hash_id(first) {
            continue;
        }
        for (j, last) in runs.iter().enumerate().skip(i) {
            if j > i && !last.linked {
                break;
            }
            let len = last.end - first.start;
            if len > 15 {
                break;
            }
            if !(last.glued_right && in_hash_id(last)) && is_nir(&chars[first.start..last.end]) {
                return true;
            }
        }
    }
    false
}

/// A whole positive number of 13 or 15 digits whose first digit is 1, 2, 7 or 8.
pub fn is_nir_like_number(x: f64) -> bool {
    let digits = |lo: f64| x >= lo && x < lo * 10.0;
    x.fract() == 0.0 && (digits(1e12) || digits(1e14)) && {
        let first = (x / if x < 1e13 { 1e12 } else { 1e14 }).floor() as u8;
        matches!(first, 1 | 2 | 7 | 8)
    }
}

/// Whether a name (a column, a file, a folder, a partition `key=value`) looks like it
/// holds a NIR.
pub fn is_nir_like_name(name: &str) -> bool {
    is_nir_like(name)
}

/// A pseudonymised id: 64 lower-case hexadecimal characters.
pub fn is_hex64(s: &str) -> bool {
    // A fixed 64 bytes folded without a branch: the compiler checks them 16 at a time
    // (SSE2; more with a wider target) where a table lookup per byte did not vectorise.
    let Ok(bytes) = <&[u8; 64]>::try_from(s.as_bytes()) else {
        return false;
    };
    bytes.iter().fold(true, |ok, &b| {
        ok & ((b.wrapping_sub(b'0') < 10) | (b.wrapping_sub(b'a') < 6))
    })
}
