//! `LIKE` patterns around text taken literally: a user's `%`, `_` or `\` matches itself,
//! not any text.

use sea_orm::sea_query::LikeExpr;

/// `before`, then `text` literally, then `after` (`before` and `after` may hold wildcards).
pub fn like_literal(before: &str, text: &str, after: &str) -> LikeExpr {
    let mut pattern = String::with_capacity(before.len() + text.len() + after.len() + 4);
    pattern.push_str(before);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(after);
    LikeExpr::new(pattern).escape('\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, Expr, Query, SqliteQueryBuilder};

    #[test]
    fn wildcards_in_the_text_are_escaped_and_the_frame_is_not() {
        let sql = Query::select()
            .column(Alias::new("a"))
            .from(Alias::new("t"))
            .and_where(Expr::col(Alias::new("a")).like(like_literal("%", r"5%_a\b", "%")))
            .to_string(SqliteQueryBuilder);
        assert!(sql.contains(r"LIKE '%5\%\_a\\b%' ESCAPE"), "{sql}");
    }
}
