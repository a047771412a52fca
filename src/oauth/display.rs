//! What a client may show a user: the text of its metadata (`client_name`, its URIs, …), and
//! the name it goes by.
//!
//! Every text field a client gives is refused (RFC 7591 §3.2.2 `invalid_client_metadata`) when
//! it holds a character a reader cannot see or that moves the text around it: Unicode format
//! characters (general category Cf: the bidirectional controls U+202A–U+202E and U+2066–U+2069,
//! U+200E/F and U+061C, the zero-width U+200B–U+200D, U+2060 and U+FEFF, the soft hyphen, tags),
//! the other default-ignorable and blank characters (Hangul fillers, variation selectors out of
//! place, U+2800), controls, separators other than U+0020, private-use and unassigned code
//! points, and marks stacked to paint over the lines around. Right-to-left scripts are text like
//! any other: only the controls are refused.
//!
//! A client an administrator did not vet may not go by a name that, as UTS #39 would compare
//! them, is a copy of a first-party one: the assistants' own names ("ChatGPT", "Claude", …)
//! unless it is the assistant, at one of its own domains; the names of the clients an
//! administrator registered; the plugin's own names. The comparison is on a skeleton: the
//! UTS #46 mapping (NFKC and case folding, so full-width and mathematical letters are letters,
//! and default-ignorable characters are gone), Latin look-alikes for Cyrillic, Greek and small
//! capitals, digits and letters that pass for each other (0/o, 1/l/I/i, rn/m, vv/w, cl/d), and
//! nothing but letters and digits (so spaces and punctuation do not tell two names apart).
//!
//! The Unicode data is what `url` already links through `idna` (`icu_properties`' general
//! categories, `icu_normalizer`'s UTS #46 mapper), so the check adds code but no tables.

use icu_normalizer::uts46::Uts46MapperBorrowed;
use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
use icu_properties::CodePointMapData;

use crate::oauth::client::{Client, ClientOrigin};

/// Most combining marks one character may carry: every script's stacked vowel signs and tone
/// marks fit, marks piled up to paint over the lines around (and the "unverified" marker) do not.
pub const MAX_COMBINING_MARKS: usize = 4;

/// The assistants whose names only they may use, with the domains that are theirs: a client is
/// the assistant when its metadata document, or every redirect URI it registers, is on one of
/// them (or a subdomain).
pub const WELL_KNOWN_ASSISTANTS: &[(&str, &[&str])] = &[
    ("ChatGPT", &["chatgpt.com", "openai.com"]),
    ("OpenAI", &["chatgpt.com", "openai.com"]),
    ("Claude", &["claude.ai", "claude.com", "anthropic.com"]),
    ("Anthropic", &["claude.ai", "claude.com", "anthropic.com"]),
    ("Copilot", &["github.com", "microsoft.com"]),
    ("GitHub Copilot", &["github.com", "microsoft.com"]),
    ("Microsoft Copilot", &["github.com", "microsoft.com"]),
    ("Gemini", &["google.com"]),
    ("Google Gemini", &["google.com"]),
];

/// Why a character may not be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unshowable {
    /// General category Cf: bidirectional controls, zero-width characters, U+FEFF, tags, …
    Format,
    /// Cc.
    Control,
    /// A space other than U+0020, or a line or paragraph separator.
    Separator,
    /// Shows nothing, though not a format character (Hangul fillers, variation selectors out of
    /// place, U+2800, the combining grapheme joiner, …).
    Invisible,
    /// Co.
    PrivateUse,
    /// Cn: no character is assigned to it (noncharacters included).
    Unassigned,
    /// A combining mark with no character before it to carry it.
    LeadingMark,
    /// More than [`MAX_COMBINING_MARKS`] combining marks on one character.
    StackedMarks,
}

/// A text field holds a character that may not be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayTextError {
    pub code_point: char,
    pub why: Unshowable,
}

impl std::fmt::Display for DisplayTextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.why {
            Unshowable::Format => {
                "an invisible formatting character (a bidirectional control, zero-width character, byte order mark or tag)"
            }
            Unshowable::Control => "a control character",
            Unshowable::Separator => "a space or line break other than U+0020",
            Unshowable::Invisible => "a character that shows nothing",
            Unshowable::PrivateUse => "a private-use character",
            Unshowable::Unassigned => "a code point with no character assigned",
            Unshowable::LeadingMark => "a combining mark with nothing before it",
            Unshowable::StackedMarks => "one combining mark too many on one character",
        };
        write!(f, "U+{:04X}, {what}", self.code_point as u32)
    }
}

