//! Every route we serve and the function that serves it. The local server dispatches with
//! this table, each function checks its requests against it, and a test holds
//! `template.yaml` to it. Patterns are matched segment by segment after the `.json` suffix is
//! stripped; `{name}` matches any one segment, and literal segments beat parameters.

use crate::error::ApiError;
use crate::http::ApiRequest;

/// A Lambda function: one binary, one entry in `template.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    CreateSession,
    GetSession,
    DestroySession,
    Login,
    Logout,
    Signup,
    UpdateUser,
    DeleteUser,
    ListUsersV2,
    UsersV1,
    CreateBlob,
    CompleteBlob,
    GetBlob,
    DeleteBlob,
    ResetPassword,
    ResetPage,
}

impl Function {
    /// Every HTTP function (`send-mail` is driven by the table's stream, not by a route).
    pub const ALL: [Function; 16] = [
        Function::CreateSession,
        Function::GetSession,
        Function::DestroySession,
        Function::Login,
        Function::Logout,
        Function::Signup,
        Function::UpdateUser,
        Function::DeleteUser,
        Function::ListUsersV2,
        Function::UsersV1,
        Function::CreateBlob,
        Function::CompleteBlob,
        Function::GetBlob,
        Function::DeleteBlob,
        Function::ResetPassword,
        Function::ResetPage,
    ];

    /// The crate, binary and `template.yaml` name (`create-session`).
    pub const fn name(self) -> &'static str {
        match self {
            Function::CreateSession => "create-session",
            Function::GetSession => "get-session",
            Function::DestroySession => "destroy-session",
            Function::Login => "login",
            Function::Logout => "logout",
            Function::Signup => "signup",
            Function::UpdateUser => "update-user",
            Function::DeleteUser => "delete-user",
            Function::ListUsersV2 => "list-users-v2",
            Function::UsersV1 => "users-v1",
            Function::CreateBlob => "create-blob",
            Function::CompleteBlob => "complete-blob",
            Function::GetBlob => "get-blob",
            Function::DeleteBlob => "delete-blob",
            Function::ResetPassword => "reset-password",
            Function::ResetPage => "reset-page",
        }
    }
}

/// One route: what handlers match on, so that a path renamed in [`ROUTES`] cannot make a
/// handler fall through to another branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    CreateSession,
    GetSession,
    DestroySession,
    DestroySessionById,
    DestroyOtherSessions,
    Login,
    Logout,
    Signup,
    UpdateUser,
    DeleteUser,
    DeleteUserByExternalId,
    ListUsersV2,
    ListUsersV1,
    GetUser,
    UsersByLogin,
    UsersByEmail,
    UsersByFullName,
    UsersByFacebookId,
    UsersByTwitterId,
    UsersByTags,
    UsersByPhone,
    UsersByPhoneLegacy,
    GetUserByExternalId,
    CreateBlob,
    CompleteBlob,
    ListBlobs,
    GetBlob,
    DownloadBlob,
    BlobObject,
    DeleteBlob,
    RequestReset,
    RequestResetByQuery,
    ResetPage,
    ResetSubmit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub endpoint: Endpoint,
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
}

const fn route(endpoint: Endpoint, method: &'static str, path: &'static str, function: Function) -> Route {
    Route { endpoint, method, path, function }
}

use Endpoint as E;
use Function as F;

