//! A router builder that remembers every API route it registers, so a test can prove the
//! OpenAPI document lists each one (the document is written separately, next to handlers).

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

pub struct RouteTable<S> {
    router: Router<S>,
    routes: Vec<(Method, String)>,
}

impl<S: Clone + Send + Sync + 'static> Default for RouteTable<S> {
    fn default() -> Self {
        Self {
            router: Router::new(),
            routes: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    fn add(mut self, method: Method, path: &str, route: MethodRouter<S>) -> Self {
        self.routes.push((method, path.to_owned()));
        self.router = self.router.route(path, route);
        self
    }

    pub fn get<H, T>(self, path: &str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
    {
        self.add(Method::GET, path, get(handler))
    }

    pub fn post<H, T>(self, path: &str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
    {
        self.add(Method::POST, path, post(handler))
    }

    pub fn put<H, T>(self, path: &str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
    {
        self.add(Method::PUT, path, put(handler))
    }

    pub fn patch<H, T>(self, path: &str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
    {
        self.add(Method::PATCH, path, patch(handler))
    }

    pub fn delete<H, T>(self, path: &str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
    {
        self.add(Method::DELETE, path, delete(handler))
    }

    /// Routes registered so far, as (method, path) with axum's `{param}` syntax.
    pub fn routes(&self) -> &[(Method, String)] {
        &self.routes
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}