/// Checks that every character of a client's text field can be shown as what it is.
pub fn check_display_text(text: &str) -> Result<(), DisplayTextError> {
    let categories = CodePointMapData::<GeneralCategory>::new();
    let mut previous: Option<GeneralCategory> = None;
    let mut marks = 0;
    for c in text.chars() {
        let category = categories.get(c);
        let refuse = |why| Err(DisplayTextError { code_point: c, why });
        let is_mark = matches!(
            category,
            GeneralCategory::NonspacingMark
                | GeneralCategory::EnclosingMark
                | GeneralCategory::SpacingMark
        );
        match category {
            GeneralCategory::Format => return refuse(Unshowable::Format),
            GeneralCategory::Control => return refuse(Unshowable::Control),
            GeneralCategory::SpaceSeparator if c != ' ' => return refuse(Unshowable::Separator),
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                return refuse(Unshowable::Separator)
            }
            GeneralCategory::PrivateUse => return refuse(Unshowable::PrivateUse),
            GeneralCategory::Unassigned | GeneralCategory::Surrogate => {
                return refuse(Unshowable::Unassigned)
            }
            _ => {}
        }
        // An emoji's presentation selector (U+FE0E/F after a symbol) is part of it; any other
        // variation selector, or one elsewhere, shows nothing.
        let emoji_selector =
            matches!(c, '\u{FE0E}' | '\u{FE0F}') && previous == Some(GeneralCategory::OtherSymbol);
        if is_invisible(c) && !emoji_selector {
            return refuse(Unshowable::Invisible);
        }
        if is_mark && !emoji_selector {
            if previous.is_none() {
                return refuse(Unshowable::LeadingMark);
            }
            marks += 1;
            if marks > MAX_COMBINING_MARKS {
                return refuse(Unshowable::StackedMarks);
            }
        } else {
            marks = 0;
        }
        if !emoji_selector {
            previous = Some(category);
        }
    }
    Ok(())
}

/// Default-ignorable code points that are not format characters, and the letters and symbols
/// that draw nothing (Unicode's `Default_Ignorable_Code_Point` less Cf, with U+2800).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The UTS #39-style skeleton two names are compared by: equal skeletons look alike.
pub fn skeleton(name: &str) -> String {
    let categories = CodePointMapData::<GeneralCategory>::new();
    // Capitals first: case folding would take Greek Η (H) to η (n), Μ (M) to μ (u).
    let capitals: String = name
        .chars()
        .map(|c| capital_look_alike(c).unwrap_or(c))
        .collect();
    let mut out = String::with_capacity(name.len());
    // Over `Chars`, as `idna` maps hosts: the one copy of the mapper's code serves both.
    for c in Uts46MapperBorrowed::new().map_normalize(capitals.chars()) {
        let c = look_alike(c).unwrap_or(c);
        let kept = c.is_ascii_alphanumeric()
            || (!c.is_ascii()
                && (GeneralCategoryGroup::Letter.contains(categories.get(c))
                    || GeneralCategoryGroup::Number.contains(categories.get(c))));
        if kept {
            out.push(c);
        }
    }
    out.replace("rn", "m").replace("vv", "w").replace("cl", "d")
}

/// Capital letters of other scripts that look like a Latin capital unlike their small letter.
fn capital_look_alike(c: char) -> Option<char> {
    Some(match c {
        'Η' => 'h',
        'Μ' => 'm',
        'Ν' => 'n',
        'Υ' => 'y',
        'Ϲ' => 'c',
        'Ϳ' => 'j',
        _ => return None,
    })
}

