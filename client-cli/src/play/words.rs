//! Splitting a typed line into words: whitespace separates, quotes group
//! (`team-create "Desert friends" saxaul`), a backslash escapes one character.

/// The words of `line`, or why it cannot be split (an unclosed quote).
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(open) = quote {
        return Err(format!("unclosed {open} quote"));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_spaces_and_group_in_quotes() {
        assert_eq!(
            split("  walk   5000 "),
            Ok(vec!["walk".into(), "5000".into()])
        );
        assert_eq!(
            split(r#"team-create "Desert friends" saxaul"#),
            Ok(vec![
                "team-create".into(),
                "Desert friends".into(),
                "saxaul".into()
            ])
        );
        assert_eq!(
            split("register 'a b'"),
            Ok(vec!["register".into(), "a b".into()])
        );
        assert_eq!(
            split(r"register a\ b"),
            Ok(vec!["register".into(), "a b".into()])
        );
        assert_eq!(split(r#"x """#), Ok(vec!["x".into(), String::new()]));
        assert_eq!(split(""), Ok(vec![]));
        assert!(split("register \"bob").is_err());
    }
}
