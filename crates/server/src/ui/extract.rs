//! The query and path extractors of the pages: a value that does not parse (`?page=abc`,
//! a NUL in the path) answers the HTML error page with the API's status and message, where
//! the API's own extractors answer the JSON envelope.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error_page::PageError;
use crate::http::{ApiPath, ApiQuery};

/// A page's query parameters. Bad values → the error page, 400.
pub struct PageQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for PageQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiQuery(value) = ApiQuery::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// A page's path parameters. Bad values → the error page, 400.
pub struct PagePath<T>(pub T);

impl<S, T> FromRequestParts<S> for PagePath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiPath(value) = ApiPath::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}
