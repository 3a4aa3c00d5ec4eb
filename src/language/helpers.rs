//! The arithmetic and list helpers templates may call besides Handlebars' own: `add`, `sub`,
//! `mul`, `div`, `mod`, `min`, `max`, `clamp`, `round`, `floor`, `ceil`, `abs` and `index_of`,
//! and `default` (the first of its arguments that has a value: `{{default state.pick "none"}}`).
//! Each returns a JSON number, so it composes in subexpressions (`{{#if (gt (sub data.timer 2)
//! 0)}}`), and a template that is exactly one of these calls keeps the number's type (a body's
//! `championId: "{{add x 1}}"` sends a number).
//!
//! Written here because Handlebars ships comparisons but no arithmetic, and the crates that add
//! helpers (handlebars_misc_helpers) bring string, JSON and environment helpers, not these; each
//! is a few lines over `HelperDef::call_inner`. A value that is not a number (or a numeric
//! string) is an error of the run that names the helper, never a silent 0.

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::Value;

/// Every helper this module registers, for `check`'s list of known helpers.
pub(crate) const NAMES: [&str; 14] = [
    "add", "sub", "mul", "div", "mod", "min", "max", "clamp", "round", "floor", "ceil", "abs",
    "index_of", "default",
];

/// The helpers whose result is a number, so a template that is one call to them keeps it
/// (Handlebars' own `len` among them).
pub(crate) fn returns_number(name: &str) -> bool {
    (NAMES.contains(&name) && name != "default") || name == "len"
}

/// Registers every helper of this module.
pub(crate) fn register(registry: &mut Handlebars<'static>) {
    use Arithmetic as A;
    registry.register_helper(
        "add",
        Box::new(A {
            name: "add",
            arity: 2..,
            compute: |v| Ok(v.iter().sum()),
        }),
    );
    registry.register_helper(
        "sub",
        Box::new(A {
            name: "sub",
            arity: 2..3,
            compute: |v| Ok(v[0] - v[1]),
        }),
    );
    registry.register_helper(
        "mul",
        Box::new(A {
            name: "mul",
            arity: 2..,
            compute: |v| Ok(v.iter().product()),
        }),
    );
    registry.register_helper(
        "div",
        Box::new(A {
            name: "div",
            arity: 2..3,
            compute: |v| divide(v[0], v[1]),
        }),
    );
    registry.register_helper(
        "mod",
        Box::new(A {
            name: "mod",
            arity: 2..3,
            compute: |v| divide(v[0], v[1]).map(|_| v[0].rem_euclid(v[1])),
        }),
    );
    registry.register_helper(
        "min",
        Box::new(A {
            name: "min",
            arity: 1..,
            compute: |v| Ok(v.iter().copied().fold(f64::INFINITY, f64::min)),
        }),
    );
    registry.register_helper(
        "max",
        Box::new(A {
            name: "max",
            arity: 1..,
            compute: |v| Ok(v.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        }),
    );
    registry.register_helper(
        "clamp",
        Box::new(A {
            name: "clamp",
            arity: 3..4,
            compute: clamp,
        }),
    );
    registry.register_helper(
        "round",
        Box::new(A {
            name: "round",
            arity: 1..2,
            compute: |v| Ok(v[0].round()),
        }),
    );
    registry.register_helper(
        "floor",
        Box::new(A {
            name: "floor",
            arity: 1..2,
            compute: |v| Ok(v[0].floor()),
        }),
    );
    registry.register_helper(
        "ceil",
        Box::new(A {
            name: "ceil",
            arity: 1..2,
            compute: |v| Ok(v[0].ceil()),
        }),
    );
    registry.register_helper(
        "abs",
        Box::new(A {
            name: "abs",
            arity: 1..2,
            compute: |v| Ok(v[0].abs()),
        }),
    );
    registry.register_helper("index_of", Box::new(IndexOf));
    registry.register_helper("default", Box::new(Default));
}

/// `default A B ...`: the first argument that has a value (not missing, not `null`): a template
/// reads a value that may not be there (`{{default state.pick "none"}}`) without failing the
/// run in strict mode.
struct Default;

impl HelperDef for Default {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        if helper.params().len() < 2 {
            return Err(fail("`default` takes a value and a fallback".to_string()));
        }
        let found = helper
            .params()
            .iter()
            .find(|p| !p.is_value_missing() && !p.value().is_null())
            .map_or(Value::Null, |p| p.value().clone());
        Ok(ScopedJson::Derived(found))
    }
}

