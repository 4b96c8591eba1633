//! Cleaning the serial console. SeaBIOS and the kernel reset the terminal on the way
//! up (`ESC c`, `ESC [2J`, ...) without a newline, which would glue the first result line
//! to firmware noise and, echoed, would clear the developer's terminal.

/// Removes terminal escape sequences and control characters other than tab and newline.
pub(crate) fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters, then one final byte in @..~
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                // Two-character sequences such as ESC c (reset); the charset ones take a third.
                Some('(' | ')') => {
                    chars.next();
                }
                _ => {}
            },
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_firmware_terminal_resets() {
        let raw = "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2)\r\n\
                   Booting from ROM..\x1bc\x1b[?7l\x1b[2J\n@@MUS kernel 7.3\r\n";
        assert_eq!(
            clean(raw),
            "SeaBIOS (version 1.16.2)\nBooting from ROM..\n@@MUS kernel 7.3\n"
        );
    }

    #[test]
    fn keeps_tabs_and_text() {
        assert_eq!(clean("a\tb \x1b]0;title\x07c\x1b(Bd\x08"), "a\tb cd");
        assert_eq!(clean("µs p99"), "µs p99");
    }
}