/// The Latin letter a (case-folded) character passes for: Cyrillic, Greek and small-capital
/// look-alikes, and the digits and letters confused with each other (0 for o; 1, i, I and |
/// for l). Both names compared go through it, so a many-to-one map only makes it stricter.
fn look_alike(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic.
        'а' => 'a',
        'в' | 'ь' | 'ъ' => 'b',
        'с' | 'ҫ' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' | 'є' => 'e',
        'г' => 'r',
        'һ' | 'н' => 'h',
        'і' | 'ї' | 'ӏ' => 'l',
        'ј' => 'j',
        'к' | 'қ' => 'k',
        'м' => 'm',
        'о' | 'ө' => 'o',
        'п' => 'n',
        'р' => 'p',
        'ԛ' => 'q',
        'ѕ' => 's',
        'т' => 't',
        'у' | 'ү' => 'y',
        'х' | 'ҳ' => 'x',
        'ԝ' | 'ѡ' | 'ш' => 'w',
        'з' => '3',
        // Greek.
        'α' => 'a',
        'β' => 'b',
        'ε' | 'ϵ' => 'e',
        'γ' => 'y',
        'ι' | 'ί' => 'l',
        'κ' => 'k',
        'ν' => 'v',
        'ο' | 'ό' | 'σ' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' | 'μ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        'ζ' => 'z',
        'η' => 'n',
        'ϲ' => 'c',
        'ϳ' => 'j',
        // Small capitals and other Latin letters that pass for a plain one.
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' | 'ɡ' => 'g',
        'ʜ' => 'h',
        'ɪ' | 'ı' | 'ɩ' | 'ǀ' | 'ʟ' => 'l',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        // Digits and letters.
        '0' => 'o',
        '1' | 'i' | '|' => 'l',
        _ => return None,
    })
}

/// Why a client may not go by the name it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameRefusal {
    /// It reads as a well-known assistant's name, and the client is not that assistant.
    Assistant {
        name: &'static str,
        domains: &'static [&'static str],
    },
    /// It reads as the name of a client an administrator registered, or of the plugin.
    FirstParty,
}

impl std::fmt::Display for NameRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameRefusal::Assistant { name, domains } => write!(
                f,
                "client_name reads as {name:?} (ignoring case, spacing and look-alike letters), which only {name}'s own clients may use, from {}",
                domains.join(" or ")
            ),
            NameRefusal::FirstParty => f.write_str(
                "client_name reads as the name of an app this server already knows (ignoring case, spacing and look-alike letters): choose a name of your own",
            ),
        }
    }
}

/// Checks the name a self-registered or metadata-document client goes by against the
/// first-party names. `hosts`: where the client is (its metadata document's host, or the hosts
/// of its redirect URIs, see [`client_hosts`]); `first_party`: the names of the clients an
/// administrator registered and the plugin's own.
pub fn check_client_name(
    name: &str,
    hosts: &[String],
    first_party: &[&str],
) -> Result<(), NameRefusal> {
    let copy = skeleton(name);
    if copy.is_empty() {
        return Ok(());
    }
    for &(assistant, domains) in WELL_KNOWN_ASSISTANTS {
        if skeleton(assistant) != copy {
            continue;
        }
        let theirs = |host: &String| {
            domains
                .iter()
                .any(|d| host == d || host.strip_suffix(d).is_some_and(|sub| sub.ends_with('.')))
        };
        return if !hosts.is_empty() && hosts.iter().all(theirs) {
            Ok(())
        } else {
            Err(NameRefusal::Assistant {
                name: assistant,
                domains,
            })
        };
    }
    if first_party.iter().any(|n| skeleton(n) == copy) {
        return Err(NameRefusal::FirstParty);
    }
    Ok(())
}

/// Where a client is, as far as its name is concerned: a metadata document's host (the document
/// speaks for its domain), else the host of every redirect URI (codes go nowhere else). A URI
/// without a host counts as an empty one, which is no one's domain.
pub fn client_hosts(client: &Client) -> Vec<String> {
    match client.origin {
        ClientOrigin::MetadataDocument => vec![uri_host(&client.id)],
        ClientOrigin::Admin | ClientOrigin::Dynamic => redirect_hosts(&client.redirect_uris),
    }
}

/// The host of each redirect URI (empty for one without a host).
pub fn redirect_hosts(uris: &[String]) -> Vec<String> {
    uris.iter().map(|u| uri_host(u)).collect()
}

/// A URI's host as the consent page shows it (IDNs in their ASCII form), or empty.
pub fn uri_host(uri: &str) -> String {
    url::Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.to_ascii_lowercase()))
        .unwrap_or_default()
}

