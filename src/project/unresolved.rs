//! The markers an offline render leaves where a value needs AWS (`tf.x`, `ssm(/p)`, `account`,
//! `tag`): `validate` renders without credentials, and the checks downstream skip what holds one.

pub(crate) const MARKER_OPEN: &str = "⟨unresolved:";
pub(crate) const MARKER_CLOSE: char = '⟩';

/// Whether `s` holds a value left unresolved by an offline render.
pub fn is_unresolved(s: &str) -> bool {
    s.contains(MARKER_OPEN)
}

/// The marker standing for `name`.
pub(crate) fn marker(name: &str) -> String {
    format!("{MARKER_OPEN}{name}{MARKER_CLOSE}")
}
