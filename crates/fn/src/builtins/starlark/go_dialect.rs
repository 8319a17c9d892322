//! Brings a program written for starlark-go's scanner and resolver (as the catalog function
//! configures them: sets, `while`, top-level control flow, global reassignment, recursion) to
//! source the `starlark` crate parses, without changing what the program means.
//!
//! One pass over the source, aware of strings, comments, brackets and line continuations:
//!
//! - Tabs. starlark-go takes tabs as whitespace anywhere and, in the indentation of a line, as
//!   advancing the indentation to `col + 8 - (i % 8)`, `i` being the tab's 0-based position on
//!   the line (so `\t` is 8 and `\t\t` 15, exactly as its scanner counts). The crate rejects any
//!   tab outside a string or comment. A tab in the indentation of a statement line becomes the
//!   spaces that give the same indentation level; any other tab outside a string or comment
//!   becomes one space, so columns on that line stay where they were. Tabs inside strings
//!   (triple-quoted ones included) and comments are left as they are.
//! - `while`. The crate has no `while` statement. `while COND:` becomes
//!   `for <counter> in range(2147483647):` with `if not _while_condition_(COND): break` as the
//!   first statement of the body, which is the same loop: the condition is tested before every
//!   iteration, and `break`, `continue` and `return` in the body behave alike. The test is a
//!   call that charges the statement budget, so a loop that would run longer is stopped by the
//!   budget long before the range ends, even when its body is empty.
//!
//! - Names. A name with non-ASCII letters, which starlark-go accepts, is spelled in ASCII.
//!
//! Line numbers stay those of the original program except after a `while` header, where the
//! inserted test adds one line (two for a body on the header's line).

/// How a `while` header is rewritten (the condition follows in
/// `if not _while_condition_(…): break`); the names are not ones a program would choose.
const WHILE_HEADER: &str = "for _while_iteration_ in range(2147483647):";

/// Rewrites `source`; see the module documentation.
pub(crate) fn to_crate_dialect(source: &str) -> String {
    let mut scanner = Scanner {
        chars: source.chars().collect(),
        pos: 0,
        out: String::with_capacity(source.len() + source.len() / 8),
        depth: 0,
        pending_test: None,
    };
    scanner.run();
    scanner.out
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
    out: String,
    /// Open brackets: inside them newlines and indentation mean nothing.
    depth: usize,
    /// The condition of a `while` whose body starts on the next statement line.
    pending_test: Option<String>,
}

impl Scanner {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn run(&mut self) {
        let mut line_start = true;
        while self.pos < self.chars.len() {
            if line_start {
                line_start = false;
                self.indentation();
                continue;
            }
            line_start = self.token();
        }
    }