/// Checks how a client no administrator vetted presents itself, at every authorization: its
/// name shows as what it is and copies no first-party name. Clients registered before these
/// checks, and documents cached for a deployment's other plugins, are held to them here.
/// `first_party`: the plugin's own names (no I/O: the administrators' clients are checked when
/// a client registers or its document is fetched).
pub fn check_presentation(client: &Client, first_party: &[&str]) -> Result<(), String> {
    if client.origin.is_vetted() {
        return Ok(());
    }
    check_display_text(&client.name).map_err(|e| format!("client_name contains {e}"))?;
    check_client_name(&client.name, &client_hosts(client), first_party).map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every class of character a client's text may not hold, one or more of each.
    pub(crate) const REFUSED: &[(char, Unshowable)] = &[
        // Bidirectional controls: embeddings, overrides, isolates, marks.
        ('\u{202A}', Unshowable::Format),
        ('\u{202B}', Unshowable::Format),
        ('\u{202C}', Unshowable::Format),
        ('\u{202D}', Unshowable::Format),
        ('\u{202E}', Unshowable::Format),
        ('\u{2066}', Unshowable::Format),
        ('\u{2067}', Unshowable::Format),
        ('\u{2068}', Unshowable::Format),
        ('\u{2069}', Unshowable::Format),
        ('\u{200E}', Unshowable::Format),
        ('\u{200F}', Unshowable::Format),
        ('\u{061C}', Unshowable::Format),
        // Zero-width characters and the byte order mark.
        ('\u{200B}', Unshowable::Format),
        ('\u{200C}', Unshowable::Format),
        ('\u{200D}', Unshowable::Format),
        ('\u{2060}', Unshowable::Format),
        ('\u{FEFF}', Unshowable::Format),
        ('\u{00AD}', Unshowable::Format),
        ('\u{180E}', Unshowable::Format),
        ('\u{2062}', Unshowable::Format),
        // Tags.
        ('\u{E0001}', Unshowable::Format),
        ('\u{E0020}', Unshowable::Format),
        ('\u{E0041}', Unshowable::Format),
        ('\u{E007F}', Unshowable::Format),
        // Blank but not format characters.
        ('\u{3164}', Unshowable::Invisible),
        ('\u{115F}', Unshowable::Invisible),
        ('\u{1160}', Unshowable::Invisible),
        ('\u{FFA0}', Unshowable::Invisible),
        ('\u{2800}', Unshowable::Invisible),
        ('\u{034F}', Unshowable::Invisible),
        ('\u{17B4}', Unshowable::Invisible),
        ('\u{180B}', Unshowable::Invisible),
        ('\u{FE00}', Unshowable::Invisible),
        ('\u{E0100}', Unshowable::Invisible),
        // Controls, other spaces, line breaks.
        ('\u{0000}', Unshowable::Control),
        ('\u{001B}', Unshowable::Control),
        ('\u{007F}', Unshowable::Control),
        ('\u{0085}', Unshowable::Control),
        ('\u{00A0}', Unshowable::Separator),
        ('\u{2007}', Unshowable::Separator),
        ('\u{3000}', Unshowable::Separator),
        ('\u{2028}', Unshowable::Separator),
        ('\u{2029}', Unshowable::Separator),
        // Private use, unassigned, noncharacters.
        ('\u{E000}', Unshowable::PrivateUse),
        ('\u{F8FF}', Unshowable::PrivateUse),
        ('\u{F0000}', Unshowable::PrivateUse),
        ('\u{0378}', Unshowable::Unassigned),
        ('\u{FDD0}', Unshowable::Unassigned),
        ('\u{FFFF}', Unshowable::Unassigned),
        ('\u{10FFFF}', Unshowable::Unassigned),
    ];

    #[test]
    fn every_invisible_or_reordering_character_is_refused_wherever_it_is() {
        for &(c, why) in REFUSED {
            for text in [
                format!("{c}Good Name"),
                format!("Good{c}Name"),
                format!("Good Name{c}"),
            ] {
                assert_eq!(
                    check_display_text(&text),
                    Err(DisplayTextError { code_point: c, why }),
                    "U+{:04X} in {text:?}",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn the_refusal_names_the_code_point_and_what_it_is() {
        let e = check_display_text("Chat\u{202E}TPG").unwrap_err();
        assert_eq!(
            e.to_string(),
            "U+202E, an invisible formatting character (a bidirectional control, zero-width character, byte order mark or tag)"
        );
    }

    #[test]
    fn legitimate_international_names_pass() {
        for name in [
            "Café Notes",
            "日本語アプリ",
            "Ünïcödé",
            // The same, decomposed: letters with combining marks.
            "U\u{308}ni\u{308}co\u{308}de\u{301}",
            "Заметки",
            "Σημειώσεις",
            "تطبيق الملاحظات",
            "אפליקציית פתקים",
            "हिन्दी ऐप",
            "한국어 앱",
            "Tiếng Việt",
            "I ❤️ Notes",
            "O'Reilly & Sons (beta) v2.0",
            "MCP Inspector",
            "https://app.example.com/privacy?lang=de",
        ] {
            assert_eq!(check_display_text(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn marks_with_nothing_to_carry_them_or_piled_up_are_refused() {
        assert_eq!(
            check_display_text("\u{301}Name").map_err(|e| e.why),
            Err(Unshowable::LeadingMark)
        );
        let piled = format!("Na{}me", "\u{301}".repeat(MAX_COMBINING_MARKS + 1));
        assert_eq!(
            check_display_text(&piled).map_err(|e| e.why),
            Err(Unshowable::StackedMarks)
        );
        let most = format!("Na{}me", "\u{301}".repeat(MAX_COMBINING_MARKS));
        assert_eq!(check_display_text(&most), Ok(()));
        // A variation selector belongs after a symbol (an emoji), nowhere else.
        assert_eq!(
            check_display_text("Chat\u{FE0F}GPT").map_err(|e| e.why),
            Err(Unshowable::Invisible)
        );
    }

    /// Copies of "ChatGPT", "Claude" and the others: by case, spacing, width, script, digits.
    const COPIES: &[(&str, &str)] = &[
        ("ChatGPT", "ChatGPT"),
        ("chatgpt", "ChatGPT"),
        ("CHATGPT", "ChatGPT"),
        ("ChatGPT   ", "ChatGPT"),
        ("  ChatGPT", "ChatGPT"),
        ("Chat GPT", "ChatGPT"),
        ("Chat-GPT", "ChatGPT"),
        ("Chat.G.P.T.", "ChatGPT"),
        ("ChatGPT®", "ChatGPT"),
        // Cyrillic Р and Т, С, а.
        ("ChatGРТ", "ChatGPT"),
        ("СhatGPT", "ChatGPT"),
        ("ChаtGPT", "ChatGPT"),
        // Greek Ρ, Τ, Η, Α.
        ("ChatGΡΤ", "ChatGPT"),
        ("CΗatGPT", "ChatGPT"),
        ("ChΑtGPT", "ChatGPT"),
        // Full-width and mathematical letters, small capitals.
        ("ＣｈａｔＧＰＴ", "ChatGPT"),
        ("𝐂𝐡𝐚𝐭𝐆𝐏𝐓", "ChatGPT"),
        ("ᴄʜᴀᴛɢᴘᴛ", "ChatGPT"),
        // Marks laid on a copy that make no letter of their own (a letter with a diacritic,
        // "ChätGPT", is another letter, as in UTS #39).
        ("Cha\u{0335}tGPT\u{0332}", "ChatGPT"),
        // Digits and letters that pass for each other.
        ("0penAI", "OpenAI"),
        ("OpenAl", "OpenAI"),
        ("Open AI", "OpenAI"),
        ("ΟpenΑΙ", "OpenAI"),
        ("C1aude", "Claude"),
        ("CIaude", "Claude"),
        ("claude", "Claude"),
        ("Claudе", "Claude"),
        ("Αnthrоpic", "Anthropic"),
        ("Anthroplc", "Anthropic"),
        ("Gemlnl", "Gemini"),
        ("GEMINI", "Gemini"),
        ("Gemini", "Gemini"),
        ("Copi1ot", "Copilot"),
        ("Github copilot", "GitHub Copilot"),
        ("Micrоsoft Copilot", "Microsoft Copilot"),
        ("Chatgрt", "ChatGPT"),
    ];

    #[test]
    fn copies_of_an_assistants_name_are_refused_to_anyone_else() {
        let elsewhere = [
            vec!["attacker.example".to_string()],
            vec!["127.0.0.1".to_string()],
            vec![String::new()],
            Vec::new(),
        ];
        for (copy, original) in COPIES {
            assert_eq!(skeleton(copy), skeleton(original), "{copy:?}");
            for hosts in &elsewhere {
                let refused = check_client_name(copy, hosts, &[]);
                assert!(
                    matches!(refused, Err(NameRefusal::Assistant { name, .. }) if name == *original),
                    "{copy:?} from {hosts:?}: {refused:?}"
                );
            }
        }
    }

    #[test]
    fn the_assistants_themselves_may_use_their_names() {
        let at = |hosts: &[&str]| hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>();
        for (name, hosts) in [
            ("ChatGPT", at(&["chatgpt.com"])),
            ("ChatGPT", at(&["chat.openai.com", "chatgpt.com"])),
            ("OpenAI", at(&["platform.openai.com"])),
            ("Claude", at(&["claude.ai"])),
            ("Claude", at(&["claude.ai", "claude.com"])),
            ("Anthropic", at(&["anthropic.com"])),
            ("GitHub Copilot", at(&["github.com"])),
            ("Gemini", at(&["gemini.google.com"])),
        ] {
            assert_eq!(
                check_client_name(name, &hosts, &["ChatGPT"]),
                Ok(()),
                "{name} at {hosts:?}"
            );
        }
        for (name, hosts) in [
            ("ChatGPT", at(&["chatgpt.com", "attacker.example"])),
            ("ChatGPT", at(&["chatgpt.com.attacker.example"])),
            ("ChatGPT", at(&["notchatgpt.com"])),
            ("Claude", at(&["chatgpt.com"])),
            ("ChatGPT", at(&["claude.ai"])),
        ] {
            assert!(
                check_client_name(name, &hosts, &[]).is_err(),
                "{name} at {hosts:?}"
            );
        }
    }

    #[test]
    fn copies_of_first_party_names_are_refused() {
        let first_party = ["Todo Demo", "Acme Console", "todo_demo"];
        let anywhere = vec!["app.example.com".to_string()];
        for copy in [
            "Todo Demo",
            "todo demo",
            "TODO DEMO",
            "T0D0 Dem0",
            "TodoDemo",
            "todo_demo",
            "Acme Console",
            "Αcme Cоnsole",
            "Acme  Console ",
        ] {
            assert_eq!(
                check_client_name(copy, &anywhere, &first_party),
                Err(NameRefusal::FirstParty),
                "{copy:?}"
            );
        }
    }

    #[test]
    fn names_that_only_share_words_with_first_party_ones_pass() {
        let first_party = ["Todo Demo", "CLI"];
        let anywhere = vec!["app.example.com".to_string()];
        for name in [
            "MCP Inspector",
            "ChatGPT Helper",
            "Claude Code",
            "Claudette",
            "Chatbot",
            "Open Notes",
            "Todo Demo Importer",
            "Notes CLI",
            "日本語アプリ",
            "Café Notes",
            "تطبيق الملاحظات",
            "",
        ] {
            assert_eq!(
                check_client_name(name, &anywhere, &first_party),
                Ok(()),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_document_speaks_for_its_host_and_a_registration_for_its_redirect_hosts() {
        use crate::oauth::client::ClientKind;
        let mut client = Client {
            id: "https://chatgpt.com/oauth/abc/client.json".into(),
            name: "ChatGPT".into(),
            secret_hash: None,
            redirect_uris: vec![
                "https://chatgpt.com/connector/oauth/abc".into(),
                "http://127.0.0.1/cb".into(),
            ],
            kind: ClientKind::Public,
            first_party: false,
            origin: ClientOrigin::MetadataDocument,
            may_introspect: false,
            key_set: None,
            dpop_bound: false,
        };
        assert_eq!(client_hosts(&client), ["chatgpt.com"]);
        client.origin = ClientOrigin::Dynamic;
        assert_eq!(client_hosts(&client), ["chatgpt.com", "127.0.0.1"]);
    }
}
