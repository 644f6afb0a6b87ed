//! Every route we serve and the function that serves it. The local server dispatches with
//! this table, each function checks its requests against it, and a test holds
//! `template.yaml` to it. Patterns are matched segment by segment after the `.json` suffix is
//! stripped; `{name}` matches any one segment, and literal segments beat parameters.

use crate::error::ApiError;
use crate::http::ApiRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: &'static str,
}

const fn route(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route { method, path, function }
}

pub const ROUTES: &[Route] = &[
    route("POST", "/session", "create-session"),
    route("GET", "/session", "get-session"),
    route("DELETE", "/session", "destroy-session"),
    route("POST", "/login", "login"),
    route("DELETE", "/login", "logout"),
    route("POST", "/users", "signup"),
    route("PUT", "/users/{id}", "update-user"),
    route("DELETE", "/users/{id}", "delete-user"),
    route("DELETE", "/users/external/{id}", "delete-user"),
    route("GET", "/users/v2", "list-users-v2"),
    route("GET", "/users", "users-v1"),
    route("GET", "/users/{id}", "users-v1"),
    route("GET", "/users/by_login", "users-v1"),
    route("GET", "/users/by_email", "users-v1"),
    route("GET", "/users/by_full_name", "users-v1"),
    route("GET", "/users/by_facebook_id", "users-v1"),
    route("GET", "/users/by_twitter_id", "users-v1"),
    route("GET", "/users/by_tags", "users-v1"),
    route("GET", "/users/phone", "users-v1"),
    route("GET", "/users/by_phone", "users-v1"),
    route("GET", "/users/external/{id}", "users-v1"),
    route("POST", "/blobs", "create-blob"),
    route("PUT", "/blobs/{id}/complete", "complete-blob"),
    route("GET", "/blobs/{id}", "get-blob"),
    route("GET", "/blobs/{id}/download", "get-blob"),
    route("GET", "/blobs/{id}/object", "get-blob"),
    route("DELETE", "/blobs/{id}", "delete-blob"),
    route("POST", "/users/password/reset", "reset-password"),
    route("GET", "/users/password/reset", "reset-password"),
    route("GET", "/password-reset", "reset-page"),
    route("POST", "/password-reset", "reset-page"),
];

impl Route {
    fn segments(&self) -> impl Iterator<Item = &'static str> {
        self.path.split('/').filter(|s| !s.is_empty())
    }

    /// Whether the (normalised) path segments fit this route's pattern.
    pub fn matches_path(&self, segments: &[String]) -> bool {
        self.segments().count() == segments.len()
            && self.segments().zip(segments).all(|(pattern, actual)| is_param(pattern) || pattern == actual)
    }

    /// How many literal segments the pattern has: more is more specific.
    fn specificity(&self) -> usize {
        self.segments().filter(|s| !is_param(s)).count()
    }

    /// The value of `{name}` in `segments`.
    pub fn param<'a>(&self, name: &str, segments: &'a [String]) -> Option<&'a str> {
        let wanted = format!("{{{name}}}");
        self.segments().position(|s| s == wanted).and_then(|i| segments.get(i)).map(String::as_str)
    }
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// The route for a request: 404 when no pattern fits the path, 405 when one fits but not
/// with this method.
pub fn resolve(method: &str, segments: &[String]) -> Result<&'static Route, ApiError> {
    let mut fitting: Vec<&Route> = ROUTES.iter().filter(|r| r.matches_path(segments)).collect();
    if fitting.is_empty() {
        return Err(ApiError::NoRoute);
    }
    fitting.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
    let best = fitting[0].specificity();
    fitting
        .into_iter()
        .take_while(|r| r.specificity() == best)
        .find(|r| r.method == method)
        .ok_or(ApiError::MethodNotAllowed)
}

/// The route of `req`, which must belong to `function` (a function deployed behind the wrong
/// route answers 404 rather than doing something unexpected).
pub fn route_for(req: &ApiRequest, function: &str) -> Result<&'static Route, ApiError> {
    let route = resolve(req.method(), req.segments())?;
    if route.function == function { Ok(route) } else { Err(ApiError::NoRoute) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        path.split('/').filter(|s| !s.is_empty()).map(String::from).collect()
    }

    #[test]
    fn methods_pick_the_function() {
        assert_eq!(resolve("POST", &segs("/session")).unwrap().function, "create-session");
        assert_eq!(resolve("GET", &segs("/session")).unwrap().function, "get-session");
        assert_eq!(resolve("DELETE", &segs("/login")).unwrap().function, "logout");
    }

    #[test]
    fn literal_segments_beat_parameters() {
        assert_eq!(resolve("GET", &segs("/users/v2")).unwrap().function, "list-users-v2");
        assert_eq!(resolve("GET", &segs("/users/by_login")).unwrap().function, "users-v1");
        assert_eq!(resolve("GET", &segs("/users/42")).unwrap().function, "users-v1");
        assert_eq!(resolve("PUT", &segs("/users/42")).unwrap().function, "update-user");
        assert_eq!(resolve("DELETE", &segs("/users/external/9")).unwrap().function, "delete-user");
        let route = resolve("GET", &segs("/users/external/9")).unwrap();
        assert_eq!(route.param("id", &segs("/users/external/9")), Some("9"));
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        assert_eq!(resolve("GET", &segs("/nope")).unwrap_err().status(), 404);
        assert_eq!(resolve("PATCH", &segs("/session")).unwrap_err().status(), 405);
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "{a:?} twice");
            }
        }
    }
}