    /// The whitespace that opens a line, and what a pending `while` test or a `while` header at
    /// the start of the statement needs.
    fn indentation(&mut self) {
        let begin = self.pos;
        let mut column = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                ' ' => column += 1,
                '\t' => column += 8 - (self.pos - begin) % 8,
                _ => break,
            }
            self.pos += 1;
        }
        let blank = matches!(self.peek(0), None | Some('\n' | '\r' | '#'));
        if blank || self.depth > 0 {
            // Not indentation: each tab becomes one space, so columns stay.
            self.out.extend((begin..self.pos).map(|_| ' '));
            return;
        }
        let indent = " ".repeat(column);
        if let Some(test) = self.pending_test.take() {
            self.out.push_str(&indent);
            push_test(&mut self.out, &test);
            self.out.push('\n');
        }
        self.out.push_str(&indent);
        if self.keyword("while") {
            self.while_header(&indent);
        }
    }

    /// Whether the identifier at the cursor is exactly `word`.
    fn keyword(&self, word: &str) -> bool {
        let mut n = 0;
        for expected in word.chars() {
            if self.peek(n) != Some(expected) {
                return false;
            }
            n += 1;
        }
        !self.peek(n).is_some_and(is_identifier_char)
    }

    /// At `while` (depth 0, start of a statement): reads the condition up to the header's colon
    /// and writes the `for` header.
    fn while_header(&mut self, indent: &str) {
        self.pos += "while".len();
        let outer = std::mem::take(&mut self.out);
        // The condition is scanned like any other source, into its own buffer.
        loop {
            match self.peek(0) {
                None => break,
                Some(':') if self.depth == 0 => break,
                Some('\n') if self.depth == 0 => break,
                Some(_) => {
                    if self.token() && self.depth == 0 {
                        break;
                    }
                }
            }
        }
        let condition = std::mem::replace(&mut self.out, outer);
        if self.peek(0) != Some(':') {
            // Not a well-formed header: keep it as it was, for the parser to report.
            self.out.push_str("while");
            self.out.push_str(&condition);
            return;
        }
        self.pos += 1;
        self.out.push_str(WHILE_HEADER);
        // A body on the header's line moves to lines of its own, one space deeper.
        let mut ahead = 0;
        while matches!(self.peek(ahead), Some(' ' | '\t')) {
            ahead += 1;
        }
        if matches!(self.peek(ahead), None | Some('\n' | '\r' | '#')) {
            self.pending_test = Some(condition);
            return;
        }
        self.pos += ahead;
        self.out.push('\n');
        self.out.push_str(indent);
        self.out.push(' ');
        push_test(&mut self.out, &condition);
        self.out.push('\n');
        self.out.push_str(indent);
        self.out.push(' ');
    }

    /// Copies one token (or one character of whitespace or punctuation); returns whether it
    /// ended a line, so that the next one starts a statement.
    fn token(&mut self) -> bool {
        let Some(c) = self.peek(0) else {
            return false;
        };
        match c {
            '\n' => {
                self.out.push('\n');
                self.pos += 1;
                return true;
            }
            '\t' => {
                self.out.push(' ');
                self.pos += 1;
            }
            '#' => {
                while let Some(c) = self.peek(0) {
                    if c == '\n' {
                        break;
                    }
                    self.out.push(c);
                    self.pos += 1;
                }
            }
            '\\' if self.peek(1) == Some('\n')
                || (self.peek(1) == Some('\r') && self.peek(2) == Some('\n')) =>
            {
                // A continued line: its leading whitespace is not indentation.
                while let Some(c) = self.peek(0) {
                    self.out.push(c);
                    self.pos += 1;
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' | '\'' => self.string("", c),
            '(' | '[' | '{' => {
                self.depth += 1;
                self.out.push(c);
                self.pos += 1;
            }
            ')' | ']' | '}' => {
                self.depth = self.depth.saturating_sub(1);
                self.out.push(c);
                self.pos += 1;
            }
            c if is_identifier_char(c) => {
                // A whole identifier (or number), so that a string prefix such as `r` or `b`
                // stays with its string and `while` is only found as a word.
                let begin = self.pos;
                while self.peek(0).is_some_and(is_identifier_char) {
                    self.pos += 1;
                }
                let word: String = self.chars[begin..self.pos].iter().collect();
                match self.peek(0) {
                    Some(quote @ ('"' | '\''))
                        if matches!(word.as_str(), "r" | "b" | "rb" | "br") =>
                    {
                        self.string(&word, quote)
                    }
                    _ if !word.is_ascii() && !word.starts_with(|c: char| c.is_numeric()) => {
                        push_ascii_name(&mut self.out, &word)
                    }
                    _ => self.out.push_str(&word),
                }
            }
            c => {
                self.out.push(c);
                self.pos += 1;
            }
        }
        false
    }

    /// Copies a string literal (after its prefix, `r`, `b`, `rb` or `br`, if any) as it is,
    /// but for one case: in a raw string, the crate drops the backslash of `\"` and `\'`, which
    /// starlark-go keeps (`r"\""` is a backslash and a quote), so such a literal is written
    /// without the `r`, every backslash and quote escaped. A backslash always takes the next
    /// character with it; an unterminated single-quoted string ends at the line's end, where
    /// the parser reports it.
    fn string(&mut self, prefix: &str, quote: char) {
        let start = self.pos;
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        let opening = if triple { 3 } else { 1 };
        let mut i = start + opening;
        let mut escaped_quote = false;
        let mut closed = false;
        while let Some(&c) = self.chars.get(i) {
            if c == '\\' {
                escaped_quote |= matches!(self.chars.get(i + 1), Some('"' | '\''));
                i += 2;
                continue;
            }
            if c == '\n' && !triple {
                break;
            }
            if c == quote
                && (!triple
                    || (self.chars.get(i + 1) == Some(&quote)
                        && self.chars.get(i + 2) == Some(&quote)))
            {
                i += opening;
                closed = true;
                break;
            }
            i += 1;
        }
        let end = i.min(self.chars.len());
        self.pos = end;
        if !(closed && escaped_quote && prefix.contains('r')) {
            self.out.push_str(prefix);
            self.out.extend(&self.chars[start..end]);
            return;
        }
        self.out.extend(prefix.chars().filter(|&c| c != 'r'));
        self.out.extend(std::iter::repeat_n(quote, opening));
        for &c in &self.chars[start + opening..end - opening] {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '"' | '\'' => {
                    self.out.push('\\');
                    self.out.push(c);
                }
                // Only after a backslash (a raw string keeps both): as an escape here.
                '\n' if !triple => self.out.push_str("\\n"),
                c => self.out.push(c),
            }
        }
        self.out.extend(std::iter::repeat_n(quote, opening));
    }
}

/// starlark-go takes any Unicode letter in a name, the crate only ASCII: a name with other
/// letters is written as `_U_` and its characters, the non-ASCII ones as `_<hex>_`, the same
/// name at every use.
fn push_ascii_name(out: &mut String, word: &str) {
    out.push_str("_U_");
    for c in word.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("_{:x}_", u32::from(c)));
        }
    }
}