/// A helper over numbers: its arguments (at least `arity.start`, fewer than `arity.end` when it
/// has an end), each a number or a numeric string.
struct Arithmetic<R> {
    name: &'static str,
    arity: R,
    compute: fn(&[f64]) -> Result<f64, String>,
}

impl<R: std::ops::RangeBounds<usize> + Send + Sync> HelperDef for Arithmetic<R> {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let params = helper.params();
        if !self.arity.contains(&params.len()) {
            return Err(fail(format!(
                "`{}` got {} argument(s)",
                self.name,
                params.len()
            )));
        }
        let numbers = params
            .iter()
            .map(|p| {
                number(p.value())
                    .ok_or_else(|| fail(format!("`{}`: {} is not a number", self.name, p.value())))
            })
            .collect::<Result<Vec<f64>, _>>()?;
        let result = (self.compute)(&numbers).map_err(|e| fail(format!("`{}`: {e}", self.name)))?;
        Ok(ScopedJson::Derived(json_number(result)))
    }
}

/// `index_of LIST VALUE`: the position of VALUE in LIST (from 0), or -1: where a champion stands
/// in a priority list.
struct IndexOf;

impl HelperDef for IndexOf {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let (Some(list), Some(wanted), None) = (helper.param(0), helper.param(1), helper.param(2))
        else {
            return Err(fail("`index_of` takes a list and a value".to_string()));
        };
        let Value::Array(items) = list.value() else {
            return Err(fail(format!("`index_of`: {} is not a list", list.value())));
        };
        let found = items.iter().position(|item| same(item, wanted.value()));
        Ok(ScopedJson::Derived(
            found.map_or(Value::from(-1), Value::from),
        ))
    }
}

/// JSON equality with numbers by value (`516` is `516.0`), as conditions compare. (The
/// conditions' own comparison lives above the templates; this module stays below them.)
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn fail(message: String) -> RenderError {
    RenderErrorReason::Other(message).into()
}

fn divide(a: f64, b: f64) -> Result<f64, String> {
    if b == 0.0 {
        return Err("division by zero".to_string());
    }
    Ok(a / b)
}

fn clamp(v: &[f64]) -> Result<f64, String> {
    if v[1] > v[2] {
        return Err(format!(
            "the low bound {} is above the high bound {}",
            v[1], v[2]
        ));
    }
    Ok(v[0].clamp(v[1], v[2]))
}

/// A number, or a string that reads as one (ids and timers sometimes come as text).
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

/// `3` rather than `3.0` when the result is whole, as the client's integer fields want.
pub(crate) fn json_number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, data: Value) -> Result<String, String> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        register(&mut registry);
        registry
            .render_template(template, &data)
            .map_err(|e| e.to_string())
    }

    /// Whole results print as integers; subexpressions compose; strings that are numbers count.
    #[test]
    fn arithmetic_composes() {
        let data = json!({"timer": 30, "id": "516", "half": 0.5});
        assert_eq!(render("{{sub timer 2}}", data.clone()).unwrap(), "28");
        assert_eq!(render("{{add id 1}}", data.clone()).unwrap(), "517");
        assert_eq!(render("{{mul timer half}}", data.clone()).unwrap(), "15");
        assert_eq!(render("{{div timer 4}}", data.clone()).unwrap(), "7.5");
        assert_eq!(
            render("{{clamp (sub timer 40) 0 10}}", data.clone()).unwrap(),
            "0"
        );
        assert_eq!(render("{{max 1 timer 7}}", data.clone()).unwrap(), "30");
        assert_eq!(
            render("{{#if (gt (sub timer 2) 20)}}late{{/if}}", data).unwrap(),
            "late"
        );
    }

    /// Bad arguments are errors that name the helper.
    #[test]
    fn bad_arguments_are_errors() {
        let data = json!({"name": "Ahri", "list": [1]});
        assert!(
            render("{{add name 1}}", data.clone())
                .unwrap_err()
                .contains("`add`: \"Ahri\" is not a number")
        );
        assert!(
            render("{{div 1 0}}", data.clone())
                .unwrap_err()
                .contains("division by zero")
        );
        assert!(
            render("{{sub 1}}", data.clone())
                .unwrap_err()
                .contains("got 1 argument")
        );
        assert!(
            render("{{clamp 5 10 1}}", data)
                .unwrap_err()
                .contains("low bound")
        );
    }

    /// `index_of` finds by JSON value, numbers by value.
    #[test]
    fn index_of_ranks_in_a_list() {
        let data = json!({"prio": [103, 238, 516], "mine": 516.0});
        assert_eq!(render("{{index_of prio mine}}", data.clone()).unwrap(), "2");
        assert_eq!(render("{{index_of prio 1}}", data).unwrap(), "-1");
    }
}
