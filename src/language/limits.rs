//! The shape limits of expressions in rule files, checked on the text before a parser sees it.
//!
//! Handlebars and jsonpath-rust parse and evaluate recursively and set no depth limit of their
//! own, so a template with a thousand nested blocks or subexpressions, or a self-including
//! partial, overflows the stack of whichever thread meets it first (the reload thread or a run)
//! and takes the process down. Counting nesting on the raw text is cheap, needs no parser, and
//! runs before any recursion can start. The limits are far above what a real rule writes and are
//! listed in SECURITY.md.
//!
//! Uses nothing else in the crate.

/// The longest template text, in bytes.
pub(crate) const MAX_TEMPLATE_BYTES: usize = 16 * 1024;
/// How deep `{{#block}}`s may nest in one template.
pub(crate) const MAX_BLOCK_DEPTH: usize = 16;
/// How deep `(subexpressions)` may nest inside one `{{ }}`.
pub(crate) const MAX_SUBEXPRESSION_DEPTH: usize = 8;
/// How deep `{{#each}}` blocks may nest: one loop inside another multiplies the work by the
/// length of a list that comes from the client, so one level is all a template may have.
pub(crate) const MAX_EACH_DEPTH: usize = 1;
/// The longest JSONPath expression, in bytes.
pub(crate) const MAX_PATH_BYTES: usize = 4 * 1024;
/// How deep brackets and parentheses may nest in one JSONPath expression.
pub(crate) const MAX_PATH_DEPTH: usize = 16;

/// Why a template or a path was refused: the text says what to change.
pub(crate) type Refusal = String;

/// Checks a template's size, its block and subexpression nesting, and that it uses no partials
/// or decorators (a partial can include itself, and rules have no use for either).
pub(crate) fn check_template(source: &str) -> Result<(), Refusal> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "this template is {} bytes long; templates are limited to {MAX_TEMPLATE_BYTES} bytes",
            source.len()
        ));
    }
    let mut blocks: Vec<bool> = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = mustache_end(after) else {
            // Unclosed: Handlebars' own parser reports it, without recursion.
            return Ok(());
        };
        let inner = after[..end].trim_start_matches('{').trim_start_matches('~');
        check_mustache(inner.trim_start(), &mut blocks)?;
        rest = &after[end..];
    }
    Ok(())
}

/// Where the mustache that `text` begins (just after its `{{`) ends, skipping quoted strings.
fn mustache_end(text: &str) -> Option<usize> {
    let mut quote = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

fn check_mustache(inner: &str, blocks: &mut Vec<bool>) -> Result<(), Refusal> {
    if inner.starts_with('!') {
        return Ok(());
    }
    if inner.starts_with('>') || inner.starts_with("#>") {
        return Err("partials (`{{> name}}`) are not supported in rule templates".into());
    }
    if inner.starts_with('*') || inner.starts_with("#*") {
        return Err(
            "decorators and inline partials (`{{#*inline}}`) are not supported in rule templates"
                .into(),
        );
    }
    check_subexpressions(inner)?;
    if let Some(block) = inner.strip_prefix('#').or_else(|| inner.strip_prefix('^'))
        && !block.trim().is_empty()
    {
        let is_each = block.trim_start().starts_with("each");
        blocks.push(is_each);
        if blocks.len() > MAX_BLOCK_DEPTH {
            return Err(format!(
                "blocks nest {} deep here; templates are limited to {MAX_BLOCK_DEPTH} levels",
                blocks.len()
            ));
        }
        let loops = blocks.iter().filter(|each| **each).count();
        if loops > MAX_EACH_DEPTH {
            return Err(format!(
                "`{{{{#each}}}}` inside `{{{{#each}}}}`: templates may nest {MAX_EACH_DEPTH} loop; \
                 loop over the outer list with a step instead"
            ));
        }
    } else if inner.starts_with('/') {
        blocks.pop();
    }
    Ok(())
}

fn check_subexpressions(inner: &str) -> Result<(), Refusal> {
    let depth = max_depth(inner, b'(', b')');
    if depth > MAX_SUBEXPRESSION_DEPTH {
        return Err(format!(
            "subexpressions nest {depth} deep here; templates are limited to {MAX_SUBEXPRESSION_DEPTH} levels"
        ));
    }
    Ok(())
}

/// The deepest nesting of `open`/`close` in `text`, outside quoted strings.
fn max_depth(text: &str, open: u8, close: u8) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut quote = None;
    for &c in text.as_bytes() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == open => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            None if c == close => depth = depth.saturating_sub(1),
            None => {}
        }
    }
    deepest
}

/// Checks a JSONPath expression's length and the nesting of its brackets and parentheses.
pub(crate) fn check_path(path: &str) -> Result<(), Refusal> {
    if path.len() > MAX_PATH_BYTES {
        return Err(format!(
            "this path is {} bytes long; paths are limited to {MAX_PATH_BYTES} bytes",
            path.len()
        ));
    }
    let depth = max_depth(path, b'[', b']').max(max_depth(path, b'(', b')'));
    if depth > MAX_PATH_DEPTH {
        return Err(format!(
            "brackets nest {depth} deep in this path; paths are limited to {MAX_PATH_DEPTH} levels"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_templates_pass() {
        for ok in [
            "{{data.id}}",
            "{{#if (eq data.state \"InProgress\")}}yes{{else}}no{{/if}}",
            "{{#each data.items}}{{this.name}} {{/each}}",
            "{{! a comment with {{ braces }} }}",
            "{{#if a}}{{#if b}}{{/if}}{{/if}}{{#each x}}{{/each}}{{#each y}}{{/each}}",
        ] {
            assert_eq!(check_template(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn recursion_and_depth_are_refused() {
        let partial = "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}";
        assert!(
            check_template(partial)
                .unwrap_err()
                .contains("inline partials")
        );
        assert!(check_template("{{> p}}").unwrap_err().contains("partials"));
        let subexpr = format!("{{{{{}x{}}}}}", "(lookup ".repeat(500), ")".repeat(500));
        assert!(
            check_template(&subexpr)
                .unwrap_err()
                .contains("subexpressions")
        );
        let blocks = format!("{}{}", "{{#if a}}".repeat(100), "{{/if}}".repeat(100));
        assert!(check_template(&blocks).unwrap_err().contains("blocks nest"));
        let loops = "{{#each a}}{{#each ../a}}{{/each}}{{/each}}";
        assert!(check_template(loops).unwrap_err().contains("inside"));
        assert!(check_template(&"x".repeat(MAX_TEMPLATE_BYTES + 1)).is_err());
    }

    #[test]
    fn quoted_text_does_not_count() {
        assert_eq!(check_template("{{eq a \"((((((((((((\"}}"), Ok(()));
        assert_eq!(check_template("{{eq a \"}}\"}}"), Ok(()));
    }

    #[test]
    fn deep_paths_are_refused() {
        assert_eq!(
            check_path("$.data.myTeam[?@.cellId == 1].championId"),
            Ok(())
        );
        let deep = format!("$.a{}{}", "[?(".repeat(100), ")]".repeat(100));
        assert!(check_path(&deep).is_err());
    }
}