fn push_test(out: &mut String, condition: &str) {
    out.push_str("if not _while_condition_(");
    out.push_str(condition.trim());
    out.push_str("): break");
}

fn is_identifier_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::to_crate_dialect;

    #[test]
    fn leading_tabs_count_as_starlark_go_counts_them() {
        assert_eq!(to_crate_dialect("if x:\n\ty = 1\n"), "if x:\n        y = 1\n");
        // The second tab of a line adds 7, not 8: the column starlark-go computes.
        assert_eq!(to_crate_dialect("\t\tz\n"), format!("{}z\n", " ".repeat(15)));
        assert_eq!(to_crate_dialect("  \tz\n"), format!("{}z\n", " ".repeat(8)));
        assert_eq!(to_crate_dialect("\t z\n"), format!("{}z\n", " ".repeat(9)));
    }

    #[test]
    fn other_tabs_become_one_space() {
        assert_eq!(to_crate_dialect("x =\t1\t# a\tcomment\n"), "x = 1 # a\tcomment\n");
        assert_eq!(to_crate_dialect("x = [\n\t1,\n\t\t2]\n"), "x = [\n 1,\n  2]\n");
        assert_eq!(to_crate_dialect("x = 1 + \\\n\t2\n"), "x = 1 + \\\n 2\n");
        assert_eq!(to_crate_dialect("x = 1 + \\\r\n\t2\r\n"), "x = 1 + \\\r\n 2\r\n");
        assert_eq!(to_crate_dialect("if x:\r\n\ty = 1\r\n"), "if x:\r\n        y = 1\r\n");
        assert_eq!(to_crate_dialect("\t\n\t# c\n"), " \n # c\n");
    }

    #[test]
    fn strings_are_left_alone() {
        let source = "s = \"\"\"\n\ta \\\"\"\" still\n\tb\"\"\"\nt = '\\t\t\\''\nu = r\"\\d\t\"\n";
        assert_eq!(to_crate_dialect(source), source);
        let source = "s = '''\nwhile x:\n\tpass'''\n";
        assert_eq!(to_crate_dialect(source), source);
    }

    #[test]
    fn raw_strings_with_escaped_quotes_lose_the_r() {
        assert_eq!(to_crate_dialect(r#"x = r"a\"\b" + rb'\''"#), r#"x = "a\\\"\\b" + b'\\\''"#);
        assert_eq!(to_crate_dialect(r#"x = r"\d+\n""#), r#"x = r"\d+\n""#);
    }

    #[test]
    fn unicode_names_are_spelled_in_ascii() {
        assert_eq!(
            to_crate_dialect("é = 'é'\nx.nœud(é=1)\n"),
            "_U__e9_ = 'é'\nx._U_n_153_ud(_U__e9_=1)\n"
        );
    }

    #[test]
    fn while_becomes_a_bounded_for() {
        assert_eq!(
            to_crate_dialect("while n > 0:\n  n -= 1\n"),
            "for _while_iteration_ in range(2147483647):\n  if not _while_condition_(n > 0): break\n  n -= 1\n"
        );
        assert_eq!(
            to_crate_dialect("while (a and\n       b):  # loop\n\n  # body\n\tf()\n"),
            "for _while_iteration_ in range(2147483647):  # loop\n\n  # body\n        if not _while_condition_((a and\n       b)): break\n        f()\n"
        );
        assert_eq!(
            to_crate_dialect("def f():\n  while x: x -= 1; y()\n"),
            "def f():\n  for _while_iteration_ in range(2147483647):\n   if not _while_condition_(x): break\n   x -= 1; y()\n"
        );
        assert_eq!(to_crate_dialect("whiled = 1\nwhile_x = 2\n"), "whiled = 1\nwhile_x = 2\n");
        assert_eq!(to_crate_dialect("while x\n"), "while x\n");
    }

    #[test]
    fn any_input_is_rewritten_without_panic() {
        // Pieces that steer the scanner, in pseudo-random order (a fixed linear congruence).
        let pieces = [
            "while", " ", "\t", "\n", "\r", ":", "(", ")", "[", "'", "\"", "\"\"\"", "'''", "\\",
            "r", "b", "#", "x", "é", ";", "1",
        ];
        let mut state: u64 = 7;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for _ in 0..20_000 {
            let mut source = String::new();
            for _ in 0..next() % 40 {
                source.push_str(pieces[next() % pieces.len()]);
            }
            let out = to_crate_dialect(&source);
            // Bounded growth: 8 spaces a tab, some 80 bytes for the 7 of `while:\n`.
            assert!(out.len() <= source.len() * 16 + 100, "{source:?}");
        }
    }
}