pub const ROUTES: &[Route] = &[
    route(E::CreateSession, "POST", "/session", F::CreateSession),
    route(E::GetSession, "GET", "/session", F::GetSession),
    route(E::DestroySession, "DELETE", "/session", F::DestroySession),
    route(E::DestroySessionById, "DELETE", "/session/{id}", F::DestroySession),
    route(E::DestroyOtherSessions, "DELETE", "/session/list", F::DestroySession),
    route(E::Login, "POST", "/login", F::Login),
    route(E::Logout, "DELETE", "/login", F::Logout),
    route(E::Signup, "POST", "/users", F::Signup),
    route(E::UpdateUser, "PUT", "/users/{id}", F::UpdateUser),
    route(E::DeleteUser, "DELETE", "/users/{id}", F::DeleteUser),
    route(E::DeleteUserByExternalId, "DELETE", "/users/external/{id}", F::DeleteUser),
    route(E::ListUsersV2, "GET", "/users/v2", F::ListUsersV2),
    route(E::ListUsersV1, "GET", "/users", F::UsersV1),
    route(E::GetUser, "GET", "/users/{id}", F::UsersV1),
    route(E::UsersByLogin, "GET", "/users/by_login", F::UsersV1),
    route(E::UsersByEmail, "GET", "/users/by_email", F::UsersV1),
    route(E::UsersByFullName, "GET", "/users/by_full_name", F::UsersV1),
    route(E::UsersByFacebookId, "GET", "/users/by_facebook_id", F::UsersV1),
    route(E::UsersByTwitterId, "GET", "/users/by_twitter_id", F::UsersV1),
    route(E::UsersByTags, "GET", "/users/by_tags", F::UsersV1),
    route(E::UsersByPhoneLegacy, "GET", "/users/phone", F::UsersV1),
    route(E::UsersByPhone, "GET", "/users/by_phone", F::UsersV1),
    route(E::GetUserByExternalId, "GET", "/users/external/{id}", F::UsersV1),
    route(E::CreateBlob, "POST", "/blobs", F::CreateBlob),
    route(E::CompleteBlob, "PUT", "/blobs/{id}/complete", F::CompleteBlob),
    route(E::ListBlobs, "GET", "/blobs", F::GetBlob),
    route(E::GetBlob, "GET", "/blobs/{id}", F::GetBlob),
    route(E::DownloadBlob, "GET", "/blobs/{id}/download", F::GetBlob),
    route(E::BlobObject, "GET", "/blobs/{id}/object", F::GetBlob),
    route(E::DeleteBlob, "DELETE", "/blobs/{id}", F::DeleteBlob),
    route(E::RequestReset, "POST", "/users/password/reset", F::ResetPassword),
    route(E::RequestResetByQuery, "GET", "/users/password/reset", F::ResetPassword),
    route(E::ResetPage, "GET", "/password-reset", F::ResetPage),
    route(E::ResetSubmit, "POST", "/password-reset", F::ResetPage),
];

impl Route {
    fn segments(&self) -> impl Iterator<Item = &'static str> {
        self.path.split('/').filter(|s| !s.is_empty())
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
/// with this method. Of the patterns that fit, the most literal segments win (`/users/v2`
/// over `/users/{id}`), and among those the first listed with this method.
pub fn resolve(method: &str, segments: &[String]) -> Result<&'static Route, ApiError> {
    // (specificity of the best fitting patterns so far, the first of them with this method)
    let mut best: Option<(usize, Option<&'static Route>)> = None;
    for (route, pattern) in ROUTES.iter().zip(route_segments()) {
        if !fits(pattern, segments) {
            continue;
        }
        let specificity = pattern.iter().filter(|s| !is_param(s)).count();
        let with_method = (route.method == method).then_some(route);
        best = match best {
            Some((best_so_far, found)) if best_so_far > specificity => Some((best_so_far, found)),
            Some((best_so_far, found)) if best_so_far == specificity => Some((best_so_far, found.or(with_method))),
            _ => Some((specificity, with_method)),
        };
    }
    match best {
        None => Err(ApiError::NoRoute),
        Some((_, found)) => found.ok_or(ApiError::MethodNotAllowed),
    }
}

/// The methods a path answers (for a 405's `Allow`): those it has a route for, and
/// `OPTIONS` (the CORS preflight every path answers).
pub fn allowed_methods(segments: &[String]) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> =
        ["GET", "POST", "PUT", "DELETE"].into_iter().filter(|method| resolve(method, segments).is_ok()).collect();
    methods.push("OPTIONS");
    methods
}

/// Each route's pattern split into segments, in the order of [`ROUTES`]: split once per
/// process rather than for every request.
fn route_segments() -> &'static [Vec<&'static str>] {
    static SEGMENTS: std::sync::OnceLock<Vec<Vec<&'static str>>> = std::sync::OnceLock::new();
    SEGMENTS.get_or_init(|| ROUTES.iter().map(|route| route.segments().collect()).collect())
}

fn fits(pattern: &[&str], segments: &[String]) -> bool {
    pattern.len() == segments.len()
        && pattern.iter().zip(segments).all(|(pattern, actual)| is_param(pattern) || pattern == actual)
}

/// The route of `req`, which must belong to `function` (a function deployed behind the wrong
/// route answers 404 rather than doing something unexpected).
pub fn route_for(req: &ApiRequest, function: Function) -> Result<&'static Route, ApiError> {
    let route = resolve(req.method(), req.segments())?;
    if route.function == function { Ok(route) } else { Err(ApiError::NoRoute) }
}

/// The route of a request before it is read (local mode's dispatcher).
pub fn resolve_request(req: &lambda_http::Request) -> Result<&'static Route, ApiError> {
    resolve(req.method().as_str(), &crate::http::path_segments(req.uri().path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        path.split('/').filter(|s| !s.is_empty()).map(String::from).collect()
    }

    #[test]
    fn a_path_allows_the_methods_it_has_routes_for() {
        assert_eq!(allowed_methods(&segs("/session")), ["GET", "POST", "DELETE", "OPTIONS"]);
        assert_eq!(allowed_methods(&segs("/users/7")), ["GET", "PUT", "DELETE", "OPTIONS"]);
        assert_eq!(allowed_methods(&segs("/users/password/reset")), ["GET", "POST", "OPTIONS"]);
    }

    #[test]
    fn methods_pick_the_function() {
        assert_eq!(resolve("POST", &segs("/session")).unwrap().function, F::CreateSession);
        assert_eq!(resolve("GET", &segs("/session")).unwrap().function, F::GetSession);
        assert_eq!(resolve("DELETE", &segs("/login")).unwrap().function, F::Logout);
    }

    #[test]
    fn literal_segments_beat_parameters() {
        assert_eq!(resolve("GET", &segs("/users/v2")).unwrap().function, F::ListUsersV2);
        assert_eq!(resolve("GET", &segs("/users/by_login")).unwrap().function, F::UsersV1);
        assert_eq!(resolve("GET", &segs("/users/42")).unwrap().function, F::UsersV1);
        assert_eq!(resolve("PUT", &segs("/users/42")).unwrap().function, F::UpdateUser);
        assert_eq!(resolve("DELETE", &segs("/users/external/9")).unwrap().function, F::DeleteUser);
        let route = resolve("GET", &segs("/users/external/9")).unwrap();
        assert_eq!(route.param("id", &segs("/users/external/9")), Some("9"));
    }

    /// The choice among fitting patterns spelt out the slow way: most literal first (in listed
    /// order among equals), the first of the best with this method.
    fn resolve_by_sorting(method: &str, segments: &[String]) -> Result<&'static Route, ApiError> {
        let literal = |r: &Route| r.segments().filter(|s| !is_param(s)).count();
        let mut fitting: Vec<&Route> =
            ROUTES.iter().filter(|r| fits(&r.segments().collect::<Vec<_>>(), segments)).collect();
        fitting.sort_by_key(|r| std::cmp::Reverse(literal(r)));
        let best = fitting.first().map(|r| literal(r)).ok_or(ApiError::NoRoute)?;
        fitting
            .into_iter()
            .take_while(|r| literal(r) == best)
            .find(|r| r.method == method)
            .ok_or(ApiError::MethodNotAllowed)
    }

    #[test]
    fn every_route_path_and_method_resolves_as_the_rule_says() {
        let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
        let mut paths: Vec<String> = ROUTES.iter().map(|r| r.path.replace("{id}", "42")).collect();
        paths.extend(["/", "/users/42/extra", "/blobs/v2", "/users/external", "/nope"].map(String::from));
        for path in &paths {
            for method in methods {
                let (fast, slow) = (resolve(method, &segs(path)), resolve_by_sorting(method, &segs(path)));
                match (fast, slow) {
                    (Ok(a), Ok(b)) => assert_eq!((a.method, a.path), (b.method, b.path), "{method} {path}"),
                    (Err(a), Err(b)) => assert_eq!(a.status(), b.status(), "{method} {path}"),
                    (a, b) => panic!("{method} {path}: {a:?} against {b:?}"),
                }
            }
        }
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        assert_eq!(resolve("GET", &segs("/nope")).unwrap_err().status(), 404);
        assert_eq!(resolve("PATCH", &segs("/session")).unwrap_err().status(), 405);
    }

    #[test]
    fn every_route_and_endpoint_is_unique_and_every_function_routed() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "{a:?} twice");
                assert_ne!(a.endpoint, b.endpoint, "{a:?} and {b:?} share an endpoint");
            }
        }
        for function in Function::ALL {
            assert!(ROUTES.iter().any(|r| r.function == function), "{function:?} has no route");
        }
    }
}
